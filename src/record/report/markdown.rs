//! The report as GitHub-flavoured Markdown, in the order of `cli.md`'s Report section: header,
//! outcome, (a dry run's plan,) timeline, checks, approvals, failures and rollbacks,
//! notifications, comparison, sign-off. No raw HTML; every value from the record is escaped.

use std::fmt::Write as _;

use crate::event::{CheckPhase, Mode};
use crate::playbook::duration::format_human;
use crate::text::count;

use super::closing::{comparison, failures, notifications, signoff};
use super::escape::{cell, cell_code, code, fence, text};
use super::evidence;
use super::md::{Md, how, human, id_list, offset, phase, when};
use super::mermaid;
use super::model::{Measure, Report, Status, StepRow};

/// Renders the report.
#[cfg(test)]
pub(super) fn render(r: &Report<'_>) -> String {
    let mut md = Md::default();
    sections(&mut md, r);
    md.finish().expect("a held document is not written out")
}

/// Writes the report to `out` as it is rendered, ending in one newline.
pub(super) fn write(r: &Report<'_>, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    let mut md = Md::to(out);
    sections(&mut md, r);
    md.finish().map(drop)
}

fn sections(md: &mut Md<'_>, r: &Report<'_>) {
    header(md, r);
    outcome(md, r);
    if r.header.dry_run {
        plan(md, r);
    }
    timeline(md, r);
    evidence::outputs(md, r);
    checks(md, r);
    approvals(md, r);
    failures(md, r);
    notifications(md, r);
    comparison(md, r);
    signoff(md, r);
}

fn header(md: &mut Md, r: &Report) {
    let h = &r.header;
    md.heading(1, &text(&r.title));
    let callout = match h.mode {
        _ if h.dry_run => {
            "> **DRY RUN** — nothing was changed: only `read_only` steps ran, and no notification was sent."
        }
        Some(Mode::Drill) => "> **DRILL** — a practice run, not an incident.",
        Some(Mode::Incident) => "> **INCIDENT** — a recovery from a real outage.",
        Some(Mode::Routine) => "> **ROUTINE** — a scheduled operation, not an incident.",
        Some(Mode::DryRun) | None => "> **Mode unknown** — the journal has no `run_started`.",
    };
    md.para(callout);
    if !h.playbook_valid {
        md.para(
            "*The run folder's `playbook.toml` no longer validates: budgets, the plan and the \
             sign-off roles are missing; everything else comes from the journal.*",
        );
    }
    let mut items = vec![
        format!(
            "**Playbook:** {} (sha256 {})",
            code(&h.label()),
            code(h.sha256_prefix())
        ),
        format!("**Mode:** {}", h.mode.map_or("unknown", Mode::as_str)),
        format!(
            "**Environment:** {}",
            h.env
                .as_deref()
                .map_or_else(|| "none given".to_owned(), code)
        ),
        format!("**Commander:** {}", text(&h.commander)),
    ];
    if let Some(t) = &h.ticket {
        items.push(format!("**Ticket:** {}", code(t)));
    }
    items.extend([
        format!("**Host:** {}", text(&h.host)),
        format!("**Started:** {}", h.started_at.map_or("—".to_owned(), when)),
        match (h.ended_at, h.last_event_at) {
            (Some(end), _) => format!("**Ended:** {}", when(end)),
            (None, Some(last)) => format!("**Ended:** — (the journal stops at {})", when(last)),
            (None, None) => "**Ended:** —".to_owned(),
        },
    ]);
    if let Some(i) = h.incident_start {
        items.push(format!("**Incident start:** {}", when(i)));
    }
    if let Some(sel) = &h.selection {
        items.push(format!(
            "**Subset:** {} (the other steps did not run)",
            code(sel)
        ));
    }
    items.push(format!("**Run id:** {}", code(&h.run_id)));
    items.push(format!("**Run folder:** {}", code(&h.run_dir)));
    if let Some(p) = &h.report_path {
        items.push(format!("**Report:** {}", code(p)));
    }
    items.push(format!("**runbook:** {}", text(&h.runbook_version)));
    if !h.vars.is_empty() {
        let vars: Vec<String> = h
            .vars
            .iter()
            .map(|(k, v)| code(&format!("{k}={v}")))
            .collect();
        items.push(format!("**Vars:** {}", vars.join(", ")));
    }
    md.blank();
    for item in items {
        md.line(&format!("- {item}"));
    }
}

/// Why the run ended as it did: the steps that failed and the validation checks that did not
/// pass; then what the rollbacks did.
fn causes(r: &Report) -> Vec<String> {
    let mut notes = Vec::new();
    for s in r.steps.iter().filter(|s| s.status == Status::Failed) {
        let reason = s
            .reason
            .map_or_else(|| "no reason recorded".to_owned(), text);
        notes.push(format!("{} failed: {reason}.", code(s.id)));
    }
    for c in r
        .checks
        .iter()
        .filter(|c| c.phase == CheckPhase::Validation && c.passed == Some(false))
    {
        notes.push(format!(
            "Validation check {} did not pass after {}: {}.",
            code(&c.check),
            count(c.attempts as usize, "attempt"),
            text(&c.detail)
        ));
    }
    // Only a rollback whose command started ran; one whose template failed never did.
    let (ran, never): (Vec<_>, Vec<_>) = r
        .rollbacks
        .iter()
        .partition(|rb| rb.result != "not_started");
    if !ran.is_empty() {
        let failed = ran.iter().filter(|rb| rb.result != "ok").count();
        notes.push(match (ran.len(), failed) {
            (1, 0) => "1 rollback ran: ok.".to_owned(),
            (1, _) => "1 rollback ran: **it did not succeed**.".to_owned(),
            (n, 0) => format!("{n} rollbacks ran, all ok."),
            (n, f) => format!("{n} rollbacks ran: **{f} did not succeed**."),
        });
    }
    for rb in never {
        let reason = rb
            .reason
            .as_deref()
            .map_or_else(|| "no reason recorded".to_owned(), text);
        notes.push(format!(
            "The rollback of {} **never started**: {reason}.",
            code(&rb.step)
        ));
    }
    notes
}

fn measure_row(name: &str, m: &Measure, dry_run: bool) -> Vec<String> {
    let achieved = match m.achieved_ms {
        Some(a) => format_human(a),
        None if dry_run => "— (dry run)".to_owned(),
        None => "—".to_owned(),
    };
    vec![
        name.to_owned(),
        human(m.objective_ms),
        achieved,
        m.verdict.words().to_owned(),
    ]
}

fn outcome(md: &mut Md, r: &Report) {
    let o = &r.outcome;
    md.heading(2, "Outcome");
    md.para(&format!("**Status:** {}", o.status));
    let mut notes = causes(r);
    if o.failures_tolerated > 0 {
        notes.push(format!(
            "{} tolerated under `on_failure = \"continue\"`.",
            count(o.failures_tolerated as usize, "failure")
        ));
    }
    if let Some((ts, signal)) = &o.interrupted {
        notes.push(format!("Interrupted by {} at {}.", text(signal), when(*ts)));
    }
    if o.status == "incomplete" {
        let mut s = "Incomplete: the journal has no `run_finished`, so the runner died (or is \
                     still running)."
            .to_owned();
        if !o.unfinished.is_empty() {
            let _ = write!(s, " It left {} unfinished.", id_list(&o.unfinished));
        }
        notes.push(s);
    }
    for g in &o.gaps {
        let mut s = format!(
            "Resumed at {} by {} after a gap of {} (from {}).",
            when(g.resumed_at),
            text(&g.commander),
            format_human(g.length_ms),
            when(g.began_at())
        );
        if !g.rerun.is_empty() {
            let _ = write!(s, " Ran again: {}.", id_list(&g.rerun));
        }
        if g.playbook_changed {
            s.push_str(" The playbook had changed since the run started (`--allow-changed`).");
        }
        notes.push(s);
    }
    for ms in &o.rto_warnings_ms {
        notes.push(format!(
            "RTO warning at +{}: 80% of the objective was used while steps remained.",
            format_human(*ms)
        ));
    }
    for (run, stale) in &o.locks_broken {
        let how = if *stale {
            "stale: its process was gone"
        } else {
            "live: `--break-lock`"
        };
        notes.push(format!(
            "The playbook's lock was taken from run {} ({how}).",
            code(run)
        ));
    }
    if o.journal_truncated {
        notes.push(
            "The journal holds a cut-off line: the runner was killed while writing it (the line \
             was skipped)."
                .to_owned(),
        );
    }
    for (at, path, error) in &o.record_failures {
        notes.push(format!(
            "The record is incomplete: runbook failed to write {} at {}: {}. No step started \
             after it.",
            code(path),
            when(*at),
            text(error)
        ));
    }
    md.blank();
    for n in notes {
        md.line(&format!("- {n}"));
    }
    // A routine operation with no RTO recovers nothing: it has a duration.
    let duration_only =
        r.header.mode == Some(Mode::Routine) && o.rto.objective_ms.is_none() && o.rpo.is_none();
    if duration_only {
        md.para(&format!(
            "**Duration:** {}.",
            o.rto
                .achieved_ms
                .map_or_else(|| "—".to_owned(), format_human)
        ));
    } else {
        let mut rows = vec![measure_row("RTO", &o.rto, r.header.dry_run)];
        if let Some(rpo) = &o.rpo {
            rows.push(measure_row("RPO", rpo, r.header.dry_run));
        }
        md.table(&["Objective", "Target", "Achieved", "Result"], &rows);
    }
    evidence::recovery_point(md, r);
    if let Some(p) = &r.plan {
        let what = if duration_only { "duration" } else { "RTO" };
        md.para(&format!(
            "Planned {what} (the critical path of budgets): {}.",
            format_human(p.planned_rto_ms())
        ));
    }
}

fn plan(md: &mut Md, r: &Report) {
    md.heading(2, "Plan (dry run)");
    if let Some(p) = &r.plan {
        let verdict = match p.rto_objective_ms {
            Some(o) if p.exceeds_rto => {
                format!(", **longer than the objective {}**", format_human(o))
            }
            Some(o) => format!(", within the objective {}", format_human(o)),
            None => String::new(),
        };
        md.para(&format!(
            "Planned RTO: {} (critical path {}){verdict}.",
            format_human(p.planned_rto_ms()),
            p.critical_path().map(code).collect::<Vec<_>>().join(" → ")
        ));
        if p.unbudgeted().len() > 0 {
            md.para(&format!(
                "Without a budget (counted as 0): {}.",
                id_list(p.unbudgeted())
            ));
        }
        let rows = r.planned_steps().map(|s| {
            let (start, finish) = if s.skip.is_some() {
                ("—".to_owned(), "—".to_owned())
            } else {
                (offset(Some(s.start_ms)), offset(Some(s.finish_ms)))
            };
            let dry = match (s.skip, s.status) {
                (Some(why), _) => format!("skipped: {}", cell(&why.to_string())),
                (None, Status::Skipped) => "would run".to_owned(),
                (None, Status::NotStarted) => "not reached".to_owned(),
                (None, st) if s.read_only => format!("ran (`read_only`): {}", st.as_str()),
                (None, st) => st.as_str().to_owned(),
            };
            vec![
                cell_code(s.id),
                s.action.to_owned(),
                human(s.budget_ms),
                start,
                finish,
                if s.critical { "yes" } else { "" }.to_owned(),
                dry,
            ]
        });
        md.table(
            &[
                "Step",
                "Action",
                "Budget",
                "Planned start",
                "Planned finish",
                "Critical path",
                "Dry run",
            ],
            rows,
        );
        if let Some(chart) = mermaid::planned(r) {
            md.block(&chart);
        }
    } else {
        md.para("The plan needs the run folder's `playbook.toml`, which no longer validates; the commands below come from the journal.");
    }
    let would = || r.steps.iter().filter(|s| s.would_run.is_some());
    if would().next().is_none() {
        return;
    }
    md.heading(3, "What it would run");
    for s in would() {
        let budget = s
            .budget_ms
            .map_or_else(String::new, |b| format!(" (budget {})", format_human(b)));
        md.para(&format!("{}{budget}:", code(s.id)));
        let info = if s.action == Some("run") {
            "sh"
        } else {
            "text"
        };
        let lines: Vec<String> = s
            .would_run
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect();
        md.block(&fence(&lines, info));
    }
}

fn step_cell(s: &StepRow<'_>) -> String {
    match s.title {
        Some(t) => format!("{} — {}", cell_code(s.id), cell(t)),
        None => cell_code(s.id),
    }
}

fn status_cell(s: Status) -> String {
    if s.is_failure() {
        format!("**{}**", s.as_str())
    } else {
        s.as_str().to_owned()
    }
}

fn step_notes(s: &StepRow<'_>) -> String {
    let mut notes = Vec::new();
    if let Some(host) = s.host {
        notes.push(format!("on {}", cell_code(host)));
    }
    if s.cleanup {
        notes.push("cleanup (`always`)".to_owned());
    }
    if s.for_each {
        notes.push("`for_each`".to_owned());
    }
    if s.status == Status::RolledBack {
        notes.push("rolled back".to_owned());
    }
    if let Some(reason) = s.reason
        && s.would_run.is_none()
    {
        notes.push(cell(reason));
    }
    if s.would_run.is_some() {
        notes.push("dry run: would run".to_owned());
    }
    match (s.rollback_ok, s.status) {
        (Some(false), _) => notes.push("**its rollback failed**".to_owned()),
        (Some(true), Status::Failed) => notes.push("undone by its rollback".to_owned()),
        _ => {}
    }
    if s.rerun_after_resume {
        notes.push("ran again after the resume".to_owned());
    }
    if let Some(waited) = s.waited_ms {
        notes.push(format!("waited {} for approval", format_human(waited)));
    }
    notes.join("; ")
}

fn timeline(md: &mut Md, r: &Report) {
    md.heading(2, "Timeline");
    if r.steps.is_empty() {
        md.para("No step started.");
        return;
    }
    let rows = r.steps.iter().map(|s| {
        let duration = match (s.duration_ms, s.status) {
            _ if s.started_at.is_none() => "—".to_owned(),
            (Some(d), Status::Unfinished) => format!("{} so far", format_human(d)),
            (d, _) => human(d),
        };
        let budget = match (s.budget_ms, s.over_budget_ms) {
            (Some(b), Some(over)) => {
                format!("{}, **over by {}**", format_human(b), format_human(over))
            }
            (b, _) => human(b),
        };
        let attempts = if s.started_at.is_some() {
            s.attempts.to_string()
        } else {
            "—".to_owned()
        };
        vec![
            step_cell(&s),
            status_cell(s.status),
            offset(s.offset_ms),
            duration,
            budget,
            attempts,
            step_notes(&s),
        ]
    });
    md.table(
        &[
            "Step", "Status", "Start", "Duration", "Budget", "Attempts", "Notes",
        ],
        rows,
    );
    if r.header.dry_run {
        return;
    }
    if let Some(chart) = mermaid::actual(r) {
        md.block(&chart);
        let never = || {
            r.steps
                .iter()
                .filter(|s| s.started_at.is_none() && !s.for_each)
                .map(|s| s.id)
        };
        if never().next().is_some() {
            md.para(&format!(
                "Not in the chart (never started): {}.",
                id_list(never())
            ));
        }
    }
}

fn checks(md: &mut Md, r: &Report) {
    md.heading(2, "Checks");
    if r.checks.is_empty() {
        md.para("No health check ran.");
        return;
    }
    let rows: Vec<Vec<String>> = r
        .checks
        .iter()
        .map(|c| {
            let name = match &c.step {
                Some(step) => format!("{} (step {})", cell_code(&c.check), cell_code(step)),
                None => cell_code(&c.check),
            };
            let result = match (c.passed, &c.history) {
                // The figures the pass rests on: a history check's evidence.
                (Some(true), Some(h)) => format!(
                    "passed: {}, {} ok, success {}",
                    crate::text::count(h.runs, "run"),
                    h.ok,
                    crate::text::percent(h.success_rate)
                ),
                (Some(true), None) => "passed".to_owned(),
                _ if c.detail.is_empty() => format!("**{}**", c.result()),
                _ => format!("**{}**: {}", c.result(), cell(&c.detail)),
            };
            vec![
                name,
                phase(c.phase).to_owned(),
                cell(&c.probe),
                cell_code(&c.target),
                result,
                c.attempts.to_string(),
                human(c.first_pass_ms),
            ]
        })
        .collect();
    md.table(
        &[
            "Check",
            "Phase",
            "Probe",
            "Target",
            "Result",
            "Attempts",
            "First pass",
        ],
        &rows,
    );
}

fn approvals(md: &mut Md, r: &Report) {
    md.heading(2, "Approvals and manual confirmations");
    if r.approvals.is_empty() {
        md.para("None was needed.");
        return;
    }
    let rows: Vec<Vec<String>> = r
        .approvals
        .iter()
        .map(|a| {
            let decision = match (&a.reason, a.decision) {
                (Some(reason), "declined") => format!("**declined**: {}", cell(reason)),
                (_, "declined") => "**declined**".to_owned(),
                (_, d) => d.to_owned(),
            };
            vec![
                cell_code(&a.step),
                a.kind.to_owned(),
                decision,
                a.who().map_or_else(|| "—".to_owned(), |w| cell(&w)),
                a.how.map_or("—", how).to_owned(),
                a.asked_at.map_or_else(|| "—".to_owned(), when),
                a.answered_at.map_or_else(|| "—".to_owned(), when),
                a.question.as_deref().map_or_else(String::new, cell),
            ]
        })
        .collect();
    md.table(
        &[
            "Step", "Kind", "Decision", "By", "How", "Asked", "Answered", "Question",
        ],
        &rows,
    );
    let answers: Vec<Vec<String>> = r
        .approvals
        .iter()
        .flat_map(|a| a.inputs.iter().map(move |i| (a, i)))
        .map(|(a, i)| {
            vec![
                cell_code(&a.step),
                cell_code(&i.input),
                cell(&i.value),
                cell(&i.by),
                how(i.how).to_owned(),
                when(i.at),
            ]
        })
        .collect();
    if !answers.is_empty() {
        md.para("Answers recorded by manual steps:");
        md.table(&["Step", "Input", "Answer", "By", "How", "At"], &answers);
    }
    let refused: Vec<Vec<String>> = r
        .approvals
        .iter()
        .flat_map(|a| a.refused.iter().map(move |f| (a, f)))
        .map(|(a, (by, os_user, reason))| {
            vec![cell_code(&a.step), cell(by), cell(os_user), cell(reason)]
        })
        .collect();
    if !refused.is_empty() {
        md.para("Approvals the run refused (they did not count):");
        md.table(&["Step", "By", "OS user", "Why"], &refused);
    }
}
