//! Throwaway databases for the engine tests.
//!
//! PostgreSQL and MySQL tests run against the servers named by `ALEMBIC_DRILL_TEST_PG_URL`
//! and `ALEMBIC_DRILL_TEST_MYSQL_URL`, or local servers started for the test binary; each test creates its own `drill_schema_test_<random>`
//! database there and drops it when its guard goes out of scope, panics included.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::{AssertSqlSafe, Connection as _, MySqlConnection, PgConnection, SqliteConnection};

use crate::engine::Engine;
use crate::servers::local::{LocalOptions, LocalServer};
use crate::servers::spec::Flavour;
use crate::test_switches::{REQUIRE_LOCAL, switch_is_on};

pub const PG_URL_VAR: &str = "ALEMBIC_DRILL_TEST_PG_URL";
pub const MYSQL_URL_VAR: &str = "ALEMBIC_DRILL_TEST_MYSQL_URL";

/// The server URL for `var`: the one the variable names, else a local server this test
/// binary starts once from installed binaries (stopped when the process exits), else
/// `None` (after saying so) when the test should be skipped. CI turns
/// `ALEMBIC_DRILL_REQUIRE_LOCAL` on so that a missing server fails instead.
pub fn server_url(var: &str) -> Option<String> {
    if let Ok(url) = std::env::var(var)
        && !url.trim().is_empty()
    {
        return Some(url);
    }
    let flavour = if var == PG_URL_VAR {
        Flavour::Postgresql
    } else {
        Flavour::Mariadb
    };
    match shared_local_server(flavour) {
        Ok(url) => Some(url),
        Err(reason) => {
            assert!(
                !switch_is_on(REQUIRE_LOCAL),
                "no {flavour:?} server for the schema tests ({reason}), and \
                 {REQUIRE_LOCAL} requires one"
            );
            eprintln!("skipping: set {var} or install the server binaries ({reason})");
            None
        }
    }
}

/// One local server per flavour for the whole test binary, started on the process's
/// runtime (each test's own runtime ends with the test) and killed at exit.
fn shared_local_server(flavour: Flavour) -> Result<String, String> {
    static SERVERS: Mutex<Vec<(Flavour, Result<LocalServer, String>)>> = Mutex::new(Vec::new());
    let mut servers = SERVERS.lock().unwrap_or_else(|e| e.into_inner());
    if servers.is_empty() {
        extern "C" fn stop_servers() {
            // Dropping a LocalServer kills it and removes its folder, synchronously.
            if let Ok(mut servers) = SERVERS.lock() {
                servers.clear();
            }
        }
        unsafe { libc::atexit(stop_servers) };
    }
    if let Some((_, started)) = servers.iter().find(|(f, _)| *f == flavour) {
        return started
            .as_ref()
            .map(|s| s.endpoint().url(None))
            .map_err(Clone::clone);
    }
    let started = std::thread::spawn(move || {
        let runtime = crate::runtime::runtime()?;
        runtime
            .block_on(LocalServer::start(&LocalOptions::new(flavour)))
            .map_err(|e| e.to_string())
    })
    .join()
    .unwrap_or_else(|_| Err("starting the server panicked".to_owned()));
    let url = started
        .as_ref()
        .map(|s| s.endpoint().url(None))
        .map_err(Clone::clone);
    servers.push((flavour, started));
    url
}

pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    // Mixed so that parallel test binaries (same nanos, different pids) cannot collide.
    let mixed = (nanos as u64) ^ (u64::from(std::process::id()) << 40) ^ n.rotate_left(20);
    format!("{prefix}{mixed:016x}{n}")
}

/// `url` with its path (the database) replaced by `database`, query string kept.
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[authority_start..]
        .find('/')
        .map_or(base.len(), |i| i + authority_start);
    let mut out = format!("{}/{database}", &base[..path_start]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

#[derive(Debug, Clone, Copy)]
enum Server {
    Postgres,
    Mysql,
}

/// A database created for one test, dropped on drop.
pub struct TestDb {
    pub name: String,
    pub url: String,
    admin_url: String,
    server: Server,
}

impl TestDb {
    pub async fn postgres() -> Option<TestDb> {
        let admin_url = server_url(PG_URL_VAR)?;
        let name = unique_name("drill_schema_test_");
        let mut conn = PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("connecting to {PG_URL_VAR}: {e}"));
        sqlx::raw_sql(AssertSqlSafe(format!(
            "CREATE DATABASE {}",
            Engine::Postgres.quote_ident(&name)
        )))
        .execute(&mut conn)
        .await
        .expect("CREATE DATABASE");
        let _ = conn.close().await;
        Some(TestDb {
            url: with_database(&admin_url, &name),
            name,
            admin_url,
            server: Server::Postgres,
        })
    }

    pub async fn mysql() -> Option<TestDb> {
        let admin_url = server_url(MYSQL_URL_VAR)?;
        let name = unique_name("drill_schema_test_");
        let mut conn = MySqlConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("connecting to {MYSQL_URL_VAR}: {e}"));
        sqlx::raw_sql(AssertSqlSafe(format!(
            "CREATE DATABASE {}",
            Engine::Mysql.quote_ident(&name)
        )))
        .execute(&mut conn)
        .await
        .expect("CREATE DATABASE");
        let _ = conn.close().await;
        Some(TestDb {
            url: with_database(&admin_url, &name),
            name,
            admin_url,
            server: Server::Mysql,
        })
    }

    pub async fn pg(&self) -> PgConnection {
        PgConnection::connect(&self.url).await.expect("connect")
    }

    pub async fn my(&self) -> MySqlConnection {
        MySqlConnection::connect(&self.url).await.expect("connect")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (admin_url, name, server) = (self.admin_url.clone(), self.name.clone(), self.server);
        // Drop cannot await, and may run while a runtime is unwinding: a private runtime on
        // its own thread does the cleanup either way.
        let done = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let result = match server {
                    Server::Postgres => match PgConnection::connect(&admin_url).await {
                        Ok(mut conn) => sqlx::raw_sql(AssertSqlSafe(format!(
                            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                            Engine::Postgres.quote_ident(&name)
                        )))
                        .execute(&mut conn)
                        .await
                        .map(drop),
                        Err(e) => Err(e),
                    },
                    Server::Mysql => match MySqlConnection::connect(&admin_url).await {
                        Ok(mut conn) => sqlx::raw_sql(AssertSqlSafe(format!(
                            "DROP DATABASE IF EXISTS {}",
                            Engine::Mysql.quote_ident(&name)
                        )))
                        .execute(&mut conn)
                        .await
                        .map(drop),
                        Err(e) => Err(e),
                    },
                };
                if let Err(e) = result {
                    eprintln!("could not drop test database {name}: {e}");
                }
            });
        })
        .join();
        if done.is_err() {
            eprintln!("cleanup of test database {} panicked", self.name);
        }
    }
}

/// A SQLite database file in the temp dir, removed on drop; for tests that need a URL or two
/// connections to the same database.
pub struct SqliteFile {
    pub path: std::path::PathBuf,
    pub url: String,
}

impl SqliteFile {
    pub fn new() -> SqliteFile {
        let path = std::env::temp_dir().join(format!("{}.db", unique_name("drill_schema_test_")));
        let url = format!("sqlite://{}?mode=rwc", path.display());
        SqliteFile { path, url }
    }

    pub async fn connect(&self) -> SqliteConnection {
        SqliteConnection::connect(&self.url).await.expect("connect")
    }
}

impl Drop for SqliteFile {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut path = self.path.clone().into_os_string();
            path.push(suffix);
            let _ = std::fs::remove_file(path);
        }
    }
}

pub async fn memory_sqlite() -> SqliteConnection {
    SqliteConnection::connect("sqlite::memory:")
        .await
        .expect("connect")
}

#[test]
fn database_urls() {
    assert_eq!(
        with_database("postgres://u:p@h:5/postgres?sslmode=disable", "x"),
        "postgres://u:p@h:5/x?sslmode=disable"
    );
    assert_eq!(
        with_database("mysql://root@127.0.0.1:3306", "x"),
        "mysql://root@127.0.0.1:3306/x"
    );
    assert_ne!(unique_name("a"), unique_name("a"));
}
