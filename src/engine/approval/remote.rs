//! Waiting for `runbook approve` / `runbook decline` from another process: the run looks at
//! `answers/` when the kernel says it changed (see `wake.rs`), takes the answers to its step,
//! judges each against the request's rule and replies. The run alone writes the journal, so
//! answers given at the same moment are counted one at a time and never interleave.

use std::path::PathBuf;
use std::time::Instant;

use indexmap::IndexMap;
use tokio_util::sync::CancellationToken;

use crate::engine::approval::answer::{self, Outcome, Reply, Taken, Verdict};
use crate::engine::approval::decision::Decision;
use crate::engine::approval::wake::{RESCAN, Wake};
use crate::engine::inputs::Answer;
use crate::event::{ApprovalHow, Approver, Bus, Event, millis};
use crate::playbook::diagnostic::did_you_mean_suffix;
use crate::playbook::input::Input;
use crate::playbook::model::ConfirmRule;

/// Where a run takes answers from other processes, and whom it refuses.
#[derive(Debug, Clone)]
pub(crate) struct Remote {
    /// The run folder.
    pub(crate) run_dir: PathBuf,
    /// What the printed commands call the run: its id, or its folder.
    pub(crate) run_arg: String,
    /// The OS user who started (or resumed) the run, for `not_commander`.
    pub(crate) commander_os_user: String,
    /// `--wait-for-approval` or `approvals = "wait"`: without a terminal, wait for an answer.
    pub(crate) wait: bool,
}

/// One request, as the remote answerers see it.
pub(crate) struct Waiting<'a> {
    /// The step as the journal names it.
    pub(crate) step: &'a str,
    pub(crate) manual: bool,
    pub(crate) rule: ConfirmRule,
    pub(crate) wanted: &'a IndexMap<String, Input>,
    /// A manual step's inputs given by `--input` when the run started: the answer may leave
    /// them out.
    pub(crate) preset: &'a [Answer],
    pub(crate) timeout_ms: Option<u64>,
    /// Asked at the run's terminal at the same time.
    pub(crate) prompt: bool,
}

/// What one answer did to the request.
enum Judged {
    /// It still waits (for more approvals, or after a refused answer).
    Waits,
    Done(Decision),
}

impl Remote {
    /// The commands that answer `step`, exactly as a person types them.
    #[must_use]
    pub(crate) fn commands(&self, step: &str) -> (String, String) {
        let quote = |s: &str| {
            shlex::try_quote(s).map_or_else(|_| s.to_owned(), std::borrow::Cow::into_owned)
        };
        let (run, step) = (quote(&self.run_arg), quote(step));
        (
            format!("runbook approve {run} {step}"),
            format!("runbook decline {run} {step} --reason TEXT"),
        )
    }

    /// Waits for the answers that settle `req`: a decline, or as many approvals from
    /// different OS users as its rule needs. [`Decision::Interrupted`] as soon as `cancel` fires.
    pub(crate) async fn wait(
        &self,
        req: &Waiting<'_>,
        bus: &Bus,
        asked: Instant,
        cancel: &CancellationToken,
    ) -> Decision {
        let dir = match answer::prepare(&self.run_dir) {
            Ok(dir) => dir,
            Err(e) => {
                return Decision::Impossible(format!(
                    "step `{}` waits for `runbook approve`, but its folder `{}` cannot be made: {e}",
                    req.step,
                    answer::folder(&self.run_dir).display()
                ));
            }
        };
        // Watching starts before the first look: an answer written in between wakes it.
        let (_wake, mut woken) = match Wake::channel(&[&dir]) {
            Ok((wake, rx)) => (Some(wake), Some(rx)),
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch the answers folder; looking every 100 ms");
                (None, None)
            }
        };
        let (approve, decline) = self.commands(req.step);
        bus.emit(Event::ApprovalWaiting {
            step: req.step.to_owned(),
            approve,
            decline,
            approvers: req.rule.approvers,
            not_commander: req.rule.not_commander,
            timeout_ms: req.timeout_ms,
            prompt: req.prompt,
        });
        let mut approvers: Vec<Approver> = Vec::new();
        loop {
            for taken in answer::take(&dir, req.step) {
                let id = taken.id.clone();
                let (judged, reply) = self.judge(req, taken, &mut approvers, bus, asked);
                if let Err(e) = answer::reply(&dir, &id, &reply) {
                    tracing::warn!(error = %e, answer = %id, "failed to reply to an answer");
                }
                if let Judged::Done(decision) = judged {
                    return decision;
                }
            }
            let rescan = if woken.is_some() {
                RESCAN
            } else {
                std::time::Duration::from_millis(100)
            };
            tokio::select! {
                got = async {
                    match woken.as_mut() {
                        Some(rx) => rx.recv().await,
                        None => std::future::pending().await,
                    }
                } => {
                    if got.is_none() {
                        woken = None;
                    }
                }
                () = tokio::time::sleep(rescan) => {}
                () = cancel.cancelled() => return Decision::Interrupted,
            }
        }
    }

    /// One answer against the request: journaled, and the reply for whoever gave it.
    fn judge(
        &self,
        req: &Waiting<'_>,
        taken: Taken,
        approvers: &mut Vec<Approver>,
        bus: &Bus,
        asked: Instant,
    ) -> (Judged, Reply) {
        let reply = |outcome, message: String| Reply { outcome, message };
        let os_user = answer::user_name(taken.uid);
        let a = match taken.answer {
            Ok(a) => a,
            Err(why) => return (Judged::Waits, reply(Outcome::Invalid, why)),
        };
        let step = req.step;
        if a.verdict == Verdict::Decline {
            let reason = a
                .reason
                .clone()
                .unwrap_or_else(|| "declined with `runbook decline`".to_owned());
            return (
                Judged::Done(Decision::Declined {
                    by: a.by.clone(),
                    reason,
                    os_user: Some(os_user),
                }),
                reply(Outcome::Recorded, format!("declined step `{step}`")),
            );
        }
        let answers = match inputs(req, &a.inputs, &a.by) {
            Ok(answers) => answers,
            Err(why) => return (Judged::Waits, reply(Outcome::Invalid, why)),
        };
        let refused = if req.rule.not_commander && os_user == self.commander_os_user {
            Some(format!(
                "OS user `{os_user}` started this run, and step `{step}` needs the approval of someone else (`not_commander`)"
            ))
        } else if approvers.iter().any(|p| p.os_user == os_user) {
            Some(format!(
                "OS user `{os_user}` approved step `{step}` already: it needs {} different people",
                req.rule.approvers
            ))
        } else {
            None
        };
        if let Some(reason) = refused {
            bus.emit(Event::ApprovalRefused {
                step: step.to_owned(),
                by: a.by,
                os_user,
                reason: reason.clone(),
            });
            return (Judged::Waits, reply(Outcome::Refused, reason));
        }
        let waited_ms = millis(asked.elapsed());
        approvers.push(Approver {
            by: a.by.clone(),
            os_user: os_user.clone(),
            waited_ms,
        });
        let count = u32::try_from(approvers.len()).unwrap_or(u32::MAX);
        if count < req.rule.approvers {
            bus.emit(Event::ApprovalReceived {
                step: step.to_owned(),
                by: a.by,
                os_user,
                count,
                needed: req.rule.approvers,
                waited_ms,
            });
            let more = req.rule.approvers - count;
            return (
                Judged::Waits,
                reply(
                    Outcome::Recorded,
                    format!(
                        "approval {count} of {} recorded for step `{step}`: it waits for {}",
                        req.rule.approvers,
                        crate::text::count(more as usize, "more approval")
                    ),
                ),
            );
        }
        let several = req.rule.approvers > 1;
        let decision = Decision::Given {
            by: if several {
                approvers
                    .iter()
                    .map(|p| p.by.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            } else {
                a.by
            },
            how: ApprovalHow::Remote,
            answers,
            os_user: (!several).then(|| os_user.clone()),
            approvers: if several {
                std::mem::take(approvers)
            } else {
                Vec::new()
            },
        };
        let what = if req.manual { "confirmed" } else { "approved" };
        (
            Judged::Done(decision),
            reply(Outcome::Recorded, format!("{what} step `{step}`")),
        )
    }
}

/// A manual step's answers from `--input NAME=VALUE`: each a declared input with a value it
/// accepts; an input not given takes its default, and one without a default must be given.
fn inputs(
    req: &Waiting<'_>,
    given: &IndexMap<String, String>,
    by: &str,
) -> Result<Vec<Answer>, String> {
    let step = req.step;
    if !req.manual && !given.is_empty() {
        return Err(format!(
            "step `{step}` asks for a confirmation, which takes no `--input`: remove it"
        ));
    }
    for name in given.keys() {
        if !req.wanted.contains_key(name) {
            let hint = did_you_mean_suffix(name, req.wanted.keys().map(String::as_str));
            let declared = if req.wanted.is_empty() {
                "no inputs".to_owned()
            } else {
                crate::text::List::and_ticked(req.wanted.keys()).to_string()
            };
            return Err(format!(
                "unknown input `{name}` of step `{step}`{hint} (it has {declared})"
            ));
        }
    }
    let mut answers = Vec::new();
    let mut missing = Vec::new();
    for (name, input) in req.wanted {
        let preset = req.preset.iter().find(|a| &a.input == name);
        let value = match (given.get(name), preset, &input.default) {
            (Some(text), _, _) => input.accept(text).map_err(|why| {
                let shown = if input.secret { "***" } else { text.as_str() };
                format!("invalid `--input {name}={shown}` for step `{step}`: {why}")
            })?,
            (None, Some(p), _) => {
                answers.push(p.clone());
                continue;
            }
            (None, None, Some(default)) => default.clone(),
            (None, None, None) => {
                missing.push(name.as_str());
                continue;
            }
        };
        answers.push(Answer {
            input: name.clone(),
            value,
            by: by.to_owned(),
            how: ApprovalHow::Remote,
        });
    }
    if !missing.is_empty() {
        let flags: Vec<String> = missing
            .iter()
            .map(|n| format!("--input {n}=VALUE"))
            .collect();
        return Err(format!(
            "step `{step}` needs {}: add `{}`",
            crate::text::List::and_ticked(&missing),
            flags.join(" ")
        ));
    }
    Ok(answers)
}
