//! What a report says: the facts derived once from the run's record (see `build.rs`), which the
//! Markdown and the JSON both render, so that they cannot disagree.

use std::path::Path;

use chrono::{DateTime, Utc};

use crate::event::{ApprovalHow, CheckPhase, Mode, StepStatus};
use crate::plan::Plan;
use crate::playbook::model::{IncludeLogs, Playbook};
use crate::record::replay::{RollbackRecord, RunState};

use crate::record::log_tail::LogTail;

pub(super) use crate::event::TAIL_LINES;

/// Everything a report is rendered from.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReportInput<'a> {
    /// The run, from its journal.
    pub(crate) state: &'a RunState,
    /// The run folder's `playbook.toml`, validated; `None` when it no longer validates (the
    /// report then renders from the journal alone).
    pub(crate) playbook: Option<&'a std::sync::Arc<Playbook>>,
    /// The run folder's `logs/` (masked already): failure tails come from here.
    pub(crate) logs: &'a Path,
    /// The previous successful run of this playbook, for the comparison.
    pub(crate) previous: Option<&'a RunState>,
    /// Where the report is written: named in the header, and when it sits beside `logs/`, the
    /// failure tails link to the full logs.
    pub(crate) report_path_hint: Option<&'a Path>,
}

/// A step's status as the report shows it: the journal's words, `rolled_back` computed from the
/// rollbacks, and two words for steps a dead runner left behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Status {
    Ok,
    Failed,
    Skipped,
    RolledBack,
    Cancelled,
    /// Started, never finished: the runner died under it (or the run is still going).
    Unfinished,
    /// In the playbook, absent from the journal of a run that never finished.
    NotStarted,
}

impl Status {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
            Self::RolledBack => "rolled_back",
            Self::Cancelled => "cancelled",
            Self::Unfinished => "unfinished",
            Self::NotStarted => "not_started",
        }
    }

    /// Whether the failures section shows the step.
    pub(super) fn is_failure(self) -> bool {
        matches!(self, Self::Failed | Self::Cancelled | Self::Unfinished)
    }

    pub(super) fn from_journal(status: StepStatus) -> Self {
        match status {
            StepStatus::Ok => Self::Ok,
            StepStatus::Failed => Self::Failed,
            StepStatus::Skipped => Self::Skipped,
            StepStatus::RolledBack => Self::RolledBack,
            StepStatus::Cancelled => Self::Cancelled,
        }
    }
}

/// An achieved value against its objective.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    Met,
    Missed,
    NotMeasured,
    /// The run failed or was interrupted: there was no recovery to time.
    NotAchieved,
    /// A dry run changes nothing, so it recovers nothing and its clock measures no recovery.
    DryRun,
    NoObjective,
}

impl Verdict {
    fn of(objective_ms: Option<u64>, achieved_ms: Option<u64>) -> Self {
        match (objective_ms, achieved_ms) {
            (_, None) => Self::NotMeasured,
            (None, Some(_)) => Self::NoObjective,
            (Some(o), Some(a)) if a <= o => Self::Met,
            (Some(_), Some(_)) => Self::Missed,
        }
    }

    /// For people.
    pub(super) fn words(self) -> &'static str {
        match self {
            Self::Met => "met",
            Self::Missed => "missed",
            Self::NotMeasured => "not measured",
            Self::NotAchieved => "not achieved",
            Self::DryRun => "not measured in a dry run",
            Self::NoObjective => "no objective",
        }
    }

    /// For JSON.
    pub(super) fn token(self) -> &'static str {
        match self {
            Self::Met => "met",
            Self::Missed => "missed",
            // A dry run's: the run's `dry_run` says why; the token stays the one readers know.
            Self::NotMeasured | Self::DryRun => "not_measured",
            Self::NotAchieved => "not_achieved",
            Self::NoObjective => "no_objective",
        }
    }
}

/// An objective and what the run achieved.
#[derive(Debug, Clone, Copy)]
pub(super) struct Measure {
    pub(super) objective_ms: Option<u64>,
    pub(super) achieved_ms: Option<u64>,
    pub(super) verdict: Verdict,
}

impl Measure {
    pub(super) fn new(objective_ms: Option<u64>, achieved_ms: Option<u64>) -> Self {
        Self {
            objective_ms,
            achieved_ms,
            verdict: Verdict::of(objective_ms, achieved_ms),
        }
    }
}

/// Section 1: who ran what, where and when.
#[derive(Debug, Clone)]
pub(super) struct Header {
    pub(super) run_id: String,
    pub(super) playbook: String,
    pub(super) version: String,
    pub(super) sha256: String,
    pub(super) runbook_version: String,
    pub(super) mode: Option<Mode>,
    pub(super) dry_run: bool,
    pub(super) env: Option<String>,
    pub(super) commander: String,
    /// `--ticket ID`.
    pub(super) ticket: Option<String>,
    pub(super) host: String,
    pub(super) started_at: Option<DateTime<Utc>>,
    pub(super) ended_at: Option<DateTime<Utc>>,
    /// The last event of a journal that never says the run ended.
    pub(super) last_event_at: Option<DateTime<Utc>>,
    pub(super) incident_start: Option<DateTime<Utc>>,
    /// `--only ID` / `--from ID`: the run was a subset.
    pub(super) selection: Option<String>,
    pub(super) run_dir: String,
    pub(super) report_path: Option<String>,
    /// Secrets masked by the journal.
    pub(super) vars: Vec<(String, serde_json::Value)>,
    /// `playbook.toml` validated, so budgets, sign-off and the plan are known.
    pub(super) playbook_valid: bool,
}

impl Header {
    pub(super) fn label(&self) -> String {
        format!("{}@{}", self.playbook, self.version)
    }

    pub(super) fn sha256_prefix(&self) -> &str {
        self.sha256.get(..12).unwrap_or(&self.sha256)
    }
}

/// A `runbook resume`: when, by whom, and how long the runner was gone.
#[derive(Debug, Clone)]
pub(super) struct Gap {
    pub(super) resumed_at: DateTime<Utc>,
    pub(super) commander: String,
    pub(super) length_ms: u64,
    pub(super) rerun: Vec<String>,
    pub(super) playbook_changed: bool,
}

impl Gap {
    pub(super) fn began_at(&self) -> DateTime<Utc> {
        self.resumed_at - chrono::Duration::milliseconds(ms_i64(self.length_ms))
    }
}

/// The time the data is recovered as of, from `[playbook] recovery_point`: the evidence behind
/// the RPO, shown whatever the run's outcome.
#[derive(Debug, Clone)]
pub(super) struct RecoveryPoint {
    /// `None`: unknown, see `error`.
    pub(super) at: Option<DateTime<Utc>>,
    /// Why it is unknown: the journal's reason, or that the run never recorded it.
    pub(super) error: Option<String>,
    /// What the RPO counts back from: the incident's start, else the run's.
    pub(super) rpo_from: Option<DateTime<Utc>>,
    pub(super) rpo_from_incident: bool,
}

/// Section 2.
#[derive(Debug, Clone)]
pub(super) struct Outcome {
    /// `ok`, `failed`, `interrupted`, or `incomplete` (no `run_finished`).
    pub(super) status: &'static str,
    pub(super) failures_tolerated: u32,
    pub(super) rto: Measure,
    /// `None` when neither an objective nor an achieved value is known.
    pub(super) rpo: Option<Measure>,
    /// `None` when the playbook sets no `recovery_point` (and the journal records none).
    pub(super) recovery_point: Option<RecoveryPoint>,
    pub(super) interrupted: Option<(DateTime<Utc>, String)>,
    pub(super) gaps: Vec<Gap>,
    /// Steps the runner died under.
    pub(super) unfinished: Vec<String>,
    /// Lock take-overs: the holder's run id and whether its process was gone.
    pub(super) locks_broken: Vec<(String, bool)>,
    /// Offsets from the run's start at which the 80% RTO warning fired.
    pub(super) rto_warnings_ms: Vec<u64>,
    /// The journal holds a line cut off by a crash (skipped when it was read).
    pub(super) journal_truncated: bool,
    /// Files of the record that could not be written: when, the path and the OS error.
    pub(super) record_failures: Vec<(DateTime<Utc>, String, String)>,
}

/// Section 3: one row of the timeline, made from the journal's record of the step (and the
/// playbook's step) when a section writes it, borrowing their text: at 10,000 steps a table of
/// them was a fifth of the report's memory (#18).
#[derive(Debug, Clone, Copy)]
pub(super) struct StepRow<'a> {
    pub(super) id: &'a str,
    /// The host it ran on (`on`); `None`: the runner.
    pub(super) host: Option<&'a str>,
    pub(super) title: Option<&'a str>,
    pub(super) action: Option<&'a str>,
    pub(super) status: Status,
    pub(super) reason: Option<&'a str>,
    pub(super) started_at: Option<DateTime<Utc>>,
    pub(super) offset_ms: Option<u64>,
    /// For an unfinished step: until the journal's last event.
    pub(super) duration_ms: Option<u64>,
    pub(super) budget_ms: Option<u64>,
    pub(super) over_budget_ms: Option<u64>,
    pub(super) attempts: usize,
    pub(super) exit_code: Option<i32>,
    pub(super) group_empty: Option<bool>,
    /// The process group of the latest attempt's command.
    pub(super) pgid: Option<u32>,
    pub(super) rerun_after_resume: bool,
    /// Whether its rollback ran after it finished, and succeeded (`rolled_back` for a completed
    /// step; a failed step keeps `failed`).
    pub(super) rollback_ok: Option<bool>,
    pub(super) would_run: Option<&'a str>,
    /// How long its `confirm` waited for an answer (not part of `duration_ms`).
    pub(super) waited_ms: Option<u64>,
    /// A cleanup step (`always = true`).
    pub(super) cleanup: bool,
    /// A `for_each` step: its row sums up its instances' rows (which follow it).
    pub(super) for_each: bool,
}

/// What the step rows are made from, found once for all of them (see [`StepRow`]): the
/// journal's records lead, in its order, then (for a run that never finished) the playbook's
/// steps the journal never mentions.
#[derive(Debug)]
pub(super) struct StepRows<'a> {
    pub(super) state: &'a RunState,
    /// The playbook as the run had it (its `for_each` lists made), when it validates.
    pub(super) playbook: Option<std::sync::Arc<Playbook>>,
    /// The position of each journal record's step in `playbook`, in the journal's order
    /// (`u32::MAX`: not there).
    pub(super) planned: Box<[u32]>,
    pub(super) run_start: Option<DateTime<Utc>>,
    /// Steps run again after a resume.
    pub(super) rerun: std::collections::HashSet<&'a str>,
    /// Each step's rollbacks, in the journal's order.
    pub(super) rollbacks: std::collections::HashMap<&'a str, Vec<&'a RollbackRecord>>,
    /// Whether the playbook's steps the journal never mentions have rows.
    pub(super) unmentioned: bool,
}

impl<'a> StepRow<'a> {
    /// For an instance `ID[KEY]`: the `for_each` step's id.
    pub(super) fn instance_of(&self) -> Option<&'a str> {
        crate::playbook::model::Instance::of_name(self.id)
    }

    pub(super) fn finished_at(&self) -> Option<DateTime<Utc>> {
        Some(self.started_at? + chrono::Duration::milliseconds(ms_i64(self.duration_ms?)))
    }
}

/// A dry run's (or any run's) plan, when the playbook is available; its rows are made as they
/// are written ([`PlannedStep`]).
#[derive(Debug, Clone)]
pub(super) struct PlanFacts {
    pub(super) plan: Plan,
    pub(super) rto_objective_ms: Option<u64>,
    pub(super) exceeds_rto: bool,
}

impl PlanFacts {
    pub(super) fn planned_rto_ms(&self) -> u64 {
        self.plan.planned_rto_ms
    }

    fn ids<'s>(&'s self, steps: &'s [usize]) -> impl ExactSizeIterator<Item = &'s str> + Clone {
        steps
            .iter()
            .map(|&i| self.plan.playbook.steps[i].id.as_str())
    }

    /// The ids of the critical path, first to last.
    pub(super) fn critical_path(&self) -> impl ExactSizeIterator<Item = &str> + Clone {
        self.ids(&self.plan.critical_path)
    }

    /// The ids of the steps that will run without a budget.
    pub(super) fn unbudgeted(&self) -> impl ExactSizeIterator<Item = &str> + Clone {
        self.ids(&self.plan.unbudgeted)
    }
}

#[derive(Debug, Clone, Copy)]
pub(super) struct PlannedStep<'a> {
    pub(super) id: &'a str,
    /// The action key: `run`, `http`, …
    pub(super) action: &'static str,
    pub(super) budget_ms: Option<u64>,
    pub(super) start_ms: u64,
    pub(super) finish_ms: u64,
    pub(super) skip: Option<&'a crate::plan::Skip>,
    pub(super) critical: bool,
    pub(super) read_only: bool,
    pub(super) status: Status,
}

/// Section 4.
#[derive(Debug, Clone)]
pub(super) struct CheckRow {
    pub(super) check: String,
    pub(super) step: Option<String>,
    pub(super) phase: CheckPhase,
    pub(super) probe: String,
    pub(super) target: String,
    pub(super) started_at: DateTime<Utc>,
    pub(super) passed: Option<bool>,
    pub(super) attempts: u32,
    pub(super) first_pass_ms: Option<u64>,
    pub(super) duration_ms: Option<u64>,
    pub(super) detail: String,
    /// A `history` probe's figures.
    pub(super) history: Option<crate::event::HistoryFigures>,
}

impl CheckRow {
    pub(super) fn result(&self) -> &'static str {
        match self.passed {
            Some(true) => "passed",
            Some(false) => "failed",
            None => "unfinished",
        }
    }
}

/// Section 5.
#[derive(Debug, Clone)]
pub(super) struct ApprovalRow {
    pub(super) step: String,
    /// `confirm` (before the step) or `manual` (the step's action).
    pub(super) kind: &'static str,
    pub(super) question: Option<String>,
    pub(super) asked_at: Option<DateTime<Utc>>,
    pub(super) answered_at: Option<DateTime<Utc>>,
    /// `approved`, `declined` or `unanswered`.
    pub(super) decision: &'static str,
    pub(super) by: Option<String>,
    pub(super) how: Option<ApprovalHow>,
    pub(super) reason: Option<String>,
    /// A manual step's answers to its `inputs` (masked when secret), in the order given.
    pub(super) inputs: Vec<InputRow>,
    /// The OS user who answered.
    pub(super) os_user: Option<String>,
    /// Each approval of a request that needed several.
    pub(super) approvers: Vec<crate::event::Approver>,
    /// Answers the run refused: name, OS user, why.
    pub(super) refused: Vec<(String, String, String)>,
    /// It waited for `runbook approve`: the rule it waited under.
    pub(super) waited_for: Option<(u32, bool)>,
    /// Declined because nobody answered within `confirm_timeout`.
    pub(super) timed_out: bool,
}

impl ApprovalRow {
    /// Who answered, for people: the name given, with the OS user where it came from another
    /// process; each approver of a request that needed several.
    pub(super) fn who(&self) -> Option<String> {
        if !self.approvers.is_empty() {
            let each: Vec<String> = self
                .approvers
                .iter()
                .map(|a| format!("{} (OS user {})", a.by, a.os_user))
                .collect();
            return Some(each.join(", "));
        }
        let by = self.by.clone()?;
        Some(match (&self.os_user, self.how) {
            (Some(u), Some(ApprovalHow::Remote)) => format!("{by} (OS user {u})"),
            (Some(u), None) if self.waited_for.is_some() => format!("{by} (OS user {u})"),
            _ => by,
        })
    }
}

/// One answer of a manual step.
#[derive(Debug, Clone)]
pub(super) struct InputRow {
    pub(super) input: String,
    pub(super) value: String,
    pub(super) by: String,
    pub(super) how: ApprovalHow,
    pub(super) at: DateTime<Utc>,
}

/// Section 6: a step that failed, was cancelled, or was left unfinished.
#[derive(Debug, Clone)]
pub(super) struct Failure {
    pub(super) step: String,
    pub(super) status: Status,
    pub(super) exit_code: Option<i32>,
    pub(super) reason: Option<String>,
    pub(super) attempts: usize,
    pub(super) group_empty: Option<bool>,
    pub(super) pgid: Option<u32>,
    /// `None` under `include_logs = "none"`, and for a step that never started (its approval
    /// was declined, a template failed): it has no output.
    pub(super) log: Option<LogTail>,
}

/// One output of one step, masked as the journal holds it.
#[derive(Debug, Clone)]
pub(super) struct OutputRow {
    pub(super) step: String,
    pub(super) name: String,
    pub(super) value: String,
}

#[derive(Debug, Clone)]
pub(super) struct RollbackRow {
    pub(super) step: String,
    pub(super) command: String,
    pub(super) started_at: DateTime<Utc>,
    /// `ok`, `failed`, `not_started` (its command never ran) or `unfinished`.
    pub(super) result: &'static str,
    pub(super) exit_code: Option<i32>,
    pub(super) duration_ms: Option<u64>,
    pub(super) reason: Option<String>,
    /// The last lines of a rollback that did not succeed; `None` for one that did, and under
    /// `include_logs = "none"`.
    pub(super) log: Option<LogTail>,
}

/// Section 7.
#[derive(Debug, Clone)]
pub(super) struct NotificationRow {
    pub(super) at: DateTime<Utc>,
    pub(super) channel: String,
    pub(super) about: String,
    pub(super) sent: bool,
    pub(super) http_status: Option<u16>,
    /// Why it failed (the text of a sent message is not repeated).
    pub(super) reason: Option<String>,
}

/// Section 8.
#[derive(Debug, Clone)]
pub(super) struct Comparison {
    pub(super) run_id: String,
    pub(super) started_at: Option<DateTime<Utc>>,
    pub(super) version: Option<String>,
    pub(super) rto_then_ms: Option<u64>,
    pub(super) rto_now_ms: Option<u64>,
    pub(super) slower: Vec<Slower>,
}

#[derive(Debug, Clone)]
pub(super) struct Slower {
    pub(super) step: String,
    pub(super) then_ms: u64,
    pub(super) now_ms: u64,
    /// Rounded down.
    pub(super) percent: u64,
}

/// The whole report.
#[derive(Debug)]
pub(super) struct Report<'a> {
    pub(super) title: String,
    pub(super) header: Header,
    pub(super) outcome: Outcome,
    /// Iterated with [`StepRows::iter`].
    pub(super) steps: StepRows<'a>,
    pub(super) plan: Option<PlanFacts>,
    /// Every step's outputs, in the timeline's order: the evidence (backup names, checksums,
    /// counts).
    pub(super) outputs: Vec<OutputRow>,
    pub(super) checks: Vec<CheckRow>,
    pub(super) approvals: Vec<ApprovalRow>,
    pub(super) include_logs: IncludeLogs,
    pub(super) failures: Vec<Failure>,
    pub(super) rollbacks: Vec<RollbackRow>,
    /// Every step's last lines, under `include_logs = "all"`.
    pub(super) all_logs: Vec<LogTail>,
    /// `logs/` as a link target relative to the report, when the report sits beside it.
    pub(super) logs_link: Option<String>,
    pub(super) notifications: Vec<NotificationRow>,
    /// `None`: no previous successful run.
    pub(super) comparison: Option<Comparison>,
    /// `None`: unknown, the playbook did not validate.
    pub(super) signoff: Option<Vec<String>>,
}

pub(super) fn ms_i64(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}
