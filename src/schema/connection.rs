//! One open connection to a database, chosen by URL scheme, with what inspecting it needs:
//! the PostgreSQL schema or MySQL database it works in.
//!
//! The `*_url` entry points open one for a single inspection; the drill keeps one per
//! database across a whole walk (a new connection cost ~8 ms on PostgreSQL, as much as a
//! snapshot's queries). It holds no transaction between inspections, so migrations run
//! beside it unhindered.

use std::collections::BTreeMap;

use sqlx::{Connection as _, MySqlConnection, PgConnection, SqliteConnection};

use super::error::{Result, SchemaError, redact_url};
use super::fingerprint::{
    TableFingerprint, fingerprint_mysql, fingerprint_postgres, fingerprint_sqlite,
};
use super::snapshot::{
    SchemaSnapshot, Scheme, connect, current_mysql_database, current_pg_schema, mysql_options,
    snapshot_mysql, snapshot_postgres, snapshot_sqlite,
};

pub enum DbConnection {
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

impl DbConnection {
    pub async fn open(url: &str) -> Result<DbConnection> {
        Ok(match Scheme::of(url)? {
            Scheme::Postgres => {
                let mut conn = connect::<PgConnection>(url).await?;
                let schema = current_pg_schema(&mut conn, url).await?;
                DbConnection::Postgres { conn, schema }
            }
            Scheme::Mysql => {
                let connected = match mysql_options(url) {
                    Ok(options) => MySqlConnection::connect_with(&options).await,
                    Err(e) => Err(e),
                };
                let mut conn = connected.map_err(|source| SchemaError::Connect {
                    url: redact_url(url),
                    source,
                })?;
                let database = current_mysql_database(&mut conn, url).await?;
                DbConnection::Mysql { conn, database }
            }
            Scheme::Sqlite => DbConnection::Sqlite(connect(url).await?),
        })
    }

    /// The schema (PostgreSQL), database (MySQL) or `main` (SQLite) of the connection.
    pub async fn snapshot(&mut self, ignore: &[&str]) -> Result<SchemaSnapshot> {
        match self {
            DbConnection::Postgres { conn, schema } => {
                snapshot_postgres(conn, schema, ignore).await
            }
            DbConnection::Mysql { conn, database } => snapshot_mysql(conn, database, ignore).await,
            DbConnection::Sqlite(conn) => snapshot_sqlite(conn, ignore).await,
        }
    }

    pub async fn fingerprint(
        &mut self,
        ignore: &[&str],
    ) -> Result<BTreeMap<String, TableFingerprint>> {
        match self {
            DbConnection::Postgres { conn, schema } => {
                fingerprint_postgres(conn, schema, ignore).await
            }
            DbConnection::Mysql { conn, database } => {
                fingerprint_mysql(conn, database, ignore).await
            }
            DbConnection::Sqlite(conn) => fingerprint_sqlite(conn, ignore).await,
        }
    }

    /// Best effort: a connection that fails to close is gone all the same.
    pub async fn close(self) {
        let _ = match self {
            DbConnection::Postgres { conn, .. } => conn.close().await,
            DbConnection::Mysql { conn, .. } => conn.close().await,
            DbConnection::Sqlite(conn) => conn.close().await,
        };
    }
}
