//! The temporary folders that hold SQLite "servers": private to their user (mode 0700),
//! marked with their owner (`owner.json`), and reclaimed by the next run once that owner
//! is gone (a run killed with SIGKILL cannot remove its own).

use std::fs;
use std::io::ErrorKind;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use super::error::{Result, ServerError};
use super::owner_mark::OwnerMark;

/// Every SQLite folder's name starts with this, in the system's temporary folder.
pub const PREFIX: &str = "alembic-drill-sqlite-";
const MARK: &str = "owner.json";

/// A SQLite folder found on this machine.
#[derive(Debug, Clone)]
pub struct SqliteFolder {
    pub dir: PathBuf,
    /// None: no readable mark (made by an older version, or being created).
    pub owner: Option<OwnerMark>,
}

impl SqliteFolder {
    pub fn owner_alive(&self) -> bool {
        self.owner.as_ref().is_none_or(OwnerMark::owner_alive)
    }
}

/// Creates this run's folder (0700) with its owner mark.
pub fn create() -> Result<PathBuf> {
    create_in(&std::env::temp_dir())
}

fn create_in(base: &Path) -> Result<PathBuf> {
    let owner = OwnerMark::this_process();
    for attempt in 0..100u32 {
        let dir = base.join(format!("{PREFIX}{}-{attempt}", owner.run_id));
        match fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => {
                let mark = serde_json::to_vec(&owner).expect("plain fields serialise");
                fs::write(dir.join(MARK), mark).map_err(|e| ServerError::io("writing", &dir, e))?;
                return Ok(dir);
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(ServerError::io("creating", dir, e)),
        }
    }
    Err(ServerError::Other(
        "cannot create a temporary folder for SQLite".into(),
    ))
}

/// The SQLite folders on this machine (this user's, and others' it can read).
pub fn list_owned() -> Vec<SqliteFolder> {
    list_in(&std::env::temp_dir())
}

fn list_in(base: &Path) -> Vec<SqliteFolder> {
    let Ok(entries) = fs::read_dir(base) else {
        return Vec::new();
    };
    let mut folders: Vec<SqliteFolder> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(PREFIX))
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| {
            let dir = e.path();
            let owner = fs::read(dir.join(MARK))
                .ok()
                .and_then(|bytes| serde_json::from_slice(&bytes).ok());
            SqliteFolder { dir, owner }
        })
        .collect();
    folders.sort_by(|a, b| a.dir.cmp(&b.dir));
    folders
}

/// Removes the folders whose owner is gone; returns them. Unmarked folders are left
/// alone: their owner cannot be told.
pub fn reap_stale() -> Vec<PathBuf> {
    reap_in(&std::env::temp_dir())
}

fn reap_in(base: &Path) -> Vec<PathBuf> {
    list_in(base)
        .into_iter()
        .filter(|f| f.owner.is_some() && !f.owner_alive())
        .filter(|f| fs::remove_dir_all(&f.dir).is_ok())
        .map(|f| f.dir)
        .collect()
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn folders_are_private_marked_and_reaped_only_when_their_owner_is_gone() {
        let base = std::env::temp_dir().join(format!("ad-sqlite-folders-{}", std::process::id()));
        fs::create_dir_all(&base).unwrap();
        let ours = create_in(&base).unwrap();
        let mode = fs::metadata(&ours).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        let listed = list_in(&base);
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].owner, Some(OwnerMark::this_process()));

        // A folder left by a process that is gone, and one without a mark.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = OwnerMark {
            pid: child.id(),
            ..OwnerMark::this_process()
        };
        child.wait().unwrap();
        let left = base.join(format!("{PREFIX}deadbeef-0"));
        fs::create_dir(&left).unwrap();
        fs::write(left.join(MARK), serde_json::to_vec(&dead).unwrap()).unwrap();
        let unmarked = base.join(format!("{PREFIX}unmarked-0"));
        fs::create_dir(&unmarked).unwrap();

        assert_eq!(reap_in(&base), vec![left.clone()]);
        assert!(!left.exists() && ours.exists() && unmarked.exists());
        fs::remove_dir_all(&base).unwrap();
    }
}
