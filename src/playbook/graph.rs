//! The step graph: topological order in waves, cycle naming, and ancestor queries. Iterative
//! throughout, so a 10,000-step chain cannot overflow the stack.

use std::collections::HashSet;

/// Steps in an order where every step comes after its `needs`, grouped into waves of steps
/// that may run in parallel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    /// Step indices, wave by wave, each wave in file order.
    pub order: Vec<usize>,
    /// `wave[i]`: the 0-based wave of step `i` (one more than the latest wave it needs).
    pub wave: Vec<usize>,
}

impl Order {
    /// The waves as lists of step indices.
    #[must_use]
    pub fn waves(&self) -> Vec<Vec<usize>> {
        let count = self.wave.iter().max().map_or(0, |w| w + 1);
        let mut waves = vec![Vec::new(); count];
        for &i in &self.order {
            waves[self.wave[i]].push(i);
        }
        waves
    }
}

/// A list of step indices for each step, all in one allocation: a `Vec` per step was a third
/// of a long plan's graph (#18).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Adjacency {
    /// Step `i`'s list is `items[ends[i - 1]..ends[i]]` (from 0 for the first).
    ends: Vec<usize>,
    items: Vec<usize>,
}

impl Adjacency {
    /// Step `i`'s list.
    #[must_use]
    pub fn of(&self, i: usize) -> &[usize] {
        let start = i.checked_sub(1).map_or(0, |before| self.ends[before]);
        &self.items[start..self.ends[i]]
    }

    /// The lists, step by step.
    pub fn from_lists<L: IntoIterator<Item = usize>>(lists: impl IntoIterator<Item = L>) -> Self {
        let lists = lists.into_iter();
        let mut ends = Vec::with_capacity(lists.size_hint().0);
        let mut items = Vec::new();
        for list in lists {
            items.extend(list);
            ends.push(items.len());
        }
        ends.shrink_to_fit();
        items.shrink_to_fit();
        Self { ends, items }
    }
}

/// A list of step indices for each step: what each needs or waits for, or the reverse.
pub trait Lists {
    /// How many steps.
    fn count(&self) -> usize;
    /// Step `i`'s list.
    fn of(&self, i: usize) -> &[usize];
}

impl Lists for [Vec<usize>] {
    fn count(&self) -> usize {
        self.len()
    }

    fn of(&self, i: usize) -> &[usize] {
        &self[i]
    }
}

impl Lists for Vec<Vec<usize>> {
    fn count(&self) -> usize {
        self.len()
    }

    fn of(&self, i: usize) -> &[usize] {
        &self[i]
    }
}

impl Lists for Adjacency {
    fn count(&self) -> usize {
        self.ends.len()
    }

    fn of(&self, i: usize) -> &[usize] {
        Adjacency::of(self, i)
    }
}

/// The steps that need each step (`of(d)`: those that need `d`), in file order.
#[must_use]
pub fn dependents<L: Lists + ?Sized>(needs: &L) -> Adjacency {
    let n = needs.count();
    let mut ends = vec![0usize; n];
    for i in 0..n {
        for &d in needs.of(i) {
            ends[d] += 1;
        }
    }
    let mut total = 0;
    for end in &mut ends {
        total += *end;
        *end = total;
    }
    // Filled from the back, so each list ends up in file order.
    let mut items = vec![0usize; total];
    let mut next = ends.clone();
    for i in (0..n).rev() {
        for &d in needs.of(i).iter().rev() {
            next[d] -= 1;
            items[next[d]] = i;
        }
    }
    Adjacency { ends, items }
}

/// Orders steps given each step's `needs`; on failure returns every distinct cycle, each as
/// the steps in `needs` order (`[a, b, c]`: a needs b, b needs c, c needs a).
pub fn order<L: Lists + ?Sized>(needs: &L) -> Result<Order, Vec<Vec<usize>>> {
    let n = needs.count();
    let dependents = dependents(needs);
    let mut missing: Vec<usize> = (0..n).map(|i| needs.of(i).len()).collect();
    let mut wave = vec![0usize; n];
    let mut order = Vec::with_capacity(n);
    let mut current: Vec<usize> = (0..n).filter(|&i| missing[i] == 0).collect();
    let mut level = 0;
    while !current.is_empty() {
        let mut next = Vec::new();
        for &i in &current {
            wave[i] = level;
            order.push(i);
            for &d in dependents.of(i) {
                missing[d] -= 1;
                if missing[d] == 0 {
                    next.push(d);
                }
            }
        }
        next.sort_unstable();
        current = next;
        level += 1;
    }
    if order.len() == n {
        return Ok(Order { order, wave });
    }
    Err(cycles(needs, &missing))
}

/// Finds the cycles among steps left unordered. Every such step has an unordered need, so
/// following those needs from any of them must come back round.
fn cycles<L: Lists + ?Sized>(needs: &L, missing: &[usize]) -> Vec<Vec<usize>> {
    const UNSEEN: usize = usize::MAX;
    const DONE: usize = usize::MAX - 1;
    // For each step: UNSEEN, DONE, or its position on the walk in progress.
    let mut state = vec![UNSEEN; needs.count()];
    let mut found = Vec::new();
    for start in 0..needs.count() {
        if missing[start] == 0 || state[start] != UNSEEN {
            continue;
        }
        let mut walk = Vec::new();
        let mut at = start;
        loop {
            if state[at] == DONE {
                break;
            }
            if state[at] != UNSEEN {
                found.push(walk[state[at]..].to_vec());
                break;
            }
            state[at] = walk.len();
            walk.push(at);
            at = *needs
                .of(at)
                .iter()
                .find(|&&d| missing[d] > 0)
                .expect("an unordered step has an unordered need");
        }
        for &w in &walk {
            state[w] = DONE;
        }
    }
    found
}

/// A valid playbook's steps as a graph: what each waits for (`needs` and `after`) and a
/// topological order. Built once by validation, which finds the cycles with it, and read again
/// by the reference check.
pub(crate) struct StepGraph {
    pub(crate) waits: Adjacency,
    pub(crate) order: Order,
}

/// Answers "is `a` an ancestor of `b`" for a fixed set of such questions, asked up front.
///
/// A question about a step's direct need is answered by the edge. The targets `a` of the others
/// are taken 64 at a time: one pass over the graph in topological order carries, for every step,
/// a word of which of those 64 it transitively needs, and answers the questions about them. Time
/// is linear in the graph times the number of distinct such targets / 64, as with one bitset
/// per step over all targets, but memory is one word per step and one entry per question that
/// holds: a bitset over all targets was *steps × targets / 8* bytes, 12.5 MB for a 10,000-step
/// chain and 1.25 GB for a 100,000-step one.
pub struct Ancestry<'a> {
    needs: &'a dyn Lists,
    /// The questions, not about a direct need, whose answer is yes.
    holds: HashSet<(usize, usize)>,
}

impl<'a> Ancestry<'a> {
    /// Answers `questions`, each `(ancestor, step)`. `order` must be a topological order of
    /// `needs`.
    #[must_use]
    pub fn new(
        needs: &'a dyn Lists,
        order: &[usize],
        questions: impl IntoIterator<Item = (usize, usize)>,
    ) -> Self {
        const NONE: usize = usize::MAX;
        let mut holds = HashSet::new();
        // A step that needs the one it asks of (a template reading `steps.X` of a step in its
        // own `needs`, the usual case) is answered by the edge itself, when asked; only the
        // others are kept, and take passes over the graph. In a chain where each step reads
        // the one before, every question is such an edge, and the passes were one per 64 steps
        // over all of them: quadratic, a third of `validate` at 100,000 steps; keeping their
        // answers was a tenth of its peak (#18).
        let questions: Vec<(usize, usize)> = questions
            .into_iter()
            .filter(|&(a, step)| !is_need(needs, a, step))
            .collect();
        let mut targets: Vec<usize> = questions.iter().map(|&(a, _)| a).collect();
        targets.sort_unstable();
        targets.dedup();
        let mut by_batch: Vec<Vec<(usize, usize)>> = vec![Vec::new(); targets.len().div_ceil(64)];
        for &(a, step) in &questions {
            let at = targets
                .binary_search(&a)
                .expect("every target was collected");
            by_batch[at / 64].push((a, step));
        }
        let mut slot = vec![NONE; needs.count()];
        let mut reach = vec![0u64; needs.count()];
        for (batch, asked) in targets.chunks(64).zip(&by_batch) {
            for (k, &t) in batch.iter().enumerate() {
                slot[t] = k;
            }
            for &i in order {
                let mut own = 0;
                for &d in needs.of(i) {
                    own |= reach[d];
                    if slot[d] != NONE {
                        own |= 1 << slot[d];
                    }
                }
                reach[i] = own;
            }
            holds.extend(
                asked
                    .iter()
                    .filter(|&&(a, step)| reach[step] & (1 << slot[a]) != 0),
            );
            for &t in batch {
                slot[t] = NONE;
            }
        }
        Self { needs, holds }
    }

    /// Whether `ancestor` is transitively needed by `step`: a direct need, or one of the
    /// questions [`Ancestry::new`] was given (any other is answered no).
    #[must_use]
    pub fn is_ancestor(&self, ancestor: usize, step: usize) -> bool {
        is_need(self.needs, ancestor, step) || self.holds.contains(&(ancestor, step))
    }
}

fn is_need(needs: &dyn Lists, a: usize, step: usize) -> bool {
    step < needs.count() && needs.of(step).contains(&a)
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn dependents_are_each_steps_needers_in_file_order(
            needs in proptest::collection::vec(proptest::collection::vec(0usize..12, 0..5), 0..12)
        ) {
            let n = needs.len();
            let needs: Vec<Vec<usize>> = needs
                .into_iter()
                .map(|ns| ns.into_iter().filter(|&d| d < n).collect())
                .collect();
            let mut expected = vec![Vec::new(); n];
            for (i, ns) in needs.iter().enumerate() {
                for &d in ns {
                    expected[d].push(i);
                }
            }
            let dependents = dependents(&needs);
            for (d, list) in expected.iter().enumerate() {
                proptest::prop_assert_eq!(dependents.of(d), list.as_slice());
            }
        }
    }

    #[test]
    fn orders_in_waves() {
        // 0 ← 1, 0 ← 2, {1,2} ← 3
        let needs = vec![vec![], vec![0], vec![0], vec![1, 2]];
        let o = order(&needs).expect("acyclic");
        assert_eq!(o.order, vec![0, 1, 2, 3]);
        assert_eq!(o.waves(), vec![vec![0], vec![1, 2], vec![3]]);
    }

    #[test]
    fn names_each_cycle_once() {
        // 0 needs 1, 1 needs 2, 2 needs 0; 3 needs 0 (downstream, not a cycle); 4 ↔ 5.
        let needs = vec![vec![1], vec![2], vec![0], vec![0], vec![5], vec![4]];
        let cycles = order(&needs).expect_err("cyclic");
        assert_eq!(cycles, vec![vec![0, 1, 2], vec![4, 5]]);
    }

    #[test]
    fn long_chains_do_not_recurse() {
        let n = 100_000;
        let needs: Vec<Vec<usize>> = (0..n)
            .map(|i| if i == 0 { vec![] } else { vec![i - 1] })
            .collect();
        let o = order(&needs).expect("acyclic");
        assert_eq!(o.wave[n - 1], n - 1);
        let a = Ancestry::new(&needs, &o.order, [(0, n - 1), (n / 2, 10)]);
        assert!(a.is_ancestor(0, n - 1));
        assert!(!a.is_ancestor(n / 2, 10));
    }

    #[test]
    fn ancestry_handles_needs_written_later_in_the_file() {
        // 0 needs 2, 2 needs 1.
        let needs = vec![vec![2], vec![], vec![1]];
        let o = order(&needs).expect("acyclic");
        let a = Ancestry::new(&needs, &o.order, [(1, 0), (2, 0), (1, 2), (2, 1)]);
        assert!(a.is_ancestor(1, 0));
        assert!(a.is_ancestor(2, 0));
        assert!(a.is_ancestor(1, 2));
        assert!(!a.is_ancestor(2, 1));
    }

    // See: #18
    #[test]
    fn ancestry_agrees_with_a_walk_up_the_needs_over_more_than_64_targets() {
        // A lattice of 300 steps, each needing up to three earlier ones (a fixed pseudo-random
        // choice), and every pair asked: the answers of the batched passes against a walk.
        let n = 300;
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = |below: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            usize::try_from(seed % u64::try_from(below).expect("small")).expect("small")
        };
        let needs: Vec<Vec<usize>> = (0..n)
            .map(|i| {
                let mut ns: Vec<usize> = (0..3).filter(|_| i > 0).map(|_| next(i)).collect();
                ns.sort_unstable();
                ns.dedup();
                ns
            })
            .collect();
        let o = order(&needs).expect("acyclic");
        let questions: Vec<(usize, usize)> =
            (0..n).flat_map(|a| (0..n).map(move |b| (a, b))).collect();
        let ancestry = Ancestry::new(&needs, &o.order, questions.iter().copied());
        for step in 0..n {
            let mut reached = vec![false; n];
            let mut stack = needs[step].clone();
            while let Some(d) = stack.pop() {
                if !reached[d] {
                    reached[d] = true;
                    stack.extend(&needs[d]);
                }
            }
            for (a, &expected) in reached.iter().enumerate() {
                assert_eq!(ancestry.is_ancestor(a, step), expected, "{a} of {step}");
            }
        }
    }
}
