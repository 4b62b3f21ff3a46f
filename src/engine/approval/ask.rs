//! Asking for an approval: a step's `confirm` and a manual step's "done", given in advance by
//! `--yes` / `--approve ID` / `--input`, asked on the terminal (one prompt at a time), or waited
//! for from another process (`remote.rs`) when the run has no terminal and may wait, or when
//! the request needs other people. With no terminal, no flag and no leave to wait the answer is
//! "impossible to ask", which fails the step at once instead of hanging. An interrupt ends a
//! wait at once, and nobody is said to have answered it.

use std::io::{IsTerminal as _, Write as _};
use std::sync::Arc;
use std::time::Instant;

use indexmap::IndexMap;
use tokio_util::sync::CancellationToken;

use crate::engine::approval::answer;
use crate::engine::approval::decision::Decision;
use crate::engine::approval::remote::{Remote, Waiting};
use crate::engine::inputs::{self, Answer, GivenInputs, Known, Stopped};
use crate::engine::prompt::{Line, Lines, Stop, wake_pair};
use crate::event::{ApprovalHow, Bus};
use crate::playbook::duration::HumanDuration;
use crate::playbook::input::Input;
use crate::playbook::model::ConfirmRule;

/// What is left to ask at the terminal: the answers known already, and the inputs to ask.
type ToAsk = (Vec<Answer>, Vec<(String, Input)>);

/// How long a prompt whose terminal hung up waits for the SIGHUP that comes with it.
const HANGUP_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// What kind of approval is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ask {
    /// `confirm = "…"`: approve before the step starts.
    Confirm,
    /// `manual = "…"`: confirm that a person did it.
    Manual,
}

/// One request for an approval.
pub(crate) struct Gate<'a> {
    pub(crate) kind: Ask,
    /// The step's id in its playbook, as `--approve` and `--input` name it.
    pub(crate) id: &'a str,
    /// The step as the journal names it (and `runbook approve` does).
    pub(crate) name: &'a str,
    pub(crate) text: &'a str,
    /// A manual step's inputs (none for a `confirm`).
    pub(crate) wanted: &'a IndexMap<String, Input>,
    /// Who must answer a `confirm` (one person for a manual step).
    pub(crate) rule: ConfirmRule,
    /// `confirm_timeout`.
    pub(crate) timeout: Option<HumanDuration>,
    /// Where the approvals of a request that waits for other processes are journaled.
    pub(crate) bus: &'a Bus,
}

/// Who may approve, and how.
pub(crate) struct Approvals {
    yes: bool,
    approve: Vec<String>,
    /// `--input STEP.NAME=VALUE`, checked and normalised before the run.
    given: GivenInputs,
    commander: String,
    /// The OS user this run runs as: who answers at its terminal or gave its flags.
    os_user: String,
    interactive: bool,
    /// One prompt on the terminal at a time, and what was typed ahead of it.
    terminal: Arc<tokio::sync::Mutex<Lines>>,
    /// Answers from other processes, through the run folder.
    remote: Option<Remote>,
}

impl Approvals {
    #[must_use]
    pub(crate) fn new(
        yes: bool,
        approve: Vec<String>,
        given: GivenInputs,
        commander: String,
    ) -> Self {
        let interactive = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
        Self {
            yes,
            approve,
            given,
            commander,
            os_user: answer::own_user(),
            interactive,
            terminal: Arc::new(tokio::sync::Mutex::new(Lines::default())),
            remote: None,
        }
    }

    /// Takes answers from other processes too, through `remote`'s run folder.
    #[must_use]
    pub(crate) fn with_remote(mut self, remote: Remote) -> Self {
        self.remote = Some(remote);
        self
    }

    /// The answer, given in advance, asked at the terminal or waited for from another process;
    /// [`Decision::TimedOut`] once `confirm_timeout` passes without one, and
    /// [`Decision::Interrupted`] as soon as `cancel` fires.
    pub(crate) async fn ask(&self, gate: &Gate<'_>, cancel: &CancellationToken) -> Decision {
        let asked = Instant::now();
        let answered = self.answer(gate, cancel, asked);
        match gate.timeout {
            Some(limit) => tokio::time::timeout(limit.get(), answered)
                .await
                .unwrap_or(Decision::TimedOut(limit.as_millis())),
            None => answered.await,
        }
    }

    /// A manual step with `inputs` needs every answer: those given by `--input` (which, when
    /// they are all of them, are its confirmation), defaults with `--yes`, the rest asked.
    /// A request that needs other people (`approvers`, `not_commander`) takes no flag.
    async fn answer(
        &self,
        gate: &Gate<'_>,
        cancel: &CancellationToken,
        asked: Instant,
    ) -> Decision {
        let (kind, step) = (gate.kind, gate.id);
        let others = kind == Ask::Confirm && gate.rule.needs_others();
        let waits = self.remote.as_ref().is_some_and(|r| r.wait);
        let known = inputs::known(gate.wanted, self.given.get(step), self.yes);
        let mut preset = Vec::new();
        let mut to_ask = None;
        if others {
            if !waits && !self.interactive {
                let (approve, _) = self.remote.as_ref().map_or_else(
                    || (format!("runbook approve RUN {}", gate.name), String::new()),
                    |r| r.commands(gate.name),
                );
                let rule = rule_words(gate.rule);
                let flags = if self.yes || self.approve.iter().any(|a| a == step) {
                    " (`--yes` and `--approve` cannot give it)"
                } else {
                    ""
                };
                return Decision::Impossible(format!(
                    "step `{step}` needs {rule}{flags}, and this run may not wait for it: rerun with `--wait-for-approval`, then each of them runs `{approve}`"
                ));
            }
        } else {
            match known {
                Known::All(answers) => {
                    let by = if self.yes && answers.iter().any(|a| a.by == "--yes") {
                        "--yes"
                    } else {
                        "--input"
                    };
                    return self.given_by_flag(by.to_owned(), answers);
                }
                Known::Missing { .. } if !self.interactive && !waits => {
                    return Decision::Impossible(known.impossible(step));
                }
                Known::Missing { answers, ask } => {
                    preset.clone_from(&answers);
                    to_ask = Some((answers, ask));
                }
                Known::Nothing => {}
            }
            if to_ask.is_none() && self.yes {
                return self.given_by_flag("--yes".to_owned(), Vec::new());
            }
            // `--approve restore` approves every instance `restore[KEY]`.
            let unkeyed = crate::playbook::model::Instance::without_keys(step);
            if kind == Ask::Confirm && self.approve.iter().any(|a| a == step || *a == unkeyed) {
                return self.given_by_flag(format!("--approve {step}"), Vec::new());
            }
            if !self.interactive && !waits {
                let flags = match kind {
                    Ask::Confirm => format!("`--approve {step}`, `--yes` or `--wait-for-approval`"),
                    Ask::Manual => {
                        "`--yes` or `--wait-for-approval` (manual steps need a person or --yes)"
                            .to_owned()
                    }
                };
                return Decision::Impossible(format!(
                    "step `{step}` needs approval, and there is no terminal to ask: rerun with {flags}"
                ));
            }
        }
        let remotely = self.remote.as_ref().map(|remote| {
            let waiting = Waiting {
                step: gate.name,
                manual: kind == Ask::Manual,
                rule: if kind == Ask::Confirm {
                    gate.rule
                } else {
                    ConfirmRule::default()
                },
                wanted: gate.wanted,
                preset: &preset,
                timeout_ms: gate.timeout.map(HumanDuration::as_millis),
                prompt: self.interactive && !others,
            };
            async move { remote.wait(&waiting, gate.bus, asked, cancel).await }
        });
        match remotely {
            // Other people, through `runbook approve`, only.
            Some(remotely) if others || !self.interactive => remotely.await,
            // The terminal, and (when the run may wait) whoever answers first from elsewhere.
            Some(remotely) if waits => tokio::select! {
                d = self.at_terminal(kind, step, gate.text, to_ask, cancel) => d,
                d = remotely => d,
            },
            _ if others => Decision::Impossible(format!(
                "step `{step}` needs {}, and this run cannot take answers from other processes",
                rule_words(gate.rule)
            )),
            _ => {
                self.at_terminal(kind, step, gate.text, to_ask, cancel)
                    .await
            }
        }
    }

    fn given_by_flag(&self, by: String, answers: Vec<Answer>) -> Decision {
        Decision::Given {
            by,
            how: ApprovalHow::Flag,
            answers,
            os_user: Some(self.os_user.clone()),
            approvers: Vec::new(),
        }
    }

    /// Asks at the terminal, after any prompt already on it.
    async fn at_terminal(
        &self,
        kind: Ask,
        step: &str,
        text: &str,
        to_ask: Option<ToAsk>,
        cancel: &CancellationToken,
    ) -> Decision {
        let mut lines = tokio::select! {
            lines = Arc::clone(&self.terminal).lock_owned() => lines,
            () = cancel.cancelled() => return Decision::Interrupted,
        };
        if cancel.is_cancelled() {
            return Decision::Interrupted;
        }
        // Dropped when this future ends in any way (answered, interrupted, a manual step's
        // timeout, an answer from elsewhere): the reading thread stops at once and releases
        // the terminal.
        let (_waker, quit) = match wake_pair() {
            Ok(pair) => pair,
            Err(e) => return Decision::Impossible(format!("failed to prepare the prompt: {e}")),
        };
        let (step, text, commander) = (step.to_owned(), text.to_owned(), self.commander.clone());
        let os_user = self.os_user.clone();
        let (answers, ask) = to_ask.unwrap_or_default();
        let asked = tokio::task::spawn_blocking(move || {
            let asking = Asking {
                kind,
                step: &step,
                text: &text,
                commander: &commander,
                os_user: &os_user,
                answers,
                ask: &ask,
            };
            prompt(&asking, &mut lines, &quit)
        });
        let decision = tokio::select! {
            joined = asked => joined
                .unwrap_or_else(|e| Decision::Impossible(format!("the prompt failed: {e}"))),
            () = cancel.cancelled() => Decision::Interrupted,
        };
        match decision {
            // The terminal hung up: the kernel sends SIGHUP with it, which interrupts the run.
            // Give its delivery a moment rather than journal a decline by nobody.
            Decision::Interrupted if !cancel.is_cancelled() => {
                match tokio::time::timeout(HANGUP_GRACE, cancel.cancelled()).await {
                    Ok(()) => Decision::Interrupted,
                    Err(_) => {
                        Decision::Impossible("the terminal hung up before an answer".to_owned())
                    }
                }
            }
            d => d,
        }
    }
}

/// "the approval of 2 different people", "the approval of someone other than the commander".
fn rule_words(rule: ConfirmRule) -> String {
    match (rule.approvers, rule.not_commander) {
        (1, _) => {
            "the approval of someone other than the OS user who started the run (`not_commander`)"
                .to_owned()
        }
        (n, false) => format!("the approval of {n} different OS users (`approvers = {n}`)"),
        (n, true) => format!(
            "the approval of {n} different OS users, none of them the one who started the run (`approvers = {n}`, `not_commander`)"
        ),
    }
}

/// One prompt: the question, and the inputs still to be answered after it.
struct Asking<'a> {
    kind: Ask,
    step: &'a str,
    text: &'a str,
    commander: &'a str,
    os_user: &'a str,
    /// Known already (`--input`, defaults with `--yes`).
    answers: Vec<Answer>,
    ask: &'a [(String, Input)],
}

fn prompt(asking: &Asking<'_>, lines: &mut Lines, quit: &Stop) -> Decision {
    let Asking {
        kind,
        step,
        text,
        commander,
        ..
    } = *asking;
    let mut err = std::io::stderr().lock();
    let question = match kind {
        Ask::Confirm => format!("\n[{step}] {text}\napprove? [y/N] "),
        Ask::Manual => {
            format!("\n[{step}] {text}\ntype `done` when it is done, or `no` to fail the step: ")
        }
    };
    let _ = write!(err, "{question}");
    let _ = err.flush();
    let answer = match lines.read(quit) {
        Ok(Line::Text(a)) => a,
        // Stopped: nobody waits for the answer any more. Hung up: see `Approvals::ask`.
        Ok(Line::Stopped | Line::HungUp) => {
            let _ = writeln!(err);
            return Decision::Interrupted;
        }
        Ok(Line::Closed) => {
            return Decision::Impossible("the terminal closed before an answer".to_owned());
        }
        Err(e) => return Decision::Impossible(format!("failed to read the answer: {e}")),
    };
    let yes = match kind {
        Ask::Confirm => matches!(answer.to_ascii_lowercase().as_str(), "y" | "yes"),
        Ask::Manual => answer.eq_ignore_ascii_case("done"),
    };
    // Answered at the prompt, by whoever gives their name next.
    let mut typed = Vec::new();
    if yes {
        for (name, input) in asking.ask {
            match inputs::ask(&mut err, lines, quit, name, input) {
                Ok(value) => typed.push((name.clone(), value)),
                Err(Stopped::Interrupted) => return Decision::Interrupted,
                Err(Stopped::Impossible(why)) => return Decision::Impossible(why),
            }
        }
    }
    let _ = write!(err, "your name [{commander}]: ");
    let _ = err.flush();
    let by = match lines.read(quit) {
        Ok(Line::Text(name)) if !name.is_empty() => name,
        Ok(Line::Stopped | Line::HungUp) => {
            let _ = writeln!(err);
            return Decision::Interrupted;
        }
        _ => commander.to_owned(),
    };
    if yes {
        let mut answers = asking.answers.clone();
        answers.extend(typed.into_iter().map(|(input, value)| Answer {
            input,
            value,
            by: by.clone(),
            how: ApprovalHow::Prompt,
        }));
        Decision::Given {
            by,
            how: ApprovalHow::Prompt,
            answers,
            os_user: Some(asking.os_user.to_owned()),
            approvers: Vec::new(),
        }
    } else {
        Decision::Declined {
            by,
            reason: format!("answered {answer:?}"),
            os_user: Some(asking.os_user.to_owned()),
        }
    }
}
