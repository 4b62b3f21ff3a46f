//! Events → messages: what each event a channel can be sent says, as a [`Draft`] that the Slack
//! and webhook renderers turn into JSON. Translation is pure and cheap: it runs inside the
//! bus's lock. The one thing that needs the disk, a failed step's log tail, is named here
//! and read by the sender.

use chrono::{DateTime, Utc};
use serde_json::Map;

use crate::event::{CheckPhase, Event, Mode, Record, RunStatus, StepStatus};
use crate::notify::message::{About, Draft, Footer, Preapproved, RunFacts};
use crate::notify::text::Rich;
use crate::playbook::duration::format_human;

/// Turns events into drafts, remembering what later messages need (the failed steps).
pub(crate) struct Translator {
    facts: RunFacts,
    failed: Vec<String>,
}

impl Translator {
    pub(crate) fn new(facts: RunFacts) -> Self {
        Self {
            facts,
            failed: Vec::new(),
        }
    }

    /// The message an event makes, if any.
    #[expect(
        clippy::too_many_lines,
        reason = "one arm per kind of message, in order"
    )]
    pub(crate) fn translate(&mut self, record: &Record) -> Option<Draft> {
        let elapsed_ms =
            u64::try_from((record.ts - self.facts.started_at).num_milliseconds()).unwrap_or(0);
        let mut draft = self.draft(record.ts, elapsed_ms);
        let head =
            |d: &Draft| Rich::new().text(format!("{} {}", d.footer.mode_tag(), d.footer.label()));
        match &record.event {
            Event::RunStarted { .. } => {
                let f = &self.facts;
                draft.about = About::Started;
                draft.headline = head(&draft).text(" started");
                draft.body.push(
                    Rich::new()
                        .bold(f.title.clone())
                        .text(format!(" is running as {}", mode_words(f.mode))),
                );
                draft.fields = vec![
                    ("Mode".into(), Rich::new().text(f.mode.as_str())),
                    (
                        "Environment".into(),
                        f.env
                            .as_ref()
                            .map_or_else(|| Rich::new().text("none"), |e| Rich::new().code(e)),
                    ),
                    ("Commander".into(), Rich::new().text(f.commander.clone())),
                    (
                        "RTO objective".into(),
                        Rich::new().text(
                            f.rto_objective_ms
                                .map_or_else(|| "none".to_owned(), format_human),
                        ),
                    ),
                    ("Run".into(), Rich::new().code(f.run_id.clone())),
                ];
                draft.put("title", &f.title);
            }
            Event::StepFinished {
                step,
                status,
                reason,
                exit_code,
                attempts,
                duration_ms,
                ..
            } => {
                let reason = reason.clone().unwrap_or_else(|| status.as_str().to_owned());
                draft.put("step", step);
                draft.put("status", status.as_str());
                draft.put("reason", &reason);
                draft.put("exit_code", exit_code);
                draft.put("attempts", attempts);
                draft.put("duration_ms", duration_ms);
                if *status == StepStatus::Failed {
                    self.failed.push(step.clone());
                    draft.about = About::StepFailed;
                    draft.urgent = true;
                    draft.headline = head(&draft).text(format!(": step {step} failed"));
                    let tries = if *attempts > 1 {
                        format!(" after {attempts} attempts")
                    } else {
                        String::new()
                    };
                    draft.body.push(
                        Rich::new()
                            .text("Step ")
                            .code(step)
                            .text(format!(" failed{tries}: {reason}")),
                    );
                    draft.log = Some((self.facts.run_dir.join("logs"), step.clone()));
                } else {
                    draft.about = About::StepFinished;
                    draft.headline = head(&draft).text(format!(": step {step} {status}"));
                    let mut line = Rich::new()
                        .text("Step ")
                        .code(step)
                        .text(format!(" {status} in {}", format_human(*duration_ms)));
                    if *status != StepStatus::Ok {
                        line = line.text(format!(": {reason}"));
                    }
                    draft.body.push(line);
                }
            }
            Event::ApprovalRequested { step, question } => {
                if self.preapproved(step) {
                    return None;
                }
                draft.about = About::ApprovalNeeded;
                draft.urgent = true;
                draft.headline = head(&draft).text(format!(": approval needed for {step}"));
                draft.body.push(
                    Rich::new()
                        .text("Step ")
                        .code(step)
                        .text(" waits for an approval at the runbook prompt:"),
                );
                draft.body.push(Rich::quote(question));
                draft.put("step", step);
                draft.put("question", question);
            }
            Event::RtoWarning {
                elapsed_ms,
                rto_objective_ms,
            } => {
                draft.about = About::RtoWarning;
                draft.footer.elapsed_ms = *elapsed_ms;
                draft.headline = head(&draft).text(": 80% of the RTO used");
                draft.body.push(Rich::new().text(format!(
                    "{} elapsed of the {} RTO objective, and steps remain.",
                    format_human(*elapsed_ms),
                    format_human(*rto_objective_ms)
                )));
            }
            Event::RunFinished {
                status,
                duration_ms,
                failures_tolerated,
                rto_objective_ms,
                rto_achieved_ms,
                ..
            } => {
                draft.about = About::Finished;
                draft.urgent = *status != RunStatus::Ok;
                draft.headline = head(&draft).text(format!(" finished: {}", status.as_str()));
                let rto = match (rto_achieved_ms, rto_objective_ms) {
                    (Some(a), Some(o)) => format!(
                        "{} of {}: {}",
                        format_human(*a),
                        format_human(*o),
                        if a <= o { "met" } else { "missed" }
                    ),
                    (Some(a), None) => format!("{} (no objective)", format_human(*a)),
                    (None, Some(o)) if *status != RunStatus::Ok => {
                        format!("not achieved (objective {})", format_human(*o))
                    }
                    (None, Some(o)) => format!("not measured (objective {})", format_human(*o)),
                    (None, None) => "not measured".to_owned(),
                };
                let report = self.facts.run_dir.join("report.md").display().to_string();
                let tolerated = match failures_tolerated {
                    0 => String::new(),
                    1 => ", with 1 failure tolerated".to_owned(),
                    n => format!(", with {n} failures tolerated"),
                };
                draft.body.push(Rich::new().text(format!(
                    "The run {} after {}{tolerated}.",
                    match status {
                        RunStatus::Ok => "succeeded",
                        RunStatus::Failed => "failed",
                        RunStatus::Interrupted => "was interrupted",
                    },
                    format_human(*duration_ms)
                )));
                let failed = if self.failed.is_empty() {
                    Rich::new().text("none")
                } else {
                    self.failed
                        .iter()
                        .enumerate()
                        .fold(Rich::new(), |r, (i, s)| {
                            if i == 0 { r } else { r.text(", ") }.code(s)
                        })
                };
                draft.fields = vec![
                    ("Status".into(), Rich::new().text(status.as_str())),
                    ("RTO".into(), Rich::new().text(rto)),
                    ("Failed steps".into(), failed),
                    ("Report".into(), Rich::new().code(report.clone())),
                ];
                draft.put("status", status.as_str());
                draft.put("duration_ms", duration_ms);
                draft.put("failures_tolerated", failures_tolerated);
                draft.put("rto_achieved_ms", rto_achieved_ms);
                draft.put(
                    "rto_met",
                    rto_achieved_ms.zip(*rto_objective_ms).map(|(a, o)| a <= o),
                );
                draft.put("failed_steps", &self.failed);
                draft.put("report", report);
            }
            Event::CheckFinished {
                check,
                step,
                phase,
                passed: false,
                attempts,
                detail,
                ..
            } => {
                draft.about = About::CheckFailed;
                draft.urgent = true;
                draft.headline = head(&draft).text(format!(": check {check} failed"));
                draft
                    .body
                    .push(Rich::new().text("Check ").code(check).text(format!(
                        " ({}) failed after {attempts} {}: {detail}",
                        phase_words(*phase),
                        if *attempts == 1 {
                            "attempt"
                        } else {
                            "attempts"
                        }
                    )));
                draft.put("check", check);
                draft.put("step", step);
                draft.put("phase", phase);
                draft.put("attempts", attempts);
                draft.put("detail", detail);
            }
            Event::RollbackFinished {
                step, ok, reason, ..
            } => {
                draft.about = About::Rollback;
                draft.urgent = !ok;
                let outcome = if *ok { "done" } else { "failed" };
                draft.headline = head(&draft).text(format!(": rollback of {step} {outcome}"));
                draft.body.push(if *ok {
                    Rich::new()
                        .text("Step ")
                        .code(step)
                        .text(" was rolled back.")
                } else {
                    Rich::new()
                        .text("The rollback of ")
                        .code(step)
                        .text(format!(
                            " failed: {}",
                            reason.as_deref().unwrap_or("no reason given")
                        ))
                });
                draft.put("step", step);
                draft.put("ok", ok);
                draft.put("reason", reason);
            }
            Event::NotifyRequested { step, text, fields } => {
                draft.about = About::Notify;
                draft.headline = head(&draft).text(format!(": message from step {step}"));
                draft.body = text.lines().map(|l| Rich::new().text(l)).collect();
                draft.fields = fields
                    .iter()
                    .map(|(label, value)| (label.clone().into(), Rich::new().text(value)))
                    .collect();
                draft.put("step", step);
                if !fields.is_empty() {
                    draft.put("fields", fields);
                }
            }
            _ => return None,
        }
        Some(draft)
    }

    fn draft(&self, ts: DateTime<Utc>, elapsed_ms: u64) -> Draft {
        let f = &self.facts;
        Draft {
            about: About::Notify,
            ts,
            headline: Rich::new(),
            body: Vec::new(),
            fields: Vec::new(),
            urgent: false,
            log: None,
            tail: Vec::new(),
            footer: Footer {
                run_id: f.run_id.clone(),
                playbook: f.playbook.clone(),
                version: f.version.clone(),
                mode: f.mode,
                env: f.env.clone(),
                commander: f.commander.clone(),
                elapsed_ms,
                rto_objective_ms: f.rto_objective_ms,
            },
            data: Map::new(),
        }
    }

    fn preapproved(&self, step: &str) -> bool {
        match &self.facts.preapproved {
            Preapproved::All => true,
            Preapproved::Steps(steps) => steps.contains(step),
        }
    }
}

fn mode_words(mode: Mode) -> &'static str {
    match mode {
        Mode::Drill => "a drill: practice, not an incident",
        Mode::Incident => "an incident response",
        Mode::Routine => "a routine run: a scheduled operation",
        Mode::DryRun => "a dry run",
    }
}

fn phase_words(phase: CheckPhase) -> &'static str {
    match phase {
        CheckPhase::Assessment => "before the steps",
        CheckPhase::Validation => "after the steps",
        CheckPhase::Step => "step check",
        CheckPhase::Verify => "verify",
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::path::PathBuf;

    use super::*;

    fn facts(preapproved: Preapproved) -> RunFacts {
        RunFacts {
            run_id: "r1".into(),
            playbook: "db".into(),
            version: "1.0.0".into(),
            title: "Restore".into(),
            mode: Mode::Drill,
            env: Some("staging".into()),
            commander: "alice".into(),
            rto_objective_ms: Some(60_000),
            started_at: DateTime::parse_from_rfc3339("2026-11-23T02:00:00Z")
                .expect("time")
                .with_timezone(&Utc),
            run_dir: PathBuf::from("/runs/r1"),
            preapproved,
        }
    }

    fn at(seconds: i64, event: Event) -> Record {
        Record {
            ts: DateTime::parse_from_rfc3339("2026-11-23T02:00:00Z")
                .expect("time")
                .with_timezone(&Utc)
                + chrono::Duration::seconds(seconds),
            run_id: "r1".into(),
            event,
            item: None,
        }
    }

    fn step_failed(step: &str) -> Event {
        Event::StepFinished {
            step: step.into(),
            status: StepStatus::Failed,
            reason: Some("exit code 3".into()),
            outputs: BTreeMap::new(),
            exit_code: Some(3),
            attempts: 2,
            duration_ms: 1200,
            would_run: None,
        }
    }

    #[test]
    fn a_failure_is_urgent_names_its_log_and_is_listed_when_the_run_finishes() {
        let mut t = Translator::new(facts(Preapproved::Steps(BTreeSet::new())));
        let failed = t
            .translate(&at(90, step_failed("parent/restore")))
            .expect("a message");
        assert_eq!(failed.about, About::StepFailed);
        assert!(failed.urgent);
        assert_eq!(
            failed.fallback(),
            "[DRILL] db@1.0.0: step parent/restore failed\nStep `parent/restore` failed after 2 attempts: exit code 3"
        );
        assert_eq!(
            failed.log,
            Some((PathBuf::from("/runs/r1/logs"), "parent/restore".to_owned()))
        );
        assert_eq!(failed.footer.elapsed_ms, 90_000);
        let finished = t
            .translate(&at(
                100,
                Event::RunFinished {
                    status: RunStatus::Failed,
                    duration_ms: 100_000,
                    failures_tolerated: 0,
                    rto_objective_ms: Some(60_000),
                    rto_achieved_ms: Some(100_000),
                    rpo_objective_ms: None,
                    rpo_achieved_ms: None,
                    recovery_point: None,
                    recovery_point_error: None,
                },
            ))
            .expect("a message");
        assert!(finished.urgent);
        assert_eq!(
            finished.data["failed_steps"],
            serde_json::json!(["parent/restore"])
        );
        assert_eq!(finished.data["rto_met"], false);
        assert_eq!(finished.data["report"], "/runs/r1/report.md");
    }

    #[test]
    fn approvals_given_by_a_flag_are_not_announced() {
        let ask = |step: &str| Event::ApprovalRequested {
            step: step.into(),
            question: "go?".into(),
        };
        let mut t = Translator::new(facts(Preapproved::Steps(BTreeSet::from([
            "restore".to_owned()
        ]))));
        assert!(t.translate(&at(1, ask("restore"))).is_none());
        let promote = t.translate(&at(1, ask("promote"))).expect("a message");
        assert_eq!(promote.about, About::ApprovalNeeded);
        assert!(promote.urgent);
        let mut all = Translator::new(facts(Preapproved::All));
        assert!(all.translate(&at(1, ask("promote"))).is_none());
    }

    #[test]
    fn a_notify_step_s_fields_keep_their_order_for_slack_the_webhook_and_the_journal() {
        let mut t = Translator::new(facts(Preapproved::All));
        let fields: indexmap::IndexMap<String, String> =
            [("Severity", "SEV0"), ("Commander", "alice")]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
        let draft = t
            .translate(&at(
                5,
                Event::NotifyRequested {
                    step: "page".into(),
                    text: "orders is down".into(),
                    fields: fields.clone(),
                },
            ))
            .expect("a message");
        assert_eq!(draft.plain_fields(), fields);
        assert_eq!(draft.journaled_fields(), fields);
        let hook = crate::notify::webhook::payload(&draft);
        assert_eq!(
            hook["text"],
            "[DRILL] db@1.0.0: message from step page\norders is down"
        );
        assert_eq!(
            serde_json::to_string(&hook["fields"]).expect("JSON"),
            r#"{"Severity":"SEV0","Commander":"alice"}"#
        );
    }

    #[test]
    fn events_nobody_is_told_about_make_no_message() {
        let mut t = Translator::new(facts(Preapproved::All));
        for event in [
            Event::StepOutput {
                step: "s".into(),
                line: "x".into(),
            },
            Event::NotificationSent {
                channel: "slack".into(),
                about: "started".into(),
                text: "t".into(),
                fields: indexmap::IndexMap::new(),
            },
            Event::RunInterrupted {
                signal: "SIGINT".into(),
            },
        ] {
            assert!(t.translate(&at(1, event)).is_none());
        }
    }
}
