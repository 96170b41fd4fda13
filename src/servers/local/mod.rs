//! Ephemeral database servers from binaries installed on this machine (PostgreSQL's
//! `initdb`/`postgres`, MariaDB's `mariadb-install-db`/`mariadbd`, MySQL's `mysqld`).
//!
//! Each server lives in its own folder under a per-user state root
//! (`/dev/shm/alembic-drill-<uid>` where /dev/shm is a large tmpfs, else
//! `<temp dir>/alembic-drill-<uid>`; `local-<flavour>-<random>`): data, socket, log and a
//! `server.json` (mode 0600: it holds the password) naming the owner process. The next run
//! reaps the servers of owners that died without stopping them. A kept server
//! (`local-<flavour>-keep`) outlives its owner and is reused by the next run that asks to
//! keep one.
//!
//! The first server of a binaries version initialises a data folder template (under
//! `templates/`); later servers copy it, which is several times faster than `initdb`
//! or `mariadb-install-db`. When alembic-drill runs as root the servers run as an
//! unprivileged user (`postgres`/`mysql`, else `nobody`).

mod mysql;
mod postgres;
pub(crate) mod process;
mod state;
#[cfg(test)]
mod tests;

use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokio::process::Child;

use self::process::RunAs;
use self::state::{GRACE, LOCK_WAIT, ServerRecord, StateRoot};
use super::endpoint::{Endpoint, random_password};
use super::error::{Result, ServerError};
use super::ready::try_login;
use super::spec::Flavour;
use crate::engine::Engine;

/// How to start a local server.
#[derive(Debug, Clone)]
pub struct LocalOptions {
    pub flavour: Flavour,
    /// Leave the server running after `stop()`, and reuse a running kept server.
    pub keep: bool,
    /// How long the server may take to accept a login (making a data folder template
    /// for new binaries gets at least 5 minutes on top).
    pub startup_timeout: Duration,
}

impl LocalOptions {
    pub fn new(flavour: Flavour) -> LocalOptions {
        LocalOptions {
            flavour,
            keep: false,
            startup_timeout: Duration::from_secs(60),
        }
    }
}

/// A running local server. Dropping it without `stop()` kills the server and deletes its
/// folder at once (unless it is kept).
#[derive(Debug)]
pub struct LocalServer {
    dir: PathBuf,
    flavour: Flavour,
    endpoint: Endpoint,
    description: String,
    kept: bool,
    reused: bool,
    server_pid: Option<u32>,
    /// None for a reused server: another process started it.
    child: Option<Child>,
    finished: bool,
}

/// A server folder found under the state root, for listings.
#[derive(Debug, Clone)]
pub struct OwnedLocalServer {
    pub dir: PathBuf,
    /// `local:<flavour>`.
    pub spec: String,
    pub endpoint: Option<Endpoint>,
    pub kept: bool,
    /// The running server's pid (None: no server runs there).
    pub server_pid: Option<u32>,
    pub owner_pid: Option<u32>,
    pub owner_alive: bool,
}

/// Every local server folder of this user (running, kept, or debris of a crash).
pub fn list_owned() -> Result<Vec<OwnedLocalServer>> {
    let mut owned = Vec::new();
    for root in StateRoot::all_roots()? {
        owned.extend(state::list_owned(&root)?);
    }
    Ok(owned)
}

/// Stops the servers whose owner process is gone and that were not kept, and deletes
/// their folders. Returns the folders removed.
pub async fn reap_stale() -> Result<Vec<PathBuf>> {
    let mut reaped = Vec::new();
    for root in StateRoot::all_roots()? {
        reaped.extend(state::reap_stale(&root).await?);
    }
    Ok(reaped)
}

/// Stops the kept servers (all, or those of one flavour) and deletes their folders.
pub async fn stop_kept(flavour: Option<Flavour>) -> Result<Vec<PathBuf>> {
    let mut stopped = Vec::new();
    for root in StateRoot::all_roots()? {
        stopped.extend(state::stop_kept(&root, flavour).await?);
    }
    Ok(stopped)
}

impl LocalServer {
    /// Reaps stale servers first; finds the binaries; makes a data folder (from a cached
    /// template); starts the server on a free 127.0.0.1 port with durability off; waits
    /// until the admin user can log in. With `keep`, returns the running kept server
    /// instead when there is one.
    pub async fn start(options: &LocalOptions) -> Result<LocalServer> {
        start_in(&StateRoot::default_root()?, options, &Knobs::default()).await
    }

    /// Admin credentials: PostgreSQL's superuser `postgres` (database `postgres`), or
    /// MySQL's `root`, with a random password, over TCP on 127.0.0.1.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// True when a kept server from an earlier run was reused.
    pub fn reused(&self) -> bool {
        self.reused
    }

    pub fn kept(&self) -> bool {
        self.kept
    }

    /// E.g. `local PostgreSQL 15.8 (/usr/lib/postgresql/15/bin) on 127.0.0.1:40123`.
    pub fn describe(&self) -> String {
        self.description.clone()
    }

    /// The server's folder (data, socket, log, server.json).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn server_pid(&self) -> Option<u32> {
        self.server_pid
    }

    /// Stops the server (fast shutdown) and deletes its folder; a kept server stays
    /// running and is only let go.
    pub async fn stop(mut self) -> Result<()> {
        self.finished = true;
        if self.kept {
            // Dropping the handle does not signal the process; tokio collects it if it
            // ends while we still run.
            self.child.take();
            return Ok(());
        }
        if let Some(mut child) = self.child.take() {
            process::stop_child(&mut child, Some(self.flavour), GRACE).await;
        } else if let Some(pid) = self.server_pid
            && process::is_server_of(pid, &self.dir)
        {
            process::stop_pid(pid, Some(self.flavour), GRACE).await;
        }
        process::remove_tree_async(self.dir.clone()).await
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        if self.finished || self.kept {
            return;
        }
        if let Some(child) = self.child.as_mut() {
            process::kill_child_now(child, Some(self.flavour));
        }
        let _ = process::remove_tree(&self.dir);
    }
}

/// Knobs for tests: skip the template, force the first port, add server arguments.
#[derive(Debug, Default, Clone)]
struct Knobs {
    no_template: bool,
    first_port: Option<u16>,
    extra_args: Vec<String>,
}

/// Ports tried before giving up with `PortTaken` (another process may take a free port
/// between our check and the server's bind).
const PORT_ATTEMPTS: usize = 3;
/// A data folder template's layout and options: bump to drop old templates.
const TEMPLATE_FORMAT: &str = "1";

/// Installed server binaries of one flavour.
#[derive(Debug, Clone)]
struct Binaries {
    flavour: Flavour,
    product: &'static str,
    version: String,
    /// Where the server program is (shown to users).
    dir: PathBuf,
    server: PathBuf,
    init: Init,
}

#[derive(Debug, Clone)]
enum Init {
    Initdb(PathBuf),
    InstallDb(PathBuf),
    /// `mysqld --initialize-insecure`.
    Initialize,
}

fn find_binaries(flavour: Flavour) -> Result<Binaries> {
    match flavour {
        Flavour::Postgresql => postgres::find(),
        Flavour::Mysql | Flavour::Mariadb => mysql::find(flavour),
    }
}

/// The unprivileged users a server may run as when we are root, best first.
fn service_users(flavour: Flavour) -> &'static [&'static str] {
    match flavour {
        Flavour::Postgresql => &["postgres"],
        Flavour::Mysql | Flavour::Mariadb => &["mysql"],
    }
}

fn path_dirs() -> Vec<PathBuf> {
    std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .filter(|d| d.is_absolute())
                .collect()
        })
        .unwrap_or_default()
}

fn executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// What `program --version` prints (stdout and stderr).
fn version_output(program: &Path) -> Option<String> {
    let output = std::process::Command::new(program)
        .arg("--version")
        .stdin(std::process::Stdio::null())
        .output()
        .ok()?;
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    Some(text)
}

/// The files of one server's folder.
#[derive(Debug, Clone)]
struct Layout {
    dir: PathBuf,
    data: PathBuf,
    sock: PathBuf,
    log: PathBuf,
    /// MySQL: the pid file, the init file (holds the password until the server is
    /// ready) and the one folder LOAD DATA / SELECT INTO OUTFILE may use.
    pid_file: PathBuf,
    init_file: PathBuf,
    files: PathBuf,
}

impl Layout {
    fn new(dir: &Path) -> Layout {
        Layout {
            dir: dir.to_owned(),
            data: dir.join("data"),
            sock: dir.join("sock"),
            log: dir.join("server.log"),
            // In a folder the server's user owns: it writes the pid file itself.
            pid_file: dir.join("sock").join("mysqld.pid"),
            init_file: dir.join("init.sql"),
            files: dir.join("files"),
        }
    }
}

fn endpoint_for(flavour: Flavour, port: u16, password: &str) -> Endpoint {
    let (engine, user, admin_database) = match flavour {
        Flavour::Postgresql => (Engine::Postgres, "postgres", Some("postgres".to_owned())),
        Flavour::Mysql | Flavour::Mariadb => (Engine::Mysql, "root", None),
    };
    Endpoint {
        engine,
        host: "127.0.0.1".to_owned(),
        port,
        user: user.to_owned(),
        password: Some(password.to_owned()),
        admin_database,
    }
}

/// Kills the server and deletes the folder of a start that did not finish (an error, a
/// panic, or the start future dropped).
struct StartGuard {
    dir: PathBuf,
    flavour: Flavour,
    child: Option<Child>,
    armed: bool,
}

impl StartGuard {
    fn disarm(&mut self) -> Option<Child> {
        self.armed = false;
        self.child.take()
    }
}

impl Drop for StartGuard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if let Some(child) = self.child.as_mut() {
            process::kill_child_now(child, Some(self.flavour));
        }
        let _ = process::remove_tree(&self.dir);
    }
}

/// Deletes a folder when dropped, unless disarmed.
struct RemoveOnDrop(Option<PathBuf>);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(dir) = self.0.take() {
            let _ = process::remove_tree(&dir);
        }
    }
}

async fn start_in(root: &StateRoot, options: &LocalOptions, knobs: &Knobs) -> Result<LocalServer> {
    let flavour = options.flavour;
    // Best effort: a leftover that cannot be removed must not stop this run, but it is
    // said, since it may hold a port, memory or a stale server until removed by hand.
    if let Err(error) = state::reap_stale(root).await {
        eprintln!(
            "alembic-drill: warning: could not remove what a killed run left in {}: {error}",
            root.servers.display()
        );
    }
    let binaries = find_binaries(flavour)?;
    let run_as = process::run_as(service_users(flavour))?;

    let mut _keep_lock = None;
    let dir = if options.keep {
        _keep_lock = Some(process::lock(&root.keep_lock(flavour), LOCK_WAIT).await?);
        let dir = root.keep_dir(flavour);
        if let Some(server) = reuse_kept(&dir, flavour).await? {
            return Ok(server);
        }
        dir
    } else {
        // A run that does not keep its server still uses the one `db start` keeps for
        // this flavour (and leaves it running); under the lock, so that a kept server
        // another process is starting right now is waited for, not taken for dead.
        let dir = root.keep_dir(flavour);
        if dir.exists() {
            let _lock = process::lock(&root.keep_lock(flavour), LOCK_WAIT).await?;
            if let Some(server) = reuse_kept(&dir, flavour).await? {
                return Ok(server);
            }
        }
        root.servers.join(format!(
            "local-{}-{}",
            flavour.as_str(),
            state::random_suffix()
        ))
    };

    process::make_dir(&dir, state::dir_mode(), None)?;
    let mut guard = StartGuard {
        dir: dir.clone(),
        flavour,
        child: None,
        armed: true,
    };
    let mut record = ServerRecord::new(
        flavour,
        binaries.product,
        &binaries.version,
        &binaries.dir,
        options.keep,
    );
    state::write_record(&dir, &record)?;

    let layout = Layout::new(&dir);
    let init_timeout = options.startup_timeout.max(Duration::from_secs(300));
    if knobs.no_template {
        process::make_dir(&layout.data, 0o700, run_as.as_ref())?;
        init_data(&binaries, &layout.data, &dir, run_as.as_ref(), init_timeout).await?;
    } else {
        let template = ensure_template(root, &binaries, run_as.as_ref(), init_timeout).await?;
        process::CopyJob::start(template, layout.data.clone(), run_as.clone())
            .finish()
            .await
            .map_err(|e| ServerError::io("copying the data folder template to", &layout.data, e))?;
    }
    process::make_dir(&layout.sock, 0o700, run_as.as_ref())?;
    let password = random_password();
    if flavour != Flavour::Postgresql {
        process::make_dir(&layout.files, 0o700, run_as.as_ref())?;
        mysql::write_init_file(&layout, &password, run_as.as_ref())?;
    }

    let what = format!(
        "local {} {} ({})",
        binaries.product,
        binaries.version,
        binaries.dir.display()
    );
    let mut port = 0;
    for attempt in 0..PORT_ATTEMPTS {
        port = match (attempt, knobs.first_port) {
            (0, Some(first)) => first,
            _ => process::free_port()?,
        };
        let endpoint = endpoint_for(flavour, port, &password);
        let _ = std::fs::remove_file(&layout.log);
        let mut cmd = match flavour {
            Flavour::Postgresql => postgres::command(&binaries, &layout, port, run_as.as_ref())?,
            _ => mysql::command(&binaries, &layout, port, run_as.as_ref())?,
        };
        cmd.args(&knobs.extra_args);
        let child = guard
            .child
            .insert(process::spawn(&mut cmd, &what, &binaries.server)?);
        record.server_pid = child.id();
        record.port = Some(port);
        state::write_record(&dir, &record)?;
        let mut readiness = Readiness {
            flavour,
            socket_dir: layout.sock.clone(),
            port,
            password: password.clone(),
            password_set: false,
        };
        match wait_ready(
            child,
            &mut readiness,
            &endpoint,
            &what,
            options.startup_timeout,
            &layout.log,
        )
        .await
        {
            Ok(()) => {
                let _ = std::fs::remove_file(&layout.init_file);
                record.endpoint = Some(endpoint.clone());
                state::write_record(&dir, &record)?;
                let child = guard.disarm();
                return Ok(LocalServer {
                    dir,
                    flavour,
                    endpoint,
                    description: record.describe(),
                    kept: options.keep,
                    reused: false,
                    server_pid: record.server_pid,
                    child,
                    finished: false,
                });
            }
            Err(Failure::PortTaken) => {
                if let Some(mut child) = guard.child.take() {
                    process::stop_child(&mut child, Some(flavour), GRACE).await;
                }
            }
            Err(Failure::Error(error)) => return Err(error),
        }
    }
    Err(ServerError::PortTaken { port })
}

/// The kept server of `dir` to reuse, if one runs there. What a kept server that died left
/// (a reboot, a killed server) is removed, and None says to start afresh: its port may
/// belong to someone else by now, so it is never tried. A kept server that runs but does
/// not accept its login is refused with one line, never stopped: other runs may be using
/// it (a login that times out on a loaded machine is no proof of death).
async fn reuse_kept(dir: &Path, flavour: Flavour) -> Result<Option<LocalServer>> {
    if !dir.exists() {
        return Ok(None);
    }
    let record = state::read_record(dir);
    let Some(pid) = state::server_pid_of(dir, record.as_ref()) else {
        state::destroy(dir, record.as_ref()).await?;
        eprintln!(
            "alembic-drill: the kept local {} server was gone (its process ended); removed \
             what it left and starting a new one",
            flavour.as_str()
        );
        return Ok(None);
    };
    if let Some(server) = reuse(dir, record.as_ref(), flavour, pid).await {
        return Ok(Some(server));
    }
    Err(ServerError::Other(format!(
        "the kept local {} server (pid {pid}, {}) runs but does not accept alembic-drill's \
         login; stop it with `alembic-drill db stop --database local:{}` and try again",
        flavour.as_str(),
        dir.display(),
        flavour.as_str()
    )))
}

/// The running kept server of `dir`, if it is ours to reuse and accepts its login.
async fn reuse(
    dir: &Path,
    record: Option<&ServerRecord>,
    flavour: Flavour,
    pid: u32,
) -> Option<LocalServer> {
    let record = record?;
    if !record.kept || record.flavour() != Some(flavour) {
        return None;
    }
    let endpoint = record.endpoint.clone()?;
    match tokio::time::timeout(Duration::from_secs(5), try_login(&endpoint)).await {
        Ok(Ok(())) => {}
        _ => return None,
    }
    Some(LocalServer {
        dir: dir.to_owned(),
        flavour,
        endpoint,
        description: format!("{}, reused", record.describe()),
        kept: true,
        reused: true,
        server_pid: Some(pid),
        child: None,
        finished: false,
    })
}

async fn init_data(
    binaries: &Binaries,
    data: &Path,
    work: &Path,
    run_as: Option<&RunAs>,
    timeout: Duration,
) -> Result<()> {
    match binaries.flavour {
        Flavour::Postgresql => postgres::init_data(binaries, data, work, run_as, timeout).await,
        Flavour::Mysql | Flavour::Mariadb => {
            mysql::init_data(binaries, data, work, run_as, timeout).await
        }
    }
}

/// The data folder template for these binaries, made once (under a lock, so parallel
/// runs wait for one build) and then only copied.
async fn ensure_template(
    root: &StateRoot,
    binaries: &Binaries,
    run_as: Option<&RunAs>,
    timeout: Duration,
) -> Result<PathBuf> {
    let binaries_hash = format!(
        "{:016x}",
        state::fnv1a(&[
            binaries.server.as_os_str().as_bytes(),
            TEMPLATE_FORMAT.as_bytes()
        ])
    );
    let version: String = binaries
        .version
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let name = format!("{}-{version}-{binaries_hash}", binaries.flavour.as_str());
    let dir = root.templates.join(&name);
    let (data, ready) = (dir.join("data"), dir.join("ready"));
    if ready.exists() {
        return Ok(data);
    }
    let _lock = process::lock(&root.templates.join(format!("{name}.lock")), LOCK_WAIT).await?;
    if ready.exists() {
        return Ok(data);
    }
    let work = state::template_work_dir(root)?;
    let mut work_guard = RemoveOnDrop(Some(work.clone()));
    let work_data = work.join("data");
    process::make_dir(&work_data, 0o700, run_as)?;
    init_data(binaries, &work_data, &work, run_as, timeout).await?;
    let _ = std::fs::remove_file(work.join("init.log"));
    std::fs::write(work.join("ready"), &binaries.version)
        .map_err(|e| ServerError::io("writing", work.join("ready"), e))?;
    process::remove_tree(&dir)?;
    std::fs::rename(&work, &dir).map_err(|e| ServerError::io("renaming a template to", &dir, e))?;
    work_guard.0 = None;
    state::prune_templates(root, &name, &format!("-{binaries_hash}"));
    Ok(data)
}

/// What a server needs before its admin login works: PostgreSQL's superuser gets its
/// password through the socket; MySQL's init file did it before the server listened.
struct Readiness {
    flavour: Flavour,
    socket_dir: PathBuf,
    port: u16,
    password: String,
    password_set: bool,
}

impl Readiness {
    async fn probe(&mut self, endpoint: &Endpoint) -> std::result::Result<(), String> {
        if self.flavour == Flavour::Postgresql && !self.password_set {
            postgres::set_password(&self.socket_dir, self.port, &self.password).await?;
            self.password_set = true;
        }
        try_login(endpoint).await.map_err(|e| e.to_string())
    }
}

enum Failure {
    /// The server could not bind its port: try another.
    PortTaken,
    Error(ServerError),
}

/// Waits until the admin login works, the server exits, or `timeout` passes. The server
/// is watched while a login is tried: a login to a port someone else holds may hang.
async fn wait_ready(
    child: &mut Child,
    readiness: &mut Readiness,
    endpoint: &Endpoint,
    what: &str,
    timeout: Duration,
    log: &Path,
) -> std::result::Result<(), Failure> {
    let start = Instant::now();
    let mut last_attempt = String::from("none yet");
    loop {
        let left = timeout.saturating_sub(start.elapsed());
        if left.is_zero() {
            let mut log_tail = process::log_tail(log, 20);
            log_tail.push(format!("last login attempt: {last_attempt}"));
            return Err(Failure::Error(ServerError::StartupTimeout {
                what: what.to_owned(),
                seconds: timeout.as_secs(),
                log_tail,
            }));
        }
        let attempt =
            tokio::time::timeout(left.min(Duration::from_secs(5)), readiness.probe(endpoint));
        tokio::select! {
            status = child.wait() => return Err(exited(status, what, log)),
            outcome = attempt => match outcome {
                Ok(Ok(())) => return Ok(()),
                Ok(Err(error)) => last_attempt = error,
                Err(_) => last_attempt = "no answer".to_owned(),
            },
        }
        tokio::select! {
            status = child.wait() => return Err(exited(status, what, log)),
            () = tokio::time::sleep(Duration::from_millis(20).min(left)) => {}
        }
    }
}

/// Why a server exited during startup: its port was taken (try another), or its log says.
fn exited(status: std::io::Result<std::process::ExitStatus>, what: &str, log: &Path) -> Failure {
    let status = match status {
        Ok(status) => status,
        Err(e) => return Failure::Error(ServerError::io("waiting for the server of", log, e)),
    };
    let mut log_tail = process::log_tail(log, 20);
    if log_tail.iter().any(|l| l.contains("already in use")) {
        return Failure::PortTaken;
    }
    log_tail.push(format!("({status})"));
    Failure::Error(ServerError::StartupFailed {
        what: what.to_owned(),
        log_tail,
    })
}
