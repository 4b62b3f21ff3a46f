//! Validation of a manual step's `inputs`: names, types, patterns, and `choices` and `default`
//! that the input itself would accept.

use std::fmt::Write as _;

use indexmap::IndexMap;

use crate::playbook::decode::Sp;
use crate::playbook::diagnostic::did_you_mean;
use crate::playbook::input::{Input, InputKind};
use crate::playbook::raw_input::{RawInput, RawInputTable};
use crate::playbook::validate::names::is_step_id;
use crate::playbook::validate::validator::Validator;
use crate::text::List;

impl Validator<'_> {
    /// The `inputs` of a manual step (`at`: "in step `x`"); `None` when one is invalid.
    pub(crate) fn inputs(
        &mut self,
        raw: Option<&Sp<IndexMap<String, Sp<RawInput>>>>,
        at: &str,
    ) -> Option<IndexMap<String, Input>> {
        let mut out = IndexMap::with_capacity(raw.map_or(0, |r| r.value.len()));
        let mut ok = true;
        for (name, raw) in raw.iter().flat_map(|r| &r.value) {
            if !is_step_id(name) {
                self.error(
                    raw.span.clone(),
                    format!("invalid input name {name:?} {at}"),
                    "input names start with a letter and use letters, digits, `-` and `_`: they are written `--input STEP.NAME=VALUE` and `steps.STEP.outputs.NAME`",
                );
                ok = false;
                continue;
            }
            match self.input(name, raw, at) {
                Some(input) => {
                    out.insert(name.clone(), input);
                }
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    fn input(&mut self, name: &str, raw: &Sp<RawInput>, at: &str) -> Option<Input> {
        let what = format!("input `{name}` {at}");
        let table = match &raw.value {
            RawInput::Type(t) => {
                let kind = self.input_kind(&Sp::new(t.clone(), raw.span.clone()), &what)?;
                return Some(Input {
                    kind,
                    pattern: None,
                    choices: Vec::new(),
                    default: None,
                    description: None,
                    secret: false,
                    at: raw.span.start,
                });
            }
            RawInput::Table(t) => t,
        };
        let Some(kind) = table.kind.as_ref() else {
            self.error(
                table.span.clone(),
                format!("{what} has no `type`"),
                format!(
                    "add one of {}: {{ type = \"string\", … }}",
                    List::ticked(InputKind::NAMES)
                ),
            );
            return None;
        };
        let kind = self.input_kind(kind, &what);
        let pattern = self.regex(table.pattern.as_ref(), "pattern", &format!("of {what}"));
        let broken_pattern = table.pattern.is_some() && pattern.is_none();
        let mut input = Input {
            kind: kind?,
            pattern,
            choices: Vec::new(),
            default: None,
            description: table.description.as_ref().map(|d| d.value.clone()),
            secret: table.secret.as_ref().is_some_and(|s| s.value),
            at: raw.span.start,
        };
        if broken_pattern {
            return None;
        }
        let mut ok = self.choices(table, &mut input, &what);
        if let Some(default) = &table.default {
            if input.secret {
                self.error(
                    default.span.clone(),
                    format!("`default` of {what}, which is secret"),
                    "the playbook file is not secret: remove the default, and give the value at the prompt or with --input",
                );
                ok = false;
            }
            match input.accept(&default.value.0) {
                Ok(value) => input.default = Some(value),
                Err(why) => {
                    self.error(
                        default.span.clone(),
                        format!("invalid `default` of {what}: {why}"),
                        "give a default that the input accepts as an answer, or remove it",
                    );
                    ok = false;
                }
            }
        }
        ok.then_some(input)
    }

    fn input_kind(&mut self, kind: &Sp<String>, what: &str) -> Option<InputKind> {
        if let Some(k) = InputKind::from_name(&kind.value) {
            return Some(k);
        }
        let mut message = format!("unknown type {:?} of {what}", kind.value);
        if let Some(close) = did_you_mean(&kind.value, InputKind::NAMES) {
            let _ = write!(message, ", did you mean `{close}`?");
        }
        self.error(
            kind.span.clone(),
            message,
            format!(
                "an input's type is one of {} (an RFC 3339 time)",
                List::ticked(InputKind::NAMES)
            ),
        );
        None
    }

    /// Fills `input.choices`: each one an answer of the input's type and pattern.
    fn choices(&mut self, table: &RawInputTable, input: &mut Input, what: &str) -> bool {
        let Some(choices) = &table.choices else {
            return true;
        };
        if choices.value.is_empty() {
            self.error(
                choices.span.clone(),
                format!("empty `choices` of {what}"),
                "list the answers allowed, or remove `choices` to allow any",
            );
            return false;
        }
        let mut ok = true;
        // Each choice is checked against the type and pattern, not against the others.
        let plain = Input {
            choices: Vec::new(),
            ..input.clone()
        };
        for choice in &choices.value {
            match plain.accept(&choice.value.0) {
                Ok(value) => input.choices.push(value),
                Err(why) => {
                    self.error(
                        choice.span.clone(),
                        format!("invalid choice of {what}: {why}"),
                        format!(
                            "each choice must be {} that the input's `pattern` accepts",
                            input.kind.expected()
                        ),
                    );
                    ok = false;
                }
            }
        }
        ok
    }
}
