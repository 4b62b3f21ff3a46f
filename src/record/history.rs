//! Past runs: every run folder under the runs roots, read from its journal (through the runs
//! root's index, `record::index`), newest first; the previous successful run of a playbook;
//! playbooks not exercised within `drill_every`; and scheduled playbooks that missed their
//! latest due time.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use crate::playbook::schedule::CronSchedule;
use crate::record::index::{Digests, Heads, Index};
pub(crate) use crate::record::past_run::PastRun;
use crate::record::replay::RunState;

/// Every readable run under `roots`, newest first; unreadable journals are returned as
/// warnings, not skipped silently.
#[must_use]
pub(crate) fn scan(roots: &[PathBuf]) -> (Vec<PastRun>, Vec<String>) {
    scan_where(roots, |_| true)
}

/// The runs of one playbook. A run folder in a runs root is named by its run id,
/// `<time>-<playbook>-<hex>`, so the folders of other playbooks are passed over without
/// reading their journals (the journal's own `run_started` still decides).
#[must_use]
pub(crate) fn scan_playbook(roots: &[PathBuf], playbook: &str) -> (Vec<PastRun>, Vec<String>) {
    let marker = format!("-{playbook}-");
    let (mut runs, warnings) = scan_where(roots, |name| name.contains(&marker));
    runs.retain(|r| r.playbook() == playbook);
    (runs, warnings)
}

/// [`scan_playbook`] for what needs no step of a past run (the report's comparison, the
/// `history` probe): the runs come without their steps ([`PastRun::load_state`] reads one
/// whole), from the index's run digests alone, and the index is left as it is. The folder
/// `except` (the run being reported, whose journal the caller has read already) is passed
/// over.
#[must_use]
pub(crate) fn scan_heads(
    roots: &[PathBuf],
    playbook: &str,
    except: Option<&Path>,
) -> (Vec<PastRun>, Vec<String>) {
    let marker = format!("-{playbook}-");
    let mut runs = Vec::new();
    let mut warnings = Vec::new();
    // Compared as the same folder, however it was named (`runs/X` and `/abs/runs/X`): a
    // report of a relative run folder must not read its own journal a second time.
    let except = except.map(|e| std::fs::canonicalize(e).unwrap_or_else(|_| e.to_path_buf()));
    for root in roots {
        let canonical_root = std::fs::canonicalize(root).unwrap_or_else(|_| root.clone());
        let wanted = |name: &str| {
            name.contains(&marker)
                && except
                    .as_ref()
                    .is_none_or(|except| canonical_root.join(name) != *except)
        };
        scan_root(root, Heads::open(root), &wanted, &mut runs, &mut warnings);
    }
    for run in &mut runs {
        run.steps = Vec::new();
    }
    runs.retain(|r| r.playbook() == playbook);
    sort(&mut runs);
    (runs, warnings)
}

fn scan_where(roots: &[PathBuf], wanted: impl Fn(&str) -> bool) -> (Vec<PastRun>, Vec<String>) {
    let mut runs = Vec::new();
    let mut warnings = Vec::new();
    for root in roots {
        scan_root(root, Index::open(root), &wanted, &mut runs, &mut warnings);
    }
    sort(&mut runs);
    (runs, warnings)
}

/// Newest first; the folder decides between runs started at the same time.
fn sort(runs: &mut [PastRun]) {
    runs.sort_by(|a, b| {
        b.started()
            .cmp(&a.started())
            .then_with(|| b.dir.cmp(&a.dir))
    });
}

/// The wanted run folders of one runs root: from its index where a journal has not changed
/// since it was indexed, else read (and indexed).
fn scan_root(
    root: &Path,
    mut index: impl Digests,
    wanted: &impl Fn(&str) -> bool,
    runs: &mut Vec<PastRun>,
    warnings: &mut Vec<String>,
) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !wanted(&name) {
            continue;
        }
        let dir = entry.path();
        let journal = dir.join("journal.jsonl");
        let Some(meta) = std::fs::metadata(&journal)
            .ok()
            .filter(std::fs::Metadata::is_file)
        else {
            continue;
        };
        index.seen(&name);
        if let Some(run) = index.get(&name, &meta) {
            runs.push(PastRun { dir, ..run });
            continue;
        }
        // The metadata is taken before the journal is read: if it grows meanwhile, the index
        // holds an older length and the next scan reads it again.
        match RunState::load(&journal) {
            Ok(state) => {
                if let Some(run) = PastRun::of(dir, &state) {
                    index.put(&name, &meta, &run);
                    runs.push(run);
                }
            }
            Err(e) => warnings.push(format!(
                "warning: skipping `{}`: {}",
                dir.display(),
                crate::error::chain(&e)
            )),
        }
    }
    index.save(wanted);
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
/// run, so that re-rendering its report later gives the same comparison.
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
