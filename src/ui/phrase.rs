//! The words for each event, shared by the plain and live sinks so both say the same thing:
//! `restore ok 41.2s`, `verify failed 3.1s: exit code 3`, `run ok in 1m 41s; RTO …`.

use std::fmt::Write as _;

use crate::event::{ApprovalHow, CheckPhase, Event, Mode, RunStatus, StepStatus};

use crate::text::count;

/// How a line should look: the live view picks a glyph and colour from it, plain ignores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tone {
    /// Something happened (`restore started`, a notification).
    Info,
    /// Something went well (`ok`, approved, a check passed).
    Good,
    /// Something failed (`failed`, declined, `run failed`).
    Bad,
    /// Nothing happened (`skipped`).
    Quiet,
    /// Worth a look, not a failure (over budget, RTO warning, `cancelled`).
    Warn,
}

/// One sentence about an event, with continuation lines (a dry run's `would run:`) indented
/// relative to the start of the sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Line {
    pub(crate) tone: Tone,
    pub(crate) text: String,
    pub(crate) detail: Vec<String>,
}

impl Line {
    fn new(tone: Tone, text: String) -> Self {
        Self {
            tone,
            text,
            detail: Vec::new(),
        }
    }
}

/// What a sink knows about the run beyond the event in hand.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Known {
    /// The RTO objective, from the plan (the events carry it only at the end).
    pub(crate) rto_ms: Option<u64>,
    /// `run_started` said this is a dry run: nothing it times is a recovery.
    pub(crate) dry_run: bool,
}

/// The sentence for an event, or `None` for events people never see as a line
/// (a passing check attempt, an empty process group, output lines).
#[expect(
    clippy::too_many_lines,
    reason = "one arm per event: the table of what people read"
)]
pub(crate) fn describe(event: &Event, known: Known) -> Option<Line> {
    let line = match event {
        Event::RunStarted {
            playbook,
            version,
            mode,
            dry_run,
            env,
            commander,
            run_dir,
            ticket,
            ..
        } => {
            let mut text = format!(
                "{playbook}@{version} started: {}",
                mode_label(*mode, *dry_run)
            );
            if let Some(env) = env {
                let _ = write!(text, " in {env}");
            }
            let _ = write!(text, " by {commander}");
            if let Some(ticket) = ticket {
                let _ = write!(text, " for {ticket}");
            }
            if let Some(rto) = known.rto_ms {
                let _ = write!(text, ", RTO objective {}", format_human(rto));
            }
            let _ = write!(text, "; run folder {run_dir}");
            Line::new(Tone::Info, text)
        }
        Event::CheckStarted {
            check,
            step,
            phase,
            probe,
            target,
        } => Line::new(
            Tone::Info,
            format!(
                "{} started: {probe} {target}",
                check_label(check, step.as_deref(), *phase)
            ),
        ),
        Event::CheckAttempt {
            check,
            attempt,
            passed: false,
            detail,
            duration_ms,
            ..
        } => Line::new(
            Tone::Info,
            format!(
                "check {check} attempt {attempt} failed {}: {detail}",
                format_human(*duration_ms)
            ),
        ),
        Event::CheckFinished {
            check,
            step,
            phase,
            passed,
            attempts,
            duration_ms,
            detail,
            ..
        } => {
            let label = check_label(check, step.as_deref(), *phase);
            let took = format_human(*duration_ms);
            if *passed {
                let text = if *attempts > 1 {
                    format!(
                        "{label} passed after {} ({took})",
                        count(to_usize(*attempts), "attempt")
                    )
                } else {
                    format!("{label} passed ({took})")
                };
                Line::new(Tone::Good, text)
            } else {
                // The state found before the steps is what the run is there to fix: not a failure.
                let tone = if *phase == CheckPhase::Assessment {
                    Tone::Info
                } else {
                    Tone::Bad
                };
                let mut text = format!(
                    "{label} failed after {} ({took})",
                    count(to_usize(*attempts), "attempt")
                );
                if !detail.is_empty() {
                    let _ = write!(text, ": {detail}");
                }
                Line::new(tone, text)
            }
        }
        Event::StepStarted { step, .. } => Line::new(Tone::Info, format!("{step} started")),
        Event::StepAttemptFinished {
            step,
            attempt,
            duration_ms,
            reason: Some(reason),
            ..
        } => Line::new(
            Tone::Info,
            format!(
                "{step} attempt {attempt} failed {}: {reason}",
                format_human(*duration_ms)
            ),
        ),
        Event::ProcessGroupChecked {
            step,
            pgid,
            empty: false,
            ..
        } => Line::new(
            Tone::Warn,
            format!("warning: {step} left processes behind in process group {pgid}"),
        ),
        Event::StepFinished {
            step,
            status,
            reason,
            attempts,
            duration_ms,
            would_run,
            ..
        } => {
            let mut line = Line::new(
                status_tone(*status),
                step_finished(step, *status, reason.as_deref(), *attempts, *duration_ms),
            );
            if let Some(command) = would_run {
                let mut lines = command.lines();
                if let Some(first) = lines.next() {
                    line.detail.push(format!("  would run: {first}"));
                    line.detail
                        .extend(lines.map(|l| format!("             {l}")));
                }
            }
            line
        }
        Event::BudgetExceeded {
            step,
            budget_ms,
            elapsed_ms,
        } => Line::new(
            Tone::Warn,
            format!(
                "warning: {step} is over its budget {} ({})",
                format_human(*budget_ms),
                format_human(*elapsed_ms)
            ),
        ),
        Event::ApprovalRequested { step, question } => {
            Line::new(Tone::Info, format!("{step} waits for approval: {question}"))
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
            let mut rule = Vec::new();
            if *approvers > 1 {
                rule.push(format!("{approvers} different OS users"));
            }
            if *not_commander {
                rule.push("not the commander's OS user".to_owned());
            }
            if let Some(t) = timeout_ms {
                rule.push(format!(
                    "declined if unanswered within {}",
                    format_human(*t)
                ));
            }
            let rule = if rule.is_empty() {
                String::new()
            } else {
                format!(" ({})", rule.join("; "))
            };
            Line::new(
                Tone::Info,
                format!("{step} waits for `{approve}` or `{decline}`{rule}"),
            )
        }
        Event::ApprovalReceived {
            step,
            by,
            os_user,
            count,
            needed,
            waited_ms,
        } => Line::new(
            Tone::Info,
            format!(
                "{step} approved by {by} (OS user {os_user}) after {}: {count} of {needed}",
                format_human(*waited_ms)
            ),
        ),
        Event::ApprovalRefused {
            step,
            by,
            os_user,
            reason,
        } => Line::new(
            Tone::Bad,
            format!("{step}: refused the approval of {by} (OS user {os_user}): {reason}"),
        ),
        Event::ApprovalGiven {
            step,
            by,
            how,
            waited_ms,
            os_user,
            approvers,
        } => {
            let who = match (os_user, approvers.is_empty()) {
                (_, false) => {
                    let each: Vec<String> = approvers
                        .iter()
                        .map(|a| format!("{} (OS user {})", a.by, a.os_user))
                        .collect();
                    each.join(", ")
                }
                (Some(u), true) if *how == ApprovalHow::Remote => format!("{by} (OS user {u})"),
                _ => by.clone(),
            };
            let how = match how {
                ApprovalHow::Prompt | ApprovalHow::Remote => {
                    format!(" after {}", format_human(*waited_ms))
                }
                ApprovalHow::Flag => " (flag)".to_owned(),
            };
            Line::new(Tone::Good, format!("{step} approved by {who}{how}"))
        }
        Event::ApprovalDeclined {
            step,
            by,
            reason,
            os_user,
            waited_ms,
            ..
        } => {
            let who = match os_user {
                Some(u) if u != by => format!("{by} (OS user {u})"),
                _ => by.clone(),
            };
            let after = if *waited_ms > 0 {
                format!(" after {}", format_human(*waited_ms))
            } else {
                String::new()
            };
            Line::new(
                Tone::Bad,
                format!("{step} declined by {who}{after}: {reason}"),
            )
        }
        Event::InputGiven {
            step,
            input,
            value,
            by,
            ..
        } => Line::new(Tone::Info, format!("{step}: {input} = {value} (by {by})")),
        Event::ReportPublished { duration_ms, .. } => Line::new(
            Tone::Good,
            format!("report published in {}", format_human(*duration_ms)),
        ),
        Event::ReportPublishFailed { reason, .. } => Line::new(
            Tone::Warn,
            format!("warning: the report was not published: {reason}"),
        ),
        Event::RollbackStarted { step, .. } => {
            Line::new(Tone::Info, format!("{step} rollback started"))
        }
        Event::RollbackFinished {
            step,
            ok,
            duration_ms,
            reason,
            ..
        } => {
            let (tone, word) = if *ok {
                (Tone::Good, "ok")
            } else {
                (Tone::Bad, "failed")
            };
            let mut text = format!("{step} rollback {word} {}", format_human(*duration_ms));
            if let Some(reason) = reason {
                let _ = write!(text, ": {reason}");
            }
            Line::new(tone, text)
        }
        Event::NotifyRequested { text, fields, .. } => {
            let mut lines = text.lines();
            let mut line = Line::new(
                Tone::Info,
                format!("notify: {}", lines.next().unwrap_or_default()),
            );
            line.detail.extend(lines.map(|l| format!("        {l}")));
            line.detail
                .extend(fields.iter().map(|(k, v)| format!("        {k}: {v}")));
            line
        }
        Event::NotificationPreviewed {
            channel,
            about,
            text,
            fields,
        } => {
            let mut line = Line::new(
                Tone::Info,
                format!("would send {about} to {channel} (dry run: not sent)"),
            );
            line.detail.extend(text.lines().map(|l| format!("  {l}")));
            line.detail
                .extend(fields.iter().map(|(k, v)| format!("  {k}: {v}")));
            line
        }
        Event::NotificationSent { channel, about, .. } => {
            Line::new(Tone::Info, format!("sent {about} to {channel}"))
        }
        Event::NotificationFailed {
            channel,
            reason,
            http_status,
            ..
        } => {
            // `--no-notify` journals what it did not send; that is a choice, not a failure.
            if let Some(why) = reason.strip_prefix("skipped: ") {
                return Some(Line::new(
                    Tone::Quiet,
                    format!("notification to {channel} not sent ({why})"),
                ));
            }
            let mut text = format!("warning: notification to {channel} failed: {reason}");
            if let Some(status) = http_status {
                let _ = write!(text, " (HTTP {status})");
            }
            Line::new(Tone::Warn, text)
        }
        Event::RtoWarning {
            elapsed_ms,
            rto_objective_ms,
        } => Line::new(
            Tone::Warn,
            format!(
                "warning: RTO clock at {} of {} objective",
                format_human(*elapsed_ms),
                format_human(*rto_objective_ms)
            ),
        ),
        Event::RunInterrupted { signal } => {
            Line::new(Tone::Bad, format!("run interrupted by {signal}"))
        }
        Event::RunResumed {
            commander,
            gap_ms,
            rerun,
            playbook_changed,
        } => {
            let mut text = format!(
                "run resumed by {commander} after a gap of {}",
                format_human(*gap_ms)
            );
            if !rerun.is_empty() {
                let _ = write!(text, "; running again: {}", rerun.join(", "));
            }
            if *playbook_changed {
                text.push_str(
                    "; the playbook file changed since the run started (--allow-changed)",
                );
            }
            Line::new(Tone::Warn, text)
        }
        Event::LockBroken {
            holder_run_id,
            holder_pid,
            holder_host,
            stale,
        } => {
            let how = if *stale {
                "took over the stale lock"
            } else {
                "broke the lock (--break-lock)"
            };
            Line::new(
                Tone::Warn,
                format!(
                    "warning: {how} of run {holder_run_id} (pid {holder_pid} on {holder_host})"
                ),
            )
        }
        Event::RecordFailed { path, error } => Line::new(
            Tone::Bad,
            format!(
                "error: failed to write `{path}`: {error}; no new step starts and the run fails"
            ),
        ),
        Event::RunFinished { .. } => run_finished(event, known.dry_run)?,
        Event::CheckAttempt { .. }
        | Event::StepAttemptFinished { .. }
        | Event::ProcessGroupChecked { .. }
        | Event::ProcessStarted { .. }
        | Event::OutputSecrets { .. }
        | Event::VarSecrets { .. }
        | Event::StepOutput { .. } => return None,
    };
    Some(line)
}

/// `restore ok 41.2s`, `verify failed 3.1s (2 attempts): exit code 3`, `cleanup skipped: reason`.
fn step_finished(
    step: &str,
    status: StepStatus,
    reason: Option<&str>,
    attempts: u32,
    ms: u64,
) -> String {
    let mut text = format!("{step} {status}");
    // A step that failed or was cancelled before its first attempt has no duration to show.
    let began = attempts > 0 || status == StepStatus::Ok;
    if status != StepStatus::Skipped && began {
        let _ = write!(text, " {}", format_human(ms));
    }
    if attempts > 1 {
        let _ = write!(text, " ({})", count(to_usize(attempts), "attempt"));
    }
    if let Some(reason) = reason {
        let _ = write!(text, ": {reason}");
    }
    text
}

fn status_tone(status: StepStatus) -> Tone {
    match status {
        StepStatus::Ok => Tone::Good,
        StepStatus::Failed => Tone::Bad,
        StepStatus::Skipped => Tone::Quiet,
        StepStatus::RolledBack | StepStatus::Cancelled => Tone::Warn,
    }
}

/// `run ok in 1m 41s; RTO 1m 30s of 5m objective (met)`.
fn run_finished(event: &Event, dry_run: bool) -> Option<Line> {
    let Event::RunFinished {
        status,
        duration_ms,
        failures_tolerated,
        rto_objective_ms,
        rto_achieved_ms,
        rpo_objective_ms,
        rpo_achieved_ms,
        ..
    } = event
    else {
        return None;
    };
    let (tone, how) = match status {
        RunStatus::Ok => (Tone::Good, "in"),
        RunStatus::Failed => (Tone::Bad, "in"),
        RunStatus::Interrupted => (Tone::Bad, "after"),
    };
    let mut text = format!(
        "run {} {how} {}",
        status.as_str(),
        format_human(*duration_ms)
    );
    if *failures_tolerated > 0 {
        let _ = write!(
            text,
            ", {} tolerated",
            count(to_usize(*failures_tolerated), "failure")
        );
    }
    for (name, objective, achieved) in [
        ("RTO", *rto_objective_ms, *rto_achieved_ms),
        ("RPO", *rpo_objective_ms, *rpo_achieved_ms),
    ] {
        text.push_str(&objective_result(
            name, objective, achieved, *status, dry_run,
        ));
    }
    Some(Line::new(tone, text))
}

/// `; RTO 1m 30s of 5m objective (met)`, or why there is no such figure. Only a run that
/// ended ok recovered anything, and a dry run recovers nothing, so neither ever says `met`.
fn objective_result(
    name: &str,
    objective: Option<u64>,
    achieved: Option<u64>,
    status: RunStatus,
    dry_run: bool,
) -> String {
    match (achieved, objective) {
        (_, Some(objective)) if dry_run => format!(
            "; {name} not measured in a dry run ({} objective)",
            format_human(objective)
        ),
        (_, Some(objective)) if status != RunStatus::Ok => {
            format!(
                "; {name} not achieved ({} objective)",
                format_human(objective)
            )
        }
        _ if dry_run || status != RunStatus::Ok => String::new(),
        (Some(achieved), Some(objective)) => {
            let verdict = if achieved <= objective {
                "met"
            } else {
                "missed"
            };
            format!(
                "; {name} {} of {} objective ({verdict})",
                format_human(achieved),
                format_human(objective)
            )
        }
        (Some(achieved), None) => format!("; {name} {}", format_human(achieved)),
        (None, _) => String::new(),
    }
}

/// `check api-up`, with where it runs when that is not a `check` step of its own.
pub(crate) fn check_label(check: &str, step: Option<&str>, phase: CheckPhase) -> String {
    match (phase, step) {
        (CheckPhase::Assessment, _) => format!("check {check} (before)"),
        (CheckPhase::Validation, _) => format!("check {check} (after)"),
        (CheckPhase::Verify, Some(step)) => format!("check {check} (verify of {step})"),
        (CheckPhase::Step | CheckPhase::Verify, _) => format!("check {check}"),
    }
}

/// `DRILL`, `INCIDENT`, `DRY RUN`, `DRY RUN (drill)`: loud, so a drill is never mistaken for the real thing.
pub(crate) fn mode_label(mode: Mode, dry_run: bool) -> String {
    match (mode, dry_run) {
        (Mode::DryRun, _) => "DRY RUN".to_owned(),
        (Mode::Incident, false) => "INCIDENT".to_owned(),
        (Mode::Drill, false) => "DRILL".to_owned(),
        (Mode::Routine, false) => "ROUTINE".to_owned(),
        (mode, true) => format!("DRY RUN ({})", mode.as_str()),
    }
}

/// A command's output line made safe for one terminal row: colours stripped, only what follows
/// the last carriage return (progress meters redraw with `\r`), tabs as spaces, no control bytes.
pub(crate) fn sanitize(line: &str) -> String {
    let plain = console::strip_ansi_codes(line);
    let trimmed = plain.trim_end_matches(['\r', '\n']);
    let last = trimmed.rsplit('\r').next().unwrap_or_default();
    last.chars()
        .filter_map(|c| match c {
            '\t' => Some(' '),
            c if c.is_control() => None,
            c => Some(c),
        })
        .collect()
}

fn to_usize(n: u32) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

pub(crate) use crate::playbook::duration::format_human;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_lines_are_made_safe_for_one_row() {
        assert_eq!(sanitize("\x1b[32mok\x1b[0m\tdone\r\n"), "ok done");
        assert_eq!(sanitize("10%\r50%\r90%"), "90%");
        assert_eq!(sanitize("bell\x07 here"), "bell here");
    }

    #[test]
    fn only_a_run_that_ended_ok_for_real_meets_an_objective() {
        let of = |status, dry_run| objective_result("RTO", Some(600_000), Some(3), status, dry_run);
        assert_eq!(of(RunStatus::Ok, false), "; RTO 3ms of 10m objective (met)");
        assert_eq!(
            of(RunStatus::Ok, true),
            "; RTO not measured in a dry run (10m objective)"
        );
        assert_eq!(
            of(RunStatus::Failed, false),
            "; RTO not achieved (10m objective)"
        );
        assert_eq!(
            objective_result("RPO", None, Some(3), RunStatus::Interrupted, false),
            ""
        );
    }

    #[test]
    fn a_step_that_never_began_shows_no_duration() {
        // See: #11
        let declined = step_finished("gate", StepStatus::Failed, Some("declined"), 0, 0);
        assert_eq!(declined, "gate failed: declined");
        let cancelled = step_finished("gate", StepStatus::Cancelled, None, 0, 0);
        assert_eq!(cancelled, "gate cancelled");
        assert_eq!(
            step_finished("copy", StepStatus::Failed, None, 2, 1500),
            "copy failed 1.5s (2 attempts)"
        );
    }

    #[test]
    fn modes_are_loud() {
        assert_eq!(mode_label(Mode::Drill, false), "DRILL");
        assert_eq!(mode_label(Mode::Incident, true), "DRY RUN (incident)");
        assert_eq!(mode_label(Mode::DryRun, true), "DRY RUN");
    }
}
