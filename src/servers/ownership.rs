//! Who owns a server: every container label and local state file carries it, so the next
//! run can tell a crashed run's leftovers (owner gone) from a live neighbour's servers
//! (another pytest-xdist worker, another CI job on the same machine).

use std::sync::OnceLock;

/// Label keys on every container alembic-drill starts.
pub const LABEL_MANAGED: &str = "dev.alembic-drill.managed";
pub const LABEL_RUN: &str = "dev.alembic-drill.run";
pub const LABEL_OWNER_PID: &str = "dev.alembic-drill.owner-pid";
pub const LABEL_HOST: &str = "dev.alembic-drill.host";
pub const LABEL_KEEP: &str = "dev.alembic-drill.keep";
pub const LABEL_SPEC: &str = "dev.alembic-drill.spec";

/// This process's identity as an owner of servers.
#[derive(Debug, Clone)]
pub struct Owner {
    /// Random per process: tells this run's databases and servers apart.
    pub run_id: String,
    pub pid: u32,
    pub host: String,
}

/// The owner for this process (created once).
pub fn this_process() -> &'static Owner {
    static OWNER: OnceLock<Owner> = OnceLock::new();
    OWNER.get_or_init(|| Owner {
        run_id: random_id(),
        pid: std::process::id(),
        host: hostname(),
    })
}

fn random_id() -> String {
    use rand::Rng;
    format!("{:08x}", rand::rng().random::<u32>())
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// True while a process with this id exists on this machine.
pub fn process_alive(pid: u32) -> bool {
    if pid == 0 {
        return false;
    }
    // Signal 0 checks existence and permission without sending anything; EPERM means it
    // exists but belongs to someone else.
    let rc = unsafe { libc::kill(pid as libc::pid_t, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_stable() {
        let owner = this_process();
        assert_eq!(owner.pid, std::process::id());
        assert!(process_alive(owner.pid));
        assert_eq!(this_process().run_id, owner.run_id);
        assert_eq!(owner.run_id.len(), 8);
    }

    #[test]
    fn a_finished_process_is_not_alive() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert!(!process_alive(pid));
        assert!(!process_alive(0));
    }
}
