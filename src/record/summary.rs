//! Figures over the past runs of one playbook, for `runs` and the `history` probe: how many
//! runs, how many ok, failed and interrupted, the success rate, the RTO achieved (median, p95
//! and max, by nearest rank) and the slowest steps against their last duration.
//!
//! What counts: real runs that ended. Dry runs change nothing, so they say nothing about the
//! procedure; a run still going (or crashed, waiting for `resume`) has no outcome yet.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::event::{HistoryFigures, StepStatus};
use crate::record::history::PastRun;

/// How many of the slowest steps the summary shows.
pub(crate) const SLOWEST_STEPS: usize = 3;

/// The figures of one playbook's runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Summary {
    pub(crate) playbook: String,
    /// Real runs that ended: `ok + failed + interrupted`.
    pub(crate) runs: usize,
    pub(crate) ok: usize,
    pub(crate) failed: usize,
    pub(crate) interrupted: usize,
    /// `ok / runs`, from 0 to 1; `None` without a run.
    pub(crate) success_rate: Option<f64>,
    /// Over the runs that achieved an RTO.
    pub(crate) rto_achieved: Option<Spread>,
    /// The slowest steps by median duration, slowest first.
    pub(crate) slowest_steps: Vec<StepTrend>,
}

/// Median, 95th percentile and maximum of a set of durations, by nearest rank.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) struct Spread {
    pub(crate) runs: usize,
    pub(crate) median_ms: u64,
    pub(crate) p95_ms: u64,
    pub(crate) max_ms: u64,
}

/// A step's usual duration and its latest one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct StepTrend {
    pub(crate) step: String,
    /// The runs in which the step finished ok.
    pub(crate) runs: usize,
    pub(crate) median_ms: u64,
    /// In the newest of those runs.
    pub(crate) last_ms: u64,
}

impl StepTrend {
    /// The last duration against the median, in percent (`+12` is 12% slower).
    #[must_use]
    pub(crate) fn change_percent(&self) -> i64 {
        if self.median_ms == 0 {
            return 0;
        }
        let change = (i128::from(self.last_ms) - i128::from(self.median_ms)) * 100;
        let median = i128::from(self.median_ms);
        // Rounded half away from zero.
        let rounded = (change + change.signum() * median / 2) / median;
        i64::try_from(rounded).unwrap_or(i64::MAX)
    }
}

impl PastRun {
    /// A real run that ended: what the summary counts.
    #[must_use]
    pub(crate) fn counted(&self) -> bool {
        !self.is_dry_run() && (self.finished.is_some() || self.interrupted)
    }
}

impl Summary {
    /// The figures of `runs`, all of `playbook`, newest first (as `history::scan` returns them).
    #[must_use]
    pub(crate) fn of<'a>(playbook: &str, runs: impl IntoIterator<Item = &'a PastRun>) -> Self {
        let counted: Vec<&PastRun> = runs.into_iter().filter(|r| r.counted()).collect();
        let mut ok = 0;
        let mut failed = 0;
        let mut interrupted = 0;
        let mut rto = Vec::new();
        // Per step: its ok durations, newest first.
        let mut steps: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
        for run in &counted {
            match run.status_word() {
                "ok" => ok += 1,
                "failed" => failed += 1,
                _ => interrupted += 1,
            }
            if let Some(ms) = run.finished.as_ref().and_then(|f| f.rto_achieved_ms) {
                rto.push(ms);
            }
            for step in &run.steps {
                // A nested playbook's steps (`parent/child`) are inside their parent's time.
                if step.id.contains('/') || step.status != Some(StepStatus::Ok) {
                    continue;
                }
                if let Some(ms) = step.duration_ms {
                    steps.entry(step.id.as_str()).or_default().push(ms);
                }
            }
        }
        let mut slowest: Vec<StepTrend> = steps
            .into_iter()
            .map(|(step, durations)| StepTrend {
                step: step.to_owned(),
                runs: durations.len(),
                median_ms: Spread::of(&durations).map_or(0, |s| s.median_ms),
                last_ms: durations[0],
            })
            .collect();
        slowest.sort_by(|a, b| b.median_ms.cmp(&a.median_ms).then(a.step.cmp(&b.step)));
        slowest.truncate(SLOWEST_STEPS);
        let runs = counted.len();
        Self {
            playbook: playbook.to_owned(),
            runs,
            ok,
            failed,
            interrupted,
            success_rate: rate(ok, runs),
            rto_achieved: Spread::of(&rto),
            slowest_steps: slowest,
        }
    }

    /// What the `history` probe records.
    #[must_use]
    pub(crate) fn figures(&self) -> HistoryFigures {
        HistoryFigures {
            runs: self.runs,
            ok: self.ok,
            success_rate: self.success_rate.unwrap_or(0.0),
        }
    }
}

#[expect(clippy::cast_precision_loss, reason = "run counts are far below 2^52")]
fn rate(ok: usize, runs: usize) -> Option<f64> {
    (runs > 0).then(|| ok as f64 / runs as f64)
}

impl Spread {
    /// `None` for no values.
    #[must_use]
    pub(crate) fn of(values: &[u64]) -> Option<Self> {
        let mut sorted = values.to_vec();
        sorted.sort_unstable();
        Some(Self {
            runs: sorted.len(),
            median_ms: nearest_rank(&sorted, 50)?,
            p95_ms: nearest_rank(&sorted, 95)?,
            max_ms: *sorted.last()?,
        })
    }
}

/// The `p`th percentile of sorted values by nearest rank: the value at rank ⌈p/100 × n⌉
/// (1-based), so always one of the values; the median of an even count is the lower middle.
fn nearest_rank(sorted: &[u64], p: usize) -> Option<u64> {
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        assert_eq!(Spread::of(&[]), None);
        let one = Spread::of(&[7]).expect("one value");
        assert_eq!((one.median_ms, one.p95_ms, one.max_ms), (7, 7, 7));
        let four = Spread::of(&[40, 10, 30, 20]).expect("values");
        assert_eq!((four.median_ms, four.p95_ms, four.max_ms), (20, 40, 40));
        let twenty: Vec<u64> = (1..=20).collect();
        let s = Spread::of(&twenty).expect("values");
        assert_eq!((s.median_ms, s.p95_ms, s.max_ms, s.runs), (10, 19, 20, 20));
        let hundred: Vec<u64> = (1..=100).rev().collect();
        let s = Spread::of(&hundred).expect("values");
        assert_eq!((s.median_ms, s.p95_ms), (50, 95));
    }

    #[test]
    fn change_is_rounded_and_signed() {
        let t = |median_ms, last_ms| StepTrend {
            step: "a".into(),
            runs: 2,
            median_ms,
            last_ms,
        };
        assert_eq!(t(200, 250).change_percent(), 25);
        assert_eq!(t(300, 200).change_percent(), -33);
        assert_eq!(t(3, 2).change_percent(), -33);
        assert_eq!(t(200, 201).change_percent(), 1);
        assert_eq!(t(0, 5).change_percent(), 0);
    }
}
