//! Table contents row by row, every value rendered as text: to tell which rows and columns
//! a downgrade did not bring back, and what an upgrade destroyed.
//!
//! A fingerprint (`fingerprint.rs`) says only that a table changed; this says where. It is
//! meant for the small seeded databases of the data checks: each table is read up to a cap,
//! and a table with more rows is marked incomplete rather than compared on a part of it.
//! Each table's rows travel as one JSON document (`json_agg`, `JSON_ARRAYAGG`,
//! `json_group_array`), so a schema costs one round trip per hundred tables on servers.

use std::collections::BTreeMap;

use sqlx::{Connection as _, MySqlConnection, PgConnection, SqliteConnection};

use super::error::{Result, SchemaError};
use super::fingerprint::PG_PIN_SETTINGS;
use super::mysql_reading::{base_table_columns, restore_zone, utc_session};
use crate::engine::Engine;

/// The rows of one table, each value as text (None: NULL), columns in table order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableContents {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Option<String>>>,
    /// False when the table holds more rows than were read (or could not be read whole):
    /// it must not be compared.
    pub complete: bool,
}

impl TableContents {
    /// The column's position in `columns`.
    pub fn position(&self, column: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == column)
    }
}

/// Table name -> contents.
pub type Contents = BTreeMap<String, TableContents>;

/// Tables per statement on servers (as for fingerprints).
const TABLES_PER_QUERY: usize = 100;

/// SQLite's default limit on a function's arguments (`SQLITE_MAX_FUNCTION_ARG`) bounds
/// `json_array`: a wider table is left out (incomplete).
const SQLITE_MAX_COLUMNS: usize = 100;

fn parse_rows(json: &str, cap: usize, hex: bool) -> Option<(Vec<Vec<Option<String>>>, bool)> {
    let mut rows: Vec<Vec<Option<String>>> = serde_json::from_str(json).ok()?;
    if hex {
        for value in rows.iter_mut().flatten().flatten() {
            *value = unhex(value)?;
        }
    }
    let complete = rows.len() <= cap;
    rows.truncate(cap);
    Some((rows, complete))
}

/// MySQL values travel hex-encoded (binary strings cannot be JSON text).
fn unhex(hex: &str) -> Option<String> {
    let bytes: Option<Vec<u8>> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect();
    Some(String::from_utf8_lossy(&bytes?).into_owned())
}

fn group(columns: Vec<(String, String)>, ignore: &[&str]) -> BTreeMap<String, Vec<String>> {
    let mut tables: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (table, column) in columns {
        if !ignore.contains(&table.as_str()) {
            tables.entry(table).or_default().push(column);
        }
    }
    tables
}

/// Reads every ordinary table of a PostgreSQL schema (at most `cap` rows each).
pub async fn contents_postgres(
    conn: &mut PgConnection,
    schema: &str,
    ignore: &[&str],
    cap: usize,
) -> Result<Contents> {
    let db = format!("postgres schema {schema}");
    let err = || SchemaError::query("table contents", &db);
    let mut tx = conn.begin().await.map_err(err())?;
    sqlx::raw_sql(PG_PIN_SETTINGS)
        .execute(&mut *tx)
        .await
        .map_err(err())?;
    let columns: Vec<(String, String)> = sqlx::query_as(
        "SELECT c.relname::text, a.attname::text FROM pg_class c \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped \
         WHERE n.nspname = $1 AND c.relkind = 'r' ORDER BY c.relname, a.attnum",
    )
    .bind(schema)
    .fetch_all(&mut *tx)
    .await
    .map_err(err())?;
    let tables = group(columns, ignore);
    let names: Vec<&String> = tables.keys().collect();
    let mut out = Contents::new();
    for chunk in names.chunks(TABLES_PER_QUERY) {
        // An ARRAY, not json_build_array: a function takes at most 100 arguments.
        let sql = chunk
            .iter()
            .enumerate()
            .map(|(i, table)| {
                let values = tables[*table]
                    .iter()
                    .map(|c| format!("r.{}::text", Engine::Postgres.quote_ident(c)))
                    .collect::<Vec<_>>()
                    .join(", ");
                format!(
                    "SELECT {i}::int4, coalesce(json_agg(ARRAY[{values}]::text[]), '[]')::text \
                     FROM (SELECT * FROM {}.{} LIMIT {}) AS r",
                    Engine::Postgres.quote_ident(schema),
                    Engine::Postgres.quote_ident(table),
                    cap + 1
                )
            })
            .collect::<Vec<_>>()
            .join(" UNION ALL ");
        let rows: Vec<(i32, String)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .fetch_all(&mut *tx)
            .await
            .map_err(err())?;
        for (i, json) in rows {
            if let Some(table) = usize::try_from(i).ok().and_then(|i| chunk.get(i)) {
                out.insert(
                    (*table).clone(),
                    table_contents(&tables[*table], &json, cap, false),
                );
            }
        }
    }
    tx.commit().await.map_err(err())?;
    Ok(out)
}

/// Reads every base table of a MySQL or MariaDB database (at most `cap` rows each).
pub async fn contents_mysql(
    conn: &mut MySqlConnection,
    database: &str,
    ignore: &[&str],
    cap: usize,
) -> Result<Contents> {
    let db = format!("mysql database {database}");
    let err = || SchemaError::query("table contents", &db);
    let mut tx = conn.begin().await.map_err(err())?;
    // MariaDB's JSON_ARRAYAGG is cut at group_concat_max_len.
    let saved_zone = utc_session(&mut tx, "; SET SESSION group_concat_max_len = 1073741824")
        .await
        .map_err(err())?;
    let result = mysql_rows(&mut tx, database, ignore, cap).await;
    let restored = restore_zone(&mut tx, saved_zone).await;
    let out = result.map_err(err())?;
    restored.map_err(err())?;
    tx.commit().await.map_err(err())?;
    Ok(out)
}

async fn mysql_rows(
    conn: &mut MySqlConnection,
    database: &str,
    ignore: &[&str],
    cap: usize,
) -> Result<Contents, sqlx::Error> {
    let tables = base_table_columns(conn, database, ignore).await?;
    let names: Vec<&String> = tables.keys().collect();
    let mut out = Contents::new();
    for chunk in names.chunks(TABLES_PER_QUERY) {
        let sql = chunk
            .iter()
            .enumerate()
            .map(|(i, table)| {
                let values = tables[*table]
                    .iter()
                    .map(|c| format!("HEX(CAST(r.{} AS CHAR))", Engine::Mysql.quote_ident(c)))
                    .collect::<Vec<_>>()
                    .join(", ");
                format!(
                    "SELECT CAST({i} AS SIGNED), CAST(COALESCE(JSON_ARRAYAGG(JSON_ARRAY({values})), \
                     '[]') AS CHAR) FROM (SELECT * FROM {}.{} LIMIT {}) AS r",
                    Engine::Mysql.quote_ident(database),
                    Engine::Mysql.quote_ident(table),
                    cap + 1
                )
            })
            .collect::<Vec<_>>()
            .join(" UNION ALL ");
        let rows: Vec<(i64, String)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .fetch_all(&mut *conn)
            .await?;
        for (i, json) in rows {
            if let Some(table) = usize::try_from(i).ok().and_then(|i| chunk.get(i)) {
                out.insert(
                    (*table).clone(),
                    table_contents(&tables[*table], &json, cap, true),
                );
            }
        }
    }
    Ok(out)
}

/// Reads every ordinary table of a SQLite connection's `main` database (at most `cap` rows
/// each).
pub async fn contents_sqlite(
    conn: &mut SqliteConnection,
    ignore: &[&str],
    cap: usize,
) -> Result<Contents> {
    let db = "sqlite database main";
    let err = || SchemaError::query("table contents", db);
    let mut tx = conn.begin().await.map_err(err())?;
    let columns: Vec<(String, String)> = sqlx::query_as(
        r"SELECT m.name, p.name
          FROM main.sqlite_master m JOIN pragma_table_xinfo(m.name, 'main') p
          WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite\_%' ESCAPE '\'
            AND m.sql NOT LIKE 'CREATE VIRTUAL TABLE%' AND p.hidden = 0
          ORDER BY m.name, p.cid",
    )
    .fetch_all(&mut *tx)
    .await
    .map_err(err())?;
    let tables = group(columns, ignore);
    let mut out = Contents::new();
    for (table, columns) in &tables {
        if columns.len() > SQLITE_MAX_COLUMNS {
            out.insert(
                table.clone(),
                TableContents {
                    columns: columns.clone(),
                    ..TableContents::default()
                },
            );
            continue;
        }
        // JSON cannot hold a BLOB: blobs travel as hex.
        let values = columns
            .iter()
            .map(|c| {
                let c = format!("r.{}", Engine::Sqlite.quote_ident(c));
                format!("CASE WHEN typeof({c}) = 'blob' THEN hex({c}) ELSE CAST({c} AS TEXT) END")
            })
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT coalesce(json_group_array(json_array({values})), '[]') \
             FROM (SELECT * FROM {} LIMIT {}) AS r",
            Engine::Sqlite.quote_ident(table),
            cap + 1
        );
        let json: String = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_one(&mut *tx)
            .await
            .map_err(err())?;
        out.insert(table.clone(), table_contents(columns, &json, cap, false));
    }
    tx.commit().await.map_err(err())?;
    Ok(out)
}

fn table_contents(columns: &[String], json: &str, cap: usize, hex: bool) -> TableContents {
    match parse_rows(json, cap, hex) {
        Some((rows, complete)) if rows.iter().all(|r| r.len() == columns.len()) => TableContents {
            columns: columns.to_vec(),
            rows,
            complete,
        },
        _ => TableContents {
            columns: columns.to_vec(),
            ..TableContents::default()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_past_the_cap_make_a_table_incomplete() {
        let (rows, complete) = parse_rows(r#"[["1","a"],["2",null]]"#, 5, false).unwrap();
        assert_eq!(rows[1], [Some("2".to_owned()), None]);
        assert!(complete);
        let (rows, complete) = parse_rows(r#"[["1"],["2"],["3"]]"#, 2, false).unwrap();
        assert_eq!(rows.len(), 2);
        assert!(!complete);
    }

    #[test]
    fn mysql_values_come_back_from_hex() {
        let (rows, _) = parse_rows(r#"[["616263", null, ""]]"#, 5, true).unwrap();
        assert_eq!(rows[0], [Some("abc".to_owned()), None, Some(String::new())]);
        assert!(parse_rows(r#"[["6"]]"#, 5, true).is_none());
    }

    #[test]
    fn unreadable_json_leaves_the_table_incomplete() {
        let columns = ["id".to_owned()];
        let table = table_contents(&columns, "not json", 5, false);
        assert!(!table.complete);
        let wrong_width = table_contents(&columns, r#"[["1","2"]]"#, 5, false);
        assert!(!wrong_width.complete);
        let fine = table_contents(&columns, r#"[["1"]]"#, 5, false);
        assert!(fine.complete);
        assert_eq!(fine.position("id"), Some(0));
    }
}
