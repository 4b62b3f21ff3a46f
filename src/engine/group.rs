//! Process groups: the group of a running command (killed when dropped unless disarmed), the
//! registry of live groups that a second Ctrl-C kills at once, and whether a group still has a
//! live member (zombies do not count; this machine's init may reap them slowly).

use std::fs;

use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

/// Whether process group `pgid` still has a live member (zombies do not count): a crashed
/// runner's step may still be running.
#[must_use]
pub fn group_alive(pgid: u32) -> bool {
    i32::try_from(pgid).is_ok_and(|raw| {
        raw > 0
            && Group {
                pgid: Pid::from_raw(raw),
                armed: false,
            }
            .has_live_members()
    })
}

/// Every process group runbook has alive, so that a second Ctrl-C can KILL them all at once.
#[derive(Debug, Default)]
pub struct Registry {
    groups: std::sync::Mutex<std::collections::HashSet<i32>>,
}

impl Registry {
    /// Records a group until the returned guard is dropped.
    pub(crate) fn register(&self, pid: u32) -> Registered<'_> {
        let group = i32::try_from(pid).expect("Linux pids fit in i32");
        self.groups.lock().expect("never poisoned").insert(group);
        Registered {
            registry: self,
            pgid: group,
        }
    }

    /// KILL to every live group, now.
    pub fn kill_all(&self) {
        for &pgid in self.groups.lock().expect("never poisoned").iter() {
            let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
        }
    }
}

pub(crate) struct Registered<'a> {
    registry: &'a Registry,
    pgid: i32,
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        self.registry
            .groups
            .lock()
            .expect("never poisoned")
            .remove(&self.pgid);
    }
}

/// The child's process group. Until disarmed, dropping it sends KILL to the whole group, so
/// a cancelled `run` future or an error return leaves nothing behind.
pub(crate) struct Group {
    pub(crate) pgid: Pid,
    pub(crate) armed: bool,
}

impl Group {
    pub(crate) fn new(pid: u32) -> Self {
        Self {
            pgid: Pid::from_raw(i32::try_from(pid).expect("Linux pids fit in i32")),
            armed: true,
        }
    }

    /// Sends `signal` to every member; false when the group no longer exists.
    pub(crate) fn signal(&self, signal: Signal) -> bool {
        killpg(self.pgid, signal).is_ok()
    }

    /// TERM to every member, then CONT so that a stopped member gets to handle the TERM;
    /// false when the group no longer exists.
    pub(crate) fn terminate(&self) -> bool {
        let delivered = self.signal(Signal::SIGTERM);
        if delivered {
            self.signal(Signal::SIGCONT);
        }
        delivered
    }

    /// Whether a member is alive. Zombies do not count: the direct child's is reaped by
    /// `wait`, but an orphaned grandchild's waits for PID 1, which may be slow to reap.
    pub(crate) fn has_live_members(&self) -> bool {
        match killpg(self.pgid, None) {
            Err(Errno::ESRCH) => false,
            _ => has_live_member_in_proc(self.pgid.as_raw()),
        }
    }

    pub(crate) fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        if self.armed {
            let _ = killpg(self.pgid, Signal::SIGKILL);
        }
    }
}

/// Scans `/proc/*/stat` for a process of group `pgid` that is not a zombie. Without a readable
/// `/proc` the group is assumed alive, since `kill` said it has members.
fn has_live_member_in_proc(pgid: i32) -> bool {
    let Ok(entries) = fs::read_dir("/proc") else {
        return true;
    };
    entries.flatten().any(|entry| {
        let name = entry.file_name();
        let Some(member) = name
            .to_str()
            .filter(|name| name.bytes().all(|byte| byte.is_ascii_digit()))
        else {
            return false;
        };
        // A process that exits while we scan simply has no stat file any more.
        fs::read_to_string(format!("/proc/{member}/stat"))
            .ok()
            .and_then(|stat| parse_stat(&stat))
            .is_some_and(|(state, group)| group == pgid && !matches!(state, 'Z' | 'X'))
    })
}

/// State and process group from a `/proc/PID/stat` line. The command name may contain spaces
/// and parentheses, so fields are counted from the last `)`.
pub(crate) fn parse_stat(stat: &str) -> Option<(char, i32)> {
    let (_, rest) = stat.rsplit_once(')')?;
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let _ppid = fields.next()?;
    let pgrp = fields.next()?.parse().ok()?;
    Some((state, pgrp))
}

#[cfg(test)]
mod tests {
    use super::parse_stat;

    #[test]
    fn stat_lines_with_odd_command_names() {
        let stat = "4242 (a (weird) name) S 1 4200 4200 0 -1";
        assert_eq!(parse_stat(stat), Some(('S', 4200)));
        assert_eq!(parse_stat("garbage"), None);
    }
}
