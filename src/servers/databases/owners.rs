//! Owner marks on the `drill_` databases of a server given by URL, where a killed run's
//! databases would otherwise stay for ever: PostgreSQL keeps the mark as the database's
//! comment (`COMMENT ON DATABASE`), MariaDB as its schema comment (`ALTER DATABASE ...
//! COMMENT`, 10.5 and later). MySQL has no database comments: there the name's run id is
//! all there is, and such databases are listed as of an unknown owner and never reclaimed.

use sqlx::mysql::MySqlPool;
use sqlx::postgres::PgPool;

use super::sql_error;
use crate::servers::error::Result;
use crate::servers::naming;
use crate::servers::owner_mark::{self, OwnerMark};

/// A `drill_` database and who made it (None: no mark).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkedDatabase {
    pub name: String,
    pub owner: Option<OwnerMark>,
}

impl MarkedDatabase {
    /// Made by a run that is gone (on this host) under a name it generated: the next run
    /// may drop it. A name the caller chose (a template the pytest plugin keeps for the
    /// next run) is never reclaimed.
    pub fn stale(&self) -> bool {
        self.owner.as_ref().is_some_and(|o| {
            self.name
                .starts_with(&format!("{}{}_", naming::PREFIX, o.run_id))
                && !o.owner_alive()
        })
    }
}

/// `text` as a SQL string literal (a mark holds no backslash nor quote but in theory a
/// host name could).
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "''"))
}

/// Before a database is made on a server given by URL: the run is recorded on this host,
/// so that its databases are traced to it by their names from the first moment.
pub fn before_create() {
    owner_mark::register_this_run();
}

pub async fn mark_postgres(pool: &PgPool, server: &str, name: &str) -> Result<()> {
    naming::ensure_ours(name)?;
    let comment = OwnerMark::this_process().to_comment();
    // E'' so that the backslash doubling above means the same on every server setting.
    let sql = format!(r#"COMMENT ON DATABASE "{name}" IS E{}"#, literal(&comment));
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(pool)
        .await
        .map_err(|e| sql_error(format!("marking {name} with its owner"), server, e))?;
    Ok(())
}

pub async fn list_postgres(pool: &PgPool, server: &str) -> Result<Vec<MarkedDatabase>> {
    let rows: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT datname::text, shobj_description(oid, 'pg_database') FROM pg_database \
         WHERE datname LIKE 'drill\\_%' ORDER BY 1",
    )
    .fetch_all(pool)
    .await
    .map_err(|e| sql_error("listing databases", server, e))?;
    Ok(marked(rows))
}

/// Marks a MariaDB database; on MySQL (no database comments) it does nothing.
pub async fn mark_mysql(pool: &MySqlPool, server: &str, name: &str) -> Result<()> {
    naming::ensure_ours(name)?;
    if !has_schema_comments(pool, server).await? {
        return Ok(());
    }
    let comment = OwnerMark::this_process().to_comment();
    let sql = format!("ALTER DATABASE `{name}` COMMENT = {}", literal(&comment));
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(pool)
        .await
        .map_err(|e| sql_error(format!("marking {name} with its owner"), server, e))?;
    Ok(())
}

pub async fn list_mysql(pool: &MySqlPool, server: &str) -> Result<Vec<MarkedDatabase>> {
    let comment = if has_schema_comments(pool, server).await? {
        "CAST(SCHEMA_COMMENT AS CHAR)"
    } else {
        "NULL"
    };
    let sql = format!(
        "SELECT CAST(SCHEMA_NAME AS CHAR), {comment} FROM information_schema.SCHEMATA \
         WHERE SCHEMA_NAME LIKE 'drill\\_%' ORDER BY 1"
    );
    let rows: Vec<(String, Option<String>)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .fetch_all(pool)
        .await
        .map_err(|e| sql_error("listing databases", server, e))?;
    Ok(marked(rows))
}

async fn has_schema_comments(pool: &MySqlPool, server: &str) -> Result<bool> {
    let found: Option<i64> = sqlx::query_scalar(
        "SELECT 1 FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = 'information_schema' \
         AND TABLE_NAME = 'SCHEMATA' AND COLUMN_NAME = 'SCHEMA_COMMENT'",
    )
    .fetch_optional(pool)
    .await
    .map_err(|e| sql_error("reading the server's features", server, e))?;
    Ok(found.is_some())
}

fn marked(rows: Vec<(String, Option<String>)>) -> Vec<MarkedDatabase> {
    rows.into_iter()
        .filter(|(name, _)| naming::ensure_ours(name).is_ok())
        .map(|(name, comment)| {
            let owner = comment
                .as_deref()
                .and_then(OwnerMark::from_comment)
                .or_else(|| owner_mark::registered(run_id_of(&name)?));
            MarkedDatabase { name, owner }
        })
        .collect()
}

/// The run id in a generated name (`drill_<run id>_<n>`).
fn run_id_of(name: &str) -> Option<&str> {
    let rest = name.strip_prefix(naming::PREFIX)?;
    let (run_id, n) = rest.split_once('_')?;
    (!run_id.is_empty() && !n.is_empty() && n.chars().all(|c| c.is_ascii_digit())).then_some(run_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_survive_quotes_and_backslashes() {
        assert_eq!(literal(r"a'b\c"), r"'a''b\\c'");
    }

    #[test]
    fn only_marked_databases_of_gone_owners_are_stale() {
        let rows = vec![
            (
                "drill_a".to_owned(),
                Some(OwnerMark::this_process().to_comment()),
            ),
            ("drill_b".to_owned(), Some("a note of someone's".to_owned())),
            ("drill_c".to_owned(), None),
            ("Drill-Other".to_owned(), None),
        ];
        let listed = marked(rows);
        assert_eq!(
            listed.len(),
            3,
            "names that are not alembic-drill's are never listed"
        );
        assert!(listed.iter().all(|d| !d.stale()));
        let owner = OwnerMark {
            pid: u32::MAX - 1,
            ..OwnerMark::this_process()
        };
        let gone = MarkedDatabase {
            name: naming::generated(&owner.run_id, 3),
            owner: Some(owner.clone()),
        };
        assert!(gone.stale());
        let kept_template = MarkedDatabase {
            name: "drill_template_1a2b".into(),
            owner: Some(owner),
        };
        assert!(!kept_template.stale());
        assert_eq!(
            run_id_of(&naming::generated("1a2b3c4d", 7)),
            Some("1a2b3c4d")
        );
        assert_eq!(run_id_of("drill_template_1a2b"), None);
    }
}
