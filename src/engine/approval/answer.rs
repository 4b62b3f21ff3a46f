//! The answers another process gives a waiting run, through the run folder's `answers/`:
//! `runbook approve` / `decline` write `<id>.answer` (a temporary file, fsynced, then renamed,
//! so the run never reads half of one); the run takes it (reads it and removes it, since a
//! manual step's answers may be secret), and writes `<id>.reply` the same way, which the
//! answering process waits for.
//!
//! Who answered is the answer file's owner, as the kernel set it: an OS user cannot write an
//! answer in another user's name. When the run folder is group-writable (a shared ops group),
//! `answers/` is too, with the sticky bit (nobody removes another user's answer), and every
//! file in it is group-readable.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

/// The folder of answers in a run folder.
pub(crate) const FOLDER: &str = "answers";

/// Approve or decline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Verdict {
    Approve,
    Decline,
}

/// One answer to a pending request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Answer {
    /// The step as the journal names it (`parent/child` in a nested playbook).
    pub(crate) step: String,
    pub(crate) verdict: Verdict,
    /// `--as`, else the OS user.
    pub(crate) by: String,
    /// `--reason` of a decline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) reason: Option<String>,
    /// `--input NAME=VALUE` of a manual step, as typed: the run checks them.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub(crate) inputs: IndexMap<String, String>,
}

/// What the run made of an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Outcome {
    /// Journaled: the request is answered, or has one more approval.
    Recorded,
    /// Not accepted by the request's rule (the commander under `not_commander`, twice the same
    /// OS user); the request still waits.
    Refused,
    /// Not an answer the request can take (an unknown or invalid input).
    Invalid,
}

/// The run's reply to one answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Reply {
    pub(crate) outcome: Outcome,
    /// For the person who answered: what happened, or why not.
    pub(crate) message: String,
}

/// An answer found in `answers/`, taken (removed) by the run.
#[derive(Debug)]
pub(crate) struct Taken {
    /// What to name the reply after.
    pub(crate) id: String,
    /// The owner of the file.
    pub(crate) uid: u32,
    pub(crate) answer: Result<Answer, String>,
}

/// `answers/` of a run folder.
#[must_use]
pub(crate) fn folder(run_dir: &Path) -> PathBuf {
    run_dir.join(FOLDER)
}

/// Creates `answers/` in a run folder, writable by the run folder's group when the run folder
/// is (with its group, and the sticky bit).
pub(crate) fn prepare(run_dir: &Path) -> std::io::Result<PathBuf> {
    let dir = folder(run_dir);
    match std::fs::create_dir(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    let run = std::fs::metadata(run_dir)?;
    if run.mode() & 0o020 != 0 {
        // The folder's group, whether or not the run folder has the setgid bit; a run that is
        // not a member of that group keeps its own (and says nothing: the mode still lets the
        // members in when the group is theirs).
        let _ = std::os::unix::fs::chown(&dir, None, Some(run.gid()));
        let mode = (run.mode() & 0o777) | 0o1000 | (run.mode() & 0o2000);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode))?;
    }
    Ok(dir)
}

/// The mode of a file written in `dir`: group-readable when `dir` is group-writable.
fn file_mode(dir: &Path) -> u32 {
    match std::fs::metadata(dir) {
        Ok(m) if m.mode() & 0o020 != 0 => 0o640,
        _ => 0o600,
    }
}

/// Writes `name` in `dir` atomically: a temporary file (created exclusively), fsynced, renamed.
fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<PathBuf> {
    let mode = file_mode(dir);
    let temp = dir.join(format!(".{name}.tmp"));
    let mut file: File = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&temp)?;
    // The umask may have taken the group bits away.
    file.set_permissions(std::fs::Permissions::from_mode(mode))?;
    let written = file.write_all(bytes).and_then(|()| file.sync_all());
    if let Err(e) = written {
        let _ = std::fs::remove_file(&temp);
        return Err(e);
    }
    let path = dir.join(name);
    if let Err(e) = std::fs::rename(&temp, &path) {
        let _ = std::fs::remove_file(&temp);
        return Err(e);
    }
    // The rename itself on disk.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(path)
}

/// An answer sent: where it is, and where its reply will be.
#[derive(Debug, Clone)]
pub(crate) struct Sent {
    pub(crate) answer: PathBuf,
    pub(crate) reply: PathBuf,
}

/// Sends an answer to the run of `run_dir`.
pub(crate) fn send(run_dir: &Path, answer: &Answer) -> std::io::Result<Sent> {
    let dir = folder(run_dir);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    // Unique on this machine: the time, and this process (which sends one answer).
    let id = format!("{:020}-{}", now.as_nanos(), std::process::id());
    let bytes = serde_json::to_vec(answer).map_err(std::io::Error::other)?;
    let answer = write_atomic(&dir, &format!("{id}.answer"), &bytes)?;
    Ok(Sent {
        answer,
        reply: dir.join(format!("{id}.reply")),
    })
}

/// The answers waiting in `dir` for `step`, oldest first, each removed from the folder as it is
/// read. Answers to other steps stay for their own requests.
pub(crate) fn take(dir: &Path, step: &str) -> Vec<Taken> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "answer"))
        .collect();
    paths.sort();
    let mut out = Vec::new();
    for path in paths {
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        let parsed = serde_json::from_slice::<Answer>(&bytes);
        if parsed.as_ref().is_ok_and(|a| a.step != step) {
            continue;
        }
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        // Whoever removes it first takes it; a file that is gone was taken already.
        if std::fs::remove_file(&path).is_err() {
            continue;
        }
        let id = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        out.push(Taken {
            id,
            uid: meta.uid(),
            answer: parsed.map_err(|e| format!("unreadable answer: {e}")),
        });
    }
    out
}

/// Writes the reply to an answer taken from `dir`.
pub(crate) fn reply(dir: &Path, id: &str, reply: &Reply) -> std::io::Result<()> {
    let bytes = serde_json::to_vec(reply).map_err(std::io::Error::other)?;
    write_atomic(dir, &format!("{id}.reply"), &bytes).map(|_| ())
}

/// The reply at `path`, once it is there.
pub(crate) fn read_reply(path: &Path) -> Option<Reply> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

/// The name of an OS user, as `id -un` prints it (the number when it has no name).
#[must_use]
pub(crate) fn user_name(uid: u32) -> String {
    nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
        .ok()
        .flatten()
        .map_or_else(|| uid.to_string(), |u| u.name)
}

/// The OS user this process runs as (its real uid).
#[must_use]
pub(crate) fn own_user() -> String {
    own_user_name().unwrap_or_else(|| nix::unistd::getuid().to_string())
}

/// The name of the account this process runs as, if it has one; looked up once: each lookup
/// reads `/etc/passwd` (or asks NSS), and a run asks several times.
#[must_use]
pub(crate) fn own_user_name() -> Option<String> {
    static OWN: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    OWN.get_or_init(|| {
        nix::unistd::User::from_uid(nix::unistd::getuid())
            .ok()
            .flatten()
            .map(|u| u.name)
    })
    .clone()
}

#[cfg(test)]
mod tests {
    use super::{Answer, Outcome, Reply, Verdict, prepare, read_reply, reply, send, take};

    fn answer(step: &str) -> Answer {
        Answer {
            step: step.to_owned(),
            verdict: Verdict::Approve,
            by: "alice".to_owned(),
            reason: None,
            inputs: indexmap::IndexMap::new(),
        }
    }

    #[test]
    fn an_answer_is_taken_once_by_its_own_step() {
        let run = tempfile::tempdir().expect("tempdir");
        let dir = prepare(run.path()).expect("prepare");
        let sent = send(run.path(), &answer("b")).expect("send");
        assert!(take(&dir, "a").is_empty(), "another step's answer stays");
        let taken = take(&dir, "b");
        assert_eq!(taken.len(), 1);
        assert_eq!(taken[0].answer.as_ref().expect("parsed"), &answer("b"));
        assert!(!sent.answer.exists(), "taken answers are removed");
        assert!(take(&dir, "b").is_empty());
        let r = Reply {
            outcome: Outcome::Recorded,
            message: "ok".to_owned(),
        };
        reply(&dir, &taken[0].id, &r).expect("reply");
        assert_eq!(read_reply(&sent.reply), Some(r));
    }

    #[test]
    fn no_temporary_file_is_taken() {
        let run = tempfile::tempdir().expect("tempdir");
        let dir = prepare(run.path()).expect("prepare");
        std::fs::write(dir.join(".1-2.answer.tmp"), b"{").expect("write");
        assert!(take(&dir, "b").is_empty());
    }
}
