//! The index of a runs root, `.history-index.json`: the digest ([`PastRun`]) of each run
//! folder's journal, so that `runs` and `list` read each journal once, not once per command;
//! and beside it `.history-heads.json`, the same digests without their steps, for the
//! `history` probe and the report's comparison ([`Heads`]). An entry is used only while its journal has
//! the length and modification time it had when it was read; a journal that changed since (a
//! run still going, a resume) is read again. An index that is missing, unreadable or of another
//! version is rebuilt. It is a cache, never the record: writing it may fail (a read-only runs
//! root) without any effect but speed, and deleting it is always safe.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::Metadata;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use chrono::{DateTime, Utc};
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

use crate::event::{Mode, RunStatus};

use crate::record::head::Head;
use crate::record::past_run::{PastRun, PastRunHead};

/// The file's name in the runs root.
pub(crate) const FILE: &str = ".history-index.json";

/// Bumped whenever [`PastRun`] changes shape: an index of another version is rebuilt.
const VERSION: u32 = 3;

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
    /// The playbook of the run in `name`, if its journal is unchanged since it was indexed:
    /// enough to pass over a run that is not wanted without building its digest.
    fn playbook(&self, name: &str, journal: &Metadata) -> Option<&str>;
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

/// Bumped whenever the heads file, [`PastRunHead`] or [`Head`] changes shape.
const HEADS_VERSION: u32 = 3;

/// The heads file's first line.
#[derive(Serialize, Deserialize)]
struct HeadsHeader {
    version: u32,
}

/// One line of [`HEADS_FILE`] after the first: a run folder's name and its [`HeadEntry`], as
/// an array of the name and the entry's fields in their order ([`line_of`]). A later line for
/// the same folder replaces an earlier one.
#[derive(Deserialize)]
struct HeadLine(String, u64, (u64, u32), Known);

/// A [`HeadLine`] as a scan reads every line: borrowing its strings from the file, and passing
/// over what only the run compared with needs (read again from its line, [`Known::Line`]).
#[derive(Deserialize)]
struct LineView<'a>(String, u64, (u64, u32), #[serde(borrow)] KnownView<'a>);

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum KnownView<'a> {
    Run(#[serde(borrow)] RunView<'a>),
    Other(#[serde(borrow)] HeadView<'a>),
}

/// A [`PastRunHead`] row: the run id, the playbook, the start and whether it succeeded.
#[derive(Deserialize)]
struct RunView<'a>(
    #[serde(borrow)] Cow<'a, str>,
    #[serde(borrow)] Cow<'a, str>,
    IgnoredAny,
    IgnoredAny,
    Mode,
    bool,
    i64,
    IgnoredAny,
    Option<(IgnoredAny, RunStatus, IgnoredAny, IgnoredAny, IgnoredAny)>,
    IgnoredAny,
);

#[derive(Deserialize)]
struct HeadView<'a> {
    #[serde(borrow)]
    run_id: Cow<'a, str>,
    #[serde(borrow)]
    playbook: Cow<'a, str>,
}

/// A run folder, as its journal was when it was read; its name is its key.
#[derive(Clone)]
struct HeadEntry {
    len: u64,
    modified: (u64, u32),
    known: Known,
    /// Whether this scan found the folder.
    seen: bool,
    /// Whether this scan read it from its journal: its line is to be written.
    learnt: bool,
}

/// What a heads entry knows of its run.
#[derive(Clone, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Known {
    /// The digest without steps: a scan wanted this playbook's runs.
    Run(PastRunHead),
    /// Only which run it is, from the journal's first line: another playbook's run.
    Other(Head),
    /// As the heads file has it: where its line is, and what every scan reads of it. The rest
    /// is read from the line when asked ([`Heads::get`]): a report compares with one run, and
    /// parsing the digest of each of a thousand was most of what a long history cost it (#18).
    #[serde(skip)]
    Line(Range<usize>, Glance),
}

/// What a scan reads of every run of a heads file, the strings as places in the file.
#[derive(Clone)]
struct Glance {
    run_id: Range<usize>,
    playbook: Range<usize>,
    /// `None`: another playbook's run ([`Known::Other`]).
    run: Option<RunGlance>,
}

/// The start of a run of a heads file and whether it succeeded ([`PastRun::succeeded`]).
#[derive(Clone, Copy)]
pub(crate) struct RunGlance {
    pub(crate) started: DateTime<Utc>,
    pub(crate) succeeded: bool,
}

/// A run as a scan sees it in a heads file, without its digest: enough to choose the run a
/// report compares with ([`crate::record::history::previous_success_of`]).
pub(crate) struct Seen<'a> {
    pub(crate) run_id: &'a str,
    pub(crate) run: RunGlance,
}

impl Known {
    fn head(&self, bytes: &[u8]) -> Head {
        match self {
            Self::Run(run) => run.head(),
            Self::Other(head) => head.clone(),
            Self::Line(_, glance) => Head {
                run_id: text(bytes, &glance.run_id).to_owned(),
                playbook: text(bytes, &glance.playbook).to_owned(),
            },
        }
    }

    fn playbook<'a>(&'a self, bytes: &'a [u8]) -> &'a str {
        match self {
            Self::Run(run) => run.playbook(),
            Self::Other(head) => &head.playbook,
            Self::Line(_, glance) => text(bytes, &glance.playbook),
        }
    }
}

/// A string of the heads file, by its place (which [`read_heads`] took from a parsed string).
fn text<'a>(bytes: &'a [u8], at: &Range<usize>) -> &'a str {
    bytes
        .get(at.clone())
        .and_then(|b| std::str::from_utf8(b).ok())
        .unwrap_or_default()
}

impl Serialize for Known {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Run(run) => s.serialize_newtype_variant("Known", 0, "run", &run.row()),
            Self::Other(head) => s.serialize_newtype_variant("Known", 1, "other", head),
            Self::Line(..) => Err(serde::ser::Error::custom(
                "a line of the heads file is copied as it is",
            )),
        }
    }
}

/// A runs root's runs without their steps, for the report's comparison and the `history`
/// probe, which need no step of any past run (the compared run is read whole from its
/// journal). They live in a file of their own, [`HEADS_FILE`], apart from the full index
/// that `runs` keeps: reading and writing every run's steps back made each `run` of a playbook
/// with a long history 1.4 times slower and larger, and never writing anything made each one
/// parse every journal no `runs` had indexed yet (3.75 times slower with 1,000 past runs).
///
/// Like the index, it is a cache checked against each journal's length and modification time,
/// and rebuilt when missing or unreadable (from the full index's entries, when there is one).
/// Unlike the index, it is JSON lines, and a scan that only learnt new runs appends their
/// lines instead of writing the file again: each run ends with a report, whose comparison
/// finds the run before it new, and rewriting 1,000 entries for one was most of what a long
/// history cost a run. The file is written whole (to a temporary file renamed over it) only
/// when it must be: a folder is gone, a line is damaged or cut off, or stale lines outnumber
/// the live ones. A cut-off or damaged line is never read as an entry: a prefix of a JSON
/// object is not one, and such a line is dropped when the file is next written.
pub(crate) struct Heads {
    path: PathBuf,
    /// The file as read: where the entries read from it are ([`Known::Line`]).
    bytes: Vec<u8>,
    runs: HashMap<String, HeadEntry>,
    /// How many entries this scan learnt ([`HeadEntry::learnt`]).
    learnt: usize,
    /// Entry lines in the file as read, live or replaced by a later one.
    lines: usize,
    /// The file must be written whole: missing, of another version, damaged or cut off.
    rewrite: bool,
}

impl Heads {
    pub(crate) fn open(root: &Path) -> Self {
        let path = root.join(HEADS_FILE);
        let bytes = std::fs::read(&path).unwrap_or_default();
        let (runs, lines, rewrite) = read_heads(&bytes)
            // None yet (or unreadable): what the full index knows, which the save writes.
            .unwrap_or_else(|| (heads_of_index(root), 0, true));
        Self {
            path,
            bytes,
            runs,
            learnt: 0,
            lines,
            rewrite,
        }
    }

    /// The journal's [`Head`] (run id and playbook), if it is unchanged since it was read.
    pub(crate) fn head(&self, name: &str, journal: &Metadata) -> Option<Head> {
        self.fresh(name, journal).map(|k| k.head(&self.bytes))
    }

    /// The run of `name` as a scan sees it, if its journal is unchanged since it was read and
    /// it is a run of a playbook a scan wanted (not only its head).
    pub(crate) fn seen_run(&self, name: &str, journal: &Metadata) -> Option<Seen<'_>> {
        match self.fresh(name, journal)? {
            Known::Run(run) => Some(Seen {
                run_id: run.run_id(),
                run: RunGlance {
                    started: run.started(),
                    succeeded: run.succeeded(),
                },
            }),
            Known::Other(_) => None,
            Known::Line(_, glance) => Some(Seen {
                run_id: text(&self.bytes, &glance.run_id),
                run: glance.run?,
            }),
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
            seen: true,
            learnt: true,
        };
        let before = self.runs.insert(name.to_owned(), entry);
        if !before.is_some_and(|e| e.learnt) {
            self.learnt += 1;
        }
    }

    /// Writes the heads file whole, to a temporary file renamed over it.
    fn write_whole(&self) {
        let mut bytes = Vec::new();
        let header = serde_json::to_writer(
            &mut bytes,
            &HeadsHeader {
                version: HEADS_VERSION,
            },
        );
        if header.is_err() {
            return;
        }
        bytes.push(b'\n');
        let mut entries: Vec<(&String, &HeadEntry)> = self.runs.iter().collect();
        entries.sort_unstable_by_key(|(name, _)| *name);
        for (name, entry) in entries {
            self.line_of(name, entry, &mut bytes);
        }
        let temp = self
            .path
            .with_extension(format!("json.{}.tmp", std::process::id()));
        let written =
            std::fs::write(&temp, bytes).and_then(|()| std::fs::rename(&temp, &self.path));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&temp);
            tracing::debug!(path = %self.path.display(), error = %e, "history heads not written");
        }
    }

    /// Appends the lines of the entries this scan learnt, in one write.
    fn append_learnt(&self) {
        let mut bytes = Vec::new();
        for (name, entry) in self.runs.iter().filter(|(_, e)| e.learnt) {
            self.line_of(name, entry, &mut bytes);
        }
        let appended = std::fs::OpenOptions::new()
            .append(true)
            .open(&self.path)
            .and_then(|mut file| std::io::Write::write_all(&mut file, &bytes));
        if let Err(e) = appended {
            tracing::debug!(path = %self.path.display(), error = %e, "history heads not appended");
        }
    }

    /// The entry of the folder `name` as a line of the heads file ([`HeadLine`]), added to
    /// `out`: the line it was read from, as it was, or a new one; nothing if it cannot be
    /// written (a time outside what nanoseconds since the epoch hold): the run is read from
    /// its journal.
    fn line_of(&self, name: &str, entry: &HeadEntry, out: &mut Vec<u8>) {
        if let Known::Line(line, _) = &entry.known {
            if let Some(bytes) = self.bytes.get(line.clone()) {
                out.extend_from_slice(bytes);
                out.push(b'\n');
            }
            return;
        }
        let start = out.len();
        let row = (name, entry.len, entry.modified, &entry.known);
        if serde_json::to_writer(&mut *out, &row).is_ok() {
            out.push(b'\n');
        } else {
            out.truncate(start);
        }
    }
}

/// The entries of a heads file, the number of entry lines it has, and whether it must be
/// written whole at the next save (a line is damaged, or the last one was cut off as it was
/// appended); `None` if it is not a heads file of this version. Each line is parsed once, its
/// strings borrowed ([`LineView`]): an entry keeps where they are ([`Known::Line`]).
fn read_heads(bytes: &[u8]) -> Option<(HashMap<String, HeadEntry>, usize, bool)> {
    // What follows the last newline is a line cut off: never read, dropped at the next save.
    let end = memchr::memrchr(b'\n', bytes)?;
    let cut = end + 1 < bytes.len();
    let mut ends = memchr::memchr_iter(b'\n', &bytes[..=end]);
    let first = ends.next()?;
    let header: HeadsHeader = serde_json::from_slice(&bytes[..first]).ok()?;
    if header.version != HEADS_VERSION {
        return None;
    }
    let mut runs = HashMap::with_capacity(memchr::memchr_iter(b'\n', &bytes[first..end]).count());
    let mut count = 0;
    let mut damaged = false;
    let mut start = first + 1;
    for stop in ends {
        let line = start..stop;
        start = stop + 1;
        count += 1;
        match glance(bytes, line.clone()) {
            Some((name, entry)) => {
                runs.insert(name, entry);
            }
            // An escaped string cannot be borrowed: such a line is parsed whole.
            None => match serde_json::from_slice::<HeadLine>(&bytes[line]) {
                Ok(HeadLine(name, len, modified, known)) => {
                    let entry = HeadEntry {
                        len,
                        modified,
                        known,
                        seen: false,
                        learnt: false,
                    };
                    runs.insert(name, entry);
                }
                Err(_) => damaged = true,
            },
        }
    }
    Some((runs, count, cut || damaged))
}

/// The entry of the line at `line` of `bytes`, its strings as places in `bytes`; `None` if
/// the line is not a whole entry, or a string in it is escaped.
fn glance(bytes: &[u8], line: Range<usize>) -> Option<(String, HeadEntry)> {
    let place = |s: &Cow<'_, str>| match s {
        Cow::Borrowed(s) => {
            let start = (s.as_ptr() as usize).checked_sub(bytes.as_ptr() as usize)?;
            Some(start..start + s.len())
        }
        Cow::Owned(_) => None,
    };
    let LineView(name, len, modified, known) =
        serde_json::from_slice(bytes.get(line.clone())?).ok()?;
    let glance = match known {
        KnownView::Run(RunView(run_id, playbook, _, _, mode, dry_run, started, _, finished, _)) => {
            let dry_run = dry_run || mode == Mode::DryRun;
            Glance {
                run_id: place(&run_id)?,
                playbook: place(&playbook)?,
                run: Some(RunGlance {
                    started: DateTime::from_timestamp_nanos(started),
                    succeeded: !dry_run && finished.is_some_and(|f| f.1 == RunStatus::Ok),
                }),
            }
        }
        KnownView::Other(head) => Glance {
            run_id: place(&head.run_id)?,
            playbook: place(&head.playbook)?,
            run: None,
        },
    };
    let entry = HeadEntry {
        len,
        modified,
        known: Known::Line(line, glance),
        seen: false,
        learnt: false,
    };
    Some((name, entry))
}

/// The entries of `root`'s full index, as heads: where a heads file starts from.
fn heads_of_index(root: &Path) -> HashMap<String, HeadEntry> {
    Stored::<EntryHead>::read(&root.join(FILE), VERSION)
        .map(|runs| {
            runs.into_iter()
                .map(|(name, e)| {
                    let entry = HeadEntry {
                        len: e.len,
                        modified: e.modified,
                        known: Known::Run(e.run),
                        seen: false,
                        learnt: false,
                    };
                    (name, entry)
                })
                .collect()
        })
        .unwrap_or_default()
}

impl Digests for Heads {
    fn seen(&mut self, name: &str) {
        if let Some(entry) = self.runs.get_mut(name) {
            entry.seen = true;
        }
    }

    fn put_head(&mut self, name: &str, journal: &Metadata, head: Head) {
        if self.fresh(name, journal).is_none() {
            self.insert(name, journal, Known::Other(head));
        }
    }

    fn playbook(&self, name: &str, journal: &Metadata) -> Option<&str> {
        self.fresh(name, journal).map(|k| k.playbook(&self.bytes))
    }

    /// The run of `name`, without steps, if its journal is unchanged since it was read.
    fn get(&self, name: &str, journal: &Metadata) -> Option<PastRun> {
        match self.fresh(name, journal)? {
            Known::Run(run) => Some(run.clone().into_run()),
            Known::Other(_) | Known::Line(_, Glance { run: None, .. }) => None,
            Known::Line(line, _) => {
                let HeadLine(_, _, _, known) =
                    serde_json::from_slice(self.bytes.get(line.clone())?).ok()?;
                match known {
                    Known::Run(run) => Some(run.into_run()),
                    Known::Other(_) | Known::Line(..) => None,
                }
            }
        }
    }

    fn put(&mut self, name: &str, journal: &Metadata, run: &PastRun) {
        self.insert(name, journal, Known::Run(PastRunHead::of(run)));
    }

    /// Forgets the folders the scan did not find, and brings the file up to date: the lines
    /// of what the scan learnt appended, or the whole file written again where it must be.
    fn save(mut self) {
        let before = self.runs.len();
        self.runs.retain(|_, entry| entry.seen);
        let gone = self.runs.len() != before;
        let stale = self.lines + self.learnt > 2 * self.runs.len() + 16;
        if self.rewrite || gone || (stale && self.learnt > 0) {
            if !self.runs.is_empty() || self.path.exists() {
                self.write_whole();
            }
        } else if self.learnt > 0 {
            self.append_learnt();
        }
    }
}

impl Digests for Index {
    fn seen(&mut self, name: &str) {
        Index::seen(self, name);
    }
    fn playbook(&self, name: &str, journal: &Metadata) -> Option<&str> {
        self.runs
            .get(name)
            .filter(|e| unchanged(e.len, e.modified, journal))
            .map(|e| e.run.playbook())
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

    /// A journal of run `n` of playbook `p` in its own folder of `root`.
    fn a_run(root: &Path, n: u32) -> PathBuf {
        let id = format!("20261123T020000Z-p-{n:04}");
        let dir = root.join(&id);
        std::fs::create_dir(&dir).expect("mkdir");
        let start = START.replace("20261123T020000Z-p-0001", &id);
        let end = END.replace("20261123T020000Z-p-0001", &id);
        std::fs::write(dir.join("journal.jsonl"), format!("{start}\n{end}\n")).expect("write");
        dir
    }

    fn heads_lines(root: &Path) -> Vec<String> {
        std::fs::read_to_string(root.join(HEADS_FILE))
            .expect("heads")
            .lines()
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn new_runs_are_appended_and_a_cut_off_line_is_never_read() {
        let root = tempfile::tempdir().expect("temp dir");
        let roots = vec![root.path().to_path_buf()];
        a_run(root.path(), 1);
        a_run(root.path(), 2);
        let (runs, _) = history::scan_heads(&roots, "p", None);
        assert_eq!(runs.len(), 2);
        let first = heads_lines(root.path());
        assert_eq!(first.len(), 3, "{first:?}");
        // A new run: its line is added after the others, which stay as they were.
        a_run(root.path(), 3);
        let (runs, _) = history::scan_heads(&roots, "p", None);
        assert_eq!(runs.len(), 3);
        let second = heads_lines(root.path());
        assert_eq!(second[..3], first[..], "appended, not rewritten");
        assert!(second[3].contains("-p-0003"), "{second:?}");
        assert_eq!(second.len(), 4);
        // An append cut off by a crash: the cut-off line is not read (the run's journal is),
        // and the next save writes the file whole without it.
        let cut = &second[3][..second[3].len() / 2];
        std::fs::write(
            root.path().join(HEADS_FILE),
            format!("{}\n{cut}", second[..3].join("\n")),
        )
        .expect("write");
        let (again, warnings) = history::scan_heads(&roots, "p", None);
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(again, runs);
        let mended = heads_lines(root.path());
        assert_eq!(mended.len(), 4, "{mended:?}");
        assert!(
            mended
                .iter()
                .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok())
        );
        // A damaged line in the middle is read as nothing, and the file is written again.
        let mut damaged = mended.clone();
        damaged[1] = "[\"20261123T020000Z-p-0001\",1,[2,3],{\"run\":[".to_owned();
        std::fs::write(root.path().join(HEADS_FILE), damaged.join("\n") + "\n").expect("write");
        let (again, _) = history::scan_heads(&roots, "p", None);
        assert_eq!(again, runs);
        assert_eq!(heads_lines(root.path()), mended);
    }

    #[test]
    fn stale_lines_and_gone_folders_make_the_heads_file_written_whole() {
        let root = tempfile::tempdir().expect("temp dir");
        let roots = vec![root.path().to_path_buf()];
        let one = a_run(root.path(), 1);
        a_run(root.path(), 2);
        let _ = history::scan_heads(&roots, "p", None);
        // The journal in `one` changes, many times: a line each time, until stale lines outnumber
        // the live ones and the file is written again with one line per folder.
        let journal = one.join("journal.jsonl");
        let mut longest = 0;
        for i in 0..40 {
            let at = UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000 + i);
            std::fs::File::options()
                .write(true)
                .open(&journal)
                .and_then(|f| f.set_modified(at))
                .expect("set mtime");
            let _ = history::scan_heads(&roots, "p", None);
            longest = longest.max(heads_lines(root.path()).len());
        }
        assert!(longest > 3, "appended: {longest}");
        assert!(longest <= 2 * 2 + 16 + 2, "compacted: {longest}");
        // A folder that is gone leaves the file at once.
        std::fs::remove_dir_all(&one).expect("rm");
        let (runs, _) = history::scan_heads(&roots, "p", None);
        assert_eq!(runs.len(), 1);
        let lines = heads_lines(root.path());
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(!lines[1].contains("-p-0001"), "{lines:?}");
    }

    /// A folder of a generated runs root: its run, and whether it is named by its run id.
    #[derive(Debug, Clone)]
    struct Folder {
        id: usize,
        named: bool,
        other_playbook: bool,
        /// 0 ok, 1 failed, 2 still open.
        outcome: u8,
        dry_run: bool,
        /// Hours after midnight.
        hour: u8,
    }

    fn folder() -> impl proptest::strategy::Strategy<Value = Folder> {
        use proptest::prelude::*;
        (
            0..4_usize,
            any::<bool>(),
            proptest::bool::weighted(0.2),
            0..3_u8,
        )
            .prop_flat_map(|(id, named, other_playbook, outcome)| {
                (proptest::bool::weighted(0.2), 1..5_u8).prop_map(move |(dry_run, hour)| Folder {
                    id,
                    named,
                    other_playbook,
                    outcome,
                    dry_run,
                    hour,
                })
            })
    }

    /// Writes the folders into `root`, the unnamed ones under names that need escaping in JSON.
    fn lay_out(root: &Path, folders: &[Folder]) -> Vec<PathBuf> {
        folders
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let playbook = if f.other_playbook { "q" } else { "p" };
                let run_id = format!("20261123T0{}0000Z-{playbook}-000{}", f.hour, f.id);
                let dir = if f.named && !root.join(&run_id).exists() {
                    root.join(&run_id)
                } else {
                    root.join(format!("copy \"{i}\" \\ {}", f.id))
                };
                std::fs::create_dir(&dir).expect("mkdir");
                let start = START
                    .replace("20261123T020000Z-p-0001", &run_id)
                    .replace(
                        "\"playbook\":\"p\"",
                        &format!("\"playbook\":\"{playbook}\""),
                    )
                    .replace("T02:00:00.000Z", &format!("T0{}:00:00.000Z", f.hour))
                    .replace("\"dry_run\":false", &format!("\"dry_run\":{}", f.dry_run));
                let end = END
                    .replace("20261123T020000Z-p-0001", &run_id)
                    .replace("T02:00:05.000Z", &format!("T0{}:00:05.000Z", f.hour))
                    .replace(
                        "\"status\":\"ok\"",
                        if f.outcome == 1 {
                            "\"status\":\"failed\""
                        } else {
                            "\"status\":\"ok\""
                        },
                    );
                let journal = if f.outcome == 2 {
                    format!("{start}\n")
                } else {
                    format!("{start}\n{end}\n")
                };
                std::fs::write(dir.join("journal.jsonl"), journal).expect("write");
                dir
            })
            .collect()
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        // See: #18
        /// The run a report compares with, found from glances at the heads file's lines, is
        /// the one the digests of every run give: from the journals, from the heads file, and
        /// after a journal changed.
        #[test]
        fn the_compared_run_is_the_one_the_digests_give(
            folders in proptest::collection::vec(folder(), 0..8),
            except in proptest::option::of(0..8_usize),
            hour in 1..6_u32,
        ) {
            let root = tempfile::tempdir().expect("temp dir");
            let roots = vec![root.path().to_path_buf()];
            let dirs = lay_out(root.path(), &folders);
            let except = except.and_then(|i| dirs.get(i)).cloned();
            let before = DateTime::parse_from_rfc3339(&format!("2026-11-23T0{hour}:00:00Z"))
                .expect("time")
                .with_timezone(&Utc);
            let digests = || {
                let (runs, _) = history::scan_heads(&roots, "p", except.as_deref());
                history::previous_success(&runs, "p", before).map(|r| r.dir.clone())
            };
            let glanced = || history::previous_success_of(&roots, "p", except.as_deref(), before);
            // From the journals (no heads file yet), then from the heads file's lines.
            let cold = glanced();
            proptest::prop_assert_eq!(&cold, &digests());
            proptest::prop_assert_eq!(&glanced(), &cold);
            // A run that finishes (or fails) after it was glanced at is read again.
            if let Some(open) = folders.iter().position(|f| f.outcome == 2) {
                let text = std::fs::read_to_string(dirs[open].join("journal.jsonl")).expect("read");
                let run_id = text
                    .split("\"run_id\":\"")
                    .nth(1)
                    .and_then(|t| t.split('"').next())
                    .expect("run id");
                let hour = folders[open].hour;
                let end = END
                    .replace("20261123T020000Z-p-0001", run_id)
                    .replace("T02:00:05.000Z", &format!("T0{hour}:00:05.000Z"));
                std::fs::write(dirs[open].join("journal.jsonl"), format!("{text}{end}\n"))
                    .expect("write");
                let after = glanced();
                proptest::prop_assert_eq!(&after, &digests());
            }
        }
    }

    // See: #18
    #[test]
    fn a_line_with_an_escaped_string_is_read_whole() {
        let root = tempfile::tempdir().expect("temp dir");
        let roots = vec![root.path().to_path_buf()];
        let dir = root.path().join("odd");
        std::fs::create_dir(&dir).expect("mkdir");
        let odd = |t: &str| t.replace("20261123T020000Z-p-0001", "run \\\"one\\\"");
        std::fs::write(
            dir.join("journal.jsonl"),
            format!("{}\n{}\n", odd(START), odd(END)),
        )
        .expect("write");
        let before = DateTime::parse_from_rfc3339("2026-11-24T00:00:00Z")
            .expect("time")
            .with_timezone(&Utc);
        let cold = history::previous_success_of(&roots, "p", None, before);
        assert_eq!(cold.as_deref(), Some(dir.as_path()));
        let heads = Heads::open(root.path());
        assert!(
            matches!(heads.runs["odd"].known, Known::Run(_)),
            "parsed whole, not glanced at"
        );
        disguise(&dir.join("journal.jsonl"));
        let warm = history::previous_success_of(&roots, "p", None, before);
        assert_eq!(warm, cold, "from the heads file");
    }
}
