//! One run of a playbook, from its lock to its report: the only place that knows the engine,
//! the record, notifications and the terminal view together.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use indexmap::IndexMap;

use crate::engine::SignalHandling;
use crate::engine::{Approvals, GivenInputs, Remote};
use crate::engine::{Context, RunInfo};
use crate::engine::{RunRequest, execute};
use crate::error::Error;
use crate::event::{Bus, Clock, Event, Mode, Record, RunStatus, Sink};
use crate::notify;
use crate::plan::Plan;
use crate::playbook::Playbook;
use crate::playbook::find::Library;
use crate::playbook::model::{Action, ApprovalPolicy, VarValue};
use crate::record::folder::RunFolder;
use crate::record::journal::Journal;
use crate::record::written::WriteError;
use crate::session::history::RunsHistory;
use crate::session::lock::{self, Locks};
use crate::session::presence::{self, Presence};
use crate::session::publish::Publishing;
use crate::session::resume::Resume;
use crate::session::secrets;
use crate::session::start::{self, absolute, host};

/// Everything a run is told by the command line.
#[expect(
    clippy::struct_excessive_bools,
    reason = "each is one documented command-line switch, passed on as given"
)]
pub(crate) struct Request {
    /// The playbook's plan for the target environment, with what `--only`/`--from` or the
    /// resumed journal settled.
    pub(crate) plan: Arc<Plan>,
    /// The playbook as validated, before `for_each` expansion: the report is built from it
    /// when the run folder's copy is the same text.
    pub(crate) playbook: Arc<Playbook>,
    pub(crate) vars: IndexMap<String, VarValue>,
    /// `incident` or `drill`; a dry run is recorded as `dry-run`.
    pub(crate) mode: Mode,
    pub(crate) dry_run: bool,
    pub(crate) commander: String,
    pub(crate) incident_start: Option<DateTime<Utc>>,
    pub(crate) yes: bool,
    pub(crate) approve: Vec<String>,
    /// `--input STEP.NAME=VALUE`, checked against the playbook.
    pub(crate) inputs: GivenInputs,
    pub(crate) max_parallel: Option<usize>,
    /// `--only ID` / `--from ID`, as given.
    pub(crate) selection: Option<String>,
    /// Deliver no notifications; they are still journaled.
    pub(crate) no_notify: bool,
    pub(crate) break_lock: bool,
    /// JSON lines on stdout instead of the human view.
    pub(crate) json: bool,
    pub(crate) verbose: bool,
    /// Where nested playbooks are looked up after their parent's folder.
    pub(crate) library: Library,
    pub(crate) start: Start,
    /// `--ticket ID`.
    pub(crate) ticket: Option<String>,
    /// `--wait-for-approval`: without a terminal, wait for `runbook approve`.
    pub(crate) wait_for_approval: bool,
}

/// A new run, or the continuation of one.
pub(crate) enum Start {
    /// `--out`, else `runs/<run-id>` in the runs root.
    New { out: Option<PathBuf> },
    Resume {
        folder: RunFolder,
        run_id: String,
        resume: Resume,
    },
}

/// Why a run could not even start.
#[derive(Debug, thiserror::Error)]
enum StartError {
    #[error("failed to create the run folder `{}`", path.display())]
    RunFolder {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to render `{key}` of [env]: {reason}")]
    Env { key: String, reason: String },
    #[error("failed to listen for signals")]
    Signals(#[source] std::io::Error),
    #[error("invalid secret: {0}")]
    Secret(String),
    #[error("failed to mark the run folder `{}` as live", path.display())]
    Presence {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl From<StartError> for Error {
    fn from(e: StartError) -> Self {
        Self::Run(crate::error::chain(&e))
    }
}

/// A run with its lock taken, its folder and journal open and its masking set up: ready to go.
pub(crate) struct Session {
    req: Request,
    run: RunRequest,
    resume: Option<Resume>,
    folder: RunFolder,
    bus: Arc<Bus>,
    /// Where the report looks for the runs to compare with.
    roots: Vec<PathBuf>,
    lock: Locks,
    /// Held while the run runs: other processes tell a live run from a crashed one by it.
    presence: Presence,
}

impl Session {
    /// Takes the lock, creates (or reopens) the run folder and its journal, and sets up what the
    /// run masks. `None` when the lock policy says to skip this run.
    #[expect(
        clippy::too_many_lines,
        reason = "the set-up in the order it happens: locks, folder, journal, masking, request"
    )]
    pub(crate) fn open(mut req: Request) -> Result<Option<Self>, Error> {
        let playbook = Arc::clone(&req.plan.playbook);
        let root = start::runs_root(playbook.path());
        let process_env: BTreeMap<String, String> = std::env::vars().collect();
        let start = std::mem::replace(&mut req.start, Start::New { out: None });
        let (folder, run_id, resume, roots, lock) = match start {
            Start::New { out } => {
                let started = Utc::now();
                let run_id = start::run_id(&playbook, started);
                let run_dir = out.unwrap_or_else(|| root.join(&run_id));
                let Some(lock) = lock::take(
                    &playbook,
                    &lock_names(
                        &req,
                        &run_info(&req, &run_id, &run_dir, started),
                        &process_env,
                    )?,
                    &root,
                    &run_id,
                    started,
                    req.break_lock,
                )?
                else {
                    return Ok(None);
                };
                // The text that was validated is the copy kept in the run folder: reading the
                // file again could copy something other than what runs, if it changed since.
                let folder = RunFolder::create(&run_dir, playbook.source.text.as_bytes())
                    .map_err(|e| Error::Usage(crate::error::chain(&e)))?;
                (folder, run_id, None, vec![root.clone()], lock)
            }
            Start::Resume {
                folder,
                run_id,
                resume,
            } => {
                let Some(lock) = lock::take(
                    &playbook,
                    &lock_names(
                        &req,
                        &run_info(&req, &run_id, &folder.dir, resume.started_at),
                        &process_env,
                    )?,
                    &root,
                    &run_id,
                    resume.started_at,
                    req.break_lock,
                )?
                else {
                    return Ok(None);
                };
                let roots = start::runs_roots(&req.library);
                (folder, run_id, Some(resume), roots, lock)
            }
        };
        let presence = presence::hold(&folder.dir).map_err(|source| StartError::Presence {
            path: folder.dir.clone(),
            source,
        })?;
        let journal = Journal::open(&folder.journal()).map_err(|source| Error::Write {
            path: folder.journal(),
            source,
        })?;
        let logs = folder.logs();
        std::fs::create_dir_all(&logs)
            .map_err(|source| StartError::RunFolder { path: logs, source })?;

        let clock = resume
            .as_ref()
            .map_or_else(Clock::start, |r| Clock::resumed(r.started_at));
        let info = run_info(&req, &run_id, &folder.dir, clock.started_at);
        let context = Context::new(&playbook, &req.vars, &info, &process_env);
        let (masker, secrets) = secrets::masker(&playbook, &context, &process_env)
            .map_err(|e| StartError::Secret(e.to_string()))?;
        let mut env = vec![
            ("RUNBOOK_RUN_ID".to_owned(), run_id.clone()),
            (
                "RUNBOOK_RUN_DIR".to_owned(),
                folder.dir.display().to_string(),
            ),
            ("RUNBOOK_MODE".to_owned(), info.mode.as_str().to_owned()),
        ];
        env.extend(
            context
                .render_env(&playbook)
                .map_err(|(key, e)| StartError::Env {
                    key,
                    reason: e.to_string(),
                })?,
        );
        // The journal first: an event is on disk before anyone sees it.
        let sinks: Vec<Box<dyn Sink>> = vec![
            Box::new(journal),
            crate::ui::for_terminal(req.json, req.verbose, objectives(&req.plan.playbook)),
        ];
        let info_id = run_id.clone();
        let bus = Bus::new(run_id, Arc::new(masker), sinks);
        // A prompt's default name is whoever runs this segment: on a resume, who resumed it.
        let answerer = resume
            .as_ref()
            .map_or_else(|| req.commander.clone(), |r| r.commander.clone());
        let run = RunRequest {
            plan: Arc::clone(&req.plan),
            info,
            context: Arc::new(context),
            env,
            process_env: Arc::new(process_env),
            secrets: Arc::new(secrets),
            approvals: Approvals::new(req.yes, req.approve.clone(), req.inputs.clone(), answerer)
                .with_remote(Remote {
                    run_dir: folder.dir.clone(),
                    // The id finds the folder when it is where runs go; a folder elsewhere
                    // (`--out`) is named by its path.
                    run_arg: if folder.dir == root.join(&info_id) {
                        info_id.clone()
                    } else {
                        absolute(&folder.dir)
                    },
                    commander_os_user: crate::engine::answer::own_user(),
                    wait: req.wait_for_approval || playbook.meta.approvals == ApprovalPolicy::Wait,
                }),
            max_parallel: req.max_parallel,
            dry_run: req.dry_run,
            incident_start: req.incident_start,
            clock,
            library: req.library.clone(),
            history: RunsHistory::shared(&root),
            locker: Arc::new(lock::RunLocker {
                root: root.clone(),
                run_id: info_id,
                started: clock.started_at,
                break_lock: req.break_lock,
            }),
        };
        Ok(Some(Self {
            req,
            run,
            resume,
            folder,
            bus,
            roots,
            lock,
            presence,
        }))
    }

    /// Runs it, writes the report, and says how it ended: `Ok` only for a run that succeeded
    /// with its whole record written.
    pub(crate) fn run(self) -> Result<(), Error> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::Runtime(e.to_string()))?;
        let status = runtime.block_on(self.execute());
        // A prompt blocked on the terminal must not keep the process alive after the run.
        runtime.shutdown_timeout(Duration::from_millis(100));
        status
    }

    async fn execute(self) -> Result<(), Error> {
        let Self {
            req,
            run,
            resume,
            folder,
            bus,
            roots,
            lock,
            presence,
        } = self;
        let signals = SignalHandling::listen().map_err(StartError::Signals)?;
        // What publishing the report needs after the run: its values, its environment, and the
        // signals that stop it (the next one: the first, or after an interrupt the second).
        let publishing = Publishing {
            template: (run.plan.playbook.report.publish.clone())
                .map(|t| (t, Arc::clone(&run.context))),
            dry_run: req.dry_run,
            json: req.json,
            env: run.env.clone(),
            stops: (
                signals.cancel.clone(),
                signals.second.clone(),
                Arc::clone(&signals.groups),
            ),
        };
        // No limit on parallel steps must not mean failing for lack of file descriptors.
        crate::engine::raise_open_files();
        // A dry run sends nothing: it shows and journals each message as previewed;
        // `--no-notify` journals each message it does not send.
        let courier = notifications(&req, &run, &bus);
        started(&req, &run, resume.as_ref(), &lock, &bus);
        let run_id = run.info.id.clone();
        let outcome = execute(run, Arc::clone(&bus), signals).await;
        if let Some(courier) = courier {
            courier.drain(notify::DRAIN_LIMIT).await;
        }
        bus.finish();
        // The engine's state went with `execute`; the plan goes too, before the report holds
        // the replay of the journal: only `req.playbook` is needed from here on.
        drop(req.plan);
        // Written after every run, failed and interrupted ones too. The record must not lie: a
        // run whose journal, logs or report could not be written fails (exit 1), naming the file.
        let report = crate::record::written::write(&folder, &roots, Some(&req.playbook));
        if report.is_ok() && !req.json {
            eprintln!("report: {}", folder.report().display());
        }
        // The report is final before it is published; publishing only adds to the journal,
        // under the run's locks still (a `resume` of this run must not write it meanwhile).
        if report.is_ok() {
            publishing
                .publish(&folder, &run_id, &bus, outcome.status)
                .await;
        }
        if let Some(fault) = bus.fault() {
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
            journal_failure(&folder, &run_id, &path, &error);
            return Err(Error::Write {
                path,
                source: error,
            });
        }
        drop(lock);
        drop(presence);
        match outcome.status {
            RunStatus::Ok => Ok(()),
            RunStatus::Failed => Err(Error::RunFailed),
            RunStatus::Interrupted => Err(Error::Interrupted),
        }
    }
}

/// The budgets and objectives the terminal view measures the run against.
pub(crate) fn objectives(p: &Playbook) -> crate::ui::Objectives {
    crate::ui::Objectives {
        rto_ms: p.meta.rto.map(|r| r.duration.as_millis()),
        budgets: p
            .steps
            .iter()
            .filter_map(|s| s.budget.map(|b| (s.id.to_string(), b.as_millis())))
            .collect(),
        rto_start: p.meta.rto_clock.map(|c| p.steps[c.start].id.to_string()),
        rto_stop: p.meta.rto_clock.map(|c| p.steps[c.stop].id.to_string()),
    }
}

/// What `run.*` says of this run (a dry run is `dry-run`, whatever mode it rehearses).
fn run_info(req: &Request, run_id: &str, dir: &Path, started: DateTime<Utc>) -> RunInfo {
    RunInfo {
        id: run_id.to_owned(),
        mode: if req.dry_run { Mode::DryRun } else { req.mode },
        env: req.plan.env.clone(),
        started_at: started,
        commander: req.commander.clone(),
        dir: dir.to_path_buf(),
    }
}

/// `[playbook] locks`, rendered from the run's vars before anything runs.
fn lock_names(
    req: &Request,
    info: &RunInfo,
    process_env: &BTreeMap<String, String>,
) -> Result<Vec<String>, Error> {
    let playbook = &req.plan.playbook;
    if playbook.meta.locks.is_empty() {
        return Ok(Vec::new());
    }
    let context = Context::new(playbook, &req.vars, info, process_env);
    playbook
        .meta
        .locks
        .iter()
        .map(|t| {
            context
                .render(t)
                .map_err(|e| Error::Usage(format!("`locks` of [playbook]: `{}`: {e}", t.source())))
        })
        .collect()
}

/// The first events of a run (or of its continuation), and the locks it took from other runs.
fn started(req: &Request, run: &RunRequest, resume: Option<&Resume>, locks: &Locks, bus: &Bus) {
    let playbook = &run.plan.playbook;
    match resume {
        None => bus.emit(Event::RunStarted {
            playbook: playbook.meta.name.clone(),
            // Absolute, so that `resume` finds the file from anywhere.
            path: absolute(playbook.path()),
            version: playbook.meta.version.to_string(),
            sha256: playbook.sha256.clone(),
            mode: run.info.mode,
            env: req.plan.env.clone(),
            commander: req.commander.clone(),
            vars: req
                .vars
                .iter()
                .map(|(k, v)| (k.clone(), v.to_json()))
                .collect(),
            incident_start: req.incident_start,
            dry_run: req.dry_run,
            host: host(),
            run_dir: absolute(&run.info.dir),
            runbook_version: env!("CARGO_PKG_VERSION").to_owned(),
            max_parallel: req.max_parallel,
            selection: req.selection.clone(),
            ticket: req.ticket.clone(),
        }),
        Some(r) => {
            bus.emit(Event::RunResumed {
                commander: r.commander.clone(),
                gap_ms: r.gap_ms(),
                rerun: r.rerun.clone(),
                playbook_changed: r.playbook_changed,
            });
            for (step, by, how) in &r.confirmed {
                bus.emit(Event::ApprovalGiven {
                    step: step.clone(),
                    by: by.clone(),
                    how: *how,
                    waited_ms: 0,
                    os_user: None,
                    approvers: Vec::new(),
                });
            }
        }
    }
    for (holder, stale) in locks.taken_from() {
        bus.emit(Event::LockBroken {
            holder_run_id: holder.run_id.clone(),
            holder_pid: holder.pid,
            holder_host: holder.host.clone(),
            stale: *stale,
        });
    }
}

/// Starts the notifier and registers it as a sink; `None` when the playbook notifies nobody.
fn notifications(req: &Request, run: &RunRequest, bus: &Arc<Bus>) -> Option<notify::Courier> {
    let playbook = &run.plan.playbook;
    let preapproved = if req.yes {
        notify::Preapproved::All
    } else {
        // `--approve ID` gives a `confirm`, not a manual step's "done"; `--input` gives the
        // "done" of a manual step whose inputs it answers, all of them.
        let answered = playbook.steps.iter().filter(|s| {
            !s.inputs().is_empty()
                && req
                    .inputs
                    .get(s.id.as_str())
                    .is_some_and(|given| s.inputs().keys().all(|k| given.contains_key(k)))
        });
        notify::Preapproved::Steps(
            req.approve
                .iter()
                .filter(|id| {
                    playbook
                        .step_index(id)
                        .is_some_and(|i| !matches!(playbook.steps[i].action, Action::Manual(_)))
                })
                .cloned()
                .chain(answered.map(|s| s.id.to_string()))
                .collect(),
        )
    };
    let facts = notify::RunFacts {
        run_id: run.info.id.clone(),
        playbook: playbook.meta.name.clone(),
        version: playbook.meta.version.to_string(),
        title: playbook.meta.display_title().to_owned(),
        // `dry-run` in a dry run: the previews say so.
        mode: run.info.mode,
        env: req.plan.env.clone(),
        commander: req.commander.clone(),
        ticket: req.ticket.clone(),
        rto_objective_ms: playbook.meta.rto.map(|r| r.duration.as_millis()),
        started_at: run.clock.started_at,
        run_dir: std::path::absolute(&run.info.dir).unwrap_or_else(|_| run.info.dir.clone()),
        preapproved,
    };
    let dispatch = if req.dry_run {
        notify::Dispatch::Preview
    } else if req.no_notify {
        notify::Dispatch::Skip("skipped: --no-notify".to_owned())
    } else {
        notify::Dispatch::Send
    };
    let render =
        |t: &crate::playbook::template::Template| run.context.render(t).map_err(|e| e.to_string());
    let (notifier, courier) = notify::start(&playbook.notify, &render, facts, bus, &dispatch)?;
    bus.add_sink(Box::new(notifier));
    Some(courier)
}

/// Journals, after the run's end, that its report could not be written (if the journal can
/// still be written): replay then reads the run as failed.
fn journal_failure(folder: &RunFolder, run_id: &str, path: &Path, error: &std::io::Error) {
    if let Ok(mut journal) = Journal::open(&folder.journal()) {
        journal.event(&Record {
            ts: Utc::now(),
            run_id: run_id.to_owned(),
            item: None,
            event: Event::RecordFailed {
                path: path.display().to_string(),
                error: error.to_string(),
            },
            host: None,
        });
        journal.finish();
    }
}
