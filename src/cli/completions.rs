//! `runbook completions SHELL`.

use std::process::ExitCode;

use clap::CommandFactory as _;

use crate::cli::args::Cli;
use crate::error::Error;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// bash, zsh, fish, elvish or powershell
    shell: clap_complete::Shell,
}

pub(crate) fn run(args: &Args) -> Result<ExitCode, Error> {
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "runbook", &mut out);
    crate::cli::main::print_stdout(&String::from_utf8_lossy(&out))?;
    Ok(ExitCode::SUCCESS)
}
