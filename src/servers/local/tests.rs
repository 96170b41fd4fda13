//! Real local servers: each test starts PostgreSQL and MariaDB from the installed
//! binaries in a state root of its own (sharing the real template cache), so tests running
//! in parallel never reap or stop each other's servers. Without binaries they are skipped,
//! unless ALEMBIC_DRILL_REQUIRE_LOCAL is on (CI), where that fails. How long things take is
//! measured by the ignored `measure_*` tests (`bench/core.sh`), never asserted here.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sqlx::Connection;

use super::*;
use crate::servers::ready::is_auth_error;
use crate::test_switches::{REQUIRE_LOCAL, switch_is_on};

fn available(flavour: Flavour) -> bool {
    match find_binaries(flavour) {
        Ok(_) => true,
        Err(e) if switch_is_on(REQUIRE_LOCAL) => {
            panic!("{REQUIRE_LOCAL} is on but: {e}")
        }
        Err(e) => {
            eprintln!("skipping a local {} test: {e}", flavour.as_str());
            false
        }
    }
}

/// Beside the default state root (so on the same, fast, file system).
fn test_base() -> PathBuf {
    let root = StateRoot::default_root().unwrap().servers;
    let name = root
        .file_name()
        .unwrap()
        .to_string_lossy()
        .replace("drill-", "drill-test-");
    root.with_file_name(name)
}

/// A state root for one test; reaps roots of test processes that died first.
async fn test_root(name: &str) -> StateRoot {
    let base = test_base();
    if let Ok(entries) = std::fs::read_dir(&base) {
        for entry in entries.filter_map(|e| e.ok()) {
            let file_name = entry.file_name().to_string_lossy().into_owned();
            let pid = file_name
                .rsplit('-')
                .next()
                .and_then(|p| p.parse::<u32>().ok());
            if pid.is_some_and(|pid| !process::running(pid)) {
                let old = StateRoot {
                    servers: entry.path(),
                    templates: entry.path(),
                };
                let _ = state::reap_stale(&old).await;
                let _ = process::remove_tree(&entry.path());
            }
        }
    }
    let templates = StateRoot::default_root().unwrap().templates;
    let servers = base.join(format!("{name}-{}", std::process::id()));
    StateRoot::at(servers, templates).unwrap()
}

fn finish(root: &StateRoot) {
    assert!(
        root.server_dirs().unwrap().is_empty(),
        "left behind: {:?}",
        root.server_dirs()
    );
    assert!(
        processes_under(&root.servers).is_empty(),
        "processes left behind"
    );
    let _ = process::remove_tree(&root.servers);
}

/// Processes whose command line names a path under `dir`.
fn processes_under(dir: &Path) -> Vec<u32> {
    use std::os::unix::ffi::OsStrExt;
    let needle = dir.as_os_str().as_bytes();
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| process::running(*pid))
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| c.windows(needle.len()).any(|w| w == needle))
        })
        .collect()
}

fn other(flavour: Flavour) -> Flavour {
    match flavour {
        Flavour::Postgresql => Flavour::Mariadb,
        _ => Flavour::Postgresql,
    }
}

async fn start(root: &StateRoot, options: &LocalOptions) -> LocalServer {
    start_in(root, options, &Knobs::default()).await.unwrap()
}

/// A setting as text, to check the server runs with our options.
async fn setting(endpoint: &Endpoint, sql: &'static str) -> String {
    match endpoint.engine {
        Engine::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&endpoint.url(None))
                .await
                .unwrap();
            sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap()
        }
        _ => {
            let mut conn = sqlx::MySqlConnection::connect(&endpoint.url(None))
                .await
                .unwrap();
            sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap()
        }
    }
}

async fn starts_logs_in_and_stops(flavour: Flavour) {
    let root = test_root(&format!("smoke-{}", flavour.as_str())).await;
    let server = start(&root, &LocalOptions::new(flavour)).await;
    let endpoint = server.endpoint().clone();
    try_login(&endpoint).await.unwrap();
    let mut wrong = endpoint.clone();
    wrong.password = Some("wrongpassword".into());
    let refused = try_login(&wrong).await.unwrap_err();
    assert!(is_auth_error(&refused), "{refused}");

    // Durability off, UTF-8, and the admin may create databases.
    match flavour {
        Flavour::Postgresql => {
            assert_eq!(setting(&endpoint, "SHOW fsync").await, "off");
            assert_eq!(setting(&endpoint, "SHOW server_encoding").await, "UTF8");
            let mut conn = sqlx::PgConnection::connect(&endpoint.url(None))
                .await
                .unwrap();
            sqlx::query("CREATE DATABASE drill_smoke")
                .execute(&mut conn)
                .await
                .unwrap();
        }
        _ => {
            assert_eq!(
                setting(
                    &endpoint,
                    "SELECT CAST(@@innodb_flush_log_at_trx_commit AS CHAR)"
                )
                .await,
                "0"
            );
            assert_eq!(
                setting(&endpoint, "SELECT @@character_set_server").await,
                "utf8mb4"
            );
            let mut conn = sqlx::MySqlConnection::connect(&endpoint.url(None))
                .await
                .unwrap();
            sqlx::query("CREATE DATABASE drill_smoke")
                .execute(&mut conn)
                .await
                .unwrap();
        }
    }

    let description = server.describe();
    assert!(description.starts_with("local "), "{description}");
    assert!(
        description.ends_with(&format!("on 127.0.0.1:{}", endpoint.port)),
        "{description}"
    );
    assert!(!description.contains(endpoint.password.as_deref().unwrap()));
    assert!(!server.reused());

    let dir = server.dir().to_owned();
    let pid = server.server_pid().unwrap();
    assert!(process::running(pid));
    let mode = std::fs::metadata(dir.join("server.json"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(
        !Layout::new(&dir).init_file.exists(),
        "the init file holds the password"
    );

    let listed = state::list_owned(&root).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].dir, dir);
    assert_eq!(listed[0].spec, format!("local:{}", flavour.as_str()));
    assert_eq!(listed[0].server_pid, Some(pid));
    assert_eq!(listed[0].endpoint.as_ref(), Some(&endpoint));
    assert!(listed[0].owner_alive && !listed[0].kept);

    server.stop().await.unwrap();
    assert!(!process::running(pid));
    assert!(!dir.exists());
    finish(&root);
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_starts_logs_in_and_stops() {
    if available(Flavour::Postgresql) {
        starts_logs_in_and_stops(Flavour::Postgresql).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn mariadb_starts_logs_in_and_stops() {
    if available(Flavour::Mariadb) {
        starts_logs_in_and_stops(Flavour::Mariadb).await;
    }
}

async fn kept_servers_are_reused_until_stop_kept(flavour: Flavour) {
    let root = test_root(&format!("keep-{}", flavour.as_str())).await;
    let options = LocalOptions {
        keep: true,
        ..LocalOptions::new(flavour)
    };
    let first = start(&root, &options).await;
    assert!(!first.reused() && first.kept());
    assert_eq!(first.dir(), root.keep_dir(flavour));
    assert!(first.describe().ends_with(", kept"), "{}", first.describe());
    let endpoint = first.endpoint().clone();
    let pid = first.server_pid().unwrap();
    first.stop().await.unwrap();
    assert!(process::running(pid), "a kept server keeps running");
    try_login(&endpoint).await.unwrap();

    let second = start(&root, &options).await;
    assert!(second.reused());
    assert_eq!(second.endpoint(), &endpoint);
    assert_eq!(second.server_pid(), Some(pid));
    drop(second);
    assert!(
        process::running(pid),
        "dropping a kept server leaves it running"
    );

    // A run that does not ask to keep a server uses the kept one all the same, and leaves
    // it running.
    let unkept = start(&root, &LocalOptions::new(flavour)).await;
    assert!(unkept.reused() && unkept.kept());
    assert_eq!(unkept.server_pid(), Some(pid));
    unkept.stop().await.unwrap();
    assert!(process::running(pid), "a run that reuses it never stops it");

    // Kept servers are never reaped, nor stopped for another flavour.
    assert!(state::reap_stale(&root).await.unwrap().is_empty());
    assert!(
        state::stop_kept(&root, Some(other(flavour)))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(process::running(pid));

    let stopped = state::stop_kept(&root, Some(flavour)).await.unwrap();
    assert_eq!(stopped, vec![root.keep_dir(flavour)]);
    assert!(!process::running(pid));
    assert!(!root.keep_dir(flavour).exists());
    finish(&root);
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_kept_servers_are_reused_until_stop_kept() {
    if available(Flavour::Postgresql) {
        kept_servers_are_reused_until_stop_kept(Flavour::Postgresql).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn mariadb_kept_servers_are_reused_until_stop_kept() {
    if available(Flavour::Mariadb) {
        kept_servers_are_reused_until_stop_kept(Flavour::Mariadb).await;
    }
}

/// A kept server killed from outside (its state left as it was, its port taken by
/// someone else) is never logged in to: the next run removes what it left and starts its
/// own server.
async fn a_dead_kept_server_is_replaced_and_its_port_never_tried(flavour: Flavour) {
    let root = test_root(&format!("dead-keep-{}", flavour.as_str())).await;
    let kept = LocalOptions {
        keep: true,
        ..LocalOptions::new(flavour)
    };
    let first = start(&root, &kept).await;
    let (pid, port) = (first.server_pid().unwrap(), first.endpoint().port);
    first.stop().await.unwrap();
    process::kill_hard(pid);
    let deadline = Instant::now() + Duration::from_secs(10);
    while process::running(pid) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let squatter = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    squatter.set_nonblocking(true).unwrap();

    let fresh = start(&root, &LocalOptions::new(flavour)).await;
    assert!(!fresh.reused() && !fresh.kept());
    assert_ne!(fresh.endpoint().port, port);
    assert!(
        !root.keep_dir(flavour).exists(),
        "the dead kept server's folder is removed"
    );
    assert!(
        matches!(squatter.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "the port of a dead kept server must never be tried"
    );
    fresh.stop().await.unwrap();
    finish(&root);
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_a_dead_kept_server_is_replaced_and_its_port_never_tried() {
    if available(Flavour::Postgresql) {
        a_dead_kept_server_is_replaced_and_its_port_never_tried(Flavour::Postgresql).await;
    }
}

async fn servers_of_dead_owners_are_reaped(flavour: Flavour) {
    let root = test_root(&format!("reap-{}", flavour.as_str())).await;
    let crashed = start(&root, &LocalOptions::new(flavour)).await;
    let alive = start(&root, &LocalOptions::new(flavour)).await;
    let (crashed_pid, alive_pid) = (crashed.server_pid().unwrap(), alive.server_pid().unwrap());

    // Pretend `crashed` belongs to a process that was killed: its owner pid is dead.
    let mut record = state::read_record(crashed.dir()).unwrap();
    let mut finished = std::process::Command::new("true").spawn().unwrap();
    record.owner_pid = finished.id();
    finished.wait().unwrap();
    state::write_record(crashed.dir(), &record).unwrap();

    let listed = state::list_owned(&root).unwrap();
    let owner_alive = |dir: &Path| listed.iter().find(|s| s.dir == dir).unwrap().owner_alive;
    assert!(!owner_alive(crashed.dir()));
    assert!(owner_alive(alive.dir()));

    let reaped = state::reap_stale(&root).await.unwrap();
    assert_eq!(reaped, vec![crashed.dir().to_owned()]);
    assert!(!process::running(crashed_pid));
    assert!(!crashed.dir().exists());
    assert!(process::running(alive_pid));
    try_login(alive.endpoint()).await.unwrap();

    crashed.stop().await.unwrap(); // nothing left to stop
    alive.stop().await.unwrap();
    finish(&root);
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_servers_of_dead_owners_are_reaped() {
    if available(Flavour::Postgresql) {
        servers_of_dead_owners_are_reaped(Flavour::Postgresql).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn mariadb_servers_of_dead_owners_are_reaped() {
    if available(Flavour::Mariadb) {
        servers_of_dead_owners_are_reaped(Flavour::Mariadb).await;
    }
}

async fn failures_leave_nothing_behind(flavour: Flavour) {
    let root = test_root(&format!("fail-{}", flavour.as_str())).await;

    // A server that exits during startup: its log says why.
    let bad_option: Vec<String> = match flavour {
        Flavour::Postgresql => vec!["-c".into(), "no_such_setting=1".into()],
        _ => vec!["--no-such-option=1".into()],
    };
    let knobs = Knobs {
        extra_args: bad_option,
        ..Knobs::default()
    };
    let error = start_in(&root, &LocalOptions::new(flavour), &knobs)
        .await
        .unwrap_err();
    let text = error.to_string();
    assert!(matches!(error, ServerError::StartupFailed { .. }), "{text}");
    assert!(
        text.contains("no_such_setting") || text.contains("no-such-option"),
        "{text}"
    );
    assert!(root.server_dirs().unwrap().is_empty());

    // A server that is not ready in time.
    let options = LocalOptions {
        startup_timeout: Duration::from_millis(1),
        ..LocalOptions::new(flavour)
    };
    let error = start_in(&root, &options, &Knobs::default())
        .await
        .unwrap_err();
    assert!(
        matches!(error, ServerError::StartupTimeout { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("last login attempt"), "{error}");

    // A port taken between our check and the server's bind: another port is tried.
    let held = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let taken = held.local_addr().unwrap().port();
    let knobs = Knobs {
        first_port: Some(taken),
        ..Knobs::default()
    };
    let server = start_in(&root, &LocalOptions::new(flavour), &knobs)
        .await
        .unwrap();
    assert_ne!(server.endpoint().port, taken);
    try_login(server.endpoint()).await.unwrap();
    server.stop().await.unwrap();
    drop(held);

    // A start abandoned half-way (its future dropped): nothing stays.
    for after in [5, 30, 80] {
        let abandoned = tokio::time::timeout(
            Duration::from_millis(after),
            start(&root, &LocalOptions::new(flavour)),
        )
        .await;
        if let Ok(server) = abandoned {
            server.stop().await.unwrap();
        }
        assert!(root.server_dirs().unwrap().is_empty());
        assert!(
            processes_under(&root.servers).is_empty(),
            "processes left behind"
        );
    }

    // Dropped without stop(): killed and removed at once.
    let server = start(&root, &LocalOptions::new(flavour)).await;
    let (pid, dir) = (server.server_pid().unwrap(), server.dir().to_owned());
    drop(server);
    assert!(!process::running(pid));
    assert!(!dir.exists());
    finish(&root);
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_failures_leave_nothing_behind() {
    if available(Flavour::Postgresql) {
        failures_leave_nothing_behind(Flavour::Postgresql).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn mariadb_failures_leave_nothing_behind() {
    if available(Flavour::Mariadb) {
        failures_leave_nothing_behind(Flavour::Mariadb).await;
    }
}

/// The public API, on the real state root.
#[tokio::test(flavor = "multi_thread")]
async fn public_api_starts_and_lists_a_server() {
    if !available(Flavour::Postgresql) {
        return;
    }
    let server = LocalServer::start(&LocalOptions::new(Flavour::Postgresql))
        .await
        .unwrap();
    try_login(server.endpoint()).await.unwrap();
    let listed = list_owned().unwrap();
    assert!(
        listed
            .iter()
            .any(|s| s.dir == server.dir() && s.owner_alive)
    );
    assert!(
        !reap_stale()
            .await
            .unwrap()
            .contains(&server.dir().to_owned())
    );
    let dir = server.dir().to_owned();
    server.stop().await.unwrap();
    assert!(!dir.exists());
}

/// Each flavour takes only its own make of binaries: on Debian `mysqld` is MariaDB, and
/// local:mysql must not take it. MySQL binaries are usually absent (CI has none), so the
/// MySQL side checks either that the binary found is a real MySQL or the error's advice.
#[test]
fn binaries_are_taken_only_for_their_own_flavour() {
    if !available(Flavour::Mariadb) || !available(Flavour::Postgresql) {
        return;
    }
    let mariadb = find_binaries(Flavour::Mariadb).unwrap();
    assert_eq!(mariadb.product, "MariaDB");
    assert!(matches!(mariadb.init, Init::InstallDb(_)));
    let postgres = find_binaries(Flavour::Postgresql).unwrap();
    assert_eq!(postgres.product, "PostgreSQL");
    assert!(postgres.dir.join("initdb").exists());

    let canonical = |path: &Path| std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
    match find_binaries(Flavour::Mysql) {
        Ok(mysql) => {
            assert_eq!(mysql.product, "MySQL");
            assert_ne!(canonical(&mysql.server), canonical(&mariadb.server));
        }
        Err(error) => {
            let text = error.to_string();
            assert!(
                matches!(error, ServerError::BinariesNotFound { .. }),
                "{text}"
            );
            assert!(
                text.contains("/usr/sbin") && text.contains("docker:mysql:8.0"),
                "{text}"
            );
            // A MariaDB `mysqld` seen on the way is named, with where it is used instead.
            if executable(&mariadb.dir.join("mysqld")) {
                assert!(text.contains("which local:mariadb uses"), "{text}");
            }
        }
    }
}

/// Time to ready with and without the data folder template:
/// `cargo test measure_time_to_ready -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread")]
#[ignore]
async fn measure_time_to_ready() {
    for flavour in [Flavour::Postgresql, Flavour::Mariadb] {
        if !available(flavour) {
            continue;
        }
        let root = test_root(&format!("measure-{}", flavour.as_str())).await;
        for no_template in [true, false, false, false] {
            let knobs = Knobs {
                no_template,
                ..Knobs::default()
            };
            let started = Instant::now();
            let server = start_in(&root, &LocalOptions::new(flavour), &knobs)
                .await
                .unwrap();
            let ready = started.elapsed();
            let stopping = Instant::now();
            server.stop().await.unwrap();
            eprintln!(
                "{}: ready in {ready:?} ({}), stopped in {:?}",
                flavour.as_str(),
                if no_template {
                    "init every time"
                } else {
                    "template copy"
                },
                stopping.elapsed()
            );
        }
        finish(&root);
    }
}

/// Time to reattach to a kept server (the README's "well under a second"):
/// `cargo test measure_kept_reuse -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread")]
#[ignore]
async fn measure_kept_reuse() {
    for flavour in [Flavour::Postgresql, Flavour::Mariadb] {
        if !available(flavour) {
            continue;
        }
        let root = test_root(&format!("measure-keep-{}", flavour.as_str())).await;
        let options = LocalOptions {
            keep: true,
            ..LocalOptions::new(flavour)
        };
        start(&root, &options).await.stop().await.unwrap();
        for _ in 0..5 {
            let started = Instant::now();
            let server = start(&root, &options).await;
            let took = started.elapsed();
            assert!(server.reused());
            eprintln!("{}: kept server reused in {took:?}", flavour.as_str());
            server.stop().await.unwrap();
        }
        state::stop_kept(&root, Some(flavour)).await.unwrap();
        finish(&root);
    }
}
