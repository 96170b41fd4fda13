//! The state root: one folder per local server (`local-<flavour>-<random>`, or
//! `local-<flavour>-keep`) holding its data, socket, log and a `server.json` that says who
//! owns it, so that the next run finds and reaps what a killed run left behind; and the
//! data folder templates, one per binaries version.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::OwnedLocalServer;
use super::process;
use crate::servers::endpoint::Endpoint;
use crate::servers::error::{Result, ServerError};
use crate::servers::ownership::{process_alive, this_process};
use crate::servers::spec::Flavour;

pub(super) const RECORD: &str = "server.json";
/// A server folder without a readable record this old is debris of a crash between
/// creating the folder and writing the record.
const ORPHAN_AGE: Duration = Duration::from_secs(120);
/// How long a server gets to shut down before SIGKILL.
pub(super) const GRACE: Duration = Duration::from_secs(5);
/// How long to wait for another process's lock (a template being made, a kept server
/// being started).
pub(super) const LOCK_WAIT: Duration = Duration::from_secs(600);

/// Where servers' folders and templates live.
#[derive(Debug, Clone)]
pub(super) struct StateRoot {
    pub servers: PathBuf,
    pub templates: PathBuf,
}

impl StateRoot {
    /// `/dev/shm/alembic-drill-<uid>` where /dev/shm is a large tmpfs (data folders copy
    /// and servers start several times faster in memory than on disk), else
    /// `<temp dir>/alembic-drill-<uid>`: per user, the same for every run on a machine;
    /// or the folder `ALEMBIC_DRILL_STATE_DIR` names.
    pub fn default_root() -> Result<StateRoot> {
        StateRoot::at_base(bases().swap_remove(0))
    }

    /// Every root that may hold this user's servers: the default one, and the other
    /// candidate if it exists (so nothing is orphaned if /dev/shm changes).
    pub fn all_roots() -> Result<Vec<StateRoot>> {
        let mut bases = bases().into_iter();
        let mut roots = vec![StateRoot::at_base(
            bases.next().expect("one base at least"),
        )?];
        roots.extend(
            bases
                .filter(|base| base.is_dir())
                .filter_map(|base| StateRoot::at_base(base).ok()),
        );
        Ok(roots)
    }

    fn at_base(base: PathBuf) -> Result<StateRoot> {
        StateRoot::at(base.clone(), base.join("templates"))
    }

    pub fn at(servers: PathBuf, templates: PathBuf) -> Result<StateRoot> {
        ensure_own_dir(&servers)?;
        ensure_own_dir(&templates)?;
        Ok(StateRoot { servers, templates })
    }

    /// The folders of servers (running or debris), sorted.
    pub fn server_dirs(&self) -> Result<Vec<PathBuf>> {
        let entries = match fs::read_dir(&self.servers) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(ServerError::io("listing", &self.servers, e)),
        };
        let mut dirs: Vec<PathBuf> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with("local-"))
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.path())
            .collect();
        dirs.sort();
        Ok(dirs)
    }

    pub fn keep_dir(&self, flavour: Flavour) -> PathBuf {
        self.servers
            .join(format!("local-{}-keep", flavour.as_str()))
    }

    pub fn keep_lock(&self, flavour: Flavour) -> PathBuf {
        self.servers.join(format!("keep-{}.lock", flavour.as_str()))
    }
}

/// Names a state root to use instead of the default ones (tests give each run its own, so
/// that runs side by side never list, reuse, reap or stop each other's servers).
const STATE_DIR_VAR: &str = "ALEMBIC_DRILL_STATE_DIR";

/// Where state roots may be, preferred first: only `ALEMBIC_DRILL_STATE_DIR` when set.
fn bases() -> Vec<PathBuf> {
    if let Some(dir) = std::env::var_os(STATE_DIR_VAR).filter(|dir| !dir.is_empty()) {
        return vec![PathBuf::from(dir)];
    }
    // SAFETY: geteuid has no preconditions.
    let name = format!("alembic-drill-{}", unsafe { libc::geteuid() });
    let mut bases = Vec::new();
    if large_tmpfs(Path::new("/dev/shm")) {
        bases.push(Path::new("/dev/shm").join(&name));
    }
    bases.push(std::env::temp_dir().join(&name));
    bases
}

/// A tmpfs of at least 2 GiB (Docker's default /dev/shm of 64 MiB is not).
#[cfg(target_os = "linux")]
fn large_tmpfs(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    const TMPFS_MAGIC: i64 = 0x0102_1994;
    let Ok(c_path) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: statfs writes only into `stat`, which is sized for it.
    let mut stat: libc::statfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statfs(c_path.as_ptr(), &mut stat) } != 0 {
        return false;
    }
    let size = (stat.f_blocks as u64).saturating_mul(stat.f_bsize as u64);
    #[allow(clippy::unnecessary_cast)]
    let is_tmpfs = stat.f_type as i64 == TMPFS_MAGIC;
    is_tmpfs && size >= 2 << 30
}

#[cfg(not(target_os = "linux"))]
fn large_tmpfs(_path: &Path) -> bool {
    false
}

/// Folders only we can change; traversable by others when we are root, for the server's
/// unprivileged user to reach its own data folder inside.
pub(super) fn dir_mode() -> u32 {
    if process::is_root() { 0o711 } else { 0o700 }
}

fn ensure_own_dir(path: &Path) -> Result<()> {
    if let Some(parent) = path.parent()
        && !parent.exists()
    {
        fs::create_dir_all(parent).map_err(|e| ServerError::io("creating", parent, e))?;
    }
    match process::make_dir(path, dir_mode(), None) {
        Ok(()) => return Ok(()),
        Err(_) if path.is_dir() => {}
        Err(e) => return Err(e),
    }
    let meta = fs::symlink_metadata(path).map_err(|e| ServerError::io("reading", path, e))?;
    // SAFETY: geteuid has no preconditions.
    let uid = unsafe { libc::geteuid() };
    if !meta.is_dir() || meta.uid() != uid {
        return Err(ServerError::Other(format!(
            "{} is not a folder of this user (uid {uid}); alembic-drill keeps its local \
             servers' state there: remove it",
            path.display()
        )));
    }
    if meta.mode() & 0o7777 != dir_mode() {
        fs::set_permissions(path, fs::Permissions::from_mode(dir_mode()))
            .map_err(|e| ServerError::io("setting the permissions of", path, e))?;
    }
    Ok(())
}

/// What `server.json` holds (mode 0600: it has the password).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct ServerRecord {
    pub flavour: String,
    pub product: String,
    pub version: String,
    pub binaries: PathBuf,
    pub owner_pid: u32,
    /// The owner's start time (/proc ticks): a new process with a dead owner's pid is
    /// not the owner.
    #[serde(default)]
    pub owner_start: Option<u64>,
    pub owner_run_id: String,
    pub owner_host: String,
    #[serde(default)]
    pub server_pid: Option<u32>,
    #[serde(default)]
    pub port: Option<u16>,
    pub kept: bool,
    #[serde(default)]
    pub endpoint: Option<Endpoint>,
    pub created: u64,
}

impl ServerRecord {
    pub fn new(
        flavour: Flavour,
        product: &str,
        version: &str,
        binaries: &Path,
        kept: bool,
    ) -> Self {
        let owner = this_process();
        ServerRecord {
            flavour: flavour.as_str().to_owned(),
            product: product.to_owned(),
            version: version.to_owned(),
            binaries: binaries.to_owned(),
            owner_pid: owner.pid,
            owner_start: process::start_time(owner.pid),
            owner_run_id: owner.run_id.clone(),
            owner_host: owner.host.clone(),
            server_pid: None,
            port: None,
            kept,
            endpoint: None,
            created: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        }
    }

    pub fn flavour(&self) -> Option<Flavour> {
        flavour_named(&self.flavour)
    }

    /// Whether the process that started the server may still use it. A record from
    /// another host (a shared temp folder) counts as alive: we cannot tell.
    pub fn owner_alive(&self) -> bool {
        if self.owner_host != this_process().host {
            return true;
        }
        if !process::running(self.owner_pid) {
            return false;
        }
        match (self.owner_start, process::start_time(self.owner_pid)) {
            (Some(recorded), Some(now)) => recorded == now,
            _ => process_alive(self.owner_pid),
        }
    }

    pub fn describe(&self) -> String {
        let at = match (&self.endpoint, self.port) {
            (Some(e), _) => format!(" on {}:{}", e.host, e.port),
            (None, Some(port)) => format!(" on 127.0.0.1:{port}"),
            (None, None) => String::new(),
        };
        let kept = if self.kept { ", kept" } else { "" };
        format!(
            "local {} {} ({}){at}{kept}",
            self.product,
            self.version,
            self.binaries.display()
        )
    }
}

pub(super) fn flavour_named(name: &str) -> Option<Flavour> {
    match name {
        "postgresql" => Some(Flavour::Postgresql),
        "mysql" => Some(Flavour::Mysql),
        "mariadb" => Some(Flavour::Mariadb),
        _ => None,
    }
}

/// The flavour a folder's name says (`local-<flavour>-...`).
fn flavour_of_dir(dir: &Path) -> Option<Flavour> {
    let name = dir.file_name()?.to_str()?;
    flavour_named(name.strip_prefix("local-")?.split('-').next()?)
}

pub(super) fn write_record(dir: &Path, record: &ServerRecord) -> Result<()> {
    let json = serde_json::to_vec_pretty(record)
        .map_err(|e| ServerError::Other(format!("encoding {RECORD}: {e}")))?;
    let temporary = dir.join(format!(".{RECORD}.tmp"));
    process::write_private(&temporary, &json, None)?;
    let path = dir.join(RECORD);
    fs::rename(&temporary, &path).map_err(|e| ServerError::io("writing", path, e))
}

pub(super) fn read_record(dir: &Path) -> Option<ServerRecord> {
    let bytes = fs::read(dir.join(RECORD)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The server's pid as its own pid file says (for a crash between starting the server and
/// recording its pid).
fn pid_from_pidfile(dir: &Path, flavour: Option<Flavour>) -> Option<u32> {
    let layout = super::Layout::new(dir);
    let file = match flavour {
        Some(Flavour::Postgresql) => layout.data.join("postmaster.pid"),
        _ => layout.pid_file,
    };
    fs::read_to_string(file)
        .ok()?
        .lines()
        .next()?
        .trim()
        .parse()
        .ok()
}

/// The running server of a folder, if any: the recorded pid or the pid file's, and only
/// while that process is the folder's server.
pub(super) fn server_pid_of(dir: &Path, record: Option<&ServerRecord>) -> Option<u32> {
    let flavour = record
        .and_then(ServerRecord::flavour)
        .or_else(|| flavour_of_dir(dir));
    [
        record.and_then(|r| r.server_pid),
        pid_from_pidfile(dir, flavour),
    ]
    .into_iter()
    .flatten()
    .find(|pid| process::is_server_of(*pid, dir))
}

/// Stops a folder's server (if one runs) and deletes the folder.
pub(super) async fn destroy(dir: &Path, record: Option<&ServerRecord>) -> Result<()> {
    let flavour = record
        .and_then(ServerRecord::flavour)
        .or_else(|| flavour_of_dir(dir));
    if let Some(pid) = server_pid_of(dir, record) {
        process::stop_pid(pid, flavour, GRACE).await;
    }
    process::remove_tree_async(dir.to_owned()).await
}

pub(super) fn list_owned(root: &StateRoot) -> Result<Vec<OwnedLocalServer>> {
    Ok(root
        .server_dirs()?
        .into_iter()
        .map(|dir| {
            let record = read_record(&dir);
            let server_pid = server_pid_of(&dir, record.as_ref());
            match record {
                Some(record) => OwnedLocalServer {
                    spec: format!("local:{}", record.flavour),
                    endpoint: record.endpoint.clone(),
                    kept: record.kept,
                    server_pid,
                    owner_pid: Some(record.owner_pid),
                    owner_alive: record.owner_alive(),
                    dir,
                },
                None => OwnedLocalServer {
                    spec: flavour_of_dir(&dir)
                        .map_or_else(|| "local".to_owned(), |f| format!("local:{}", f.as_str())),
                    endpoint: None,
                    kept: false,
                    server_pid,
                    owner_pid: None,
                    owner_alive: false,
                    dir,
                },
            }
        })
        .collect())
}

/// Stops and deletes the servers whose owner is gone and that were not kept, and the
/// debris of crashed template builds.
pub(super) async fn reap_stale(root: &StateRoot) -> Result<Vec<PathBuf>> {
    let mut reaped = Vec::new();
    for dir in root.server_dirs()? {
        let record = read_record(&dir);
        let stale = match &record {
            Some(record) => !record.kept && !record.owner_alive(),
            None => process::age(&dir) > ORPHAN_AGE,
        };
        if stale && dir.exists() {
            destroy(&dir, record.as_ref()).await?;
            reaped.push(dir);
        }
    }
    reap_template_debris(root);
    Ok(reaped)
}

/// Stops the kept servers (all, or those of one flavour) and deletes their folders.
pub(super) async fn stop_kept(root: &StateRoot, flavour: Option<Flavour>) -> Result<Vec<PathBuf>> {
    let mut stopped = Vec::new();
    for dir in root.server_dirs()? {
        let Some(record) = read_record(&dir) else {
            continue;
        };
        let Some(its_flavour) = record.flavour() else {
            continue;
        };
        if !record.kept || flavour.is_some_and(|f| f != its_flavour) {
            continue;
        }
        // Not while a run is starting (or reusing) it.
        let _lock = process::lock(&root.keep_lock(its_flavour), LOCK_WAIT).await?;
        let record = read_record(&dir);
        destroy(&dir, record.as_ref()).await?;
        stopped.push(dir);
    }
    Ok(stopped)
}

/// `tmp-<pid>-<random>` folders of template builds whose process is gone.
fn reap_template_debris(root: &StateRoot) {
    let Ok(entries) = fs::read_dir(&root.templates) else {
        return;
    };
    for entry in entries.filter_map(|e| e.ok()) {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix("tmp-") else {
            continue;
        };
        let pid: Option<u32> = rest.split('-').next().and_then(|p| p.parse().ok());
        if pid.is_none_or(|pid| !process::running(pid)) {
            let _ = process::remove_tree(&entry.path());
        }
    }
}

/// A short random name part.
pub(super) fn random_suffix() -> String {
    use rand::Rng;
    format!("{:08x}", rand::rng().random::<u32>())
}

/// A stable 64-bit FNV-1a hash (std's hasher may change between Rust releases; template
/// names must not).
pub(super) fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for byte in part.iter().chain(b"\0") {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    hash
}

/// Makes a fresh folder for a template build; the caller renames it into place.
pub(super) fn template_work_dir(root: &StateRoot) -> Result<PathBuf> {
    let dir = root
        .templates
        .join(format!("tmp-{}-{}", std::process::id(), random_suffix()));
    process::make_dir(&dir, dir_mode(), None)?;
    Ok(dir)
}

/// Deletes the templates of other versions of the same binaries folder (an upgrade).
pub(super) fn prune_templates(root: &StateRoot, keep: &str, same_binaries_suffix: &str) {
    let Ok(entries) = fs::read_dir(&root.templates) else {
        return;
    };
    for entry in entries.filter_map(|e| e.ok()) {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name != keep
            && !name.starts_with("tmp-")
            && !name.ends_with(".lock")
            && name.ends_with(same_binaries_suffix)
        {
            let _ = process::remove_tree(&entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Engine;

    #[test]
    fn records_round_trip_privately_and_never_show_the_password() {
        let dir = std::env::temp_dir().join(format!("ad-record-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let mut record = ServerRecord::new(
            Flavour::Mariadb,
            "MariaDB",
            "10.11.6",
            Path::new("/usr/sbin"),
            false,
        );
        record.port = Some(40123);
        record.endpoint = Some(Endpoint {
            engine: Engine::Mysql,
            host: "127.0.0.1".into(),
            port: 40123,
            user: "root".into(),
            password: Some("s3cretpassword".into()),
            admin_database: None,
        });
        write_record(&dir, &record).unwrap();
        let mode = fs::metadata(dir.join(RECORD)).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let back = read_record(&dir).unwrap();
        assert_eq!(back.endpoint, record.endpoint);
        assert!(back.owner_alive());
        assert_eq!(back.flavour(), Some(Flavour::Mariadb));
        assert!(!format!("{back:?}").contains("s3cret"));
        assert_eq!(
            back.describe(),
            "local MariaDB 10.11.6 (/usr/sbin) on 127.0.0.1:40123"
        );
        let mut dead = back.clone();
        let mut child = std::process::Command::new("true").spawn().unwrap();
        dead.owner_pid = child.id();
        child.wait().unwrap();
        assert!(!dead.owner_alive());
        let mut elsewhere = dead.clone();
        elsewhere.owner_host = "another-host".into();
        assert!(elsewhere.owner_alive());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn folder_names_tell_the_flavour() {
        assert_eq!(
            flavour_of_dir(Path::new("/x/local-postgresql-1234abcd")),
            Some(Flavour::Postgresql)
        );
        assert_eq!(
            flavour_of_dir(Path::new("/x/local-mariadb-keep")),
            Some(Flavour::Mariadb)
        );
        assert_eq!(flavour_of_dir(Path::new("/x/templates")), None);
    }

    #[test]
    fn fnv_is_stable() {
        assert_eq!(fnv1a(&[b"a"]), fnv1a(&[b"a"]));
        assert_ne!(fnv1a(&[b"ab", b"c"]), fnv1a(&[b"a", b"bc"]));
        assert_eq!(fnv1a(&[]), 0xcbf2_9ce4_8422_2325);
    }
}
