//! A manual step's `inputs`: the answers a person gives when the step is done (a time, a ticket
//! number), each of a type and optionally constrained by a pattern or a list of choices. The
//! one rule for whether an answer is valid, used by validation (for `default` and `choices`),
//! by `--input` before anything runs, and by the terminal prompt.

use regex::Regex;

/// What kind of value an input takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    String,
    Number,
    Bool,
    /// An RFC 3339 time: `2026-11-23T02:00:00Z`.
    Time,
}

impl InputKind {
    pub const NAMES: [&'static str; 4] = ["string", "number", "bool", "time"];

    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "string" => Some(Self::String),
            "number" => Some(Self::Number),
            "bool" => Some(Self::Bool),
            "time" => Some(Self::Time),
            _ => None,
        }
    }

    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Number => "number",
            Self::Bool => "bool",
            Self::Time => "time",
        }
    }

    /// The value in words, for messages: "an RFC 3339 time such as …".
    #[must_use]
    pub fn expected(self) -> &'static str {
        match self {
            Self::String => "a string",
            Self::Number => "a number",
            Self::Bool => "`true` or `false`",
            Self::Time => "an RFC 3339 time such as 2026-11-23T02:00:00Z",
        }
    }
}

/// One declared input.
#[derive(Debug, Clone)]
pub struct Input {
    pub kind: InputKind,
    /// The whole answer must match it (it is searched, so anchor it with `^…$`).
    pub pattern: Option<Regex>,
    /// When not empty, the answer must be one of these.
    pub choices: Vec<String>,
    /// Taken when the prompt's answer is empty, or with `--yes` when no `--input` gives it.
    pub default: Option<String>,
    pub description: Option<String>,
    /// Masked everywhere, like `[playbook] secrets`, and not echoed at the prompt.
    pub secret: bool,
    /// Where it is declared (a byte offset in the playbook), for `--input` errors.
    pub(crate) at: usize,
}

impl Input {
    /// Its type and constraints in one line, for `show` and `diff`:
    /// `string, pattern /^INC-[0-9]+$/ (the incident)`.
    #[must_use]
    pub fn describe(&self) -> String {
        let mut parts = vec![self.kind.name().to_owned()];
        if let Some(re) = &self.pattern {
            parts.push(format!("pattern /{re}/"));
        }
        if !self.choices.is_empty() {
            parts.push(format!("one of {}", self.choices.join(", ")));
        }
        if let Some(d) = &self.default {
            parts.push(format!("default {d}"));
        }
        if self.secret {
            parts.push("secret".to_owned());
        }
        let mut line = parts.join(", ");
        if let Some(d) = &self.description {
            line.push_str(" (");
            line.push_str(d);
            line.push(')');
        }
        line
    }

    /// The answer as it is recorded (trimmed), or why it is not valid, in words that follow
    /// "`VALUE` is not valid: ".
    pub fn accept(&self, text: &str) -> Result<String, String> {
        let value = text.trim();
        if value.is_empty() {
            return Err(format!(
                "the answer is empty; expected {}",
                self.kind.expected()
            ));
        }
        let parsed_number = match self.kind {
            InputKind::String => None,
            InputKind::Number => match value.parse::<f64>() {
                Ok(n) if n.is_finite() => Some(n),
                _ => return Err(format!("expected {}", self.kind.expected())),
            },
            InputKind::Bool => {
                if value != "true" && value != "false" {
                    return Err(format!("expected {}", self.kind.expected()));
                }
                None
            }
            InputKind::Time => {
                if let Err(e) = chrono::DateTime::parse_from_rfc3339(value) {
                    return Err(format!("expected {} ({e})", self.kind.expected()));
                }
                None
            }
        };
        if let Some(re) = &self.pattern
            && !re.is_match(value)
        {
            return Err(format!("it does not match the pattern /{re}/"));
        }
        if !self.choices.is_empty() {
            let chosen = self.choices.iter().any(|c| match parsed_number {
                // `1.0` is the choice `1`.
                Some(n) => c.parse::<f64>().is_ok_and(|c| c.total_cmp(&n).is_eq()),
                None => c == value,
            });
            if !chosen {
                return Err(format!(
                    "it is not one of the choices: {}",
                    crate::text::List::or_ticked(self.choices.iter())
                ));
            }
        }
        Ok(value.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::{Input, InputKind};

    fn input(kind: InputKind) -> Input {
        Input {
            kind,
            pattern: None,
            choices: Vec::new(),
            default: None,
            description: None,
            secret: false,
            at: 0,
        }
    }

    #[test]
    fn answers_are_checked_against_their_type() {
        assert_eq!(input(InputKind::Number).accept(" 42 "), Ok("42".to_owned()));
        assert!(input(InputKind::Number).accept("NaN").is_err());
        assert!(input(InputKind::Number).accept("forty").is_err());
        assert_eq!(input(InputKind::Bool).accept("true"), Ok("true".to_owned()));
        assert!(input(InputKind::Bool).accept("yes").is_err());
        assert!(
            input(InputKind::Time)
                .accept("2026-11-23T02:00:00Z")
                .is_ok()
        );
        let late = input(InputKind::Time)
            .accept("yesterday")
            .expect_err("not a time");
        assert!(late.contains("RFC 3339"), "{late}");
        assert!(input(InputKind::String).accept("  ").is_err());
    }

    #[test]
    fn pattern_and_choices_constrain_the_answer() {
        let mut ticket = input(InputKind::String);
        ticket.pattern = Some(regex::Regex::new("^INC-[0-9]+$").expect("regex"));
        assert_eq!(ticket.accept("INC-42"), Ok("INC-42".to_owned()));
        let why = ticket.accept("42").expect_err("no match");
        assert!(why.contains("/^INC-[0-9]+$/"), "{why}");

        let mut size = input(InputKind::Number);
        size.choices = vec!["1".to_owned(), "2".to_owned()];
        assert_eq!(size.accept("2.0"), Ok("2.0".to_owned()));
        let why = size.accept("3").expect_err("not a choice");
        assert_eq!(why, "it is not one of the choices: `1` or `2`");
    }
}
