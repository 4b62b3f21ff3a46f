//! A whole run: secrets and masking, the run folder, the template context, assessment checks,
//! the steps, validation checks, the RTO and RPO achieved, and the final status.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use indexmap::IndexMap;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::engine::approval::Approvals;
use crate::engine::check;
use crate::engine::context::{Context, RunInfo};
use crate::engine::probe::{HttpClients, ProbeEnv};
use crate::engine::process::Registry;
use crate::engine::scheduler::{self, Preset, Schedule, StepsOutcome};
use crate::engine::shared::Shared;
use crate::engine::signal;
use crate::event::{
    ApprovalHow, Bus, CheckPhase, Clock, Event, Masker, Mode, RunStatus, Sink, StepStatus,
    WriteFault, millis,
};
use crate::notify;
use crate::playbook::find::Library;
use crate::playbook::model::{Action, Playbook, VarValue};
use crate::record::lock::Holder;

/// Everything a run is told.
pub struct RunSettings {
    pub playbook: Arc<Playbook>,
    pub vars: IndexMap<String, VarValue>,
    /// `incident` or `drill`; a dry run is recorded as `dry-run`.
    pub mode: Mode,
    pub dry_run: bool,
    pub env: Option<String>,
    pub commander: String,
    pub incident_start: Option<DateTime<Utc>>,
    pub yes: bool,
    pub approve: Vec<String>,
    pub max_parallel: usize,
    pub run_id: String,
    pub run_dir: PathBuf,
    /// By step index: left out by `--only`/`--from`, or finished before a resume.
    pub preset: Vec<Option<Preset>>,
    /// Set when this continues an earlier run (`runbook resume`).
    pub resume: Option<Resume>,
    /// The lock this run took from another run, and whether that one was stale.
    pub lock_taken: Option<(Holder, bool)>,
    /// `--only ID` / `--from ID`, as given.
    pub selection: Option<String>,
    /// Deliver no notifications; they are still journaled.
    pub no_notify: bool,
    /// Where nested playbooks are looked up after their parent's folder.
    pub library: Library,
}

/// What a resumed run continues from.
#[derive(Debug, Clone)]
pub struct Resume {
    /// The original run's start: the RTO clock keeps counting from it.
    pub started_at: DateTime<Utc>,
    /// From the journal's last event to now.
    pub gap_ms: u64,
    /// Steps in flight when the runner died, run again.
    pub rerun: Vec<String>,
    pub playbook_changed: bool,
    /// Who resumed it.
    pub commander: String,
    /// Reruns of in-flight steps, confirmed: step, by whom, how.
    pub confirmed: Vec<(String, String, ApprovalHow)>,
}

/// How a run ended.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    pub status: RunStatus,
    pub steps: Vec<StepStatus>,
    /// The first file of the record that could not be written: the run failed because of it.
    pub record_fault: Option<WriteFault>,
}

/// Why a run could not even start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
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
}

/// The values of the playbook's `secrets` found in the environment.
#[must_use]
pub fn secret_values(playbook: &Playbook) -> Vec<String> {
    named_secrets(playbook)
        .into_iter()
        .map(|(_, v)| v)
        .collect()
}

/// The playbook's `secrets` found in the environment: name and value.
#[must_use]
pub fn named_secrets(playbook: &Playbook) -> Vec<(String, String)> {
    playbook
        .meta
        .secrets
        .iter()
        .filter_map(|name| Some((name.clone(), std::env::var(name).ok()?)))
        .filter(|(_, v)| !v.is_empty())
        .collect()
}

/// Runs a playbook to its end. `sinks` receive every event.
#[expect(clippy::too_many_lines, reason = "the run's phases in order")]
pub async fn execute(
    settings: RunSettings,
    sinks: Vec<Box<dyn Sink>>,
) -> Result<RunOutcome, StartError> {
    let clock = settings
        .resume
        .as_ref()
        .map_or_else(Clock::start, |r| Clock::resumed(r.started_at));
    let started = clock.instant();
    let playbook = Arc::clone(&settings.playbook);
    let run_dir = settings.run_dir.clone();
    let logs_dir = run_dir.join("logs");
    std::fs::create_dir_all(&logs_dir).map_err(|source| StartError::RunFolder {
        path: logs_dir.clone(),
        source,
    })?;

    let process_env: BTreeMap<String, String> = std::env::vars().collect();
    let mode = if settings.dry_run {
        Mode::DryRun
    } else {
        settings.mode
    };
    let info = RunInfo {
        id: settings.run_id.clone(),
        mode,
        env: settings.env.clone(),
        started_at: clock.started_at,
        commander: settings.commander.clone(),
        dir: run_dir.clone(),
    };
    let context = Context::new(&playbook, &settings.vars, &info, &process_env);
    let mut secrets = secret_values(&playbook);
    // Webhook URLs carry their own credentials: masked like secrets.
    for template in playbook
        .notify
        .slack
        .iter()
        .map(|s| &s.webhook)
        .chain(playbook.notify.webhook.iter().map(|w| &w.url))
    {
        if let Ok(url) = context.render(template) {
            secrets.push(url);
        }
    }
    let masker = Arc::new(
        Masker::new(&secrets)
            .map_err(|e| StartError::Secret(e.to_string()))?
            .with_names(
                named_secrets(&playbook)
                    .iter()
                    .map(|(n, v)| (n.as_str(), v.as_str())),
            ),
    );
    let mut env = vec![
        ("RUNBOOK_RUN_ID".to_owned(), settings.run_id.clone()),
        ("RUNBOOK_RUN_DIR".to_owned(), run_dir.display().to_string()),
        ("RUNBOOK_MODE".to_owned(), mode.as_str().to_owned()),
    ];
    for (key, template) in &playbook.env {
        let value = context.render(template).map_err(|e| StartError::Env {
            key: key.clone(),
            reason: e.to_string(),
        })?;
        env.push((key.clone(), value));
    }
    let emitter = Bus::new(settings.run_id.clone(), masker, sinks);
    // A dry run sends nothing and journals nothing about it; `--no-notify` journals each
    // message it does not send.
    let courier = if settings.dry_run {
        None
    } else {
        notifications(&settings, &context, &clock, &emitter)
    };
    let cancel = CancellationToken::new();
    let groups = Arc::new(Registry::default());
    let interrupt =
        signal::listen(cancel.clone(), Arc::clone(&groups)).map_err(StartError::Signals)?;
    let shared = Arc::new(Shared {
        playbook: Arc::clone(&playbook),
        context,
        emitter: Arc::clone(&emitter),
        http: Arc::new(HttpClients::default()),
        // A prompt's default name is whoever runs this segment: on a resume, who resumed it.
        approvals: Arc::new(Approvals::new(
            settings.yes,
            settings.approve.clone(),
            settings
                .resume
                .as_ref()
                .map_or_else(|| settings.commander.clone(), |r| r.commander.clone()),
        )),
        cancel: cancel.clone(),
        groups,
        run_dir: run_dir.clone(),
        logs_dir,
        env,
        dry_run: settings.dry_run,
        info,
        process_env: Arc::new(process_env),
        target_env: settings.env.clone(),
        max_parallel: settings.max_parallel,
        library: settings.library.clone(),
        stack: vec![playbook.meta.name.clone()],
        log_prefix: String::new(),
        secrets: Arc::new(secrets),
    });

    match &settings.resume {
        None => emitter.emit(Event::RunStarted {
            playbook: playbook.meta.name.clone(),
            // Absolute, so that `resume` finds the file from anywhere.
            path: absolute(playbook.path()),
            version: playbook.meta.version.to_string(),
            sha256: playbook.sha256.clone(),
            mode,
            env: settings.env.clone(),
            commander: settings.commander.clone(),
            vars: settings
                .vars
                .iter()
                .map(|(k, v)| (k.clone(), v.to_json()))
                .collect(),
            incident_start: settings.incident_start,
            dry_run: settings.dry_run,
            host: host(),
            run_dir: absolute(&run_dir),
            runbook_version: env!("CARGO_PKG_VERSION").to_owned(),
            max_parallel: settings.max_parallel,
            selection: settings.selection.clone(),
        }),
        Some(r) => {
            emitter.emit(Event::RunResumed {
                commander: r.commander.clone(),
                gap_ms: r.gap_ms,
                rerun: r.rerun.clone(),
                playbook_changed: r.playbook_changed,
            });
            for (step, by, how) in &r.confirmed {
                emitter.emit(Event::ApprovalGiven {
                    step: step.clone(),
                    by: by.clone(),
                    how: *how,
                    waited_ms: 0,
                });
            }
        }
    }
    if let Some((holder, stale)) = &settings.lock_taken {
        emitter.emit(Event::LockBroken {
            holder_run_id: holder.run_id.clone(),
            holder_pid: holder.pid,
            holder_host: holder.host.clone(),
            stale: *stale,
        });
    }

    let schedule = Schedule {
        max_parallel: settings.max_parallel,
        env: settings.env.clone(),
        preset: settings.preset.clone(),
        rto_warning_after: playbook.meta.rto.map(|r| r.duration.get().mul_f64(0.8)),
    };
    let (outcome, status) = steps_and_checks(&shared, &schedule, started).await;
    if status == RunStatus::Interrupted {
        emitter.emit(Event::RunInterrupted {
            signal: interrupt.signal().unwrap_or("SIGINT").to_owned(),
        });
    }

    let end = started.elapsed();
    // Only a run that succeeded recovered anything: a failed one achieved no RTO or RPO. A dry
    // run measures nothing: its clock timed the printing of commands, not a recovery.
    let recovered = status == RunStatus::Ok && !settings.dry_run;
    let rto = recovered
        .then(|| {
            rto_achieved(
                &playbook,
                &outcome.times,
                &outcome.status,
                end,
                &clock,
                mode,
                settings.incident_start,
            )
        })
        .flatten();
    let (recovery_point, recovery_point_error) = recovery_point(&playbook, &shared.context);
    let rpo_achieved = recovery_point.filter(|_| recovered).map(|point| {
        let reference = settings.incident_start.unwrap_or(clock.started_at);
        // A recovery point after the reference (restored data newer than the incident's start)
        // lost nothing: 0, not "not measured".
        (reference - point).to_std().map_or(0, millis)
    });
    emitter.emit(Event::RunFinished {
        status,
        duration_ms: millis(end),
        failures_tolerated: outcome.failures_tolerated,
        rto_objective_ms: playbook.meta.rto.map(|r| r.duration.as_millis()),
        rto_achieved_ms: rto,
        rpo_objective_ms: playbook.meta.rpo.map(|r| r.duration.as_millis()),
        rpo_achieved_ms: rpo_achieved,
        recovery_point,
        recovery_point_error,
    });
    if let Some(courier) = courier {
        courier.drain(notify::DRAIN_LIMIT).await;
    }
    emitter.finish();
    Ok(RunOutcome {
        status,
        steps: outcome.status,
        record_fault: emitter.fault(),
    })
}

/// Starts the notifier and registers it as a sink; `None` when the playbook notifies nobody.
fn notifications(
    settings: &RunSettings,
    context: &Context,
    clock: &Clock,
    emitter: &Arc<Bus>,
) -> Option<notify::Courier> {
    let playbook = &settings.playbook;
    let preapproved = if settings.yes {
        notify::Preapproved::All
    } else {
        // `--approve ID` gives a `confirm`, not a manual step's "done".
        notify::Preapproved::Steps(
            settings
                .approve
                .iter()
                .filter(|id| {
                    playbook
                        .step_index(id)
                        .is_some_and(|i| !matches!(playbook.steps[i].action, Action::Manual(_)))
                })
                .cloned()
                .collect(),
        )
    };
    let facts = notify::RunFacts {
        run_id: settings.run_id.clone(),
        playbook: playbook.meta.name.clone(),
        version: playbook.meta.version.to_string(),
        title: playbook.meta.display_title().to_owned(),
        mode: settings.mode,
        env: settings.env.clone(),
        commander: settings.commander.clone(),
        rto_objective_ms: playbook.meta.rto.map(|r| r.duration.as_millis()),
        started_at: clock.started_at,
        run_dir: std::path::absolute(&settings.run_dir)
            .unwrap_or_else(|_| settings.run_dir.clone()),
        preapproved,
    };
    let dispatch = if settings.no_notify {
        notify::Dispatch::Skip("skipped: --no-notify".to_owned())
    } else {
        notify::Dispatch::Send
    };
    let (notifier, courier) = notify::start(&playbook.notify, context, facts, emitter, &dispatch)?;
    emitter.add_sink(Box::new(notifier));
    Some(courier)
}

/// The time `recovery_point` names, or why it names none; neither when it is not set.
fn recovery_point(
    playbook: &Playbook,
    context: &Context,
) -> (Option<DateTime<Utc>>, Option<String>) {
    let Some(template) = &playbook.meta.recovery_point else {
        return (None, None);
    };
    match context.render(template) {
        Err(e) => (
            None,
            Some(format!("template error in `recovery_point`: {e}")),
        ),
        Ok(text) => match DateTime::parse_from_rfc3339(text.trim()) {
            Ok(point) => (Some(point.with_timezone(&Utc)), None),
            Err(e) => (
                None,
                Some(format!(
                    "`recovery_point` gave `{}`, not an RFC 3339 time: {e}",
                    text.trim()
                )),
            ),
        },
    }
}

/// The RTO: the `rto_clock` part of the run when both its steps ran, else the whole run; in
/// incident mode with `--incident-start`, from the incident's start.
fn rto_achieved(
    playbook: &Playbook,
    times: &[Option<(Duration, Duration)>],
    status: &[StepStatus],
    end: Duration,
    clock: &Clock,
    mode: Mode,
    incident_start: Option<DateTime<Utc>>,
) -> Option<u64> {
    let (mut from, mut to) = (Duration::ZERO, end);
    if let Some(c) = playbook.meta.rto_clock {
        let (Some((start, _)), Some((_, stop))) = (times[c.start], times[c.stop]) else {
            return None;
        };
        if status[c.stop] != StepStatus::Ok {
            return None;
        }
        (from, to) = (start, stop);
    }
    let achieved = millis(to.saturating_sub(from));
    match (mode, incident_start) {
        (Mode::Incident, Some(incident)) => {
            let before_run = (clock.started_at - incident).num_milliseconds().max(0);
            Some(u64::try_from(before_run).unwrap_or(0) + millis(to))
        }
        _ => Some(achieved),
    }
}

/// The assessment checks, the steps, and (when they all went well) the validation checks.
pub async fn steps_and_checks(
    shared: &Arc<Shared>,
    schedule: &Schedule,
    started: Instant,
) -> (StepsOutcome, RunStatus) {
    checks(shared, CheckPhase::Assessment).await;
    let outcome = scheduler::run(shared, schedule, started).await;
    let mut failed = outcome.failed;
    if !outcome.interrupted && !failed && !shared.dry_run && !shared.cancel.is_cancelled() {
        failed |= !checks(shared, CheckPhase::Validation).await;
    }
    // A record that could not be written fails the run, whenever it happened.
    failed |= shared.emitter.fault().is_some();
    let status = if outcome.interrupted || shared.cancel.is_cancelled() {
        RunStatus::Interrupted
    } else if failed {
        RunStatus::Failed
    } else {
        RunStatus::Ok
    };
    (outcome, status)
}

/// Runs `[[checks]]` concurrently; whether all passed.
async fn checks(shared: &Arc<Shared>, phase: CheckPhase) -> bool {
    let mut set = JoinSet::new();
    for i in 0..shared.playbook.checks.len() {
        let shared = Arc::clone(shared);
        set.spawn(async move {
            let check = &shared.playbook.checks[i];
            let env = ProbeEnv {
                context: &shared.context,
                http: &shared.http,
                cwd: &shared.run_dir,
                env: &shared.env,
                cancel: &shared.cancel,
                groups: &shared.groups,
            };
            check::run(check, phase, None, &env, &shared.emitter)
                .await
                .passed
        });
    }
    let mut all = true;
    while let Some(result) = set.join_next().await {
        all &= result.unwrap_or(false);
    }
    all
}

fn absolute(path: &std::path::Path) -> String {
    std::path::absolute(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}

/// Who runs runbook when `--commander` is not given: `$USER`, else (a root shell or a service
/// that sets no `$USER`) the name of the account runbook runs as.
#[must_use]
pub fn user() -> Option<String> {
    std::env::var("USER")
        .ok()
        .filter(|u| !u.trim().is_empty())
        .or_else(|| {
            nix::unistd::User::from_uid(nix::unistd::getuid())
                .ok()
                .flatten()
                .map(|u| u.name)
        })
}

/// This machine's name, as the journal and the lock record it.
#[must_use]
pub fn host() -> String {
    nix::unistd::gethostname().map_or_else(
        |_| "unknown".to_owned(),
        |h| h.to_string_lossy().into_owned(),
    )
}
