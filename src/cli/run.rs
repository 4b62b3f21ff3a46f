//! `runbook run NAME|FILE`: execute a playbook.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sha2::{Digest as _, Sha256};

use crate::cli::main::{check_env, load};
use crate::engine::run::{RunSettings, execute};
use crate::engine::scheduler::Preset;
use crate::error::Error;
use crate::event::{Mode, RunStatus};
use crate::playbook::Playbook;
use crate::playbook::diagnostic::did_you_mean_suffix;
use crate::playbook::find::Library;
use crate::record::folder::RunFolder;
use crate::record::journal::Journal;
use crate::record::lock::{self, Holder, Lock, Outcome};
use crate::record::written::WriteError;

#[derive(Debug, clap::Args)]
#[expect(
    clippy::struct_excessive_bools,
    reason = "each flag is one documented command-line switch"
)]
pub(crate) struct Args {
    /// Playbook name, name@semver-requirement, or file
    #[arg(value_name = "NAME|FILE")]
    playbook: String,
    /// Override a declared var
    #[arg(long = "var", value_name = "KEY=VALUE")]
    vars: Vec<String>,
    /// Target environment, checked against the playbook's `environments`
    #[arg(long)]
    env: Option<String>,
    /// Why this run happens: recorded, shown in the report and notifications
    #[arg(long, value_enum, default_value_t = RunMode::Drill)]
    mode: RunMode,
    /// Execute only `read_only` steps; print every other step's rendered command
    #[arg(long)]
    dry_run: bool,
    /// Approve every `confirm` and manual step in advance
    #[arg(long)]
    yes: bool,
    /// Approve one step's `confirm` in advance (repeatable)
    #[arg(long, value_name = "ID")]
    approve: Vec<String>,
    /// Who runs it (default: $USER)
    #[arg(long, value_name = "NAME")]
    commander: Option<String>,
    /// When the incident started (RFC 3339), for the achieved RPO and the RTO in incident mode
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    incident_start: Option<DateTime<Utc>>,
    /// Run folder (default: `runs/<run-id>` beside the playbook folder, or under `$RUNBOOK_RUNS`)
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// How many steps may run at once (default: the number of CPUs)
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
}

fn parse_time(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("`{s}` is not an RFC 3339 time such as 2026-11-23T02:00:00Z ({e})"))
}

pub(crate) fn run(args: &Args, library: &Library) -> Result<ExitCode, Error> {
    let validated = load(library, &args.playbook)?;
    let playbook = Arc::new(validated.playbook);
    let vars = crate::cli::vars::apply(&playbook, &args.vars)?;
    if let Err(refusal) = check_env(&playbook, args.env.as_deref()) {
        return Err(Error::Refused(refusal));
    }
    let preset = selection(&playbook, args.only.as_deref(), args.from.as_deref())?;
    crate::cli::step_flags::check_approve(&playbook, library, &args.approve)?;
    // The text that was validated is the copy kept in the run folder: reading the file again
    // could copy something other than what runs, if it changed in between.
    let bytes = playbook.source.text.as_bytes().to_vec();
    let started = Utc::now();
    let run_id = run_id(&playbook, started);
    let root = runs_root(playbook.path());
    let run_dir = args.out.clone().unwrap_or_else(|| root.join(&run_id));
    let Some(lock) = take_lock(&playbook, &root, &run_id, started, args.break_lock)? else {
        return Ok(ExitCode::SUCCESS);
    };
    let folder =
        RunFolder::create(&run_dir, &bytes).map_err(|e| Error::Usage(crate::error::chain(&e)))?;
    let commander = args
        .commander
        .clone()
        .or_else(crate::engine::run::user)
        .unwrap_or_else(|| "unknown".to_owned());
    let settings = RunSettings {
        playbook,
        vars,
        mode: match args.mode {
            RunMode::Incident => Mode::Incident,
            RunMode::Drill => Mode::Drill,
        },
        dry_run: args.dry_run,
        env: args.env.clone(),
        commander,
        incident_start: args.incident_start,
        yes: args.yes,
        approve: args.approve.clone(),
        max_parallel: max_parallel(args.max_parallel),
        run_id,
        run_dir,
        preset,
        resume: None,
        lock_taken: lock.taken_from.clone(),
        no_notify: args.no_notify,
        selection: args
            .only
            .as_ref()
            .map(|o| format!("--only {o}"))
            .or_else(|| args.from.as_ref().map(|f| format!("--from {f}"))),
        library: library.clone(),
    };
    launch(settings, &folder, &[root], args.json, args.verbose)
}

/// `--max-parallel`, else the number of CPUs.
pub(crate) fn max_parallel(flag: Option<u32>) -> usize {
    flag.map_or_else(
        || std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
        |n| n as usize,
    )
}

/// Takes the playbook's lock as its policy says: `None` when the run is skipped
/// (`lock = "skip"`), an error naming the holder when it is refused.
pub(crate) fn take_lock(
    playbook: &Playbook,
    runs_root: &Path,
    run_id: &str,
    started: DateTime<Utc>,
    break_lock: bool,
) -> Result<Option<Lock>, Error> {
    let me = Holder {
        run_id: run_id.to_owned(),
        pid: std::process::id(),
        host: crate::engine::run::host(),
        started,
    };
    let path = lock::path(runs_root, &playbook.meta.name);
    let mut waiting = |holder: &Holder| {
        eprintln!(
            "waiting for the lock of `{}`: held by {holder} (lock = \"wait\")",
            playbook.meta.name
        );
    };
    let outcome = lock::acquire(&path, &me, playbook.meta.lock, break_lock, &mut waiting)
        .map_err(|e| Error::Run(crate::error::chain(&e)))?;
    match outcome {
        Outcome::Acquired(lock) => Ok(Some(lock)),
        Outcome::Refused(holder) => Err(Error::Refused(format!(
            "`{}` is already running: {holder}; wait for it to finish, or take over with --break-lock if that run is gone",
            playbook.meta.name
        ))),
        Outcome::Skipped(holder) => {
            eprintln!(
                "skipped: `{}` is already running: {holder} (lock = \"skip\")",
                playbook.meta.name
            );
            Ok(None)
        }
    }
}

/// Runs (or resumes) with the journal and the terminal view as sinks, writes the report, and
/// turns the outcome into the exit code.
pub(crate) fn launch(
    settings: RunSettings,
    folder: &RunFolder,
    roots: &[PathBuf],
    json: bool,
    verbose: bool,
) -> Result<ExitCode, Error> {
    let p = &settings.playbook;
    let objectives = crate::ui::Objectives {
        rto_ms: p.meta.rto.map(|r| r.duration.as_millis()),
        budgets: p
            .steps
            .iter()
            .filter_map(|s| s.budget.map(|b| (s.id.clone(), b.as_millis())))
            .collect(),
        rto_start: p.meta.rto_clock.map(|c| p.steps[c.start].id.clone()),
        rto_stop: p.meta.rto_clock.map(|c| p.steps[c.stop].id.clone()),
    };
    let journal = Journal::open(&folder.journal()).map_err(|source| Error::Write {
        path: folder.journal(),
        source,
    })?;
    // The journal first: an event is on disk before anyone sees it.
    let sinks: Vec<Box<dyn crate::event::Sink>> = vec![
        Box::new(journal),
        crate::ui::for_terminal(json, verbose, objectives),
    ];
    let run_id = settings.run_id.clone();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Runtime(e.to_string()))?;
    let outcome = runtime.block_on(execute(settings, sinks));
    // A prompt blocked on the terminal must not keep the process alive after the run.
    runtime.shutdown_timeout(Duration::from_millis(100));
    let outcome = outcome.map_err(|e| Error::Run(crate::error::chain(&e)))?;
    // Written after every run, failed and interrupted ones too. The record must not lie: a
    // run whose journal, logs or report could not be written fails (exit 1), naming the file.
    let report = crate::record::written::write(folder, roots);
    if let Ok(path) = &report
        && !json
    {
        eprintln!("report: {}", path.display());
    }
    if let Some(fault) = outcome.record_fault {
        return Err(Error::Write {
            path: fault.path.clone(),
            source: fault.io_error(),
        });
    }
    if let Err(e) = report {
        let (path, error) = match e {
            WriteError::Write { path, source } => (path, source),
            WriteError::Render(e) => (
                folder.report(),
                std::io::Error::other(crate::error::chain(&e)),
            ),
        };
        journal_failure(folder, &run_id, &path, &error);
        return Err(Error::Write {
            path,
            source: error,
        });
    }
    Ok(match outcome.status {
        RunStatus::Ok => ExitCode::SUCCESS,
        RunStatus::Failed => ExitCode::from(1),
        RunStatus::Interrupted => ExitCode::from(130),
    })
}

/// Journals, after the run's end, that its report could not be written (if the journal can
/// still be written): replay then reads the run as failed.
fn journal_failure(folder: &RunFolder, run_id: &str, path: &Path, error: &std::io::Error) {
    use crate::event::Sink as _;
    if let Ok(mut journal) = Journal::open(&folder.journal()) {
        journal.event(&crate::event::Record {
            ts: Utc::now(),
            run_id: run_id.to_owned(),
            event: crate::event::Event::RecordFailed {
                path: path.display().to_string(),
                error: error.to_string(),
            },
        });
        journal.finish();
    }
}

/// `20261123T020000Z-postgres-restore-7f3a`: sortable, readable, unique.
fn run_id(playbook: &Playbook, at: DateTime<Utc>) -> String {
    let mut h = Sha256::new();
    h.update(at.timestamp_nanos_opt().unwrap_or_default().to_le_bytes());
    h.update(std::process::id().to_le_bytes());
    h.update(playbook.sha256.as_bytes());
    let suffix = format!("{:x}", h.finalize());
    format!(
        "{}-{}-{}",
        at.format("%Y%m%dT%H%M%SZ"),
        playbook.meta.name,
        &suffix[..4]
    )
}

/// `$RUNBOOK_RUNS`, else `runs/` in the parent of the playbook's folder. The path is made
/// absolute and its symlinks resolved first, so every spelling of one file (`x.toml` from
/// inside its folder, `playbooks/x.toml`, a symlink to it) shares one runs root: one lock, one
/// history.
pub(crate) fn runs_root(playbook_path: &Path) -> PathBuf {
    if let Some(root) = std::env::var_os("RUNBOOK_RUNS").filter(|r| !r.is_empty()) {
        return PathBuf::from(root);
    }
    let path = resolved(playbook_path);
    let folder = path.parent().unwrap_or(Path::new("/"));
    folder.parent().unwrap_or(folder).join("runs")
}

/// The absolute path with symlinks resolved; for a file that does not exist (a folder's
/// `x.toml` placeholder), its folder resolved and the name kept.
fn resolved(path: &Path) -> PathBuf {
    if let Ok(real) = path.canonicalize() {
        return real;
    }
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    match (absolute.parent(), absolute.file_name()) {
        (Some(folder), Some(name)) => folder
            .canonicalize()
            .unwrap_or_else(|_| folder.to_path_buf())
            .join(name),
        _ => absolute,
    }
}

/// The steps `--only`/`--from` leave out, with the reason.
fn selection(
    playbook: &Playbook,
    only: Option<&str>,
    from: Option<&str>,
) -> Result<Vec<Option<Preset>>, Error> {
    let n = playbook.steps.len();
    let Some((flag, id)) = only.map(|o| ("--only", o)).or(from.map(|f| ("--from", f))) else {
        return Ok(vec![None; n]);
    };
    let Some(target) = playbook.step_index(id) else {
        let hint = did_you_mean_suffix(id, playbook.steps.iter().map(|s| s.id.as_str()));
        return Err(Error::Usage(format!(
            "unknown step `{id}` in `{flag} {id}`{hint}"
        )));
    };
    let mut selected = vec![false; n];
    selected[target] = true;
    if flag == "--only" {
        // The step and everything it needs, transitively.
        let mut stack = vec![target];
        while let Some(i) = stack.pop() {
            for &d in &playbook.steps[i].needs {
                if !selected[d] {
                    selected[d] = true;
                    stack.push(d);
                }
            }
        }
    } else {
        // The step and everything after it.
        let mut dependents = vec![Vec::new(); n];
        for (i, s) in playbook.steps.iter().enumerate() {
            for &d in &s.needs {
                dependents[d].push(i);
            }
        }
        let mut stack = vec![target];
        while let Some(i) = stack.pop() {
            for &d in &dependents[i] {
                if !selected[d] {
                    selected[d] = true;
                    stack.push(d);
                }
            }
        }
    }
    Ok(selected
        .iter()
        .map(|&s| (!s).then(|| Preset::Unselected(format!("not selected by `{flag} {id}`"))))
        .collect())
}
