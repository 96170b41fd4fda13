//! Schema snapshots, their diff, and table-content fingerprints, for PostgreSQL,
//! MySQL/MariaDB and SQLite.
//!
//! Between migration steps the drill snapshots the schema to prove a revision reversible
//! (`diff(before_upgrade, after_downgrade)` is empty) and fingerprints table contents to prove
//! a replay data-safe (`compare(before, after)` is empty), and reads table contents row by row
//! to say which rows and columns a downgrade did not bring back. Each snapshot costs a handful of
//! catalog queries whatever the number of tables.

mod connection;
mod contents;
mod diff;
mod error;
mod fingerprint;
mod mysql_reading;
mod snapshot;
mod sqltext;

#[cfg(test)]
pub(crate) mod tests;

pub use connection::{DbConnection, fingerprint_url, snapshot_url};
pub(crate) use connection::{open_mysql, open_postgres, open_sqlite};
pub use contents::{Contents, TableContents, contents_mysql, contents_postgres, contents_sqlite};
pub use diff::{Change, ChangeKind, SchemaDiff, diff};
pub use error::{Result, SchemaError};
pub use fingerprint::{
    TableChange, TableChangeKind, TableFingerprint, compare, fingerprint_mysql,
    fingerprint_postgres, fingerprint_sqlite,
};
pub use snapshot::{
    CheckConstraint, Column, DEFAULT_IGNORE, ForeignKey, Index, PrimaryKey, SchemaSnapshot,
    Sequence, Table, UniqueConstraint, snapshot_mysql, snapshot_postgres, snapshot_sqlite,
};
