//! A whole run of a playbook, in its phases: the assessment checks, the steps, the validation
//! checks, then the RTO and RPO achieved and the final status. Everything around a run (the
//! lock, the run folder, the journal, notifications, the report) belongs to the session that
//! calls [`execute`].

use std::sync::Arc;

use crate::engine::phases::steps_and_checks;
use crate::engine::request::RunRequest;
use crate::engine::rto;
use crate::engine::scope::RunScope;
use crate::engine::signal::SignalHandling;
use crate::event::{Bus, Event, RunStatus};

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
    // Also after a failure or an interrupt: nothing runs on a host any more.
    scope.connections.close().await;
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
