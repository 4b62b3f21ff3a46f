//! The RTO clock as the live view sees it: when it started on the monotonic clock, its
//! objective, and where it stopped. The engine's `rto_warning` and `run_finished` stay the
//! authority; this only keeps the header ticking between them.

use std::time::Instant;

use chrono::{DateTime, Utc};

use crate::event::{Event, Mode, Record, millis};

use super::sink::Objectives;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct RtoClock {
    /// `None` until the clock starts (its `rto_clock.start` step has not started yet).
    pub(crate) origin: Option<Instant>,
    pub(crate) objective_ms: Option<u64>,
    pub(crate) stopped_ms: Option<u64>,
    /// A dry run: its clock times the printing of commands, not a recovery, so the header
    /// shows no RTO figure.
    pub(crate) dry_run: bool,
}

impl RtoClock {
    pub(crate) fn new(objectives: &Objectives) -> Self {
        Self {
            objective_ms: objectives.rto_ms,
            ..Self::default()
        }
    }

    pub(crate) fn elapsed_ms(&self) -> Option<u64> {
        self.stopped_ms
            .or_else(|| self.origin.map(|o| millis(o.elapsed())))
    }

    /// Follows the events that start, stop or inform the clock; `true` when it changed.
    ///
    /// It starts at `--incident-start` in incident mode, else when the `rto_clock.start` step
    /// starts, else with the run; it stops when the `rto_clock.stop` step finishes or the run does.
    pub(crate) fn observe(&mut self, record: &Record, objectives: &Objectives) -> bool {
        match &record.event {
            Event::RunStarted {
                mode,
                incident_start,
                dry_run,
                ..
            } => {
                self.dry_run = *dry_run || *mode == Mode::DryRun;
                self.origin = match (mode, incident_start) {
                    (Mode::Incident, Some(start)) => Some(instant_of(*start)),
                    _ if objectives.rto_start.is_some() => None,
                    _ => Some(instant_of(record.ts)),
                };
            }
            Event::StepStarted { step, .. }
                if self.origin.is_none() && objectives.rto_start.as_deref() == Some(step) =>
            {
                self.origin = Some(instant_of(record.ts));
            }
            Event::StepFinished { step, .. } if objectives.rto_stop.as_deref() == Some(step) => {
                self.stopped_ms = self.elapsed_ms();
            }
            Event::RtoWarning {
                rto_objective_ms, ..
            } => self.objective_ms = Some(*rto_objective_ms),
            Event::RunFinished {
                rto_objective_ms,
                rto_achieved_ms,
                ..
            } => {
                self.objective_ms = rto_objective_ms.or(self.objective_ms);
                self.stopped_ms = rto_achieved_ms.or(self.elapsed_ms());
            }
            _ => return false,
        }
        true
    }
}

/// The instant `ts` was at, on the monotonic clock the rows and header tick on.
fn instant_of(ts: DateTime<Utc>) -> Instant {
    let ago = (Utc::now() - ts).to_std().unwrap_or_default();
    Instant::now().checked_sub(ago).unwrap_or_else(Instant::now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ui::script::{Play, full_run, objectives, record};

    fn started(step: &str) -> Record {
        record(
            0,
            Event::StepStarted {
                step: step.into(),
                title: String::new(),
                action: "run".into(),
                command: String::new(),
                always: false,
            },
        )
    }

    #[test]
    fn the_clock_waits_for_its_start_step() {
        let objectives = Objectives {
            rto_start: Some("declare".into()),
            ..objectives()
        };
        let Some(Play::Event(run_started)) = full_run().into_iter().next() else {
            unreachable!("the script starts with run_started")
        };
        let mut clock = RtoClock::new(&objectives);
        assert!(clock.observe(&run_started, &objectives));
        assert_eq!(clock.elapsed_ms(), None);
        assert!(!clock.observe(&started("backup"), &objectives));
        assert!(clock.observe(&started("declare"), &objectives));
        assert!(clock.elapsed_ms().is_some());
        assert_eq!(clock.objective_ms, Some(300_000));
    }
}
