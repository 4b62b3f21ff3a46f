//! One live run per playbook, or per named resource: `.locks/<playbook>.lock` (or, for each
//! name of `[playbook] locks`, `.locks/named/<name>-<digest>.lock`) in the runs root holds the
//! run id, pid, host and start of the run that has it. A run takes all its locks or none. A second run fails, waits or skips as the playbook's
//! `lock` policy says; a lock whose process is gone (same host) is taken over with a warning;
//! `--break-lock` takes a live one. Taking over is an atomic rename, checked by reading back.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::playbook::Playbook;
use crate::playbook::model::LockPolicy;

/// Who holds a lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Holder {
    pub(crate) run_id: String,
    pub(crate) pid: u32,
    pub(crate) host: String,
    pub(crate) started: DateTime<Utc>,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "run {} (pid {} on {}, started {})",
            self.run_id,
            self.pid,
            self.host,
            self.started
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        )
    }
}

/// A lock that is ours until dropped.
#[derive(Debug)]
pub(crate) struct Lock {
    path: PathBuf,
    run_id: String,
    /// False for a lock this run already held (a nested playbook naming its parent's lock):
    /// the holder that took it releases it.
    owned: bool,
    /// The holder we took it from, and whether that one was stale.
    pub(crate) taken_from: Option<(Holder, bool)>,
}

impl Drop for Lock {
    fn drop(&mut self) {
        // Remove it only if it is still ours (someone may have broken it).
        if self.owned && read_holder(&self.path).is_some_and(|h| h.run_id == self.run_id) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// What trying to lock gave.
#[derive(Debug)]
pub(crate) enum Outcome {
    Acquired(Lock),
    /// `lock = "fail"`: refused.
    Refused(Holder),
    /// `lock = "skip"`: nothing to do.
    Skipped(Holder),
}

/// Why the lock could not be handled at all.
#[derive(Debug, thiserror::Error)]
#[error("failed to use the lock `{}`{}", path.display(), writable_hint(source))]
pub(crate) struct LockError {
    path: PathBuf,
    #[source]
    source: std::io::Error,
}

/// What to do when the runs root cannot be written (a playbook at the top of a folder whose
/// parent is not the user's: `~/x.toml` has its runs root in `/home/runs`).
fn writable_hint(source: &std::io::Error) -> &'static str {
    match source.kind() {
        std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem => {
            " (its runs root cannot be written: set `RUNBOOK_RUNS` to a folder you can write, or \
             keep the playbook in a `playbooks/` folder of your own)"
        }
        _ => "",
    }
}

/// The lock file of a playbook.
#[must_use]
pub(crate) fn path(runs_root: &Path, playbook: &str) -> PathBuf {
    runs_root.join(".locks").join(format!("{playbook}.lock"))
}

/// Takes the playbook's lock as `policy` says. `waiting` is told once when a `wait` policy
/// starts waiting, so that people know why nothing happens.
pub(crate) fn acquire(
    path: &Path,
    me: &Holder,
    policy: LockPolicy,
    break_lock: bool,
    waiting: &mut dyn FnMut(&Holder),
) -> Result<Outcome, LockError> {
    let fail = |source| LockError {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    let mut told = false;
    // Bounded by the live holder: a `wait` lasts as long as the run ahead of it, which is the point.
    loop {
        match create_new(path, me) {
            Ok(()) => {
                return Ok(Outcome::Acquired(Lock {
                    path: path.to_path_buf(),
                    run_id: me.run_id.clone(),
                    owned: true,
                    taken_from: None,
                }));
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(fail(e)),
        }
        let Some(holder) = read_holder_settled(path) else {
            // Unreadable for a second: a writer died mid-write. Take it over as stale.
            let unknown = Holder {
                run_id: "unknown".to_owned(),
                pid: 0,
                host: "unknown".to_owned(),
                started: Utc::now(),
            };
            if take_over(path, me).map_err(fail)? {
                return Ok(Outcome::Acquired(Lock {
                    path: path.to_path_buf(),
                    run_id: me.run_id.clone(),
                    owned: true,
                    taken_from: Some((unknown, true)),
                }));
            }
            continue;
        };
        // A lock this very run holds (its nested playbook names it too) is not a conflict.
        if holder.run_id == me.run_id && holder.host == me.host && holder.pid == me.pid {
            return Ok(Outcome::Acquired(Lock {
                path: path.to_path_buf(),
                run_id: me.run_id.clone(),
                owned: false,
                taken_from: None,
            }));
        }
        let stale = holder.host == me.host && !alive(holder.pid);
        if stale || break_lock {
            if take_over(path, me).map_err(fail)? {
                return Ok(Outcome::Acquired(Lock {
                    path: path.to_path_buf(),
                    run_id: me.run_id.clone(),
                    owned: true,
                    taken_from: Some((holder, stale)),
                }));
            }
            continue;
        }
        match policy {
            LockPolicy::Fail => return Ok(Outcome::Refused(holder)),
            LockPolicy::Skip => return Ok(Outcome::Skipped(holder)),
            LockPolicy::Wait => {
                if !told {
                    waiting(&holder);
                    told = true;
                }
                std::thread::sleep(Duration::from_millis(250));
            }
        }
    }
}

/// No fsync: a lock lost to a power cut is simply stale afterwards, and taken over.
fn create_new(path: &Path, me: &Holder) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    file.write_all(&serde_json::to_vec(me).map_err(std::io::Error::other)?)
}

/// Replaces the lock with ours; true if it is ours afterwards (another taker may have won).
fn take_over(path: &Path, me: &Holder) -> std::io::Result<bool> {
    let temp = path.with_extension(format!("lock.{}", me.run_id));
    {
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(&serde_json::to_vec(me).map_err(std::io::Error::other)?)?;
        file.sync_all()?;
    }
    std::fs::rename(&temp, path)?;
    // Give a simultaneous taker the chance to land its rename, then see who holds it.
    std::thread::sleep(Duration::from_millis(20));
    Ok(read_holder(path).is_some_and(|h| h.run_id == me.run_id))
}

impl Holder {
    /// Whether the holder's process is still there: on this host, by its pid; on another host
    /// it cannot be told, and counts as there (as taking the lock does).
    #[must_use]
    pub(crate) fn is_live(&self) -> bool {
        self.host != crate::session::start::host() || alive(self.pid)
    }
}

fn read_holder(path: &Path) -> Option<Holder> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

/// The holder, allowing a concurrent writer a moment to finish writing.
fn read_holder_settled(path: &Path) -> Option<Holder> {
    for _ in 0..20 {
        if let Some(h) = read_holder(path) {
            return Some(h);
        }
        if !path.exists() {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

/// Whether a process with this pid exists on this host (a zombie counts as gone).
fn alive(pid: u32) -> bool {
    let Ok(raw) = i32::try_from(pid) else {
        return false;
    };
    if raw <= 0 {
        return false;
    }
    match nix::sys::signal::kill(nix::unistd::Pid::from_raw(raw), None) {
        Err(nix::errno::Errno::ESRCH) => false,
        _ => !std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
            s.rsplit(')')
                .next()
                .is_some_and(|rest| rest.trim_start().starts_with(['Z', 'X']))
        }),
    }
}

/// The locks a run holds; each is released when this is dropped.
#[derive(Debug)]
pub(crate) struct Locks(Vec<Lock>);

impl Locks {
    /// The holders taken over from, and whether each was stale.
    pub(crate) fn taken_from(&self) -> impl Iterator<Item = &(Holder, bool)> {
        self.0.iter().filter_map(|l| l.taken_from.as_ref())
    }
}

/// The lock file of a named lock (`[playbook] locks`): its name made safe for a file name,
/// and a digest of the whole name, so that two names never share a file.
#[must_use]
pub(crate) fn named_path(runs_root: &Path, name: &str) -> PathBuf {
    use sha2::{Digest as _, Sha256};
    let slug: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '.') {
                c
            } else {
                '_'
            }
        })
        .take(80)
        .collect();
    let digest = format!("{:x}", Sha256::digest(name.as_bytes()));
    runs_root
        .join(".locks")
        .join("named")
        .join(format!("{slug}-{}.lock", &digest[..12]))
}

/// The holder of any lock in the runs root that `run_id` holds: whether that run is live.
#[must_use]
pub(crate) fn held_by(runs_root: &Path, run_id: &str) -> Option<Holder> {
    let locks = runs_root.join(".locks");
    [locks.clone(), locks.join("named")]
        .iter()
        .filter_map(|dir| std::fs::read_dir(dir).ok())
        .flat_map(Iterator::flatten)
        .filter(|e| e.path().extension().is_some_and(|x| x == "lock"))
        .filter_map(|e| read_holder(&e.path()))
        .find(|h| h.run_id == run_id)
}

/// Takes the run's locks as the playbook's policy says, all or none: `names` (the rendered
/// `[playbook] locks`), or the playbook's own lock when there are none. `None` when the run is
/// skipped (`lock = "skip"`), an error naming the lock and its holder when it is refused.
pub(crate) fn take(
    playbook: &Playbook,
    names: &[String],
    runs_root: &Path,
    run_id: &str,
    started: DateTime<Utc>,
    break_lock: bool,
) -> Result<Option<Locks>, Error> {
    let me = Holder {
        run_id: run_id.to_owned(),
        pid: std::process::id(),
        host: crate::session::start::host(),
        started,
    };
    let mut targets: Vec<(String, PathBuf)> = if names.is_empty() {
        vec![(
            format!("`{}`", playbook.meta.name),
            path(runs_root, &playbook.meta.name),
        )]
    } else {
        names
            .iter()
            .map(|n| (format!("the lock `{n}`"), named_path(runs_root, n)))
            .collect()
    };
    // One order for every run, so two runs taking overlapping locks cannot each hold one.
    targets.sort_by(|a, b| a.1.cmp(&b.1));
    targets.dedup_by(|a, b| a.1 == b.1);
    let mut told = false;
    // Bounded by the live holders: a `wait` lasts as long as the runs ahead of it.
    loop {
        let mut taken = Vec::new();
        let mut blocked = None;
        for (label, path) in &targets {
            match acquire(path, &me, LockPolicy::Fail, break_lock, &mut |_| {})
                .map_err(|e| Error::Run(crate::error::chain(&e)))?
            {
                Outcome::Acquired(lock) => taken.push(lock),
                Outcome::Refused(holder) | Outcome::Skipped(holder) => {
                    blocked = Some((label.clone(), path.clone(), holder));
                    break;
                }
            }
        }
        let Some((label, path, holder)) = blocked else {
            return Ok(Some(Locks(taken)));
        };
        // All or none: what was taken goes back before waiting, failing or skipping.
        drop(taken);
        let held = if names.is_empty() {
            format!("{label} is already running")
        } else {
            format!("{label} is held")
        };
        match playbook.meta.lock {
            LockPolicy::Fail => {
                return Err(Error::Refused(format!(
                    "{held}: {holder}; wait for it to finish, or take over with --break-lock if that run is gone"
                )));
            }
            LockPolicy::Skip => {
                eprintln!("skipped: {held}: {holder} (lock = \"skip\")");
                return Ok(None);
            }
            LockPolicy::Wait => {
                if !told {
                    let what = if names.is_empty() {
                        format!("the lock of {label}")
                    } else {
                        label.clone()
                    };
                    eprintln!("waiting for {what}: held by {holder} (lock = \"wait\")");
                    told = true;
                }
                while read_holder(&path).is_some_and(|h| h.run_id == holder.run_id && h.is_live()) {
                    std::thread::sleep(Duration::from_millis(250));
                }
            }
        }
    }
}

/// The engine's way to the locks of a nested playbook: this run's identity and runs root.
pub(crate) struct RunLocker {
    pub(crate) root: PathBuf,
    pub(crate) run_id: String,
    pub(crate) started: DateTime<Utc>,
    pub(crate) break_lock: bool,
}

impl crate::engine::Locker for RunLocker {
    fn take(&self, playbook: &Playbook, names: &[String]) -> Result<Box<dyn Send>, String> {
        match take(
            playbook,
            names,
            &self.root,
            &self.run_id,
            self.started,
            self.break_lock,
        ) {
            Ok(Some(locks)) => Ok(Box::new(locks)),
            Ok(None) => Err(format!(
                "nested playbook `{}` skipped: a lock it names is held (lock = \"skip\")",
                playbook.label()
            )),
            Err(e) => Err(format!("nested playbook `{}`: {e}", playbook.label())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder(run: &str, pid: u32) -> Holder {
        Holder {
            run_id: run.to_owned(),
            pid,
            host: "here".to_owned(),
            started: Utc::now(),
        }
    }

    #[test]
    fn a_second_run_is_refused_and_a_dead_holder_is_taken_over() {
        let dir = tempfile::tempdir().expect("temp dir");
        let p = path(dir.path(), "pb");
        let me = holder("r1", std::process::id());
        let Outcome::Acquired(lock) =
            acquire(&p, &me, LockPolicy::Fail, false, &mut |_| {}).expect("lock")
        else {
            panic!("the first run gets the lock")
        };
        let other = holder("r2", std::process::id());
        match acquire(&p, &other, LockPolicy::Fail, false, &mut |_| {}).expect("lock") {
            Outcome::Refused(h) => assert_eq!(h.run_id, "r1"),
            other => panic!("expected a refusal, got {other:?}"),
        }
        drop(lock);
        assert!(!p.exists(), "released on drop");

        // A holder whose process is gone.
        let dead = holder("r0", u32::MAX / 2);
        std::fs::write(&p, serde_json::to_vec(&dead).expect("json")).expect("write");
        let Outcome::Acquired(lock) =
            acquire(&p, &me, LockPolicy::Fail, false, &mut |_| {}).expect("lock")
        else {
            panic!("a stale lock is taken over")
        };
        assert_eq!(
            lock.taken_from
                .as_ref()
                .map(|(h, stale)| (h.run_id.as_str(), *stale)),
            Some(("r0", true))
        );
    }
}
