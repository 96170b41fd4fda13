//! Everything that can go wrong while starting, using or stopping a database server.
//! Messages name the cause and the fix; none ever holds a password.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    #[error("invalid database spec {spec:?}: {reason}")]
    InvalidSpec { spec: String, reason: String },

    #[error(
        "cannot reach the Docker engine ({cause}); start Docker, set DOCKER_HOST, \
         or use a server that needs no Docker, e.g. --database local:postgresql"
    )]
    DockerUnreachable { cause: String },

    #[error(
        "image {image} is not on this machine and could not be pulled ({cause}); \
         pull or build it first (`docker pull {image}`), or use --database local:{engine}"
    )]
    ImageMissing {
        image: String,
        engine: &'static str,
        cause: String,
    },

    #[error("{what} did not become ready within {seconds}s{}", last_lines(.log_tail))]
    StartupTimeout {
        what: String,
        seconds: u64,
        log_tail: Vec<String>,
    },

    #[error("{what} exited during startup{}", last_lines(.log_tail))]
    StartupFailed { what: String, log_tail: Vec<String> },

    #[error(
        "port {port} on 127.0.0.1 is already in use; free it or let alembic-drill choose a port"
    )]
    PortTaken { port: u16 },

    #[error(
        "no {engine} server binaries found (looked for {wanted} in {looked_in}); install \
         them (Debian: apt-get install {package}) or use --database docker:{image}"
    )]
    BinariesNotFound {
        engine: &'static str,
        wanted: String,
        looked_in: String,
        package: &'static str,
        image: &'static str,
    },

    #[error("cannot log in to {server}: {cause}; check the user name and password in the URL")]
    AuthFailed { server: String, cause: String },

    #[error(
        "role {user} on {server} may not create databases; grant it (PostgreSQL: \
         ALTER ROLE {user} CREATEDB; MySQL: GRANT ALL ON `drill\\_%`.* TO ...) or use \
         another server"
    )]
    CannotCreateDatabases { server: String, user: String },

    #[error("cannot connect to {server}: {cause}")]
    Unreachable { server: String, cause: String },

    #[error("refusing to touch database {name:?}: alembic-drill only drops databases it created")]
    NotOurs { name: String },

    #[error("no database {name:?} on {server}")]
    NoSuchDatabase { name: String, server: String },

    #[error("the server is stopped")]
    Stopped,

    #[error("while {doing} on {server}: {source}")]
    Sql {
        doing: String,
        server: String,
        #[source]
        source: sqlx::Error,
    },

    #[error("{doing} {}: {source}", .path.display())]
    Io {
        doing: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("docker: {0}")]
    Docker(String),

    #[error("{0}")]
    Other(String),
}

pub type Result<T, E = ServerError> = std::result::Result<T, E>;

fn last_lines(lines: &[String]) -> String {
    if lines.is_empty() {
        String::new()
    } else {
        format!("; last log lines:\n  {}", lines.join("\n  "))
    }
}

impl ServerError {
    pub fn io(doing: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ServerError::Io {
            doing,
            path: path.into(),
            source,
        }
    }
}
