//! Waiting for a server to accept logins: log lines say a server started, only a real
//! login says it is ready (a restarted container prints no init lines, a local server may
//! listen before it accepts logins).

use std::time::{Duration, Instant};

use sqlx::Connection;

use super::endpoint::Endpoint;
use super::error::{Result, ServerError};
use crate::engine::Engine;

/// Tries to log in until it works or `timeout` passes. A refused password fails at once:
/// waiting longer would not fix it.
pub async fn wait_until_ready(endpoint: &Endpoint, what: &str, timeout: Duration) -> Result<()> {
    let start = Instant::now();
    let mut last_error = String::from("no attempt made");
    while start.elapsed() < timeout {
        match try_login(endpoint).await {
            Ok(()) => return Ok(()),
            Err(error) if is_auth_error(&error) => {
                return Err(ServerError::AuthFailed {
                    server: endpoint.masked_url(None),
                    cause: error.to_string(),
                });
            }
            Err(error) => last_error = error.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(ServerError::StartupTimeout {
        what: what.to_owned(),
        seconds: timeout.as_secs(),
        log_tail: vec![format!("last connection attempt: {last_error}")],
    })
}

/// One login and a trivial query.
pub async fn try_login(endpoint: &Endpoint) -> std::result::Result<(), sqlx::Error> {
    let url = endpoint.url(None);
    match endpoint.engine {
        Engine::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&url).await?;
            sqlx::query("SELECT 1").execute(&mut conn).await?;
            conn.close().await
        }
        Engine::Mysql => {
            let mut conn = sqlx::MySqlConnection::connect(&url).await?;
            sqlx::query("SELECT 1").execute(&mut conn).await?;
            conn.close().await
        }
        Engine::Sqlite => Ok(()),
    }
}

/// Wrong user or password (PostgreSQL 28P01/28000, MySQL 1045/1698).
pub fn is_auth_error(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(db) => matches!(
            db.code().as_deref(),
            Some("28P01") | Some("28000") | Some("1045") | Some("1698")
        ),
        _ => false,
    }
}
