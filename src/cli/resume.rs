//! `runbook resume RUN`: continue an interrupted or crashed run from its journal. Finished steps
//! keep their status and outputs; steps that started and never finished (the runner died, or
//! an interrupt cancelled them) run again after confirmation.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use sha2::{Digest as _, Sha256};

use crate::error::Error;
use crate::event::RunStatus;
use crate::plan::Plan;
use crate::playbook::find::Library;
use crate::record::folder::RunFolder;
use crate::record::history;
use crate::record::replay::RunState;
use crate::session::{self, Request, Resume, Session, Start, runs_roots};
use crate::text::List;

#[derive(Debug, clap::Args)]
#[expect(
    clippy::struct_excessive_bools,
    reason = "each flag is one documented command-line switch"
)]
pub(crate) struct Args {
    /// Run id (looked up in the runs root) or run folder
    #[arg(value_name = "RUN")]
    run: String,
    /// Run again, without asking, a step the runner died under; approve `confirm` steps
    #[arg(long)]
    yes: bool,
    /// Resume although the playbook file changed since the run started
    #[arg(long)]
    allow_changed: bool,
    /// Without a terminal, wait for `runbook approve` / `runbook decline` at a `confirm` or
    /// manual step (as `approvals = "wait"`)
    #[arg(long)]
    wait_for_approval: bool,
    /// Who resumes it (default: $USER)
    #[arg(long, value_name = "NAME")]
    commander: Option<String>,
    /// How many steps may run at once (default: as the run started)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    max_parallel: Option<u32>,
    /// Print the journal's events as JSON lines on stdout instead of the human view
    #[arg(long)]
    json: bool,
    /// Show step output on the terminal too
    #[arg(long)]
    verbose: bool,
    /// Take the playbook's lock even from a live run (journaled)
    #[arg(long)]
    break_lock: bool,
    /// Send no notifications (still journaled as skipped)
    #[arg(long)]
    no_notify: bool,
}

/// Finds a run folder: a path, or a run id under `$RUNBOOK_RUNS` or `runs/` beside each
/// playbook folder of the search path, in the folder named by it or in any folder of the runs
/// root whose journal names it (a run saved there with `--out`).
pub(crate) fn find_run(arg: &str, library: &Library) -> Result<RunFolder, Error> {
    let as_path = Path::new(arg);
    let roots = runs_roots(library);
    let found = Some(as_path.to_path_buf())
        .filter(|p| p.join("journal.jsonl").is_file())
        .or_else(|| history::folder_of(&roots, arg));
    if let Some(dir) = found {
        return RunFolder::open(&dir).map_err(|e| Error::Usage(e.to_string()));
    }
    let searched = List::ticked(roots.iter().map(|root| root.display()));
    Err(Error::Usage(format!(
        "no run `{arg}`: not a run folder, and no run of that id in {searched}"
    )))
}

pub(crate) fn run(args: &Args, library: &Library) -> Result<ExitCode, Error> {
    let folder = find_run(&args.run, library)?;
    let state =
        RunState::load(&folder.journal()).map_err(|e| Error::Usage(crate::error::chain(&e)))?;
    let started = state
        .started
        .clone()
        .expect("a loaded journal has run_started");
    // An interrupted run is continued like a crashed one: only a run that reached its end,
    // ok or failed, has nothing left to do.
    if let Some(finished) = state
        .finished
        .as_ref()
        .filter(|f| f.status != RunStatus::Interrupted)
    {
        return Err(Error::Usage(format!(
            "run `{}` already finished ({}): there is nothing to resume; start a new run with `runbook run {}`",
            state.run_id,
            finished.status.as_str(),
            started.playbook
        )));
    }
    let path = PathBuf::from(&started.path);
    // Read once: the text compared with the journal's sha256 is the text that runs.
    let file = crate::playbook::find::read(&path).map_err(|e| {
        Error::Usage(format!(
            "the playbook of run `{}` is gone: {}",
            state.run_id,
            crate::error::chain(&e)
        ))
    })?;
    let sha = format!("{:x}", Sha256::digest(file.text.as_bytes()));
    let changed = sha != started.sha256;
    if changed && !args.allow_changed {
        return Err(Error::Usage(format!(
            "`{}` changed since run `{}` started (sha256 {} → {}); review the change, then resume with --allow-changed",
            path.display(),
            state.run_id,
            &started.sha256[..12.min(started.sha256.len())],
            &sha[..12]
        )));
    }
    let validated = crate::playbook::validate(&file).map_err(Error::Invalid)?;
    let playbook = validated.playbook;
    let vars = session::vars(&playbook, &started)?;
    // The steps as the run had them: its `for_each` lists made from its vars.
    let plan = Plan::with_vars(&playbook, started.env.as_deref(), &vars);
    let presets = session::presets(&plan.playbook, &state)?;
    let rerun = session::reruns(&plan.playbook, &state, &presets.steps);
    let commander = args
        .commander
        .clone()
        .or_else(session::user)
        .unwrap_or_else(|| started.commander.clone());
    let confirmed = session::confirm_reruns(&folder, &state, &rerun, args.yes, &commander)?;
    let resume = Resume {
        started_at: started.ts,
        last_event_at: state.last_ts,
        rerun: rerun.iter().map(|(s, _)| s.id.to_string()).collect(),
        playbook_changed: changed,
        commander,
        confirmed,
    };
    let plan = plan.settle(presets.steps).settle_made(presets.made);
    let request = Request {
        plan: Arc::new(plan),
        playbook: Arc::clone(&playbook),
        vars,
        mode: if started.dry_run {
            crate::event::Mode::Drill
        } else {
            started.mode
        },
        dry_run: started.dry_run,
        commander: started.commander.clone(),
        incident_start: started.incident_start,
        yes: args.yes,
        approve: Vec::new(),
        inputs: session::GivenInputs::new(),
        max_parallel: session::max_parallel(args.max_parallel, started.max_parallel),
        selection: started.selection.clone(),
        no_notify: args.no_notify,
        break_lock: args.break_lock,
        json: args.json,
        verbose: args.verbose,
        library: library.clone(),
        start: Start::Resume {
            folder,
            run_id: state.run_id.clone(),
            resume,
        },
        ticket: started.ticket.clone(),
        wait_for_approval: args.wait_for_approval,
    };
    match Session::open(request)? {
        Some(session) => session.run().map(|()| ExitCode::SUCCESS),
        None => Ok(ExitCode::SUCCESS),
    }
}
