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
                    cause: login_cause(&error),
                });
            }
            Err(error) => last_error = login_cause(&error),
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

/// Why a login failed, in one line for the user: the server's own message without the
/// driver's framing ("error returned from database: ", MySQL's "1045 (28000): ") or what
/// only the server's developers need (PostgreSQL's "at line 334" of its source file).
pub fn login_cause(error: &sqlx::Error) -> String {
    let text = match error {
        sqlx::Error::Database(db) => db.message().to_owned(),
        sqlx::Error::Io(io) => without_os_code(&io.to_string()),
        sqlx::Error::Tls(tls) => format!("TLS failed: {tls}"),
        sqlx::Error::PoolTimedOut => "timed out waiting for a connection".to_owned(),
        other => other.to_string(),
    };
    let text = text
        .trim_start_matches("error communicating with database: ")
        .trim_start_matches("error returned from database: ");
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut chars = line.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => "no reason given".to_owned(),
    }
}

/// "Connection refused (os error 111)" without its errno.
fn without_os_code(text: &str) -> String {
    match text.rfind(" (os error ") {
        Some(at) if text.ends_with(')') => text[..at].to_owned(),
        _ => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_connection_reads_without_its_errno() {
        let io = std::io::Error::from_raw_os_error(111);
        let cause = login_cause(&sqlx::Error::Io(io));
        assert!(cause.starts_with("connection refused"), "{cause}");
        assert!(!cause.contains("os error"), "{cause}");
    }

    #[test]
    fn other_errors_lose_the_drivers_framing_and_stay_on_one_line() {
        let cause = login_cause(&sqlx::Error::Protocol("bad\n  handshake".into()));
        assert!(
            !cause.contains('\n') && !cause.contains("error communicating"),
            "{cause}"
        );
    }
}
