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

/// Masks the password of a `scheme://user:password@host/...` URL, so errors can be logged
/// and shown in reports without leaking credentials.
pub(crate) fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some(at) = authority.rfind('@') else {
        return url.to_owned();
    };
    let userinfo = &authority[..at];
    let Some(colon) = userinfo.find(':') else {
        return url.to_owned();
    };
    format!(
        "{}{}:***{}",
        &url[..scheme_end + 3],
        &userinfo[..colon],
        &rest[at..]
    )
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn redacts_only_the_password() {
        assert_eq!(
            redact_url("postgres://app:s3cr@t@db:5432/x?sslmode=disable"),
            "postgres://app:***@db:5432/x?sslmode=disable"
        );
        assert_eq!(redact_url("mysql://root@db/x"), "mysql://root@db/x");
        assert_eq!(redact_url("sqlite://tmp/a.db"), "sqlite://tmp/a.db");
        assert_eq!(redact_url("sqlite::memory:"), "sqlite::memory:");
    }
}
