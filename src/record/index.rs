//! The index of a runs root, `.history-index.json`: the digest ([`PastRun`]) of each run
//! folder's journal, so that `runs`, `list`, the `history` probe and the report's comparison
//! read each journal once, not once per command. An entry is used only while its journal has
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

#[derive(Serialize, Deserialize)]
struct Stored {
    version: u32,
    runs: BTreeMap<String, Entry>,
}

#[derive(Clone, Serialize, Deserialize)]
struct Entry {
    /// The journal's length and modification time when it was read.
    len: u64,
    modified: (u64, u32),
    run: PastRun,
}

#[derive(Deserialize)]
struct StoredHeads {
    version: u32,
    runs: BTreeMap<String, EntryHead>,
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
    fn save(self);
}

/// A runs root's index read for the runs alone, without their steps, and never written: for
/// the report's comparison and the `history` probe, which need no step of any past run (the
/// compared run is read whole from its journal). Parsing a thousand runs' steps and writing
/// them back made each `run` of a playbook with a long history 1.4 times slower and larger.
pub(crate) struct Heads {
    runs: BTreeMap<String, EntryHead>,
}

impl Heads {
    /// The heads of `root`'s index; none when there is none or it cannot be read, so that
    /// every journal is read (and nothing is trusted from a torn or foreign file).
    pub(crate) fn open(root: &Path) -> Self {
        let stored = std::fs::read(root.join(FILE))
            .ok()
            .and_then(|bytes| serde_json::from_slice::<StoredHeads>(&bytes).ok())
            .filter(|s| s.version == VERSION);
        Self {
            runs: stored.map(|s| s.runs).unwrap_or_default(),
        }
    }
}

impl Digests for Heads {
    fn seen(&mut self, _name: &str) {}

    fn head(&self, name: &str, journal: &Metadata) -> Option<Head> {
        let entry = self.runs.get(name)?;
        (entry.len == journal.len() && Some(entry.modified) == modified(journal))
            .then(|| entry.run.head())
    }

    /// The run of `name`, without steps, if its journal is unchanged since it was indexed.
    fn get(&self, name: &str, journal: &Metadata) -> Option<PastRun> {
        let entry = self.runs.get(name)?;
        (entry.len == journal.len() && Some(entry.modified) == modified(journal))
            .then(|| entry.run.clone().into_run())
    }

    fn put(&mut self, _name: &str, _journal: &Metadata, _run: &PastRun) {}

    /// Leaves the index as it is: the next full scan (`runs`) brings it up to date.
    fn save(self) {}
}

impl Digests for Index {
    fn seen(&mut self, name: &str) {
        Index::seen(self, name);
    }
    fn head(&self, name: &str, journal: &Metadata) -> Option<Head> {
        self.runs
            .get(name)
            .filter(|e| e.len == journal.len() && Some(e.modified) == modified(journal))
            .map(|e| Head {
                run_id: e.run.run_id.clone(),
                playbook: e.run.playbook.clone(),
            })
    }
    fn get(&self, name: &str, journal: &Metadata) -> Option<PastRun> {
        Index::get(self, name, journal)
    }
    fn put(&mut self, name: &str, journal: &Metadata, run: &PastRun) {
        Index::put(self, name, journal, run);
    }
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
        let stored = std::fs::read(&path)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<Stored>(&bytes).ok())
            .filter(|s| s.version == VERSION);
        Self {
            path,
            changed: stored.is_none(),
            runs: stored.map(|s| s.runs).unwrap_or_default(),
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
            .filter(|e| e.len == journal.len() && Some(e.modified) == modified(journal))
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

    /// Forgets the folders the scan did not find (a scan looks at every folder of the runs
    /// root), and writes the index if anything changed: to a temporary file renamed over it,
    /// so that a reader never sees half of one. A failure only costs the next scan its speed.
    pub(crate) fn save(mut self) {
        let before = self.runs.len();
        self.runs.retain(|name, _| self.seen.contains(name));
        self.changed |= self.runs.len() != before;
        if !self.changed || (self.runs.is_empty() && !self.path.exists()) {
            return;
        }
        let stored = Stored {
            version: VERSION,
            runs: std::mem::take(&mut self.runs),
        };
        let Ok(bytes) = serde_json::to_vec(&stored) else {
            return;
        };
        let temp = self
            .path
            .with_extension(format!("json.{}.tmp", std::process::id()));
        let written =
            std::fs::write(&temp, bytes).and_then(|()| std::fs::rename(&temp, &self.path));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&temp);
            tracing::debug!(path = %self.path.display(), error = %e, "history index not written");
        }
    }
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
}
