//! The report as one JSON document: the same content as the Markdown, with durations in
//! integer milliseconds (`_ms`), times in RFC 3339 UTC with milliseconds, and statuses in the
//! journal's words.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::playbook::model::IncludeLogs;

use super::md::{how, phase};
use super::model::{Measure, Report};
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

pub(super) fn render(r: &Report) -> Value {
    json!({
        "format_version": FORMAT_VERSION,
        "title": r.title,
        "run": run(r),
        "outcome": outcome(r),
        "plan": plan(r),
        "steps": steps(r),
        "checks": checks(r),
        "approvals": approvals(r),
        "failures": failures(r),
        "rollbacks": rollbacks(r),
        "include_logs": match r.include_logs {
            IncludeLogs::Failures => "failures",
            IncludeLogs::All => "all",
            IncludeLogs::None => "none",
        },
        "logs": r.all_logs.iter().map(log).collect::<Vec<_>>(),
        "notifications": notifications(r),
        "comparison": comparison(r),
        "signoff": r.signoff,
    })
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
        "planned_rto_ms": r.plan.as_ref().map(|p| p.planned_rto_ms),
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

fn plan(r: &Report) -> Value {
    let Some(p) = &r.plan else {
        return Value::Null;
    };
    json!({
        "planned_rto_ms": p.planned_rto_ms,
        "rto_objective_ms": p.rto_objective_ms,
        "exceeds_rto": p.exceeds_rto,
        "critical_path": p.critical_path,
        "unbudgeted": p.unbudgeted,
        "steps": p.steps.iter().map(|s| json!({
            "id": s.id,
            "action": s.action,
            "budget_ms": s.budget_ms,
            "planned_start_ms": s.start_ms,
            "planned_finish_ms": s.finish_ms,
            "skip": s.skip,
            "critical": s.critical,
            "read_only": s.read_only,
            "status": s.status.as_str(),
        })).collect::<Vec<_>>(),
    })
}

fn steps(r: &Report) -> Value {
    r.steps
        .iter()
        .map(|s| {
            json!({
                "id": s.id,
                "title": s.title,
                "action": s.action,
                "status": s.status.as_str(),
                "reason": s.reason,
                "started_at": opt_ts(s.started_at),
                "start_offset_ms": s.offset_ms,
                // A step that never started has no duration (the Markdown shows `—`).
                "duration_ms": s.started_at.and(s.duration_ms),
                "budget_ms": s.budget_ms,
                "over_budget_ms": s.over_budget_ms,
                "attempts": s.attempts,
                "exit_code": s.exit_code,
                "rerun_after_resume": s.rerun_after_resume,
                "cleanup": s.cleanup,
                "for_each": s.for_each,
                "instance_of": s.instance_of(),
                "rollback_ok": s.rollback_ok,
                "would_run": s.would_run,
                "outputs": r
                    .outputs
                    .iter()
                    .filter(|o| o.step == s.id)
                    .map(|o| (o.name.clone(), Value::String(o.value.clone())))
                    .collect::<serde_json::Map<_, _>>(),
            })
        })
        .collect()
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
