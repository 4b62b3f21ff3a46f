//! Approvals: a step's `confirm` and a `manual` step's "done", given in advance by `--yes` /
//! `--approve ID` or asked on the terminal, one prompt at a time. With no terminal and no flag
//! the answer is "impossible to ask", which fails the step at once instead of hanging. An
//! interrupt ends a prompt at once, and nobody is said to have answered it.

use std::io::{IsTerminal as _, Write as _};
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::engine::prompt::{Line, Lines, Stop, wake_pair};
use crate::event::ApprovalHow;

/// How long a prompt whose terminal hung up waits for the SIGHUP that comes with it.
const HANGUP_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// The answer to one approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decision {
    Given {
        by: String,
        how: ApprovalHow,
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
    commander: String,
    interactive: bool,
    /// One prompt on the terminal at a time, and what was typed ahead of it.
    terminal: Arc<tokio::sync::Mutex<Lines>>,
}

impl Approvals {
    #[must_use]
    pub(crate) fn new(yes: bool, approve: Vec<String>, commander: String) -> Self {
        let interactive = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
        Self {
            yes,
            approve,
            commander,
            interactive,
            terminal: Arc::new(tokio::sync::Mutex::new(Lines::default())),
        }
    }

    /// The answer, given in advance or asked at the terminal; [`Decision::Interrupted`] as soon
    /// as `cancel` fires, whether the prompt waits for its turn or for an answer.
    pub(crate) async fn ask(
        &self,
        kind: Ask,
        step: &str,
        text: &str,
        cancel: &CancellationToken,
    ) -> Decision {
        if self.yes {
            return Decision::Given {
                by: "--yes".to_owned(),
                how: ApprovalHow::Flag,
            };
        }
        if kind == Ask::Confirm && self.approve.iter().any(|a| a == step) {
            return Decision::Given {
                by: format!("--approve {step}"),
                how: ApprovalHow::Flag,
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
        let asked = tokio::task::spawn_blocking(move || {
            prompt(kind, &step, &text, &commander, &mut lines, &quit)
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

fn prompt(
    kind: Ask,
    step: &str,
    text: &str,
    commander: &str,
    lines: &mut Lines,
    quit: &Stop,
) -> Decision {
    let mut err = std::io::stderr().lock();
    let mut read = || lines.read(quit);
    let question = match kind {
        Ask::Confirm => format!("\n[{step}] {text}\napprove? [y/N] "),
        Ask::Manual => {
            format!("\n[{step}] {text}\ntype `done` when it is done, or `no` to fail the step: ")
        }
    };
    let _ = write!(err, "{question}");
    let _ = err.flush();
    let answer = match read() {
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
    let _ = write!(err, "your name [{commander}]: ");
    let _ = err.flush();
    let by = match read() {
        Ok(Line::Text(name)) if !name.is_empty() => name,
        Ok(Line::Stopped | Line::HungUp) => {
            let _ = writeln!(err);
            return Decision::Interrupted;
        }
        _ => commander.to_owned(),
    };
    if yes {
        Decision::Given {
            by,
            how: ApprovalHow::Prompt,
        }
    } else {
        Decision::Declined {
            by,
            reason: format!("answered {answer:?}"),
        }
    }
}
