//! The report as one JSON document: the same content as the Markdown, with durations in
//! integer milliseconds (`_ms`), times in RFC 3339 UTC with milliseconds, and statuses in the
//! journal's words.

use std::collections::HashMap;

use chrono::{DateTime, SecondsFormat, Utc};
use indexmap::IndexMap;
use serde::Serialize;
use serde::ser::{SerializeMap as _, SerializeStruct as _};
use serde_json::{Value, json};

use crate::playbook::model::IncludeLogs;

use super::md::{how, phase};
use super::model::{Measure, PlanFacts, PlannedStep, Report};
use crate::record::log_tail::LogTail;

/// The version of this document's shape.
const FORMAT_VERSION: u32 = 1;

fn ts(t: DateTime<Utc>) -> Value {
    Value::String(t.to_rfc3339_opts(SecondsFormat::Millis, true))
}

fn opt_ts(t: Option<DateTime<Utc>>) -> Value {
    t.map_or(Value::Null, ts)
}

fn measure(m: &Measure) -> Value {
    json!({
        "objective_ms": m.objective_ms,
        "achieved_ms": m.achieved_ms,
        "result": m.verdict.token(),
    })
}

fn log(t: &LogTail) -> Value {
    json!({
        "step": t.step,
        "file": format!("logs/{}", t.file),
        "missing": t.missing,
        "segment": t.segment,
        "lines": t.lines,
        "earlier_lines_omitted": t.earlier_omitted,
    })
}

/// Writes the report as one JSON document, pretty-printed with a final newline. The small parts are
/// `Value`s; the two that grow with the playbook (the plan's steps and the step rows) are
/// typed rows that borrow from the report and serialize straight into the text: building them
/// as `Value`s first (a map per row) was two thirds of the JSON's time at 10,000 steps.
pub(super) fn write(r: &Report, mut out: impl std::io::Write) -> std::io::Result<()> {
    let doc = Document::of(r);
    serde_json::to_writer_pretty(&mut out, &doc)?;
    out.write_all(b"\n")
}

/// The same document as a `Value`, for the tests that look inside it.
#[cfg(test)]
pub(super) fn value(r: &Report) -> Value {
    serde_json::to_value(Document::of(r)).expect("a report serializes")
}

/// The document's keys in their order: everything before the plan, the plan, the step rows,
/// everything after them.
struct Document<'a> {
    head: Vec<(&'static str, Value)>,
    plan: Option<PlanDoc<'a>>,
    steps: StepDocs<'a>,
    tail: Vec<(&'static str, Value)>,
}

/// A sequence serialized as its items are made: the rows that grow with the playbook are never
/// all held at once (#18).
struct Seq<F>(F);

impl<F, I> Serialize for Seq<F>
where
    F: Fn() -> I,
    I: Iterator,
    I::Item: Serialize,
{
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq((self.0)())
    }
}

impl<'a> Document<'a> {
    fn of(r: &'a Report<'a>) -> Self {
        Self {
            head: vec![
                ("format_version", json!(FORMAT_VERSION)),
                ("title", json!(r.title)),
                ("run", run(r)),
                ("outcome", outcome(r)),
            ],
            plan: r.plan.as_ref().map(|p| PlanDoc::of(r, p)),
            steps: StepDocs::of(r),
            tail: vec![
                ("checks", checks(r)),
                ("approvals", approvals(r)),
                ("failures", failures(r)),
                ("rollbacks", rollbacks(r)),
                (
                    "include_logs",
                    json!(match r.include_logs {
                        IncludeLogs::Failures => "failures",
                        IncludeLogs::All => "all",
                        IncludeLogs::None => "none",
                    }),
                ),
                ("logs", r.all_logs.iter().map(log).collect()),
                ("notifications", notifications(r)),
                ("comparison", comparison(r)),
                ("signoff", json!(r.signoff)),
            ],
        }
    }
}

impl Serialize for Document<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        for (key, value) in &self.head {
            map.serialize_entry(key, value)?;
        }
        map.serialize_entry("plan", &self.plan)?;
        map.serialize_entry("steps", &self.steps)?;
        for (key, value) in &self.tail {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

/// A time as the document writes it: RFC 3339 UTC with milliseconds, or `null`.
struct Ts(Option<DateTime<Utc>>);

impl Serialize for Ts {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Some(t) => serializer.serialize_str(&t.to_rfc3339_opts(SecondsFormat::Millis, true)),
            None => serializer.serialize_none(),
        }
    }
}

fn run(r: &Report) -> Value {
    let h = &r.header;
    json!({
        "id": h.run_id,
        "playbook": h.playbook,
        "version": h.version,
        "label": h.label(),
        "sha256": h.sha256,
        "sha256_prefix": h.sha256_prefix(),
        "runbook_version": h.runbook_version,
        "mode": h.mode.map(crate::event::Mode::as_str),
        "dry_run": h.dry_run,
        "env": h.env,
        "commander": h.commander,
        "ticket": h.ticket,
        "host": h.host,
        "started_at": opt_ts(h.started_at),
        "ended_at": opt_ts(h.ended_at),
        "last_event_at": opt_ts(h.last_event_at),
        "incident_start": opt_ts(h.incident_start),
        "run_dir": h.run_dir,
        "report_path": h.report_path,
        "vars": h.vars.iter().cloned().collect::<serde_json::Map<_, _>>(),
        "playbook_valid": h.playbook_valid,
    })
}

fn outcome(r: &Report) -> Value {
    let o = &r.outcome;
    json!({
        "status": o.status,
        "failures_tolerated": o.failures_tolerated,
        "rto": measure(&o.rto),
        "rpo": o.rpo.as_ref().map(measure),
        "recovery_point": o.recovery_point.as_ref().map(|rp| json!({
            "at": opt_ts(rp.at),
            "error": rp.error,
            "rpo_measured_from": opt_ts(rp.rpo_from),
            "rpo_measured_from_incident_start": rp.rpo_from_incident,
        })),
        "planned_rto_ms": r.plan.as_ref().map(PlanFacts::planned_rto_ms),
        "interrupted": o.interrupted.as_ref().map(|(at, signal)| json!({
            "at": ts(*at),
            "signal": signal,
        })),
        "unfinished_steps": o.unfinished,
        "resumes": o.gaps.iter().map(|g| json!({
            "resumed_at": ts(g.resumed_at),
            "gap_from": ts(g.began_at()),
            "gap_ms": g.length_ms,
            "commander": g.commander,
            "rerun": g.rerun,
            "playbook_changed": g.playbook_changed,
        })).collect::<Vec<_>>(),
        "rto_warnings_at_ms": o.rto_warnings_ms,
        "locks_broken": o.locks_broken.iter().map(|(run, stale)| json!({
            "run_id": run,
            "stale": stale,
        })).collect::<Vec<_>>(),
        "journal_truncated": o.journal_truncated,
        "record_failures": o.record_failures.iter().map(|(at, path, error)| json!({
            "at": ts(*at),
            "path": path,
            "error": error,
        })).collect::<Vec<_>>(),
    })
}

/// The plan, its rows made as they are written.
struct PlanDoc<'a> {
    report: &'a Report<'a>,
    plan: &'a PlanFacts,
}

impl<'a> PlanDoc<'a> {
    fn of(report: &'a Report<'a>, plan: &'a PlanFacts) -> Self {
        Self { report, plan }
    }
}

impl Serialize for PlanDoc<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let p = self.plan;
        let mut doc = serializer.serialize_struct("PlanDoc", 6)?;
        doc.serialize_field("planned_rto_ms", &p.planned_rto_ms())?;
        doc.serialize_field("rto_objective_ms", &p.rto_objective_ms)?;
        doc.serialize_field("exceeds_rto", &p.exceeds_rto)?;
        doc.serialize_field("critical_path", &Seq(|| p.critical_path()))?;
        doc.serialize_field("unbudgeted", &Seq(|| p.unbudgeted()))?;
        let steps = || self.report.planned_steps().map(PlannedStepDoc::of);
        doc.serialize_field("steps", &Seq(steps))?;
        doc.end()
    }
}

#[derive(Serialize)]
struct PlannedStepDoc<'a> {
    id: &'a str,
    action: &'a str,
    budget_ms: Option<u64>,
    planned_start_ms: u64,
    planned_finish_ms: u64,
    skip: Option<String>,
    critical: bool,
    read_only: bool,
    status: &'a str,
}

impl<'a> PlannedStepDoc<'a> {
    fn of(s: PlannedStep<'a>) -> Self {
        Self {
            id: s.id,
            action: s.action,
            budget_ms: s.budget_ms,
            planned_start_ms: s.start_ms,
            planned_finish_ms: s.finish_ms,
            skip: s.skip.map(ToString::to_string),
            critical: s.critical,
            read_only: s.read_only,
            status: s.status.as_str(),
        }
    }
}

#[derive(Serialize)]
struct StepDoc<'a> {
    id: &'a str,
    title: Option<&'a str>,
    action: Option<&'a str>,
    status: &'a str,
    reason: Option<&'a str>,
    started_at: Ts,
    start_offset_ms: Option<u64>,
    duration_ms: Option<u64>,
    budget_ms: Option<u64>,
    over_budget_ms: Option<u64>,
    attempts: usize,
    exit_code: Option<i32>,
    rerun_after_resume: bool,
    cleanup: bool,
    for_each: bool,
    instance_of: Option<&'a str>,
    rollback_ok: Option<bool>,
    would_run: Option<&'a str>,
    outputs: IndexMap<&'a str, &'a str>,
    /// Only a remote step has the key: the reports of local runs stay as they were.
    #[serde(skip_serializing_if = "Option::is_none")]
    host: Option<&'a str>,
}

/// The step rows, made as they are written, each with its outputs.
struct StepDocs<'a> {
    report: &'a Report<'a>,
    outputs: HashMap<&'a str, IndexMap<&'a str, &'a str>>,
}

impl<'a> StepDocs<'a> {
    fn of(r: &'a Report<'a>) -> Self {
        // Each step's outputs, in the report's order, found once (not a scan of every output
        // for every step). A name given twice keeps its place and takes the later value.
        let mut outputs: HashMap<&str, IndexMap<&str, &str>> = HashMap::new();
        for o in &r.outputs {
            outputs
                .entry(o.step.as_str())
                .or_default()
                .insert(o.name.as_str(), o.value.as_str());
        }
        Self { report: r, outputs }
    }
}

impl Serialize for StepDocs<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let rows = || {
            self.report.steps.iter().map(|s| StepDoc {
                id: s.id,
                title: s.title,
                action: s.action,
                status: s.status.as_str(),
                reason: s.reason,
                started_at: Ts(s.started_at),
                start_offset_ms: s.offset_ms,
                // A step that never started has no duration (the Markdown shows `—`).
                duration_ms: s.started_at.and(s.duration_ms),
                budget_ms: s.budget_ms,
                over_budget_ms: s.over_budget_ms,
                attempts: s.attempts,
                exit_code: s.exit_code,
                rerun_after_resume: s.rerun_after_resume,
                cleanup: s.cleanup,
                for_each: s.for_each,
                instance_of: s.instance_of(),
                rollback_ok: s.rollback_ok,
                would_run: s.would_run,
                outputs: self.outputs.get(s.id).cloned().unwrap_or_default(),
                host: s.host,
            })
        };
        serializer.collect_seq(rows())
    }
}

fn checks(r: &Report) -> Value {
    r.checks
        .iter()
        .map(|c| {
            let mut row = json!({
                "check": c.check,
                "step": c.step,
                "phase": phase(c.phase),
                "probe": c.probe,
                "target": c.target,
                "started_at": ts(c.started_at),
                "result": c.result(),
                "attempts": c.attempts,
                "first_pass_ms": c.first_pass_ms,
                "duration_ms": c.duration_ms,
                "detail": c.detail,
            });
            if let Some(h) = c.history {
                row["history"] = json!(h);
            }
            row
        })
        .collect()
}

fn approvals(r: &Report) -> Value {
    r.approvals
        .iter()
        .map(|a| {
            let mut row = json!({
                "step": a.step,
                "kind": a.kind,
                "decision": a.decision,
                "by": a.by,
                "how": a.how.map(how),
                "asked_at": opt_ts(a.asked_at),
                "answered_at": opt_ts(a.answered_at),
                "question": a.question,
                "reason": a.reason,
            });
            if let Some(u) = &a.os_user {
                row["os_user"] = json!(u);
            }
            if !a.approvers.is_empty() {
                row["approvers"] = json!(a.approvers);
            }
            if !a.refused.is_empty() {
                row["refused"] = a
                    .refused
                    .iter()
                    .map(|(by, os_user, reason)| json!({"by": by, "os_user": os_user, "reason": reason}))
                    .collect();
            }
            if let Some((approvers, not_commander)) = a.waited_for {
                row["waited_for_approve"] =
                    json!({"approvers": approvers, "not_commander": not_commander});
            }
            if a.timed_out {
                row["timed_out"] = json!(true);
            }
            // Only where a manual step recorded answers, so other approvals read as before.
            if !a.inputs.is_empty() {
                row["inputs"] = a
                    .inputs
                    .iter()
                    .map(|i| {
                        json!({
                            "input": i.input,
                            "value": i.value,
                            "by": i.by,
                            "how": how(i.how),
                            "at": ts(i.at),
                        })
                    })
                    .collect();
            }
            row
        })
        .collect()
}

fn failures(r: &Report) -> Value {
    r.failures
        .iter()
        .map(|f| {
            json!({
                "step": f.step,
                "status": f.status.as_str(),
                "exit_code": f.exit_code,
                "reason": f.reason,
                "attempts": f.attempts,
                "process_group_empty": f.group_empty,
                "pgid": f.pgid,
                "log": f.log.as_ref().map(log),
            })
        })
        .collect()
}

fn rollbacks(r: &Report) -> Value {
    r.rollbacks
        .iter()
        .map(|rb| {
            json!({
                "step": rb.step,
                "command": rb.command,
                "started_at": ts(rb.started_at),
                "result": rb.result,
                "exit_code": rb.exit_code,
                "duration_ms": rb.duration_ms,
                "reason": rb.reason,
                "log": rb.log.as_ref().map(log),
            })
        })
        .collect()
}

fn notifications(r: &Report) -> Value {
    r.notifications
        .iter()
        .map(|n| {
            json!({
                "at": ts(n.at),
                "channel": n.channel,
                "about": n.about,
                "result": if n.sent { "sent" } else { "failed" },
                "http_status": n.http_status,
                "reason": n.reason,
            })
        })
        .collect()
}

fn comparison(r: &Report) -> Value {
    let Some(c) = &r.comparison else {
        return Value::Null;
    };
    json!({
        "previous_run_id": c.run_id,
        "previous_started_at": opt_ts(c.started_at),
        "previous_version": c.version,
        "rto_then_ms": c.rto_then_ms,
        "rto_now_ms": c.rto_now_ms,
        "slower_steps": c.slower.iter().map(|s| json!({
            "step": s.step,
            "then_ms": s.then_ms,
            "now_ms": s.now_ms,
            "slower_percent": s.percent,
        })).collect::<Vec<_>>(),
    })
}
