//! Events: every state change of a run, as data. The journal, the report, the live view and
//! notifications are all built from these; the engine itself never calls any of them.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use crate::event::MaskedSpan;

/// How a process ended; never a raw wait status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub(crate) enum Exit {
    Success,
    /// A non-zero exit code.
    Code(i32),
    /// Killed by a signal it did not get from us.
    Signal(i32),
    /// Its `timeout` passed and its process group was terminated.
    TimedOut,
    /// The run was interrupted and its process group was terminated.
    Cancelled,
}

impl Exit {
    /// The exit code, for `steps.ID.exit_code` and the report.
    #[must_use]
    pub(crate) fn code(self) -> Option<i32> {
        match self {
            Self::Success => Some(0),
            Self::Code(c) => Some(c),
            Self::Signal(_) | Self::TimedOut | Self::Cancelled => None,
        }
    }
}

/// A step's final status, in the journal's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum StepStatus {
    Ok,
    Failed,
    Skipped,
    RolledBack,
    Cancelled,
}

impl StepStatus {
    #[must_use]
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
            Self::RolledBack => "rolled_back",
            Self::Cancelled => "cancelled",
        }
    }
}

impl std::fmt::Display for StepStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A run's final status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RunStatus {
    Ok,
    Failed,
    Interrupted,
}

impl RunStatus {
    #[must_use]
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Failed => "failed",
            Self::Interrupted => "interrupted",
        }
    }
}

/// What a `history` probe found: the ended real runs of a playbook within its window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(crate) struct HistoryFigures {
    pub(crate) runs: usize,
    pub(crate) ok: usize,
    /// `ok / runs`, from 0 to 1 (0 without a run).
    pub(crate) success_rate: f64,
}

/// Why the run exists: an outage or practice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Mode {
    /// A recovery from a real outage
    Incident,
    /// Practice
    Drill,
    /// A scheduled operation, such as a backup or a health check
    Routine,
    /// A dry run: only `read_only` steps ran
    DryRun,
}

impl Mode {
    #[must_use]
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Incident => "incident",
            Self::Drill => "drill",
            Self::Routine => "routine",
            Self::DryRun => "dry-run",
        }
    }
}

/// When a health check runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum CheckPhase {
    /// `[[checks]]` before the steps: the state found (never fails the run).
    Assessment,
    /// `[[checks]]` after the steps: the state left (fails the run if not passing).
    Validation,
    /// A step's `check` action.
    Step,
    /// A step's `verify`.
    Verify,
}

/// How an approval was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ApprovalHow {
    Prompt,
    Flag,
}

/// One state change. Serialized with `event` as the tag; `ts` and `run_id` come from [`Record`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub(crate) enum Event {
    RunStarted {
        playbook: String,
        path: String,
        version: String,
        sha256: String,
        mode: Mode,
        env: Option<String>,
        commander: String,
        /// Secrets masked.
        vars: BTreeMap<String, serde_json::Value>,
        incident_start: Option<DateTime<Utc>>,
        dry_run: bool,
        host: String,
        run_dir: String,
        runbook_version: String,
        /// `null`: no limit.
        max_parallel: Option<usize>,
        /// `--only ID` or `--from ID`, as given: the run is a subset.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        selection: Option<String>,
    },
    CheckStarted {
        check: String,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        step: Option<String>,
        phase: CheckPhase,
        probe: String,
        target: String,
    },
    CheckAttempt {
        check: String,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        step: Option<String>,
        attempt: u32,
        passed: bool,
        detail: String,
        duration_ms: u64,
        /// A `history` probe's figures.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        history: Option<HistoryFigures>,
    },
    CheckFinished {
        check: String,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        step: Option<String>,
        phase: CheckPhase,
        passed: bool,
        attempts: u32,
        /// From the check's start to its first passing attempt.
        first_pass_ms: Option<u64>,
        duration_ms: u64,
        detail: String,
    },
    StepStarted {
        step: String,
        title: String,
        action: String,
        /// The rendered command, URL or text, masked.
        command: String,
        /// A cleanup step (`always = true`): it runs whatever happened to the run.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        always: bool,
    },
    StepAttemptFinished {
        step: String,
        attempt: u32,
        /// How the step's process ended; `None` for actions without one (http, check, …).
        exit: Option<Exit>,
        exit_code: Option<i32>,
        duration_ms: u64,
        /// Why the attempt failed, in words; `None` when it succeeded.
        reason: Option<String>,
    },
    /// A step's command started, leading its own process group (`resume` checks that a
    /// crashed run's group is gone before running the step again).
    ProcessStarted {
        step: String,
        pgid: u32,
    },
    /// After a kill, whether every process the step started is really gone: its process group,
    /// descendants that left it and orphans runbook adopted.
    ProcessGroupChecked {
        step: String,
        pgid: i32,
        empty: bool,
        /// How many processes got TERM or KILL (0 in older journals, which lack it).
        #[serde(default)]
        killed: u32,
        /// Of those, how many had left the process group (`setsid`, daemons).
        #[serde(default)]
        detached: u32,
    },
    StepFinished {
        step: String,
        status: StepStatus,
        reason: Option<String>,
        outputs: BTreeMap<String, String>,
        exit_code: Option<i32>,
        attempts: u32,
        duration_ms: u64,
        /// For a step a dry run did not execute: what would have run.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        would_run: Option<String>,
    },
    /// Right before `step_finished`, when its outputs hold secrets: where each `***` of the
    /// masked outputs is and which secrets (by name) it hides, so that `resume` can give later
    /// steps the whole values from the secrets supplied again. No secret is in it.
    OutputSecrets {
        step: String,
        outputs: BTreeMap<String, Vec<MaskedSpan>>,
    },
    /// Right after `run_started`, when its vars hold secrets: where they are, as
    /// `output_secrets` says for outputs.
    VarSecrets {
        vars: BTreeMap<String, Vec<MaskedSpan>>,
    },
    BudgetExceeded {
        step: String,
        budget_ms: u64,
        elapsed_ms: u64,
    },
    ApprovalRequested {
        step: String,
        question: String,
    },
    ApprovalGiven {
        step: String,
        by: String,
        how: ApprovalHow,
        /// From `approval_requested` to the answer: time the step spent waiting, which is not
        /// part of its `duration_ms` (0 for an approval given in advance by a flag).
        #[serde(default)]
        waited_ms: u64,
    },
    ApprovalDeclined {
        step: String,
        by: String,
        reason: String,
        /// From `approval_requested` to the answer (0 when nobody could be asked).
        #[serde(default)]
        waited_ms: u64,
    },
    /// One answer of a manual step's `inputs`, right before its `approval_given`: the value
    /// (masked when the input is secret) becomes `steps.STEP.outputs.INPUT`.
    InputGiven {
        step: String,
        input: String,
        value: String,
        /// Who answered: the name typed at the prompt, or `--input` (or `default` with `--yes`).
        by: String,
        how: ApprovalHow,
    },
    RollbackStarted {
        step: String,
        command: String,
    },
    RollbackFinished {
        step: String,
        ok: bool,
        exit_code: Option<i32>,
        duration_ms: u64,
        reason: Option<String>,
    },
    /// A `notify` step's text and fields, for every configured channel to deliver.
    NotifyRequested {
        step: String,
        text: String,
        /// Labelled values, in the order written.
        #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
        fields: IndexMap<String, String>,
    },
    NotificationSent {
        channel: String,
        about: String,
        text: String,
        /// A `notify` step's fields (the other messages' fields are facts of other events).
        #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
        fields: IndexMap<String, String>,
    },
    /// In a dry run: a message a channel would have been sent, instead of sending it.
    NotificationPreviewed {
        channel: String,
        about: String,
        text: String,
        /// The message's labelled values, in order.
        #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
        fields: IndexMap<String, String>,
    },
    NotificationFailed {
        channel: String,
        about: String,
        reason: String,
        http_status: Option<u16>,
    },
    RtoWarning {
        elapsed_ms: u64,
        rto_objective_ms: u64,
    },
    RunInterrupted {
        signal: String,
    },
    /// `runbook resume` picked the run up again.
    RunResumed {
        /// Who resumed it.
        commander: String,
        /// From the last event before the gap to this one.
        gap_ms: u64,
        /// Steps that were in flight when the runner died and run again.
        rerun: Vec<String>,
        /// Whether the playbook file changed since the run started (`--allow-changed`).
        playbook_changed: bool,
    },
    /// The playbook's lock was taken from another run: a stale one (its process is gone) or a
    /// live one with `--break-lock`.
    LockBroken {
        holder_run_id: String,
        holder_pid: u32,
        holder_host: String,
        stale: bool,
    },
    /// A file of the run's record (the journal, a step log, the report) could not be written:
    /// no new step starts and the run fails.
    RecordFailed {
        path: String,
        /// The OS error, in words.
        error: String,
    },
    /// After the report was written, `[report] publish` ran and succeeded.
    ReportPublished {
        /// The rendered command, masked.
        command: String,
        duration_ms: u64,
        /// Its last lines of output, masked.
        output: Vec<String>,
    },
    /// `[report] publish` failed (a warning: the run's status is unchanged).
    ReportPublishFailed {
        command: String,
        reason: String,
        duration_ms: u64,
        output: Vec<String>,
    },
    RunFinished {
        status: RunStatus,
        duration_ms: u64,
        failures_tolerated: u32,
        rto_objective_ms: Option<u64>,
        rto_achieved_ms: Option<u64>,
        rpo_objective_ms: Option<u64>,
        rpo_achieved_ms: Option<u64>,
        /// The time `recovery_point` rendered: what the data is restored as of (evidence, also
        /// when the run failed or was a dry run and so achieved no RPO).
        #[serde(skip_serializing_if = "Option::is_none", default)]
        recovery_point: Option<DateTime<Utc>>,
        /// Why `recovery_point` gave no time (a template error, not an RFC 3339 time).
        #[serde(skip_serializing_if = "Option::is_none", default)]
        recovery_point_error: Option<String>,
    },
    /// The last line a running step printed (masked); for the live view, never journaled.
    #[serde(skip)]
    StepOutput {
        step: String,
        line: String,
    },
}

/// The pattern of every event that always names its step, binding that name to `$step`: the one
/// list of them, for `Event::step` and `Event::nest` (the check events name a step optionally).
macro_rules! step_events {
    ($step:ident) => {
        Self::StepStarted { step: $step, .. }
            | Self::StepAttemptFinished { step: $step, .. }
            | Self::ProcessGroupChecked { step: $step, .. }
            | Self::ProcessStarted { step: $step, .. }
            | Self::StepFinished { step: $step, .. }
            | Self::OutputSecrets { step: $step, .. }
            | Self::BudgetExceeded { step: $step, .. }
            | Self::ApprovalRequested { step: $step, .. }
            | Self::ApprovalGiven { step: $step, .. }
            | Self::ApprovalDeclined { step: $step, .. }
            | Self::InputGiven { step: $step, .. }
            | Self::RollbackStarted { step: $step, .. }
            | Self::RollbackFinished { step: $step, .. }
            | Self::NotifyRequested { step: $step, .. }
            | Self::StepOutput { step: $step, .. }
    };
}

impl Event {
    /// The step the event is about, if any.
    #[must_use]
    pub(crate) fn step(&self) -> Option<&str> {
        match self {
            step_events!(step) => Some(step),
            Self::CheckStarted { step, .. }
            | Self::CheckAttempt { step, .. }
            | Self::CheckFinished { step, .. } => step.as_deref(),
            _ => None,
        }
    }

    /// Whether the event belongs in the journal (not the live view's transient lines).
    #[must_use]
    pub(crate) fn is_durable(&self) -> bool {
        !matches!(self, Self::StepOutput { .. })
    }

    /// Names the step (and the check) as seen from the parent of a nested playbook:
    /// `restore-db/verify`. Events about the nested run as a whole have no place above it.
    pub(crate) fn nest(&mut self, prefix: &str) {
        let join = |s: &mut String| *s = format!("{prefix}/{s}");
        match self {
            step_events!(step) => join(step),
            Self::CheckStarted { check, step, .. }
            | Self::CheckAttempt { check, step, .. }
            | Self::CheckFinished { check, step, .. } => {
                join(check);
                match step {
                    Some(s) => join(s),
                    None => *step = Some(prefix.to_owned()),
                }
            }
            Self::RunStarted { .. }
            | Self::NotificationSent { .. }
            | Self::NotificationPreviewed { .. }
            | Self::NotificationFailed { .. }
            | Self::RtoWarning { .. }
            | Self::RunInterrupted { .. }
            | Self::RunResumed { .. }
            | Self::LockBroken { .. }
            | Self::RecordFailed { .. }
            | Self::VarSecrets { .. }
            | Self::ReportPublished { .. }
            | Self::ReportPublishFailed { .. }
            | Self::RunFinished { .. } => {}
        }
    }

    /// Replaces every secret in every string the event carries.
    pub(crate) fn mask(&mut self, mask: &dyn Fn(&str) -> Option<String>) {
        let mut m = |s: &mut String| {
            if let Some(masked) = mask(s) {
                *s = masked;
            }
        };
        match self {
            Self::RunStarted {
                vars,
                path,
                run_dir,
                commander,
                ..
            } => {
                m(path);
                m(run_dir);
                m(commander);
                for v in vars.values_mut() {
                    mask_json(v, &mut m);
                }
            }
            Self::CheckStarted { target, .. } => m(target),
            Self::CheckAttempt { detail, .. } | Self::CheckFinished { detail, .. } => m(detail),
            Self::StepStarted { command, title, .. } => {
                m(command);
                m(title);
            }
            Self::StepAttemptFinished { reason, .. }
            | Self::StepFinished { reason, .. }
            | Self::RollbackFinished { reason, .. } => {
                if let Some(r) = reason {
                    m(r);
                }
                if let Self::StepFinished {
                    outputs, would_run, ..
                } = self
                {
                    outputs.values_mut().for_each(&mut m);
                    if let Some(w) = would_run {
                        m(w);
                    }
                }
            }
            Self::ApprovalRequested { question, .. } => m(question),
            Self::ApprovalGiven { by, .. } => m(by),
            Self::ApprovalDeclined { by, reason, .. } => {
                m(by);
                m(reason);
            }
            Self::InputGiven { value, by, .. } => {
                m(value);
                m(by);
            }
            Self::ReportPublished {
                command, output, ..
            } => {
                m(command);
                output.iter_mut().for_each(&mut m);
            }
            Self::ReportPublishFailed {
                command,
                reason,
                output,
                ..
            } => {
                m(command);
                m(reason);
                output.iter_mut().for_each(&mut m);
            }
            Self::RollbackStarted { command, .. } => m(command),
            Self::NotificationSent { text, fields, .. }
            | Self::NotifyRequested { text, fields, .. }
            | Self::NotificationPreviewed { text, fields, .. } => {
                m(text);
                fields.values_mut().for_each(&mut m);
            }
            Self::NotificationFailed { reason, .. } => m(reason),
            Self::RecordFailed { path, error } => {
                m(path);
                m(error);
            }
            Self::StepOutput { line, .. } => m(line),
            Self::ProcessGroupChecked { .. }
            | Self::OutputSecrets { .. }
            | Self::VarSecrets { .. }
            | Self::ProcessStarted { .. }
            | Self::BudgetExceeded { .. }
            | Self::RtoWarning { .. }
            | Self::RunInterrupted { .. }
            | Self::RunResumed { .. }
            | Self::LockBroken { .. } => {}
            Self::RunFinished {
                recovery_point_error,
                ..
            } => {
                if let Some(e) = recovery_point_error {
                    m(e);
                }
            }
        }
    }
}

pub(crate) fn mask_json(v: &mut serde_json::Value, m: &mut impl FnMut(&mut String)) {
    match v {
        serde_json::Value::String(s) => m(s),
        serde_json::Value::Array(a) => a.iter_mut().for_each(|x| mask_json(x, m)),
        serde_json::Value::Object(o) => o.values_mut().for_each(|x| mask_json(x, m)),
        _ => {}
    }
}

/// An event as written to the journal: one JSON object per line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Record {
    /// RFC 3339, UTC, milliseconds.
    #[serde(with = "millis")]
    pub(crate) ts: DateTime<Utc>,
    pub(crate) run_id: String,
    #[serde(flatten)]
    pub(crate) event: Event,
    /// For an event of a `for_each` instance (`step = "ID[KEY]"`): its item, masked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) item: Option<serde_json::Value>,
}

mod millis {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(ts: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&ts.to_rfc3339_opts(SecondsFormat::Millis, true))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let s = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_lines_have_ts_event_run_id_and_ms_durations() {
        let record = Record {
            ts: DateTime::parse_from_rfc3339("2026-11-23T02:00:00.123Z")
                .expect("time")
                .with_timezone(&Utc),
            run_id: "r1".into(),
            item: None,
            event: Event::StepAttemptFinished {
                step: "restore".into(),
                attempt: 1,
                exit: Some(Exit::Code(3)),
                exit_code: Some(3),
                duration_ms: 41_200,
                reason: Some("exit code 3".into()),
            },
        };
        let line = serde_json::to_string(&record).expect("serializes");
        assert_eq!(
            line,
            r#"{"ts":"2026-11-23T02:00:00.123Z","run_id":"r1","event":"step_attempt_finished","step":"restore","attempt":1,"exit":{"kind":"code","value":3},"exit_code":3,"duration_ms":41200,"reason":"exit code 3"}"#
        );
        let back: Record = serde_json::from_str(&line).expect("reads back");
        assert_eq!(back, record);
    }

    #[test]
    fn masking_reaches_nested_strings() {
        let mut e = Event::StepFinished {
            step: "s".into(),
            status: StepStatus::Ok,
            reason: None,
            outputs: BTreeMap::from([("url".to_owned(), "postgres://u:hunter2@db".to_owned())]),
            exit_code: Some(0),
            attempts: 1,
            duration_ms: 1,
            would_run: None,
        };
        e.mask(&|s| s.contains("hunter2").then(|| s.replace("hunter2", "***")));
        let Event::StepFinished { outputs, .. } = e else {
            unreachable!("same variant")
        };
        assert_eq!(outputs["url"], "postgres://u:***@db");
    }
}
