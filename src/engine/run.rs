//! A whole run of a playbook, in its phases: the assessment checks, the steps, the validation
//! checks, then the RTO and RPO achieved and the final status. Everything around a run (the
//! lock, the run folder, the journal, notifications, the report) belongs to the session that
//! calls [`execute`].

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::engine::approval::Approvals;
use crate::engine::context::{Context, RunInfo};
use crate::engine::phases::steps_and_checks;
use crate::engine::rto;
use crate::engine::scheduler::{Preset, Schedule};
use crate::engine::scope::RunScope;
use crate::engine::signal::SignalHandling;
use crate::event::{Bus, Clock, Event, RunStatus};
use crate::playbook::find::Library;
use crate::playbook::model::Playbook;

/// What the engine is told: no paths it must create, no lock, no notifications.
pub(crate) struct RunRequest {
    pub(crate) playbook: Arc<Playbook>,
    /// By step index: left out by `--only`/`--from`, or finished before a resume.
    pub(crate) preset: Vec<Option<Preset>>,
    /// What `run.*` says; `info.dir` is the run folder, with its `logs/` already made.
    pub(crate) info: RunInfo,
    /// The template context, vars included.
    pub(crate) context: Context,
    /// `[env]` rendered, plus `RUNBOOK_*`.
    pub(crate) env: Vec<(String, String)>,
    /// The runner's environment, for `env.*` and the secrets of nested playbooks.
    pub(crate) process_env: Arc<BTreeMap<String, String>>,
    /// Every secret value the bus masks: nested playbooks mask these and their own.
    pub(crate) secrets: Arc<Vec<String>>,
    pub(crate) approvals: Approvals,
    pub(crate) max_parallel: usize,
    pub(crate) dry_run: bool,
    pub(crate) incident_start: Option<DateTime<Utc>>,
    /// Started now, or at the original start for a resumed run.
    pub(crate) clock: Clock,
    /// Where nested playbooks are looked up after their parent's folder.
    pub(crate) library: Library,
    /// Past runs, for `history` probes.
    pub(crate) history: Arc<dyn crate::engine::probe::History>,
}

/// How a run ended.
#[derive(Debug, Clone)]
pub(crate) struct Outcome {
    pub(crate) status: RunStatus,
}

/// Runs a playbook to its end; every state change goes to `bus`, ending with `run_finished`.
pub(crate) async fn execute(req: RunRequest, bus: Arc<Bus>, signals: SignalHandling) -> Outcome {
    let clock = req.clock;
    let incident_start = req.incident_start;
    let schedule = Schedule {
        max_parallel: req.max_parallel,
        env: req.info.env.clone(),
        preset: req.preset.clone(),
        rto_warning_after: req.playbook.meta.rto.map(|r| r.duration.get().mul_f64(0.8)),
    };
    let scope = Arc::new(RunScope::top(req, Arc::clone(&bus), &signals));

    let (outcome, status) = steps_and_checks(&scope, &schedule, clock.instant()).await;
    if status == RunStatus::Interrupted {
        bus.emit(Event::RunInterrupted {
            signal: signals.interrupt.signal().unwrap_or("SIGINT").to_owned(),
        });
    }
    let end = clock.elapsed();
    bus.emit(rto::run_finished(
        &scope,
        &outcome,
        status,
        end,
        &clock,
        incident_start,
    ));
    Outcome { status }
}
