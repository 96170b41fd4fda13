//! MySQL and MariaDB have no template databases: a clone copies each table's definition
//! (`SHOW CREATE TABLE`, foreign keys included) and rows, then views and triggers. Its cost
//! follows the number of tables and rows in the template, never the migration history.

use sqlx::mysql::MySqlPool;
use sqlx::{Acquire, MySqlConnection};

use super::{ddl_outcome, sql_error};
use crate::servers::error::{Result, ServerError};

pub async fn create(pool: &MySqlPool, server: &str, user: &str, name: &str) -> Result<()> {
    execute(
        pool,
        server,
        user,
        &format!("CREATE DATABASE `{name}`"),
        "creating a database",
    )
    .await
}

pub async fn drop(pool: &MySqlPool, server: &str, user: &str, name: &str) -> Result<()> {
    execute(
        pool,
        server,
        user,
        &format!("DROP DATABASE IF EXISTS `{name}`"),
        "dropping a database",
    )
    .await
}

pub async fn list(pool: &MySqlPool, server: &str, prefix: &str) -> Result<Vec<String>> {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT CAST(SCHEMA_NAME AS CHAR) FROM information_schema.SCHEMATA \
         WHERE SCHEMA_NAME LIKE CONCAT(?, '%') ORDER BY 1",
    )
    .bind(prefix.replace('_', "\\_"))
    .fetch_all(pool)
    .await
    .map_err(|e| sql_error("listing databases", server, e))?;
    Ok(names)
}

pub async fn clone(
    pool: &MySqlPool,
    server: &str,
    user: &str,
    template: &str,
    name: &str,
) -> Result<()> {
    let (charset, collation): (String, String) = sqlx::query_as(
        "SELECT CAST(DEFAULT_CHARACTER_SET_NAME AS CHAR), CAST(DEFAULT_COLLATION_NAME AS CHAR) \
         FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
    )
    .bind(template)
    .fetch_optional(pool)
    .await
    .map_err(|e| sql_error("reading the template", server, e))?
    .ok_or_else(|| ServerError::NoSuchDatabase {
        name: template.to_owned(),
        server: server.to_owned(),
    })?;
    execute(
        pool,
        server,
        user,
        &format!("CREATE DATABASE `{name}` CHARACTER SET {charset} COLLATE {collation}"),
        "cloning a database",
    )
    .await?;
    if let Err(error) = copy_objects(pool, server, template, name).await {
        // A half-made clone must not stay behind looking usable.
        let _ = drop(pool, server, user, name).await;
        return Err(error);
    }
    Ok(())
}

async fn copy_objects(pool: &MySqlPool, server: &str, template: &str, name: &str) -> Result<()> {
    let fail = |doing: String| move |e| sql_error(doing, server, e);
    let mut conn = pool.acquire().await.map_err(fail("connecting".into()))?;
    let conn: &mut MySqlConnection = conn.acquire().await.map_err(fail("connecting".into()))?;
    // Rows go in table by table, so references may point ahead until all are copied.
    sqlx::raw_sql("SET SESSION foreign_key_checks = 0")
        .execute(&mut *conn)
        .await
        .map_err(fail("preparing the copy".into()))?;
    let result = copy_with(conn, server, template, name).await;
    let _ = sqlx::raw_sql("SET SESSION foreign_key_checks = 1")
        .execute(&mut *conn)
        .await;
    result
}

async fn copy_with(
    conn: &mut MySqlConnection,
    server: &str,
    template: &str,
    name: &str,
) -> Result<()> {
    let fail = |doing: String| move |e| sql_error(doing, server, e);
    let tables: Vec<(String, String)> = sqlx::query_as(
        "SELECT CAST(TABLE_NAME AS CHAR), CAST(TABLE_TYPE AS CHAR) FROM information_schema.TABLES \
         WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME",
    )
    .bind(template)
    .fetch_all(&mut *conn)
    .await
    .map_err(fail("listing the template's tables".into()))?;

    // One catalog query for every table's copyable columns: information_schema lookups
    // per table scan every schema on the server, which grows with each clone made.
    let column_rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT CAST(TABLE_NAME AS CHAR), CAST(COLUMN_NAME AS CHAR) FROM information_schema.COLUMNS \
         WHERE TABLE_SCHEMA = ? AND EXTRA NOT LIKE '%GENERATED%' \
         ORDER BY TABLE_NAME, ORDINAL_POSITION",
    )
    .bind(template)
    .fetch_all(&mut *conn)
    .await
    .map_err(fail("reading the template's columns".into()))?;
    let mut columns: std::collections::HashMap<String, Vec<String>> =
        std::collections::HashMap::new();
    for (table, column) in column_rows {
        columns.entry(table).or_default().push(column);
    }

    let mut views = Vec::new();
    let mut creates = Vec::new();
    let mut copies = Vec::new();
    for (table, kind) in &tables {
        if kind != "BASE TABLE" {
            views.push(table.clone());
            continue;
        }
        let ddl = text_column(
            conn,
            format!("SHOW CREATE TABLE `{template}`.`{}`", quote(table)),
            1,
        )
        .await
        .map_err(fail(format!("reading table {table}")))?;
        // SHOW CREATE TABLE names no schema: make the new table in the clone.
        creates.push(ddl.replacen("CREATE TABLE ", &format!("CREATE TABLE `{name}`."), 1));
        if let Some(columns) = columns.get(table.as_str()).filter(|c| !c.is_empty()) {
            let list = columns
                .iter()
                .map(|c| format!("`{}`", quote(c)))
                .collect::<Vec<_>>()
                .join(", ");
            let t = quote(table);
            copies.push(format!(
                "INSERT INTO `{name}`.`{t}` ({list}) SELECT {list} FROM `{template}`.`{t}`"
            ));
        }
    }
    // Sent in batches: one round trip per batch instead of one per statement.
    for batch in creates.chunks(50).chain(copies.chunks(50)) {
        sqlx::raw_sql(sqlx::AssertSqlSafe(batch.join(";\n")))
            .execute(&mut *conn)
            .await
            .map_err(fail("copying the template's tables".into()))?;
    }

    // Views may read other views: create them in rounds until none is left or no round
    // makes progress (then the last error is the answer).
    let mut pending = views;
    while !pending.is_empty() {
        let mut failed = Vec::new();
        let mut last_error = None;
        for view in &pending {
            let ddl = text_column(
                conn,
                format!("SHOW CREATE VIEW `{template}`.`{}`", quote(view)),
                1,
            )
            .await
            .map_err(fail(format!("reading view {view}")))?;
            let ddl = retarget_view(&ddl, template, name, view);
            if let Err(e) = sqlx::raw_sql(sqlx::AssertSqlSafe(ddl))
                .execute(&mut *conn)
                .await
            {
                failed.push(view.clone());
                last_error = Some(e);
            }
        }
        if failed.len() == pending.len() {
            let error = last_error.expect("a failed round has an error");
            return Err(sql_error(
                format!("creating view {}", failed[0]),
                server,
                error,
            ));
        }
        pending = failed;
    }

    let triggers: Vec<String> = sqlx::query_scalar(
        "SELECT CAST(TRIGGER_NAME AS CHAR) FROM information_schema.TRIGGERS \
         WHERE TRIGGER_SCHEMA = ? ORDER BY ACTION_ORDER",
    )
    .bind(template)
    .fetch_all(&mut *conn)
    .await
    .map_err(fail("listing triggers".into()))?;
    if !triggers.is_empty() {
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("USE `{name}`")))
            .execute(&mut *conn)
            .await
            .map_err(fail("switching to the clone".into()))?;
        for trigger in triggers {
            let create = text_column(
                conn,
                format!(
                    "SELECT CAST(TRIGGER_NAME AS CHAR), CAST(SQL_MODE AS CHAR), \
                 CAST(CONCAT('CREATE TRIGGER `', TRIGGER_NAME, '` ', ACTION_TIMING, ' ', \
                 EVENT_MANIPULATION, ' ON `', EVENT_OBJECT_TABLE, '` FOR EACH ROW ', \
                 ACTION_STATEMENT) AS CHAR) FROM information_schema.TRIGGERS \
                 WHERE TRIGGER_SCHEMA = '{template}' AND TRIGGER_NAME = '{}'",
                    trigger.replace('\'', "''")
                ),
                2,
            )
            .await
            .map_err(fail(format!("reading trigger {trigger}")))?;
            sqlx::raw_sql(sqlx::AssertSqlSafe(create))
                .execute(&mut *conn)
                .await
                .map_err(fail(format!("creating trigger {trigger}")))?;
        }
    }
    Ok(())
}

/// One text column of a one-row statement, sent as plain text rather than prepared:
/// every table needs its own statement, and sqlx evicting prepared statements from its
/// cache sends an unanswered close that stalls the next query by ~40 ms (500 tables: 20 s).
async fn text_column(
    conn: &mut MySqlConnection,
    sql: String,
    column: usize,
) -> std::result::Result<String, sqlx::Error> {
    use sqlx::Row;
    let row = sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .fetch_one(&mut *conn)
        .await?;
    row.try_get::<String, _>(column)
}

/// `SHOW CREATE VIEW` qualifies every table with the template's schema and names a
/// definer: point the copy at the clone, let the current user define it.
fn retarget_view(ddl: &str, template: &str, name: &str, view: &str) -> String {
    let body_start = ddl.find(" AS ").map_or(0, |i| i + 4);
    let body = ddl[body_start..].replace(&format!("`{template}`."), &format!("`{name}`."));
    format!("CREATE VIEW `{name}`.`{}` AS {body}", quote(view))
}

fn quote(identifier: &str) -> String {
    identifier.replace('`', "``")
}

async fn execute(pool: &MySqlPool, server: &str, user: &str, sql: &str, doing: &str) -> Result<()> {
    let result = sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(pool)
        .await;
    ddl_outcome(result.map(|_| ()), server, user, doing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn views_are_pointed_at_the_clone() {
        let ddl = "CREATE ALGORITHM=UNDEFINED DEFINER=`root`@`%` SQL SECURITY DEFINER VIEW \
                   `v` AS select `drill_t`.`books`.`id` AS `id` from `drill_t`.`books`";
        assert_eq!(
            retarget_view(ddl, "drill_t", "drill_c", "v"),
            "CREATE VIEW `drill_c`.`v` AS select `drill_c`.`books`.`id` AS `id` from `drill_c`.`books`"
        );
    }
}
