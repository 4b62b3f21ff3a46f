//! Planning: waves, skips by environment (cascading to dependents), earliest start and finish
//! of every step from the budgets, the critical path and the planned RTO.

use std::sync::Arc;

use indexmap::IndexMap;

use crate::plan::expand::{self, is_planned_group};
use crate::plan::limit;
use crate::plan::select::Preset;
use crate::playbook::Diagnostic;
use crate::playbook::duration::{HumanDuration, format_human};
use crate::playbook::graph::{self, Order};
use crate::playbook::model::{Playbook, VarValue};

/// Why a step will not run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    /// Its `environments` do not include the target environment.
    Environment,
    /// It needs a step that is skipped (an `always` step is not skipped for that).
    Needs(String),
}

impl std::fmt::Display for Skip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Environment => f.write_str("not for this environment"),
            Self::Needs(id) => write!(f, "needs skipped step `{id}`"),
        }
    }
}

/// The 0-based wave of each step: one more than the latest wave it waits for, except that a
/// group shares the wave of its last instance (it only stands for them).
fn settled_waves(playbook: &Playbook, order: &Order) -> Vec<usize> {
    let steps = &playbook.steps;
    let mut wave = vec![0usize; steps.len()];
    for &i in &order.order {
        let group = is_planned_group(&steps[i].expansion);
        wave[i] = steps[i]
            .waits_for()
            .map(|d| wave[d] + usize::from(!group))
            .max()
            .unwrap_or(0);
    }
    wave
}

/// What the plan knows about one step.
#[derive(Debug, Clone)]
pub struct PlanStep {
    pub index: usize,
    /// 0-based wave.
    pub wave: usize,
    pub skip: Option<Skip>,
    /// From the run's start, if every budget holds and nothing waits for a slot.
    pub earliest_start_ms: u64,
    pub earliest_finish_ms: u64,
}

/// A playbook's plan for one environment: what `runbook plan` shows and what the engine runs.
#[derive(Debug, Clone)]
pub struct Plan {
    pub playbook: Arc<Playbook>,
    pub env: Option<String>,
    pub order: Order,
    /// `dependents[i]`: the steps that need step `i`.
    pub dependents: graph::Adjacency,
    /// `after_dependents[i]`: the steps that run after step `i` (`after`).
    pub after_dependents: graph::Adjacency,
    /// By step index.
    pub steps: Vec<PlanStep>,
    /// Step indices, first to last.
    pub critical_path: Vec<usize>,
    /// By step index: on the critical path ([`Plan::is_critical`]).
    on_critical_path: Vec<bool>,
    /// The critical path's length, or the `rto_clock` part of it.
    pub planned_rto_ms: u64,
    /// Steps that will run without a `budget` (they count as 0).
    pub unbudgeted: Vec<usize>,
    /// At most this many steps at once (`None`: no limit); the waves and times honour it.
    pub limit: Option<usize>,
    /// By step index: settled before scheduling starts (left out by `--only`/`--from`, or
    /// finished before a resume); see [`Plan::select`] and [`Plan::settle`]. Empty until
    /// then: most runs settle nothing.
    pub(crate) preset: Vec<Option<Preset>>,
    /// By id: the same for instances made during the run, which the plan does not have.
    pub(crate) made: std::collections::BTreeMap<String, Preset>,
}

impl Plan {
    /// The plan under the playbook's own `max_parallel` (no limit when it has none), its
    /// `for_each` lists made from its own var values.
    #[must_use]
    pub fn new(playbook: &Arc<Playbook>, env: Option<&str>) -> Self {
        Self::with_vars(playbook, env, &playbook.vars)
    }

    /// The plan under the playbook's own `max_parallel`, its `for_each` lists made from `vars`
    /// (the values a run was given).
    #[must_use]
    pub fn with_vars(
        playbook: &Arc<Playbook>,
        env: Option<&str>,
        vars: &IndexMap<String, VarValue>,
    ) -> Self {
        Self::limited(playbook, env, playbook.meta.max_parallel, vars)
    }

    /// The plan when at most `limit` steps run at once (`None`: no limit): the waves, times
    /// and planned RTO the scheduler would give under it. Every `for_each` known before the
    /// run is expanded into its instances ([`expand`]).
    #[must_use]
    pub fn limited(
        playbook: &Arc<Playbook>,
        env: Option<&str>,
        limit: Option<usize>,
        vars: &IndexMap<String, VarValue>,
    ) -> Self {
        let playbook = &expand::expand(playbook, vars);
        let needs: Vec<Vec<usize>> = playbook.steps.iter().map(|s| s.needs.to_vec()).collect();
        let after: Vec<Vec<usize>> = playbook.steps.iter().map(|s| s.after.to_vec()).collect();
        let waits: Vec<Vec<usize>> = playbook
            .steps
            .iter()
            .map(|s| s.waits_for().collect())
            .collect();
        let order = graph::order(&waits).expect("validated playbooks are acyclic");
        let dependents = graph::dependents(&needs);
        let after_dependents = graph::dependents(&after);
        let n = playbook.steps.len();
        let mut skip: Vec<Option<Skip>> = vec![None; n];
        let mut start = vec![0u64; n];
        let mut finish = vec![0u64; n];
        // The need that finishes last, for walking the critical path back.
        let mut latest_need: Vec<Option<usize>> = vec![None; n];
        for &i in &order.order {
            let step = &playbook.steps[i];
            if !step.runs_in(env) {
                skip[i] = Some(Skip::Environment);
            } else if let Some(&d) = step.needs.iter().find(|&&d| skip[d].is_some())
                && !step.always
            {
                skip[i] = Some(Skip::Needs(playbook.steps[d].id.to_string()));
            }
            for d in step.waits_for() {
                if latest_need[i].is_none_or(|l| finish[d] > finish[l]) {
                    latest_need[i] = Some(d);
                }
            }
            start[i] = latest_need[i].map_or(0, |l| finish[l]);
            let budget = if skip[i].is_some() {
                0
            } else {
                step.budget.map_or(0, HumanDuration::as_millis)
            };
            finish[i] = start[i] + budget;
        }
        let mut wave = settled_waves(playbook, &order);
        if let Some(limited) = limit::under(playbook, &waits, &order, &skip, limit) {
            (start, finish, wave) = limited;
        }
        // The last step to finish ends the critical path; ties go to the first in file order.
        let mut end = None;
        for i in 0..n {
            if skip[i].is_none() && end.is_none_or(|e: usize| finish[i] > finish[e]) {
                end = Some(i);
            }
        }
        let mut critical_path = Vec::new();
        let mut at = end;
        while let Some(i) = at {
            // A group takes no time: the path goes through its instances.
            if !is_planned_group(&playbook.steps[i].expansion) {
                critical_path.push(i);
            }
            at = latest_need[i];
        }
        critical_path.reverse();
        let planned_rto_ms = match playbook.meta.rto_clock {
            Some(clock) => finish[clock.stop].saturating_sub(start[clock.start]),
            None => end.map_or(0, |e| finish[e]),
        };
        let unbudgeted = (0..n)
            .filter(|&i| {
                skip[i].is_none()
                    && playbook.steps[i].budget.is_none()
                    && !is_planned_group(&playbook.steps[i].expansion)
            })
            .collect();
        let steps = (0..n)
            .map(|i| PlanStep {
                index: i,
                wave: wave[i],
                skip: skip[i].clone(),
                earliest_start_ms: start[i],
                earliest_finish_ms: finish[i],
            })
            .collect();
        Self {
            playbook: Arc::clone(playbook),
            env: env.map(str::to_owned),
            order,
            dependents,
            after_dependents,
            steps,
            on_critical_path: {
                let mut on = vec![false; n];
                for &i in &critical_path {
                    on[i] = true;
                }
                on
            },
            critical_path,
            planned_rto_ms,
            unbudgeted,
            limit,
            preset: Vec::new(),
            made: std::collections::BTreeMap::new(),
        }
    }

    /// The waves, first to last: steps in file order, each wave starting once the previous one
    /// ended (under a limit, at most that many steps that run in each).
    #[must_use]
    pub fn waves(&self) -> Vec<Vec<usize>> {
        let count = self.steps.iter().map(|s| s.wave + 1).max().unwrap_or(0);
        let mut waves = vec![Vec::new(); count];
        for s in &self.steps {
            waves[s.wave].push(s.index);
        }
        waves
    }

    /// Whether step `i` is on the critical path.
    #[must_use]
    pub fn is_critical(&self, i: usize) -> bool {
        self.on_critical_path[i]
    }

    /// Why step `i` will not run in this environment, if it will not.
    #[must_use]
    pub fn skip(&self, i: usize) -> Option<&Skip> {
        self.steps[i].skip.as_ref()
    }

    /// The RTO objective in milliseconds, if the playbook has one.
    #[must_use]
    pub fn rto_objective_ms(&self) -> Option<u64> {
        self.playbook.meta.rto.map(|o| o.duration.as_millis())
    }

    /// Whether the planned RTO is longer than the objective.
    #[must_use]
    pub fn exceeds_rto(&self) -> bool {
        self.rto_objective_ms()
            .is_some_and(|o| self.planned_rto_ms > o)
    }

    /// The length of the whole critical path (the planned RTO without an `rto_clock`).
    #[must_use]
    pub fn planned_rto_ms_of_path(&self) -> u64 {
        self.critical_path
            .last()
            .map_or(0, |&i| self.steps[i].earliest_finish_ms)
    }

    /// The critical path as `a → b → c`.
    #[must_use]
    pub fn critical_path_text(&self) -> String {
        self.critical_path
            .iter()
            .map(|&i| self.playbook.steps[i].id.as_str())
            .collect::<Vec<_>>()
            .join(" → ")
    }

    /// A warning at `rto` when the planned RTO is longer than the objective.
    #[must_use]
    pub fn rto_warning(&self) -> Option<Diagnostic> {
        let rto = self.playbook.meta.rto?;
        if !self.exceeds_rto() {
            return None;
        }
        Some(
            Diagnostic::warning(
                &self.playbook.source,
                rto.span(),
                format!(
                    "planned RTO {} exceeds `rto` {} (critical path: {})",
                    format_human(self.planned_rto_ms),
                    format_human(rto.duration.as_millis()),
                    self.critical_path_text()
                ),
            )
            .with_help("shorten the budgets on the critical path, let more steps run in parallel, or revisit the objective"),
        )
    }
}
