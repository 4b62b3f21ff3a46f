//! The digest of one past run: what `runs`, `list`, the `history` probe and the report's
//! comparison read of its journal, and what the runs root's index keeps.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::event::{Mode, RunStatus, StepStatus};
use crate::record::head::Head;
use crate::record::replay::RunState;

/// One past run: what `runs`, `list`, the `history` probe and the report's comparison read of
/// its journal. The journal itself stays the record ([`RunState::load`] reads it whole).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct PastRun {
    /// The run folder (not in the index: it is the runs root joined with the folder's name).
    #[serde(skip)]
    pub(crate) dir: PathBuf,
    pub(crate) run_id: String,
    pub(crate) playbook: String,
    pub(crate) version: String,
    /// The playbook file the run started from, absolute: where its lock is.
    pub(crate) path: String,
    pub(crate) mode: Mode,
    pub(crate) dry_run: bool,
    /// Kept in the caches as nanoseconds since the epoch: formatting and parsing an RFC 3339
    /// time per run was most of reading and writing a cache of 1,000 runs (#18).
    #[serde(with = "chrono::serde::ts_nanoseconds")]
    pub(crate) started: DateTime<Utc>,
    /// `--ticket ID`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) ticket: Option<String>,
    pub(crate) finished: Option<Ended>,
    /// Interrupted and not resumed since.
    pub(crate) interrupted: bool,
    /// The playbook's steps as they last finished (or started), in journal order.
    pub(crate) steps: Vec<PastStep>,
}

/// A [`PastRun`] as the index stores it, read without its steps: the index's `steps` are
/// skipped as they are parsed, never built (see [`crate::record::history::scan_heads`]).
/// The heads file writes it as a row ([`PastRunHead::row`]): its fields in the order declared
/// here, which serde reads back as this struct.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct PastRunHead {
    run_id: String,
    playbook: String,
    version: String,
    path: String,
    mode: Mode,
    dry_run: bool,
    #[serde(with = "chrono::serde::ts_nanoseconds")]
    started: DateTime<Utc>,
    #[serde(default)]
    ticket: Option<String>,
    finished: Option<Ended>,
    interrupted: bool,
}

impl PastRunHead {
    /// `run` without its steps.
    pub(crate) fn of(run: &PastRun) -> Self {
        Self {
            run_id: run.run_id.clone(),
            playbook: run.playbook.clone(),
            version: run.version.clone(),
            path: run.path.clone(),
            mode: run.mode,
            dry_run: run.dry_run,
            started: run.started,
            ticket: run.ticket.clone(),
            finished: run.finished.clone(),
            interrupted: run.interrupted,
        }
    }

    /// Which run it is.
    pub(crate) fn head(&self) -> Head {
        Head {
            run_id: self.run_id.clone(),
            playbook: self.playbook.clone(),
        }
    }

    pub(crate) fn playbook(&self) -> &str {
        &self.playbook
    }

    pub(crate) fn run_id(&self) -> &str {
        &self.run_id
    }

    pub(crate) fn started(&self) -> DateTime<Utc> {
        self.started
    }

    /// [`PastRun::succeeded`].
    pub(crate) fn succeeded(&self) -> bool {
        let dry_run = self.dry_run || self.mode == Mode::DryRun;
        !dry_run
            && self
                .finished
                .as_ref()
                .is_some_and(|f| f.status == RunStatus::Ok)
    }

    /// The run as a JSON array of its fields, in their declared order, rather than an object:
    /// a heads file of 1,000 runs is read by every run's report, and matching each field's
    /// name was a third of the reading (#18). A test reads rows back as the struct.
    pub(crate) fn row(&self) -> impl Serialize + '_ {
        (
            &self.run_id,
            &self.playbook,
            &self.version,
            &self.path,
            self.mode,
            self.dry_run,
            Nanos(&self.started),
            &self.ticket,
            self.finished.as_ref().map(|f| {
                (
                    Nanos(&f.ts),
                    f.status,
                    f.duration_ms,
                    f.rto_objective_ms,
                    f.rto_achieved_ms,
                )
            }),
            self.interrupted,
        )
    }

    /// The run, with no steps.
    pub(crate) fn into_run(self) -> PastRun {
        PastRun {
            dir: PathBuf::new(),
            run_id: self.run_id,
            playbook: self.playbook,
            version: self.version,
            path: self.path,
            mode: self.mode,
            dry_run: self.dry_run,
            started: self.started,
            ticket: self.ticket,
            finished: self.finished,
            interrupted: self.interrupted,
            steps: Vec::new(),
        }
    }
}

/// A time as nanoseconds since the epoch, as [`PastRun`] and [`Ended`] store theirs.
struct Nanos<'a>(&'a DateTime<Utc>);

impl Serialize for Nanos<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        chrono::serde::ts_nanoseconds::serialize(self.0, s)
    }
}

/// `run_finished`, in short.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Ended {
    #[serde(with = "chrono::serde::ts_nanoseconds")]
    pub(crate) ts: DateTime<Utc>,
    pub(crate) status: RunStatus,
    pub(crate) duration_ms: u64,
    pub(crate) rto_objective_ms: Option<u64>,
    pub(crate) rto_achieved_ms: Option<u64>,
}

/// A step of a past run, in short.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PastStep {
    pub(crate) id: String,
    pub(crate) status: Option<StepStatus>,
    pub(crate) duration_ms: Option<u64>,
}

impl PastRun {
    /// The digest of a replayed journal; `None` without `run_started`.
    #[must_use]
    pub(crate) fn of(dir: PathBuf, state: &RunState) -> Option<Self> {
        let s = state.started.as_ref()?;
        Some(Self {
            dir,
            run_id: state.run_id.clone(),
            playbook: s.playbook.clone(),
            version: s.version.clone(),
            path: s.path.clone(),
            mode: s.mode,
            dry_run: s.dry_run,
            started: s.ts,
            ticket: s.ticket.clone(),
            finished: state.finished.as_ref().map(|f| Ended {
                ts: f.ts,
                status: f.status,
                duration_ms: f.duration_ms,
                rto_objective_ms: f.rto_objective_ms,
                rto_achieved_ms: f.rto_achieved_ms,
            }),
            interrupted: state.interrupted.is_some(),
            steps: state
                .steps
                .values()
                .map(|step| PastStep {
                    id: step.id.to_string(),
                    status: step.status,
                    duration_ms: step.duration_ms,
                })
                .collect(),
        })
    }

    #[must_use]
    pub(crate) fn started(&self) -> DateTime<Utc> {
        self.started
    }

    #[must_use]
    pub(crate) fn playbook(&self) -> &str {
        &self.playbook
    }

    /// A dry run, whatever mode it rehearsed.
    #[must_use]
    pub(crate) fn is_dry_run(&self) -> bool {
        self.dry_run || self.mode == Mode::DryRun
    }

    /// The mode it is listed under: `dry-run` for a dry run.
    #[must_use]
    pub(crate) fn listed_mode(&self) -> Mode {
        if self.is_dry_run() {
            Mode::DryRun
        } else {
            self.mode
        }
    }

    /// Finished ok, for real (not a dry run).
    #[must_use]
    pub(crate) fn succeeded(&self) -> bool {
        !self.is_dry_run()
            && self
                .finished
                .as_ref()
                .is_some_and(|f| f.status == RunStatus::Ok)
    }

    /// The run's status: finished, interrupted, or still open (crashed or running).
    #[must_use]
    pub(crate) fn status_word(&self) -> &'static str {
        match (&self.finished, self.interrupted) {
            (Some(f), _) => f.status.as_str(),
            (None, true) => RunStatus::Interrupted.as_str(),
            (None, false) => "incomplete",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The heads file's rows are read back by the struct's own `Deserialize`, which takes the
    /// fields in the order they are declared: a row written in another order (a field moved,
    /// added or renamed without `row` following) fails here rather than mixing up two strings.
    #[test]
    fn a_row_reads_back_as_the_run() {
        let started = DateTime::parse_from_rfc3339("2026-11-23T02:00:00.123456789Z")
            .expect("time")
            .with_timezone(&Utc);
        let head = PastRunHead {
            run_id: "20261123T020000Z-p-0001".into(),
            playbook: "p".into(),
            version: "1.2.3".into(),
            path: "/srv/p.toml".into(),
            mode: Mode::Incident,
            dry_run: true,
            started,
            ticket: Some("INC-7".into()),
            finished: Some(Ended {
                ts: started + chrono::Duration::milliseconds(5),
                status: RunStatus::Failed,
                duration_ms: 5,
                rto_objective_ms: Some(60_000),
                rto_achieved_ms: None,
            }),
            interrupted: true,
        };
        let row = serde_json::to_string(&head.row()).expect("row");
        assert!(
            row.starts_with("[\"20261123T020000Z-p-0001\",\"p\",\"1.2.3\""),
            "{row}"
        );
        let back: PastRunHead = serde_json::from_str(&row).expect("read back");
        assert_eq!(back, head);
        let plain = PastRunHead {
            ticket: None,
            finished: None,
            ..head
        };
        let row = serde_json::to_string(&plain.row()).expect("row");
        assert_eq!(
            serde_json::from_str::<PastRunHead>(&row).expect("read back"),
            plain
        );
    }
}
