//! The digest of one past run: what `runs`, `list`, the `history` probe and the report's
//! comparison read of its journal, and what the runs root's index keeps.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::event::{Mode, RunStatus, StepStatus};
use crate::record::head::Head;
use crate::record::replay::RunState;

/// One past run: what `runs`, `list`, the `history` probe and the report's comparison read of
/// its journal. The journal itself stays the record ([`PastRun::load_state`]).
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
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct PastRunHead {
    run_id: String,
    playbook: String,
    version: String,
    path: String,
    mode: Mode,
    dry_run: bool,
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

/// `run_finished`, in short.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Ended {
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
    /// Which run it is.
    pub(crate) fn head(&self) -> Head {
        Head {
            run_id: self.run_id.clone(),
            playbook: self.playbook.clone(),
        }
    }

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
                    id: step.id.clone(),
                    status: step.status,
                    duration_ms: step.duration_ms,
                })
                .collect(),
        })
    }

    /// The whole run, read again from its journal.
    pub(crate) fn load_state(&self) -> Result<RunState, crate::record::replay::ReplayError> {
        RunState::load(&self.dir.join("journal.jsonl"))
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
