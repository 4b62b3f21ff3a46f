//! The phases of a playbook, shared by a run and by a nested playbook: the assessment checks,
//! the steps, and (when they all went well) the validation checks.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

use crate::engine::check;
use crate::engine::probe::ProbeEnv;
use crate::engine::scheduler::{self, StepsOutcome};
use crate::engine::scope::RunScope;
use crate::event::{CheckPhase, RunStatus};

/// Runs the phases of the scope's plan; how its steps went, and the status they make.
/// `rto_warning`: how long after `started` to warn that the RTO objective is near.
pub(crate) async fn steps_and_checks(
    scope: &Arc<RunScope>,
    rto_warning: Option<Duration>,
    started: Instant,
) -> (StepsOutcome, RunStatus) {
    checks(scope, CheckPhase::Assessment).await;
    let outcome = scheduler::run(scope, rto_warning, started).await;
    let mut failed = outcome.failed;
    if !outcome.interrupted && !failed && !scope.dry_run && !scope.cancel.is_cancelled() {
        failed |= !checks(scope, CheckPhase::Validation).await;
    }
    // A record that could not be written fails the run, whenever it happened.
    failed |= scope.bus.fault().is_some();
    let status = if outcome.interrupted || scope.cancel.is_cancelled() {
        RunStatus::Interrupted
    } else if failed {
        RunStatus::Failed
    } else {
        RunStatus::Ok
    };
    (outcome, status)
}

/// Runs `[[checks]]` concurrently; whether all passed.
async fn checks(scope: &Arc<RunScope>, phase: CheckPhase) -> bool {
    let mut set = JoinSet::new();
    for i in 0..scope.playbook().checks.len() {
        let scope = Arc::clone(scope);
        set.spawn(async move {
            let check = &scope.playbook().checks[i];
            let env = ProbeEnv {
                context: &scope.context,
                http: &scope.http,
                cwd: &scope.run_dir,
                env: &scope.env,
                cancel: &scope.cancel,
                groups: &scope.groups,
                history: &scope.history,
                inventory: scope.inventory(),
            };
            check::run(check, phase, None, &env, &scope.bus)
                .await
                .passed
        });
    }
    let mut all = true;
    while let Some(result) = set.join_next().await {
        all &= result.unwrap_or(false);
    }
    all
}
