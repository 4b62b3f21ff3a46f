//! Whether a run's process is still there, told from its folder alone: the run holds an
//! exclusive `flock` on `<run folder>/live.lock` for as long as it runs. The kernel drops the
//! lock when the process ends in any way (a crash, `kill -9`, a power cut), so another process
//! (`runbook approve`, `runbook watch`), as any OS user that can read the folder, knows a crashed
//! run from a live one without trusting a pid.

use std::fs::File;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

/// The file a live run holds locked.
fn path(run_dir: &Path) -> PathBuf {
    run_dir.join("live.lock")
}

/// The lock of a live run: held until dropped. A run that ends removes the file (its journal
/// says it ended); one that crashes leaves it, unlocked.
pub(crate) struct Presence {
    path: PathBuf,
    _lock: Flock<File>,
}

impl Drop for Presence {
    fn drop(&mut self) {
        // Removed while still locked: nobody sees a free lock of a run that is still here.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Takes the run's presence lock (a `resume` takes it again).
pub(crate) fn hold(run_dir: &Path) -> std::io::Result<Presence> {
    let path = path(run_dir);
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)?;
    // Readable by whoever may read the folder: they test the lock, they never write it.
    file.set_permissions(std::fs::Permissions::from_mode(0o644))?;
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => Ok(Presence { path, _lock: lock }),
        Err((_, errno)) => Err(std::io::Error::other(format!(
            "another process holds `{}`: {errno}",
            path.display()
        ))),
    }
}

/// What the folder says of its run's process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Liveness {
    /// Its process holds the lock.
    Live,
    /// Nobody holds it: the run ended, or its process is gone.
    Gone,
    /// No lock file (a run of an older runbook), or it cannot be read.
    Unknown,
}

/// Whether the run of `run_dir` is still running.
#[must_use]
pub(crate) fn liveness(run_dir: &Path) -> Liveness {
    let Ok(file) = File::open(path(run_dir)) else {
        return Liveness::Unknown;
    };
    // A shared lock is refused while the run holds its exclusive one; taken, it is let go at
    // once (when `_probe` drops), so a run starting meanwhile is not held up.
    match Flock::lock(file, FlockArg::LockSharedNonblock) {
        Ok(_probe) => Liveness::Gone,
        Err((_, nix::errno::Errno::EWOULDBLOCK)) => Liveness::Live,
        Err(_) => Liveness::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::{Liveness, hold, liveness};

    #[test]
    fn a_held_folder_is_live_and_one_that_ended_has_no_lock_left() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(liveness(dir.path()), Liveness::Unknown);
        let presence = hold(dir.path()).expect("hold");
        assert_eq!(liveness(dir.path()), Liveness::Live);
        assert!(hold(dir.path()).is_err(), "one live run per folder");
        drop(presence);
        assert!(!dir.path().join("live.lock").exists());
        assert_eq!(liveness(dir.path()), Liveness::Unknown);
    }

    #[test]
    fn a_lock_file_nobody_holds_is_a_run_that_is_gone() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("live.lock"), b"").expect("write");
        assert_eq!(liveness(dir.path()), Liveness::Gone);
    }
}
