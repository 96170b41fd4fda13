//! The owner mark on what a run leaves outside its own process (SQLite folders, `drill_`
//! databases on a server given by URL): the owner's run id, pid, process start time and
//! host. The next run on the same host reclaims what a dead owner left; what another
//! host made is never touched (its owner cannot be checked from here).

use serde::{Deserialize, Serialize};

use super::local::process;
use super::ownership::this_process;

/// Who made something, as written beside it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnerMark {
    pub run_id: String,
    pub pid: u32,
    /// When the owner process started (clock ticks since boot; None where /proc is not
    /// there): with the pid, tells the owner from a later process that got its pid.
    pub start_time: Option<u64>,
    pub host: String,
}

/// What starts a mark in a database comment, so that a comment of someone else's is
/// never mistaken for one.
const COMMENT_PREFIX: &str = "alembic-drill owner ";

impl OwnerMark {
    /// This process's mark.
    pub fn this_process() -> OwnerMark {
        let owner = this_process();
        OwnerMark {
            run_id: owner.run_id.clone(),
            pid: owner.pid,
            start_time: process::start_time(owner.pid),
            host: owner.host.clone(),
        }
    }

    /// True unless the owner is known to be gone: it ran on this host, and no process
    /// with its pid and start time runs any more.
    pub fn owner_alive(&self) -> bool {
        if self.host != this_process().host {
            return true;
        }
        if !process::running(self.pid) {
            return false;
        }
        match (self.start_time, process::start_time(self.pid)) {
            (Some(recorded), Some(now)) => recorded == now,
            _ => true,
        }
    }

    /// The mark as a database comment.
    pub fn to_comment(&self) -> String {
        format!(
            "{COMMENT_PREFIX}{}",
            serde_json::to_string(self).expect("plain fields serialise")
        )
    }

    /// The mark in a database comment (None: no comment, or not ours).
    pub fn from_comment(comment: &str) -> Option<OwnerMark> {
        serde_json::from_str(comment.strip_prefix(COMMENT_PREFIX)?).ok()
    }
}

/// Where each run that made databases on a server given by URL records its mark under
/// its run id (one small file per run, in a folder private to the user): a database is
/// named with its run's id before any comment can be put on it, and MySQL keeps no
/// comment at all, so on this host the name alone leads to the owner.
fn registry() -> std::path::PathBuf {
    // SAFETY: geteuid has no preconditions.
    let uid = unsafe { libc::geteuid() };
    std::env::temp_dir().join(format!("alembic-drill-runs-{uid}"))
}

/// Records this process's mark under its run id (once per process).
pub fn register_this_run() {
    static DONE: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    DONE.get_or_init(|| {
        use std::os::unix::fs::DirBuilderExt;
        let dir = registry();
        let _ = std::fs::DirBuilder::new().mode(0o700).create(&dir);
        let mark = OwnerMark::this_process();
        let file = dir.join(format!("{}.json", mark.run_id));
        let _ = std::fs::write(
            file,
            serde_json::to_vec(&mark).expect("plain fields serialise"),
        );
    });
}

/// The mark a run on this host recorded under `run_id`, if any.
pub fn registered(run_id: &str) -> Option<OwnerMark> {
    if !run_id.chars().all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    let bytes = std::fs::read(registry().join(format!("{run_id}.json"))).ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_its_mark_round_trips() {
        let mark = OwnerMark::this_process();
        assert!(mark.owner_alive());
        assert_eq!(OwnerMark::from_comment(&mark.to_comment()), Some(mark));
        assert_eq!(OwnerMark::from_comment("made by hand"), None);
    }

    #[test]
    fn a_dead_owner_or_a_reused_pid_is_gone_and_another_host_is_never_judged() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        let dead = OwnerMark {
            pid,
            ..OwnerMark::this_process()
        };
        assert!(!dead.owner_alive());
        let reused = OwnerMark {
            start_time: OwnerMark::this_process().start_time.map(|t| t + 1),
            ..OwnerMark::this_process()
        };
        assert!(!reused.owner_alive());
        let elsewhere = OwnerMark {
            host: "another-host".into(),
            ..dead
        };
        assert!(elsewhere.owner_alive());
    }

    #[test]
    fn a_registered_run_is_found_by_its_id() {
        register_this_run();
        let mark = OwnerMark::this_process();
        assert_eq!(registered(&mark.run_id), Some(mark));
        assert_eq!(registered("../../etc/passwd"), None);
        assert_eq!(registered("nosuchrun"), None);
    }
}
