//! A step's `confirm` (the string, or the table of the two-person rule) and `confirm_timeout`.

use crate::playbook::decode::Sp;
use crate::playbook::duration::HumanDuration;
use crate::playbook::model::ConfirmRule;
use crate::playbook::raw::{RawConfirm, RawStep};
use crate::playbook::validate::validator::Validator;

/// A step's `confirm`, checked: the question to render and who must answer it.
pub(crate) struct Confirm {
    /// The question's text, where it was written.
    pub(crate) text: Option<Sp<String>>,
    pub(crate) rule: ConfirmRule,
    pub(crate) timeout: Option<HumanDuration>,
}

impl Validator<'_> {
    /// `confirm` and `confirm_timeout` of step `s` (`at` says which step, "in step `x`").
    /// `ok` turns false on an error.
    pub(crate) fn confirm(&mut self, s: &RawStep, at: &str, ok: &mut bool) -> Confirm {
        let mut rule = ConfirmRule::default();
        let text = match s.confirm.as_deref() {
            None => None,
            Some(Sp {
                value: RawConfirm::Text(t),
                span,
            }) => Some(Sp {
                value: t.clone(),
                span: span.clone(),
            }),
            Some(Sp {
                value: RawConfirm::Table(table),
                span,
            }) => {
                let where_ = format!("in the `confirm` table {at}");
                let text = self
                    .required(
                        table.text.as_deref(),
                        &span.clone(),
                        "text",
                        &where_,
                        "\"Continue?\"",
                    )
                    .cloned();
                if text.is_none() {
                    *ok = false;
                }
                if let Some(n) = &table.approvers {
                    match u32::try_from(n.value) {
                        Ok(v) if (1..=ConfirmRule::MAX_APPROVERS).contains(&v) => {
                            rule.approvers = v;
                        }
                        _ => {
                            self.error(
                                n.span.clone(),
                                format!(
                                    "invalid `approvers` {} {where_}: it is how many different people must approve",
                                    n.value
                                ),
                                format!(
                                    "write `approvers = 2` (from 1 to {})",
                                    ConfirmRule::MAX_APPROVERS
                                ),
                            );
                            *ok = false;
                        }
                    }
                }
                rule.not_commander = table.not_commander.as_ref().is_some_and(|b| b.value);
                text
            }
        };
        let timeout = self.positive_duration(s.confirm_timeout.as_deref(), "confirm_timeout", at);
        if let Some(t) = &s.confirm_timeout {
            if s.confirm.is_none() {
                let manual = if s.manual.is_some() {
                    ": a manual step waits as long as its `timeout` says"
                } else {
                    ""
                };
                self.error(
                    t.span.clone(),
                    format!("`confirm_timeout` {at}, but the step has no `confirm`{manual}"),
                    "add `confirm = \"...\"`, or remove `confirm_timeout`",
                );
                *ok = false;
            } else if timeout.is_none() {
                *ok = false;
            }
        }
        Confirm {
            text,
            rule,
            timeout,
        }
    }
}
