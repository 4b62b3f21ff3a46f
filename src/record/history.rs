//! Past runs: every run folder under the runs roots, read from its journal, newest first; the
//! previous successful run of a playbook; playbooks not exercised within `drill_every`; and
//! scheduled playbooks that missed their latest due time.

use std::path::PathBuf;

use chrono::{DateTime, Utc};

use crate::event::{Mode, RunStatus};
use crate::playbook::schedule::CronSchedule;
use crate::record::replay::RunState;

/// One past run.
#[derive(Debug, Clone)]
pub(crate) struct PastRun {
    pub(crate) dir: PathBuf,
    pub(crate) state: RunState,
}

impl PastRun {
    #[must_use]
    pub(crate) fn started(&self) -> DateTime<Utc> {
        self.state
            .started
            .as_ref()
            .map_or(DateTime::<Utc>::MIN_UTC, |s| s.ts)
    }

    #[must_use]
    pub(crate) fn playbook(&self) -> &str {
        self.state
            .started
            .as_ref()
            .map_or("", |s| s.playbook.as_str())
    }

    /// Finished ok, for real (not a dry run).
    #[must_use]
    pub(crate) fn succeeded(&self) -> bool {
        let real = self
            .state
            .started
            .as_ref()
            .is_some_and(|s| !s.dry_run && s.mode != Mode::DryRun);
        real && self
            .state
            .finished
            .as_ref()
            .is_some_and(|f| f.status == RunStatus::Ok)
    }
}

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

fn scan_where(roots: &[PathBuf], wanted: impl Fn(&str) -> bool) -> (Vec<PastRun>, Vec<String>) {
    let mut runs = Vec::new();
    let mut warnings = Vec::new();
    for root in roots {
        let Ok(entries) = std::fs::read_dir(root) else {
            continue;
        };
        for entry in entries.flatten() {
            if !wanted(&entry.file_name().to_string_lossy()) {
                continue;
            }
            let dir = entry.path();
            let journal = dir.join("journal.jsonl");
            if !journal.is_file() {
                continue;
            }
            match RunState::load(&journal) {
                Ok(state) => runs.push(PastRun { dir, state }),
                Err(e) => warnings.push(format!(
                    "warning: skipping `{}`: {}",
                    dir.display(),
                    crate::error::chain(&e)
                )),
            }
        }
    }
    runs.sort_by(|a, b| {
        b.started()
            .cmp(&a.started())
            .then_with(|| b.dir.cmp(&a.dir))
    });
    (runs, warnings)
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
