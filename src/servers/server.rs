//! One interface over every kind of server: start (or attach), create, clone and drop
//! throwaway databases, stop.

use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use sqlx::mysql::{MySqlPool, MySqlPoolOptions};
use sqlx::postgres::{PgPool, PgPoolOptions};

use super::container::{ContainerOptions, ContainerServer};
use super::databases::{mysql, postgres, sqlite};
use super::endpoint::Endpoint;
use super::error::{Result, ServerError};
use super::local::{LocalOptions, LocalServer};
use super::naming;
use super::ownership::this_process;
use super::ready::{is_auth_error, login_cause, try_login};
use super::spec::{DatabaseSpec, Flavour};
use crate::engine::{self, Engine, redact_url};

mod owners;

/// How to start a server.
#[derive(Debug, Clone)]
pub struct StartOptions {
    /// Keep the server alive after `stop()`, for the next run to reuse. Without it a
    /// kept server of the same spec is still used when one runs (and left running).
    pub keep: bool,
    pub startup_timeout: Duration,
    /// The project's configured SQLAlchemy URL or dialect name, for `auto`.
    pub project_url: Option<String>,
    /// Images `auto` tries for each engine.
    pub postgres_image: String,
    pub mysql_image: String,
}

impl Default for StartOptions {
    fn default() -> Self {
        StartOptions {
            keep: false,
            startup_timeout: Duration::from_secs(120),
            project_url: None,
            postgres_image: "postgres:16-alpine".to_owned(),
            mysql_image: "mysql:8.0".to_owned(),
        }
    }
}

enum Kind {
    Container(Box<ContainerServer>),
    Local(Box<LocalServer>),
    External,
    Sqlite { dir: PathBuf },
}

enum AdminPool {
    Postgres(PgPool),
    Mysql(MySqlPool),
    None,
}

/// A server alembic-drill owns (or, for an external URL, attaches to) and the
/// databases it made there.
pub struct Server {
    kind: Option<Kind>,
    spec: DatabaseSpec,
    endpoint: Option<Endpoint>,
    admin: AdminPool,
    /// Why `auto` chose this server; None when the spec was explicit.
    reason: Option<String>,
    created: Mutex<Vec<String>>,
    counter: AtomicU32,
}

impl Server {
    /// Starts (or attaches to) the server a spec names.
    pub async fn start(spec: &DatabaseSpec, options: &StartOptions) -> Result<Server> {
        if *spec == DatabaseSpec::Auto {
            return start_auto(options).await;
        }
        let (kind, endpoint) = match spec {
            DatabaseSpec::Auto => unreachable!("handled above"),
            DatabaseSpec::Docker { image, flavour } => {
                let server = ContainerServer::start(&ContainerOptions {
                    image: image.clone(),
                    flavour: *flavour,
                    keep: options.keep,
                    startup_timeout: options.startup_timeout,
                })
                .await?;
                let endpoint = server.endpoint().clone();
                (Kind::Container(Box::new(server)), Some(endpoint))
            }
            DatabaseSpec::Local { flavour } => {
                let server = LocalServer::start(&LocalOptions {
                    flavour: *flavour,
                    keep: options.keep,
                    startup_timeout: options.startup_timeout,
                })
                .await?;
                let endpoint = server.endpoint().clone();
                (Kind::Local(Box::new(server)), Some(endpoint))
            }
            DatabaseSpec::External { url, engine } => {
                let endpoint = external_endpoint(url, *engine)?;
                check_external(&endpoint).await?;
                (Kind::External, Some(endpoint))
            }
            DatabaseSpec::Sqlite => {
                // What killed runs left goes first (their owner is gone).
                super::sqlite_folders::reap_stale();
                let dir = super::sqlite_folders::create()?;
                (Kind::Sqlite { dir }, None)
            }
        };
        let admin = match &endpoint {
            Some(endpoint) => admin_pool(endpoint).await?,
            None => AdminPool::None,
        };
        Ok(Server {
            kind: Some(kind),
            spec: spec.clone(),
            endpoint,
            admin,
            reason: None,
            created: Mutex::new(Vec::new()),
            counter: AtomicU32::new(0),
        })
    }

    pub fn spec(&self) -> &DatabaseSpec {
        &self.spec
    }

    pub fn engine(&self) -> Engine {
        self.spec.engine().unwrap_or(Engine::Sqlite)
    }

    /// Why `auto` picked this server.
    pub fn reason(&self) -> Option<&str> {
        self.reason.as_deref()
    }

    /// The admin endpoint (None for SQLite).
    pub fn endpoint(&self) -> Option<&Endpoint> {
        self.endpoint.as_ref()
    }

    pub fn reused(&self) -> bool {
        match &self.kind {
            Some(Kind::Container(c)) => c.reused(),
            Some(Kind::Local(l)) => l.reused(),
            _ => false,
        }
    }

    /// A server that outlives this object and that other runs may use at the same time:
    /// one given by URL, or a kept one (started with `keep`, or reused). Its databases
    /// carry their owner, this object drops its own when it stops, and what a killed
    /// run left there is reclaimed by the next run (never a live run's).
    pub(super) fn shared(&self) -> bool {
        match &self.kind {
            Some(Kind::External) => true,
            Some(Kind::Container(c)) => c.kept(),
            Some(Kind::Local(l)) => l.kept(),
            _ => false,
        }
    }

    /// A one-line description without secrets.
    pub fn describe(&self) -> String {
        match &self.kind {
            Some(Kind::Container(c)) => c.describe(),
            Some(Kind::Local(l)) => l.describe(),
            Some(Kind::External) => format!(
                "external server {}",
                self.endpoint
                    .as_ref()
                    .map(|e| e.masked_url(None))
                    .unwrap_or_default()
            ),
            Some(Kind::Sqlite { dir }) => format!("SQLite files in {}", dir.display()),
            None => "stopped server".to_owned(),
        }
    }

    /// The sqlx URL of one of this server's databases.
    pub fn database_url(&self, name: &str) -> String {
        match (&self.kind, &self.endpoint) {
            (Some(Kind::Sqlite { dir }), _) => {
                format!("sqlite://{}", sqlite::path_of(dir, name).display())
            }
            (_, Some(endpoint)) => endpoint.url(Some(name)),
            _ => String::new(),
        }
    }

    /// The SQLAlchemy URL of one of this server's databases (driver None: the usual one).
    pub fn sqlalchemy_url(&self, name: &str, driver: Option<&str>) -> String {
        match (&self.kind, &self.endpoint) {
            (Some(Kind::Sqlite { dir }), _) => {
                format!("sqlite:///{}", sqlite::path_of(dir, name).display())
            }
            (_, Some(endpoint)) => endpoint.sqlalchemy_url(name, driver),
            _ => String::new(),
        }
    }

    /// Creates an empty database and returns its name (`drill_...`).
    pub async fn create_database(&self, name: Option<&str>) -> Result<String> {
        let name = self.new_name(name)?;
        self.before_create();
        let (server, user) = self.who()?;
        match &self.admin {
            AdminPool::Postgres(pool) => postgres::create(pool, &server, &user, &name).await?,
            AdminPool::Mysql(pool) => mysql::create(pool, &server, &user, &name).await?,
            AdminPool::None => sqlite::create(self.sqlite_dir()?, &name).await?,
        }
        self.created
            .lock()
            .expect("not poisoned")
            .push(name.clone());
        self.mark_owner(&name).await?;
        Ok(name)
    }

    /// Creates a database holding a copy of `template` (which must be one of ours),
    /// without rerunning any migration.
    pub async fn clone_database(&self, template: &str, name: Option<&str>) -> Result<String> {
        naming::ensure_ours(template)?;
        let name = self.new_name(name)?;
        self.before_create();
        let (server, user) = self.who()?;
        match &self.admin {
            AdminPool::Postgres(pool) => {
                let strategy = match self.kind {
                    Some(Kind::Container(_) | Kind::Local(_)) => postgres::CloneStrategy::FileCopy,
                    _ => postgres::CloneStrategy::ServerDefault,
                };
                postgres::clone(pool, &server, &user, template, &name, strategy).await?
            }
            AdminPool::Mysql(pool) => mysql::clone(pool, &server, &user, template, &name).await?,
            AdminPool::None => sqlite::clone(self.sqlite_dir()?, template, &name).await?,
        }
        self.created
            .lock()
            .expect("not poisoned")
            .push(name.clone());
        self.mark_owner(&name).await?;
        Ok(name)
    }

    /// Drops one of our databases; any other name is refused.
    pub async fn drop_database(&self, name: &str) -> Result<()> {
        naming::ensure_ours(name)?;
        let (server, user) = self.who()?;
        match &self.admin {
            AdminPool::Postgres(pool) => postgres::drop(pool, &server, &user, name).await?,
            AdminPool::Mysql(pool) => mysql::drop(pool, &server, &user, name).await?,
            AdminPool::None => sqlite::drop(self.sqlite_dir()?, name).await?,
        }
        self.created
            .lock()
            .expect("not poisoned")
            .retain(|n| n != name);
        Ok(())
    }

    /// Our databases on this server (by prefix: a kept or external server may hold
    /// other runs' databases too).
    pub async fn list_databases(&self) -> Result<Vec<String>> {
        let (server, _) = self.who()?;
        match &self.admin {
            AdminPool::Postgres(pool) => postgres::list(pool, &server, naming::PREFIX).await,
            AdminPool::Mysql(pool) => mysql::list(pool, &server, naming::PREFIX).await,
            AdminPool::None => sqlite::list(self.sqlite_dir()?, naming::PREFIX),
        }
    }

    /// Leaves one of this object's databases in place when the server stops (a migrated
    /// template that a kept server carries over to the next run).
    pub fn keep_database(&self, name: &str) {
        self.created
            .lock()
            .expect("not poisoned")
            .retain(|n| n != name);
    }

    /// Databases this object created and has not dropped.
    pub fn created_databases(&self) -> Vec<String> {
        self.created.lock().expect("not poisoned").clone()
    }

    /// Stops the server and removes what it made. On an external server, drops the
    /// databases this object created; on a kept server, drops them too and leaves the
    /// server running for the next run.
    pub async fn stop(&mut self) -> Result<()> {
        if self.kind.is_none() {
            return Ok(());
        }
        // A server that goes on running must not keep this run's databases.
        if self.shared() {
            for name in self.created_databases() {
                self.drop_database(&name).await?;
            }
        }
        let kind = self.kind.take().expect("checked above");
        match &mut self.admin {
            AdminPool::Postgres(pool) => pool.close().await,
            AdminPool::Mysql(pool) => pool.close().await,
            AdminPool::None => {}
        }
        self.admin = AdminPool::None;
        match kind {
            Kind::Container(c) => c.stop().await,
            Kind::Local(l) => l.stop().await,
            Kind::External => Ok(()),
            Kind::Sqlite { dir } => match tokio::fs::remove_dir_all(&dir).await {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(ServerError::io("removing", dir, e)),
            },
        }
    }

    pub fn is_stopped(&self) -> bool {
        self.kind.is_none()
    }

    fn new_name(&self, name: Option<&str>) -> Result<String> {
        if self.kind.is_none() {
            return Err(ServerError::Stopped);
        }
        match name {
            Some(name) => naming::requested(name),
            None => {
                let n = self.counter.fetch_add(1, Ordering::Relaxed) + 1;
                Ok(naming::generated(&this_process().run_id, n))
            }
        }
    }

    fn who(&self) -> Result<(String, String)> {
        if self.kind.is_none() {
            return Err(ServerError::Stopped);
        }
        Ok(match &self.endpoint {
            Some(e) => (e.masked_url(None), e.user.clone()),
            None => (self.describe(), String::new()),
        })
    }

    fn sqlite_dir(&self) -> Result<&PathBuf> {
        match &self.kind {
            Some(Kind::Sqlite { dir }) => Ok(dir),
            Some(_) => Err(ServerError::Other("not a SQLite server".into())),
            None => Err(ServerError::Stopped),
        }
    }
}

/// `auto`: the project's dialect decides the engine; a container when Docker can run the
/// image, else a local server from installed binaries.
async fn start_auto(options: &StartOptions) -> Result<Server> {
    let dialect = options.project_url.as_deref().map(engine::dialect);
    let engine = match dialect.as_deref() {
        None | Some("") => Engine::Sqlite,
        Some(name) => Engine::from_dialect(name).ok_or_else(|| ServerError::InvalidSpec {
            spec: "auto".into(),
            reason: format!(
                "the project's dialect {name:?} is not supported; use --database with \
                 a PostgreSQL, MySQL or SQLite spec"
            ),
        })?,
    };
    let (flavour, image) = match engine {
        Engine::Postgres => (Flavour::Postgresql, &options.postgres_image),
        Engine::Mysql => (
            Flavour::of_image(&options.mysql_image).unwrap_or(Flavour::Mysql),
            &options.mysql_image,
        ),
        Engine::Sqlite => {
            let mut server = Box::pin(Server::start(&DatabaseSpec::Sqlite, options)).await?;
            server.reason = Some(match dialect {
                Some(_) => "auto: the project's sqlalchemy.url is SQLite".to_owned(),
                None => "auto: the project names no sqlalchemy.url; SQLite is the \
                         embedded default"
                    .to_owned(),
            });
            return Ok(server);
        }
    };
    let docker = DatabaseSpec::Docker {
        image: image.clone(),
        flavour,
    };
    let docker_error = match Box::pin(Server::start(&docker, options)).await {
        Ok(mut server) => {
            server.reason = Some(format!(
                "auto: the project uses {}; Docker can run {image}",
                flavour.engine()
            ));
            return Ok(server);
        }
        Err(e @ (ServerError::DockerUnreachable { .. } | ServerError::ImageMissing { .. })) => e,
        Err(other) => return Err(other),
    };
    let local = DatabaseSpec::Local { flavour };
    let mut started = Box::pin(Server::start(&local, options)).await;
    if flavour == Flavour::Mysql && matches!(started, Err(ServerError::BinariesNotFound { .. })) {
        // Debian and others ship MariaDB as the MySQL server: it serves a MySQL project.
        started = Box::pin(Server::start(
            &DatabaseSpec::Local {
                flavour: Flavour::Mariadb,
            },
            options,
        ))
        .await;
    }
    match started {
        Ok(mut server) => {
            server.reason = Some(format!(
                "auto: the project uses {}; no container ({docker_error}), so a local \
                 server from installed binaries",
                flavour.engine()
            ));
            Ok(server)
        }
        Err(local_error @ ServerError::BinariesNotFound { .. }) => {
            Err(ServerError::Other(format!(
                "auto found no way to run {}: {docker_error}; and {local_error}",
                flavour.engine()
            )))
        }
        Err(other) => Err(other),
    }
}

fn external_endpoint(url: &str, engine: Engine) -> Result<Endpoint> {
    let parsed = url::Url::parse(url).map_err(|e| ServerError::InvalidSpec {
        spec: redact_url(url),
        reason: e.to_string(),
    })?;
    let decode = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    let user = match parsed.username() {
        "" if engine == Engine::Mysql => "root".to_owned(),
        "" => "postgres".to_owned(),
        user => decode(user),
    };
    let database = parsed.path().trim_start_matches('/');
    Ok(Endpoint {
        engine,
        host: parsed
            .host_str()
            .unwrap_or("127.0.0.1")
            .trim_matches(['[', ']'])
            .to_owned(),
        port: parsed.port().unwrap_or(engine.default_port()),
        user,
        password: parsed.password().map(decode),
        admin_database: match (engine, database) {
            (Engine::Postgres, "") => Some("postgres".to_owned()),
            (_, "") => None,
            (_, db) => Some(db.to_owned()),
        },
    })
}

/// Logs in once, so that a wrong password or an unreachable host is reported clearly
/// before anything else happens.
async fn check_external(endpoint: &Endpoint) -> Result<()> {
    match try_login(endpoint).await {
        Ok(()) => Ok(()),
        Err(e) if is_auth_error(&e) => Err(ServerError::AuthFailed {
            server: endpoint.masked_url(None),
            cause: login_cause(&e),
        }),
        Err(e) => Err(ServerError::Unreachable {
            server: endpoint.masked_url(None),
            cause: login_cause(&e),
        }),
    }
}

async fn admin_pool(endpoint: &Endpoint) -> Result<AdminPool> {
    let url = endpoint.url(None);
    let server = endpoint.masked_url(None);
    let unreachable = |e: sqlx::Error| ServerError::Unreachable {
        server: server.clone(),
        cause: login_cause(&e),
    };
    // Two connections: one for DDL, one to end sessions that block a clone or a drop.
    Ok(match endpoint.engine {
        Engine::Postgres => AdminPool::Postgres(
            PgPoolOptions::new()
                .max_connections(2)
                .connect(&url)
                .await
                .map_err(unreachable)?,
        ),
        Engine::Mysql => AdminPool::Mysql(
            MySqlPoolOptions::new()
                .max_connections(2)
                .connect(&url)
                .await
                .map_err(unreachable)?,
        ),
        Engine::Sqlite => AdminPool::None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn external_urls_become_endpoints_without_changing_credentials() {
        let e = external_endpoint(
            "postgresql+psycopg://app:p%40ss@db:6543/app",
            Engine::Postgres,
        )
        .unwrap();
        assert_eq!(
            (e.host.as_str(), e.port, e.user.as_str()),
            ("db", 6543, "app")
        );
        assert_eq!(e.password.as_deref(), Some("p@ss"));
        assert_eq!(e.admin_database.as_deref(), Some("app"));
        let m = external_endpoint("mysql://127.0.0.1", Engine::Mysql).unwrap();
        assert_eq!(
            (m.user.as_str(), m.port, m.admin_database),
            ("root", 3306, None)
        );
    }

    #[tokio::test]
    async fn sqlite_databases_are_files_that_clone_by_copy() {
        let mut server = Server::start(&DatabaseSpec::Sqlite, &StartOptions::default())
            .await
            .unwrap();
        let template = server.create_database(Some("template")).await.unwrap();
        assert_eq!(template, "drill_template");
        let url = server.database_url(&template);
        {
            use sqlx::Connection;
            let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
            sqlx::raw_sql("CREATE TABLE t (id INTEGER PRIMARY KEY); INSERT INTO t VALUES (7);")
                .execute(&mut conn)
                .await
                .unwrap();
            conn.close().await.unwrap();
        }
        let copy = server.clone_database(&template, None).await.unwrap();
        {
            use sqlx::Connection;
            let mut conn = sqlx::SqliteConnection::connect(&server.database_url(&copy))
                .await
                .unwrap();
            let id: i64 = sqlx::query_scalar("SELECT id FROM t")
                .fetch_one(&mut conn)
                .await
                .unwrap();
            assert_eq!(id, 7);
            conn.close().await.unwrap();
        }
        assert_eq!(
            server.list_databases().await.unwrap(),
            vec![copy.clone(), template]
        );
        assert!(matches!(
            server.drop_database("main").await,
            Err(ServerError::NotOurs { .. })
        ));
        server.drop_database(&copy).await.unwrap();
        let Some(Kind::Sqlite { dir }) = &server.kind else {
            panic!()
        };
        let dir = dir.clone();
        server.stop().await.unwrap();
        assert!(!dir.exists());
        assert!(matches!(
            server.create_database(None).await,
            Err(ServerError::Stopped)
        ));
    }
}
