//! The plan under a limit of parallel steps (the run's, and a `for_each` step's own
//! `max_parallel` over its instances): the times and waves the scheduler would give, simulated
//! with each step's `budget`, instead of the unlimited ones that only `needs` and `after`
//! decide.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use std::collections::HashMap;

use crate::plan::Skip;
use crate::plan::expand::is_planned_group;
use crate::playbook::duration::HumanDuration;
use crate::playbook::graph::{self, Order};
use crate::playbook::model::Playbook;

/// Start, finish and wave of every step under `limit` and the steps' own `max_parallel`, when
/// one of them is smaller than what would run at once; `None` when they change nothing.
pub(super) fn under(
    playbook: &Playbook,
    waits: &[Vec<usize>],
    order: &Order,
    skip: &[Option<Skip>],
    limit: Option<usize>,
) -> Option<(Vec<u64>, Vec<u64>, Vec<usize>)> {
    let widest = order
        .waves()
        .iter()
        .map(|w| w.iter().filter(|&&i| skip[i].is_none()).count())
        .max()
        .unwrap_or(0);
    let steps = &playbook.steps;
    // The instances of each `for_each` step with a `max_parallel`, and that limit.
    let mut sizes: HashMap<&str, usize> = HashMap::new();
    for s in steps {
        if let Some(i) = s.instance() {
            *sizes.entry(i.of.as_str()).or_default() += 1;
        }
    }
    let pool: Vec<Option<(usize, usize)>> = steps
        .iter()
        .map(|s| {
            let of = s.instance()?.of.as_str();
            let group = playbook.step_index(of)?;
            Some((group, s.max_parallel()?))
        })
        .collect();
    let pools_limit = pool
        .iter()
        .flatten()
        .any(|&(g, m)| sizes.get(steps[g].id.as_str()).is_some_and(|&n| m < n));
    let limit = match limit.filter(|&l| l < widest) {
        Some(l) => l,
        None if pools_limit => usize::MAX,
        None => return None,
    };
    let waiting = graph::dependents(waits);
    let skipped: Vec<bool> = skip.iter().map(Option::is_some).collect();
    let group: Vec<bool> = steps
        .iter()
        .map(|s| is_planned_group(&s.expansion))
        .collect();
    let free: Vec<bool> = group.iter().zip(&skipped).map(|(&g, &s)| g || s).collect();
    let budget_ms: Vec<u64> = (playbook.steps.iter().zip(&skipped))
        .map(|(s, &skipped)| {
            if skipped {
                0
            } else {
                s.budget.map_or(0, HumanDuration::as_millis)
            }
        })
        .collect();
    let steps = Steps {
        waits,
        waiting: &waiting,
        free: &free,
        group: &group,
        budget_ms: &budget_ms,
        pool: &pool,
    };
    Some(simulate(&steps, limit.max(1)))
}

/// What [`simulate`] is told about each step, by index.
pub(super) struct Steps<'a> {
    /// The steps each one waits for (`needs` and `after`).
    pub(super) waits: &'a [Vec<usize>],
    /// The steps waiting for each one (the reverse of `waits`).
    pub(super) waiting: &'a graph::Adjacency,
    /// A skipped step, or a group of instances, takes no slot and no time.
    pub(super) free: &'a [bool],
    /// A group of instances: it shares the round of its last instance.
    pub(super) group: &'a [bool],
    pub(super) budget_ms: &'a [u64],
    /// An instance of a `for_each` step with a `max_parallel`: that step's index and limit.
    pub(super) pool: &'a [Option<(usize, usize)>],
}

impl Steps<'_> {
    /// Whether step `i` may take a slot of its pool, given how many of each pool run.
    fn pool_has_room(&self, i: usize, in_pool: &HashMap<usize, usize>) -> bool {
        self.pool[i].is_none_or(|(g, m)| in_pool.get(&g).copied().unwrap_or(0) < m)
    }
}

/// Start and finish of every step when at most `limit` run at once, starting ready steps in
/// file order as soon as a slot frees, as the scheduler does; and the waves: rounds of at most
/// `limit` steps, each round the ready steps not yet placed.
pub(super) fn simulate(steps: &Steps<'_>, limit: usize) -> (Vec<u64>, Vec<u64>, Vec<usize>) {
    let n = steps.waits.len();
    let mut start = vec![0u64; n];
    let mut finish = vec![0u64; n];
    let mut remaining: Vec<usize> = steps.waits.iter().map(Vec::len).collect();
    let mut ready: BinaryHeap<Reverse<usize>> =
        (0..n).filter(|&i| remaining[i] == 0).map(Reverse).collect();
    let mut running: BinaryHeap<Reverse<(u64, usize)>> = BinaryHeap::new();
    let mut in_pool: HashMap<usize, usize> = HashMap::new();
    let mut now = 0u64;
    loop {
        let mut deferred = Vec::new();
        while let Some(Reverse(i)) = ready.pop() {
            if steps.free[i] {
                start[i] = now;
                finish[i] = now;
                release(steps, i, &mut remaining, &mut ready);
            } else if running.len() < limit && steps.pool_has_room(i, &in_pool) {
                start[i] = now;
                finish[i] = now + steps.budget_ms[i];
                running.push(Reverse((finish[i], i)));
                if let Some((g, _)) = steps.pool[i] {
                    *in_pool.entry(g).or_default() += 1;
                }
            } else {
                deferred.push(Reverse(i));
            }
        }
        ready.extend(deferred);
        let Some(Reverse((at, i))) = running.pop() else {
            break;
        };
        now = at;
        if let Some((g, _)) = steps.pool[i] {
            *in_pool.entry(g).or_default() -= 1;
        }
        release(steps, i, &mut remaining, &mut ready);
    }
    (start, finish, rounds(steps, limit))
}

fn release(
    steps: &Steps<'_>,
    i: usize,
    remaining: &mut [usize],
    ready: &mut BinaryHeap<Reverse<usize>>,
) {
    for &d in steps.waiting.of(i) {
        remaining[d] -= 1;
        if remaining[d] == 0 {
            ready.push(Reverse(d));
        }
    }
}

/// The 0-based wave of each step: round `k` takes the first `limit` ready steps in file order
/// (within their pools' limits; skipped ones ride along without a slot); what they release is
/// ready for the next round, except a group, which joins the round of its last instance.
fn rounds(steps: &Steps<'_>, limit: usize) -> Vec<usize> {
    let n = steps.waits.len();
    let mut wave = vec![0usize; n];
    let mut remaining: Vec<usize> = steps.waits.iter().map(Vec::len).collect();
    let mut ready: BinaryHeap<Reverse<usize>> =
        (0..n).filter(|&i| remaining[i] == 0).map(Reverse).collect();
    let mut round = 0;
    while !ready.is_empty() {
        let mut taken = Vec::new();
        let mut deferred = Vec::new();
        let mut slots = limit;
        let mut in_pool: HashMap<usize, usize> = HashMap::new();
        while let Some(Reverse(i)) = ready.pop() {
            if steps.free[i] || (slots > 0 && steps.pool_has_room(i, &in_pool)) {
                if !steps.free[i] {
                    slots -= 1;
                    if let Some((g, _)) = steps.pool[i] {
                        *in_pool.entry(g).or_default() += 1;
                    }
                }
                wave[i] = round;
                taken.push(i);
            } else {
                deferred.push(Reverse(i));
            }
        }
        ready.extend(deferred);
        while let Some(i) = taken.pop() {
            for &d in steps.waiting.of(i) {
                remaining[d] -= 1;
                if remaining[d] == 0 {
                    if steps.group[d] {
                        wave[d] = round;
                        taken.push(d);
                    } else {
                        ready.push(Reverse(d));
                    }
                }
            }
        }
        round += 1;
    }
    wave
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_parallel_steps_under_a_limit_of_two_take_two_rounds() {
        let waits = vec![vec![], vec![], vec![], vec![0, 1, 2]];
        let waiting = graph::dependents(&waits);
        let steps = Steps {
            waits: &waits,
            waiting: &waiting,
            free: &[false; 4],
            group: &[false; 4],
            budget_ms: &[60_000, 60_000, 60_000, 10_000],
            pool: &[None; 4],
        };
        let (start, finish, wave) = simulate(&steps, 2);
        assert_eq!(start, [0, 0, 60_000, 120_000]);
        assert_eq!(finish, [60_000, 60_000, 120_000, 130_000]);
        assert_eq!(wave, [0, 0, 1, 2]);
        let (_, finish, wave) = simulate(&steps, 3);
        assert_eq!(finish[3], 70_000);
        assert_eq!(wave, [0, 0, 0, 1]);
    }

    #[test]
    fn skipped_steps_take_no_slot() {
        let waits = vec![vec![], vec![], vec![1]];
        let waiting = graph::dependents(&waits);
        let steps = Steps {
            waits: &waits,
            waiting: &waiting,
            free: &[false, true, false],
            group: &[false; 3],
            budget_ms: &[5_000, 5_000, 5_000],
            pool: &[None; 3],
        };
        let (start, finish, _) = simulate(&steps, 1);
        assert_eq!(start, [0, 0, 5_000]);
        assert_eq!(finish, [5_000, 0, 10_000]);
    }

    #[test]
    fn a_pool_limits_its_instances_and_its_group_joins_their_last_round() {
        // Three instances of one step (at most two at once), their group, then a step after.
        let waits = vec![vec![], vec![], vec![], vec![0, 1, 2], vec![3]];
        let waiting = graph::dependents(&waits);
        let steps = Steps {
            waits: &waits,
            waiting: &waiting,
            free: &[false, false, false, true, false],
            group: &[false, false, false, true, false],
            budget_ms: &[10_000, 10_000, 10_000, 0, 1_000],
            pool: &[Some((3, 2)), Some((3, 2)), Some((3, 2)), None, None],
        };
        let (start, finish, wave) = simulate(&steps, usize::MAX);
        assert_eq!(start, [0, 0, 10_000, 20_000, 20_000]);
        assert_eq!(finish, [10_000, 10_000, 20_000, 20_000, 21_000]);
        assert_eq!(wave, [0, 0, 1, 1, 2]);
    }
}
