//! What a schema looks like at one moment, read from the engine's catalog.
//!
//! Every collection is a `BTreeMap` so that two snapshots of the same schema serialise to the
//! same JSON and diff without any ordering noise. Objects whose names the engine invents
//! (SQLite autoindexes, MySQL `*_ibfk_N`, PostgreSQL `*_pkey`/`*_key`/`*_check` ...) are stored
//! with `name: None` and keyed by their content instead, so the same DDL run twice, or in
//! another database, snapshots identically.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::engine::Engine;

mod mysql;
mod postgres;
mod sqlite;

pub use mysql::snapshot_mysql;
pub use postgres::snapshot_postgres;
pub use sqlite::snapshot_sqlite;

/// Tables that belong to Alembic itself, not to the schema under test; pass this as `ignore`
/// unless the project configured another `version_table`.
pub const DEFAULT_IGNORE: &[&str] = &["alembic_version"];

/// The schema of one PostgreSQL schema, MySQL/MariaDB database or SQLite `main` database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemaSnapshot {
    /// Informative; [`diff`](super::diff::diff) does not compare it.
    pub engine: Engine,
    pub tables: BTreeMap<String, Table>,
    /// View name -> definition with whitespace collapsed (and, on MySQL, the database
    /// qualifier stripped). PostgreSQL materialized views are here too, prefixed `materialized: `.
    pub views: BTreeMap<String, String>,
    /// PostgreSQL sequences not owned by a column (those are part of their column's default).
    pub sequences: BTreeMap<String, Sequence>,
    /// PostgreSQL enum type name -> labels in sort order. MySQL enums live in the column type.
    pub enums: BTreeMap<String, Vec<String>>,
}

impl SchemaSnapshot {
    pub fn new(engine: Engine) -> Self {
        SchemaSnapshot {
            engine,
            tables: BTreeMap::new(),
            views: BTreeMap::new(),
            sequences: BTreeMap::new(),
            enums: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Table {
    pub columns: BTreeMap<String, Column>,
    pub primary_key: Option<PrimaryKey>,
    /// Keyed by the column list, e.g. `(org_id, slug)`.
    pub unique_constraints: BTreeMap<String, UniqueConstraint>,
    /// Keyed by `(columns) -> referred(columns)`.
    pub foreign_keys: BTreeMap<String, ForeignKey>,
    /// Keyed by the name when the user chose one, else by the expression.
    pub check_constraints: BTreeMap<String, CheckConstraint>,
    /// Indexes that are not the implementation of a constraint above. Keyed by the name when
    /// the user chose one, else by the column list.
    pub indexes: BTreeMap<String, Index>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    /// Engine spelling, lower case: `character varying(50)`, `int(11)`, `enum('a','b')`.
    pub data_type: String,
    pub nullable: bool,
    /// Default expression with whitespace collapsed; PostgreSQL's redundant cast on a plain
    /// literal (`'a'::character varying`) is dropped.
    pub default: Option<String>,
    /// What else makes values appear: identity, `auto_increment`, generated expressions,
    /// `on update current_timestamp()`.
    pub extra: Option<String>,
    /// 1-based position. Kept for readers; never compared, because Alembic cannot reorder
    /// columns and a re-added column always lands at the end.
    pub ordinal: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrimaryKey {
    pub name: Option<String>,
    pub columns: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UniqueConstraint {
    pub name: Option<String>,
    pub columns: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForeignKey {
    pub name: Option<String>,
    pub columns: Vec<String>,
    /// Unqualified when it lives in the snapshotted schema, `schema.table` otherwise.
    pub referred_table: String,
    pub referred_columns: Vec<String>,
    /// Upper case: `NO ACTION`, `RESTRICT`, `CASCADE`, `SET NULL`, `SET DEFAULT`.
    pub on_delete: String,
    pub on_update: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckConstraint {
    pub name: Option<String>,
    /// Parenthesised, as the engine prints it back.
    pub expression: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Index {
    pub name: Option<String>,
    /// Column names or expressions, with ` DESC` (and prefix lengths on MySQL) appended.
    pub columns: Vec<String>,
    pub unique: bool,
    /// Access method when it is not the engine's default b-tree: `gin`, `FULLTEXT`, ...
    pub method: Option<String>,
    /// Partial-index predicate (PostgreSQL, SQLite).
    pub predicate: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sequence {
    pub data_type: String,
    pub start: i64,
    pub increment: i64,
    pub min_value: i64,
    pub max_value: i64,
    pub cycle: bool,
}

/// `(a, b)`: the rendering used both as a map key and in diff lines.
pub(crate) fn column_list(columns: &[String]) -> String {
    let mut out = String::from("(");
    for (i, c) in columns.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(c);
    }
    out.push(')');
    out
}

impl ForeignKey {
    /// `(org_id) -> orgs(id)`
    pub fn key(&self) -> String {
        let mut key = column_list(&self.columns);
        let _ = write!(
            key,
            " -> {}{}",
            self.referred_table,
            column_list(&self.referred_columns)
        );
        key
    }
}

impl Table {
    // The insert helpers below fall back to a name-qualified key on collision: two
    // constraints on the same columns are legal (if odd), and neither may silently vanish.

    pub(crate) fn add_unique(&mut self, unique: UniqueConstraint) {
        let key = column_list(&unique.columns);
        insert_unclobbered(
            &mut self.unique_constraints,
            key,
            unique.name.clone(),
            unique,
        );
    }

    pub(crate) fn add_foreign_key(&mut self, fk: ForeignKey) {
        let key = fk.key();
        insert_unclobbered(&mut self.foreign_keys, key, fk.name.clone(), fk);
    }

    pub(crate) fn add_check(&mut self, check: CheckConstraint) {
        let key = check
            .name
            .clone()
            .unwrap_or_else(|| check.expression.clone());
        insert_unclobbered(&mut self.check_constraints, key, None, check);
    }

    pub(crate) fn add_index(&mut self, index: Index) {
        let key = match &index.name {
            Some(name) => name.clone(),
            None => column_list(&index.columns),
        };
        insert_unclobbered(&mut self.indexes, key, index.name.clone(), index);
    }
}

fn insert_unclobbered<T>(
    map: &mut BTreeMap<String, T>,
    key: String,
    name: Option<String>,
    value: T,
) {
    let mut candidate = key.clone();
    let base = match name {
        Some(name) => format!("{key} {name}"),
        None => key,
    };
    let mut n = 1;
    while map.contains_key(&candidate) {
        candidate = if n == 1 {
            base.clone()
        } else {
            format!("{base} #{n}")
        };
        n += 1;
    }
    map.insert(candidate, value);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colliding_keys_keep_both_objects() {
        let mut table = Table::default();
        for name in ["uq_a", "uq_b"] {
            table.add_unique(UniqueConstraint {
                name: Some(name.into()),
                columns: vec!["email".into()],
            });
        }
        let keys: Vec<_> = table.unique_constraints.keys().cloned().collect();
        assert_eq!(keys, ["(email)", "(email) uq_b"]);
    }
}
