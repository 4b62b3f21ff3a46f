//! Past runs: every run folder under the runs roots, read from its journal (through the runs
//! root's index, `record::index`), newest first; the previous successful run of a playbook;
//! playbooks not exercised within `drill_every`; and scheduled playbooks that missed their
//! latest due time.

use std::fs::Metadata;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use crate::playbook::schedule::CronSchedule;
use crate::record::head::Head;
use crate::record::index::{Digests, Heads, Index};
pub(crate) use crate::record::past_run::PastRun;
use crate::record::replay::RunState;

/// Every readable run under `roots`, newest first; unreadable journals are returned as
/// warnings, not skipped silently.
#[must_use]
pub(crate) fn scan(roots: &[PathBuf]) -> (Vec<PastRun>, Vec<String>) {
    scan_where(roots, &Wanted::default())
}

/// The runs of one playbook. A run is known by its journal, whatever its folder is called (a
/// folder named by its run id, or any `--out` inside the runs root); the journals of other
/// playbooks' runs are passed over after their first line, or without being read at all when
/// the index knows them.
#[must_use]
pub(crate) fn scan_playbook(roots: &[PathBuf], playbook: &str) -> (Vec<PastRun>, Vec<String>) {
    scan_where(
        roots,
        &Wanted {
            playbook: Some(playbook),
            except: None,
        },
    )
}

/// [`scan_playbook`] for what needs no step of a past run (the `history` probe; the report's
/// comparison needs less still, [`previous_success_of`]): the runs come without their steps
/// ([`RunState::load`] reads one whole), from the index's run digests alone, and the index is
/// left as it is. The folder `except` (the run being reported, whose journal the caller has read
/// already) is passed over.
#[must_use]
pub(crate) fn scan_heads(
    roots: &[PathBuf],
    playbook: &str,
    except: Option<&Path>,
) -> (Vec<PastRun>, Vec<String>) {
    // Compared as the same folder, however it was named (`runs/X` and `/abs/runs/X`): a
    // report of a relative run folder must not read its own journal a second time.
    let except = except.map(|e| std::fs::canonicalize(e).unwrap_or_else(|_| e.to_path_buf()));
    let wanted = Wanted {
        playbook: Some(playbook),
        except: except.as_deref(),
    };
    let mut runs: Vec<PastRun> = Vec::new();
    let mut warnings = Vec::new();
    for root in roots {
        scan_root(root, Heads::open(root), &wanted, &mut runs, &mut warnings);
    }
    for run in &mut runs {
        run.steps = Vec::new();
    }
    settle(&mut runs);
    (runs, warnings)
}

/// The folder of the run a report of the run in `except` compares with: what
/// `previous_success` finds among [`scan_heads`]' runs, the newest success of `playbook`
/// that started before `before`, found without the digest of any run the heads file knows
/// (the report reads the one it compares with whole, from its journal): parsing a digest for
/// each of a thousand past runs was most of what a long history cost every run's report
/// (#18).
#[must_use]
pub(crate) fn previous_success_of(
    roots: &[PathBuf],
    playbook: &str,
    except: Option<&Path>,
    before: DateTime<Utc>,
) -> Option<PathBuf> {
    let except = except.map(|e| std::fs::canonicalize(e).unwrap_or_else(|_| e.to_path_buf()));
    let wanted = Wanted {
        playbook: Some(playbook),
        except: except.as_deref(),
    };
    let mut found: Vec<Glanced> = Vec::new();
    for root in roots {
        scan_root(
            root,
            Heads::open(root),
            &wanted,
            &mut found,
            &mut Vec::new(),
        );
    }
    once_each(&mut found, |g| (&g.run_id, &g.dir));
    found
        .into_iter()
        .filter(|g| g.succeeded && g.started < before)
        .max_by(|a, b| a.started.cmp(&b.started).then_with(|| a.dir.cmp(&b.dir)))
        .map(|g| g.dir)
}

/// A run as [`previous_success_of`] weighs it.
struct Glanced {
    run_id: String,
    started: DateTime<Utc>,
    succeeded: bool,
    dir: PathBuf,
}

/// What a scan keeps of each wanted run: the run, or what [`previous_success_of`] needs of it.
trait Collect<I> {
    /// The run in `dir`, which the index knows unchanged: `dir` back if the index cannot say
    /// (its journal is then read).
    fn known(&mut self, index: &I, name: &str, dir: PathBuf, journal: &Metadata)
    -> Option<PathBuf>;
    /// A run read from its journal.
    fn read(&mut self, run: PastRun);
}

impl<I: Digests> Collect<I> for Vec<PastRun> {
    fn known(
        &mut self,
        index: &I,
        name: &str,
        dir: PathBuf,
        journal: &Metadata,
    ) -> Option<PathBuf> {
        match index.get(name, journal) {
            Some(run) => {
                self.push(PastRun { dir, ..run });
                None
            }
            None => Some(dir),
        }
    }

    fn read(&mut self, run: PastRun) {
        self.push(run);
    }
}

impl Collect<Heads> for Vec<Glanced> {
    fn known(
        &mut self,
        index: &Heads,
        name: &str,
        dir: PathBuf,
        journal: &Metadata,
    ) -> Option<PathBuf> {
        match index.seen_run(name, journal) {
            Some(seen) => {
                self.push(Glanced {
                    run_id: seen.run_id.to_owned(),
                    started: seen.run.started,
                    succeeded: seen.run.succeeded,
                    dir,
                });
                None
            }
            None => Some(dir),
        }
    }

    fn read(&mut self, run: PastRun) {
        self.push(Glanced {
            succeeded: run.succeeded(),
            started: run.started,
            run_id: run.run_id,
            dir: run.dir,
        });
    }
}

/// The run folder of the run `run_id` under `roots`: the folder named by it, else the one whose
/// journal names it (a run saved with `--out` inside a runs root). Read-only, and from the
/// index where a journal has not changed since it was indexed.
#[must_use]
pub(crate) fn folder_of(roots: &[PathBuf], run_id: &str) -> Option<PathBuf> {
    for root in roots {
        let named = root.join(run_id);
        if named.join("journal.jsonl").is_file() {
            return Some(named);
        }
    }
    for root in roots {
        let index = Heads::open(root);
        let mut found: Vec<PathBuf> = run_folders(root)
            .filter(|(name, _, journal)| {
                index
                    .head(name, journal)
                    .or_else(|| Head::read(&root.join(name).join("journal.jsonl")))
                    .is_some_and(|head| head.run_id == run_id)
            })
            .map(|(_, dir, _)| dir)
            .collect();
        found.sort();
        if let Some(first) = found.into_iter().next() {
            return Some(first);
        }
    }
    None
}

/// Which runs a scan wants: those of one playbook or all, and all but one folder.
#[derive(Default)]
struct Wanted<'a> {
    playbook: Option<&'a str>,
    /// Canonical.
    except: Option<&'a Path>,
}

impl Wanted<'_> {
    fn playbook(&self, name: &str) -> bool {
        self.playbook.is_none_or(|p| p == name)
    }

    /// For a journal that does not say which playbook it is (its first line is missing, cut
    /// off or damaged): wanted unless its folder is named by the run id of another playbook,
    /// `<time>-<playbook>-<hex>`. It might be a failed run of the playbook, which a history
    /// must not leave out without a word.
    fn unnamed(&self, folder: &str) -> bool {
        self.playbook
            .is_none_or(|p| folder.contains(&format!("-{p}-")) || !looks_like_run_id(folder))
    }
}

/// `20261123T020000Z-<playbook>-7f3a`, as `session::start::run_id` makes them.
fn looks_like_run_id(name: &str) -> bool {
    let b = name.as_bytes();
    let stamp = b.len() > 22
        && b[..8].iter().all(u8::is_ascii_digit)
        && b[8] == b'T'
        && b[9..15].iter().all(u8::is_ascii_digit)
        && b[15] == b'Z'
        && b[16] == b'-';
    let tail = name.rsplit_once('-').map(|(_, hex)| hex);
    stamp && tail.is_some_and(|h| h.len() == 4 && h.bytes().all(|c| c.is_ascii_hexdigit()))
}

fn scan_where(roots: &[PathBuf], wanted: &Wanted<'_>) -> (Vec<PastRun>, Vec<String>) {
    let mut runs: Vec<PastRun> = Vec::new();
    let mut warnings = Vec::new();
    for root in roots {
        scan_root(root, Index::open(root), wanted, &mut runs, &mut warnings);
    }
    settle(&mut runs);
    (runs, warnings)
}

/// Newest first, the folder deciding between runs started at the same time; and each run
/// once: of several folders holding one run id (a copy of a run folder), the one named by it,
/// else the first by name.
fn settle(runs: &mut Vec<PastRun>) {
    once_each(runs, |r| (&r.run_id, &r.dir));
    runs.sort_by(|a, b| {
        b.started()
            .cmp(&a.started())
            .then_with(|| b.dir.cmp(&a.dir))
    });
}

/// Keeps each run id once: of several folders holding it (a copy of a run folder), the one
/// named by it, else the first by name. `key` gives an item's run id and folder.
fn once_each<T>(items: &mut Vec<T>, key: impl Fn(&T) -> (&str, &Path)) {
    let named = |t: &T| {
        let (id, dir) = key(t);
        dir.file_name().is_some_and(|n| *n == *id)
    };
    // Copies are rare: sorted by run id only when there is one.
    let mut ids = std::collections::HashSet::with_capacity(items.len());
    if !items.iter().all(|t| ids.insert(key(t).0)) {
        drop(ids);
        items.sort_by(|a, b| {
            let ((a_id, a_dir), (b_id, b_dir)) = (key(a), key(b));
            a_id.cmp(b_id)
                .then_with(|| named(b).cmp(&named(a)))
                .then_with(|| a_dir.cmp(b_dir))
        });
        items.dedup_by(|later, first| key(later).0 == key(first).0);
    }
}

/// A run folder's journal.
const JOURNAL: &str = "journal.jsonl";

/// The folders of `root` that hold a journal: name, path, the journal's metadata. One `stat`
/// each.
fn run_folders(root: &Path) -> impl Iterator<Item = (String, PathBuf, Metadata)> {
    std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            // One path, room made for the journal's name and taken back off (#18: a history
            // of a thousand runs is a thousand of these).
            let name = entry.file_name();
            let mut dir = entry.path();
            dir.reserve_exact(JOURNAL.len() + 1);
            dir.push(JOURNAL);
            let meta = std::fs::metadata(&dir).ok().filter(Metadata::is_file)?;
            dir.pop();
            let name = name
                .into_string()
                .unwrap_or_else(|name| name.to_string_lossy().into_owned());
            Some((name, dir, meta))
        })
}

/// The wanted runs of one runs root: from its index where a journal has not changed since it
/// was indexed, else read (and indexed). Every folder with a journal is looked at; which run
/// it holds, and of which playbook, is its journal's to say.
fn scan_root<I: Digests>(
    root: &Path,
    mut index: I,
    wanted: &Wanted<'_>,
    runs: &mut impl Collect<I>,
    warnings: &mut Vec<String>,
) {
    // `except` is canonical: so is the root it is compared in. Only a folder of this root
    // can be it, the one of its name.
    let except = wanted.except.and_then(|except| {
        let canonical_root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
        (except.parent() == Some(canonical_root.as_path()))
            .then(|| except.file_name())
            .flatten()
    });
    for (name, dir, meta) in run_folders(root) {
        index.seen(&name);
        if except.is_some_and(|except| *except == *name) {
            continue;
        }
        // Known to the index: another playbook's run is passed over on its entry's head, and
        // only a wanted one's digest is built.
        let dir = match index.playbook(&name, &meta) {
            Some(playbook) if !wanted.playbook(playbook) => continue,
            Some(_) => match runs.known(&index, &name, dir, &meta) {
                Some(dir) => dir,
                None => continue,
            },
            None => dir,
        };
        let journal = dir.join("journal.jsonl");
        // Not indexed, or changed since: another playbook's run is passed over on its first
        // line, without parsing the rest.
        let of_wanted = match Head::read(&journal) {
            None => wanted.unnamed(&name),
            Some(head) if wanted.playbook(&head.playbook) => true,
            Some(head) => {
                index.put_head(&name, &meta, head);
                false
            }
        };
        if !of_wanted {
            continue;
        }
        // The metadata is taken before the journal is read: if it grows meanwhile, the index
        // holds an older length and the next scan reads it again.
        match RunState::load(&journal) {
            Ok(state) => {
                if let Some(run) = PastRun::of(dir, &state) {
                    index.put(&name, &meta, &run);
                    if wanted.playbook(run.playbook()) {
                        runs.read(run);
                    }
                }
            }
            Err(e) => warnings.push(format!(
                "warning: skipping `{}`: {}",
                dir.display(),
                crate::error::chain(&e)
            )),
        }
    }
    index.save();
}

/// The earliest start `--since` and the `history` probe count: `since` before `now`.
#[must_use]
pub(crate) fn cutoff(now: DateTime<Utc>, since: std::time::Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(since)
        .ok()
        .and_then(|d| now.checked_sub_signed(d))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// The newest successful run of `playbook` that started before `before`: fixed for a given
/// run, so that re-rendering its report later gives the same comparison. (What
/// [`previous_success_of`] finds without the runs' digests; a test holds the two together.)
#[cfg(test)]
#[must_use]
pub(crate) fn previous_success<'a>(
    runs: &'a [PastRun],
    playbook: &str,
    before: DateTime<Utc>,
) -> Option<&'a PastRun> {
    runs.iter()
        .find(|r| r.playbook() == playbook && r.succeeded() && r.started() < before)
}

/// The `drill_every` verdict for one playbook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Exercise {
    /// A successful run within the period.
    Current,
    /// No successful run within the period; the last one, if any.
    Overdue(Option<DateTime<Utc>>),
    /// No run recorded at all.
    Never,
}

/// Whether `playbook` was exercised within `every`.
#[must_use]
pub(crate) fn exercise(
    runs: &[PastRun],
    playbook: &str,
    every: std::time::Duration,
    now: DateTime<Utc>,
) -> Exercise {
    if !runs.iter().any(|r| r.playbook() == playbook) {
        return Exercise::Never;
    }
    let last = runs
        .iter()
        .filter(|r| r.playbook() == playbook && r.succeeded())
        .map(PastRun::started)
        .max();
    let since = chrono::Duration::from_std(every).unwrap_or(chrono::Duration::MAX);
    match last {
        Some(t) if now - t <= since => Exercise::Current,
        other => Exercise::Overdue(other),
    }
}

/// How long after a due time a run may take to start before the due time counts as missed:
/// cron and systemd start jobs a little late, and a check at 02:00:01 must not cry wolf.
pub(crate) const MISSED_GRACE: chrono::Duration = chrono::Duration::minutes(5);

/// A due time of a schedule that passed with no run started at or after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Missed {
    pub(crate) due: DateTime<Utc>,
    /// The newest run of the playbook, if any (before `due`).
    pub(crate) last_run: Option<DateTime<Utc>>,
}

/// Whether `playbook` missed the latest due time of `schedule` that is more than
/// [`MISSED_GRACE`] old: no real run (any mode, any outcome) started at or after it.
#[must_use]
pub(crate) fn missed(
    runs: &[PastRun],
    playbook: &str,
    schedule: &CronSchedule,
    now: DateTime<Utc>,
) -> Option<Missed> {
    let due = schedule.last_at_or_before(now - MISSED_GRACE)?;
    let last_run = runs
        .iter()
        .filter(|r| r.playbook() == playbook && !r.is_dry_run())
        .map(PastRun::started)
        .max();
    match last_run {
        Some(t) if t >= due => None,
        last_run => Some(Missed { due, last_run }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Mode;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("a time")
            .with_timezone(&Utc)
    }

    fn run(started: &str, dry_run: bool) -> PastRun {
        PastRun {
            dir: PathBuf::from("r"),
            run_id: "r".into(),
            playbook: "p".into(),
            version: "1.0.0".into(),
            path: "/p.toml".into(),
            mode: Mode::Routine,
            dry_run,
            started: at(started),
            ticket: None,
            finished: None,
            interrupted: false,
            steps: Vec::new(),
        }
    }

    #[test]
    fn a_folder_named_like_a_run_id_is_told_from_any_other_name() {
        assert!(looks_like_run_id("20261123T020000Z-postgres-restore-7f3a"));
        assert!(looks_like_run_id("20261123T020000Z-p-0000"));
        for name in [
            "nightly db",
            "1-postgres-backup",
            "20261123T020000Z-p-7f3",
            "20261123T020000Z-p-7f3g",
            "20261123T020000-p-7f3a",
            "2026112xT020000Z-p-7f3a",
        ] {
            assert!(!looks_like_run_id(name), "{name}");
        }
        let web = Wanted {
            playbook: Some("web"),
            except: None,
        };
        assert!(
            !web.unnamed("20261123T020000Z-db-7f3a"),
            "db's, by its name"
        );
        assert!(web.unnamed("20261123T020000Z-web-7f3a"));
        assert!(web.unnamed("nightly"), "anyone's");
    }

    #[test]
    fn a_due_time_is_missed_after_its_grace_with_no_real_run_since() {
        let daily = CronSchedule::parse("0 2 * * *").expect("valid");
        let now = at("2026-12-03T02:04:00Z");
        // Within the grace, yesterday's due time is the one that counts.
        let yesterday = run("2026-12-02T02:00:01Z", false);
        assert_eq!(
            missed(std::slice::from_ref(&yesterday), "p", &daily, now),
            None
        );
        let later = at("2026-12-03T02:06:00Z");
        assert_eq!(
            missed(std::slice::from_ref(&yesterday), "p", &daily, later),
            Some(Missed {
                due: at("2026-12-03T02:00:00Z"),
                last_run: Some(at("2026-12-02T02:00:01Z")),
            })
        );
        // A dry run after the due time does not count; a real one, failed or not, does.
        let dry = run("2026-12-03T02:00:30Z", true);
        assert!(missed(&[dry, yesterday.clone()], "p", &daily, later).is_some());
        let real = run("2026-12-03T02:00:00Z", false);
        assert_eq!(missed(&[real, yesterday], "p", &daily, later), None);
        assert_eq!(
            missed(&[], "p", &daily, later).map(|m| m.last_run),
            Some(None),
            "never run"
        );
    }
}
