//! The index of a runs root, `.history-index.json`: the digest ([`PastRun`]) of each run
//! folder's journal, so that `runs` and `list` read each journal once, not once per command;
//! and beside it `.history-heads.json`, the same digests without their steps, for the
//! `history` probe and the report's comparison ([`Heads`]). An entry is used only while its journal has
//! the length and modification time it had when it was read; a journal that changed since (a
//! run still going, a resume) is read again. An index that is missing, unreadable or of another
//! version is rebuilt. It is a cache, never the record: writing it may fail (a read-only runs
//! root) without any effect but speed, and deleting it is always safe.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::Metadata;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};

use crate::record::head::Head;
use crate::record::past_run::{PastRun, PastRunHead};

/// The file's name in the runs root.
pub(crate) const FILE: &str = ".history-index.json";

/// Bumped whenever [`PastRun`] changes shape: an index of another version is rebuilt.
const VERSION: u32 = 2;

/// A cache file: its version, and an entry per run folder (by name).
#[derive(Serialize, Deserialize)]
struct Stored<E> {
    version: u32,
    runs: BTreeMap<String, E>,
}

impl<E: serde::de::DeserializeOwned> Stored<E> {
    /// The entries of the file at `path`, if it is there, whole, and of `version`.
    fn read(path: &Path, version: u32) -> Option<BTreeMap<String, E>> {
        std::fs::read(path)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<Self>(&bytes).ok())
            .filter(|s| s.version == version)
            .map(|s| s.runs)
    }
}

impl<E: Serialize> Stored<E> {
    /// Forgets the folders a scan did not find (`seen`: a scan looks at every folder of the
    /// runs root), and writes `runs` to `path` if anything changed: to a temporary file renamed
    /// over it, so that a reader never sees half of one. A failure only costs the next scan its
    /// speed.
    fn save(
        path: &Path,
        version: u32,
        mut runs: BTreeMap<String, E>,
        seen: &BTreeSet<String>,
        mut changed: bool,
    ) {
        let before = runs.len();
        runs.retain(|name, _| seen.contains(name));
        changed |= runs.len() != before;
        if !changed || (runs.is_empty() && !path.exists()) {
            return;
        }
        let Ok(bytes) = serde_json::to_vec(&Self { version, runs }) else {
            return;
        };
        let temp = path.with_extension(format!("json.{}.tmp", std::process::id()));
        let written = std::fs::write(&temp, bytes).and_then(|()| std::fs::rename(&temp, path));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&temp);
            tracing::debug!(path = %path.display(), error = %e, "history index not written");
        }
    }
}

#[derive(Clone, Serialize, Deserialize)]
struct Entry {
    /// The journal's length and modification time when it was read.
    len: u64,
    modified: (u64, u32),
    run: PastRun,
}

#[derive(Deserialize)]
struct EntryHead {
    len: u64,
    modified: (u64, u32),
    run: PastRunHead,
}

/// What a scan takes its digests from and gives them back to: the whole [`Index`], or its
/// [`Heads`] alone.
pub(crate) trait Digests {
    fn seen(&mut self, name: &str);
    /// The journal's [`Head`] (run id and playbook), if it is unchanged since it was indexed:
    /// enough to pass over a run that is not wanted without building its digest.
    fn head(&self, name: &str, journal: &Metadata) -> Option<Head>;
    fn get(&self, name: &str, journal: &Metadata) -> Option<PastRun>;
    fn put(&mut self, name: &str, journal: &Metadata, run: &PastRun);
    /// Notes that `name` holds a run of another playbook than the one scanned for, known from
    /// its journal's first line, so that the next scan need not open it. (The full index keeps
    /// whole digests only, and does nothing.)
    fn put_head(&mut self, name: &str, journal: &Metadata, head: Head);
    fn save(self);
}

/// The file of the runs root's run heads: [`Heads`].
pub(crate) const HEADS_FILE: &str = ".history-heads.json";

/// Bumped whenever [`PastRunHead`] or [`Head`] changes shape.
const HEADS_VERSION: u32 = 2;

/// One run folder in [`HEADS_FILE`], as its journal was when it was read.
#[derive(Clone, Serialize, Deserialize)]
struct HeadEntry {
    len: u64,
    modified: (u64, u32),
    known: Known,
}

/// What a heads entry knows of its run.
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Known {
    /// The digest without steps: a scan wanted this playbook's runs.
    Run(PastRunHead),
    /// Only which run it is, from the journal's first line: another playbook's run.
    Other(Head),
}

impl Known {
    fn head(&self) -> Head {
        match self {
            Self::Run(run) => run.head(),
            Self::Other(head) => head.clone(),
        }
    }
}

/// A runs root's runs without their steps, for the report's comparison and the `history`
/// probe, which need no step of any past run (the compared run is read whole from its
/// journal). They live in a file of their own, [`HEADS_FILE`], apart from the full index
/// that `runs` keeps: reading and writing every run's steps back made each `run` of a playbook
/// with a long history 1.4 times slower and larger, and never writing anything made each one
/// parse every journal no `runs` had indexed yet (3.75 times slower with 1,000 past runs).
/// Like the index, it is a cache checked against each journal's length and modification time,
/// written whole to a temporary file renamed over it, and rebuilt when missing or unreadable
/// (from the full index's entries, when there is one).
pub(crate) struct Heads {
    path: PathBuf,
    runs: BTreeMap<String, HeadEntry>,
    seen: BTreeSet<String>,
    changed: bool,
}

impl Heads {
    pub(crate) fn open(root: &Path) -> Self {
        let path = root.join(HEADS_FILE);
        let stored = Stored::read(&path, HEADS_VERSION);
        // None yet (or unreadable): what the full index knows, which the next save writes.
        let changed = stored.is_none();
        let runs = stored.unwrap_or_else(|| heads_of_index(root));
        Self {
            path,
            runs,
            seen: BTreeSet::new(),
            changed,
        }
    }

    fn fresh(&self, name: &str, journal: &Metadata) -> Option<&Known> {
        self.runs
            .get(name)
            .filter(|e| unchanged(e.len, e.modified, journal))
            .map(|e| &e.known)
    }

    fn insert(&mut self, name: &str, journal: &Metadata, known: Known) {
        let Some(modified) = modified(journal) else {
            return;
        };
        let entry = HeadEntry {
            len: journal.len(),
            modified,
            known,
        };
        self.runs.insert(name.to_owned(), entry);
        self.changed = true;
    }
}

/// The entries of `root`'s full index, as heads: where a heads file starts from.
fn heads_of_index(root: &Path) -> BTreeMap<String, HeadEntry> {
    Stored::<EntryHead>::read(&root.join(FILE), VERSION)
        .map(|runs| {
            runs.into_iter()
                .map(|(name, e)| {
                    let entry = HeadEntry {
                        len: e.len,
                        modified: e.modified,
                        known: Known::Run(e.run),
                    };
                    (name, entry)
                })
                .collect()
        })
        .unwrap_or_default()
}

impl Digests for Heads {
    fn seen(&mut self, name: &str) {
        self.seen.insert(name.to_owned());
    }

    fn put_head(&mut self, name: &str, journal: &Metadata, head: Head) {
        if self.fresh(name, journal).is_none() {
            self.insert(name, journal, Known::Other(head));
        }
    }

    fn head(&self, name: &str, journal: &Metadata) -> Option<Head> {
        self.fresh(name, journal).map(Known::head)
    }

    /// The run of `name`, without steps, if its journal is unchanged since it was read.
    fn get(&self, name: &str, journal: &Metadata) -> Option<PastRun> {
        match self.fresh(name, journal)? {
            Known::Run(run) => Some(run.clone().into_run()),
            Known::Other(_) => None,
        }
    }

    fn put(&mut self, name: &str, journal: &Metadata, run: &PastRun) {
        self.insert(name, journal, Known::Run(PastRunHead::of(run)));
    }

    /// Forgets the folders the scan did not find, and writes the file if anything changed.
    fn save(self) {
        Stored::save(
            &self.path,
            HEADS_VERSION,
            self.runs,
            &self.seen,
            self.changed,
        );
    }
}

impl Digests for Index {
    fn seen(&mut self, name: &str) {
        Index::seen(self, name);
    }
    fn head(&self, name: &str, journal: &Metadata) -> Option<Head> {
        self.runs
            .get(name)
            .filter(|e| unchanged(e.len, e.modified, journal))
            .map(|e| e.run.head())
    }
    fn get(&self, name: &str, journal: &Metadata) -> Option<PastRun> {
        Index::get(self, name, journal)
    }
    fn put(&mut self, name: &str, journal: &Metadata, run: &PastRun) {
        Index::put(self, name, journal, run);
    }
    fn put_head(&mut self, _name: &str, _journal: &Metadata, _head: Head) {}
    fn save(self) {
        Index::save(self);
    }
}

/// A runs root's index, open for one scan.
pub(crate) struct Index {
    path: PathBuf,
    runs: BTreeMap<String, Entry>,
    /// The run folders this scan found.
    seen: BTreeSet<String>,
    changed: bool,
}

impl Index {
    /// The index of `root`; empty when there is none or it cannot be read.
    pub(crate) fn open(root: &Path) -> Self {
        let path = root.join(FILE);
        let stored = Stored::read(&path, VERSION);
        Self {
            path,
            changed: stored.is_none(),
            runs: stored.unwrap_or_default(),
            seen: BTreeSet::new(),
        }
    }

    /// Notes that the run folder `name` exists.
    pub(crate) fn seen(&mut self, name: &str) {
        self.seen.insert(name.to_owned());
    }

    /// The digest of `name`, if its journal is unchanged since it was indexed (without `dir`).
    pub(crate) fn get(&self, name: &str, journal: &Metadata) -> Option<PastRun> {
        self.runs
            .get(name)
            .filter(|e| unchanged(e.len, e.modified, journal))
            .map(|e| e.run.clone())
    }

    /// Indexes the digest of `name`, read from a journal with this metadata.
    pub(crate) fn put(&mut self, name: &str, journal: &Metadata, run: &PastRun) {
        let Some(modified) = modified(journal) else {
            return;
        };
        self.runs.insert(
            name.to_owned(),
            Entry {
                len: journal.len(),
                modified,
                run: PastRun {
                    dir: PathBuf::new(),
                    ..run.clone()
                },
            },
        );
        self.changed = true;
    }

    /// Forgets the folders the scan did not find, and writes the index if anything changed.
    pub(crate) fn save(self) {
        Stored::save(&self.path, VERSION, self.runs, &self.seen, self.changed);
    }
}

/// Whether a journal still has the length and modification time an entry was read at.
fn unchanged(len: u64, at: (u64, u32), journal: &Metadata) -> bool {
    len == journal.len() && Some(at) == modified(journal)
}

/// A modification time that tells a rewrite apart: seconds and nanoseconds since the epoch.
fn modified(m: &Metadata) -> Option<(u64, u32)> {
    let since = m.modified().ok()?.duration_since(UNIX_EPOCH).ok()?;
    Some((since.as_secs(), since.subsec_nanos()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::history;

    const START: &str = r#"{"ts":"2026-11-23T02:00:00.000Z","run_id":"20261123T020000Z-p-0001","event":"run_started","playbook":"p","path":"/p.toml","version":"1.0.0","sha256":"x","mode":"drill","env":null,"commander":"me","vars":{},"incident_start":null,"dry_run":false,"host":"h","run_dir":"d","runbook_version":"0","max_parallel":1}"#;
    const END: &str = r#"{"ts":"2026-11-23T02:00:05.000Z","run_id":"20261123T020000Z-p-0001","event":"run_finished","status":"ok","duration_ms":5000,"failures_tolerated":0,"rto_objective_ms":null,"rto_achieved_ms":5000,"rpo_objective_ms":null,"rpo_achieved_ms":null,"recovery_point":null}"#;

    #[test]
    fn a_changed_journal_is_read_again_and_a_broken_index_rebuilt() {
        let root = tempfile::tempdir().expect("temp dir");
        let dir = root.path().join("20261123T020000Z-p-0001");
        std::fs::create_dir(&dir).expect("mkdir");
        let journal = dir.join("journal.jsonl");
        std::fs::write(&journal, format!("{START}\n")).expect("write");
        let roots = vec![root.path().to_path_buf()];
        let (runs, _) = history::scan(&roots);
        assert_eq!(runs[0].status_word(), "incomplete");
        assert_eq!(
            runs[0].dir, dir,
            "the folder comes from the scan, not the index"
        );
        assert!(root.path().join(FILE).is_file(), "indexed");
        // The run goes on: its journal grows, and the index follows.
        std::fs::write(&journal, format!("{START}\n{END}\n")).expect("write");
        let (runs, _) = history::scan(&roots);
        assert_eq!(runs[0].status_word(), "ok");
        assert_eq!(
            runs[0].finished.as_ref().and_then(|f| f.rto_achieved_ms),
            Some(5000)
        );
        // From the index, the same digest.
        let (again, _) = history::scan(&roots);
        assert_eq!(again, runs);
        std::fs::write(root.path().join(FILE), "{not an index").expect("write");
        let (rebuilt, _) = history::scan(&roots);
        assert_eq!(rebuilt, runs);
        // A removed run folder leaves the index.
        std::fs::remove_dir_all(&dir).expect("rm");
        let (none, _) = history::scan(&roots);
        assert!(none.is_empty());
        let text = std::fs::read_to_string(root.path().join(FILE)).expect("index");
        assert!(!text.contains("0001"), "{text}");
    }

    /// Same length, same modification time, other bytes: what only a cache hit can read as
    /// the journal it was.
    fn disguise(journal: &Path) {
        let meta = std::fs::metadata(journal).expect("stat");
        let len = usize::try_from(meta.len()).expect("small");
        std::fs::write(journal, "x".repeat(len)).expect("write");
        std::fs::File::options()
            .write(true)
            .open(journal)
            .and_then(|f| f.set_modified(meta.modified().expect("mtime")))
            .expect("set mtime");
    }

    #[test]
    fn reports_and_probes_keep_their_own_heads_and_read_only_new_journals() {
        let root = tempfile::tempdir().expect("temp dir");
        let roots = vec![root.path().to_path_buf()];
        let mine = root.path().join("20261123T020000Z-p-0001");
        let other = root.path().join("anything");
        for dir in [&mine, &other] {
            std::fs::create_dir(dir).expect("mkdir");
        }
        std::fs::write(mine.join("journal.jsonl"), format!("{START}\n{END}\n")).expect("write");
        let q = START
            .replace("\"playbook\":\"p\"", "\"playbook\":\"q\"")
            .replace("-p-0001", "-q-0002");
        std::fs::write(other.join("journal.jsonl"), format!("{q}\n")).expect("write");
        // No `runs` has made the full index: the first scan reads the journals and keeps
        // their heads.
        let (runs, warnings) = history::scan_heads(&roots, "p", None);
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].status_word(), "ok");
        assert!(root.path().join(HEADS_FILE).is_file(), "heads written");
        assert!(
            !root.path().join(FILE).exists(),
            "the full index is `runs`' to write"
        );
        // The next scan opens neither journal: both answers come from the heads.
        disguise(&mine.join("journal.jsonl"));
        disguise(&other.join("journal.jsonl"));
        let (again, warnings) = history::scan_heads(&roots, "p", None);
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(again, runs);
        // A journal that changed is read again (here: damage, which is said, not skipped).
        std::fs::write(mine.join("journal.jsonl"), "{not a journal}\n").expect("write");
        let (_, warnings) = history::scan_heads(&roots, "p", None);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        // An unreadable heads file is rebuilt, never trusted.
        std::fs::write(mine.join("journal.jsonl"), format!("{START}\n{END}\n")).expect("write");
        std::fs::write(other.join("journal.jsonl"), format!("{q}\n")).expect("write");
        std::fs::write(root.path().join(HEADS_FILE), "{torn").expect("write");
        let (rebuilt, warnings) = history::scan_heads(&roots, "p", None);
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(rebuilt.len(), 1);
        assert_eq!(rebuilt[0].status_word(), "ok");
    }
}
