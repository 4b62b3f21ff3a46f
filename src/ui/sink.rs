//! What the terminal sinks share: the [`Sink`] interface, a failure's last lines, the
//! objectives the live view measures against, its tick and whether colour may be used.

use std::collections::BTreeMap;
use std::time::Duration;

pub(crate) use crate::event::Sink;
use crate::event::TAIL_LINES;

/// The last [`TAIL_LINES`] of `lines`.
pub(crate) fn last_lines(lines: &[String]) -> &[String] {
    &lines[lines.len().saturating_sub(TAIL_LINES)..]
}

/// What the plan knows and the events do not carry until the end: the RTO objective, each step's
/// budget and which steps start and stop the RTO clock. All optional: without them the live view
/// shows elapsed times alone and learns a budget or the objective from the warning events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Objectives {
    pub(crate) rto_ms: Option<u64>,
    /// By step id.
    pub(crate) budgets: BTreeMap<String, u64>,
    /// `[playbook.rto_clock] start`: the RTO clock starts when this step starts.
    pub(crate) rto_start: Option<String>,
    /// `[playbook.rto_clock] stop`: the RTO clock stops when this step finishes.
    pub(crate) rto_stop: Option<String>,
}

/// How often the live view redraws on its own (spinners, elapsed times, the RTO clock).
pub(crate) const TICK: Duration = Duration::from_millis(100);

/// Whether colour may be used on stderr: `NO_COLOR` (any value) turns it off, as do `CLICOLOR=0`
/// and a terminal without colours.
pub(crate) fn stderr_colors() -> bool {
    std::env::var_os("NO_COLOR").is_none() && console::colors_enabled_stderr()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tails_keep_the_last_twenty_lines() {
        let lines: Vec<String> = (1..=25).map(|i| format!("line {i}")).collect();
        let tail = last_lines(&lines);
        assert_eq!(tail.len(), 20);
        assert_eq!(tail[0], "line 6");
        assert_eq!(last_lines(&lines[..3]).len(), 3);
    }
}
