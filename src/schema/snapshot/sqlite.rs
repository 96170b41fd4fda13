//! SQLite: four queries per snapshot, joining sqlite_master to the pragma table-valued
//! functions, so no statement is issued per table.
//!
//! SQLite keeps CHECK constraints, index expressions, partial-index predicates and
//! AUTOINCREMENT only in the DDL text stored in sqlite_master; those are read with a
//! quote-aware lexical scan of that text (see `sqltext`), not a SQL parser. The scan finds
//! every `CHECK (...)` and its `CONSTRAINT name`, which is all a diff needs. Generated
//! columns are recorded as generated, without their expression. Constraint names other than
//! those of CHECKs are not kept by SQLite at all, so PRIMARY KEY, UNIQUE and FOREIGN KEY
//! constraints are always unnamed here.

use std::collections::BTreeMap;

use sqlx::SqliteConnection;

use super::{
    CheckConstraint, Column, ForeignKey, Index, PrimaryKey, SchemaSnapshot, Table, UniqueConstraint,
};
use crate::engine::Engine;
use crate::schema::error::{Result, SchemaError};
use crate::schema::sqltext::{
    collapse_ws, sqlite_checks, sqlite_has_autoincrement, sqlite_index_parts, strip_sort_order,
};

// `sqlite_%` objects (sqlite_sequence, sqlite_stat1, autoindexes) belong to SQLite itself.
const MASTER: &str = r"
SELECT type, name, sql FROM main.sqlite_master
WHERE name NOT LIKE 'sqlite\_%' ESCAPE '\' AND type IN ('table', 'view', 'index')";

// Virtual tables are skipped: their pragmas need the module (fts5, rtree...) loaded, and their
// storage shows up anyway as the ordinary shadow tables the module creates.
const COLUMNS: &str = r"
SELECT m.name, p.name, p.cid, p.type, p.[notnull], p.dflt_value, p.pk, p.hidden
FROM main.sqlite_master m JOIN pragma_table_xinfo(m.name, 'main') p
WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite\_%' ESCAPE '\'
  AND m.sql NOT LIKE 'CREATE VIRTUAL TABLE%'
ORDER BY m.name, p.cid";

const INDEXES: &str = r"
SELECT m.name, il.name, il.[unique], il.origin, il.partial, ii.seqno, ii.cid, ii.name, ii.[desc]
FROM main.sqlite_master m
JOIN pragma_index_list(m.name, 'main') il
JOIN pragma_index_xinfo(il.name, 'main') ii
WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite\_%' ESCAPE '\'
  AND m.sql NOT LIKE 'CREATE VIRTUAL TABLE%' AND ii.key = 1
ORDER BY m.name, il.name, ii.seqno";

const FOREIGN_KEYS: &str = r"
SELECT m.name, f.id, f.[table], f.[from], f.[to], f.on_update, f.on_delete
FROM main.sqlite_master m JOIN pragma_foreign_key_list(m.name, 'main') f
WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite\_%' ESCAPE '\'
  AND m.sql NOT LIKE 'CREATE VIRTUAL TABLE%'
ORDER BY m.name, f.id, f.seq";

type ColumnRow = (
    String,
    String,
    i64,
    Option<String>,
    i64,
    Option<String>,
    i64,
    i64,
);
type IndexRow = (
    String,
    String,
    i64,
    String,
    i64,
    i64,
    i64,
    Option<String>,
    i64,
);
type ForeignKeyRow = (String, i64, String, String, Option<String>, String, String);

/// Snapshots the `main` database of a SQLite connection. Tables named in `ignore` (see
/// [`DEFAULT_IGNORE`](super::DEFAULT_IGNORE)) and views with those names are left out.
pub async fn snapshot_sqlite(
    conn: &mut SqliteConnection,
    ignore: &[&str],
) -> Result<SchemaSnapshot> {
    let db = "sqlite database main";
    let mut snapshot = SchemaSnapshot::new(Engine::Sqlite);
    let ignored = |name: &str| ignore.contains(&name);

    let master: Vec<(String, String, Option<String>)> = sqlx::query_as(MASTER)
        .fetch_all(&mut *conn)
        .await
        .map_err(SchemaError::query("schema table", db))?;
    let mut table_sql = BTreeMap::new();
    let mut index_sql = BTreeMap::new();
    for (kind, name, sql) in master {
        let sql = sql.unwrap_or_default();
        match kind.as_str() {
            "table" if !ignored(&name) => {
                snapshot.tables.insert(name.clone(), Table::default());
                table_sql.insert(name, sql);
            }
            "view" if !ignored(&name) => {
                snapshot.views.insert(name, collapse_ws(&sql));
            }
            "index" => {
                index_sql.insert(name, sql);
            }
            _ => {}
        }
    }

    let columns: Vec<ColumnRow> = sqlx::query_as(COLUMNS)
        .fetch_all(&mut *conn)
        .await
        .map_err(SchemaError::query("columns", db))?;
    // Primary keys of every table, ignored ones included: a foreign key written as
    // `REFERENCES t` (no column list) points at t's primary key.
    let mut primary_keys: BTreeMap<String, Vec<(i64, String)>> = BTreeMap::new();
    for (table_name, name, cid, data_type, not_null, default, pk, hidden) in columns {
        if pk > 0 {
            primary_keys
                .entry(table_name.clone())
                .or_default()
                .push((pk, name.clone()));
        }
        let Some(table) = snapshot.tables.get_mut(&table_name) else {
            continue;
        };
        let extra = match hidden {
            1 => continue, // a virtual table's hidden column
            2 => Some("generated always virtual".to_owned()),
            3 => Some("generated always stored".to_owned()),
            _ => None,
        };
        table.columns.insert(
            name,
            Column {
                data_type: same_storage_type(
                    &collapse_ws(&data_type.unwrap_or_default()).to_ascii_lowercase(),
                ),
                nullable: not_null == 0,
                default: default.map(|d| stored_default(&collapse_ws(&d))),
                extra,
                ordinal: u32::try_from(cid + 1).unwrap_or(0),
            },
        );
    }
    for (table_name, pk) in &mut primary_keys {
        pk.sort();
        let Some(table) = snapshot.tables.get_mut(table_name) else {
            continue;
        };
        let columns: Vec<String> = pk.iter().map(|(_, c)| c.clone()).collect();
        // AUTOINCREMENT is only legal on a lone INTEGER PRIMARY KEY.
        if columns.len() == 1
            && table_sql
                .get(table_name)
                .is_some_and(|sql| sqlite_has_autoincrement(sql))
            && let Some(column) = table.columns.get_mut(&columns[0])
        {
            column.extra = Some("autoincrement".to_owned());
        }
        table.primary_key = Some(PrimaryKey {
            name: None,
            columns,
        });
    }

    for (table_name, sql) in &table_sql {
        let Some(table) = snapshot.tables.get_mut(table_name) else {
            continue;
        };
        for (name, expression) in sqlite_checks(sql) {
            table.add_check(CheckConstraint { name, expression });
        }
    }

    let index_rows: Vec<IndexRow> = sqlx::query_as(INDEXES)
        .fetch_all(&mut *conn)
        .await
        .map_err(SchemaError::query("indexes", db))?;
    // (table, index) -> (unique, origin, partial, key parts)
    type Parts = (bool, String, bool, Vec<String>);
    let mut indexes: BTreeMap<(String, String), Parts> = BTreeMap::new();
    for (table, name, unique, origin, partial, seqno, cid, column, desc) in index_rows {
        let key = (table, name);
        let entry = indexes
            .entry(key.clone())
            .or_insert_with(|| (unique != 0, origin, partial != 0, Vec::new()));
        let mut part = match (cid, column) {
            (-1, _) => "rowid".to_owned(),
            (_, Some(column)) => column,
            // An expression: pragmas only say "-2"; its text is in the CREATE INDEX.
            _ => index_sql
                .get(&key.1)
                .map(|sql| sqlite_index_parts(sql).0)
                .and_then(|parts| parts.into_iter().nth(usize::try_from(seqno).unwrap_or(0)))
                .map(|p| strip_sort_order(&p).to_owned())
                .unwrap_or_else(|| "(expression)".to_owned()),
        };
        if desc != 0 {
            part.push_str(" DESC");
        }
        entry.3.push(part);
    }
    for ((table_name, name), (unique, origin, partial, columns)) in indexes {
        let Some(table) = snapshot.tables.get_mut(&table_name) else {
            continue;
        };
        match origin.as_str() {
            "pk" => {} // already the primary key
            "u" => table.add_unique(UniqueConstraint {
                name: None,
                columns,
            }),
            _ => {
                let predicate = partial
                    .then(|| {
                        index_sql
                            .get(&name)
                            .and_then(|sql| sqlite_index_parts(sql).1)
                    })
                    .flatten();
                table.add_index(Index {
                    name: Some(name),
                    columns,
                    unique,
                    method: None,
                    predicate,
                });
            }
        }
    }

    let fk_rows: Vec<ForeignKeyRow> = sqlx::query_as(FOREIGN_KEYS)
        .fetch_all(&mut *conn)
        .await
        .map_err(SchemaError::query("foreign keys", db))?;
    let mut fks: BTreeMap<(String, i64), (ForeignKey, bool)> = BTreeMap::new();
    for (table, id, referred_table, from, to, on_update, on_delete) in fk_rows {
        let (fk, implicit_target) = fks.entry((table, id)).or_insert_with(|| {
            (
                ForeignKey {
                    name: None,
                    columns: Vec::new(),
                    referred_table,
                    referred_columns: Vec::new(),
                    on_delete: on_delete.to_ascii_uppercase(),
                    on_update: on_update.to_ascii_uppercase(),
                },
                false,
            )
        });
        fk.columns.push(from);
        match to {
            Some(to) => fk.referred_columns.push(to),
            None => *implicit_target = true,
        }
    }
    for ((table_name, _), (mut fk, implicit_target)) in fks {
        let Some(table) = snapshot.tables.get_mut(&table_name) else {
            continue;
        };
        if implicit_target {
            // SQLite table names are case-insensitive; the reference may be spelled either way.
            let target = primary_keys.get(&fk.referred_table).or_else(|| {
                primary_keys
                    .iter()
                    .find(|(name, _)| name.eq_ignore_ascii_case(&fk.referred_table))
                    .map(|(_, pk)| pk)
            });
            fk.referred_columns = target
                .map(|pk| pk.iter().map(|(_, c)| c.clone()).collect())
                .unwrap_or_default();
        }
        table.add_foreign_key(fk);
    }

    Ok(snapshot)
}

/// A column default as SQLite stores the value: `'-1'` and `-1` give the same integer in
/// a column of numeric affinity, `false`/`true` are 0 and 1. Two spellings of one stored
/// value are not a difference a downgrade left behind.
fn stored_default(default: &str) -> String {
    let unquoted = default
        .strip_prefix('\'')
        .and_then(|d| d.strip_suffix('\''))
        .filter(|d| !d.contains('\''));
    let bare = unquoted.unwrap_or(default);
    match bare.to_ascii_lowercase().as_str() {
        "false" => return "0".to_owned(),
        "true" => return "1".to_owned(),
        _ => {}
    }
    if bare.parse::<i64>().is_ok() || bare.parse::<f64>().is_ok_and(f64::is_finite) {
        bare.to_owned()
    } else {
        default.to_owned()
    }
}

/// A declared type, with the spellings SQLite stores identically made one: `timestamp`
/// and `datetime` (both numeric affinity, neither with a time zone on SQLite).
fn same_storage_type(declared: &str) -> String {
    match declared {
        "timestamp" => "datetime".to_owned(),
        other => other.to_owned(),
    }
}

#[cfg(test)]
mod normalising_tests {
    use super::{same_storage_type, stored_default};

    #[test]
    fn spellings_of_one_stored_default_compare_equal() {
        assert_eq!(stored_default("'-1'"), stored_default("-1"));
        assert_eq!(stored_default("false"), stored_default("'0'"));
        assert_eq!(stored_default("TRUE"), "1");
        assert_eq!(stored_default("'1.5'"), "1.5");
        // Text stays text, and a quoted word is not a number.
        assert_eq!(stored_default("'abc'"), "'abc'");
        assert_eq!(stored_default("'it''s'"), "'it''s'");
        assert_eq!(stored_default("CURRENT_TIMESTAMP"), "CURRENT_TIMESTAMP");
    }

    #[test]
    fn timestamp_and_datetime_are_one_type() {
        assert_eq!(
            same_storage_type("timestamp"),
            same_storage_type("datetime")
        );
        assert_eq!(same_storage_type("varchar(20)"), "varchar(20)");
    }
}
