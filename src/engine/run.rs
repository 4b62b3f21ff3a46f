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
use crate::engine::scope::RunScope;
use crate::engine::signal::SignalHandling;
use crate::event::{Bus, Clock, Event, RunStatus};
use crate::plan::Plan;
use crate::playbook::find::Library;

/// What the engine is told: no paths it must create, no lock, no notifications.
pub(crate) struct RunRequest {
    /// The playbook's plan for the run's environment: order, dependents, the steps skipped
    /// by environment, and what `--only`/`--from` or a resume settled before the start.
    pub(crate) plan: Arc<Plan>,
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
    // The RTO warning comes at 80% of the objective.
    let rto_warning = (req.plan.playbook.meta.rto).map(|r| r.duration.get().mul_f64(0.8));
    let scope = Arc::new(RunScope::top(req, Arc::clone(&bus), &signals));

    let (outcome, status) = steps_and_checks(&scope, rto_warning, clock.instant()).await;
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
