//! `runbook resume RUN`: continue an interrupted or crashed run from its journal. Finished steps
//! keep their status and outputs; steps that started and never finished (the runner died, or
//! an interrupt cancelled them) run again after confirmation.

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use chrono::Utc;
use indexmap::IndexMap;
use sha2::{Digest as _, Sha256};

use crate::cli::run::{launch, max_parallel, take_lock};
use crate::engine::run::{Resume, RunSettings};
use crate::engine::scheduler::Preset;
use crate::error::Error;
use crate::event::{ApprovalHow, RunStatus, StepStatus};
use crate::playbook::find::Library;
use crate::playbook::model::{Playbook, VarValue};
use crate::record::folder::RunFolder;
use crate::record::replay::{RunState, Started, StepRecord};
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
    /// Who resumes it (default: $USER)
    #[arg(long, value_name = "NAME")]
    commander: Option<String>,
    /// How many steps may run at once (default: the number of CPUs)
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
/// playbook folder of the search path.
pub(crate) fn find_run(arg: &str, library: &Library) -> Result<RunFolder, Error> {
    let as_path = Path::new(arg);
    let mut candidates = vec![as_path.to_path_buf()];
    candidates.extend(runs_roots(library).into_iter().map(|root| root.join(arg)));
    for c in &candidates {
        if c.join("journal.jsonl").is_file() {
            return RunFolder::open(c).map_err(|e| Error::Usage(e.to_string()));
        }
    }
    let searched = List::ticked(candidates.iter().skip(1).map(|c| c.display()));
    Err(Error::Usage(format!(
        "no run `{arg}`: not a run folder, and not found as {searched}"
    )))
}

/// Every runs root that may hold runs: `$RUNBOOK_RUNS`, else `runs/` beside each playbook folder,
/// and the runs root of a playbook in the current folder: `runbook run p.toml` followed by
/// `runbook runs` or `runbook resume ID` in the same folder finds that run.
pub(crate) fn runs_roots(library: &Library) -> Vec<PathBuf> {
    if let Some(root) = std::env::var_os("RUNBOOK_RUNS").filter(|r| !r.is_empty()) {
        return vec![PathBuf::from(root)];
    }
    let folders = library.dirs().iter().map(PathBuf::as_path);
    let mut roots: Vec<PathBuf> = Vec::new();
    for folder in folders.chain([Path::new("")]) {
        let root = crate::cli::run::runs_root(&folder.join("x.toml"));
        if !roots.contains(&root) {
            roots.push(root);
        }
    }
    roots
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
    let playbook = Arc::new(validated.playbook);
    let preset = presets(&playbook, &state)?;
    let vars = vars(&playbook, &started)?;
    let rerun = reruns(&playbook, &state, &preset);
    let commander = args
        .commander
        .clone()
        .or_else(crate::engine::run::user)
        .unwrap_or_else(|| started.commander.clone());
    let confirmed = confirm_reruns(&folder, &state, &rerun, args.yes, &commander)?;
    let Some(lock) = take_lock(
        &playbook,
        &crate::cli::run::runs_root(&path),
        &state.run_id,
        started.ts,
        args.break_lock,
    )?
    else {
        return Ok(ExitCode::SUCCESS);
    };
    let gap_ms = state.last_ts.map_or(0, |t| {
        u64::try_from((Utc::now() - t).num_milliseconds()).unwrap_or(0)
    });
    let settings = RunSettings {
        vars,
        mode: if started.dry_run {
            crate::event::Mode::Drill
        } else {
            started.mode
        },
        dry_run: started.dry_run,
        env: started.env.clone(),
        commander: started.commander.clone(),
        incident_start: started.incident_start,
        yes: args.yes,
        approve: Vec::new(),
        max_parallel: max_parallel(args.max_parallel),
        run_id: state.run_id.clone(),
        run_dir: folder.dir.clone(),
        preset,
        resume: Some(Resume {
            started_at: started.ts,
            gap_ms,
            rerun: rerun.iter().map(|(s, _)| s.id.clone()).collect(),
            playbook_changed: changed,
            commander,
            confirmed,
        }),
        lock_taken: lock.taken_from.clone(),
        no_notify: args.no_notify,
        selection: started.selection.clone(),
        library: library.clone(),
        playbook,
    };
    launch(
        settings,
        &folder,
        &runs_roots(library),
        args.json,
        args.verbose,
    )
}

/// What the journal settles for each step: kept, or `None` to run. The outputs of a kept step
/// are the whole values it produced (put together again from the secrets, supplied anew, where
/// they held one): later steps see what they would have seen in an uninterrupted run, or the
/// resume is refused before anything runs, naming the output.
fn presets(playbook: &Playbook, state: &RunState) -> Result<Vec<Option<Preset>>, Error> {
    let secret = |name: &str| std::env::var(name).ok();
    let mut unusable = Vec::new();
    let presets = playbook
        .steps
        .iter()
        .map(|step| {
            let record = state.steps.get(&step.id)?;
            let status = record.status?;
            let keep = match status {
                StepStatus::Ok | StepStatus::Failed | StepStatus::RolledBack => true,
                StepStatus::Cancelled => false,
                // A skip that says something about the step stays; a skip because the run
                // stopped around it does not.
                StepStatus::Skipped => !skipped_by_the_stop(record),
            };
            keep.then(|| Preset::Done {
                status,
                exit_code: record.exit_code,
                outputs: whole_outputs(record, &secret, &mut unusable),
            })
        })
        .collect();
    if unusable.is_empty() {
        return Ok(presets);
    }
    Err(Error::Refused(format!(
        "not resumed: {}; later steps would not get the value they had in the run (secrets are never written to disk: set them as they were when the run started, then resume)",
        unusable.join("; ")
    )))
}

/// A kept step's outputs, whole; each one that cannot be put together goes to `unusable`.
fn whole_outputs(
    record: &StepRecord,
    secret: &dyn Fn(&str) -> Option<String>,
    unusable: &mut Vec<String>,
) -> std::collections::BTreeMap<String, String> {
    let mut outputs = record.outputs.clone();
    for (name, spans) in &record.secret_spans {
        let Some(value) = outputs.get_mut(name) else {
            continue;
        };
        match crate::event::unmask(value, spans, secret) {
            Ok(whole) => *value = whole,
            Err(why) => unusable.push(format!(
                "output `steps.{}.outputs.{name}` cannot be restored: {why}",
                record.id
            )),
        }
    }
    outputs
}

fn skipped_by_the_stop(record: &StepRecord) -> bool {
    record.reason.as_deref().is_some_and(|r| {
        r == "the run was interrupted"
            || r.starts_with("the run stopped")
            || r.starts_with("needs cancelled step")
            || r == "not reached"
    })
}

/// Steps the runner died under, or that an interrupt cancelled: run again after confirmation.
fn reruns<'a>(
    playbook: &'a Playbook,
    state: &'a RunState,
    preset: &[Option<Preset>],
) -> Vec<(&'a crate::playbook::model::Step, &'a StepRecord)> {
    playbook
        .steps
        .iter()
        .zip(preset)
        .filter(|(_, p)| p.is_none())
        .filter_map(|(step, _)| {
            let record = state.steps.get(&step.id)?;
            // A step cancelled before its command started (at its prompt) has nothing to
            // confirm: it is simply scheduled again.
            let cancelled =
                record.status == Some(StepStatus::Cancelled) && record.started.is_some();
            (record.in_flight || cancelled).then_some((step, record))
        })
        .collect()
}

/// Shows each step to run again with its log tail, and gets the go-ahead: `idempotent`,
/// `--yes`, or a person at the terminal. Without any, nothing runs.
fn confirm_reruns(
    folder: &RunFolder,
    state: &RunState,
    rerun: &[(&crate::playbook::model::Step, &StepRecord)],
    yes: bool,
    commander: &str,
) -> Result<Vec<(String, String, ApprovalHow)>, Error> {
    // Running a step again while the crashed run's copy of it still runs (a second
    // pg_restore on the same database) is never what anyone wants.
    for (step, record) in rerun {
        if let Some((pgid, _)) = record
            .pgid
            .filter(|&(g, since)| crate::engine::process::group_alive_since(g, since))
        {
            return Err(Error::Run(format!(
                "not resumed: step `{}` of the crashed run is still running (process group {pgid}); let it finish or stop it (`kill -TERM -{pgid}`), then resume",
                step.id
            )));
        }
    }
    let mut confirmed = Vec::new();
    let mut err = std::io::stderr().lock();
    for (step, record) in rerun {
        let how = if record.in_flight {
            "was running when the runner stopped"
        } else {
            "was cancelled by the interrupt"
        };
        let _ = writeln!(
            err,
            "step `{}` {how} (run `{}`); the last lines of its log:",
            step.id, state.run_id
        );
        for line in crate::record::log_tail::tail(&folder.logs(), &step.id, 20).lines {
            let _ = writeln!(err, "  {} | {line}", step.id);
        }
        if step.idempotent {
            let _ = writeln!(err, "`{}` is idempotent: it runs again", step.id);
            confirmed.push((step.id.clone(), "idempotent".to_owned(), ApprovalHow::Flag));
        } else if yes {
            confirmed.push((step.id.clone(), "--yes".to_owned(), ApprovalHow::Flag));
        } else if std::io::stdin().is_terminal() && step.confirm.is_some() {
            // Its own `confirm` asks when it runs: one question, in the playbook's words, and
            // journaled with who answered it.
            let _ = writeln!(err, "`{}` asks for its approval when it runs", step.id);
        } else if std::io::stdin().is_terminal() {
            let _ = write!(err, "run `{}` again? [y/N] ", step.id);
            let _ = err.flush();
            let mut answer = String::new();
            let _ = std::io::stdin().lock().read_line(&mut answer);
            if !matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
                return Err(Error::Run(format!(
                    "not resumed: running `{}` again was declined",
                    step.id
                )));
            }
            confirmed.push((step.id.clone(), commander.to_owned(), ApprovalHow::Prompt));
        } else {
            return Err(Error::Run(format!(
                "not resumed: step `{}` must run again and there is no terminal to confirm it; rerun with --yes (or mark it `idempotent = true`)",
                step.id
            )));
        }
    }
    Ok(confirmed)
}

/// The run's vars, typed like the playbook declares them: as journaled, with a value masked
/// because it held a secret put together again (or the resume refused, naming the var).
fn vars(playbook: &Playbook, started: &Started) -> Result<IndexMap<String, VarValue>, Error> {
    let secret = |name: &str| std::env::var(name).ok();
    let mut vars = playbook.vars.clone();
    for (k, v) in &started.vars {
        if let Some(declared) = vars.get(k) {
            let text = match v {
                serde_json::Value::String(s) => match started.secret_spans.get(k) {
                    Some(spans) => crate::event::unmask(s, spans, &secret).map_err(|why| {
                        Error::Refused(format!(
                            "not resumed: var `{k}` cannot be restored: {why}; later steps would not get the value it had in the run (secrets are never written to disk: set them as they were when the run started, then resume)"
                        ))
                    })?,
                    None => s.clone(),
                },
                other => other.to_string(),
            };
            if let Ok(value) = declared.parse_like(&text) {
                vars.insert(k.clone(), value);
            }
        }
    }
    Ok(vars)
}
