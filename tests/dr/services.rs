//! Local services started by `service-recovery`: free ports to give it, and a guard that stops
//! the detached servers it leaves running (their pids are in `services/*.pid` of the run folder)
//! even when the test fails half way.

use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::support::wait_until;

/// `n` distinct ports that were free a moment ago.
pub(crate) fn free_ports(n: usize) -> Vec<u16> {
    // Held together while choosing, so that the n ports differ.
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("an address").port())
        .collect()
}

/// Stops, when dropped, every process named by a `*.pid` file in `dir`.
pub(crate) struct StopOnDrop {
    dir: PathBuf,
}

impl StopOnDrop {
    pub(crate) fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
        }
    }

    /// The pids recorded so far, by service name.
    pub(crate) fn pids(&self) -> Vec<(String, String)> {
        let mut pids: Vec<(String, String)> = std::fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let path = e.path();
                let name = path.file_name()?.to_str()?.strip_suffix(".pid")?.to_owned();
                let pid = std::fs::read_to_string(&path).ok()?.trim().to_owned();
                Some((name, pid))
            })
            .collect();
        pids.sort();
        pids
    }
}

/// Whether `pid` still runs. A zombie (exited, waiting for an init that may never reap it in a
/// container) counts as stopped.
fn alive(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name, which is in parentheses.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')),
        Err(_) if Path::new("/proc/self/stat").exists() => false,
        Err(_) => Command::new("kill")
            .args(["-0", pid])
            .output()
            .is_ok_and(|o| o.status.success()),
    }
}

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        for (_, pid) in self.pids() {
            let _ = Command::new("kill").args(["-TERM", &pid]).output();
            if !wait_until(Duration::from_secs(5), || !alive(&pid)) {
                let _ = Command::new("kill").args(["-KILL", &pid]).output();
            }
        }
    }
}
