//! Schema snapshots, their diff, and table-content fingerprints, for PostgreSQL,
//! MySQL/MariaDB and SQLite.
//!
//! Between migration steps the drill snapshots the schema to prove a revision reversible
//! (`diff(before_upgrade, after_downgrade)` is empty) and fingerprints table contents to prove
//! a replay data-safe (`compare(before, after)` is empty). Each snapshot costs a handful of
//! catalog queries whatever the number of tables.

mod connection;
mod diff;
mod error;
mod fingerprint;
mod snapshot;
mod sqltext;

#[cfg(test)]
pub(crate) mod tests;

pub use connection::DbConnection;
pub use diff::{Change, ChangeKind, SchemaDiff, diff};
pub(crate) use error::redact_url;
pub use error::{Result, SchemaError};
pub use fingerprint::{
    TableChange, TableChangeKind, TableFingerprint, compare, fingerprint_mysql,
    fingerprint_postgres, fingerprint_sqlite, fingerprint_url,
};
pub use snapshot::{
    CheckConstraint, Column, DEFAULT_IGNORE, Engine, ForeignKey, Index, PrimaryKey, SchemaSnapshot,
    Sequence, Table, UniqueConstraint, snapshot_mysql, snapshot_postgres, snapshot_sqlite,
    snapshot_url,
};
pub(crate) use snapshot::{mysql_options, sqlx_url};
