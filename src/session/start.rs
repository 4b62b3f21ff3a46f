//! Who, where and which: a new run's id, the runs root of a playbook, the commander, the
//! parallelism, this machine's name.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use sha2::{Digest as _, Sha256};

use crate::playbook::Playbook;
use crate::playbook::find::Library;

/// `20261123T020000Z-postgres-restore-7f3a`: sortable, readable, unique.
pub(crate) fn run_id(playbook: &Playbook, at: DateTime<Utc>) -> String {
    let mut h = Sha256::new();
    h.update(at.timestamp_nanos_opt().unwrap_or_default().to_le_bytes());
    h.update(std::process::id().to_le_bytes());
    h.update(playbook.sha256.as_bytes());
    let suffix = format!("{:x}", h.finalize());
    format!(
        "{}-{}-{}",
        at.format("%Y%m%dT%H%M%SZ"),
        playbook.meta.name,
        &suffix[..4]
    )
}

/// `$RUNBOOK_RUNS`, else `runs/` in the parent of the playbook's folder. The path is made
/// absolute and its symlinks resolved first, so every spelling of one file (`x.toml` from
/// inside its folder, `playbooks/x.toml`, a symlink to it) shares one runs root: one lock, one
/// history.
pub(crate) fn runs_root(playbook_path: &Path) -> PathBuf {
    if let Some(root) = std::env::var_os("RUNBOOK_RUNS").filter(|r| !r.is_empty()) {
        return PathBuf::from(root);
    }
    let path = resolved(playbook_path);
    let folder = path.parent().unwrap_or(Path::new("/"));
    folder.parent().unwrap_or(folder).join("runs")
}

/// Every runs root that may hold runs: `$RUNBOOK_RUNS`, else `runs/` beside each playbook folder,
/// and the runs root of a playbook in the current folder: `runbook run p.toml` followed by
/// `runbook runs` or `runbook resume ID` in the same folder finds that run.
pub(crate) fn runs_roots(library: &Library) -> Vec<PathBuf> {
    if let Some(root) = std::env::var_os("RUNBOOK_RUNS").filter(|r| !r.is_empty()) {
        return vec![PathBuf::from(root)];
    }
    let folders = library.dirs().iter().map(PathBuf::as_path);
    let mut roots: Vec<PathBuf> = Vec::new();
    for folder in folders.chain([Path::new("")]) {
        let root = runs_root(&folder.join("x.toml"));
        if !roots.contains(&root) {
            roots.push(root);
        }
    }
    roots
}

/// The absolute path with symlinks resolved; for a file that does not exist (a folder's
/// `x.toml` placeholder), its folder resolved and the name kept.
fn resolved(path: &Path) -> PathBuf {
    if let Ok(real) = path.canonicalize() {
        return real;
    }
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    match (absolute.parent(), absolute.file_name()) {
        (Some(folder), Some(name)) => folder
            .canonicalize()
            .unwrap_or_else(|_| folder.to_path_buf())
            .join(name),
        _ => absolute,
    }
}

/// How many steps may run at once: `--max-parallel`, else the playbook's `max_parallel`;
/// `None`: no limit (steps wait on I/O far more often than they compute).
pub(crate) fn max_parallel(flag: Option<u32>, playbook: Option<usize>) -> Option<usize> {
    flag.map(|n| n as usize).or(playbook)
}

/// Who runs runbook when `--commander` is not given: `$USER`, else (a root shell or a service
/// that sets no `$USER`) the name of the account runbook runs as.
pub(crate) fn user() -> Option<String> {
    std::env::var("USER")
        .ok()
        .filter(|u| !u.trim().is_empty())
        .or_else(crate::engine::answer::own_user_name)
}

/// This machine's name, as the journal and the lock record it.
pub(crate) fn host() -> String {
    nix::unistd::gethostname().map_or_else(
        |_| "unknown".to_owned(),
        |h| h.to_string_lossy().into_owned(),
    )
}

/// A path as the journal records it: absolute, so that `resume` finds it from anywhere.
pub(crate) fn absolute(path: &Path) -> String {
    std::path::absolute(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}
