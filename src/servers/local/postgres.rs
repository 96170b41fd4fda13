//! PostgreSQL from installed binaries: `initdb` makes the data folder (trusting only our
//! own Unix socket, scram-sha-256 over TCP), `postgres` serves it with durability off.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection};
use tokio::process::Command;

use super::process::{self, RunAs};
use super::{Binaries, Init, Layout, executable, path_dirs, version_output};
use crate::servers::endpoint::random_password;
use crate::servers::error::{Result, ServerError};
use crate::servers::spec::Flavour;

const LOOKED_IN: &str = "PATH, `pg_config --bindir`, /usr/lib/postgresql/*/bin, \
                         /usr/pgsql-*/bin, /usr/local/pgsql/bin";

/// The first folder holding both `initdb` and `postgres`: PATH, `pg_config --bindir`,
/// then Debian's and Red Hat's versioned folders, newest first.
pub(super) fn find() -> Result<Binaries> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    for dir in path_dirs() {
        // Symlinks into a real bin folder (Debian's /usr/local/bin/initdb) count as that
        // folder: initdb finds postgres beside its real self.
        if let Ok(real) = std::fs::canonicalize(dir.join("postgres"))
            && let Some(parent) = real.parent()
        {
            candidates.push(parent.to_owned());
        }
    }
    if let Some(output) = command_output(Path::new("pg_config"), "--bindir") {
        candidates.push(PathBuf::from(output.trim()));
    }
    candidates.extend(versioned_dirs("/usr/lib/postgresql", "", "bin"));
    candidates.extend(versioned_dirs("/usr", "pgsql-", "bin"));
    candidates.push(PathBuf::from("/usr/local/pgsql/bin"));
    candidates
        .iter()
        .find_map(|dir| binaries_in(dir))
        .ok_or_else(|| ServerError::BinariesNotFound {
            engine: "PostgreSQL",
            wanted: "initdb and postgres".to_owned(),
            looked_in: LOOKED_IN.to_owned(),
            package: "postgresql",
            image: "postgres:16-alpine",
        })
}

fn binaries_in(dir: &Path) -> Option<Binaries> {
    let (server, initdb) = (dir.join("postgres"), dir.join("initdb"));
    if !executable(&server) || !executable(&initdb) {
        return None;
    }
    let version = parse_version(&version_output(&server)?)?;
    Some(Binaries {
        flavour: Flavour::Postgresql,
        product: "PostgreSQL",
        version,
        dir: dir.to_owned(),
        server,
        init: Init::Initdb(initdb),
    })
}

fn command_output(program: &Path, arg: &str) -> Option<String> {
    let output = std::process::Command::new(program)
        .arg(arg)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

/// `<parent>/<prefix><version>/<sub>` folders, highest version first.
fn versioned_dirs(parent: &str, prefix: &str, sub: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return Vec::new();
    };
    let mut found: Vec<(Vec<u32>, PathBuf)> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let version = version_key(name.strip_prefix(prefix)?)?;
            Some((version, e.path().join(sub)))
        })
        .collect();
    found.sort_by(|a, b| b.0.cmp(&a.0));
    found.into_iter().map(|(_, dir)| dir).collect()
}

fn version_key(text: &str) -> Option<Vec<u32>> {
    text.split('.').map(|part| part.parse().ok()).collect()
}

/// `postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)` -> `15.18`.
fn parse_version(output: &str) -> Option<String> {
    let words: Vec<&str> = output.split_whitespace().collect();
    let at = words.iter().position(|w| *w == "(PostgreSQL)")?;
    words.get(at + 1).map(|v| (*v).to_owned())
}

/// Runs initdb into `data` (an empty folder the server's user owns). The superuser gets a
/// random password nobody keeps: each server sets its own through the socket.
pub(super) async fn init_data(
    binaries: &Binaries,
    data: &Path,
    work: &Path,
    run_as: Option<&RunAs>,
    timeout: Duration,
) -> Result<()> {
    let Init::Initdb(initdb) = &binaries.init else {
        return Err(ServerError::Other(
            "PostgreSQL binaries without initdb".into(),
        ));
    };
    let pwfile = work.join("pwfile");
    process::write_private(&pwfile, random_password().as_bytes(), run_as)?;
    let log = work.join("init.log");
    let mut cmd = process::command(initdb, run_as, work, &log)?;
    cmd.arg("-D")
        .arg(data)
        .args([
            "-U",
            "postgres",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ])
        .arg(format!("--pwfile={}", pwfile.display()));
    let what = format!("initdb ({})", binaries.dir.display());
    let result = process::run_to_end(cmd, &what, initdb, &log, timeout).await;
    let _ = std::fs::remove_file(&pwfile);
    result
}

/// The server command: TCP on 127.0.0.1 only, the socket in our folder (only its user may
/// use it), durability off.
pub(super) fn command(
    binaries: &Binaries,
    layout: &Layout,
    port: u16,
    run_as: Option<&RunAs>,
) -> Result<Command> {
    let mut cmd = process::command(&binaries.server, run_as, &layout.dir, &layout.log)?;
    cmd.arg("-D")
        .arg(&layout.data)
        .arg("-p")
        .arg(port.to_string())
        .args(["-h", "127.0.0.1", "-k"])
        .arg(&layout.sock)
        .args([
            "-c",
            "unix_socket_permissions=0700",
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
            "-c",
            "max_connections=200",
            "-c",
            "logging_collector=off",
        ]);
    Ok(cmd)
}

/// Sets the superuser's password through the Unix socket (trusted: only the server's user
/// and root can reach it). Fails while the server is still starting.
pub(super) async fn set_password(
    socket_dir: &Path,
    port: u16,
    password: &str,
) -> std::result::Result<(), String> {
    let options = PgConnectOptions::new()
        .socket(socket_dir)
        .port(port)
        .username("postgres")
        .database("postgres")
        .disable_statement_logging();
    let mut conn = sqlx::PgConnection::connect_with(&options)
        .await
        .map_err(|e| format!("socket login: {e}"))?;
    // The password is letters and digits only: safe inside quotes.
    debug_assert!(password.chars().all(|c| c.is_ascii_alphanumeric()));
    let sql = format!("ALTER ROLE postgres WITH PASSWORD '{password}'");
    let result = sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(&mut conn)
        .await
        .map(|_| ())
        .map_err(|e| format!("setting the password: {e}"));
    let _ = conn.close().await;
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse() {
        assert_eq!(
            parse_version("postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)\n").as_deref(),
            Some("15.18")
        );
        assert_eq!(
            parse_version("postgres (PostgreSQL) 17beta1").as_deref(),
            Some("17beta1")
        );
        assert_eq!(parse_version("nonsense"), None);
        assert!(version_key("16").unwrap() > version_key("9.6").unwrap());
        assert!(version_key("17").unwrap() > version_key("16").unwrap());
        assert_eq!(version_key("main"), None);
    }
}
