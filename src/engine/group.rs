//! Process groups: the processes of a running command (its group and, for a teardown, all it
//! started; killed when dropped unless disarmed), the registry of running commands that a second
//! Ctrl-C kills at once, and whether a group still has a live member (zombies do not count; this
//! machine's init may reap them slowly).

use std::collections::{HashMap, HashSet};
use std::fs;

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill, killpg};
use nix::sys::wait::{WaitPidFlag, waitpid};
use nix::unistd::Pid;

use crate::engine::tree::{self, Identity, Tag, Tree};

/// Whether process group `pgid` still has a live member (zombies do not count): a crashed
/// runner's step may still be running.
#[must_use]
pub(crate) fn group_alive(pgid: u32) -> bool {
    i32::try_from(pgid).is_ok_and(|raw| {
        raw > 0
            && killpg(Pid::from_raw(raw), None) != Err(Errno::ESRCH)
            && has_live_member_in_proc(raw)
    })
}

/// Whether the process group that started at `started` is still alive. A group id is a pid, and
/// pids are reused: while any member of a group lives the kernel keeps its number, but once the
/// group is gone a new leader elsewhere may get the same number. A leader that started after
/// `started` (give or take a second of clock rounding) is such a newcomer: the group we knew is
/// gone.
#[must_use]
pub(crate) fn group_alive_since(pgid: u32, started: chrono::DateTime<chrono::Utc>) -> bool {
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

/// Every command runbook has running, by process group and tag, so that a second Ctrl-C can
/// KILL all of their processes at once.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    groups: std::sync::Mutex<HashMap<i32, Tag>>,
}

impl Registry {
    /// Records a command until the returned guard is dropped.
    pub(crate) fn register(&self, pid: u32, tag: &Tag) -> Registered<'_> {
        let group = i32::try_from(pid).expect("Linux pids fit in i32");
        self.groups
            .lock()
            .expect("never poisoned")
            .insert(group, tag.clone());
        Registered {
            registry: self,
            pgid: group,
        }
    }

    /// KILL to every process of every running command, now: their groups, their descendants
    /// and whatever carries their tags.
    pub(crate) fn kill_all(&self) {
        let groups = self.groups.lock().expect("never poisoned").clone();
        // Scanned before anything dies: a dead parent's children move to runbook, and only
        // parent links find those that also dropped the tag.
        let all = tree::processes();
        for (&pgid, tag) in &groups {
            for p in Tree::new(pgid, tag.clone()).members(&all) {
                if !p.zombie {
                    let _ = kill(Pid::from_raw(p.id.pid), Signal::SIGKILL);
                }
            }
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

/// How far a teardown reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// The process group only: the stragglers of a command that exited by itself, which still
    /// hold its output open. A daemon that left the group was left behind on purpose.
    Group,
    /// Everything the command started, wherever it went: after a timeout or a cancel.
    Tree,
}

/// The child's processes: its process group and, for a teardown, every process it started.
/// Until disarmed, dropping it sends KILL to all of them, so a cancelled `run` future or an
/// error return leaves nothing behind.
pub(crate) struct Group {
    pub(crate) pgid: Pid,
    armed: bool,
    tree: Tree,
    /// Every process that got TERM or KILL from runbook.
    signalled: HashSet<Identity>,
    /// Of those, the ones that had left the process group.
    detached: HashSet<Identity>,
}

impl Group {
    pub(crate) fn new(pid: u32, tag: Tag) -> Self {
        let raw = i32::try_from(pid).expect("Linux pids fit in i32");
        Self {
            pgid: Pid::from_raw(raw),
            armed: true,
            tree: Tree::new(raw, tag),
            signalled: HashSet::new(),
            detached: HashSet::new(),
        }
    }

    /// The direct child was reaped: its pid no longer leads the search for descendants.
    pub(crate) fn root_reaped(&mut self) {
        self.tree.root_reaped();
    }

    /// Sends `signal` to every member of the process group; false when the group no longer
    /// exists.
    pub(crate) fn signal(&self, signal: Signal) -> bool {
        killpg(self.pgid, signal).is_ok()
    }

    /// TERM to every process in `scope`, then CONT so that a stopped one gets to handle the
    /// TERM; false when there was none. Each process found is signalled (and counted) before
    /// the group as a whole, which reaches a member forked since the scan.
    pub(crate) fn terminate(&mut self, scope: Scope) -> bool {
        let before = self.signalled.len();
        self.sweep(scope, Some(Signal::SIGTERM));
        let delivered = self.signal(Signal::SIGTERM);
        if delivered {
            self.signal(Signal::SIGCONT);
        }
        delivered || self.signalled.len() > before
    }

    /// KILL to every process in `scope`.
    pub(crate) fn kill(&mut self, scope: Scope) {
        self.sweep(scope, Some(Signal::SIGKILL));
        self.signal(Signal::SIGKILL);
    }

    /// While terminating: TERM to the processes in `scope` that appeared since (a trap that
    /// forks), and whether any is still alive.
    pub(crate) fn terminating(&mut self, scope: Scope) -> bool {
        self.sweep(scope, Some(Signal::SIGTERM)) > 0
    }

    /// After KILL: KILL again to whatever is still alive in `scope` (a fork that raced the
    /// first one), and whether any is.
    pub(crate) fn killing(&mut self, scope: Scope) -> bool {
        let live = self.sweep(scope, Some(Signal::SIGKILL)) > 0;
        self.signal(Signal::SIGKILL);
        live
    }

    /// Whether a process in `scope` is alive. Zombies do not count: the direct child's is
    /// reaped by `wait`, those runbook adopted are reaped here, and an orphan that init adopted
    /// waits for init, which may be slow to reap.
    pub(crate) fn has_live_members(&mut self, scope: Scope) -> bool {
        if scope == Scope::Group && killpg(self.pgid, None) == Err(Errno::ESRCH) {
            return false;
        }
        self.sweep(scope, None) > 0
    }

    /// How many processes runbook sent TERM or KILL.
    pub(crate) fn killed(&self) -> u32 {
        u32::try_from(self.signalled.len()).unwrap_or(u32::MAX)
    }

    /// How many of those had left the process group.
    pub(crate) fn detached(&self) -> u32 {
        u32::try_from(self.detached.len()).unwrap_or(u32::MAX)
    }

    pub(crate) fn disarm(mut self) {
        self.armed = false;
    }

    /// Scans for the processes in `scope`, reaps the zombies runbook adopted among them, and
    /// sends `signal` to the live ones (TERM once each, KILL every time); returns how many are
    /// alive. Each process signalled is counted once.
    fn sweep(&mut self, scope: Scope, signal: Option<Signal>) -> usize {
        let all = tree::processes();
        let group = self.pgid.as_raw();
        let members = match scope {
            Scope::Group => all.iter().filter(|p| p.pgrp == group).collect(),
            Scope::Tree => self.tree.members(&all),
        };
        let mut live = 0;
        for p in members {
            if p.zombie {
                if scope == Scope::Tree && self.tree.adopted_zombie(p) {
                    // Only this exact pid: it is runbook's child and nobody else waits for it.
                    let _ = waitpid(Pid::from_raw(p.id.pid), Some(WaitPidFlag::WNOHANG));
                }
                continue;
            }
            live += 1;
            let Some(signal) = signal else { continue };
            if signal == Signal::SIGTERM && self.signalled.contains(&p.id) {
                continue;
            }
            let pid = Pid::from_raw(p.id.pid);
            if kill(pid, signal).is_ok() {
                if signal == Signal::SIGTERM {
                    let _ = kill(pid, Signal::SIGCONT);
                }
                self.signalled.insert(p.id);
                if p.pgrp != group {
                    self.detached.insert(p.id);
                }
            }
        }
        live
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        if self.armed {
            self.kill(Scope::Tree);
        }
    }
}

/// Scans `/proc` for a process of group `pgid` that is not a zombie. Without a readable
/// `/proc` the group is assumed alive, since `kill` said it has members.
fn has_live_member_in_proc(pgid: i32) -> bool {
    if fs::metadata("/proc/self/stat").is_err() {
        return true;
    }
    tree::processes()
        .iter()
        .any(|p| p.pgrp == pgid && !p.zombie)
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::CommandExt as _;

    use super::group_alive_since;

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
}
