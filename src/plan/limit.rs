//! The plan under a limit of parallel steps: the times and waves the scheduler would give,
//! simulated with each step's `budget`, instead of the unlimited ones that only `needs` and
//! `after` decide.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::plan::Skip;
use crate::playbook::duration::HumanDuration;
use crate::playbook::graph::{self, Order};
use crate::playbook::model::Playbook;

/// Start, finish and wave of every step under `limit`, when it is smaller than the widest
/// wave; `None` when the limit changes nothing.
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
    let limit = limit.filter(|&l| l < widest)?;
    let waiting = graph::dependents(waits);
    let skipped: Vec<bool> = skip.iter().map(Option::is_some).collect();
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
        skipped: &skipped,
        budget_ms: &budget_ms,
    };
    Some(simulate(&steps, limit.max(1)))
}

/// What [`simulate`] is told about each step, by index.
pub(super) struct Steps<'a> {
    /// The steps each one waits for (`needs` and `after`).
    pub(super) waits: &'a [Vec<usize>],
    /// The steps waiting for each one (the reverse of `waits`).
    pub(super) waiting: &'a [Vec<usize>],
    /// A skipped step takes no slot and no time.
    pub(super) skipped: &'a [bool],
    pub(super) budget_ms: &'a [u64],
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
    let mut now = 0u64;
    loop {
        let mut deferred = Vec::new();
        while let Some(Reverse(i)) = ready.pop() {
            if steps.skipped[i] {
                start[i] = now;
                finish[i] = now;
                release(steps, i, &mut remaining, &mut ready);
            } else if running.len() < limit {
                start[i] = now;
                finish[i] = now + steps.budget_ms[i];
                running.push(Reverse((finish[i], i)));
            } else {
                deferred.push(Reverse(i));
            }
        }
        ready.extend(deferred);
        let Some(Reverse((at, i))) = running.pop() else {
            break;
        };
        now = at;
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
    for &d in &steps.waiting[i] {
        remaining[d] -= 1;
        if remaining[d] == 0 {
            ready.push(Reverse(d));
        }
    }
}

/// The 0-based wave of each step: round `k` takes the first `limit` ready steps in file order
/// (skipped ones ride along without a slot); what they release is ready for the next round.
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
        while let Some(Reverse(i)) = ready.pop() {
            if steps.skipped[i] || slots > 0 {
                if !steps.skipped[i] {
                    slots -= 1;
                }
                wave[i] = round;
                taken.push(i);
            } else {
                deferred.push(Reverse(i));
            }
        }
        ready.extend(deferred);
        for i in taken {
            release(steps, i, &mut remaining, &mut ready);
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
        let waiting = vec![vec![3], vec![3], vec![3], vec![]];
        let steps = Steps {
            waits: &waits,
            waiting: &waiting,
            skipped: &[false; 4],
            budget_ms: &[60_000, 60_000, 60_000, 10_000],
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
        let waiting = vec![vec![], vec![2], vec![]];
        let steps = Steps {
            waits: &waits,
            waiting: &waiting,
            skipped: &[false, true, false],
            budget_ms: &[5_000, 5_000, 5_000],
        };
        let (start, finish, _) = simulate(&steps, 1);
        assert_eq!(start, [0, 0, 5_000]);
        assert_eq!(finish, [5_000, 0, 10_000]);
    }
}
