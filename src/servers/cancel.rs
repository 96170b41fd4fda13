//! Cancelling the statements that run on alembic-drill's own databases, from outside the
//! session that sent them: a step past its timeout, or a run asked to stop (SIGINT,
//! SIGTERM) while a migration waits on the server.
//!
//! It opens a connection of its own for each call, so that it never waits on the session
//! it cancels nor on the server's admin pool (which a blocked clone or drop may hold).
//! Every session on a database the drill created is the drill's, so every statement
//! running there is cancelled; the sessions stay open (their owners see an error and
//! roll back). Names that are not alembic-drill's are refused before anything is sent.

use sqlx::Connection;
use sqlx::mysql::MySqlConnection;
use sqlx::postgres::PgConnection;

use super::endpoint::Endpoint;
use super::error::{Result, ServerError};
use super::naming;
use crate::engine::Engine;

/// Cancels every statement running on `databases` (all alembic-drill's) on the server at
/// `endpoint`: PostgreSQL `pg_cancel_backend`, MySQL/MariaDB `KILL QUERY`. Returns how
/// many statements were cancelled. SQLite has no server: its connections are interrupted
/// by whoever holds them.
pub async fn cancel_statements(endpoint: &Endpoint, databases: &[String]) -> Result<u64> {
    for name in databases {
        naming::ensure_ours(name)?;
    }
    if databases.is_empty() {
        return Ok(0);
    }
    let server = endpoint.masked_url(None);
    let failed =
        |e: sqlx::Error| ServerError::Other(format!("cancelling statements on {server}: {e}"));
    match endpoint.engine {
        Engine::Postgres => {
            let mut conn = PgConnection::connect(&endpoint.url(None))
                .await
                .map_err(failed)?;
            // Only sessions running a statement: an idle one has nothing to cancel, and
            // the cancel request would otherwise hit its next statement if it raced.
            let cancelled: i64 = sqlx::query_scalar(
                "SELECT count(*) FILTER (WHERE pg_cancel_backend(pid)) FROM pg_stat_activity \
                 WHERE datname = ANY($1) AND pid <> pg_backend_pid() AND state <> 'idle'",
            )
            .bind(databases)
            .fetch_one(&mut conn)
            .await
            .map_err(failed)?;
            let _ = conn.close().await;
            Ok(u64::try_from(cancelled).unwrap_or(0))
        }
        Engine::Mysql => {
            let mut conn = MySqlConnection::connect(&endpoint.url(None))
                .await
                .map_err(failed)?;
            let placeholders = vec!["?"; databases.len()].join(", ");
            let sql = format!(
                "SELECT CAST(ID AS UNSIGNED) FROM information_schema.PROCESSLIST \
                 WHERE DB IN ({placeholders}) AND ID <> CONNECTION_ID() AND COMMAND <> 'Sleep'"
            );
            let mut query = sqlx::query_scalar::<_, u64>(sqlx::AssertSqlSafe(sql));
            for name in databases {
                query = query.bind(name);
            }
            let ids = query.fetch_all(&mut conn).await.map_err(failed)?;
            let mut cancelled = 0;
            for id in ids {
                // The statement may have ended in between: "Unknown thread id" is fine.
                if sqlx::raw_sql(sqlx::AssertSqlSafe(format!("KILL QUERY {id}")))
                    .execute(&mut conn)
                    .await
                    .is_ok()
                {
                    cancelled += 1;
                }
            }
            let _ = conn.close().await;
            Ok(cancelled)
        }
        Engine::Sqlite => Ok(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_alembic_drills_databases_are_touched() {
        // An unreachable port: the refusal must come before any connection attempt.
        let endpoint = Endpoint {
            engine: Engine::Postgres,
            host: "127.0.0.1".into(),
            port: 1,
            user: "postgres".into(),
            password: None,
            admin_database: Some("postgres".into()),
        };
        let refused = cancel_statements(&endpoint, &["drill_a".into(), "production".into()]).await;
        assert!(matches!(refused, Err(ServerError::NotOurs { name }) if name == "production"));
        assert_eq!(cancel_statements(&endpoint, &[]).await.unwrap(), 0);
    }
}
