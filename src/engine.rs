//! Which database engine: PostgreSQL, MySQL/MariaDB or SQLite, told from a URL once.
//!
//! Every layer asks the same question (which server to start, which catalog to read, which
//! SQL to write, which driver to connect with), so the answer lives on the ground floor, with
//! the two things every URL-handling place also needs: masking a URL's password for messages
//! and quoting an identifier for the engine's SQL.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A database engine family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    #[serde(rename = "postgresql", alias = "postgres")]
    Postgres,
    /// MySQL and MariaDB: one protocol, one SQL dialect for what alembic-drill does. Where
    /// the two makes differ (images, binaries, log lines), `servers::Flavour` tells them apart.
    Mysql,
    Sqlite,
}

impl Engine {
    /// The engine a URL's scheme names: `postgresql://`, `postgres://`, `mysql://`,
    /// `mariadb://`, `sqlite:`, each with or without SQLAlchemy's `+driver`
    /// (`postgresql+psycopg://`), in any case. A bare dialect name (`postgresql`) works too.
    pub fn from_url(url: &str) -> Option<Engine> {
        Engine::from_dialect(&dialect(url))
    }

    /// The engine of a dialect name (`postgresql`, `postgres`, `mysql`, `mariadb`,
    /// `sqlite`, any case; a `+driver` suffix is ignored).
    pub fn from_dialect(name: &str) -> Option<Engine> {
        let name = name.split('+').next().unwrap_or("").to_ascii_lowercase();
        match name.as_str() {
            "postgresql" | "postgres" => Some(Engine::Postgres),
            "mysql" | "mariadb" => Some(Engine::Mysql),
            "sqlite" => Some(Engine::Sqlite),
            _ => None,
        }
    }

    /// The name specs, SQLAlchemy and Python use: `postgresql`, `mysql`, `sqlite`.
    pub fn as_str(self) -> &'static str {
        match self {
            Engine::Postgres => "postgresql",
            Engine::Mysql => "mysql",
            Engine::Sqlite => "sqlite",
        }
    }

    pub fn default_port(self) -> u16 {
        match self {
            Engine::Postgres => 5432,
            Engine::Mysql => 3306,
            Engine::Sqlite => 0,
        }
    }

    /// `ident` quoted for this engine's SQL, embedded quotes doubled: `"name"` (PostgreSQL,
    /// SQLite) or `` `name` `` (MySQL, MariaDB).
    pub fn quote_ident(self, ident: &str) -> String {
        match self {
            Engine::Postgres | Engine::Sqlite => format!("\"{}\"", ident.replace('"', "\"\"")),
            Engine::Mysql => format!("`{}`", ident.replace('`', "``")),
        }
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The dialect a URL (or a bare dialect name) starts with, lower case and without the
/// `+driver`: `postgresql+psycopg://u@h/d` -> `postgresql`; empty when there is none.
pub fn dialect(url: &str) -> String {
    url.split([':', '+'])
        .next()
        .unwrap_or("")
        .to_ascii_lowercase()
}

/// Masks the password of a `scheme://user:password@host/...` URL, so that URLs can go into
/// messages, logs and reports without leaking credentials. Anything else is returned as it
/// is: a URL without a password, `sqlite::memory:`, a spec that is no URL.
pub fn redact_url(url: &str) -> String {
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
    use super::*;

    #[test]
    fn urls_name_their_engine() {
        let cases = [
            ("postgresql+psycopg://u@h/d", Some(Engine::Postgres)),
            ("postgres://u@h/d", Some(Engine::Postgres)),
            ("POSTGRESQL://u@h/d", Some(Engine::Postgres)),
            ("postgresql", Some(Engine::Postgres)),
            ("mysql+pymysql://u@h/d", Some(Engine::Mysql)),
            ("mariadb://u@h/d", Some(Engine::Mysql)),
            ("sqlite::memory:", Some(Engine::Sqlite)),
            ("sqlite:///tmp/x.db", Some(Engine::Sqlite)),
            ("oracle://scott:tiger@h/d", None),
            ("", None),
        ];
        for (url, engine) in cases {
            assert_eq!(Engine::from_url(url), engine, "{url}");
        }
        assert_eq!(dialect("postgresql+psycopg://u@h/d"), "postgresql");
        assert_eq!(dialect("SQLite"), "sqlite");
        assert_eq!(dialect(""), "");
    }

    #[test]
    fn names_and_serde_keep_their_spellings() {
        assert_eq!(Engine::Postgres.to_string(), "postgresql");
        assert_eq!(
            serde_json::to_string(&Engine::Postgres).unwrap(),
            "\"postgresql\""
        );
        let read: Engine = serde_json::from_str("\"postgres\"").unwrap();
        assert_eq!(read, Engine::Postgres);
        assert_eq!(Engine::Mysql.default_port(), 3306);
    }

    #[test]
    fn identifiers_are_quoted_per_engine() {
        assert_eq!(Engine::Postgres.quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(Engine::Sqlite.quote_ident("t"), "\"t\"");
        assert_eq!(Engine::Mysql.quote_ident("a`b"), "`a``b`");
    }

    #[test]
    fn redacts_only_the_password() {
        assert_eq!(
            redact_url("postgres://app:s3cr@t@db:5432/x?sslmode=disable"),
            "postgres://app:***@db:5432/x?sslmode=disable"
        );
        assert_eq!(
            redact_url("postgresql://app:s3cret@db.internal:5432/app"),
            "postgresql://app:***@db.internal:5432/app"
        );
        assert_eq!(redact_url("mysql://root@db/x"), "mysql://root@db/x");
        assert_eq!(redact_url("sqlite://tmp/a.db"), "sqlite://tmp/a.db");
        assert_eq!(redact_url("sqlite::memory:"), "sqlite::memory:");
    }
}
