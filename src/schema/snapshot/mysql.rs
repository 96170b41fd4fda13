//! MySQL and MariaDB: eight information_schema queries per snapshot (version, tables,
//! columns, indexes, foreign key columns and rules, checks, views), whatever the number of
//! tables.
//!
//! Every text column is `CAST(.. AS CHAR)`: MySQL 8 returns many information_schema columns as
//! VARBINARY/BLOB, which would not decode as `String`.

use std::collections::BTreeMap;

use sqlx::MySqlConnection;

use super::{
    CheckConstraint, Column, ForeignKey, Index, PrimaryKey, SchemaSnapshot, Table, UniqueConstraint,
};
use crate::engine::Engine;
use crate::schema::error::{Result, SchemaError};
use crate::schema::sqltext::{collapse_ws, is_mysql_column_generated_name};

// MariaDB system-versioned tables are ordinary tables with history; sequences (also in TABLES
// on MariaDB) are not tables of the schema under test.
const TABLES: &str = "
SELECT CAST(TABLE_NAME AS CHAR) FROM information_schema.TABLES
WHERE TABLE_SCHEMA = ? AND TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED')";

const COLUMNS: &str = "
SELECT CAST(TABLE_NAME AS CHAR), CAST(COLUMN_NAME AS CHAR), CAST(ORDINAL_POSITION AS SIGNED),
       CAST(COLUMN_TYPE AS CHAR), CAST(IS_NULLABLE AS CHAR), CAST(COLUMN_DEFAULT AS CHAR),
       CAST(EXTRA AS CHAR), CAST(GENERATION_EXPRESSION AS CHAR)
FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ?
ORDER BY TABLE_NAME, ORDINAL_POSITION";

// MySQL 8.0.13+ has functional key parts, whose text is only in STATISTICS.EXPRESSION; older
// MySQL and every MariaDB lack that column.
const INDEXES_WITH_EXPRESSIONS: &str = "
SELECT CAST(TABLE_NAME AS CHAR), CAST(INDEX_NAME AS CHAR), CAST(NON_UNIQUE AS SIGNED),
       CAST(COLUMN_NAME AS CHAR), CAST(SUB_PART AS SIGNED), CAST(COLLATION AS CHAR),
       CAST(INDEX_TYPE AS CHAR), CAST(EXPRESSION AS CHAR)
FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ?
ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX";

const INDEXES: &str = "
SELECT CAST(TABLE_NAME AS CHAR), CAST(INDEX_NAME AS CHAR), CAST(NON_UNIQUE AS SIGNED),
       CAST(COLUMN_NAME AS CHAR), CAST(SUB_PART AS SIGNED), CAST(COLLATION AS CHAR),
       CAST(INDEX_TYPE AS CHAR), CAST(NULL AS CHAR)
FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ?
ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX";

// Two queries joined in Rust: MariaDB evaluates an information_schema join by re-reading
// REFERENTIAL_CONSTRAINTS per row, which alone cost ~15 ms on 100 tables.
const FOREIGN_KEY_COLUMNS: &str = "
SELECT CAST(TABLE_NAME AS CHAR), CAST(CONSTRAINT_NAME AS CHAR), CAST(COLUMN_NAME AS CHAR),
       CAST(REFERENCED_TABLE_SCHEMA AS CHAR), CAST(REFERENCED_TABLE_NAME AS CHAR),
       CAST(REFERENCED_COLUMN_NAME AS CHAR)
FROM information_schema.KEY_COLUMN_USAGE
WHERE TABLE_SCHEMA = ? AND REFERENCED_TABLE_NAME IS NOT NULL
ORDER BY TABLE_NAME, CONSTRAINT_NAME, ORDINAL_POSITION";

const FOREIGN_KEY_RULES: &str = "
SELECT CAST(TABLE_NAME AS CHAR), CAST(CONSTRAINT_NAME AS CHAR), CAST(UPDATE_RULE AS CHAR),
       CAST(DELETE_RULE AS CHAR)
FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = ?";

// MariaDB scopes check names per table and says which table in CHECK_CONSTRAINTS itself;
// MySQL (8.0.16+) scopes them per schema and needs TABLE_CONSTRAINTS for the table.
const CHECKS_MARIADB: &str = "
SELECT CAST(TABLE_NAME AS CHAR), CAST(CONSTRAINT_NAME AS CHAR), CAST(CHECK_CLAUSE AS CHAR)
FROM information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = ?";

const CHECKS_MYSQL: &str = "
SELECT CAST(tc.TABLE_NAME AS CHAR), CAST(cc.CONSTRAINT_NAME AS CHAR),
       CAST(cc.CHECK_CLAUSE AS CHAR)
FROM information_schema.TABLE_CONSTRAINTS tc
JOIN information_schema.CHECK_CONSTRAINTS cc
  ON cc.CONSTRAINT_SCHEMA = tc.CONSTRAINT_SCHEMA AND cc.CONSTRAINT_NAME = tc.CONSTRAINT_NAME
WHERE tc.CONSTRAINT_SCHEMA = ? AND cc.CONSTRAINT_SCHEMA = ? AND tc.CONSTRAINT_TYPE = 'CHECK'";

const VIEWS: &str = "
SELECT CAST(TABLE_NAME AS CHAR), CAST(VIEW_DEFINITION AS CHAR)
FROM information_schema.VIEWS WHERE TABLE_SCHEMA = ?";

type ColumnRow = (
    String,
    String,
    i64,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
);
type IndexRow = (
    String,
    String,
    i64,
    Option<String>,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<String>,
);
type ForeignKeyRow = (String, String, String, Option<String>, String, String);

#[derive(Debug, Clone, Copy)]
struct Server {
    mariadb: bool,
    version: (u32, u32, u32),
}

impl Server {
    fn parse(version: &str) -> Server {
        let mut numbers = version
            .split(|c: char| !c.is_ascii_digit())
            .map(|n| n.parse().unwrap_or(0));
        Server {
            mariadb: version.to_ascii_lowercase().contains("mariadb"),
            version: (
                numbers.next().unwrap_or(0),
                numbers.next().unwrap_or(0),
                numbers.next().unwrap_or(0),
            ),
        }
    }

    fn mysql_at_least(&self, version: (u32, u32, u32)) -> bool {
        !self.mariadb && self.version >= version
    }
}

/// Snapshots one MySQL or MariaDB database. Tables named in `ignore` (see
/// [`DEFAULT_IGNORE`](super::DEFAULT_IGNORE)) and views with those names are left out.
pub async fn snapshot_mysql(
    conn: &mut MySqlConnection,
    database: &str,
    ignore: &[&str],
) -> Result<SchemaSnapshot> {
    let db = format!("mysql database {database}");
    let mut snapshot = SchemaSnapshot::new(Engine::Mysql);
    let ignored = |name: &str| ignore.contains(&name);

    let version: String = sqlx::query_scalar("SELECT CAST(VERSION() AS CHAR)")
        .fetch_one(&mut *conn)
        .await
        .map_err(SchemaError::query("server version", &db))?;
    let server = Server::parse(&version);

    let tables: Vec<String> = sqlx::query_scalar(TABLES)
        .bind(database)
        .fetch_all(&mut *conn)
        .await
        .map_err(SchemaError::query("tables", &db))?;
    for table in tables {
        if !ignored(&table) {
            snapshot.tables.insert(table, Table::default());
        }
    }

    let columns: Vec<ColumnRow> = sqlx::query_as(COLUMNS)
        .bind(database)
        .fetch_all(&mut *conn)
        .await
        .map_err(SchemaError::query("columns", &db))?;
    for (table, name, ordinal, data_type, nullable, default, extra, generation) in columns {
        // COLUMNS also lists view columns; only tables read above are kept.
        let Some(table) = snapshot.tables.get_mut(&table) else {
            continue;
        };
        let data_type = collapse_ws(&data_type).to_ascii_lowercase();
        let extra = extra.unwrap_or_default();
        let default = mysql_default(default, &extra, &data_type, server);
        table.columns.insert(
            name,
            Column {
                default,
                extra: mysql_extra(&extra, generation.as_deref()),
                nullable: nullable.eq_ignore_ascii_case("YES"),
                data_type,
                ordinal: u32::try_from(ordinal).unwrap_or(0),
            },
        );
    }

    let fk_rows: Vec<ForeignKeyRow> = sqlx::query_as(FOREIGN_KEY_COLUMNS)
        .bind(database)
        .fetch_all(&mut *conn)
        .await
        .map_err(SchemaError::query("foreign keys", &db))?;
    let rules: Vec<(String, String, String, String)> = sqlx::query_as(FOREIGN_KEY_RULES)
        .bind(database)
        .fetch_all(&mut *conn)
        .await
        .map_err(SchemaError::query("foreign key rules", &db))?;
    let rules: BTreeMap<(String, String), (String, String)> = rules
        .into_iter()
        .map(|(table, name, on_update, on_delete)| ((table, name), (on_update, on_delete)))
        .collect();
    // (table, constraint name) -> FK; rows arrive in column order.
    let mut fks: BTreeMap<(String, String), ForeignKey> = BTreeMap::new();
    for (table, name, column, ref_schema, ref_table, ref_column) in fk_rows {
        let referred_table = match ref_schema {
            Some(schema) if schema != database => format!("{schema}.{ref_table}"),
            _ => ref_table,
        };
        let key = (table, name);
        let (on_update, on_delete) = rules.get(&key).cloned().unwrap_or_default();
        let fk = fks.entry(key).or_insert_with(|| ForeignKey {
            name: None,
            columns: Vec::new(),
            referred_table,
            referred_columns: Vec::new(),
            on_delete: on_delete.to_ascii_uppercase(),
            on_update: on_update.to_ascii_uppercase(),
        });
        fk.columns.push(column);
        fk.referred_columns.push(ref_column);
    }
    // Remembered before names are normalised: MySQL names a foreign key's implicit index
    // after the constraint, so the raw name is needed to recognise that index below.
    let mut fk_raw: BTreeMap<String, Vec<(String, Vec<String>)>> = BTreeMap::new();
    for ((table_name, name), mut fk) in fks {
        let Some(table) = snapshot.tables.get_mut(&table_name) else {
            continue;
        };
        fk_raw
            .entry(table_name.clone())
            .or_default()
            .push((name.clone(), fk.columns.clone()));
        let generated = name
            .strip_prefix(&format!("{table_name}_ibfk_"))
            .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()));
        fk.name = (!generated).then_some(name);
        table.add_foreign_key(fk);
    }

    let index_sql = if server.mysql_at_least((8, 0, 13)) {
        INDEXES_WITH_EXPRESSIONS
    } else {
        INDEXES
    };
    let index_rows: Vec<IndexRow> = sqlx::query_as(index_sql)
        .bind(database)
        .fetch_all(&mut *conn)
        .await
        .map_err(SchemaError::query("indexes", &db))?;
    // (table, index) -> (unique, index type, key parts, bare first column)
    type Parts = (bool, String, Vec<String>, Option<String>);
    let mut indexes: BTreeMap<(String, String), Parts> = BTreeMap::new();
    for (table, name, non_unique, column, sub_part, collation, index_type, expression) in index_rows
    {
        let entry = indexes.entry((table, name)).or_insert_with(|| {
            (
                non_unique == 0,
                index_type.unwrap_or_default(),
                Vec::new(),
                column.clone(),
            )
        });
        let mut part = match (&column, expression) {
            (Some(column), _) => column.clone(),
            (None, Some(expression)) => format!("({})", collapse_ws(&expression)),
            (None, None) => "(expression)".to_owned(),
        };
        if let Some(len) = sub_part {
            part.push_str(&format!("({len})"));
        }
        if collation.as_deref() == Some("D") {
            part.push_str(" DESC");
        }
        entry.2.push(part);
    }
    for ((table_name, name), (unique, index_type, columns, first_column)) in indexes {
        let Some(table) = snapshot.tables.get_mut(&table_name) else {
            continue;
        };
        if name == "PRIMARY" {
            table.primary_key = Some(PrimaryKey {
                name: None,
                columns,
            });
            continue;
        }
        let generated_name = first_column
            .as_deref()
            .is_some_and(|c| is_mysql_column_generated_name(&name, c));
        if !unique && is_implicit_fk_index(&name, &columns, fk_raw.get(&table_name)) {
            continue;
        }
        let name = (!generated_name).then_some(name);
        if unique {
            // In MySQL a UNIQUE constraint is a unique index and TABLE_CONSTRAINTS lists every
            // unique index as one; they are recorded once, as constraints.
            table.add_unique(UniqueConstraint { name, columns });
        } else {
            table.add_index(Index {
                name,
                columns,
                unique,
                method: (!index_type.eq_ignore_ascii_case("BTREE")).then_some(index_type),
                predicate: None,
            });
        }
    }

    let check_rows: Vec<(String, String, String)> = if server.mariadb {
        sqlx::query_as(CHECKS_MARIADB)
            .bind(database)
            .fetch_all(&mut *conn)
            .await
            .map_err(SchemaError::query("check constraints", &db))?
    } else if server.mysql_at_least((8, 0, 16)) {
        sqlx::query_as(CHECKS_MYSQL)
            .bind(database)
            .bind(database)
            .fetch_all(&mut *conn)
            .await
            .map_err(SchemaError::query("check constraints", &db))?
    } else {
        Vec::new() // older MySQL parses CHECK and throws it away
    };
    for (table_name, name, clause) in check_rows {
        let Some(table) = snapshot.tables.get_mut(&table_name) else {
            continue;
        };
        // MySQL invents `{table}_chk_N`; MariaDB invents `CONSTRAINT_N` for table checks and
        // uses the column name for column checks (including the json_valid() check it adds to
        // every JSON column).
        let generated = name
            .strip_prefix(&format!("{table_name}_chk_"))
            .or_else(|| name.strip_prefix("CONSTRAINT_"))
            .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
            || table.columns.contains_key(&name);
        table.add_check(CheckConstraint {
            name: (!generated).then_some(name),
            expression: parenthesise(&collapse_ws(&clause)),
        });
    }

    let views: Vec<(String, Option<String>)> = sqlx::query_as(VIEWS)
        .bind(database)
        .fetch_all(&mut *conn)
        .await
        .map_err(SchemaError::query("views", &db))?;
    // The server writes every reference as `db`.`table`.`column`; without the database part
    // the same view in two databases reads the same.
    let qualifier = format!("{}.", Engine::Mysql.quote_ident(database));
    for (name, definition) in views {
        if ignored(&name) {
            continue;
        }
        let definition = definition.unwrap_or_default().replace(&qualifier, "");
        snapshot.views.insert(name, collapse_ws(&definition));
    }

    Ok(snapshot)
}

/// Whether a non-unique index is the one MySQL creates by itself for a foreign key: named
/// after the constraint, or after the first column when the constraint has no name of its own,
/// and leading with the key's columns. Such an index is part of the foreign key, not a schema
/// object of its own; once the foreign key is dropped the index stays and is reported.
fn is_implicit_fk_index(
    name: &str,
    columns: &[String],
    fks: Option<&Vec<(String, Vec<String>)>>,
) -> bool {
    fks.into_iter().flatten().any(|(fk_name, fk_columns)| {
        let named_for_fk = name == fk_name
            || fk_columns
                .first()
                .is_some_and(|c| is_mysql_column_generated_name(name, c));
        named_for_fk && columns.len() >= fk_columns.len() && columns.starts_with(fk_columns)
    })
}

/// MariaDB reports defaults as SQL (`'a'`, `0`, `current_timestamp()`, the string `NULL` for
/// "no default"); MySQL reports literals bare and flags expressions as DEFAULT_GENERATED. Both
/// are brought to MariaDB's form so diff lines read `default 'a' -> 'b'` everywhere.
fn mysql_default(
    raw: Option<String>,
    extra: &str,
    data_type: &str,
    server: Server,
) -> Option<String> {
    let raw = raw?;
    if server.mariadb {
        return (raw != "NULL").then(|| collapse_ws(&raw));
    }
    if extra.to_ascii_uppercase().contains("DEFAULT_GENERATED") {
        return Some(collapse_ws(&raw));
    }
    const NUMERIC: &[&str] = &[
        "tinyint",
        "smallint",
        "mediumint",
        "int",
        "bigint",
        "decimal",
        "numeric",
        "float",
        "double",
        "real",
        "bit",
        "year",
        "bool",
    ];
    if NUMERIC.iter().any(|t| data_type.starts_with(t)) {
        Some(raw)
    } else {
        Some(format!("'{}'", raw.replace('\'', "''")))
    }
}

fn mysql_extra(extra: &str, generation: Option<&str>) -> Option<String> {
    let mut extra = extra.to_ascii_lowercase().replace("default_generated", "");
    let expression = collapse_ws(generation.unwrap_or_default());
    for kind in ["virtual", "stored", "persistent"] {
        let marker = format!("{kind} generated");
        if extra.contains(&marker) {
            let kind = if kind == "persistent" { "stored" } else { kind };
            extra = extra.replace(
                &marker,
                &format!("generated always as ({expression}) {kind}"),
            );
        }
    }
    let extra = collapse_ws(&extra);
    (!extra.is_empty()).then_some(extra)
}

/// `a > 0` -> `(a > 0)`; already-wrapped expressions are left alone, so MySQL's and MariaDB's
/// spellings read alike.
fn parenthesise(expr: &str) -> String {
    let bytes = expr.as_bytes();
    if bytes.first() == Some(&b'(') && bytes.last() == Some(&b')') {
        let mut depth = 0i32;
        let mut wraps_all = true;
        for (i, &b) in bytes.iter().enumerate() {
            match b {
                b'(' => depth += 1,
                b')' => depth -= 1,
                _ => {}
            }
            if depth == 0 && i + 1 < bytes.len() {
                wraps_all = false;
                break;
            }
        }
        if wraps_all {
            return expr.to_owned();
        }
    }
    format!("({expr})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_versions() {
        let maria = Server::parse("10.11.19-MariaDB-0+deb12u1");
        assert!(maria.mariadb && !maria.mysql_at_least((8, 0, 0)));
        let mysql = Server::parse("8.0.36");
        assert!(mysql.mysql_at_least((8, 0, 16)) && !mysql.mysql_at_least((8, 1, 0)));
    }

    #[test]
    fn defaults_read_alike() {
        let maria = Server::parse("10.11.1-MariaDB");
        let mysql = Server::parse("8.0.36");
        assert_eq!(
            mysql_default(Some("NULL".into()), "", "int(11)", maria),
            None
        );
        assert_eq!(
            mysql_default(Some("'a'".into()), "", "varchar(5)", maria).as_deref(),
            Some("'a'")
        );
        assert_eq!(
            mysql_default(Some("a".into()), "", "varchar(5)", mysql).as_deref(),
            Some("'a'")
        );
        assert_eq!(
            mysql_default(Some("0".into()), "", "int", mysql).as_deref(),
            Some("0")
        );
        assert_eq!(
            mysql_default(
                Some("CURRENT_TIMESTAMP".into()),
                "DEFAULT_GENERATED",
                "timestamp",
                mysql
            )
            .as_deref(),
            Some("CURRENT_TIMESTAMP")
        );
        assert_eq!(mysql_default(None, "", "int", mysql), None);
    }

    #[test]
    fn extras_and_parens() {
        assert_eq!(
            mysql_extra("DEFAULT_GENERATED on update CURRENT_TIMESTAMP", None).as_deref(),
            Some("on update current_timestamp")
        );
        assert_eq!(
            mysql_extra("STORED GENERATED", Some("`a` + 1")).as_deref(),
            Some("generated always as (`a` + 1) stored")
        );
        assert_eq!(mysql_extra("", None), None);
        assert_eq!(parenthesise("`a` > 0"), "(`a` > 0)");
        assert_eq!(parenthesise("(`a` > 0)"), "(`a` > 0)");
        assert_eq!(parenthesise("(a) > (b)"), "((a) > (b))");
    }
}
