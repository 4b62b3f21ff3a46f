//! The DAG of the scope's [`Plan`](crate::plan::Plan): steps start as soon as every need has
//! finished `ok`, up to `--max-parallel` at once; what the plan settled first (presets, and the
//! steps not for this environment); dependents of a failed or skipped step are skipped with the
//! reason; a failure stops
//! scheduling (`abort`), is tolerated (`continue`) or rolls back (`rollback`); an interrupt
//! cancels what runs and starts nothing new.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

use crate::engine::limits;
use crate::engine::log::StepLog;
use crate::engine::process::CommandSpec;
use crate::engine::scope::RunScope;
use crate::engine::ssh;
use crate::engine::step::{self, StepResult};
use crate::event::{Event, Exit, StepStatus, millis};
use crate::plan::{Plan, Preset, Skip};
use crate::playbook::model::{OnFailure, Step};

/// How the steps went.
#[derive(Debug, Clone)]
pub(crate) struct StepsOutcome {
    pub(crate) status: Vec<StepStatus>,
    /// When each step started and ended, from the run's start.
    pub(crate) times: Vec<Option<(Duration, Duration)>>,
    pub(crate) failures_tolerated: u32,
    /// A step failed and was not tolerated, or a rollback failed.
    pub(crate) failed: bool,
    pub(crate) interrupted: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Waiting,
    Running,
    Done(StepStatus),
}

/// Why scheduling stopped early.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Stop {
    Abort(String),
    Rollback(usize),
    Interrupt,
    /// A file of the run's record could not be written: nothing new starts, rollbacks included.
    Record(String),
}

/// Where each step stands, and what it waits for.
struct Dag<'p> {
    plan: &'p Plan,
    state: Vec<State>,
    /// How many of a waiting step's `needs` and `after` have not ended yet.
    waiting_on: Vec<usize>,
    /// Steps whose `needs` and `after` all ended, first in file order. Entries may be stale
    /// (a step skipped meanwhile): check the state when popping.
    ready: BinaryHeap<Reverse<usize>>,
}

impl<'p> Dag<'p> {
    fn new(plan: &'p Plan) -> Self {
        let steps = &plan.playbook.steps;
        Self {
            plan,
            state: vec![State::Waiting; steps.len()],
            waiting_on: steps
                .iter()
                .map(|s| s.needs.len() + s.after.len())
                .collect(),
            ready: BinaryHeap::new(),
        }
    }

    /// Queues every waiting step that waits for nothing.
    fn seed(&mut self) {
        for (i, &w) in self.waiting_on.iter().enumerate() {
            if w == 0 && self.state[i] == State::Waiting {
                self.ready.push(Reverse(i));
            }
        }
    }

    fn next_ready(&mut self) -> Option<usize> {
        while let Some(Reverse(i)) = self.ready.pop() {
            if self.state[i] == State::Waiting {
                return Some(i);
            }
        }
        None
    }

    fn release(&mut self, d: usize) {
        self.waiting_on[d] -= 1;
        if self.waiting_on[d] == 0 {
            self.ready.push(Reverse(d));
        }
    }

    /// Step `i` has ended, `ok` or not (`what`: its status, for the skip reasons). A step that
    /// runs `after` it moves on either way; one that `needs` it moves on when it was ok, or
    /// when it is an `always` step, and is skipped otherwise, and so on downstream, each skip
    /// naming the need that stopped it.
    fn ended(&mut self, scope: &RunScope, i: usize, ok: bool, what: &str) {
        let steps = &self.plan.playbook.steps;
        let mut stack = vec![(i, ok)];
        while let Some((j, ok)) = stack.pop() {
            for &d in &self.plan.dependents[j] {
                if self.state[d] != State::Waiting {
                    continue;
                }
                if ok || steps[d].always {
                    self.release(d);
                } else {
                    self.state[d] = State::Done(StepStatus::Skipped);
                    let word = if j == i { what } else { "skipped" };
                    emit_skip(scope, d, format!("needs {word} step `{}`", steps[j].id));
                    stack.push((d, false));
                }
            }
            for &d in &self.plan.after_dependents[j] {
                if self.state[d] == State::Waiting {
                    self.release(d);
                }
            }
        }
    }

    /// Skips step `i`, which never started, and what depends on it.
    fn skip(&mut self, scope: &RunScope, i: usize, reason: String) {
        self.state[i] = State::Done(StepStatus::Skipped);
        emit_skip(scope, i, reason);
        self.ended(scope, i, false, "skipped");
    }

    fn waiting(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.state.len()).filter(|&i| self.state[i] == State::Waiting)
    }
}

/// The scope `always` steps run in once the run has stopped: their own cancel token, which a
/// second signal cancels, and so does `cleanup_timeout` once the run is interrupted. The timer
/// is aborted when the handle is dropped.
struct Cleanup {
    scope: Arc<RunScope>,
    timer: tokio::task::JoinHandle<()>,
}

impl Cleanup {
    fn start(shared: &RunScope) -> Self {
        let cancel = shared.second_signal.child_token();
        let scope = Arc::new(shared.with_cancel(cancel.clone()));
        let interrupted = shared.cancel.clone();
        let timeout = shared.playbook().meta.cleanup_timeout.get();
        let timer = tokio::spawn(async move {
            interrupted.cancelled().await;
            tokio::time::sleep(timeout).await;
            cancel.cancel();
        });
        Self { scope, timer }
    }

    /// Why a cleanup step did not start.
    fn reason(&self, stop: Option<&Stop>) -> String {
        if let Some(Stop::Record(fault)) = stop {
            format!("the run stopped: {fault}")
        } else if self.scope.second_signal.is_cancelled() {
            "a second signal skipped the cleanup".to_owned()
        } else {
            format!(
                "`cleanup_timeout` ({}) passed",
                self.scope.playbook().meta.cleanup_timeout
            )
        }
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        self.timer.abort();
    }
}

#[expect(
    clippy::too_many_lines,
    reason = "the scheduling loop reads best in one piece"
)]
pub(crate) async fn run(
    shared: &Arc<RunScope>,
    rto_warning: Option<Duration>,
    run_started: Instant,
) -> StepsOutcome {
    let plan = &shared.plan;
    let steps = &plan.playbook.steps;
    let n = steps.len();
    let mut dag = Dag::new(plan);
    // In a dry run: steps that were only printed.
    let mut printed = vec![false; n];
    let mut times: Vec<Option<(Duration, Duration)>> = vec![None; n];
    let mut started_at: Vec<Option<Duration>> = vec![None; n];
    let mut completed: Vec<usize> = Vec::new();
    // Steps whose command, request or probe started: the only ones with anything to undo.
    let mut began = vec![false; n];
    let mut failures_tolerated = 0;
    let mut failed = false;
    let mut stop: Option<Stop> = None;
    let mut running = JoinSet::new();
    let mut rto_warned = rto_warning.is_none();
    let rto_at = rto_warning.map_or(run_started, |d| run_started + d);
    // Set once the run has stopped and every other step has ended: the `always` steps left.
    let mut cleanup: Option<Cleanup> = None;
    // The limit asked for, within what the open-file limit allows.
    let limit = shared
        .max_parallel
        .unwrap_or(usize::MAX)
        .min(limits::step_slots())
        .max(1);

    // Presets first: steps left out, or finished in an earlier segment of a resumed run.
    for (i, step) in steps.iter().enumerate() {
        match plan.preset(i) {
            None => {}
            Some(Preset::Unselected(reason)) => {
                dag.state[i] = State::Done(StepStatus::Skipped);
                shared.bus.emit(finish_unselected(step, reason));
                if shared.dry_run {
                    shared.context.record_placeholder(step);
                }
            }
            Some(Preset::Done {
                status,
                exit_code,
                outputs,
            }) => {
                dag.state[i] = State::Done(*status);
                shared
                    .context
                    .record_step(&step.id, *status, *exit_code, outputs);
                if *status == StepStatus::Ok {
                    completed.push(i);
                }
            }
        }
    }
    dag.seed();
    // Then the steps the plan skips in this environment, and what needs them.
    for i in 0..n {
        if let (None, Some(Skip::Environment)) = (plan.preset(i), plan.skip(i))
            && dag.state[i] == State::Waiting
        {
            dag.skip(shared, i, Skip::Environment.to_string());
        }
    }
    for i in 0..n {
        match plan.preset(i) {
            None => {}
            Some(
                Preset::Unselected(_)
                | Preset::Done {
                    status: StepStatus::Ok,
                    ..
                },
            ) => dag.ended(shared, i, true, "ok"),
            Some(Preset::Done { status, .. }) => dag.ended(shared, i, false, status.as_str()),
        }
    }

    loop {
        if let Some(fault) = shared.bus.fault()
            && !matches!(stop, Some(Stop::Record(_)))
        {
            failed = true;
            stop = Some(Stop::Record(fault.to_string()));
        }
        // Start what may start: anything until the run stops, then only cleanup.
        let may_start = match &cleanup {
            None => stop.is_none(),
            Some(c) => !c.scope.cancel.is_cancelled() && !matches!(stop, Some(Stop::Record(_))),
        };
        let scope = cleanup.as_ref().map_or(shared, |c| &c.scope);
        while may_start && running.len() < limit {
            let Some(i) = dag.next_ready() else { break };
            dag.state[i] = State::Running;
            started_at[i] = Some(run_started.elapsed());
            let task_scope = Arc::clone(scope);
            let after_printed = steps[i].waits_for().any(|d| printed[d]);
            running.spawn(async move { (i, step::run(&task_scope, i, after_printed).await) });
        }
        if running.is_empty() {
            if cleanup.is_some() {
                break;
            }
            // Every step that could run has ended: the rest never start, then the rollbacks.
            let why = match &stop {
                Some(Stop::Interrupt) => "the run was interrupted".to_owned(),
                Some(Stop::Abort(id)) => format!("the run stopped after `{id}` failed"),
                Some(Stop::Rollback(i)) => {
                    format!("the run stopped after `{}` failed", steps[*i].id)
                }
                Some(Stop::Record(fault)) => format!("the run stopped: {fault}"),
                None => "not reached".to_owned(),
            };
            let never: Vec<usize> = dag.waiting().filter(|&i| !steps[i].always).collect();
            for &i in &never {
                dag.state[i] = State::Done(StepStatus::Skipped);
                emit_skip(shared, i, why.clone());
            }
            for &i in &never {
                dag.ended(shared, i, false, "skipped");
            }
            if let Some(Stop::Rollback(trigger)) = stop
                && !shared.cancel.is_cancelled()
            {
                failed |= !rollbacks(shared, trigger, &began, &completed, &mut dag.state).await;
            }
            if dag.waiting().next().is_none() {
                break;
            }
            cleanup = Some(Cleanup::start(shared));
            continue;
        }
        let joined = tokio::select! {
            joined = running.join_next() => joined,
            () = shared.cancel.cancelled(), if stop != Some(Stop::Interrupt) && cleanup.is_none() => {
                stop = Some(Stop::Interrupt);
                continue;
            }
            () = tokio::time::sleep_until(rto_at.into()), if !rto_warned => {
                rto_warned = true;
                let objective = plan.playbook.meta.rto.map_or(0, |r| r.duration.as_millis());
                shared.bus.emit(Event::RtoWarning { elapsed_ms: millis(run_started.elapsed()), rto_objective_ms: objective });
                continue;
            }
        };
        let Some(joined) = joined else { break };
        let (i, result) = match joined {
            Ok(pair) => pair,
            Err(e) => {
                // A step task panicked: a bug in runbook, reported rather than hidden.
                tracing::error!(error = %e, "a step task failed");
                failed = true;
                stop.get_or_insert(Stop::Abort("an internal error".to_owned()));
                continue;
            }
        };
        times[i] = started_at[i].map(|s| (s, run_started.elapsed()));
        began[i] = result.began;
        printed[i] = result.would_run.is_some();
        dag.state[i] = State::Done(result.status);
        record(scope, &steps[i], &result);
        // A step a dry run only printed lets its dependents be printed too.
        let status = if result.would_run.is_some() {
            StepStatus::Ok
        } else {
            result.status
        };
        match status {
            StepStatus::Ok => {
                if result.would_run.is_none() {
                    completed.push(i);
                }
                dag.ended(shared, i, true, "ok");
            }
            StepStatus::Skipped => dag.ended(shared, i, false, "skipped"),
            StepStatus::Cancelled => dag.ended(shared, i, false, "cancelled"),
            StepStatus::Failed | StepStatus::RolledBack => {
                dag.ended(shared, i, false, "failed");
                if shared.dry_run && steps[i].read_only {
                    failed = true;
                    stop.get_or_insert(Stop::Abort(steps[i].id.clone()));
                    continue;
                }
                match steps[i].on_failure {
                    OnFailure::Continue => failures_tolerated += 1,
                    OnFailure::Abort => {
                        failed = true;
                        stop.get_or_insert(Stop::Abort(steps[i].id.clone()));
                    }
                    OnFailure::Rollback => {
                        failed = true;
                        stop.get_or_insert(Stop::Rollback(i));
                    }
                }
            }
        }
    }
    // Cleanup steps that could not start: a second signal, the timeout, or a record fault.
    if let Some(c) = &cleanup {
        let reason = c.reason(stop.as_ref());
        for i in dag.waiting().collect::<Vec<_>>() {
            dag.state[i] = State::Done(StepStatus::Skipped);
            emit_skip(shared, i, reason.clone());
        }
    }
    drop(cleanup);

    let interrupted = matches!(stop, Some(Stop::Interrupt)) || shared.cancel.is_cancelled();
    let status = dag
        .state
        .iter()
        .map(|s| {
            if let State::Done(st) = s {
                *st
            } else {
                StepStatus::Skipped
            }
        })
        .collect();
    StepsOutcome {
        status,
        times,
        failures_tolerated,
        failed,
        interrupted,
    }
}

/// The rollbacks after `trigger` failed under `on_failure = "rollback"`: the failed step's own
/// first (it may have half-applied), then every completed step's, newest first. A failed step
/// that never began (declined, nobody to ask, a template error) changed nothing, so its own
/// rollback would be the first change. Whether they all succeeded.
async fn rollbacks(
    shared: &RunScope,
    trigger: usize,
    began: &[bool],
    completed: &[usize],
    state: &mut [State],
) -> bool {
    let steps = &shared.playbook().steps;
    let order = std::iter::once(trigger)
        .filter(|&t| began[t])
        .chain(completed.iter().rev().copied());
    let mut all_ok = true;
    for i in order {
        // A rollback whose log failed to write stops the rest: nothing new starts.
        if shared.bus.fault().is_some() {
            break;
        }
        if steps[i].rollback.is_none() || shared.cancel.is_cancelled() {
            continue;
        }
        let ok = rollback(shared, &steps[i]).await;
        all_ok &= ok;
        if ok && i != trigger {
            state[i] = State::Done(StepStatus::RolledBack);
        }
    }
    all_ok
}

fn finish_unselected(step: &Step, reason: &str) -> Event {
    Event::StepFinished {
        step: step.id.clone(),
        status: StepStatus::Skipped,
        reason: Some(reason.to_owned()),
        outputs: BTreeMap::new(),
        exit_code: None,
        attempts: 0,
        duration_ms: 0,
        would_run: None,
    }
}

fn record(shared: &RunScope, step: &Step, result: &StepResult) {
    if shared.dry_run && result.would_run.is_some() {
        shared.context.record_placeholder(step);
    } else {
        shared
            .context
            .record_step(&step.id, result.status, result.exit_code, &result.outputs);
    }
}

fn emit_skip(shared: &RunScope, i: usize, reason: String) {
    let step = &shared.playbook().steps[i];
    shared
        .context
        .record_step(&step.id, StepStatus::Skipped, None, &BTreeMap::new());
    shared.bus.emit(Event::StepFinished {
        step: step.id.clone(),
        status: StepStatus::Skipped,
        reason: Some(reason),
        outputs: BTreeMap::new(),
        exit_code: None,
        attempts: 0,
        duration_ms: 0,
        would_run: None,
    });
}

/// Runs a step's `rollback` command; whether it succeeded.
async fn rollback(shared: &RunScope, step: &Step) -> bool {
    let Some(template) = &step.rollback else {
        return true;
    };
    let started = Instant::now();
    let command = match shared.context.render(template) {
        Ok(c) => c,
        Err(e) => {
            shared.bus.emit(Event::RollbackStarted {
                step: step.id.clone(),
                command: template.source().to_owned(),
            });
            shared.bus.emit(Event::RollbackFinished {
                step: step.id.clone(),
                ok: false,
                exit_code: None,
                duration_ms: 0,
                reason: Some(format!("template error in `rollback`: {e}")),
            });
            return false;
        }
    };
    shared.bus.emit(Event::RollbackStarted {
        step: step.id.clone(),
        command: command.clone(),
    });
    let cwd = match &step.cwd {
        Some(t) => shared
            .context
            .render(t)
            .map_or_else(|_| shared.run_dir.clone(), |c| shared.run_dir.join(c)),
        None => shared.run_dir.clone(),
    };
    let mut spec = CommandSpec::new(command, cwd);
    spec.env.clone_from(&shared.env);
    spec.env.push(("RUNBOOK_STEP".to_owned(), step.id.clone()));
    spec.timeout = Some(step.timeout.unwrap_or(Step::DEFAULT_RUN_TIMEOUT).get());
    let log_path = shared.log_path(&step.id);
    let (exit, reason, tail) =
        match StepLog::open(&log_path, &step.id, Arc::clone(&shared.bus), "rollback") {
            Ok(mut log) => {
                shared.bus.barrier();
                // A remote step's rollback runs on its host.
                let finished = match ssh::Place::for_step(step, shared.inventory(), &shared.context)
                {
                    Ok(place) => ssh::run(&place, &spec, &mut log, &shared.cancel, &shared.groups)
                        .await
                        .map_err(|e| e.to_string()),
                    Err(e) => Err(e),
                };
                let captured = log.finish();
                match finished {
                    Ok(f) => (
                        Some(f.exit),
                        (f.exit != Exit::Success).then(|| f.exit.to_string()),
                        captured.tail,
                    ),
                    Err(e) => (None, Some(e), captured.tail),
                }
            }
            Err(e) => (
                None,
                Some(format!("failed to write `{}`: {e}", log_path.display())),
                Vec::new(),
            ),
        };
    let ok = reason.is_none();
    if !ok && !tail.is_empty() {
        shared.bus.tail(&step.id, &tail);
    }
    shared.bus.emit(Event::RollbackFinished {
        step: step.id.clone(),
        ok,
        exit_code: exit.and_then(Exit::code),
        duration_ms: millis(started.elapsed()),
        reason,
    });
    ok
}
