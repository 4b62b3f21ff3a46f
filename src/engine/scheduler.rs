//! The DAG of the scope's [`Plan`](crate::plan::Plan): steps start as soon as every need has
//! finished `ok`, up to `--max-parallel` at once; what the plan settled first (presets, and the
//! steps not for this environment); dependents of a failed or skipped step are skipped with the
//! reason; a failure stops
//! scheduling (`abort`), is tolerated (`continue`) or rolls back (`rollback`); an interrupt
//! cancels what runs and starts nothing new.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

use crate::engine::limits;
use crate::engine::log::StepLog;
use crate::engine::process::CommandSpec;
use crate::engine::scope::RunScope;
use crate::engine::ssh;
use crate::engine::step::{self, StepResult, emit_finished};
use crate::event::{Event, Exit, StepStatus, millis};
use crate::plan::{Plan, Preset, Skip};
use crate::playbook::model::{
    Action, Expansion, ForEach, ForEachSource, Instance, OnFailure, Step,
};

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

/// Where each step stands, and what it waits for. Units `0..n` are the plan's steps (a
/// `for_each` known before the run is already its instances and their group); the instances of
/// a group expanded during the run are appended after them.
struct Dag<'p> {
    plan: &'p Plan,
    /// The plan's steps.
    n: usize,
    /// Instances made during the run (unit `n + k`), and the group each belongs to.
    extra: Vec<(Arc<Step>, usize)>,
    state: Vec<State>,
    /// How many of a waiting step's `needs` and `after` have not ended yet (for an expanded
    /// group: how many of its instances).
    waiting_on: Vec<usize>,
    /// Steps whose `needs` and `after` all ended, first in file order. Entries may be stale
    /// (a step skipped meanwhile): check the state when popping.
    ready: BinaryHeap<Reverse<usize>>,
    /// Groups whose instances have all ended: they end next, whatever the run is doing.
    groups_done: Vec<usize>,
    /// The instances of each group, in item order.
    members: HashMap<usize, Vec<usize>>,
    /// By group with a `max_parallel`: how many of its instances run, and the ready ones that
    /// wait for one of them to end.
    pools: HashMap<usize, (usize, VecDeque<usize>)>,
    /// Item-wise chains between groups expanded during the run: for `B`, the groups `A` it
    /// needs with the same `for_each` text. `B` waits for `A` to be expanded, not to end; then
    /// `B[x]` waits for `A[x]`.
    itemwise: HashMap<usize, Vec<usize>>,
    /// Groups already expanded during the run.
    expanded: std::collections::HashSet<usize>,
    /// For an instance made during the run: the instances of other groups that need it.
    made_dependents: HashMap<usize, Vec<usize>>,
}

impl<'p> Dag<'p> {
    fn new(plan: &'p Plan) -> Self {
        let steps = &plan.playbook.steps;
        let mut members: HashMap<usize, Vec<usize>> = HashMap::new();
        for (i, s) in steps.iter().enumerate() {
            if let Some(group) = s
                .instance()
                .and_then(|inst| plan.playbook.step_index(&inst.of))
            {
                members.entry(group).or_default().push(i);
            }
        }
        Self {
            plan,
            n: steps.len(),
            extra: Vec::new(),
            state: vec![State::Waiting; steps.len()],
            waiting_on: steps
                .iter()
                .map(|s| s.needs.len() + s.after.len())
                .collect(),
            ready: BinaryHeap::new(),
            groups_done: Vec::new(),
            members,
            pools: HashMap::new(),
            itemwise: itemwise_pairs(steps),
            expanded: std::collections::HashSet::new(),
            made_dependents: HashMap::new(),
        }
    }

    /// Whether `b`'s need of `a` is item-wise (both expanded during the run).
    fn is_itemwise(&self, b: usize, a: usize) -> bool {
        self.itemwise.get(&b).is_some_and(|v| v.contains(&a))
    }

    fn step(&self, u: usize) -> &Step {
        if u < self.n {
            &self.plan.playbook.steps[u]
        } else {
            &self.extra[u - self.n].0
        }
    }

    /// The group an instance belongs to.
    fn group_of(&self, u: usize) -> Option<usize> {
        if u >= self.n {
            return Some(self.extra[u - self.n].1);
        }
        let of = &self.step(u).instance()?.of;
        self.plan.playbook.step_index(of)
    }

    /// Queues every waiting step that waits for nothing.
    fn seed(&mut self) {
        for i in 0..self.n {
            if self.waiting_on[i] == 0 && self.state[i] == State::Waiting {
                self.became_ready(i);
            }
        }
    }

    fn became_ready(&mut self, d: usize) {
        let step = self.step(d);
        let expanded = matches!(step.expansion, Expansion::Group { dynamic: false })
            || (step.is_group() && self.state[d] == State::Running);
        if expanded {
            self.groups_done.push(d);
        } else {
            self.ready.push(Reverse(d));
        }
    }

    /// The next step that may start: first in file order, within its group's `max_parallel`.
    fn next_ready(&mut self) -> Option<usize> {
        while let Some(Reverse(i)) = self.ready.pop() {
            if self.state[i] != State::Waiting {
                continue;
            }
            if let Some(g) = self.group_of(i)
                && let Some(limit) = self.step(g).max_parallel()
            {
                let (running, queued) = self.pools.entry(g).or_default();
                if *running >= limit {
                    queued.push_back(i);
                    continue;
                }
                *running += 1;
            }
            return Some(i);
        }
        None
    }

    /// An instance that ran has ended: its place in its group's `max_parallel` frees.
    fn free_slot(&mut self, u: usize) {
        let Some(g) = self.group_of(u) else { return };
        if let Some((running, queued)) = self.pools.get_mut(&g) {
            *running = running.saturating_sub(1);
            if let Some(next) = queued.pop_front() {
                self.ready.push(Reverse(next));
            }
        }
    }

    fn release(&mut self, d: usize) {
        self.waiting_on[d] -= 1;
        if self.waiting_on[d] == 0 {
            self.became_ready(d);
        }
    }

    /// Step `i` has ended, `ok` or not (`what`: its status, for the skip reasons). A step that
    /// runs `after` it moves on either way; one that `needs` it moves on when it was ok, or
    /// when it is an `always` step, and is skipped otherwise, and so on downstream, each skip
    /// naming the need that stopped it. An instance made during the run tells its group.
    fn ended(&mut self, scope: &RunScope, i: usize, ok: bool, what: &str) {
        let plan = self.plan;
        let mut stack = vec![(i, ok)];
        while let Some((j, ok)) = stack.pop() {
            // `what` names the step that ended; the ones skipped after it are "skipped".
            let word = if j == i { what } else { "skipped" };
            if j >= self.n {
                let group = self.extra[j - self.n].1;
                if self.state[group] == State::Running {
                    self.release(group);
                }
                for d in self.made_dependents.remove(&j).unwrap_or_default() {
                    self.need_ended(scope, d, j, ok, word, &mut stack);
                }
                continue;
            }
            for &d in plan.dependents.of(j) {
                // An item-wise chain moved on when `j` was expanded; its instances follow `j`'s.
                if !(self.is_itemwise(d, j) && self.expanded.contains(&j)) {
                    self.need_ended(scope, d, j, ok, word, &mut stack);
                }
            }
            for &d in plan.after_dependents.of(j) {
                if self.state[d] == State::Waiting {
                    self.release(d);
                }
            }
        }
    }

    /// Step `j`, which waiting step `d` needs, ended (`word`: how): `d` moves on when `j` was
    /// ok or `d` is an `always` step, else it is skipped and its dependents follow (`stack`).
    fn need_ended(
        &mut self,
        scope: &RunScope,
        d: usize,
        j: usize,
        ok: bool,
        word: &str,
        stack: &mut Vec<(usize, bool)>,
    ) {
        if self.state[d] != State::Waiting {
            return;
        }
        if ok || self.step(d).always {
            self.release(d);
        } else {
            self.state[d] = State::Done(StepStatus::Skipped);
            let reason = format!("needs {word} step `{}`", self.step(j).id);
            emit_skip(scope, self.step(d), reason);
            stack.push((d, false));
        }
    }

    /// Skips step `i`, which never started, and what depends on it.
    fn skip(&mut self, scope: &RunScope, i: usize, reason: String) {
        self.state[i] = State::Done(StepStatus::Skipped);
        emit_skip(scope, self.step(i), reason);
        self.ended(scope, i, false, "skipped");
    }

    /// Steps that have not started, groups of instances aside (they end with them).
    fn waiting(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.state.len()).filter(|&i| self.state[i] == State::Waiting)
    }

    /// Adds the instances of dynamic group `g`, ready to start, except those a resumed run
    /// settled (returned: the ones that ended ok, for the rollbacks); the group waits for them.
    /// An instance `g[x]` of an item-wise chain waits for `A[x]`; a group that chains on `g`
    /// may expand now.
    fn expand(&mut self, scope: &RunScope, g: usize, instances: Vec<Step>) -> Vec<usize> {
        let count = instances.len();
        let mut units = Vec::with_capacity(count);
        let mut settled = Vec::new();
        let mut unpartnered = Vec::new();
        let partners = self.itemwise.get(&g).cloned().unwrap_or_default();
        for mut s in instances {
            let u = self.n + self.extra.len();
            // The partners' instances by id, and which of them have not ended ok.
            let mut waits = Vec::new();
            let mut blocked = None;
            if let Expansion::Instance(inst) = &s.expansion {
                let mut inst = (**inst).clone();
                for &a in &partners {
                    let of = &self.step(a).id;
                    let id = Instance::id(of, &inst.key);
                    let found = self
                        .members
                        .get(&a)
                        .and_then(|m| m.iter().copied().find(|&m| self.step(m).id == id));
                    match found.map(|m| (m, self.state[m])) {
                        Some((_, State::Done(StepStatus::Ok))) => {}
                        Some((m, State::Done(status))) => {
                            blocked.get_or_insert(format!(
                                "needs {status} step `{}`",
                                self.step(m).id
                            ));
                        }
                        Some((m, _)) => waits.push(m),
                        None => {
                            blocked.get_or_insert(format!("`{of}` has no instance `{id}`"));
                        }
                    }
                    inst.partners.push((of.to_string(), id));
                }
                scope.bus.instance(&s.id, &inst.item);
                s.expansion = Expansion::Instance(Arc::new(inst));
            }
            let preset = self.plan.made_preset(&s.id).cloned();
            self.extra.push((Arc::new(s), g));
            self.waiting_on.push(waits.len());
            units.push(u);
            if let Some(Preset::Done {
                status,
                exit_code,
                outputs,
            }) = preset
            {
                self.state.push(State::Done(status));
                scope
                    .context
                    .record_step(&self.step(u).id, status, exit_code, &outputs);
                settled.push((u, status));
            } else if let Some(reason) = blocked {
                self.state.push(State::Done(StepStatus::Skipped));
                emit_skip(scope, self.step(u), reason);
                unpartnered.push(u);
            } else {
                self.state.push(State::Waiting);
                for m in waits {
                    self.made_dependents.entry(m).or_default().push(u);
                }
                if self.waiting_on[u] == 0 {
                    self.ready.push(Reverse(u));
                }
            }
        }
        self.members.insert(g, units);
        self.state[g] = State::Running;
        self.waiting_on[g] = count;
        self.expanded.insert(g);
        if count == 0 {
            self.groups_done.push(g);
        }
        for &(u, status) in &settled {
            self.ended(scope, u, status == StepStatus::Ok, status.as_str());
        }
        for u in unpartnered {
            self.ended(scope, u, false, "skipped");
        }
        // The groups chained item-wise on this one wait no more for it.
        let chained: Vec<usize> = self
            .itemwise
            .iter()
            .filter(|(_, on)| on.contains(&g))
            .map(|(&b, _)| b)
            .collect();
        for b in chained {
            if self.state[b] == State::Waiting {
                self.release(b);
            }
        }
        settled
            .into_iter()
            .filter(|&(_, s)| s == StepStatus::Ok)
            .map(|(u, _)| u)
            .collect()
    }
}

/// The item-wise chains the run makes: a group over step outputs that needs another with the
/// same `for_each` text.
fn itemwise_pairs(steps: &[Step]) -> HashMap<usize, Vec<usize>> {
    fn text(s: &Step) -> Option<&str> {
        matches!(s.expansion, Expansion::Group { dynamic: true })
            .then(|| s.for_each().map(|f| f.text.as_str()))
            .flatten()
    }
    let mut pairs: HashMap<usize, Vec<usize>> = HashMap::new();
    for (b, step) in steps.iter().enumerate() {
        let Some(mine) = text(step) else { continue };
        for &a in &step.needs {
            if text(&steps[a]) == Some(mine) {
                pairs.entry(b).or_default().push(a);
            }
        }
    }
    pairs
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
    // By unit, growing with the instances made during the run.
    // In a dry run: steps that were only printed.
    let mut printed = vec![false; n];
    let mut times: Vec<Option<(Duration, Duration)>> = vec![None; n];
    let mut started_at: Vec<Option<Duration>> = vec![None; n];
    // Steps whose command, request or probe started: the only ones with anything to undo.
    let mut began = vec![false; n];
    let mut completed: Vec<usize> = Vec::new();
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

    for s in steps {
        if let Some(inst) = s.instance() {
            shared.bus.instance(&s.id, &inst.item);
        }
    }
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
                if *status == StepStatus::Ok && !step.is_group() {
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
        finish_groups(shared, &mut dag, &mut printed, &mut times);
        // Start what may start: anything until the run stops, then only cleanup.
        let may_start = match &cleanup {
            None => stop.is_none(),
            Some(c) => !c.scope.cancel.is_cancelled() && !matches!(stop, Some(Stop::Record(_))),
        };
        let scope = cleanup.as_ref().map_or(shared, |c| &c.scope);
        while may_start && running.len() < limit {
            let Some(i) = dag.next_ready() else { break };
            let after_printed = i < n && steps[i].waits_for().any(|d| printed[d]);
            if dag.step(i).is_group() {
                // A `for_each` over step outputs: its instances are made now.
                match expand(scope, dag.step(i), after_printed) {
                    Expanded::Instances(instances) => {
                        let count = instances.len();
                        completed.extend(dag.expand(scope, i, instances));
                        grow(&mut [&mut printed, &mut began], count);
                        times.resize(times.len() + count, None);
                        started_at.resize(started_at.len() + count, None);
                    }
                    Expanded::Printed(would_run) => {
                        let mut r = StepResult::skipped("dry run: not executed".to_owned());
                        r.would_run = Some(would_run);
                        emit_finished(scope, dag.step(i), &r);
                        shared.context.record_placeholder(dag.step(i));
                        printed[i] = true;
                        dag.state[i] = State::Done(StepStatus::Skipped);
                        dag.ended(shared, i, true, "ok");
                    }
                    Expanded::Failed(reason) => {
                        let r = StepResult::failed(reason);
                        emit_finished(scope, dag.step(i), &r);
                        record(scope, dag.step(i), &r);
                        dag.state[i] = State::Done(StepStatus::Failed);
                        dag.ended(shared, i, false, "failed");
                        on_failed(
                            dag.step(i),
                            i,
                            &mut failures_tolerated,
                            &mut failed,
                            &mut stop,
                        );
                        if stop.is_some() && cleanup.is_none() {
                            break;
                        }
                    }
                }
                continue;
            }
            dag.state[i] = State::Running;
            started_at[i] = Some(run_started.elapsed());
            let task_scope = Arc::clone(scope);
            let unit = unit_step(&dag, i);
            running.spawn(async move {
                let result = match &unit {
                    UnitStep::Planned(index) => {
                        step::run(
                            &task_scope,
                            &task_scope.playbook().steps[*index],
                            after_printed,
                        )
                        .await
                    }
                    UnitStep::Made(s) => step::run(&task_scope, s, after_printed).await,
                };
                (i, result)
            });
        }
        if running.is_empty() {
            finish_groups(shared, &mut dag, &mut printed, &mut times);
            if cleanup.is_some() {
                if dag.ready.is_empty() && dag.groups_done.is_empty() {
                    break;
                }
                if !may_start {
                    break;
                }
                continue;
            }
            if stop.is_none() && (!dag.ready.is_empty() || !dag.groups_done.is_empty()) {
                continue;
            }
            // Every step that could run has ended: the rest never start, then the rollbacks.
            let why = match &stop {
                Some(Stop::Interrupt) => "the run was interrupted".to_owned(),
                Some(Stop::Abort(id)) => format!("the run stopped after `{id}` failed"),
                Some(Stop::Rollback(i)) => {
                    format!("the run stopped after `{}` failed", dag.step(*i).id)
                }
                Some(Stop::Record(fault)) => format!("the run stopped: {fault}"),
                None => "not reached".to_owned(),
            };
            let never: Vec<usize> = dag
                .waiting()
                .filter(|&i| {
                    let s = dag.step(i);
                    !s.always && !matches!(s.expansion, Expansion::Group { dynamic: false })
                })
                .collect();
            for &i in &never {
                dag.state[i] = State::Done(StepStatus::Skipped);
                emit_skip(shared, dag.step(i), why.clone());
            }
            for &i in &never {
                dag.ended(shared, i, false, "skipped");
            }
            finish_groups(shared, &mut dag, &mut printed, &mut times);
            if let Some(Stop::Rollback(trigger)) = stop
                && !shared.cancel.is_cancelled()
            {
                let (ok, rolled_back) = rollbacks(shared, &dag, trigger, &began, &completed).await;
                failed |= !ok;
                for i in rolled_back {
                    dag.state[i] = State::Done(StepStatus::RolledBack);
                }
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
        dag.free_slot(i);
        times[i] = started_at[i].map(|s| (s, run_started.elapsed()));
        began[i] = result.began;
        printed[i] = result.would_run.is_some();
        dag.state[i] = State::Done(result.status);
        record(scope, dag.step(i), &result);
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
                if shared.dry_run && dag.step(i).read_only {
                    failed = true;
                    stop.get_or_insert(Stop::Abort(dag.step(i).id.to_string()));
                    continue;
                }
                on_failed(
                    dag.step(i),
                    i,
                    &mut failures_tolerated,
                    &mut failed,
                    &mut stop,
                );
            }
        }
    }
    // Cleanup steps that could not start: a second signal, the timeout, or a record fault.
    if let Some(c) = &cleanup {
        let reason = c.reason(stop.as_ref());
        for i in dag.waiting().collect::<Vec<_>>() {
            if matches!(dag.step(i).expansion, Expansion::Group { dynamic: false }) {
                continue;
            }
            dag.state[i] = State::Done(StepStatus::Skipped);
            emit_skip(shared, dag.step(i), reason.clone());
            dag.ended(shared, i, false, "skipped");
        }
        finish_groups(shared, &mut dag, &mut printed, &mut times);
    }
    drop(cleanup);

    let interrupted = matches!(stop, Some(Stop::Interrupt)) || shared.cancel.is_cancelled();
    let status = dag.state[..n]
        .iter()
        .map(|s| {
            if let State::Done(st) = s {
                *st
            } else {
                StepStatus::Skipped
            }
        })
        .collect();
    times.truncate(n);
    StepsOutcome {
        status,
        times,
        failures_tolerated,
        failed,
        interrupted,
    }
}

/// How a unit's step reaches its task: by index into the plan, or made during the run.
enum UnitStep {
    Planned(usize),
    Made(Arc<Step>),
}

fn unit_step(dag: &Dag<'_>, u: usize) -> UnitStep {
    if u < dag.n {
        UnitStep::Planned(u)
    } else {
        UnitStep::Made(Arc::clone(&dag.extra[u - dag.n].0))
    }
}

fn grow(vecs: &mut [&mut Vec<bool>], by: usize) {
    for v in vecs {
        v.resize(v.len() + by, false);
    }
}

/// A failure the step's `on_failure` decides about: tolerated, stop, or roll back.
fn on_failed(
    step: &Step,
    i: usize,
    failures_tolerated: &mut u32,
    failed: &mut bool,
    stopping: &mut Option<Stop>,
) {
    match step.on_failure {
        OnFailure::Continue => *failures_tolerated += 1,
        OnFailure::Abort => {
            *failed = true;
            stopping.get_or_insert(Stop::Abort(step.id.to_string()));
        }
        OnFailure::Rollback => {
            *failed = true;
            stopping.get_or_insert(Stop::Rollback(i));
        }
    }
}

/// What became of a dynamic `for_each` when it was ready.
enum Expanded {
    Instances(Vec<Step>),
    /// A dry run cannot know the items: the step is printed once.
    Printed(String),
    Failed(String),
}

fn expand(scope: &RunScope, step: &Step, after_printed: bool) -> Expanded {
    let Some(ForEach {
        source: ForEachSource::Dynamic(template),
        ..
    }) = step.for_each()
    else {
        return Expanded::Failed(format!("step `{}` has no items to run", step.id));
    };
    if scope.dry_run && after_printed {
        let action = match &step.action {
            Action::Run(t) => t.source().to_owned(),
            other => other.key().to_owned(),
        };
        return Expanded::Printed(format!(
            "for each item of `{}`: {action}",
            template.source()
        ));
    }
    let text = match scope.context.render(template) {
        Ok(text) => text,
        Err(e) => return Expanded::Failed(format!("template error in `for_each`: {e}")),
    };
    match crate::plan::instances(step, crate::plan::items_of(&text)) {
        Ok(instances) => Expanded::Instances(instances),
        Err(problem) => Expanded::Failed(format!("`for_each` {problem}")),
    }
}

/// Ends every group whose instances have all ended, with their combined status and outputs.
fn finish_groups(
    shared: &RunScope,
    dag: &mut Dag<'_>,
    printed: &mut [bool],
    times: &mut [Option<(Duration, Duration)>],
) {
    while let Some(g) = dag.groups_done.pop() {
        if !matches!(dag.state[g], State::Waiting | State::Running) {
            continue;
        }
        let members = dag.members.get(&g).cloned().unwrap_or_default();
        let statuses: Vec<StepStatus> = members
            .iter()
            .map(|&u| match dag.state[u] {
                State::Done(s) => s,
                State::Waiting | State::Running => StepStatus::Skipped,
            })
            .collect();
        let any_printed = members
            .iter()
            .any(|&u| printed.get(u).copied().unwrap_or(false));
        let status = combined(&statuses);
        let ids: Vec<String> = members
            .iter()
            .map(|&u| dag.step(u).id.to_string())
            .collect();
        let step = dag.step(g);
        let mut result = StepResult::skipped(summary(&statuses));
        result.status = status;
        result.outputs = shared.context.combined_outputs(step, &ids);
        if g < times.len() {
            let spans: Vec<(Duration, Duration)> = members
                .iter()
                .filter_map(|&u| times.get(u).copied().flatten())
                .collect();
            times[g] = spans
                .iter()
                .map(|s| s.0)
                .min()
                .zip(spans.iter().map(|s| s.1).max());
            result.duration = times[g].map_or(Duration::ZERO, |(s, e)| e.saturating_sub(s));
        }
        emit_finished(shared, step, &result);
        if any_printed {
            shared.context.record_placeholder(step);
            printed[g] = true;
        } else {
            shared
                .context
                .record_step(&step.id, status, None, &result.outputs);
        }
        dag.state[g] = State::Done(status);
        let ok = status == StepStatus::Ok || any_printed;
        dag.ended(shared, g, ok, status.as_str());
    }
}

/// A group's status: `ok` when every instance is (or there is none), `failed` when any failed,
/// `cancelled` when any was, else `skipped`.
fn combined(statuses: &[StepStatus]) -> StepStatus {
    if statuses.iter().all(|s| *s == StepStatus::Ok) {
        StepStatus::Ok
    } else if statuses
        .iter()
        .any(|s| matches!(s, StepStatus::Failed | StepStatus::RolledBack))
    {
        StepStatus::Failed
    } else if statuses.contains(&StepStatus::Cancelled) {
        StepStatus::Cancelled
    } else {
        StepStatus::Skipped
    }
}

/// "3 instances: 2 ok, 1 failed", or "no items".
fn summary(statuses: &[StepStatus]) -> String {
    if statuses.is_empty() {
        return "no items".to_owned();
    }
    let mut counts: Vec<(StepStatus, usize)> = Vec::new();
    for s in statuses {
        match counts.iter_mut().find(|(k, _)| k == s) {
            Some((_, c)) => *c += 1,
            None => counts.push((*s, 1)),
        }
    }
    let parts: Vec<String> = counts.iter().map(|(s, c)| format!("{c} {s}")).collect();
    format!(
        "{}: {}",
        crate::text::count(statuses.len(), "instance"),
        parts.join(", ")
    )
}

/// The rollbacks after `trigger` failed under `on_failure = "rollback"`: the failed step's own
/// first (it may have half-applied), then every completed step's, newest first. A failed step
/// that never began (declined, nobody to ask, a template error) changed nothing, so its own
/// rollback would be the first change. Whether they all succeeded, and the steps rolled back.
async fn rollbacks(
    shared: &Arc<RunScope>,
    dag: &Dag<'_>,
    trigger: usize,
    began: &[bool],
    completed: &[usize],
) -> (bool, Vec<usize>) {
    let order = std::iter::once(trigger)
        .filter(|&t| began[t])
        .chain(completed.iter().rev().copied());
    let mut all_ok = true;
    let mut rolled_back = Vec::new();
    for i in order {
        // A rollback whose log failed to write stops the rest: nothing new starts.
        if shared.bus.fault().is_some() {
            break;
        }
        let step = dag.step(i);
        if step.rollback.is_none() || shared.cancel.is_cancelled() {
            continue;
        }
        let ok = rollback(&shared.for_step(step), step).await;
        all_ok &= ok;
        if ok && i != trigger {
            rolled_back.push(i);
        }
    }
    (all_ok, rolled_back)
}

fn finish_unselected(step: &Step, reason: &str) -> Event {
    Event::StepFinished {
        step: step.id.to_string(),
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

fn emit_skip(shared: &RunScope, step: &Step, reason: String) {
    shared
        .context
        .record_step(&step.id, StepStatus::Skipped, None, &BTreeMap::new());
    shared.bus.emit(Event::StepFinished {
        step: step.id.to_string(),
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
                step: step.id.to_string(),
                command: template.source().to_owned(),
            });
            shared.bus.emit(Event::RollbackFinished {
                step: step.id.to_string(),
                ok: false,
                exit_code: None,
                duration_ms: 0,
                reason: Some(format!("template error in `rollback`: {e}")),
            });
            return false;
        }
    };
    shared.bus.emit(Event::RollbackStarted {
        step: step.id.to_string(),
        command: command.clone(),
    });
    let cwd = match step.cwd() {
        Some(t) => shared
            .context
            .render(t)
            .map_or_else(|_| shared.run_dir.clone(), |c| shared.run_dir.join(c)),
        None => shared.run_dir.clone(),
    };
    let mut spec = CommandSpec::new(command, cwd);
    spec.env.clone_from(&shared.env);
    spec.env
        .push(("RUNBOOK_STEP".to_owned(), step.id.to_string()));
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
        step: step.id.to_string(),
        ok,
        exit_code: exit.and_then(Exit::code),
        duration_ms: millis(started.elapsed()),
        reason,
    });
    ok
}
