//! The walk's own connection to one database, kept open between inspections.
//!
//! A drill inspects each database several times per revision (schema snapshots before and
//! after the roundtrip, seeding, fingerprints); a new connection each time cost ~8 ms on
//! PostgreSQL (SCRAM login plus backend start), as much as the snapshot's queries. The
//! connection is idle while Alembic steps run (no transaction is left open), and is closed
//! before its database is cloned or dropped.

use std::collections::BTreeMap;

use sqlx::mysql::MySqlConnectOptions;
use sqlx::{Connection as _, MySqlConnection, PgConnection, SqliteConnection};

use crate::drill::options::UserRows;
use crate::schema::{
    self, SchemaSnapshot, Scheme, TableFingerprint, connect, current_mysql_database,
    current_pg_schema,
};
use crate::seed;

pub(crate) enum Inspector {
    Postgres {
        conn: PgConnection,
        schema: String,
    },
    Mysql {
        conn: MySqlConnection,
        database: String,
    },
    Sqlite(SqliteConnection),
}

impl Inspector {
    pub(crate) async fn open(url: &str) -> Result<Inspector, String> {
        let text = |e: schema::SchemaError| e.to_string();
        Ok(match Scheme::of(url).map_err(text)? {
            Scheme::Postgres => {
                let mut conn = connect::<PgConnection>(url).await.map_err(text)?;
                let schema = current_pg_schema(&mut conn, url).await.map_err(text)?;
                Inspector::Postgres { conn, schema }
            }
            Scheme::Mysql => {
                // Room for every table's INSERT when seeding (see `seed_mysql`).
                let options = seed::sqlx_url(url)
                    .parse::<MySqlConnectOptions>()
                    .map_err(|e| format!("{}: {e}", schema::redact_url(url)))?
                    .statement_cache_capacity(1_000);
                let mut conn = MySqlConnection::connect_with(&options)
                    .await
                    .map_err(|e| format!("connecting to {}: {e}", schema::redact_url(url)))?;
                let database = current_mysql_database(&mut conn, url).await.map_err(text)?;
                Inspector::Mysql { conn, database }
            }
            Scheme::Sqlite => Inspector::Sqlite(connect(url).await.map_err(text)?),
        })
    }

    pub(crate) async fn snapshot(&mut self, ignore: &[&str]) -> Result<SchemaSnapshot, String> {
        match self {
            Inspector::Postgres { conn, schema } => {
                schema::snapshot_postgres(conn, schema, ignore).await
            }
            Inspector::Mysql { conn, database } => {
                schema::snapshot_mysql(conn, database, ignore).await
            }
            Inspector::Sqlite(conn) => schema::snapshot_sqlite(conn, ignore).await,
        }
        .map_err(|e| e.to_string())
    }

    pub(crate) async fn fingerprint(
        &mut self,
        ignore: &[&str],
    ) -> Result<BTreeMap<String, TableFingerprint>, String> {
        match self {
            Inspector::Postgres { conn, schema } => {
                schema::fingerprint_postgres(conn, schema, ignore).await
            }
            Inspector::Mysql { conn, database } => {
                schema::fingerprint_mysql(conn, database, ignore).await
            }
            Inspector::Sqlite(conn) => schema::fingerprint_sqlite(conn, ignore).await,
        }
        .map_err(|e| e.to_string())
    }

    /// Plans `rows_per_table` rows per table of `snapshot` after the user's, and inserts
    /// them in one transaction, except into the `existing` tables (seeded before).
    pub(crate) async fn seed(
        &mut self,
        snapshot: &SchemaSnapshot,
        rows_per_table: usize,
        user_rows: &UserRows,
        existing: Vec<String>,
    ) -> Result<seed::SeedReport, String> {
        let plan = seed::plan(snapshot, rows_per_table, user_rows).keep_existing(existing);
        match self {
            Inspector::Postgres { conn, .. } => seed::seed_postgres(conn, snapshot, &plan).await,
            Inspector::Mysql { conn, .. } => seed::seed_mysql(conn, snapshot, &plan).await,
            Inspector::Sqlite(conn) => seed::seed_sqlite(conn, snapshot, &plan).await,
        }
        .map_err(|e| e.to_string())
    }

    pub(crate) async fn close(self) {
        // Best effort: the database is about to be cloned or dropped, and dropping
        // disconnects every session anyway.
        let _ = match self {
            Inspector::Postgres { conn, .. } => conn.close().await,
            Inspector::Mysql { conn, .. } => conn.close().await,
            Inspector::Sqlite(conn) => conn.close().await,
        };
    }
}
