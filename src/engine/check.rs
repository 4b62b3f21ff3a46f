//! Health checks: a probe polled every `interval` until it passes or `timeout` ends, every
//! attempt recorded as an event, with the time to the first pass.

use std::time::{Duration, Instant};

use crate::engine::probe::{self, ProbeEnv};
use crate::engine::ssh;
use crate::event::{Bus, CheckPhase, Event, millis};
use crate::playbook::model::{Check, CommandProbe, Probe};

/// How a check ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CheckOutcome {
    pub(crate) passed: bool,
    pub(crate) attempts: u32,
    /// The last attempt's words.
    pub(crate) detail: String,
}

/// When the attempt after one that started at `started` and ended at `now` starts: on a fixed
/// cadence, `interval` after the start of the one before (a sleep of `interval` after each
/// attempt would make every attempt late by the attempt's own time), or at once when the
/// attempt took longer than `interval` (the cadence then starts again from it, as
/// `MissedTickBehavior::Delay` does: no burst of attempts to catch up).
fn next_attempt(started: Instant, now: Instant, interval: Duration) -> Instant {
    (started + interval).max(now)
}

/// Runs a check: once for an assessment, polled otherwise.
pub(crate) async fn run(
    check: &Check,
    phase: CheckPhase,
    step: Option<&str>,
    env: &ProbeEnv<'_>,
    bus: &Bus,
) -> CheckOutcome {
    let started = Instant::now();
    let target = probe::target(&check.probe, env.context);
    // A `command` probe with `on`: every event of the check names its host.
    let host = match &check.probe {
        Probe::Command(CommandProbe { on: Some(on), .. }) => ssh::host_name(on, env.context).ok(),
        _ => None,
    };
    let host = host.as_deref();
    bus.emit_on(
        Event::CheckStarted {
            check: check.id.clone(),
            step: step.map(str::to_owned),
            phase,
            probe: check.probe.kind().to_owned(),
            target,
        },
        host,
    );
    let deadline = started + check.timeout.get();
    let once = phase == CheckPhase::Assessment;
    let mut attempts = 0;
    let mut first_pass = None;
    let detail = loop {
        attempts += 1;
        let attempt_started = Instant::now();
        let remaining = deadline
            .saturating_duration_since(attempt_started)
            .max(Duration::from_millis(1));
        let limit = check.attempt_timeout.get().min(remaining);
        bus.barrier();
        let result = probe::attempt(&check.probe, env, limit).await;
        bus.emit_on(
            Event::CheckAttempt {
                check: check.id.clone(),
                step: step.map(str::to_owned),
                attempt: attempts,
                passed: result.passed,
                detail: result.detail.clone(),
                duration_ms: millis(attempt_started.elapsed()),
                history: result.history,
            },
            host,
        );
        if result.passed {
            first_pass = Some(millis(started.elapsed()));
            break result.detail;
        }
        let next = next_attempt(attempt_started, Instant::now(), check.interval.get());
        if once || next >= deadline || env.cancel.is_cancelled() {
            break result.detail;
        }
        tokio::select! {
            () = tokio::time::sleep_until(next.into()) => {}
            () = env.cancel.cancelled() => break "cancelled".to_owned(),
        }
    };
    let passed = first_pass.is_some();
    bus.emit_on(
        Event::CheckFinished {
            check: check.id.clone(),
            step: step.map(str::to_owned),
            phase,
            passed,
            attempts,
            first_pass_ms: first_pass,
            duration_ms: millis(started.elapsed()),
            detail: detail.clone(),
        },
        host,
    );
    CheckOutcome {
        passed,
        attempts,
        detail,
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::next_attempt;

    // See: #18
    #[test]
    fn attempts_keep_a_fixed_cadence_from_their_starts() {
        let interval = Duration::from_millis(100);
        let t0 = Instant::now();
        // Attempts of 4 ms each: they start at 0, 100, 200, … not at 0, 104, 208, ….
        let mut start = t0;
        for k in 1..=50_u32 {
            let next = next_attempt(start, start + Duration::from_millis(4), interval);
            assert_eq!(next, t0 + interval * k, "attempt {k} drifted");
            start = next;
        }
        // An attempt longer than the interval: the next one starts at once, and the cadence
        // goes on from it (no catching up).
        let late = next_attempt(t0, t0 + Duration::from_millis(250), interval);
        assert_eq!(late, t0 + Duration::from_millis(250));
        assert_eq!(
            next_attempt(late, late + Duration::from_millis(1), interval),
            late + interval
        );
    }
}
