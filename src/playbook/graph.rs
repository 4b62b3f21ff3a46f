//! The step graph: topological order in waves, cycle naming, and ancestor queries. Iterative
//! throughout, so a 10,000-step chain cannot overflow the stack.

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

/// `dependents[d]`: the steps that need step `d`, in file order.
#[must_use]
pub fn dependents(needs: &[Vec<usize>]) -> Vec<Vec<usize>> {
    let mut dependents = vec![Vec::new(); needs.len()];
    for (i, ns) in needs.iter().enumerate() {
        for &d in ns {
            dependents[d].push(i);
        }
    }
    dependents
}

/// Orders steps given each step's `needs`; on failure returns every distinct cycle, each as
/// the steps in `needs` order (`[a, b, c]`: a needs b, b needs c, c needs a).
pub fn order(needs: &[Vec<usize>]) -> Result<Order, Vec<Vec<usize>>> {
    let n = needs.len();
    let dependents = dependents(needs);
    let mut missing: Vec<usize> = needs.iter().map(Vec::len).collect();
    let mut wave = vec![0usize; n];
    let mut order = Vec::with_capacity(n);
    let mut current: Vec<usize> = (0..n).filter(|&i| missing[i] == 0).collect();
    let mut level = 0;
    while !current.is_empty() {
        let mut next = Vec::new();
        for &i in &current {
            wave[i] = level;
            order.push(i);
            for &d in &dependents[i] {
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
fn cycles(needs: &[Vec<usize>], missing: &[usize]) -> Vec<Vec<usize>> {
    const UNSEEN: usize = usize::MAX;
    const DONE: usize = usize::MAX - 1;
    // For each step: UNSEEN, DONE, or its position on the walk in progress.
    let mut state = vec![UNSEEN; needs.len()];
    let mut found = Vec::new();
    for start in 0..needs.len() {
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
            at = *needs[at]
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

/// Answers "is `a` an ancestor of `b`" for a fixed set of targets `a`, in time linear in the
/// graph times the number of targets / 64.
pub struct Ancestry {
    /// Position of each step in `targets`, if it is one.
    slot: Vec<Option<usize>>,
    words: usize,
    /// For each step, a bitset over targets: which of them it transitively needs.
    bits: Vec<u64>,
}

impl Ancestry {
    /// `order` must be a topological order of `needs`.
    #[must_use]
    pub fn new(needs: &[Vec<usize>], order: &[usize], targets: &[usize]) -> Self {
        let n = needs.len();
        let mut slot = vec![None; n];
        let mut count: usize = 0;
        for &t in targets {
            if slot[t].is_none() {
                slot[t] = Some(count);
                count += 1;
            }
        }
        let words = count.div_ceil(64);
        let mut bits = vec![0u64; n * words];
        let mut inherited = vec![0u64; words];
        for &i in order {
            for &d in &needs[i] {
                inherited.copy_from_slice(&bits[d * words..(d + 1) * words]);
                let own = &mut bits[i * words..(i + 1) * words];
                for (x, y) in own.iter_mut().zip(&inherited) {
                    *x |= *y;
                }
                if let Some(s) = slot[d] {
                    own[s / 64] |= 1 << (s % 64);
                }
            }
        }
        Self { slot, words, bits }
    }

    /// Whether `ancestor` (one of the targets) is transitively needed by `step`.
    #[must_use]
    pub fn is_ancestor(&self, ancestor: usize, step: usize) -> bool {
        self.slot[ancestor]
            .is_some_and(|s| self.bits[step * self.words + s / 64] & (1 << (s % 64)) != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let a = Ancestry::new(&needs, &o.order, &[0, n / 2]);
        assert!(a.is_ancestor(0, n - 1));
        assert!(!a.is_ancestor(n / 2, 10));
    }

    #[test]
    fn ancestry_handles_needs_written_later_in_the_file() {
        // 0 needs 2, 2 needs 1.
        let needs = vec![vec![2], vec![], vec![1]];
        let o = order(&needs).expect("acyclic");
        let a = Ancestry::new(&needs, &o.order, &[1, 2]);
        assert!(a.is_ancestor(1, 0));
        assert!(a.is_ancestor(2, 0));
        assert!(a.is_ancestor(1, 2));
        assert!(!a.is_ancestor(2, 1));
    }
}
