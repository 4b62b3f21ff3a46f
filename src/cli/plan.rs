//! `runbook plan NAME|FILE`: waves, critical path and planned RTO, without running anything.

use std::process::ExitCode;

use crate::cli::io::print_stdout;
use crate::cli::load::{check_env, load};
use crate::error::Error;
use crate::plan::{Format, Plan, render};
use crate::playbook::find::Library;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Playbook name, name@semver-requirement, or file
    #[arg(value_name = "NAME|FILE")]
    playbook: String,
    /// Override a declared var
    #[arg(long = "var", value_name = "KEY=VALUE")]
    vars: Vec<String>,
    /// Target environment (steps limited to other environments are skipped)
    #[arg(long)]
    env: Option<String>,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

pub(crate) fn run(args: &Args, library: &Library) -> Result<ExitCode, Error> {
    let validated = load(library, &args.playbook)?;
    let playbook = &validated.playbook;
    crate::cli::vars::apply(playbook, &args.vars)?;
    check_env(playbook, args.env.as_deref()).map_err(Error::Usage)?;
    let plan = Plan::new(playbook, args.env.as_deref());
    if let Some(warning) = plan.rto_warning() {
        eprint!("{warning}");
    }
    print_stdout(&render(&plan, args.format))?;
    Ok(ExitCode::SUCCESS)
}
