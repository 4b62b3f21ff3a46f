//! A manual step's `inputs`, answered: what `--input` (and, with `--yes`, the defaults) already
//! give, what is left to ask, and asking one input at the terminal until the answer is valid
//! (a secret one without echo).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Write;
use std::os::fd::AsFd as _;

use indexmap::IndexMap;
use nix::sys::termios::{self, LocalFlags, SetArg, Termios};

use crate::engine::prompt::{Line, Lines, Stop};
use crate::event::ApprovalHow;
use crate::playbook::input::Input;
use crate::text::List;

/// `--input STEP.NAME=VALUE`, by step id then input name, each value already accepted.
pub(crate) type GivenInputs = HashMap<String, IndexMap<String, String>>;

/// One answer, and who gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Answer {
    pub(crate) input: String,
    pub(crate) value: String,
    /// `--input`, `--yes` (a default) or the name typed at the prompt.
    pub(crate) by: String,
    pub(crate) how: ApprovalHow,
}

/// What is known of a step's inputs before anybody is asked.
#[derive(Debug, Clone)]
pub(crate) enum Known {
    /// The step has no inputs.
    Nothing,
    /// Every one is answered: by `--input`, or by its default under `--yes`.
    All(Vec<Answer>),
    /// These are answered; the others must be asked.
    Missing {
        answers: Vec<Answer>,
        ask: Vec<(String, Input)>,
    },
}

impl Known {
    /// Why the step cannot go on without a terminal: the inputs nobody gave.
    pub(crate) fn impossible(&self, step: &str) -> String {
        let Self::Missing { ask, .. } = self else {
            return format!("step `{step}` needs answers, and there is no terminal to ask");
        };
        let names = List::and_ticked(ask.iter().map(|(name, _)| name));
        let flags: Vec<String> = ask
            .iter()
            .map(|(name, _)| format!("--input {step}.{name}=VALUE"))
            .collect();
        let noun = if ask.len() == 1 { "input" } else { "inputs" };
        format!(
            "step `{step}` needs {noun} {names}, and there is no terminal to ask: rerun with `{}`",
            flags.join(" ")
        )
    }
}

/// The answers `--input` gives (and, with `--yes`, the defaults of the rest).
pub(crate) fn known(
    wanted: &IndexMap<String, Input>,
    given: Option<&IndexMap<String, String>>,
    yes: bool,
) -> Known {
    if wanted.is_empty() {
        return Known::Nothing;
    }
    let mut answers = Vec::new();
    let mut ask = Vec::new();
    for (name, input) in wanted {
        let flag = given.and_then(|g| g.get(name));
        let (value, by) = match (flag, &input.default) {
            (Some(value), _) => (value.clone(), "--input"),
            (None, Some(default)) if yes => (default.clone(), "--yes"),
            (None, _) => {
                ask.push((name.clone(), input.clone()));
                continue;
            }
        };
        answers.push(Answer {
            input: name.clone(),
            value,
            by: by.to_owned(),
            how: ApprovalHow::Flag,
        });
    }
    if ask.is_empty() {
        Known::All(answers)
    } else {
        Known::Missing { answers, ask }
    }
}

/// Puts answers in the order the inputs are declared.
pub(crate) fn sort(answers: &mut [Answer], wanted: &IndexMap<String, Input>) {
    answers.sort_by_key(|a| wanted.get_index_of(&a.input).unwrap_or(usize::MAX));
}

/// Why asking stopped without an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Stopped {
    /// The run was interrupted, or the terminal hung up.
    Interrupted,
    Impossible(String),
}

/// Asks `name` at the terminal until the answer is valid (an empty answer takes the default).
pub(crate) fn ask(
    err: &mut impl Write,
    lines: &mut Lines,
    quit: &Stop,
    name: &str,
    input: &Input,
) -> Result<String, Stopped> {
    let question = question(name, input);
    // Bounded by the person: every turn reads one more line, and the input ends at Ctrl-D.
    loop {
        // Echo goes off before the question shows: an answer typed as soon as it appears (by a
        // script, or typed ahead) is never echoed.
        let read = {
            let _quiet = input.secret.then(NoEcho::start);
            let _ = write!(err, "{question}");
            let _ = err.flush();
            lines.read(quit)
        };
        if input.secret {
            // The Enter that ended the answer was not echoed either.
            let _ = writeln!(err);
        }
        let typed = match read {
            Ok(Line::Text(text)) => text,
            Ok(Line::Stopped | Line::HungUp) => {
                let _ = writeln!(err);
                return Err(Stopped::Interrupted);
            }
            Ok(Line::Closed) => {
                return Err(Stopped::Impossible(
                    "the terminal closed before an answer".to_owned(),
                ));
            }
            Err(e) => {
                return Err(Stopped::Impossible(format!(
                    "failed to read the answer: {e}"
                )));
            }
        };
        let typed = match (&input.default, typed.is_empty()) {
            (Some(default), true) => default.clone(),
            _ => typed,
        };
        match input.accept(&typed) {
            Ok(value) => return Ok(value),
            // The answer itself is not repeated: it may be a secret.
            Err(why) => {
                let _ = writeln!(err, "  not valid: {why}; try again");
            }
        }
    }
}

/// `  ticket (the incident) [string, /^INC-[0-9]+$/] [default: INC-1]: `
fn question(name: &str, input: &Input) -> String {
    let mut q = format!("  {name}");
    if let Some(d) = &input.description {
        let _ = write!(q, " ({d})");
    }
    let mut shape = input.kind.name().to_owned();
    if input.kind == crate::playbook::input::InputKind::Time {
        shape.push_str(", RFC 3339");
    }
    if let Some(re) = &input.pattern {
        let _ = write!(shape, ", /{re}/");
    }
    if !input.choices.is_empty() {
        shape = format!("one of {}", input.choices.join(", "));
    }
    if input.secret {
        shape.push_str(", secret: not shown");
    }
    let _ = write!(q, " [{shape}]");
    if let Some(d) = &input.default {
        let _ = write!(q, " [default: {d}]");
    }
    q.push_str(": ");
    q
}

/// The terminal does not echo what is typed while this lives.
struct NoEcho {
    saved: Option<Termios>,
}

impl NoEcho {
    fn start() -> Self {
        let stdin = std::io::stdin();
        let saved = termios::tcgetattr(stdin.as_fd()).ok();
        if let Some(saved) = &saved {
            let mut quiet = saved.clone();
            quiet.local_flags.remove(LocalFlags::ECHO);
            let _ = termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &quiet);
        }
        Self { saved }
    }
}

impl Drop for NoEcho {
    fn drop(&mut self) {
        if let Some(saved) = &self.saved {
            let _ = termios::tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, saved);
        }
    }
}

#[cfg(test)]
mod tests {
    use indexmap::IndexMap;

    use super::{Known, known};
    use crate::playbook::input::{Input, InputKind};

    fn input(default: Option<&str>) -> Input {
        Input {
            kind: InputKind::String,
            pattern: None,
            choices: Vec::new(),
            default: default.map(str::to_owned),
            description: None,
            secret: false,
            at: 0,
        }
    }

    #[test]
    fn flags_then_defaults_under_yes_then_the_rest_asked() {
        let wanted: IndexMap<String, Input> = [
            ("ticket".to_owned(), input(None)),
            ("region".to_owned(), input(Some("eu"))),
        ]
        .into_iter()
        .collect();
        let given: IndexMap<String, String> = [("ticket".to_owned(), "INC-1".to_owned())]
            .into_iter()
            .collect();
        let Known::All(all) = known(&wanted, Some(&given), true) else {
            panic!("all known under --yes")
        };
        assert_eq!(all[1].by, "--yes");
        let missing = known(&wanted, Some(&given), false);
        assert_eq!(
            missing.impossible("s"),
            "step `s` needs input `region`, and there is no terminal to ask: rerun with `--input s.region=VALUE`"
        );
        assert!(matches!(
            known(&IndexMap::new(), None, false),
            Known::Nothing
        ));
    }
}
