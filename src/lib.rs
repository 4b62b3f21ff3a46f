//! `runbook`: disaster-recovery procedures as versioned, executable TOML playbooks.
//!
//! The stages are the folders: `playbook` (file → validated model) → `plan` (model → order,
//! waves, critical path) → the commands in `cli` that wire them to the terminal.

mod cli;
mod error;
pub mod plan;
pub mod playbook;
mod ui;

pub use error::Error;

/// Runs the command line and returns the process exit code; the one place that prints an error.
#[must_use]
pub fn main() -> std::process::ExitCode {
    cli::main()
}
