//! What a run achieved: the RTO (the `rto_clock` part of the run, or all of it, or from the
//! incident's start) and the RPO (from the `recovery_point` the steps name).

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::engine::context::Context;
use crate::engine::scheduler::StepsOutcome;
use crate::engine::scope::RunScope;
use crate::event::{Clock, Event, Mode, RunStatus, StepStatus, millis};
use crate::playbook::model::Playbook;

/// The `run_finished` event of a run that ended with `status` after `end`.
pub(crate) fn run_finished(
    scope: &RunScope,
    outcome: &StepsOutcome,
    status: RunStatus,
    end: Duration,
    clock: &Clock,
    incident_start: Option<DateTime<Utc>>,
) -> Event {
    let playbook = scope.playbook();
    // Only a run that succeeded recovered anything: a failed one achieved no RTO or RPO. A dry
    // run measures nothing: its clock timed the printing of commands, not a recovery.
    let recovered = status == RunStatus::Ok && !scope.dry_run;
    let rto = recovered
        .then(|| {
            rto_achieved(
                playbook,
                &outcome.times,
                &outcome.status,
                end,
                clock,
                scope.info.mode,
                incident_start,
            )
        })
        .flatten();
    let (recovery_point, recovery_point_error) = recovery_point(playbook, &scope.context);
    let rpo_achieved = recovery_point.filter(|_| recovered).map(|point| {
        let reference = incident_start.unwrap_or(clock.started_at);
        // A recovery point after the reference (restored data newer than the incident's start)
        // lost nothing: 0, not "not measured".
        (reference - point).to_std().map_or(0, millis)
    });
    Event::RunFinished {
        status,
        duration_ms: millis(end),
        failures_tolerated: outcome.failures_tolerated,
        rto_objective_ms: playbook.meta.rto.map(|r| r.duration.as_millis()),
        rto_achieved_ms: rto,
        rpo_objective_ms: playbook.meta.rpo.map(|r| r.duration.as_millis()),
        rpo_achieved_ms: rpo_achieved,
        recovery_point,
        recovery_point_error,
    }
}

/// The time `recovery_point` names, or why it names none; neither when it is not set.
fn recovery_point(
    playbook: &Playbook,
    context: &Context,
) -> (Option<DateTime<Utc>>, Option<String>) {
    let Some(template) = &playbook.meta.recovery_point else {
        return (None, None);
    };
    match context.render(template) {
        Err(e) => (
            None,
            Some(format!("template error in `recovery_point`: {e}")),
        ),
        Ok(text) => match DateTime::parse_from_rfc3339(text.trim()) {
            Ok(point) => (Some(point.with_timezone(&Utc)), None),
            Err(e) => (
                None,
                Some(format!(
                    "`recovery_point` gave `{}`, not an RFC 3339 time: {e}",
                    text.trim()
                )),
            ),
        },
    }
}

/// The RTO: the `rto_clock` part of the run when both its steps ran, else the whole run; in
/// incident mode with `--incident-start`, from the incident's start.
fn rto_achieved(
    playbook: &Playbook,
    times: &[Option<(Duration, Duration)>],
    status: &[StepStatus],
    end: Duration,
    clock: &Clock,
    mode: Mode,
    incident_start: Option<DateTime<Utc>>,
) -> Option<u64> {
    let (mut from, mut to) = (Duration::ZERO, end);
    if let Some(c) = playbook.meta.rto_clock {
        let (Some((start, _)), Some((_, stop))) = (times[c.start], times[c.stop]) else {
            return None;
        };
        if status[c.stop] != StepStatus::Ok {
            return None;
        }
        (from, to) = (start, stop);
    }
    let achieved = millis(to.saturating_sub(from));
    match (mode, incident_start) {
        (Mode::Incident, Some(incident)) => {
            let before_run = (clock.started_at - incident).num_milliseconds().max(0);
            Some(u64::try_from(before_run).unwrap_or(0) + millis(to))
        }
        _ => Some(achieved),
    }
}
