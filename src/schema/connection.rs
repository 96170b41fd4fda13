//! One open connection to a database, chosen by URL scheme, with what inspecting it needs:
//! the PostgreSQL schema or MySQL database it works in.
//!
//! The `*_url` entry points open one for a single inspection; the drill keeps one per
//! database across a whole walk (a new connection cost ~8 ms on PostgreSQL, as much as a
//! snapshot's queries). It holds no transaction between inspections, so migrations run
//! beside it unhindered.

use std::collections::BTreeMap;

use sqlx::mysql::MySqlConnectOptions;
use sqlx::{Connection as _, MySqlConnection, PgConnection, SqliteConnection};

use super::contents::{Contents, contents_mysql, contents_postgres, contents_sqlite};
use super::error::{Result, SchemaError};
use super::fingerprint::{
    TableFingerprint, fingerprint_mysql, fingerprint_postgres, fingerprint_sqlite,
};
use super::snapshot::{SchemaSnapshot, snapshot_mysql, snapshot_postgres, snapshot_sqlite};
use crate::engine::{Engine, redact_url};

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
        let engine = Engine::from_url(url).ok_or_else(|| SchemaError::UnsupportedUrl {
            url: redact_url(url),
        })?;
        let failed = |source| SchemaError::Connect {
            url: redact_url(url),
            source,
        };
        Ok(match engine {
            Engine::Postgres => {
                let mut conn = open_postgres(url).await.map_err(failed)?;
                let schema = current_pg_schema(&mut conn, url).await?;
                DbConnection::Postgres { conn, schema }
            }
            Engine::Mysql => {
                let mut conn = open_mysql(url).await.map_err(failed)?;
                let database = current_mysql_database(&mut conn, url).await?;
                DbConnection::Mysql { conn, database }
            }
            Engine::Sqlite => DbConnection::Sqlite(open_sqlite(url).await.map_err(failed)?),
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

    /// Every table's rows as text, at most `cap` rows a table (see `contents.rs`).
    pub async fn contents(&mut self, ignore: &[&str], cap: usize) -> Result<Contents> {
        match self {
            DbConnection::Postgres { conn, schema } => {
                contents_postgres(conn, schema, ignore, cap).await
            }
            DbConnection::Mysql { conn, database } => {
                contents_mysql(conn, database, ignore, cap).await
            }
            DbConnection::Sqlite(conn) => contents_sqlite(conn, ignore, cap).await,
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

/// Connects by URL scheme and snapshots the connection's current schema (PostgreSQL
/// `current_schema()`), database (MySQL `DATABASE()`) or `main` (SQLite).
pub async fn snapshot_url(url: &str, ignore: &[&str]) -> Result<SchemaSnapshot> {
    let mut conn = DbConnection::open(url).await?;
    let snapshot = conn.snapshot(ignore).await;
    conn.close().await;
    snapshot
}

/// Connects by URL scheme and fingerprints the connection's current schema or database.
pub async fn fingerprint_url(
    url: &str,
    ignore: &[&str],
) -> Result<BTreeMap<String, TableFingerprint>> {
    let mut conn = DbConnection::open(url).await?;
    let result = conn.fingerprint(ignore).await;
    conn.close().await;
    result
}

/// A bare sqlx connection to a PostgreSQL URL (SQLAlchemy's `+driver` allowed).
pub(crate) async fn open_postgres(url: &str) -> sqlx::Result<PgConnection> {
    PgConnection::connect(&sqlx_url(url)).await
}

/// A bare sqlx connection to a MySQL or MariaDB URL, with room in the statement cache for
/// every table's INSERT when seeding (see `seed_mysql` on statement closing).
pub(crate) async fn open_mysql(url: &str) -> sqlx::Result<MySqlConnection> {
    let options = sqlx_url(url)
        .parse::<MySqlConnectOptions>()?
        .statement_cache_capacity(1_000);
    MySqlConnection::connect_with(&options).await
}

/// A bare sqlx connection to a SQLite URL.
pub(crate) async fn open_sqlite(url: &str) -> sqlx::Result<SqliteConnection> {
    SqliteConnection::connect(&sqlx_url(url)).await
}

/// The URL as sqlx wants it: without SQLAlchemy's `+driver` suffix, `mariadb:` as `mysql:`.
fn sqlx_url(url: &str) -> String {
    let stripped = match (url.find('+'), url.find(':')) {
        (Some(plus), Some(colon)) if plus < colon => format!("{}{}", &url[..plus], &url[colon..]),
        _ => url.to_owned(),
    };
    match stripped.strip_prefix("mariadb:") {
        Some(rest) => format!("mysql:{rest}"),
        None => stripped,
    }
}

async fn current_pg_schema(conn: &mut PgConnection, url: &str) -> Result<String> {
    let schema: Option<String> = sqlx::query_scalar("SELECT current_schema()::text")
        .fetch_one(&mut *conn)
        .await
        .map_err(SchemaError::query("current schema", &redact_url(url)))?;
    schema.ok_or_else(|| SchemaError::NoDatabase {
        url: redact_url(url),
    })
}

async fn current_mysql_database(conn: &mut MySqlConnection, url: &str) -> Result<String> {
    let database: Option<String> = sqlx::query_scalar("SELECT CAST(DATABASE() AS CHAR)")
        .fetch_one(&mut *conn)
        .await
        .map_err(SchemaError::query("current database", &redact_url(url)))?;
    database.ok_or_else(|| SchemaError::NoDatabase {
        url: redact_url(url),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn unsupported_urls_are_refused_without_their_password() {
        let Err(err) = DbConnection::open("oracle://scott:tiger@h/d").await else {
            panic!("an oracle URL opened");
        };
        assert_eq!(
            err.to_string(),
            "unsupported database url oracle://scott:***@h/d: expected a postgres://, mysql:// or sqlite: url"
        );
    }

    #[test]
    fn sqlx_urls_lose_the_driver() {
        assert_eq!(sqlx_url("postgresql+psycopg://u@h/d"), "postgresql://u@h/d");
        assert_eq!(sqlx_url("mariadb+pymysql://u@h/d"), "mysql://u@h/d");
        assert_eq!(sqlx_url("sqlite://a+b.db"), "sqlite://a+b.db");
    }
}
