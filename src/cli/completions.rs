//! `runbook completions SHELL`.

use std::process::ExitCode;

use crate::cli::io::print_stdout;
use crate::error::Error;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// bash, zsh, fish, elvish or powershell
    shell: clap_complete::Shell,
}

/// Completions for `command`, the whole command line as clap describes it.
pub(crate) fn run(args: &Args, mut command: clap::Command) -> Result<ExitCode, Error> {
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut command, "runbook", &mut out);
    print_stdout(&String::from_utf8_lossy(&out))?;
    Ok(ExitCode::SUCCESS)
}
