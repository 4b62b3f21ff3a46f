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

use crate::engine::log::StepLog;
use crate::engine::process::{self, CommandSpec};
use crate::engine::scope::RunScope;
use crate::engine::step::{self, StepResult};
use crate::event::{Event, Exit, StepStatus, millis};
use crate::plan::{Preset, Skip};
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
    let dependents = &plan.dependents;
    let mut waiting_on: Vec<usize> = steps.iter().map(|s| s.needs.len()).collect();
    let mut state = vec![State::Waiting; n];
    // In a dry run: steps that were only printed.
    let mut printed = vec![false; n];
    let mut times: Vec<Option<(Duration, Duration)>> = vec![None; n];
    let mut started_at: Vec<Option<Duration>> = vec![None; n];
    let mut completed: Vec<usize> = Vec::new();
    // Steps whose command, request or probe started: the only ones with anything to undo.
    let mut began = vec![false; n];
    // Ready steps, first in file order.
    let mut ready: BinaryHeap<Reverse<usize>> = BinaryHeap::new();
    let mut failures_tolerated = 0;
    let mut failed = false;
    let mut stop: Option<Stop> = None;
    let mut running = JoinSet::new();
    let mut rto_warned = rto_warning.is_none();
    let rto_at = rto_warning.map_or(run_started, |d| run_started + d);

    let finish_unselected = |i: usize, reason: &str| Event::StepFinished {
        step: steps[i].id.clone(),
        status: StepStatus::Skipped,
        reason: Some(reason.to_owned()),
        outputs: BTreeMap::new(),
        exit_code: None,
        attempts: 0,
        duration_ms: 0,
        would_run: None,
    };
    // Presets first: steps left out, or finished in an earlier segment of a resumed run.
    for i in 0..n {
        match plan.preset(i) {
            None => {}
            Some(Preset::Unselected(reason)) => {
                state[i] = State::Done(StepStatus::Skipped);
                shared.bus.emit(finish_unselected(i, reason));
                if shared.dry_run {
                    shared.context.record_placeholder(&steps[i]);
                }
            }
            Some(Preset::Done {
                status,
                exit_code,
                outputs,
            }) => {
                state[i] = State::Done(*status);
                shared
                    .context
                    .record_step(&steps[i].id, *status, *exit_code, outputs);
                if *status == StepStatus::Ok {
                    completed.push(i);
                }
            }
        }
    }
    // Then the steps the plan skips in this environment, and what needs them.
    for i in 0..n {
        if let (None, Some(Skip::Environment)) = (plan.preset(i), plan.skip(i))
            && state[i] == State::Waiting
        {
            skip(
                shared,
                &mut state,
                dependents,
                i,
                Skip::Environment.to_string(),
            );
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
            ) => {
                for &d in &dependents[i] {
                    waiting_on[d] -= 1;
                }
            }
            Some(Preset::Done { status, .. }) => {
                cascade(shared, &mut state, dependents, i, status.as_str());
            }
        }
    }
    for (i, &waiting) in waiting_on.iter().enumerate() {
        if waiting == 0 && state[i] == State::Waiting {
            ready.push(Reverse(i));
        }
    }

    loop {
        if let Some(fault) = shared.bus.fault()
            && !matches!(stop, Some(Stop::Record(_)))
        {
            failed = true;
            stop = Some(Stop::Record(fault.to_string()));
        }
        // Start what may start.
        while stop.is_none() && running.len() < shared.max_parallel.max(1) {
            let Some(Reverse(i)) = ready.pop() else { break };
            state[i] = State::Running;
            started_at[i] = Some(run_started.elapsed());
            let task_shared = Arc::clone(shared);
            let after_printed = steps[i].needs.iter().any(|&d| printed[d]);
            running.spawn(async move { (i, step::run(&task_shared, i, after_printed).await) });
        }
        if running.is_empty() {
            break;
        }
        let joined = tokio::select! {
            joined = running.join_next() => joined,
            () = shared.cancel.cancelled(), if stop != Some(Stop::Interrupt) => {
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
        state[i] = State::Done(result.status);
        record(shared, &steps[i], &result);
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
                for &d in &dependents[i] {
                    waiting_on[d] -= 1;
                    if waiting_on[d] == 0 && state[d] == State::Waiting {
                        ready.push(Reverse(d));
                    }
                }
            }
            StepStatus::Skipped => cascade(shared, &mut state, dependents, i, "skipped"),
            StepStatus::Cancelled => cascade(shared, &mut state, dependents, i, "cancelled"),
            StepStatus::Failed | StepStatus::RolledBack => {
                cascade(shared, &mut state, dependents, i, "failed");
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

    // Steps that never started.
    let why = match &stop {
        Some(Stop::Interrupt) => "the run was interrupted".to_owned(),
        Some(Stop::Abort(id)) => format!("the run stopped after `{id}` failed"),
        Some(Stop::Rollback(i)) => format!("the run stopped after `{}` failed", steps[*i].id),
        Some(Stop::Record(fault)) => format!("the run stopped: {fault}"),
        None => "not reached".to_owned(),
    };
    for (i, s) in state.iter_mut().enumerate() {
        if *s == State::Waiting {
            *s = State::Done(StepStatus::Skipped);
            shared.bus.emit(finish_unselected(i, &why));
        }
    }

    if let Some(Stop::Rollback(trigger)) = stop
        && !shared.cancel.is_cancelled()
    {
        // The failed step's own rollback first (it may have half-applied), then every
        // completed step's, newest first. A failed step that never began (declined, nobody to
        // ask, a template error) changed nothing, so its own rollback would be the first change.
        let order = std::iter::once(trigger)
            .filter(|&t| began[t])
            .chain(completed.iter().rev().copied());
        for i in order {
            // A rollback whose log failed to write stops the rest: nothing new starts.
            if shared.bus.fault().is_some() {
                break;
            }
            if steps[i].rollback.is_none() || shared.cancel.is_cancelled() {
                continue;
            }
            let ok = rollback(shared, &steps[i]).await;
            if !ok {
                failed = true;
            }
            if ok && i != trigger {
                state[i] = State::Done(StepStatus::RolledBack);
            }
        }
    }
    let interrupted = matches!(stop, Some(Stop::Interrupt)) || shared.cancel.is_cancelled();
    let status = state
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

fn record(shared: &RunScope, step: &Step, result: &StepResult) {
    if shared.dry_run && result.would_run.is_some() {
        shared.context.record_placeholder(step);
    } else {
        shared
            .context
            .record_step(&step.id, result.status, result.exit_code, &result.outputs);
    }
}

/// Skips step `i` (never started) and everything after it.
fn skip(
    shared: &RunScope,
    state: &mut [State],
    dependents: &[Vec<usize>],
    i: usize,
    reason: String,
) {
    state[i] = State::Done(StepStatus::Skipped);
    emit_skip(shared, i, reason);
    cascade(shared, state, dependents, i, "skipped");
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

/// Skips every waiting step downstream of `i`, each naming the need that stopped it.
fn cascade(
    shared: &RunScope,
    state: &mut [State],
    dependents: &[Vec<usize>],
    i: usize,
    what: &str,
) {
    let mut stack: Vec<(usize, usize)> = dependents[i].iter().map(|&d| (d, i)).collect();
    while let Some((d, because)) = stack.pop() {
        if state[d] != State::Waiting {
            continue;
        }
        state[d] = State::Done(StepStatus::Skipped);
        let cause = &shared.playbook().steps[because].id;
        let word = if because == i { what } else { "skipped" };
        emit_skip(shared, d, format!("needs {word} step `{cause}`"));
        stack.extend(dependents[d].iter().map(|&x| (x, d)));
    }
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
                let finished = process::run(&spec, &mut log, &shared.cancel, &shared.groups).await;
                let captured = log.finish();
                match finished {
                    Ok(f) => (
                        Some(f.exit),
                        (f.exit != Exit::Success).then(|| f.exit.to_string()),
                        captured.tail,
                    ),
                    Err(e) => (None, Some(e.to_string()), captured.tail),
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
