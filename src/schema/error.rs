//! The one error type of the schema module.

/// Everything that can go wrong while snapshotting or fingerprinting a database.
///
/// Messages name what was being read and where, because a bare driver error
/// ("column not found") between two migration steps is useless to the person reading it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SchemaError {
    /// Opening a connection from a URL failed. The URL is stored with its password masked.
    #[error("while connecting to {url}: {source}")]
    Connect {
        url: String,
        #[source]
        source: sqlx::Error,
    },

    /// A catalog query failed; `what` names the catalog part ("indexes", "columns", ...).
    #[error("while reading the {what} of {db}: {source}")]
    Query {
        what: &'static str,
        db: String,
        #[source]
        source: sqlx::Error,
    },

    /// Counting or hashing table contents failed.
    #[error("while fingerprinting the tables of {db}: {source}")]
    Fingerprint {
        db: String,
        #[source]
        source: sqlx::Error,
    },

    /// The URL scheme is none of the three engines this module knows.
    #[error("unsupported database url {url}: expected a postgres://, mysql:// or sqlite: url")]
    UnsupportedUrl { url: String },

    /// The connection has no current database or schema to inspect.
    #[error("the connection to {url} has no current database or schema; name one in the url")]
    NoDatabase { url: String },
}

pub type Result<T, E = SchemaError> = std::result::Result<T, E>;

impl SchemaError {
    pub(crate) fn query(what: &'static str, db: &str) -> impl FnOnce(sqlx::Error) -> Self {
        let db = db.to_owned();
        move |source| SchemaError::Query { what, db, source }
    }

    pub(crate) fn fingerprint(db: &str) -> impl FnOnce(sqlx::Error) -> Self {
        let db = db.to_owned();
        move |source| SchemaError::Fingerprint { db, source }
    }
}
