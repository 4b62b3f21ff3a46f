//! Journal → [`RunState`]: what happened in a run, rebuilt from its events alone. A line cut
//! off by a crash (an event that ends too early) is skipped wherever it is, since the next
//! writer starts on a fresh line after it; any other broken line is an error, never skipped.

use compact_str::CompactString;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use indexmap::IndexMap;

use crate::event::{
    ApprovalHow, Approver, CheckPhase, Event, HistoryFigures, MaskedSpan, Mode, Record, RunStatus,
    StepStatus,
};

/// Why a journal cannot be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReplayError {
    #[error("failed to read `{}`", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{}` line {line} is not a journal event: {reason}", path.display())]
    Corrupt {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    #[error("`{}` has no run_started event", path.display())]
    NoStart { path: PathBuf },
}

/// `run_started`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Started {
    pub(crate) ts: DateTime<Utc>,
    pub(crate) playbook: String,
    pub(crate) path: String,
    pub(crate) version: String,
    pub(crate) sha256: String,
    pub(crate) mode: Mode,
    pub(crate) env: Option<String>,
    pub(crate) commander: String,
    pub(crate) vars: BTreeMap<String, serde_json::Value>,
    pub(crate) incident_start: Option<DateTime<Utc>>,
    pub(crate) dry_run: bool,
    pub(crate) host: String,
    pub(crate) run_dir: String,
    pub(crate) runbook_version: String,
    pub(crate) max_parallel: Option<usize>,
    pub(crate) selection: Option<String>,
    /// `--ticket ID`.
    pub(crate) ticket: Option<String>,
    /// Where the secrets of masked string vars are (see [`crate::event::unmask`]).
    pub(crate) secret_spans: BTreeMap<String, Vec<MaskedSpan>>,
}

/// `run_finished`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Finished {
    pub(crate) ts: DateTime<Utc>,
    pub(crate) status: RunStatus,
    pub(crate) duration_ms: u64,
    pub(crate) failures_tolerated: u32,
    pub(crate) rto_objective_ms: Option<u64>,
    pub(crate) rto_achieved_ms: Option<u64>,
    pub(crate) rpo_objective_ms: Option<u64>,
    pub(crate) rpo_achieved_ms: Option<u64>,
    pub(crate) recovery_point: Option<DateTime<Utc>>,
    pub(crate) recovery_point_error: Option<String>,
}

/// The last finished attempt of a step: what the report reads of its attempts (their times
/// and durations are the journal's; a list of them was a fifth of a report's memory, #18).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LastAttempt {
    pub(crate) exit_code: Option<i32>,
    pub(crate) reason: Option<String>,
}

/// Everything the journal says about one step (its last segment, after a resume).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct StepRecord {
    /// Held in place (ids are short): a report of 10,000 steps read 20,000 fewer allocations.
    pub(crate) id: CompactString,
    /// Held in place when short, as the id is (a title is the id when the step has none).
    pub(crate) title: Option<CompactString>,
    /// The action key (`run`, `http`, …), in place.
    pub(crate) action: Option<CompactString>,
    pub(crate) started: Option<DateTime<Utc>>,
    pub(crate) finished: Option<DateTime<Utc>>,
    pub(crate) status: Option<StepStatus>,
    pub(crate) reason: Option<String>,
    pub(crate) exit_code: Option<i32>,
    /// Masked, as journaled.
    pub(crate) outputs: BTreeMap<String, String>,
    /// Where the secrets of masked outputs are (see [`crate::event::unmask`]).
    pub(crate) secret_spans: BTreeMap<String, Vec<MaskedSpan>>,
    /// How many attempts finished.
    pub(crate) attempts: u32,
    pub(crate) last_attempt: Option<LastAttempt>,
    pub(crate) duration_ms: Option<u64>,
    pub(crate) would_run: Option<String>,
    pub(crate) budget_exceeded_ms: Option<(u64, u64)>,
    /// After a kill: whether the process group was empty.
    pub(crate) group_empty: Option<bool>,
    /// The process group of the latest attempt's command, and when it started.
    pub(crate) pgid: Option<(u32, DateTime<Utc>)>,
    /// Started and not finished: the runner died under it, or the run was cut short.
    pub(crate) in_flight: bool,
    /// A cleanup step (`always = true`).
    pub(crate) always: bool,
    /// The host of `[hosts]` it ran on; `None`: the runner.
    pub(crate) host: Option<String>,
}

/// One health check run (all its attempts).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CheckRecord {
    pub(crate) check: String,
    pub(crate) step: Option<String>,
    pub(crate) phase: CheckPhase,
    pub(crate) probe: String,
    pub(crate) target: String,
    pub(crate) started: DateTime<Utc>,
    pub(crate) attempts: u32,
    pub(crate) passed: Option<bool>,
    pub(crate) first_pass_ms: Option<u64>,
    pub(crate) duration_ms: Option<u64>,
    pub(crate) detail: String,
    /// A `history` probe's figures, from its last attempt.
    pub(crate) history: Option<HistoryFigures>,
}

/// An approval asked, and its answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApprovalRecord {
    pub(crate) step: String,
    pub(crate) question: Option<String>,
    pub(crate) asked: Option<DateTime<Utc>>,
    pub(crate) answered: Option<DateTime<Utc>>,
    pub(crate) given: Option<bool>,
    pub(crate) by: Option<String>,
    pub(crate) how: Option<ApprovalHow>,
    pub(crate) reason: Option<String>,
    /// The wait the answer journaled (`waited_ms`).
    pub(crate) waited_ms: Option<u64>,
    /// A manual step's answers (`input_given`), in the order given.
    pub(crate) inputs: Vec<InputAnswer>,
    /// It waited for `runbook approve` (`approval_waiting`).
    pub(crate) waiting: Option<WaitingRecord>,
    /// The OS user who answered (one answer).
    pub(crate) os_user: Option<String>,
    /// Each approval of a request that needed several, in the order given.
    pub(crate) approvers: Vec<Approver>,
    /// Answers the run refused: the name given, the OS user, why.
    pub(crate) refused: Vec<(String, String, String)>,
    /// Declined because nobody answered within `confirm_timeout`.
    pub(crate) timed_out: bool,
}

/// A request that waited for `runbook approve` / `runbook decline`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WaitingRecord {
    pub(crate) since: DateTime<Utc>,
    pub(crate) approve: String,
    pub(crate) decline: String,
    pub(crate) approvers: u32,
    pub(crate) not_commander: bool,
    pub(crate) timeout_ms: Option<u64>,
}

impl ApprovalRecord {
    /// Asked of `step` at `ts` (with the question, when the request is on record), not answered.
    /// The answer of `ApprovalGiven` (`given`) or `ApprovalDeclined`: who, when, after how long.
    fn answer(
        &mut self,
        ts: DateTime<Utc>,
        waited_ms: u64,
        given: bool,
        by: &str,
        os_user: Option<&String>,
    ) {
        self.answered = Some(ts);
        self.waited_ms = Some(waited_ms);
        self.given = Some(given);
        self.by = Some(by.to_owned());
        self.os_user = os_user.cloned();
    }

    fn asked(step: &str, question: Option<String>, ts: DateTime<Utc>) -> Self {
        Self {
            step: step.to_owned(),
            question,
            asked: Some(ts),
            answered: None,
            given: None,
            by: None,
            how: None,
            reason: None,
            waited_ms: None,
            inputs: Vec::new(),
            waiting: None,
            os_user: None,
            approvers: Vec::new(),
            refused: Vec::new(),
            timed_out: false,
        }
    }

    /// Still waiting for `runbook approve`: it said so, and nobody answered yet.
    #[must_use]
    pub(crate) fn is_waiting(&self) -> bool {
        self.waiting.is_some() && self.answered.is_none()
    }
}

/// One answer of a manual step's inputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InputAnswer {
    pub(crate) ts: DateTime<Utc>,
    pub(crate) input: String,
    /// Masked when the input is secret.
    pub(crate) value: String,
    pub(crate) by: String,
    pub(crate) how: ApprovalHow,
}

/// A rollback run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RollbackRecord {
    pub(crate) step: String,
    pub(crate) command: String,
    pub(crate) started: DateTime<Utc>,
    pub(crate) ok: Option<bool>,
    pub(crate) exit_code: Option<i32>,
    pub(crate) duration_ms: Option<u64>,
    pub(crate) reason: Option<String>,
    /// Its command started a process (a rollback whose template failed never did).
    pub(crate) process_started: bool,
}

/// A notification sent or failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NotificationRecord {
    pub(crate) ts: DateTime<Utc>,
    pub(crate) channel: String,
    pub(crate) about: String,
    pub(crate) sent: bool,
    pub(crate) detail: String,
    pub(crate) http_status: Option<u16>,
}

/// A segment boundary: the run was resumed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ResumeRecord {
    pub(crate) ts: DateTime<Utc>,
    pub(crate) commander: String,
    pub(crate) gap_ms: u64,
    pub(crate) rerun: Vec<String>,
    pub(crate) playbook_changed: bool,
}

/// A run as its journal tells it.
#[derive(Debug, Clone, Default)]
pub(crate) struct RunState {
    pub(crate) run_id: String,
    pub(crate) started: Option<Started>,
    /// In the order they first appear.
    pub(crate) steps: IndexMap<CompactString, StepRecord>,
    pub(crate) checks: Vec<CheckRecord>,
    pub(crate) approvals: Vec<ApprovalRecord>,
    pub(crate) rollbacks: Vec<RollbackRecord>,
    pub(crate) notifications: Vec<NotificationRecord>,
    pub(crate) notify_requests: Vec<(DateTime<Utc>, String, String)>,
    pub(crate) rto_warnings: Vec<(DateTime<Utc>, u64)>,
    pub(crate) locks_broken: Vec<(DateTime<Utc>, String, bool)>,
    /// Files of the record that could not be written: when, which, the OS error.
    pub(crate) record_failures: Vec<(DateTime<Utc>, String, String)>,
    pub(crate) interrupted: Option<(DateTime<Utc>, String)>,
    pub(crate) resumed: Vec<ResumeRecord>,
    pub(crate) finished: Option<Finished>,
    /// The time of the last event.
    pub(crate) last_ts: Option<DateTime<Utc>>,
    /// The journal has a cut-off line (the machine stopped while it was written).
    pub(crate) truncated: bool,
}

impl RunState {
    /// Reads a journal file, a line at a time: neither its text nor its records are ever all
    /// held at once (a 10,000-step journal is 7 MB).
    pub(crate) fn load(path: &Path) -> Result<Self, ReplayError> {
        use std::io::BufRead as _;
        let read_error = |source| ReplayError::Read {
            path: path.to_path_buf(),
            source,
        };
        let mut reader =
            std::io::BufReader::with_capacity(64 * 1024, File::open(path).map_err(read_error)?);
        let mut state = Self::default();
        let mut truncated = false;
        let mut bytes = Vec::new();
        let mut i = 0;
        loop {
            bytes.clear();
            if reader.read_until(b'\n', &mut bytes).map_err(read_error)? == 0 {
                break;
            }
            i += 1;
            // Lossy line by line is lossy on the whole text: a line ends at an ASCII byte,
            // which no invalid sequence spans. A valid line (all of them, but for damage) is
            // checked by `from_utf8`, several times faster than the lossy scan (#18).
            let line = match std::str::from_utf8(&bytes) {
                Ok(line) => Cow::Borrowed(line),
                Err(_) => String::from_utf8_lossy(&bytes),
            };
            let content = line.trim_end();
            if content.is_empty() {
                continue;
            }
            match serde_json::from_str::<Record>(content) {
                Ok(record) => state.fold(&record),
                // A line cut off by a power cut is the start of an event that ends too early:
                // skipped, wherever it is (the next writer started on a fresh line after it).
                // Anything else that does not parse is damage, never skipped.
                Err(e) if e.is_eof() => truncated = true,
                Err(e) => {
                    return Err(ReplayError::Corrupt {
                        path: path.to_path_buf(),
                        line: i,
                        reason: e.to_string(),
                    });
                }
            }
        }
        state.truncated = truncated;
        // The map grew by doubling: up to half of its slots (at 10,000 steps, 2 MB) would stay
        // empty while the report is built from it.
        state.steps.shrink_to_fit();
        if state.started.is_none() {
            return Err(ReplayError::NoStart {
                path: path.to_path_buf(),
            });
        }
        Ok(state)
    }

    /// Folds events into the state.
    #[cfg(test)]
    #[must_use]
    pub(crate) fn from_records(records: &[Record]) -> Self {
        let mut s = Self::default();
        for r in records {
            s.fold(r);
        }
        s
    }

    /// Folds one event into the state.
    #[expect(clippy::too_many_lines, reason = "one arm per event")]
    fn fold(&mut self, r: &Record) {
        let s = self;
        // Publishing comes after the report and is no part of it: `runbook report` rebuilds
        // the bytes that were published.
        if matches!(
            r.event,
            Event::ReportPublished { .. } | Event::ReportPublishFailed { .. }
        ) {
            return;
        }
        let ts = r.ts;
        s.run_id.clone_from(&r.run_id);
        s.last_ts = Some(ts);
        match &r.event {
            Event::RunStarted {
                playbook,
                path,
                version,
                sha256,
                mode,
                env,
                commander,
                vars,
                incident_start,
                dry_run,
                host,
                run_dir,
                runbook_version,
                max_parallel,
                selection,
                ticket,
            } => {
                s.started = Some(Started {
                    ts,
                    playbook: playbook.clone(),
                    path: path.clone(),
                    version: version.clone(),
                    sha256: sha256.clone(),
                    mode: *mode,
                    env: env.clone(),
                    commander: commander.clone(),
                    vars: vars.clone(),
                    incident_start: *incident_start,
                    dry_run: *dry_run,
                    host: host.clone(),
                    run_dir: run_dir.clone(),
                    runbook_version: runbook_version.clone(),
                    max_parallel: *max_parallel,
                    selection: selection.clone(),
                    ticket: ticket.clone(),
                    secret_spans: BTreeMap::new(),
                });
            }
            Event::StepStarted {
                step,
                title,
                action,
                // The command is the log's and the terminal's: nothing the record rebuilds
                // reads it, and at 10,000 steps it is half a megabyte.
                command: _,
                always,
            } => {
                let rec = s.step(step);
                // A step started again (after a resume) starts a new segment of its record.
                *rec = StepRecord {
                    id: step.as_str().into(),
                    ..StepRecord::default()
                };
                rec.title = Some(title.as_str().into());
                rec.action = Some(action.as_str().into());
                rec.host.clone_from(&r.host);
                rec.always = *always;
                rec.started = Some(ts);
                rec.in_flight = true;
            }
            Event::StepAttemptFinished {
                step,
                exit_code,
                reason,
                ..
            } => {
                let rec = s.step(step);
                rec.attempts += 1;
                rec.last_attempt = Some(LastAttempt {
                    exit_code: *exit_code,
                    reason: reason.clone(),
                });
            }
            // A rollback's process runs under its step's id: it is the rollback's, not the step's.
            Event::ProcessGroupChecked { step, empty, .. } => {
                if s.open_rollback(step).is_none() {
                    s.step(step).group_empty = Some(*empty);
                }
            }
            Event::ProcessStarted { step, pgid } => match s.open_rollback(step) {
                Some(rb) => rb.process_started = true,
                None => s.step(step).pgid = Some((*pgid, ts)),
            },
            Event::StepFinished {
                step,
                status,
                reason,
                outputs,
                exit_code,
                duration_ms,
                would_run,
                ..
            } => {
                let rec = s.step(step);
                rec.finished = Some(ts);
                rec.status = Some(*status);
                rec.reason.clone_from(reason);
                rec.outputs.clone_from(outputs);
                rec.exit_code = *exit_code;
                rec.duration_ms = Some(*duration_ms);
                rec.would_run.clone_from(would_run);
                rec.in_flight = false;
            }
            Event::VarSecrets { vars } => {
                if let Some(started) = &mut s.started {
                    started.secret_spans.clone_from(vars);
                }
            }
            Event::OutputSecrets { step, outputs } => {
                s.step(step).secret_spans.clone_from(outputs);
            }
            Event::BudgetExceeded {
                step,
                budget_ms,
                elapsed_ms,
            } => {
                s.step(step).budget_exceeded_ms = Some((*budget_ms, *elapsed_ms));
            }
            Event::CheckStarted {
                check,
                step,
                phase,
                probe,
                target,
            } => s.checks.push(CheckRecord {
                check: check.clone(),
                step: step.clone(),
                phase: *phase,
                probe: probe.clone(),
                target: target.clone(),
                started: ts,
                attempts: 0,
                passed: None,
                first_pass_ms: None,
                duration_ms: None,
                detail: String::new(),
                history: None,
            }),
            Event::CheckAttempt {
                check,
                step,
                attempt,
                detail,
                history,
                ..
            } => {
                if let Some(c) = s.open_check(check, step.as_deref()) {
                    c.attempts = *attempt;
                    c.detail.clone_from(detail);
                    c.history = *history;
                }
            }
            Event::CheckFinished {
                check,
                step,
                passed,
                attempts,
                first_pass_ms,
                duration_ms,
                detail,
                ..
            } => {
                if let Some(c) = s.open_check(check, step.as_deref()) {
                    c.passed = Some(*passed);
                    c.attempts = *attempts;
                    c.first_pass_ms = *first_pass_ms;
                    c.duration_ms = Some(*duration_ms);
                    c.detail.clone_from(detail);
                }
            }
            Event::ApprovalRequested { step, question } => {
                s.approvals
                    .push(ApprovalRecord::asked(step, Some(question.clone()), ts));
            }
            Event::ApprovalWaiting {
                step,
                approve,
                decline,
                approvers,
                not_commander,
                timeout_ms,
                ..
            } => {
                let a = s.open_approval(step, ts);
                a.waiting = Some(WaitingRecord {
                    since: ts,
                    approve: approve.clone(),
                    decline: decline.clone(),
                    approvers: *approvers,
                    not_commander: *not_commander,
                    timeout_ms: *timeout_ms,
                });
            }
            Event::ApprovalReceived {
                step,
                by,
                os_user,
                waited_ms,
                ..
            } => {
                let a = s.open_approval(step, ts);
                a.approvers.push(Approver {
                    by: by.clone(),
                    os_user: os_user.clone(),
                    waited_ms: *waited_ms,
                });
            }
            Event::ApprovalRefused {
                step,
                by,
                os_user,
                reason,
            } => {
                let a = s.open_approval(step, ts);
                a.refused
                    .push((by.clone(), os_user.clone(), reason.clone()));
            }
            Event::ApprovalGiven {
                step,
                by,
                how,
                waited_ms,
                os_user,
                approvers,
            } => {
                let a = s.open_approval(step, ts);
                a.answer(ts, *waited_ms, true, by, os_user.as_ref());
                a.how = Some(*how);
                if !approvers.is_empty() {
                    a.approvers.clone_from(approvers);
                }
            }
            Event::ApprovalDeclined {
                step,
                by,
                reason,
                waited_ms,
                os_user,
                timed_out,
            } => {
                let a = s.open_approval(step, ts);
                a.answer(ts, *waited_ms, false, by, os_user.as_ref());
                a.reason = Some(reason.clone());
                a.timed_out = *timed_out;
            }
            Event::InputGiven {
                step,
                input,
                value,
                by,
                how,
            } => {
                let a = s.open_approval(step, ts);
                a.inputs.push(InputAnswer {
                    ts,
                    input: input.clone(),
                    value: value.clone(),
                    by: by.clone(),
                    how: *how,
                });
            }
            Event::RollbackStarted { step, command } => s.rollbacks.push(RollbackRecord {
                step: step.clone(),
                command: command.clone(),
                started: ts,
                ok: None,
                exit_code: None,
                duration_ms: None,
                reason: None,
                process_started: false,
            }),
            Event::RollbackFinished {
                step,
                ok,
                exit_code,
                duration_ms,
                reason,
            } => {
                if let Some(rb) = s.open_rollback(step) {
                    rb.ok = Some(*ok);
                    rb.exit_code = *exit_code;
                    rb.duration_ms = Some(*duration_ms);
                    rb.reason.clone_from(reason);
                }
            }
            Event::NotifyRequested { step, text, .. } => {
                s.notify_requests.push((ts, step.clone(), text.clone()));
            }
            Event::NotificationSent {
                channel,
                about,
                text,
                ..
            } => s.notifications.push(NotificationRecord {
                ts,
                channel: channel.clone(),
                about: about.clone(),
                sent: true,
                detail: text.clone(),
                http_status: None,
            }),
            Event::NotificationFailed {
                channel,
                about,
                reason,
                http_status,
            } => s.notifications.push(NotificationRecord {
                ts,
                channel: channel.clone(),
                about: about.clone(),
                sent: false,
                detail: reason.clone(),
                http_status: *http_status,
            }),
            Event::RtoWarning { elapsed_ms, .. } => s.rto_warnings.push((ts, *elapsed_ms)),
            Event::RunInterrupted { signal } => s.interrupted = Some((ts, signal.clone())),
            Event::RunResumed {
                commander,
                gap_ms,
                rerun,
                playbook_changed,
            } => {
                // A resumed run is no longer finished or interrupted until it says so again.
                s.finished = None;
                s.interrupted = None;
                s.resumed.push(ResumeRecord {
                    ts,
                    commander: commander.clone(),
                    gap_ms: *gap_ms,
                    rerun: rerun.clone(),
                    playbook_changed: *playbook_changed,
                });
            }
            Event::LockBroken {
                holder_run_id,
                stale,
                ..
            } => s.locks_broken.push((ts, holder_run_id.clone(), *stale)),
            Event::RunFinished {
                status,
                duration_ms,
                failures_tolerated,
                rto_objective_ms,
                rto_achieved_ms,
                rpo_objective_ms,
                rpo_achieved_ms,
                recovery_point,
                recovery_point_error,
            } => {
                s.finished = Some(Finished {
                    ts,
                    status: *status,
                    duration_ms: *duration_ms,
                    failures_tolerated: *failures_tolerated,
                    rto_objective_ms: *rto_objective_ms,
                    rto_achieved_ms: *rto_achieved_ms,
                    rpo_objective_ms: *rpo_objective_ms,
                    rpo_achieved_ms: *rpo_achieved_ms,
                    recovery_point: *recovery_point,
                    recovery_point_error: recovery_point_error.clone(),
                });
            }
            Event::RecordFailed { path, error } => {
                // Written after `run_finished` when the report could not be written: the
                // run failed all the same.
                if let Some(f) = &mut s.finished {
                    f.status = RunStatus::Failed;
                }
                s.record_failures.push((ts, path.clone(), error.clone()));
            }
            // A dry run's previews were never sent: the report has no row for them.
            Event::StepOutput { .. }
            | Event::NotificationPreviewed { .. }
            | Event::ReportPublished { .. }
            | Event::ReportPublishFailed { .. } => {}
        }
    }

    fn step(&mut self, id: &str) -> &mut StepRecord {
        self.steps
            .entry(CompactString::from(id))
            .or_insert_with(|| StepRecord {
                id: CompactString::from(id),
                ..StepRecord::default()
            })
    }

    /// The rollback of `step` that has started and not finished.
    fn open_rollback(&mut self, step: &str) -> Option<&mut RollbackRecord> {
        self.rollbacks
            .iter_mut()
            .rev()
            .find(|rb| rb.step == step && rb.ok.is_none())
    }

    fn open_check(&mut self, check: &str, step: Option<&str>) -> Option<&mut CheckRecord> {
        self.checks
            .iter_mut()
            .rev()
            .find(|c| c.check == check && c.step.as_deref() == step)
    }

    fn open_approval(&mut self, step: &str, ts: DateTime<Utc>) -> &mut ApprovalRecord {
        if let Some(i) = self
            .approvals
            .iter()
            .rposition(|a| a.step == step && a.given.is_none())
        {
            return &mut self.approvals[i];
        }
        // Given by a flag without a request on record.
        self.approvals.push(ApprovalRecord::asked(step, None, ts));
        self.approvals.last_mut().expect("just pushed")
    }

    /// Steps started and never finished: the runner died under them.
    #[must_use]
    pub(crate) fn in_flight(&self) -> Vec<&StepRecord> {
        self.steps.values().filter(|s| s.in_flight).collect()
    }

    /// The run's status: finished, interrupted, or still open (crashed or running).
    #[must_use]
    pub(crate) fn status_word(&self) -> &'static str {
        match (&self.finished, &self.interrupted) {
            (Some(f), _) => f.status.as_str(),
            (None, Some(_)) => "interrupted",
            (None, None) => "incomplete",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_cut_off_by_a_crash_is_skipped_but_a_broken_middle_line_is_an_error() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("journal.jsonl");
        let start = r#"{"ts":"2026-11-23T02:00:00.000Z","run_id":"r","event":"run_started","playbook":"p","path":"p.toml","version":"1.0.0","sha256":"x","mode":"drill","env":null,"commander":"me","vars":{},"incident_start":null,"dry_run":false,"host":"h","run_dir":"d","runbook_version":"0","max_parallel":1}"#;
        let step = r#"{"ts":"2026-11-23T02:00:01.000Z","run_id":"r","event":"step_started","step":"a","title":"a","action":"run","command":"true"}"#;
        std::fs::write(
            &path,
            format!("{start}\n{step}\n{{\"ts\":\"2026-11-23T02:00:02"),
        )
        .expect("write");
        let state = RunState::load(&path).expect("readable");
        assert!(state.truncated);
        assert_eq!(state.in_flight().len(), 1);
        std::fs::write(&path, format!("{start}\nnot json\n{step}\n")).expect("write");
        let err = RunState::load(&path).expect_err("corrupt");
        assert!(err.to_string().contains("line 2"), "{err}");
        // A whole event glued to the end of another is damage too, not a cut-off line.
        std::fs::write(&path, format!("{start}\n{{\"ts\":\"2026{step}\n")).expect("write");
        let err = RunState::load(&path).expect_err("corrupt");
        assert!(err.to_string().contains("line 2"), "{err}");
    }

    #[test]
    fn cut_off_lines_followed_by_fresh_ones_are_skipped_anywhere() {
        // See: #11
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("journal.jsonl");
        let start = r#"{"ts":"2026-11-23T02:00:00.000Z","run_id":"r","event":"run_started","playbook":"p","path":"p.toml","version":"1.0.0","sha256":"x","mode":"drill","env":null,"commander":"me","vars":{},"incident_start":null,"dry_run":false,"host":"h","run_dir":"d","runbook_version":"0","max_parallel":1}"#;
        let step = r#"{"ts":"2026-11-23T02:00:01.000Z","run_id":"r","event":"step_started","step":"a","title":"a","action":"run","command":"true"}"#;
        let cut = &step[..40];
        std::fs::write(&path, format!("{start}\n{cut}\n{step}\n{cut}\n{cut}\n")).expect("write");
        let state = RunState::load(&path).expect("readable");
        assert!(state.truncated);
        assert_eq!(state.in_flight().len(), 1);
    }

    #[test]
    fn a_journal_read_line_by_line_is_the_journal_read_whole() {
        // See: #18
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("journal.jsonl");
        let start = r#"{"ts":"2026-11-23T02:00:00.000Z","run_id":"r","event":"run_started","playbook":"p","path":"p.toml","version":"1.0.0","sha256":"x","mode":"drill","env":null,"commander":"me","vars":{},"incident_start":null,"dry_run":false,"host":"h","run_dir":"d","runbook_version":"0","max_parallel":1}"#;
        let mut bytes = format!("{start}\n\n").into_bytes();
        // A title with a byte that is no UTF-8, read as U+FFFD (as when the whole text was
        // decoded at once); the last line has no newline.
        for (i, last) in [(0, false), (1, false), (2, true)] {
            bytes.extend_from_slice(
                format!(r#"{{"ts":"2026-11-23T02:00:01.000Z","run_id":"r","event":"step_started","step":"s{i}","title":"t"#)
                    .as_bytes(),
            );
            bytes.push(0xE2);
            bytes.extend_from_slice(br#"","action":"run","command":"true"}"#);
            if !last {
                bytes.extend_from_slice(b"  \r\n");
            }
        }
        std::fs::write(&path, &bytes).expect("write");
        let state = RunState::load(&path).expect("readable");
        assert!(!state.truncated);
        let titles: Vec<_> = state.steps.values().map(|s| s.title.clone()).collect();
        assert_eq!(titles, vec![Some("t\u{FFFD}".into()); 3]);
        // Line numbers count the empty line.
        bytes.extend_from_slice(b"\nnot json\n");
        std::fs::write(&path, &bytes).expect("write");
        let err = RunState::load(&path).expect_err("corrupt");
        assert!(err.to_string().contains("line 6"), "{err}");
    }
}
