//! Database specs: one string, the same on the command line, in pyproject.toml and in
//! fixture options, saying which server to rehearse on.

use std::fmt;
use std::str::FromStr;

use super::error::ServerError;
use crate::engine::{Engine, redact_url};

/// Which server program runs: PostgreSQL, MySQL or MariaDB. Not the [`Engine`]: MySQL and
/// MariaDB speak one protocol and one SQL dialect (one engine), but differ in images,
/// binaries, data-folder setup and log lines, which is what starting a server needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Flavour {
    Postgresql,
    Mysql,
    Mariadb,
}

impl Flavour {
    pub fn engine(self) -> Engine {
        match self {
            Flavour::Postgresql => Engine::Postgres,
            Flavour::Mysql | Flavour::Mariadb => Engine::Mysql,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Flavour::Postgresql => "postgresql",
            Flavour::Mysql => "mysql",
            Flavour::Mariadb => "mariadb",
        }
    }

    /// Tells the make from an image name: `postgres:16-alpine`, `library/mysql:8.0`,
    /// `local/mariadb:10.11`, `registry:5000/team/postgis:16`.
    pub fn of_image(image: &str) -> Option<Flavour> {
        let without_tag = image.rsplit_once('@').map_or(image, |(name, _)| name);
        let repository = without_tag.rsplit('/').next().unwrap_or(without_tag);
        let name = repository
            .split(':')
            .next()
            .unwrap_or(repository)
            .to_ascii_lowercase();
        if name.contains("postgres") || name.contains("postgis") || name.contains("timescale") {
            Some(Flavour::Postgresql)
        } else if name.contains("mariadb") {
            Some(Flavour::Mariadb)
        } else if name.contains("mysql") || name.contains("percona") {
            Some(Flavour::Mysql)
        } else {
            None
        }
    }
}

/// Which server to use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseSpec {
    /// Decide from the project's configured URL (see `servers::auto`).
    Auto,
    /// A container from this image.
    Docker { image: String, flavour: Flavour },
    /// An ephemeral server from binaries installed on this machine.
    Local { flavour: Flavour },
    /// An existing server: only throwaway databases are created inside it.
    External { url: String, engine: Engine },
    /// Temporary SQLite files.
    Sqlite,
}

impl DatabaseSpec {
    pub fn engine(&self) -> Option<Engine> {
        match self {
            DatabaseSpec::Auto => None,
            DatabaseSpec::Docker { flavour, .. } | DatabaseSpec::Local { flavour } => {
                Some(flavour.engine())
            }
            DatabaseSpec::External { engine, .. } => Some(*engine),
            DatabaseSpec::Sqlite => Some(Engine::Sqlite),
        }
    }
}

const EXAMPLES: &str = "auto, sqlite, docker:postgres:16-alpine, docker:mysql:8.0, \
                        docker:mariadb:11, local:postgresql, local:mysql, \
                        postgresql://user:password@host/db, mysql://user:password@host";

impl FromStr for DatabaseSpec {
    type Err = ServerError;

    fn from_str(spec: &str) -> Result<Self, ServerError> {
        let invalid = |reason: String| ServerError::InvalidSpec {
            spec: redact_url(spec),
            reason,
        };
        let trimmed = spec.trim();
        if trimmed.eq_ignore_ascii_case("auto") {
            return Ok(DatabaseSpec::Auto);
        }
        if trimmed.eq_ignore_ascii_case("sqlite") {
            return Ok(DatabaseSpec::Sqlite);
        }
        if let Some(image) = trimmed.strip_prefix("docker:") {
            if image.is_empty() {
                return Err(invalid(
                    "name an image, e.g. docker:postgres:16-alpine".into(),
                ));
            }
            let flavour = Flavour::of_image(image).ok_or_else(|| {
                invalid(format!(
                    "cannot tell whether {image} is PostgreSQL, MySQL or MariaDB from its \
                     name; tag it with one of those words in its name"
                ))
            })?;
            return Ok(DatabaseSpec::Docker {
                image: image.to_owned(),
                flavour,
            });
        }
        if let Some(kind) = trimmed.strip_prefix("local:") {
            let flavour = match kind.to_ascii_lowercase().as_str() {
                "postgresql" | "postgres" | "pg" => Flavour::Postgresql,
                "mysql" => Flavour::Mysql,
                "mariadb" => Flavour::Mariadb,
                _ => {
                    return Err(invalid(
                        "use local:postgresql, local:mysql or local:mariadb".into(),
                    ));
                }
            };
            return Ok(DatabaseSpec::Local { flavour });
        }
        if let Some((scheme, _)) = trimmed.split_once("://") {
            let engine = match Engine::from_dialect(scheme) {
                Some(Engine::Sqlite) => return Ok(DatabaseSpec::Sqlite),
                Some(engine) => engine,
                None => {
                    return Err(invalid(format!(
                        "unsupported URL scheme {scheme:?}; use postgresql:// or mysql://"
                    )));
                }
            };
            url::Url::parse(trimmed).map_err(|e| invalid(format!("not a valid URL: {e}")))?;
            return Ok(DatabaseSpec::External {
                url: trimmed.to_owned(),
                engine,
            });
        }
        Err(invalid(format!("expected one of: {EXAMPLES}")))
    }
}

impl fmt::Display for DatabaseSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatabaseSpec::Auto => f.write_str("auto"),
            DatabaseSpec::Sqlite => f.write_str("sqlite"),
            DatabaseSpec::Docker { image, .. } => write!(f, "docker:{image}"),
            DatabaseSpec::Local { flavour } => write!(f, "local:{}", flavour.as_str()),
            // Specs end up in messages and reports.
            DatabaseSpec::External { url, .. } => f.write_str(&redact_url(url)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(spec: &str) -> DatabaseSpec {
        spec.parse().unwrap()
    }

    #[test]
    fn parses_every_kind() {
        assert_eq!(parse("auto"), DatabaseSpec::Auto);
        assert_eq!(parse("sqlite"), DatabaseSpec::Sqlite);
        assert_eq!(
            parse("docker:postgres:16-alpine"),
            DatabaseSpec::Docker {
                image: "postgres:16-alpine".into(),
                flavour: Flavour::Postgresql
            }
        );
        assert_eq!(
            parse("docker:local/mariadb:10.11"),
            DatabaseSpec::Docker {
                image: "local/mariadb:10.11".into(),
                flavour: Flavour::Mariadb
            }
        );
        assert_eq!(parse("docker:mysql:8.0").engine(), Some(Engine::Mysql));
        assert_eq!(
            parse("local:postgresql"),
            DatabaseSpec::Local {
                flavour: Flavour::Postgresql
            }
        );
        assert_eq!(
            parse("postgresql+psycopg://u:p@localhost:5432/app").engine(),
            Some(Engine::Postgres)
        );
        assert_eq!(
            parse("mysql://root@127.0.0.1").engine(),
            Some(Engine::Mysql)
        );
    }

    #[test]
    fn rejects_with_a_reason_and_never_shows_a_password() {
        let err = "oracle://scott:tiger@db/x"
            .parse::<DatabaseSpec>()
            .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("unsupported URL scheme"), "{text}");
        assert!(!text.contains("tiger"), "{text}");
        assert!(
            "docker:redis:7"
                .parse::<DatabaseSpec>()
                .unwrap_err()
                .to_string()
                .contains("cannot tell")
        );
        assert!(
            "local:oracle"
                .parse::<DatabaseSpec>()
                .unwrap_err()
                .to_string()
                .contains("local:postgresql")
        );
        assert!(
            "nonsense"
                .parse::<DatabaseSpec>()
                .unwrap_err()
                .to_string()
                .contains("docker:postgres:16-alpine")
        );
    }

    #[test]
    fn display_masks_url_passwords() {
        let spec = parse("postgresql://app:s3cret@db.internal:5432/app");
        assert_eq!(
            spec.to_string(),
            "postgresql://app:***@db.internal:5432/app"
        );
    }
}
