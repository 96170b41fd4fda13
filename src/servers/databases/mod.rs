//! Creating, cloning and dropping the throwaway databases, one file per engine. Callers
//! pass only names that `naming` produced or checked: lowercase letters, digits and
//! underscores, so quoting them is safe.

pub mod mysql;
pub mod postgres;
pub mod sqlite;

use super::error::ServerError;

/// Maps a "permission denied" from either engine to the error that says what to grant.
pub(crate) fn permission_error(error: &sqlx::Error) -> bool {
    match error {
        // PostgreSQL 42501 insufficient_privilege; MySQL 1044 access denied to database,
        // 1227 specific privilege needed.
        sqlx::Error::Database(db) => {
            matches!(
                db.code().as_deref(),
                Some("42501") | Some("1044") | Some("1227") | Some("42000")
            ) && db.message().to_lowercase().contains("denied")
                || matches!(db.code().as_deref(), Some("42501"))
        }
        _ => false,
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
