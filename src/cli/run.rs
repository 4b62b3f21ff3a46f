//! `runbook run NAME|FILE`: execute a playbook.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::cli::load::{check_env, load};
use crate::error::Error;
use crate::event::Mode;
use crate::plan::{Plan, Selection};
use crate::playbook::find::Library;
use crate::session::{self, Request, Session, Start};

#[derive(Debug, clap::Args)]
#[expect(
    clippy::struct_excessive_bools,
    reason = "each flag is one documented command-line switch"
)]
pub(crate) struct Args {
    /// Playbook name, name@semver-requirement, or file
    #[arg(value_name = "NAME|FILE")]
    playbook: String,
    #[command(flatten)]
    vars: crate::cli::vars::VarArgs,
    /// Target environment, checked against the playbook's `environments`
    #[arg(long)]
    env: Option<String>,
    /// Why this run happens: recorded, shown in the report and notifications (default: the
    /// playbook's `mode`, else drill)
    #[arg(long, value_enum)]
    mode: Option<RunMode>,
    /// Execute only `read_only` steps; print every other step's rendered command
    #[arg(long)]
    dry_run: bool,
    /// Approve every `confirm` and manual step in advance
    #[arg(long)]
    yes: bool,
    /// Approve one step's `confirm` in advance (repeatable)
    #[arg(long, value_name = "ID")]
    approve: Vec<String>,
    /// Answer one input of a manual step in advance (repeatable); when they answer all of
    /// its inputs, the step needs no other confirmation
    #[arg(long = "input", value_name = "ID.NAME=VALUE")]
    inputs: Vec<String>,
    /// Without a terminal, wait for `runbook approve` / `runbook decline` from another process
    /// at a `confirm` or manual step nobody approved in advance (as `approvals = "wait"`)
    #[arg(long)]
    wait_for_approval: bool,
    /// The incident or change this run belongs to (e.g. INC-4711): recorded in the journal,
    /// the report and every notification
    #[arg(long, value_name = "ID", value_parser = parse_ticket)]
    ticket: Option<String>,
    /// Who runs it (default: $USER)
    #[arg(long, value_name = "NAME")]
    commander: Option<String>,
    /// When the incident started (RFC 3339), for the achieved RPO and the RTO in incident mode
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    incident_start: Option<DateTime<Utc>>,
    /// Run folder (default: `runs/<run-id>` beside the playbook folder, or under `$RUNBOOK_RUNS`)
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// How many steps may run at once (default: the playbook's `max_parallel`, else no limit)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    max_parallel: Option<u32>,
    /// Send no notifications
    #[arg(long)]
    no_notify: bool,
    /// Run only this step and what it needs
    #[arg(long, value_name = "ID", conflicts_with = "from")]
    only: Option<String>,
    /// Run this step and everything after it; the steps before it count as done
    #[arg(long, value_name = "ID")]
    from: Option<String>,
    /// Print the journal's events as JSON lines on stdout instead of the human view
    #[arg(long)]
    json: bool,
    /// Show step output on the terminal too (it always goes to the step logs)
    #[arg(long)]
    verbose: bool,
    /// Take the playbook's lock even from a live run (journaled)
    #[arg(long)]
    break_lock: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum RunMode {
    Incident,
    Drill,
    Routine,
}

fn parse_ticket(s: &str) -> Result<String, String> {
    let t = s.trim();
    if t.is_empty() {
        return Err("a ticket cannot be empty: write e.g. `--ticket INC-4711`".to_owned());
    }
    if t.chars().any(char::is_control) {
        return Err("a ticket is one line of text without control characters".to_owned());
    }
    Ok(t.to_owned())
}

fn parse_time(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("`{s}` is not an RFC 3339 time such as 2026-11-23T02:00:00Z ({e})"))
}

pub(crate) fn run(args: &Args, library: &Library) -> Result<ExitCode, Error> {
    let validated = load(library, &args.playbook)?;
    let playbook = validated.playbook;
    if let Err(refusal) = check_env(&playbook, args.env.as_deref()) {
        return Err(Error::Refused(refusal));
    }
    let vars = crate::cli::vars::apply(&playbook, args.env.as_deref(), &args.vars)?;
    crate::cli::vars::check_for_each(&playbook, &vars)?;
    let selection =
        (args.only.as_deref().map(Selection::Only)).or(args.from.as_deref().map(Selection::From));
    let plan = Plan::with_vars(&playbook, args.env.as_deref(), &vars)
        .select(selection)
        .map_err(Error::Usage)?;
    crate::cli::step_flags::check_approve(&playbook, library, &args.approve)?;
    let inputs = crate::cli::step_flags::check_inputs(&playbook, library, &args.inputs)?;
    let commander = args
        .commander
        .clone()
        .or_else(session::user)
        .unwrap_or_else(|| "unknown".to_owned());
    let request = Request {
        plan: Arc::new(plan),
        playbook: Arc::clone(&playbook),
        vars,
        mode: match args.mode {
            Some(RunMode::Incident) => Mode::Incident,
            Some(RunMode::Drill) => Mode::Drill,
            Some(RunMode::Routine) => Mode::Routine,
            None => match playbook.meta.mode.as_deref() {
                Some("incident") => Mode::Incident,
                Some("routine") => Mode::Routine,
                _ => Mode::Drill,
            },
        },
        dry_run: args.dry_run,
        commander,
        incident_start: args.incident_start,
        yes: args.yes,
        approve: args.approve.clone(),
        inputs,
        max_parallel: session::max_parallel(args.max_parallel, playbook.meta.max_parallel),
        selection: selection.map(Selection::label),
        no_notify: args.no_notify,
        break_lock: args.break_lock,
        json: args.json,
        verbose: args.verbose,
        library: library.clone(),
        start: Start::New {
            out: args.out.clone(),
        },
        ticket: args.ticket.clone(),
        wait_for_approval: args.wait_for_approval,
    };
    match Session::open(request)? {
        Some(session) => session.run().map(|()| ExitCode::SUCCESS),
        None => Ok(ExitCode::SUCCESS),
    }
}
