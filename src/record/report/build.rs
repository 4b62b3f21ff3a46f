//! Run record → report facts: statuses (with `rolled_back` computed from the rollbacks),
//! offsets from the run's start, budgets and overruns, verdicts against the objectives, failure
//! tails from `logs/`, the plan, and the comparison with the previous successful run.

use crate::record::log_tail;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::event::{ApprovalHow, Mode, StepStatus};
use crate::plan::Plan;
use crate::playbook::duration::HumanDuration;
use crate::playbook::model::{IncludeLogs, Playbook, Step, VarValue};
use crate::record::replay::{RollbackRecord, RunState, StepRecord};

use super::model::{
    ApprovalRow, CheckRow, Comparison, Failure, Gap, Header, InputRow, Measure, NotificationRow,
    Outcome, OutputRow, PlanFacts, PlannedStep, RecoveryPoint, Report, ReportInput, RollbackRow,
    Slower, Status, StepRow, StepRows, TAIL_LINES, Verdict,
};

/// A step counts as slower than in the previous run beyond this ratio (and [`SLOWER_FLOOR_MS`]).
const SLOWER_PERCENT: u64 = 20;
/// Differences below this are process-start jitter, not a slower step.
const SLOWER_FLOOR_MS: u64 = 50;

impl<'a> Report<'a> {
    pub(super) fn build(input: &ReportInput<'a>) -> Self {
        let state = input.state;
        let header = header(input);
        // The playbook as the run had it: its `for_each` lists made from the run's vars.
        let plan = input
            .playbook
            .map(|p| Plan::with_vars(p, header.env.as_deref(), &run_vars(p, state)));
        let playbook = plan.as_ref().map(|p| p.playbook.as_ref());
        let run_start = header
            .started_at
            .or_else(|| state.steps.values().find_map(|s| s.started))
            .or(state.last_ts);
        let steps = StepRows::new(
            state,
            plan.as_ref().map(|p| Arc::clone(&p.playbook)),
            run_start,
        );
        let include_logs = playbook.map_or(IncludeLogs::default(), |p| p.report.include_logs);
        let failures = steps
            .iter()
            .filter(|s| s.status.is_failure())
            .map(|s| Failure {
                step: s.id.to_owned(),
                status: s.status,
                exit_code: s.exit_code,
                reason: s.reason.map(str::to_owned),
                attempts: s.attempts,
                group_empty: s.group_empty,
                pgid: s.pgid,
                log: (include_logs != IncludeLogs::None && s.started_at.is_some())
                    .then(|| log_tail::tail(input.logs, s.id, TAIL_LINES)),
            })
            .collect();
        let all_logs = if include_logs == IncludeLogs::All {
            steps
                .iter()
                .filter(|s| s.started_at.is_some())
                .map(|s| log_tail::tail(input.logs, s.id, TAIL_LINES))
                .filter(|t| !t.missing)
                .collect()
        } else {
            Vec::new()
        };
        Self {
            title: title(playbook, &header),
            outcome: outcome(state, playbook, &header, run_start),
            checks: check_rows(state),
            approvals: approval_rows(state),
            outputs: output_rows(state),
            rollbacks: rollback_rows(state, input.logs, include_logs),
            notifications: notification_rows(state),
            comparison: input.previous.map(|p| comparison(p, state, &steps)),
            signoff: playbook.map(|p| p.report.signoff.clone()),
            logs_link: logs_link(input.logs, input.report_path_hint),
            header,
            steps,
            plan: plan.map(|plan| PlanFacts {
                rto_objective_ms: plan.rto_objective_ms(),
                exceeds_rto: plan.exceeds_rto(),
                plan,
            }),
            include_logs,
            failures,
            all_logs,
        }
    }
}

/// Milliseconds from `from` to `to`, 0 when `to` is earlier.
pub(super) fn millis_between(from: DateTime<Utc>, to: DateTime<Utc>) -> u64 {
    u64::try_from((to - from).num_milliseconds()).unwrap_or(0)
}

fn header(input: &ReportInput<'_>) -> Header {
    let state = input.state;
    let started = state.started.as_ref();
    let pb = input.playbook.map(std::sync::Arc::as_ref);
    let ended_at = state
        .finished
        .as_ref()
        .map(|f| f.ts)
        .or_else(|| state.interrupted.as_ref().map(|(ts, _)| *ts));
    Header {
        run_id: state.run_id.clone(),
        playbook: started.map_or_else(
            || pb.map_or_else(|| "unknown".to_owned(), |p| p.meta.name.clone()),
            |s| s.playbook.clone(),
        ),
        version: started.map_or_else(
            || pb.map_or_else(|| "unknown".to_owned(), |p| p.meta.version.to_string()),
            |s| s.version.clone(),
        ),
        sha256: started.map_or_else(
            || pb.map_or_else(String::new, |p| p.sha256.clone()),
            |s| s.sha256.clone(),
        ),
        runbook_version: started.map_or_else(String::new, |s| s.runbook_version.clone()),
        mode: started.map(|s| s.mode),
        dry_run: started.is_some_and(|s| s.dry_run || s.mode == Mode::DryRun),
        env: started.and_then(|s| s.env.clone()),
        commander: started.map_or_else(String::new, |s| s.commander.clone()),
        ticket: started.and_then(|s| s.ticket.clone()),
        host: started.map_or_else(String::new, |s| s.host.clone()),
        started_at: started.map(|s| s.ts),
        last_event_at: if ended_at.is_none() {
            state.last_ts
        } else {
            None
        },
        ended_at,
        incident_start: started.and_then(|s| s.incident_start),
        selection: started.and_then(|s| s.selection.clone()),
        run_dir: started.map_or_else(String::new, |s| s.run_dir.clone()),
        report_path: input.report_path_hint.map(|p| p.display().to_string()),
        vars: started.map_or_else(Vec::new, |s| {
            s.vars.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
        }),
        playbook_valid: pb.is_some(),
    }
}

/// `[report] title` when it needs no rendering, else `<playbook title> — <run date>`.
fn title(playbook: Option<&Playbook>, header: &Header) -> String {
    if let Some(t) = playbook.and_then(|p| p.report.title.as_ref())
        && t.is_literal()
        && !t.source().trim().is_empty()
    {
        return t.source().trim().to_owned();
    }
    let name = playbook.map_or(header.playbook.as_str(), |p| p.meta.display_title());
    match header.started_at {
        Some(ts) => format!("{name} — {}", ts.format("%Y-%m-%d")),
        None => name.to_owned(),
    }
}

fn outcome(
    state: &RunState,
    playbook: Option<&Playbook>,
    header: &Header,
    run_start: Option<DateTime<Utc>>,
) -> Outcome {
    let finished = state.finished.as_ref();
    let recovered = state.status_word() == "ok";
    // The journal's objective, else the playbook's. Only a run that ended ok recovered
    // anything, and a dry run (whose clock timed the printing of commands) recovered nothing:
    // neither achieved an objective, whatever an older journal says.
    let measure = |journal: Option<u64>, meta: Option<HumanDuration>, achieved: Option<u64>| {
        let mut m = Measure::new(
            journal.or_else(|| meta.map(HumanDuration::as_millis)),
            achieved.filter(|_| recovered && !header.dry_run),
        );
        if header.dry_run {
            m.verdict = Verdict::DryRun;
        } else if !recovered {
            m.verdict = Verdict::NotAchieved;
        }
        m
    };
    let rto = measure(
        finished.and_then(|f| f.rto_objective_ms),
        playbook.and_then(|p| p.meta.rto.map(|o| o.duration)),
        finished.and_then(|f| f.rto_achieved_ms),
    );
    let rpo = measure(
        finished.and_then(|f| f.rpo_objective_ms),
        playbook.and_then(|p| p.meta.rpo.map(|o| o.duration)),
        finished.and_then(|f| f.rpo_achieved_ms),
    );
    let rpo_known =
        rpo.objective_ms.is_some() || finished.and_then(|f| f.rpo_achieved_ms).is_some();
    Outcome {
        status: state.status_word(),
        failures_tolerated: finished.map_or(0, |f| f.failures_tolerated),
        rto,
        rpo: rpo_known.then_some(rpo),
        recovery_point: recovery_point(state, playbook, header),
        interrupted: state.interrupted.clone(),
        gaps: state
            .resumed
            .iter()
            .map(|r| Gap {
                resumed_at: r.ts,
                commander: r.commander.clone(),
                length_ms: r.gap_ms,
                rerun: r.rerun.clone(),
                playbook_changed: r.playbook_changed,
            })
            .collect(),
        unfinished: state.in_flight().iter().map(|s| s.id.to_string()).collect(),
        locks_broken: state
            .locks_broken
            .iter()
            .map(|(_, id, stale)| (id.clone(), *stale))
            .collect(),
        rto_warnings_ms: state
            .rto_warnings
            .iter()
            .map(|(ts, elapsed)| run_start.map_or(*elapsed, |s| millis_between(s, *ts)))
            .collect(),
        journal_truncated: state.truncated,
        record_failures: state.record_failures.clone(),
    }
}

/// `recovery_point` as the journal recorded it, when the playbook sets one or the journal has it.
fn recovery_point(
    state: &RunState,
    playbook: Option<&Playbook>,
    header: &Header,
) -> Option<RecoveryPoint> {
    let finished = state.finished.as_ref();
    let at = finished.and_then(|f| f.recovery_point);
    let error = finished.and_then(|f| f.recovery_point_error.clone());
    let declared = playbook.is_some_and(|p| p.meta.recovery_point.is_some());
    if at.is_none() && error.is_none() && !declared {
        return None;
    }
    let error = error.or_else(|| {
        at.is_none().then(|| {
            if finished.is_some() {
                "the journal does not record it".to_owned()
            } else {
                "the run did not finish, so it was never rendered".to_owned()
            }
        })
    });
    Some(RecoveryPoint {
        at,
        error,
        rpo_from: header.incident_start.or(header.started_at),
        rpo_from_incident: header.incident_start.is_some(),
    })
}

impl<'a> StepRows<'a> {
    fn new(
        state: &'a RunState,
        playbook: Option<std::sync::Arc<Playbook>>,
        run_start: Option<DateTime<Utc>>,
    ) -> Self {
        // Found once for all rows: a scan of these per step is quadratic in a long run that was
        // resumed or rolled back.
        let rerun: HashSet<&str> = state
            .resumed
            .iter()
            .flat_map(|r| r.rerun.iter().map(String::as_str))
            .collect();
        let mut rollbacks: HashMap<&str, Vec<&RollbackRecord>> = HashMap::new();
        for rb in &state.rollbacks {
            rollbacks.entry(rb.step.as_str()).or_default().push(rb);
        }
        // A run that never finished has steps the journal never mentions.
        let unmentioned = state.finished.is_none() && state.interrupted.is_none();
        // Each record's playbook step, looked up once: the rows are made several times over.
        let planned = state
            .steps
            .keys()
            .map(|id| {
                playbook
                    .as_deref()
                    .and_then(|p| p.step_index(id))
                    .and_then(|i| u32::try_from(i).ok())
                    .unwrap_or(u32::MAX)
            })
            .collect();
        Self {
            state,
            playbook,
            planned,
            run_start,
            rerun,
            rollbacks,
            unmentioned,
        }
    }

    /// The rows, made one at a time.
    pub(super) fn iter(&self) -> impl Iterator<Item = StepRow<'_>> {
        let state = self.state;
        let recorded = state
            .steps
            .values()
            .zip(self.planned.iter())
            .map(|(rec, &planned)| self.row(rec, planned));
        let unmentioned = self
            .playbook
            .as_deref()
            .filter(|_| self.unmentioned)
            .into_iter()
            .flat_map(|p| &p.steps)
            .filter(|step| !state.steps.contains_key(step.id.as_str()))
            .map(|step| StepRow {
                id: &step.id,
                host: None,
                title: step.title.as_deref(),
                action: Some(step.action.key()),
                status: Status::NotStarted,
                reason: None,
                started_at: None,
                offset_ms: None,
                duration_ms: None,
                budget_ms: step.budget.map(HumanDuration::as_millis),
                over_budget_ms: None,
                attempts: 0,
                exit_code: None,
                group_empty: None,
                pgid: None,
                rerun_after_resume: false,
                rollback_ok: None,
                would_run: None,
                waited_ms: None,
                cleanup: step.always,
                for_each: step.is_group(),
            });
        recorded.chain(unmentioned)
    }

    pub(super) fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }

    /// Rollbacks of the step of `rec` that ran after it finished.
    fn rollbacks_after<'s>(
        &'s self,
        rec: &'s StepRecord,
    ) -> impl Iterator<Item = &'a RollbackRecord> + 's {
        self.rollbacks
            .get(rec.id.as_str())
            .map_or(&[][..], Vec::as_slice)
            .iter()
            .copied()
            .filter(|rb| rec.finished.is_none_or(|f| rb.started >= f))
    }

    fn status(&self, rec: &StepRecord) -> Status {
        match rec.status {
            Some(StepStatus::Ok) if self.rollbacks_after(rec).any(|rb| rb.ok == Some(true)) => {
                Status::RolledBack
            }
            Some(s) => Status::from_journal(s),
            None => Status::Unfinished,
        }
    }

    /// The status of the row of step `id`: a step the journal does not have has a "not
    /// started" row, or none.
    fn status_of(&self, id: &str) -> Status {
        self.state
            .steps
            .get(id)
            .map_or(Status::NotStarted, |rec| self.status(rec))
    }

    /// The row of `rec`, whose playbook step is at `planned` (`u32::MAX`: none).
    fn row<'s>(&'s self, rec: &'s StepRecord, planned: u32) -> StepRow<'s> {
        let state = self.state;
        let duration_ms = match (rec.duration_ms, rec.started) {
            (Some(d), _) => Some(d),
            (None, Some(started)) if rec.in_flight => {
                state.last_ts.map(|l| millis_between(started, l))
            }
            _ => None,
        };
        let planned = self
            .playbook
            .as_deref()
            .and_then(|p| p.steps.get(planned as usize));
        let budget_ms = planned
            .and_then(|s| s.budget.map(HumanDuration::as_millis))
            .or(rec.budget_exceeded_ms.map(|(budget, _)| budget));
        let over_budget_ms = match (budget_ms, duration_ms) {
            (Some(b), Some(d)) if d > b => Some(d - b),
            _ => None,
        };
        let last = rec.last_attempt.as_ref();
        StepRow {
            id: &rec.id,
            host: rec.host.as_deref(),
            title: rec.title.as_deref().filter(|t| *t != rec.id),
            action: rec
                .action
                .as_deref()
                .or_else(|| planned.map(|s| s.action.key())),
            status: self.status(rec),
            reason: rec
                .reason
                .as_deref()
                .or_else(|| last.and_then(|a| a.reason.as_deref())),
            started_at: rec.started,
            offset_ms: rec
                .started
                .zip(self.run_start)
                .map(|(s, r)| millis_between(r, s)),
            duration_ms,
            budget_ms,
            over_budget_ms,
            attempts: rec.attempts as usize,
            exit_code: rec.exit_code.or_else(|| last.and_then(|a| a.exit_code)),
            group_empty: rec.group_empty,
            pgid: rec.pgid.map(|(g, _)| g),
            rerun_after_resume: self.rerun.contains(&rec.id.as_str()),
            cleanup: rec.always || planned.is_some_and(|s| s.always),
            for_each: planned.is_some_and(Step::is_group),
            rollback_ok: self
                .rollbacks_after(rec)
                .filter_map(|rb| rb.ok)
                .reduce(|a, b| a && b),
            would_run: rec.would_run.as_deref(),
            waited_ms: confirm_wait(state, rec),
        }
    }
}

/// The wait of the step's last `confirm` answered by a person: one answered before the step
/// started (a manual step's approval, after its start, is its execution, not a wait).
fn confirm_wait(state: &RunState, rec: &StepRecord) -> Option<u64> {
    state
        .approvals
        .iter()
        .filter(|a| a.step == rec.id && a.how != Some(ApprovalHow::Flag))
        .filter(|a| {
            a.answered
                .zip(rec.started)
                .is_none_or(|(answered, started)| answered <= started)
        })
        .filter_map(|a| a.waited_ms)
        .rfind(|&w| w > 0)
}

/// The vars the run was given, as the journal recorded them (declared values where it did not).
fn run_vars(playbook: &Playbook, state: &RunState) -> indexmap::IndexMap<String, VarValue> {
    let given = state.started.as_ref().map(|s| &s.vars);
    playbook
        .vars
        .iter()
        .map(|(name, declared)| {
            let value = given
                .and_then(|g| g.get(name))
                .and_then(|v| declared.from_json_like(v))
                .unwrap_or_else(|| declared.clone());
            (name.clone(), value)
        })
        .collect()
}

impl Report<'_> {
    /// The plan's rows, made one at a time; none without a plan.
    pub(super) fn planned_steps(&self) -> impl Iterator<Item = PlannedStep<'_>> {
        self.plan.iter().flat_map(move |facts| {
            let plan = &facts.plan;
            plan.steps.iter().map(move |ps| {
                let step = &plan.playbook.steps[ps.index];
                PlannedStep {
                    id: &step.id,
                    action: step.action.key(),
                    budget_ms: step.budget.map(HumanDuration::as_millis),
                    start_ms: ps.earliest_start_ms,
                    finish_ms: ps.earliest_finish_ms,
                    skip: ps.skip.as_ref(),
                    critical: plan.is_critical(ps.index),
                    read_only: step.read_only,
                    status: self.steps.status_of(&step.id),
                }
            })
        })
    }
}

fn check_rows(state: &RunState) -> Vec<CheckRow> {
    state
        .checks
        .iter()
        .map(|c| CheckRow {
            check: c.check.clone(),
            step: c.step.clone(),
            phase: c.phase,
            probe: c.probe.clone(),
            target: c.target.clone(),
            started_at: c.started,
            passed: c.passed,
            attempts: c.attempts,
            first_pass_ms: c.first_pass_ms,
            duration_ms: c.duration_ms,
            detail: c.detail.clone(),
            history: c.history,
        })
        .collect()
}

fn approval_rows(state: &RunState) -> Vec<ApprovalRow> {
    state
        .approvals
        .iter()
        .map(|a| {
            // A manual step asks once it has started; a `confirm` asks before it starts.
            let manual = state.steps.get(a.step.as_str()).is_some_and(|s| {
                s.action.as_deref() == Some("manual")
                    && s.started
                        .zip(a.asked)
                        .is_some_and(|(st, asked)| asked >= st)
            });
            ApprovalRow {
                step: a.step.clone(),
                kind: if manual { "manual" } else { "confirm" },
                question: a.question.clone(),
                asked_at: a.asked,
                answered_at: a.answered,
                decision: match a.given {
                    Some(true) => "approved",
                    Some(false) => "declined",
                    None => "unanswered",
                },
                by: a.by.clone(),
                how: a.how,
                reason: a.reason.clone(),
                inputs: a
                    .inputs
                    .iter()
                    .map(|i| InputRow {
                        input: i.input.clone(),
                        value: i.value.clone(),
                        by: i.by.clone(),
                        how: i.how,
                        at: i.ts,
                    })
                    .collect(),
                os_user: a.os_user.clone(),
                approvers: a.approvers.clone(),
                refused: a.refused.clone(),
                waited_for: a.waiting.as_ref().map(|w| (w.approvers, w.not_commander)),
                timed_out: a.timed_out,
            }
        })
        .collect()
}

fn output_rows(state: &RunState) -> Vec<OutputRow> {
    state
        .steps
        .values()
        .flat_map(|rec| {
            rec.outputs.iter().map(|(name, value)| OutputRow {
                step: rec.id.to_string(),
                name: name.clone(),
                value: value.clone(),
            })
        })
        .collect()
}

fn rollback_rows(state: &RunState, logs: &Path, include_logs: IncludeLogs) -> Vec<RollbackRow> {
    // Which of the step's rollbacks in its log each is, counted from the last: one pass from
    // the end (a count of the later ones for each would be quadratic in a long rollback).
    let mut later: HashMap<&str, usize> = HashMap::new();
    let mut backs = vec![0; state.rollbacks.len()];
    for (i, rb) in state.rollbacks.iter().enumerate().rev() {
        let seen = later.entry(rb.step.as_str()).or_default();
        backs[i] = *seen;
        *seen += 1;
    }
    state
        .rollbacks
        .iter()
        .enumerate()
        .map(|(i, rb)| {
            let back = backs[i];
            // Its template failed or its process could not be spawned: nothing ran.
            let never_started =
                rb.ok == Some(false) && !rb.process_started && rb.exit_code.is_none();
            RollbackRow {
                step: rb.step.clone(),
                command: rb.command.clone(),
                started_at: rb.started,
                result: match rb.ok {
                    Some(true) => "ok",
                    Some(false) if never_started => "not_started",
                    Some(false) => "failed",
                    None => "unfinished",
                },
                exit_code: rb.exit_code,
                // One that never started took no time: no duration, not `0s`.
                duration_ms: rb.duration_ms.filter(|_| !never_started),
                reason: rb.reason.clone(),
                log: (rb.ok != Some(true)
                    && rb.process_started
                    && include_logs != IncludeLogs::None)
                    .then(|| log_tail::rollback_tail(logs, &rb.step, TAIL_LINES, back)),
            }
        })
        .collect()
}

fn notification_rows(state: &RunState) -> Vec<NotificationRow> {
    state
        .notifications
        .iter()
        .map(|n| NotificationRow {
            at: n.ts,
            channel: n.channel.clone(),
            about: n.about.clone(),
            sent: n.sent,
            http_status: n.http_status,
            reason: (!n.sent).then(|| n.detail.clone()),
        })
        .collect()
}

fn comparison(previous: &RunState, now: &RunState, rows: &StepRows<'_>) -> Comparison {
    let finished_ok = |s: Status| matches!(s, Status::Ok | Status::RolledBack);
    let slower = rows
        .iter()
        .filter(|r| finished_ok(r.status))
        .filter_map(|r| {
            let then = previous.steps.get(r.id)?;
            let then_ms = then
                .duration_ms
                .filter(|_| then.status == Some(StepStatus::Ok))?;
            let now_ms = r.duration_ms?;
            let slower = now_ms.saturating_sub(then_ms);
            (slower * 100 > then_ms * SLOWER_PERCENT && slower >= SLOWER_FLOOR_MS).then(|| Slower {
                step: r.id.to_string(),
                then_ms,
                now_ms,
                percent: (slower * 100).checked_div(then_ms).unwrap_or(0),
            })
        })
        .collect();
    Comparison {
        run_id: previous.run_id.clone(),
        started_at: previous.started.as_ref().map(|s| s.ts),
        version: previous.started.as_ref().map(|s| s.version.clone()),
        rto_then_ms: previous.finished.as_ref().and_then(|f| f.rto_achieved_ms),
        rto_now_ms: now
            .finished
            .as_ref()
            .and_then(|f| f.rto_achieved_ms)
            .filter(|_| now.started.as_ref().is_none_or(|s| !s.dry_run)),
        slower,
    }
}

/// `logs/` relative to the report, when the report is written beside it (the run folder).
fn logs_link(logs: &Path, report: Option<&Path>) -> Option<String> {
    let report_dir = report?.parent()?;
    let logs_dir = logs.parent()?;
    let name = logs.file_name()?.to_str()?;
    (report_dir == logs_dir && log_tail::is_link_safe(name)).then(|| name.to_owned())
}
