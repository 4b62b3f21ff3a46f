//! Approvals: a step's `confirm` and a `manual` step's "done", given in advance by `--yes` /
//! `--approve ID` or asked on the terminal, one prompt at a time. With no terminal and no flag
//! the answer is "impossible to ask", which fails the step at once instead of hanging.

use std::io::{BufRead as _, IsTerminal as _, Write as _};

use crate::engine::event::ApprovalHow;

/// The answer to one approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
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
}

/// What kind of approval is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ask {
    /// `confirm = "…"`: approve before the step starts.
    Confirm,
    /// `manual = "…"`: confirm that a person did it.
    Manual,
}

/// Who may approve, and how.
pub struct Approvals {
    yes: bool,
    approve: Vec<String>,
    commander: String,
    interactive: bool,
    /// One prompt on the terminal at a time.
    prompt: tokio::sync::Mutex<()>,
}

impl Approvals {
    #[must_use]
    pub fn new(yes: bool, approve: Vec<String>, commander: String) -> Self {
        let interactive = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
        Self {
            yes,
            approve,
            commander,
            interactive,
            prompt: tokio::sync::Mutex::new(()),
        }
    }

    /// Whether `--approve ID` names a step.
    #[must_use]
    pub fn names(&self) -> &[String] {
        &self.approve
    }

    pub async fn ask(&self, kind: Ask, step: &str, text: &str) -> Decision {
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
        let _one_at_a_time = self.prompt.lock().await;
        let (step, text, commander) = (step.to_owned(), text.to_owned(), self.commander.clone());
        tokio::task::spawn_blocking(move || prompt(kind, &step, &text, &commander))
            .await
            .unwrap_or_else(|e| Decision::Impossible(format!("the prompt failed: {e}")))
    }
}

fn prompt(kind: Ask, step: &str, text: &str, commander: &str) -> Decision {
    let mut err = std::io::stderr().lock();
    let stdin = std::io::stdin();
    let read = || {
        let mut line = String::new();
        stdin
            .lock()
            .read_line(&mut line)
            .map(|n| (n > 0).then(|| line.trim().to_owned()))
    };
    let question = match kind {
        Ask::Confirm => format!("\n[{step}] {text}\napprove? [y/N] "),
        Ask::Manual => {
            format!("\n[{step}] {text}\ntype `done` when it is done, or `no` to fail the step: ")
        }
    };
    let _ = write!(err, "{question}");
    let _ = err.flush();
    let answer = match read() {
        Ok(Some(a)) => a,
        Ok(None) => return Decision::Impossible("the terminal closed before an answer".to_owned()),
        Err(e) => return Decision::Impossible(format!("failed to read the answer: {e}")),
    };
    let yes = match kind {
        Ask::Confirm => matches!(answer.to_ascii_lowercase().as_str(), "y" | "yes"),
        Ask::Manual => answer.eq_ignore_ascii_case("done"),
    };
    let _ = write!(err, "your name [{commander}]: ");
    let _ = err.flush();
    let by = match read() {
        Ok(Some(name)) if !name.is_empty() => name,
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
