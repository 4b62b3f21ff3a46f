//! Every process one command started, found in `/proc`: its process group, its descendants by
//! parent links (those that left the group with `setsid` too), and every process that inherited
//! the command's tag in its environment (a double-forked daemon whose parent died, which runbook,
//! a child subreaper, has adopted).

use std::collections::{HashMap, HashSet};
use std::fs;
use std::sync::Once;
use std::sync::atomic::{AtomicU64, Ordering};

/// The environment variable that marks every process of one command: a space-separated list of
/// tags, one per runbook the process runs under (a nested `runbook` adds its own).
pub(crate) const TAG_VAR: &str = "RUNBOOK_PROCESS_TAG";

/// Makes runbook a child subreaper, once: a descendant whose parent dies (a double fork, a
/// daemon) is reparented to runbook instead of init, so it stays findable and runbook can reap
/// it. Failing is not fatal: the tag still finds such orphans, only reaping them is init's job.
pub(crate) fn adopt_orphans() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if let Err(errno) = nix::sys::prctl::set_child_subreaper(true) {
            tracing::warn!(%errno, "cannot become a child subreaper");
        }
    });
}

/// The mark one command's processes carry in [`TAG_VAR`]: runbook's pid, its start (so that a
/// later runbook with the same pid does not match an old daemon) and a counter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Tag(String);

impl Tag {
    pub(crate) fn next() -> Self {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        static EPOCH: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
        let epoch = EPOCH.get_or_init(|| chrono::Utc::now().timestamp_micros());
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        Self(format!("{}-{epoch}-{n}", std::process::id()))
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// The value of [`TAG_VAR`] for the command: the tags runbook itself runs under, then this.
    pub(crate) fn env_value(&self) -> String {
        self.under(std::env::var(TAG_VAR).ok().as_deref())
    }

    fn under(&self, outer: Option<&str>) -> String {
        match outer.map(str::trim) {
            Some(outer) if !outer.is_empty() => format!("{outer} {}", self.0),
            _ => self.0.clone(),
        }
    }
}

/// A process, told apart from a later one that reuses its pid by when it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Identity {
    pub(crate) pid: i32,
    /// Clock ticks after boot (`/proc/PID/stat` field 22).
    start: u64,
}

/// One line of `/proc/PID/stat`, the fields this module needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Proc {
    pub(crate) id: Identity,
    pub(crate) ppid: i32,
    pub(crate) pgrp: i32,
    /// Exited, waiting for its parent to reap it.
    pub(crate) zombie: bool,
}

/// Parses a `/proc/PID/stat` line. The command name may contain spaces and parentheses, so the
/// fields are counted from the last `)`.
pub(crate) fn parse_proc(stat: &str) -> Option<Proc> {
    let (head, rest) = stat.rsplit_once(')')?;
    let pid = head.split_whitespace().next()?.parse().ok()?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state); ppid is 4, pgrp 5 and starttime 22.
    let state = fields.first()?.chars().next()?;
    Some(Proc {
        id: Identity {
            pid,
            start: fields.get(19)?.parse().ok()?,
        },
        ppid: fields.get(1)?.parse().ok()?,
        pgrp: fields.get(2)?.parse().ok()?,
        zombie: matches!(state, 'Z' | 'X'),
    })
}

/// Every process in `/proc` now. A process that exits during the scan is simply missing.
pub(crate) fn processes() -> Vec<Proc> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name();
            let pid = name.to_str()?;
            if !pid.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            parse_proc(&fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
        })
        .collect()
}

/// Whether process `pid` carries `tag` in its environment; `None` when that cannot be told: the
/// environment cannot be read (another user's process, a zombie) or reads empty, as it does
/// while a process is in the middle of `execve` (the parent of a `vfork`-style spawn resumes
/// before the new program's environment is in place).
fn carries(pid: i32, tag: &str) -> Option<bool> {
    let environ = fs::read(format!("/proc/{pid}/environ")).ok()?;
    if environ.is_empty() {
        return None;
    }
    let prefix = format!("{TAG_VAR}=");
    Some(
        environ
            .split(|&b| b == 0)
            .filter_map(|var| var.strip_prefix(prefix.as_bytes()))
            .any(|value| {
                value
                    .split(|&b| b == b' ')
                    .any(|word| word == tag.as_bytes())
            }),
    )
}

/// Who belongs to one command, and what was learnt about the processes seen so far.
#[derive(Debug)]
pub(crate) struct Tree {
    pub(crate) pgid: i32,
    tag: Tag,
    /// The direct child, until it is reaped: after that its pid may belong to someone else.
    root: Option<i32>,
    /// Members seen in an earlier scan: still members while they live, wherever they moved.
    known: HashSet<Identity>,
    /// Processes whose environment was read and had no tag: a process's environment is fixed
    /// once it runs, so it is read once.
    untagged: HashSet<Identity>,
}

impl Tree {
    pub(crate) fn new(pid: i32, tag: Tag) -> Self {
        Self {
            pgid: pid,
            tag,
            root: Some(pid),
            known: HashSet::new(),
            untagged: HashSet::new(),
        }
    }

    /// The direct child was reaped; its pid no longer says anything.
    pub(crate) fn root_reaped(&mut self) {
        self.root = None;
    }

    /// The members among `all`: the group, the direct child, the processes seen before, those
    /// carrying the tag, and all their descendants. runbook itself never is one.
    pub(crate) fn members<'a>(&mut self, all: &'a [Proc]) -> Vec<&'a Proc> {
        let me = i32::try_from(std::process::id()).unwrap_or(i32::MAX);
        let mut member: HashSet<i32> = HashSet::new();
        for p in all {
            if p.id.pid == me || p.id.pid <= 1 {
                continue;
            }
            let seed = p.pgrp == self.pgid
                || self.root == Some(p.id.pid)
                || self.known.contains(&p.id)
                || (!p.zombie && !self.untagged.contains(&p.id) && {
                    let tagged = carries(p.id.pid, self.tag.as_str());
                    // Only a definite "no" is remembered: a process caught mid-`execve` reads
                    // as having no environment, and is read again at the next scan.
                    if tagged == Some(false) {
                        self.untagged.insert(p.id);
                    }
                    tagged == Some(true)
                });
            if seed {
                member.insert(p.id.pid);
            }
        }
        let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
        for p in all {
            children.entry(p.ppid).or_default().push(p.id.pid);
        }
        let mut queue: Vec<i32> = member.iter().copied().collect();
        while let Some(parent) = queue.pop() {
            for &child in children.get(&parent).into_iter().flatten() {
                if child != me && member.insert(child) {
                    queue.push(child);
                }
            }
        }
        let found: Vec<&Proc> = all.iter().filter(|p| member.contains(&p.id.pid)).collect();
        self.known.extend(found.iter().map(|p| p.id));
        found
    }

    /// Whether runbook may reap `p`, a member: a zombie that runbook adopted, other than the
    /// direct child (tokio reaps that one). A zombie child of runbook is a member only by its
    /// group or by having been seen alive as one, so it is no other step's direct child, which
    /// leads a group of its own. Never `waitpid(-1)`: that would steal such exit statuses.
    pub(crate) fn adopted_zombie(&self, p: &Proc) -> bool {
        let me = i32::try_from(std::process::id()).unwrap_or(i32::MAX);
        p.zombie && p.ppid == me && p.id.pid != self.pgid
    }
}

#[cfg(test)]
mod tests {
    use super::{TAG_VAR, Tag, carries, parse_proc};

    #[test]
    fn a_nested_runbook_adds_its_tag_to_the_outer_ones() {
        let tag = Tag("7-1-3".to_owned());
        assert_eq!(tag.under(None), "7-1-3");
        assert_eq!(tag.under(Some("  ")), "7-1-3");
        assert_eq!(tag.under(Some("5-9-0 ")), "5-9-0 7-1-3");
    }

    #[test]
    fn a_tag_matches_whole_words_of_the_variable_only() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .env(TAG_VAR, "outer-1-2 mine-1-10")
            .spawn()
            .expect("sleep starts");
        let pid = i32::try_from(child.id()).expect("a pid");
        // `spawn` may return while the child is still in `execve`: its environment then reads
        // as unknown, never as a wrong answer. Bounded: 5 s in steps of 1 ms.
        let mut unknown = 0;
        while carries(pid, "mine-1-10").is_none() && unknown < 5000 {
            unknown += 1;
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        let seen = ["mine-1-10", "outer-1-2", "mine-1-1", "mine"].map(|tag| carries(pid, tag));
        child.kill().expect("kill");
        child.wait().expect("reap");
        assert_eq!(seen, [Some(true), Some(true), Some(false), Some(false)]);
    }

    #[test]
    fn stat_lines_with_odd_command_names() {
        let stat = "4242 (a (weird) name) S 1 4200 4200 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 \
                    987654 0 0";
        let p = parse_proc(stat).expect("parses");
        assert_eq!((p.id.pid, p.ppid, p.pgrp, p.zombie), (4242, 1, 4200, false));
        assert_eq!(p.id.start, 987_654);
        assert!(parse_proc("4242 (x) Z 1 2 2").is_none(), "too short");
        assert!(parse_proc("garbage").is_none());
    }
}
