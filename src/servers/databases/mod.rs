//! Creating, cloning and dropping the throwaway databases, one file per engine. Callers
//! pass only names that `naming` produced or checked: lowercase letters, digits and
//! underscores, so quoting them is safe.

pub mod mysql;
pub mod owners;
pub mod postgres;
pub mod sqlite;

use super::error::ServerError;

/// A "permission denied" from either engine: PostgreSQL's SQLSTATE 42501
/// (insufficient_privilege); MySQL reports access errors (1044, 1227) under SQLSTATE
/// 42000, which it shares with syntax errors, so the message decides.
fn permission_error(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(db) => match db.code().as_deref() {
            Some("42501") => true,
            Some("42000") => db.message().to_lowercase().contains("denied"),
            _ => false,
        },
        _ => false,
    }
}

/// The result of an administrative statement: a refused permission becomes the error that
/// says what to grant.
pub(crate) fn ddl_outcome(
    result: Result<(), sqlx::Error>,
    server: &str,
    user: &str,
    doing: &str,
) -> super::error::Result<()> {
    match result {
        Ok(()) => Ok(()),
        Err(e) if permission_error(&e) => Err(ServerError::CannotCreateDatabases {
            server: server.to_owned(),
            user: user.to_owned(),
        }),
        Err(e) => Err(sql_error(doing, server, e)),
    }
}

pub(crate) fn sql_error(
    doing: impl Into<String>,
    server: &str,
    source: sqlx::Error,
) -> ServerError {
    ServerError::Sql {
        doing: doing.into(),
        server: server.to_owned(),
        source,
    }
}
