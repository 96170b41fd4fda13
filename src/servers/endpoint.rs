//! Where a running server is reached, and the URLs handed to sqlx and to SQLAlchemy.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::engine::Engine;

/// Credentials and address of a server with the right to create databases.
/// `Debug` and `Display` never show the password.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    pub engine: Engine,
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: Option<String>,
    /// The database to connect to for administration (`postgres`, or none for MySQL).
    pub admin_database: Option<String>,
}

impl Endpoint {
    /// The sqlx URL for `database` (or the admin database).
    pub fn url(&self, database: Option<&str>) -> String {
        self.render(database, self.engine.as_str(), true)
    }

    /// The SQLAlchemy URL for `database`, with the driver alembic-drill's users most
    /// likely have (psycopg for PostgreSQL, PyMySQL for MySQL); callers may swap it.
    pub fn sqlalchemy_url(&self, database: &str, driver: Option<&str>) -> String {
        let scheme = match (self.engine, driver) {
            (engine, Some(driver)) => format!("{engine}+{driver}"),
            (Engine::Postgres, None) => "postgresql+psycopg".to_owned(),
            (Engine::Mysql, None) => "mysql+pymysql".to_owned(),
            (Engine::Sqlite, None) => "sqlite".to_owned(),
        };
        self.render(Some(database), &scheme, true)
    }

    /// The URL with the password replaced by `***`, for messages and listings.
    pub fn masked_url(&self, database: Option<&str>) -> String {
        self.render(database, self.engine.as_str(), false)
    }

    fn render(&self, database: Option<&str>, scheme: &str, with_password: bool) -> String {
        let user = encode(&self.user);
        let auth = match (&self.password, with_password) {
            (Some(password), true) => format!("{user}:{}@", encode(password)),
            (Some(_), false) => format!("{user}:***@"),
            (None, _) => format!("{user}@"),
        };
        let database = database.or(self.admin_database.as_deref()).unwrap_or("");
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        format!("{scheme}://{auth}{host}:{}/{}", self.port, encode(database))
    }
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked_url(None))
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked_url(None))
    }
}

/// Percent-encodes a URL user, password or path segment.
fn encode(part: &str) -> String {
    url::form_urlencoded::byte_serialize(part.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// A random password: letters and digits only, so it survives every URL and shell.
pub fn random_password() -> String {
    use rand::Rng;
    use rand::distr::Alphanumeric;
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(24)
        .map(char::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(password: Option<&str>) -> Endpoint {
        Endpoint {
            engine: Engine::Postgres,
            host: "127.0.0.1".into(),
            port: 5433,
            user: "drill".into(),
            password: password.map(str::to_owned),
            admin_database: Some("postgres".into()),
        }
    }

    #[test]
    fn urls_encode_and_mask_passwords() {
        let e = endpoint(Some("p@ss/word"));
        assert_eq!(
            e.url(Some("drill_1")),
            "postgresql://drill:p%40ss%2Fword@127.0.0.1:5433/drill_1"
        );
        assert_eq!(
            e.masked_url(None),
            "postgresql://drill:***@127.0.0.1:5433/postgres"
        );
        assert!(!format!("{e:?} {e}").contains("p@ss"));
        assert_eq!(
            e.sqlalchemy_url("x", None),
            "postgresql+psycopg://drill:p%40ss%2Fword@127.0.0.1:5433/x"
        );
    }

    #[test]
    fn random_passwords_differ() {
        let (a, b) = (random_password(), random_password());
        assert_eq!(a.len(), 24);
        assert_ne!(a, b);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
    }
}
