//! `runbook plan NAME|FILE`: waves, critical path and planned RTO, without running anything.

use std::process::ExitCode;

use crate::cli::io::write_stdout;
use crate::cli::load::{check_env, load};
use crate::error::Error;
use crate::plan::{Format, Plan, render_to};
use crate::playbook::find::Library;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Playbook name, name@semver-requirement, or file
    #[arg(value_name = "NAME|FILE")]
    playbook: String,
    #[command(flatten)]
    vars: crate::cli::vars::VarArgs,
    /// Target environment (steps limited to other environments are skipped)
    #[arg(long)]
    env: Option<String>,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Plan as the run would go with at most N steps at once (default: the playbook's
    /// `max_parallel`, else no limit)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    max_parallel: Option<u32>,
}

pub(crate) fn run(args: &Args, library: &Library) -> Result<ExitCode, Error> {
    let validated = load(library, &args.playbook)?;
    let playbook = &validated.playbook;
    check_env(playbook, args.env.as_deref()).map_err(Error::Usage)?;
    let vars = crate::cli::vars::apply(playbook, args.env.as_deref(), &args.vars)?;
    crate::cli::vars::check_for_each(playbook, &vars)?;
    let limit = (args.max_parallel.map(|n| n as usize)).or(playbook.meta.max_parallel);
    let plan = Plan::limited(playbook, args.env.as_deref(), limit, &vars);
    if let Some(warning) = plan.rto_warning() {
        eprint!("{warning}");
    }
    write_stdout(|out| render_to(&plan, args.format, out))?;
    Ok(ExitCode::SUCCESS)
}
