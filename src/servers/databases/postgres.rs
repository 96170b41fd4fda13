//! PostgreSQL: databases are cheap; a clone is `CREATE DATABASE ... TEMPLATE`, a file-level
//! copy whose cost depends on the template's size, never on how it was migrated.

use sqlx::postgres::PgPool;

use super::{ddl_outcome, sql_error};
use crate::servers::error::{Result, ServerError};

pub async fn create(pool: &PgPool, server: &str, user: &str, name: &str) -> Result<()> {
    run(
        pool,
        server,
        user,
        &format!(r#"CREATE DATABASE "{name}""#),
        "creating a database",
    )
    .await
}

pub async fn clone(
    pool: &PgPool,
    server: &str,
    user: &str,
    template: &str,
    name: &str,
) -> Result<()> {
    let sql = format!(r#"CREATE DATABASE "{name}" TEMPLATE "{template}""#);
    match run(pool, server, user, &sql, "cloning a database").await {
        // 55006: the template has other sessions (a pool the caller left open). The
        // template is ours, so ending those sessions touches nothing else.
        Err(ServerError::Sql { source, .. }) if has_code(&source, "55006") => {
            disconnect_all(pool, server, template).await?;
            run(pool, server, user, &sql, "cloning a database").await
        }
        other => other,
    }
}

pub async fn drop(pool: &PgPool, server: &str, user: &str, name: &str) -> Result<()> {
    disconnect_all(pool, server, name).await?;
    run(
        pool,
        server,
        user,
        &format!(r#"DROP DATABASE IF EXISTS "{name}""#),
        "dropping a database",
    )
    .await
}

/// Names of the databases on the server that start with `prefix`.
pub async fn list(pool: &PgPool, server: &str, prefix: &str) -> Result<Vec<String>> {
    sqlx::query_scalar::<_, String>(
        "SELECT datname::text FROM pg_database WHERE starts_with(datname, $1) ORDER BY 1",
    )
    .bind(prefix)
    .fetch_all(pool)
    .await
    .map_err(|e| sql_error("listing databases", server, e))
}

async fn disconnect_all(pool: &PgPool, server: &str, name: &str) -> Result<()> {
    sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = $1 AND pid <> pg_backend_pid()",
    )
    .bind(name)
    .execute(pool)
    .await
    .map_err(|e| sql_error(format!("disconnecting sessions from {name}"), server, e))?;
    Ok(())
}

async fn run(pool: &PgPool, server: &str, user: &str, sql: &str, doing: &str) -> Result<()> {
    let result = sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(pool)
        .await;
    ddl_outcome(result.map(|_| ()), server, user, doing)
}

fn has_code(error: &sqlx::Error, wanted: &str) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.code().as_deref() == Some(wanted))
}
