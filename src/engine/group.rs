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

/// Whether the process group that started at `started` is still alive. A group id is a pid, and
/// pids are reused: while any member of a group lives the kernel keeps its number, but once the
/// group is gone a new leader elsewhere may get the same number. A leader that started after
/// `started` (give or take a second of clock rounding) is such a newcomer: the group we knew is
/// gone.
#[must_use]
pub fn group_alive_since(pgid: u32, started: chrono::DateTime<chrono::Utc>) -> bool {
    if !group_alive(pgid) {
        return false;
    }
    match leader_start(pgid) {
        Some(leader) => leader <= started + chrono::Duration::seconds(1),
        // The leader is gone but members live: only the original group can have them.
        None => true,
    }
}

/// When process `pid` started, from `/proc/PID/stat` (field 22, clock ticks after boot) and the
/// boot time in `/proc/stat`.
fn leader_start(pid: u32) -> Option<chrono::DateTime<chrono::Utc>> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = stat.rsplit_once(')')?.1;
    // Fields after the name start at field 3 (state); starttime is field 22.
    let ticks: i64 = after_name.split_whitespace().nth(19)?.parse().ok()?;
    let boot: i64 = fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()?;
    let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK).ok()??;
    let millis = boot
        .checked_mul(1000)?
        .checked_add(ticks.checked_mul(1000)? / hz)?;
    chrono::DateTime::from_timestamp_millis(millis)
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
    use std::os::unix::process::CommandExt as _;

    use super::{group_alive_since, parse_stat};

    #[test]
    fn a_group_number_reused_by_a_newer_leader_is_not_the_group_we_knew() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .process_group(0)
            .spawn()
            .expect("sleep starts");
        let pgid = child.id();
        let now = chrono::Utc::now();
        // Journaled an hour ago: this leader is a newcomer with a reused number.
        assert!(!group_alive_since(pgid, now - chrono::Duration::hours(1)));
        // Journaled as it started: the same group, alive.
        assert!(group_alive_since(pgid, now));
        child.kill().expect("kill");
        child.wait().expect("reap");
        assert!(!group_alive_since(pgid, now));
    }

    #[test]
    fn stat_lines_with_odd_command_names() {
        let stat = "4242 (a (weird) name) S 1 4200 4200 0 -1";
        assert_eq!(parse_stat(stat), Some(('S', 4200)));
        assert_eq!(parse_stat("garbage"), None);
    }
}
