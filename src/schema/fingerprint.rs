//! Table contents fingerprints: a row count and an order-independent digest per table, to
//! prove that replaying a migration left the data as it was.
//!
//! The digest is the sum, modulo 2^64, of a 64-bit hash of each row's text rendering. A sum
//! (not XOR) keeps it a multiset hash: a duplicated row changes it, row order does not.
//! PostgreSQL and MySQL compute it in SQL, so only one row per table crosses the wire; SQLite
//! is in-process, so its rows are hashed in Rust. Digests are comparable only between
//! fingerprints taken on the same engine.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use sqlx::{Connection as _, MySqlConnection, PgConnection, SqliteConnection};

use super::error::{Result, SchemaError};
use super::mysql_reading::{base_table_columns, restore_zone, utc_session};
use super::sqltext::sqlite_without_rowid;
use crate::engine::Engine;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableFingerprint {
    pub rows: u64,
    /// 16 hex digits.
    pub digest: String,
}

impl TableFingerprint {
    fn from_sum(rows: u64, sum: u64) -> Self {
        TableFingerprint {
            rows,
            digest: format!("{sum:016x}"),
        }
    }
}

/// Tables per statement: one round trip for a typical schema, without building a statement
/// so large that a 1000-table schema strains the server's parser.
const TABLES_PER_QUERY: usize = 100;

// Session settings change how timestamps, intervals and floats render as text; pinning them
// makes fingerprints taken over different connections comparable.
pub(crate) const PG_PIN_SETTINGS: &str = "SET LOCAL TimeZone = 'UTC'; SET LOCAL DateStyle = 'ISO, YMD'; \
     SET LOCAL IntervalStyle = 'postgres'; SET LOCAL extra_float_digits = 1; \
     SET LOCAL bytea_output = 'hex'";

/// Fingerprints every ordinary table of a PostgreSQL schema. Partitioned parents are left out:
/// their rows are fingerprinted in their partitions.
pub async fn fingerprint_postgres(
    conn: &mut PgConnection,
    schema: &str,
    ignore: &[&str],
) -> Result<BTreeMap<String, TableFingerprint>> {
    let db = format!("postgres schema {schema}");
    let err = || SchemaError::fingerprint(&db);
    let mut tx = conn.begin().await.map_err(err())?;
    sqlx::raw_sql(PG_PIN_SETTINGS)
        .execute(&mut *tx)
        .await
        .map_err(err())?;
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = $1 AND c.relkind = 'r' ORDER BY 1",
    )
    .bind(schema)
    .fetch_all(&mut *tx)
    .await
    .map_err(err())?;
    let tables: Vec<String> = tables
        .into_iter()
        .filter(|t| !ignore.contains(&t.as_str()))
        .collect();

    let mut out = BTreeMap::new();
    for chunk in tables.chunks(TABLES_PER_QUERY) {
        // md5 of the row's composite text: NULL renders as nothing and '' as "", so the two
        // differ. The first 64 bits as a signed int8, summed as numeric (no overflow), then
        // brought into 0..2^64.
        let sql = chunk
            .iter()
            .enumerate()
            .map(|(i, table)| {
                format!(
                    "SELECT {i}::int4, count(*)::int8, \
                     ((coalesce(sum(('x' || left(md5(ROW(r.*)::text), 16))::bit(64)::int8), 0) \
                       % 18446744073709551616 + 18446744073709551616) \
                       % 18446744073709551616)::text \
                     FROM {}.{} AS r",
                    Engine::Postgres.quote_ident(schema),
                    Engine::Postgres.quote_ident(table)
                )
            })
            .collect::<Vec<_>>()
            .join(" UNION ALL ");
        let rows: Vec<(i32, i64, String)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .fetch_all(&mut *tx)
            .await
            .map_err(err())?;
        collect_sums(chunk, rows, &mut out);
    }
    tx.commit().await.map_err(err())?;
    Ok(out)
}

/// Fingerprints every base table of a MySQL or MariaDB database.
pub async fn fingerprint_mysql(
    conn: &mut MySqlConnection,
    database: &str,
    ignore: &[&str],
) -> Result<BTreeMap<String, TableFingerprint>> {
    let db = format!("mysql database {database}");
    let err = || SchemaError::fingerprint(&db);
    let mut tx = conn.begin().await.map_err(err())?;
    let saved_zone = utc_session(&mut tx, "").await.map_err(err())?;
    let result = mysql_sums(&mut tx, database, ignore).await;
    let restored = restore_zone(&mut tx, saved_zone).await;
    let out = result.map_err(err())?;
    restored.map_err(err())?;
    tx.commit().await.map_err(err())?;
    Ok(out)
}

async fn mysql_sums(
    conn: &mut MySqlConnection,
    database: &str,
    ignore: &[&str],
) -> Result<BTreeMap<String, TableFingerprint>, sqlx::Error> {
    let tables = base_table_columns(conn, database, ignore).await?;
    let names: Vec<String> = tables.keys().cloned().collect();

    let mut out = BTreeMap::new();
    for chunk in names.chunks(TABLES_PER_QUERY) {
        // QUOTE() spells NULL as the bare word NULL and every value as an escaped literal, so
        // NULL, 'NULL' and '' stay distinct and no separator can be forged by the data. Values
        // go through BINARY so columns of different collations concatenate without error.
        let sql = chunk
            .iter()
            .enumerate()
            .map(|(i, table)| {
                let row = tables[table]
                    .iter()
                    .map(|c| format!("QUOTE(CAST({} AS BINARY))", Engine::Mysql.quote_ident(c)))
                    .collect::<Vec<_>>()
                    .join(", ");
                format!(
                    "SELECT CAST({i} AS SIGNED), CAST(COUNT(*) AS SIGNED), \
                     CAST(MOD(COALESCE(SUM(CAST(CONV(LEFT(MD5(CONCAT_WS(',', {row})), 16), 16, 10) \
                     AS UNSIGNED)), 0), 18446744073709551616) AS CHAR) FROM {}.{}",
                    Engine::Mysql.quote_ident(database),
                    Engine::Mysql.quote_ident(table)
                )
            })
            .collect::<Vec<_>>()
            .join(" UNION ALL ");
        let rows: Vec<(i64, i64, String)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .fetch_all(&mut *conn)
            .await?;
        collect_sums(chunk, rows, &mut out);
    }
    Ok(out)
}

/// Rows fetched per round trip on SQLite; bounds memory on large tables.
const SQLITE_PAGE: i64 = 5000;

/// Fingerprints every ordinary table of a SQLite connection's `main` database. Rows are
/// rendered with `quote()` per column and hashed with SHA-256 (first 64 bits).
pub async fn fingerprint_sqlite(
    conn: &mut SqliteConnection,
    ignore: &[&str],
) -> Result<BTreeMap<String, TableFingerprint>> {
    let db = "sqlite database main";
    let err = || SchemaError::fingerprint(db);
    let mut tx = conn.begin().await.map_err(err())?;
    let columns: Vec<(String, String, String)> = sqlx::query_as(
        r"SELECT m.name, m.sql, p.name
          FROM main.sqlite_master m JOIN pragma_table_xinfo(m.name, 'main') p
          WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite\_%' ESCAPE '\'
            AND m.sql NOT LIKE 'CREATE VIRTUAL TABLE%' AND p.hidden = 0
          ORDER BY m.name, p.cid",
    )
    .fetch_all(&mut *tx)
    .await
    .map_err(err())?;
    let mut tables: BTreeMap<String, (String, Vec<String>)> = BTreeMap::new();
    for (table, sql, column) in columns {
        if !ignore.contains(&table.as_str()) {
            tables
                .entry(table)
                .or_insert((sql, Vec::new()))
                .1
                .push(column);
        }
    }

    let mut out = BTreeMap::new();
    for (table, (create_sql, columns)) in &tables {
        let row = columns
            .iter()
            .map(|c| format!("quote({})", Engine::Sqlite.quote_ident(c)))
            .collect::<Vec<_>>()
            .join(" || ',' || ");
        let shadowed = columns.iter().any(|c| c.eq_ignore_ascii_case("_rowid_"));
        let (mut rows, mut sum) = (0u64, 0u64);
        let mut add = |text: &str| {
            let hash = Sha256::digest(text.as_bytes());
            let mut first = [0u8; 8];
            first.copy_from_slice(&hash[..8]);
            rows += 1;
            sum = sum.wrapping_add(u64::from_be_bytes(first));
        };
        if sqlite_without_rowid(create_sql) || shadowed {
            let sql = format!("SELECT {row} FROM {}", Engine::Sqlite.quote_ident(table));
            let texts: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .fetch_all(&mut *tx)
                .await
                .map_err(err())?;
            texts.iter().for_each(|t| add(t));
        } else {
            // Keyset pages over the rowid keep memory flat on big tables; `fetch` would need a
            // Stream trait this crate does not depend on.
            // `>=` on the first page: i64::MIN is itself a valid rowid.
            let page_sql = |op: &str| {
                format!(
                    "SELECT _rowid_, {row} FROM {} WHERE _rowid_ {op} ? \
                     ORDER BY _rowid_ LIMIT {SQLITE_PAGE}",
                    Engine::Sqlite.quote_ident(table)
                )
            };
            let (first, next) = (page_sql(">="), page_sql(">"));
            let mut after = None;
            loop {
                let sql = if after.is_some() { &next } else { &first };
                let page: Vec<(i64, String)> = sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                    .bind(after.unwrap_or(i64::MIN))
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(err())?;
                for (_, text) in &page {
                    add(text);
                }
                match page.last() {
                    Some((rowid, _)) if page.len() as i64 == SQLITE_PAGE => after = Some(*rowid),
                    _ => break,
                }
            }
        }
        out.insert(table.clone(), TableFingerprint::from_sum(rows, sum));
    }
    tx.commit().await.map_err(err())?;
    Ok(out)
}

fn collect_sums<I: TryInto<usize>>(
    chunk: &[String],
    rows: Vec<(I, i64, String)>,
    out: &mut BTreeMap<String, TableFingerprint>,
) {
    for (i, count, sum) in rows {
        let Some(table) = i.try_into().ok().and_then(|i: usize| chunk.get(i)) else {
            continue;
        };
        // The SQL already reduced the sum modulo 2^64, so it always fits.
        let sum = sum.trim().parse::<u128>().unwrap_or(0) as u64;
        out.insert(
            table.clone(),
            TableFingerprint::from_sum(u64::try_from(count).unwrap_or(0), sum),
        );
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TableChangeKind {
    Added,
    Removed,
    /// The row count changed (the contents did too, necessarily).
    RowCount,
    /// Same row count, different contents.
    Contents,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableChange {
    pub table: String,
    pub kind: TableChangeKind,
    pub before: Option<TableFingerprint>,
    pub after: Option<TableFingerprint>,
    /// `orders: 3 -> 6 rows`, `orders: 3 rows, contents changed`, `+ table x (2 rows)`.
    pub line: String,
}

impl fmt::Display for TableChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.line)
    }
}

fn rows(n: u64) -> String {
    if n == 1 {
        "1 row".to_owned()
    } else {
        format!("{n} rows")
    }
}

/// Tables whose contents differ between two fingerprint sets, in table-name order.
pub fn compare(
    before: &BTreeMap<String, TableFingerprint>,
    after: &BTreeMap<String, TableFingerprint>,
) -> Vec<TableChange> {
    let mut names: Vec<&String> = before.keys().chain(after.keys()).collect();
    names.sort();
    names.dedup();
    let mut changes = Vec::new();
    for table in names {
        let (old, new) = (before.get(table), after.get(table));
        let (kind, line) = match (old, new) {
            (Some(old), None) => (
                TableChangeKind::Removed,
                format!("- table {table} ({})", rows(old.rows)),
            ),
            (None, Some(new)) => (
                TableChangeKind::Added,
                format!("+ table {table} ({})", rows(new.rows)),
            ),
            (Some(old), Some(new)) if old.rows != new.rows => (
                TableChangeKind::RowCount,
                format!("{table}: {} -> {} rows", old.rows, new.rows),
            ),
            (Some(old), Some(new)) if old.digest != new.digest => (
                TableChangeKind::Contents,
                format!("{table}: {}, contents changed", rows(old.rows)),
            ),
            _ => continue,
        };
        changes.push(TableChange {
            table: table.clone(),
            kind,
            before: old.cloned(),
            after: new.cloned(),
            line,
        });
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp(rows: u64, digest: &str) -> TableFingerprint {
        TableFingerprint {
            rows,
            digest: digest.into(),
        }
    }

    #[test]
    fn compare_reports_each_kind_once() {
        let before = BTreeMap::from([
            ("orders".to_owned(), fp(3, "a")),
            ("users".to_owned(), fp(1, "b")),
            ("audit".to_owned(), fp(0, "0")),
            ("same".to_owned(), fp(2, "c")),
        ]);
        let after = BTreeMap::from([
            ("orders".to_owned(), fp(6, "d")),
            ("users".to_owned(), fp(1, "e")),
            ("fresh".to_owned(), fp(2, "f")),
            ("same".to_owned(), fp(2, "c")),
        ]);
        let changes = compare(&before, &after);
        let lines: Vec<String> = changes.iter().map(ToString::to_string).collect();
        assert_eq!(
            lines,
            [
                "- table audit (0 rows)",
                "+ table fresh (2 rows)",
                "orders: 3 -> 6 rows",
                "users: 1 row, contents changed",
            ]
        );
        assert_eq!(changes[2].kind, TableChangeKind::RowCount);
        assert_eq!(changes[3].kind, TableChangeKind::Contents);
        assert!(compare(&after, &after).is_empty());
        let json = serde_json::to_value(&changes[2]).unwrap();
        assert_eq!(json["kind"], "row_count");
    }

    #[test]
    fn sums_fold_into_sixteen_hex_digits() {
        let mut out = BTreeMap::new();
        let chunk = ["t".to_owned(), "u".to_owned()];
        collect_sums(
            &chunk,
            vec![
                (0i64, 2, "18446744073709551615".to_owned()),
                (1i64, 0, "0".to_owned()),
            ],
            &mut out,
        );
        assert_eq!(out["t"], fp(2, "ffffffffffffffff"));
        assert_eq!(out["u"], fp(0, "0000000000000000"));
    }
}
