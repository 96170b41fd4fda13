//! Processes and files for local servers: the unprivileged user a server runs as when
//! alembic-drill is root, signals, liveness through /proc, file locks, free ports,
//! copying a data folder, log tails.

use std::ffi::CString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

use crate::servers::error::{Result, ServerError};
use crate::servers::ownership::process_alive;
use crate::servers::spec::Flavour;

/// The unprivileged user a server runs as when alembic-drill runs as root: PostgreSQL
/// refuses to run as root, and mysqld wants `--user` there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RunAs {
    pub uid: u32,
    pub gid: u32,
    pub name: String,
}

pub(super) fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// None when we are not root (the server runs as ourselves); else the first of
/// `preferred` that exists, or `nobody`.
pub(super) fn run_as(preferred: &[&str]) -> Result<Option<RunAs>> {
    if !is_root() {
        return Ok(None);
    }
    preferred
        .iter()
        .chain(["nobody"].iter())
        .find_map(|name| lookup_user(name))
        .map(Some)
        .ok_or_else(|| {
            ServerError::Other(format!(
                "alembic-drill runs as root, and a database server must not: no unprivileged \
                 user ({} or nobody) exists to run it as; create one or run as a normal user",
                preferred.join(", ")
            ))
        })
}

fn lookup_user(name: &str) -> Option<RunAs> {
    let c_name = CString::new(name).ok()?;
    // SAFETY: getpwnam_r writes only into `pwd` and `buf`, both sized as passed; the
    // strings it points `pwd` at live in `buf`, which outlives their use here.
    unsafe {
        let mut pwd: libc::passwd = std::mem::zeroed();
        let mut buf = vec![0 as libc::c_char; 16 * 1024];
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        let rc = libc::getpwnam_r(
            c_name.as_ptr(),
            &mut pwd,
            buf.as_mut_ptr(),
            buf.len(),
            &mut result,
        );
        if rc != 0 || result.is_null() || pwd.pw_uid == 0 {
            return None;
        }
        Some(RunAs {
            uid: pwd.pw_uid,
            gid: pwd.pw_gid,
            name: name.to_owned(),
        })
    }
}

/// Hands a path to the server's user (no-op when we are not root).
pub(super) fn give(path: &Path, run_as: Option<&RunAs>) -> Result<()> {
    if let Some(user) = run_as {
        std::os::unix::fs::lchown(path, Some(user.uid), Some(user.gid))
            .map_err(|e| ServerError::io("changing the owner of", path, e))?;
    }
    Ok(())
}

/// Creates a folder with `mode` (exactly, whatever the umask) owned by the server's user.
pub(super) fn make_dir(path: &Path, mode: u32, run_as: Option<&RunAs>) -> Result<()> {
    fs::DirBuilder::new()
        .mode(mode)
        .create(path)
        .map_err(|e| ServerError::io("creating", path, e))?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(|e| ServerError::io("setting the permissions of", path, e))?;
    give(path, run_as)
}

/// Writes a file only its owner may read (it may hold a password).
pub(super) fn write_private(path: &Path, contents: &[u8], run_as: Option<&RunAs>) -> Result<()> {
    use std::io::Write;
    let _ = fs::remove_file(path);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| ServerError::io("creating", path, e))?;
    file.write_all(contents)
        .map_err(|e| ServerError::io("writing", path, e))?;
    give(path, run_as)
}

/// A command for one of the server's programs: a clean environment (no PG*/MYSQL_*
/// variables, UTC, C locale), our user or the server's, its own process group (a
/// terminal's Ctrl-C reaches us, not the server; a kept server outlives us), stdin closed
/// and output into `log`.
pub(super) fn command(
    program: &Path,
    run_as: Option<&RunAs>,
    home: &Path,
    log: &Path,
) -> Result<Command> {
    let file = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(log)
        .map_err(|e| ServerError::io("creating", log, e))?;
    let stderr = file
        .try_clone()
        .map_err(|e| ServerError::io("opening", log, e))?;
    let mut cmd = Command::new(program);
    cmd.env_clear();
    for kept in ["PATH", "LD_LIBRARY_PATH"] {
        if let Some(value) = std::env::var_os(kept) {
            cmd.env(kept, value);
        }
    }
    let user = match run_as {
        Some(user) => user.name.clone(),
        None => std::env::var("USER").unwrap_or_default(),
    };
    cmd.env("HOME", home)
        .env("USER", user)
        .env("TZ", "UTC")
        .env("LC_ALL", "C")
        .env("LANG", "C");
    if let Some(user) = run_as {
        cmd.uid(user.uid).gid(user.gid);
    }
    cmd.current_dir(home)
        .stdin(Stdio::null())
        .stdout(Stdio::from(file))
        .stderr(Stdio::from(stderr))
        .process_group(0)
        .kill_on_drop(false);
    Ok(cmd)
}

pub(super) fn spawn(cmd: &mut Command, what: &str, program: &Path) -> Result<Child> {
    cmd.spawn().map_err(|e| {
        ServerError::Other(format!("cannot run {} for {what}: {e}", program.display()))
    })
}

/// The last `count` lines of a log (reads at most its last 64 KiB).
pub(super) fn log_tail(path: &Path, count: usize) -> Vec<String> {
    let Ok(mut file) = File::open(path) else {
        return Vec::new();
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = file.seek(SeekFrom::Start(len.saturating_sub(64 * 1024)));
    let mut bytes = Vec::new();
    let _ = file.read_to_end(&mut bytes);
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(count)..]
        .iter()
        .map(|l| (*l).to_owned())
        .collect()
}

/// The signal that shuts a server down quickly but cleanly: PostgreSQL's "fast" shutdown
/// is SIGINT (SIGTERM would wait for clients to leave); mysqld shuts down on SIGTERM.
pub(super) fn shutdown_signal(flavour: Option<Flavour>) -> libc::c_int {
    match flavour {
        Some(Flavour::Postgresql) => libc::SIGINT,
        _ => libc::SIGTERM,
    }
}

/// The signal that ends a server at once when its data is thrown away anyway:
/// PostgreSQL's "immediate" shutdown (SIGQUIT) also ends its child processes.
fn immediate_signal(flavour: Option<Flavour>) -> libc::c_int {
    match flavour {
        Some(Flavour::Postgresql) => libc::SIGQUIT,
        _ => libc::SIGKILL,
    }
}

pub(super) fn signal(pid: u32, signal: libc::c_int) {
    if let Ok(pid) = libc::pid_t::try_from(pid)
        && pid > 0
    {
        // SAFETY: kill has no memory effects; a vanished pid only yields ESRCH.
        unsafe {
            libc::kill(pid, signal);
        }
    }
}

/// SIGKILL for the process and, when it leads one, its process group (the shell script
/// mariadb-install-db runs mariadbd as a child).
pub(super) fn kill_hard(pid: u32) {
    if let Ok(pid) = libc::pid_t::try_from(pid)
        && pid > 0
    {
        // SAFETY: as in `signal`.
        unsafe {
            if libc::getpgid(pid) == pid {
                libc::kill(-pid, libc::SIGKILL);
            }
            libc::kill(pid, libc::SIGKILL);
        }
    }
}

/// The state letter and start time (clock ticks since boot) from /proc/PID/stat.
fn proc_stat(pid: u32) -> Option<(char, u64)> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold anything: parse after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let state = fields.first()?.chars().next()?;
    let start = fields.get(19)?.parse().ok()?;
    Some((state, start))
}

fn have_proc() -> bool {
    Path::new("/proc/self/stat").exists()
}

/// True while the process exists and is not a zombie (a server we killed stays a zombie
/// until its parent, maybe this process, collects it).
pub(crate) fn running(pid: u32) -> bool {
    if !process_alive(pid) {
        return false;
    }
    match proc_stat(pid) {
        Some((state, _)) => !matches!(state, 'Z' | 'X' | 'x'),
        // Exists, but /proc hides it (hidepid) or is not there: trust kill(0).
        None => true,
    }
}

/// When the process started (None where /proc is not there): with the pid, tells a live
/// owner from a new process that got a dead owner's pid.
pub(crate) fn start_time(pid: u32) -> Option<u64> {
    proc_stat(pid).map(|(_, start)| start)
}

/// True while `pid` is running and is the server of `folder`: its command line names the
/// folder, or it works inside it. A recorded pid may have been given to another process
/// since: that one must never be signalled.
pub(super) fn is_server_of(pid: u32, folder: &Path) -> bool {
    if !running(pid) {
        return false;
    }
    if !have_proc() {
        return true;
    }
    let proc = PathBuf::from(format!("/proc/{pid}"));
    let needle = folder.as_os_str().as_bytes();
    if let Ok(cmdline) = fs::read(proc.join("cmdline"))
        && cmdline.windows(needle.len()).any(|w| w == needle)
    {
        return true;
    }
    let canonical = fs::canonicalize(folder).unwrap_or_else(|_| folder.to_owned());
    fs::read_link(proc.join("cwd")).is_ok_and(|cwd| cwd.starts_with(&canonical))
}

/// Shuts down a server we did not start in this process: the shutdown signal, then
/// SIGKILL after `grace`. Returns once it is gone (or after one more second).
pub(super) async fn stop_pid(pid: u32, flavour: Option<Flavour>, grace: Duration) {
    signal(pid, shutdown_signal(flavour));
    if wait_gone(pid, grace).await {
        return;
    }
    kill_hard(pid);
    wait_gone(pid, Duration::from_secs(1)).await;
}

async fn wait_gone(pid: u32, within: Duration) -> bool {
    let start = Instant::now();
    loop {
        if !running(pid) {
            return true;
        }
        if start.elapsed() >= within {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Shuts down a server we started: the shutdown signal, then SIGKILL after `grace`.
pub(super) async fn stop_child(child: &mut Child, flavour: Option<Flavour>, grace: Duration) {
    let Some(pid) = child.id() else {
        return; // already collected
    };
    signal(pid, shutdown_signal(flavour));
    if tokio::time::timeout(grace, child.wait()).await.is_err() {
        kill_hard(pid);
        let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
    }
}

/// Ends a child at once without awaiting (for `Drop` and failed starts): the immediate
/// signal, up to 5 s for it to exit, then SIGKILL.
pub(super) fn kill_child_now(child: &mut Child, flavour: Option<Flavour>) {
    let Some(pid) = child.id() else {
        return;
    };
    signal(pid, immediate_signal(flavour));
    let start = Instant::now();
    let mut killed = false;
    loop {
        if !matches!(child.try_wait(), Ok(None)) {
            return;
        }
        if !killed && start.elapsed() > Duration::from_secs(5) {
            kill_hard(pid);
            killed = true;
        }
        if start.elapsed() > Duration::from_secs(7) {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A free TCP port on 127.0.0.1 (free now: the caller retries if it is taken before the
/// server binds it).
pub(super) fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))
        .map_err(|e| ServerError::io("binding a port on", "127.0.0.1", e))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| ServerError::io("binding a port on", "127.0.0.1", e))
}

/// An exclusive `flock` on a file, held until dropped. Locks between processes (and
/// between tasks of one process: each lock opens the file anew).
#[derive(Debug)]
pub(super) struct FileLock {
    _file: File,
}

pub(super) async fn lock(path: &Path, within: Duration) -> Result<FileLock> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(|e| ServerError::io("opening the lock", path, e))?;
    let start = Instant::now();
    loop {
        // SAFETY: flock on an fd we own; no memory effects.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc == 0 {
            return Ok(FileLock { _file: file });
        }
        let error = io::Error::last_os_error();
        if error.raw_os_error() != Some(libc::EWOULDBLOCK)
            && error.kind() != io::ErrorKind::Interrupted
        {
            return Err(ServerError::io("locking", path, error));
        }
        if start.elapsed() > within {
            return Err(ServerError::Other(format!(
                "another alembic-drill process has held {} for {}s; is one stuck?",
                path.display(),
                within.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Copies a folder tree keeping permission bits, owned by the server's user (by us when
/// `run_as` is None). Sockets and other special files are skipped. Stops early once
/// `cancel` is set.
fn copy_tree(
    from: &Path,
    to: &Path,
    run_as: Option<&RunAs>,
    cancel: &AtomicBool,
) -> io::Result<()> {
    let mode = fs::symlink_metadata(from)?.mode() & 0o7777;
    fs::DirBuilder::new().mode(mode).create(to)?;
    fs::set_permissions(to, fs::Permissions::from_mode(mode))?;
    chown(to, run_as)?;
    for entry in fs::read_dir(from)? {
        if cancel.load(Ordering::Relaxed) {
            return Err(io::Error::other("copy abandoned"));
        }
        let entry = entry?;
        let kind = entry.file_type()?;
        let (source, target) = (entry.path(), to.join(entry.file_name()));
        if kind.is_dir() {
            copy_tree(&source, &target, run_as, cancel)?;
        } else if kind.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(&source)?, &target)?;
            chown(&target, run_as)?;
        } else if kind.is_file() {
            fs::copy(&source, &target)?;
            chown(&target, run_as)?;
        }
    }
    Ok(())
}

fn chown(path: &Path, run_as: Option<&RunAs>) -> io::Result<()> {
    match run_as {
        Some(user) => std::os::unix::fs::lchown(path, Some(user.uid), Some(user.gid)),
        None => Ok(()),
    }
}

/// Removes a folder tree; one that is already gone is fine.
pub(super) fn remove_tree(path: &Path) -> Result<()> {
    match fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound || !path.exists() => Ok(()),
        Err(e) => Err(ServerError::io("removing", path, e)),
    }
}

pub(super) async fn remove_tree_async(path: PathBuf) -> Result<()> {
    tokio::task::spawn_blocking(move || remove_tree(&path))
        .await
        .map_err(|e| ServerError::Other(format!("removing a folder: {e}")))?
}

/// Runs a program to its end within `timeout` (initdb, mariadb-install-db): a failure
/// carries the last lines of its log. If this future is dropped or times out, the
/// program's whole process group is killed (initdb and install-db run a server child).
pub(super) async fn run_to_end(
    mut cmd: Command,
    what: &str,
    program: &Path,
    log: &Path,
    timeout: Duration,
) -> Result<()> {
    let mut running = GroupGuard(Some(spawn(&mut cmd, what, program)?));
    let child = running.0.as_mut().expect("just spawned");
    let outcome = tokio::time::timeout(timeout, child.wait()).await;
    match outcome {
        Ok(Ok(status)) => {
            running.0 = None;
            if status.success() {
                Ok(())
            } else {
                Err(ServerError::StartupFailed {
                    what: format!("{what} ({status})"),
                    log_tail: log_tail(log, 20),
                })
            }
        }
        Ok(Err(e)) => Err(ServerError::io("waiting for", program, e)),
        Err(_) => {
            drop(running);
            Err(ServerError::StartupTimeout {
                what: what.to_owned(),
                seconds: timeout.as_secs(),
                log_tail: log_tail(log, 20),
            })
        }
    }
}

/// Kills a child's process group when dropped, and waits (briefly) for the child.
struct GroupGuard(Option<Child>);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        let Some(child) = self.0.as_mut() else {
            return;
        };
        if let Some(pid) = child.id() {
            kill_hard(pid);
        }
        let start = Instant::now();
        while matches!(child.try_wait(), Ok(None)) && start.elapsed() < Duration::from_secs(2) {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// A folder tree being copied on a thread of its own. Dropping the job (the start was
/// abandoned) stops the copy and waits for the thread, so that nothing writes into the
/// folder once its owner deletes it.
pub(super) struct CopyJob {
    cancel: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<io::Result<()>>>,
    done: Option<tokio::sync::oneshot::Receiver<()>>,
}

impl CopyJob {
    pub fn start(from: PathBuf, to: PathBuf, run_as: Option<RunAs>) -> CopyJob {
        let cancel = Arc::new(AtomicBool::new(false));
        let (done_tx, done) = tokio::sync::oneshot::channel();
        let stop = Arc::clone(&cancel);
        let thread = std::thread::spawn(move || {
            let result = copy_tree(&from, &to, run_as.as_ref(), &stop);
            let _ = done_tx.send(());
            result
        });
        CopyJob {
            cancel,
            thread: Some(thread),
            done: Some(done),
        }
    }

    pub async fn finish(mut self) -> io::Result<()> {
        if let Some(done) = self.done.take() {
            let _ = done.await;
        }
        match self.thread.take().map(std::thread::JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(io::Error::other("the copying thread panicked")),
            None => Ok(()),
        }
    }
}

impl Drop for CopyJob {
    fn drop(&mut self) {
        if let Some(thread) = self.thread.take() {
            self.cancel.store(true, Ordering::Relaxed);
            let _ = thread.join();
        }
    }
}

/// The modification age of a path (zero when unknown).
pub(super) fn age(path: &Path) -> Duration {
    fs::symlink_metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_tail_keeps_the_last_lines() {
        let dir = std::env::temp_dir().join(format!("ad-tail-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let log = dir.join("log");
        let text: String = (1..=30).map(|i| format!("line {i}\n\n")).collect();
        fs::write(&log, text).unwrap();
        let tail = log_tail(&log, 3);
        assert_eq!(tail, vec!["line 28", "line 29", "line 30"]);
        assert!(log_tail(&dir.join("missing"), 3).is_empty());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn this_process_is_running_and_has_a_start_time() {
        let pid = std::process::id();
        assert!(running(pid));
        assert!(start_time(pid).is_some());
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        assert!(!running(dead));
        assert!(!is_server_of(dead, Path::new("/")));
    }

    #[test]
    fn a_free_port_is_nonzero() {
        assert_ne!(free_port().unwrap(), 0);
    }

    #[tokio::test]
    async fn locks_exclude_each_other() {
        let path = std::env::temp_dir().join(format!("ad-lock-{}", std::process::id()));
        let held = lock(&path, Duration::from_secs(1)).await.unwrap();
        let err = lock(&path, Duration::from_millis(100)).await.unwrap_err();
        assert!(err.to_string().contains("held"), "{err}");
        drop(held);
        lock(&path, Duration::from_secs(1)).await.unwrap();
        let _ = fs::remove_file(&path);
    }
}
