//! MySQL and MariaDB from installed binaries: `mariadb-install-db` (MariaDB) or
//! `mysqld --initialize-insecure` (MySQL 5.7+) makes the data folder; `mysqld`/`mariadbd`
//! serves it with durability off, and an init file gives root its password.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::process::Command;

use super::process::{self, RunAs};
use super::{Binaries, Init, Layout, executable, path_dirs, version_output};
use crate::servers::error::{Result, ServerError};
use crate::servers::spec::Flavour;

const SERVER_DIRS: [&str; 6] = [
    "/usr/sbin",
    "/usr/libexec",
    "/usr/local/sbin",
    "/usr/local/bin",
    "/usr/local/mysql/bin",
    "/usr/local/mariadb/bin",
];
const LOOKED_IN: &str = "PATH, /usr/sbin, /usr/libexec, /usr/local/sbin, /usr/local/bin, \
                         /usr/local/mysql/bin, /usr/local/mariadb/bin";
const INSTALL_DB: [&str; 2] = ["mariadb-install-db", "mysql_install_db"];

/// Options for both initialising and serving: small, fast, no native AIO (containers and
/// many servers at once run out of AIO contexts).
const INNODB: [&str; 3] = [
    "--innodb-buffer-pool-size=64M",
    "--innodb-log-file-size=16M",
    "--innodb-use-native-aio=0",
];

/// The server binary of the flavour asked for. On Debian `mysqld` is MariaDB: a MariaDB
/// binary never stands in for `local:mysql` (nor MySQL for `local:mariadb`).
pub(super) fn find(flavour: Flavour) -> Result<Binaries> {
    let names: &[&str] = match flavour {
        Flavour::Mariadb => &["mariadbd", "mysqld"],
        _ => &["mysqld"],
    };
    let mut dirs = path_dirs();
    dirs.extend(SERVER_DIRS.iter().map(PathBuf::from));
    let mut seen: Vec<PathBuf> = Vec::new();
    let mut other_makes: Vec<String> = Vec::new();
    for dir in &dirs {
        for name in names {
            let path = dir.join(name);
            if !executable(&path) {
                continue;
            }
            let real = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
            if seen.contains(&real) {
                continue;
            }
            seen.push(real);
            let Some((is_mariadb, version)) = version_output(&path).and_then(|o| parse_version(&o))
            else {
                continue;
            };
            let product = if is_mariadb { "MariaDB" } else { "MySQL" };
            if is_mariadb != (flavour == Flavour::Mariadb) {
                other_makes.push(format!("{product} {version} at {}", path.display()));
                continue;
            }
            let init = if is_mariadb {
                match find_install_db(dir) {
                    Some(tool) => Init::InstallDb(tool),
                    None => {
                        other_makes.push(format!(
                            "{} without mariadb-install-db beside it",
                            path.display()
                        ));
                        continue;
                    }
                }
            } else {
                Init::Initialize
            };
            return Ok(Binaries {
                flavour,
                product,
                version,
                dir: dir.clone(),
                server: path,
                init,
            });
        }
    }
    let (engine, wanted, package, image) = match flavour {
        Flavour::Mariadb => (
            "MariaDB",
            "mariadbd (or mysqld) and mariadb-install-db",
            "mariadb-server",
            "mariadb:11",
        ),
        _ => (
            "MySQL",
            "a MySQL mysqld",
            "mysql-server (from MySQL's own APT repository)",
            "mysql:8.0",
        ),
    };
    let looked_in = match (other_makes.is_empty(), flavour) {
        (true, _) => LOOKED_IN.to_owned(),
        (false, Flavour::Mysql) => format!(
            "{LOOKED_IN}; found only {}, which local:mariadb uses",
            other_makes.join(", ")
        ),
        (false, _) => format!("{LOOKED_IN}; found only {}", other_makes.join(", ")),
    };
    Err(ServerError::BinariesNotFound {
        engine,
        wanted: wanted.to_owned(),
        looked_in,
        package,
        image,
    })
}

/// mariadb-install-db beside the server, in the bin (or scripts) folder next to its
/// folder, or in PATH.
fn find_install_db(server_dir: &Path) -> Option<PathBuf> {
    let mut dirs = vec![server_dir.to_owned()];
    if let Some(prefix) = server_dir.parent() {
        dirs.push(prefix.join("bin"));
        dirs.push(prefix.join("scripts"));
    }
    dirs.extend(path_dirs());
    dirs.iter()
        .flat_map(|dir| INSTALL_DB.iter().map(move |name| dir.join(name)))
        .find(|path| executable(path))
}

/// `mariadbd  Ver 10.11.6-MariaDB-0+deb12u1 for debian-linux-gnu ...` -> (true, 10.11.6);
/// `mysqld  Ver 8.0.36 for Linux on x86_64 (MySQL Community Server - GPL)` -> (false, 8.0.36).
fn parse_version(output: &str) -> Option<(bool, String)> {
    let words: Vec<&str> = output.split_whitespace().collect();
    let at = words.iter().position(|w| *w == "Ver")?;
    let full = words.get(at + 1)?;
    let version = full.split('-').next()?.to_owned();
    Some((output.contains("MariaDB"), version))
}

/// Makes the system tables in `data` (an empty folder the server's user owns). root gets
/// no password: the server's init file sets one per server.
pub(super) async fn init_data(
    binaries: &Binaries,
    data: &Path,
    work: &Path,
    run_as: Option<&RunAs>,
    timeout: Duration,
) -> Result<()> {
    let log = work.join("init.log");
    let (program, what) = match &binaries.init {
        Init::InstallDb(tool) => (
            tool.clone(),
            format!("{} ({})", name_of(tool), tool.display()),
        ),
        Init::Initialize => (
            binaries.server.clone(),
            format!(
                "mysqld --initialize-insecure ({})",
                binaries.server.display()
            ),
        ),
        Init::Initdb(_) => return Err(ServerError::Other("not MySQL binaries".into())),
    };
    let mut cmd = process::command(&program, run_as, work, &log)?;
    // --no-defaults must come first: no my.cnf of the machine or the user applies.
    cmd.arg("--no-defaults")
        .arg(format!("--datadir={}", data.display()));
    match &binaries.init {
        Init::InstallDb(tool) => {
            cmd.args([
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                "--skip-name-resolve",
                // No users for this host's name: the template serves any host.
                "--cross-bootstrap",
            ]);
            // A tarball's scripts/ folder needs its prefix; packaged scripts know theirs.
            if let Some(dir) = tool.parent()
                && dir.file_name().is_some_and(|n| n == "scripts")
                && let Some(prefix) = dir.parent()
            {
                cmd.arg(format!("--basedir={}", prefix.display()));
            }
        }
        _ => {
            cmd.arg("--initialize-insecure");
        }
    }
    cmd.args(INNODB);
    process::run_to_end(cmd, &what, &program, &log, timeout).await
}

fn name_of(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The init file the server runs before it accepts connections: root may log in with the
/// password over the socket (`localhost`) and over TCP (`127.0.0.1`; names are not
/// resolved). Idempotent, so a retry on another port may run it again.
pub(super) fn write_init_file(
    layout: &Layout,
    password: &str,
    run_as: Option<&RunAs>,
) -> Result<()> {
    debug_assert!(password.chars().all(|c| c.is_ascii_alphanumeric()));
    let mut sql = String::new();
    for host in ["localhost", "127.0.0.1"] {
        sql.push_str(&format!(
            "CREATE USER IF NOT EXISTS 'root'@'{host}' IDENTIFIED BY '{password}';\n\
             ALTER USER 'root'@'{host}' IDENTIFIED BY '{password}';\n\
             GRANT ALL PRIVILEGES ON *.* TO 'root'@'{host}' WITH GRANT OPTION;\n"
        ));
    }
    sql.push_str("DROP USER IF EXISTS 'root'@'::1';\n");
    process::write_private(&layout.init_file, sql.as_bytes(), run_as)
}

/// The server command: TCP on 127.0.0.1 only, socket, pid file and data in our folder,
/// durability off, no binary log.
pub(super) fn command(
    binaries: &Binaries,
    layout: &Layout,
    port: u16,
    run_as: Option<&RunAs>,
) -> Result<Command> {
    let mut cmd = process::command(&binaries.server, run_as, &layout.dir, &layout.log)?;
    let path = |option: &str, path: &Path| format!("--{option}={}", path.display());
    cmd.arg("--no-defaults")
        .arg(path("datadir", &layout.data))
        .arg(path("socket", &layout.sock.join("mysqld.sock")))
        .arg(path("pid-file", &layout.pid_file))
        .arg(path("init-file", &layout.init_file))
        .arg(path("secure-file-priv", &layout.files))
        .arg(format!("--port={port}"))
        .args([
            "--bind-address=127.0.0.1",
            "--skip-name-resolve",
            "--skip-log-bin",
            "--innodb-flush-log-at-trx-commit=0",
            "--sync-binlog=0",
            "--max-connections=200",
            "--character-set-server=utf8mb4",
        ])
        .args(INNODB);
    if binaries.flavour == Flavour::Mysql {
        // MySQL 8's X protocol would listen on 33060 in every server; its performance
        // schema costs hundreds of MB per server.
        cmd.args(["--mysqlx=OFF", "--performance-schema=OFF"]);
    }
    Ok(cmd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_tell_the_make() {
        assert_eq!(
            parse_version(
                "/usr/sbin/mariadbd  Ver 10.11.6-MariaDB-0+deb12u1 for debian-linux-gnu on x86_64 (Debian 12)"
            ),
            Some((true, "10.11.6".to_owned()))
        );
        assert_eq!(
            parse_version(
                "/usr/sbin/mysqld  Ver 8.0.36 for Linux on x86_64 (MySQL Community Server - GPL)"
            ),
            Some((false, "8.0.36".to_owned()))
        );
        assert_eq!(
            parse_version(
                "/usr/sbin/mysqld  Ver 8.4.0-0ubuntu0.24.04.1 for Linux on x86_64 ((Ubuntu))"
            ),
            Some((false, "8.4.0".to_owned()))
        );
        assert_eq!(parse_version("garbage"), None);
    }
}
