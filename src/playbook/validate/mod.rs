//! Raw playbook → model, recording every problem: TOML syntax, unknown keys and wrong types
//! (while decoding), then values, ids, the graph and template references.
//!
//! `validator.rs` holds the entry point and the state every pass shares (`Validator`,
//! `StepIds`); `meta.rs`, `step.rs`, `confirm.rs`, `for_each.rs`, `inputs.rs`, `check.rs`,
//! `hosts.rs` and `notify.rs` each add the methods for their part of the file, and `names.rs`
//! the naming rules. The files import `validator.rs`
//! and `names.rs`, never each other.

mod check;
mod confirm;
mod for_each;
mod hosts;
mod inputs;
mod meta;
mod names;
mod notify;
mod step;
mod validator;

#[cfg(test)]
pub(crate) use validator::decode_whole;
pub use validator::{NestedKind, NestedUse, Validated, validate};
