//! `runbook`: disaster-recovery procedures as versioned, executable TOML playbooks.
//!
//! The stages are the folders: `playbook` (file → validated model) → `plan` (model → order,
//! waves, critical path) → `engine` (plan → events) → sinks (`record`, `notify`, `ui`); `cli`
//! wires them to the terminal. `text` (plurals, ticked lists) and `event` (events, the bus,
//! masking, time) are the vocabulary every stage shares. `import` stands aside: a Markdown
//! runbook → the text of a draft playbook.

mod cli;
mod engine;
mod error;
mod event;
mod http;
pub mod import;
mod notify;
pub mod plan;
pub mod playbook;
mod record;
mod session;
mod text;
mod ui;

pub use error::Error;

/// Runs the command line and returns the process exit code; the one place that prints an error.
#[must_use]
pub fn main() -> std::process::ExitCode {
    cli::main()
}
