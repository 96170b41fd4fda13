//! The one error type of the seed module.

/// What stops seeding as a whole. A row the database rejects is not an error: it is retried,
/// then skipped and recorded in the [`SeedReport`](super::SeedReport).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SeedError {
    /// Opening a connection from a URL failed. The URL is stored with its password masked.
    #[error("while connecting to {url} to seed it: {source}")]
    Connect {
        url: String,
        #[source]
        source: sqlx::Error,
    },

    /// The URL scheme is none of the three engines this module knows.
    #[error("unsupported database url {url}: expected a postgres://, mysql:// or sqlite: url")]
    UnsupportedUrl { url: String },

    /// The snapshot was taken on another engine than the connection's.
    #[error("cannot seed a {connection} database from a snapshot of a {snapshot} database")]
    EngineMismatch {
        snapshot: &'static str,
        connection: &'static str,
    },

    /// Beginning or committing the seeding transaction, or managing its savepoints, failed.
    #[error("while {what} on {engine}: {source}")]
    Transaction {
        what: &'static str,
        engine: &'static str,
        #[source]
        source: sqlx::Error,
    },

    /// The connection failed (not the database refusing a row) while seeding a table.
    #[error("while seeding table {table} on {engine}: {source}")]
    Connection {
        table: String,
        engine: &'static str,
        #[source]
        source: sqlx::Error,
    },
}

pub type Result<T, E = SeedError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_context() {
        let err = SeedError::EngineMismatch {
            snapshot: "mysql",
            connection: "postgres",
        };
        assert_eq!(
            err.to_string(),
            "cannot seed a postgres database from a snapshot of a mysql database"
        );
    }
}
