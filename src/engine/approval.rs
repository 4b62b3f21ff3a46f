//! Approvals: a step's `confirm` and a `manual` step's "done", given in advance by `--yes` /
//! `--approve ID` or asked on the terminal, one prompt at a time. With no terminal and no flag
//! the answer is "impossible to ask", which fails the step at once instead of hanging. An
//! interrupt ends a prompt at once, and nobody is said to have answered it.

use std::io::{IsTerminal as _, Write as _};
use std::sync::Arc;

use indexmap::IndexMap;
use tokio_util::sync::CancellationToken;

use crate::engine::inputs::{self, Answer, GivenInputs, Known, Stopped};
use crate::engine::prompt::{Line, Lines, Stop, wake_pair};
use crate::event::ApprovalHow;
use crate::playbook::input::Input;

/// How long a prompt whose terminal hung up waits for the SIGHUP that comes with it.
const HANGUP_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// The answer to one approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decision {
    Given {
        by: String,
        how: ApprovalHow,
        /// A manual step's answers to its `inputs`, in the order declared.
        answers: Vec<Answer>,
    },
    Declined {
        by: String,
        reason: String,
    },
    /// Nobody could be asked.
    Impossible(String),
    /// The run was interrupted before anybody answered.
    Interrupted,
}

/// What kind of approval is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ask {
    /// `confirm = "…"`: approve before the step starts.
    Confirm,
    /// `manual = "…"`: confirm that a person did it.
    Manual,
}

/// Who may approve, and how.
pub(crate) struct Approvals {
    yes: bool,
    approve: Vec<String>,
    /// `--input STEP.NAME=VALUE`, checked and normalised before the run.
    given: GivenInputs,
    commander: String,
    interactive: bool,
    /// One prompt on the terminal at a time, and what was typed ahead of it.
    terminal: Arc<tokio::sync::Mutex<Lines>>,
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
            interactive,
            terminal: Arc::new(tokio::sync::Mutex::new(Lines::default())),
        }
    }

    /// The answer, given in advance or asked at the terminal; [`Decision::Interrupted`] as soon
    /// as `cancel` fires, whether the prompt waits for its turn or for an answer.
    ///
    /// A manual step with `inputs` needs every answer: those given by `--input` (which, when
    /// they are all of them, are its confirmation), defaults with `--yes`, the rest asked.
    pub(crate) async fn ask(
        &self,
        kind: Ask,
        step: &str,
        text: &str,
        wanted: &IndexMap<String, Input>,
        cancel: &CancellationToken,
    ) -> Decision {
        let known = inputs::known(wanted, self.given.get(step), self.yes);
        let to_ask = match known {
            Known::All(answers) => {
                let by = if self.yes && answers.iter().any(|a| a.by == "--yes") {
                    "--yes"
                } else {
                    "--input"
                };
                return Decision::Given {
                    by: by.to_owned(),
                    how: ApprovalHow::Flag,
                    answers,
                };
            }
            Known::Missing { .. } if !self.interactive => {
                return Decision::Impossible(known.impossible(step));
            }
            Known::Missing { answers, ask } => Some((answers, ask)),
            Known::Nothing => None,
        };
        if to_ask.is_none() && self.yes {
            return Decision::Given {
                by: "--yes".to_owned(),
                how: ApprovalHow::Flag,
                answers: Vec::new(),
            };
        }
        // `--approve restore` approves every instance `restore[KEY]`.
        let unkeyed = crate::playbook::model::Instance::without_keys(step);
        if kind == Ask::Confirm && self.approve.iter().any(|a| a == step || *a == unkeyed) {
            return Decision::Given {
                by: format!("--approve {step}"),
                how: ApprovalHow::Flag,
                answers: Vec::new(),
            };
        }
        if !self.interactive {
            let flags = match kind {
                Ask::Confirm => format!("`--approve {step}` or `--yes`"),
                Ask::Manual => "`--yes` (manual steps need a person or --yes)".to_owned(),
            };
            return Decision::Impossible(format!(
                "step `{step}` needs approval, and there is no terminal to ask: rerun with {flags}"
            ));
        }
        let mut lines = tokio::select! {
            lines = Arc::clone(&self.terminal).lock_owned() => lines,
            () = cancel.cancelled() => return Decision::Interrupted,
        };
        if cancel.is_cancelled() {
            return Decision::Interrupted;
        }
        // Dropped when this future ends in any way (answered, interrupted, a manual step's
        // timeout): the reading thread stops at once and releases the terminal.
        let (_waker, quit) = match wake_pair() {
            Ok(pair) => pair,
            Err(e) => return Decision::Impossible(format!("failed to prepare the prompt: {e}")),
        };
        let (step, text, commander) = (step.to_owned(), text.to_owned(), self.commander.clone());
        let (answers, ask) = to_ask.unwrap_or_default();
        let asked = tokio::task::spawn_blocking(move || {
            let asking = Asking {
                kind,
                step: &step,
                text: &text,
                commander: &commander,
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

/// One prompt: the question, and the inputs still to be answered after it.
struct Asking<'a> {
    kind: Ask,
    step: &'a str,
    text: &'a str,
    commander: &'a str,
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
        }
    } else {
        Decision::Declined {
            by,
            reason: format!("answered {answer:?}"),
        }
    }
}
