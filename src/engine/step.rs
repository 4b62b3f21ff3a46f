//! One step: `when`, approval, the action with retries and backoff, expectations, outputs and
//! `verify`, with every attempt an event and the output in a masked per-step log.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use indexmap::IndexMap;

use crate::engine::approval::{Ask, Decision, Gate};
use crate::engine::check;
use crate::engine::inputs;
use crate::engine::log::StepLog;
use crate::engine::probe::{self, ProbeEnv};
use crate::engine::process::CommandSpec;
use crate::engine::scope::RunScope;
use crate::engine::ssh;
use crate::event::{CheckPhase, Event, Exit, StepStatus, millis};
use crate::playbook::duration::{HumanDuration, format_human};
use crate::playbook::model::{Action, HttpBody, Notice, OutputSource, Step};
use crate::playbook::template::Template;

/// How a step ended.
#[derive(Debug, Clone)]
pub(crate) struct StepResult {
    pub(crate) status: StepStatus,
    pub(crate) reason: Option<String>,
    pub(crate) exit_code: Option<i32>,
    pub(crate) outputs: BTreeMap<String, String>,
    pub(crate) attempts: u32,
    /// From `step_started` (after any approval) to the end: the execution, not the wait.
    pub(crate) duration: Duration,
    /// Whether its command, request or probe started: only then has it anything to undo.
    pub(crate) began: bool,
    /// The last lines of output (masked), for a failure.
    pub(crate) tail: Vec<String>,
    /// What a dry run would have executed.
    pub(crate) would_run: Option<String>,
}

impl StepResult {
    /// Skipped, for this reason.
    pub(crate) fn skipped(reason: String) -> Self {
        Self::new(StepStatus::Skipped, Some(reason))
    }

    fn new(status: StepStatus, reason: Option<String>) -> Self {
        Self {
            status,
            reason,
            exit_code: None,
            outputs: BTreeMap::new(),
            attempts: 0,
            duration: Duration::ZERO,
            began: false,
            tail: Vec::new(),
            would_run: None,
        }
    }

    /// Failed before anything began, for this reason.
    pub(crate) fn failed(reason: impl Into<String>) -> Self {
        Self::new(StepStatus::Failed, Some(reason.into()))
    }
}

/// One attempt's result.
struct Attempt {
    ok: bool,
    /// Its command, request or probe started (a failure to render or to spawn did not).
    began: bool,
    exit: Option<Exit>,
    reason: Option<String>,
    outputs: BTreeMap<String, String>,
    tail: Vec<String>,
}

impl Attempt {
    fn succeeded(outputs: BTreeMap<String, String>) -> Self {
        Self {
            ok: true,
            began: true,
            exit: None,
            reason: None,
            outputs,
            tail: Vec::new(),
        }
    }

    fn fail(exit: Option<Exit>, reason: String, tail: Vec<String>) -> Self {
        Self {
            ok: false,
            began: true,
            exit,
            reason: Some(reason),
            outputs: BTreeMap::new(),
            tail,
        }
    }

    /// Failed before anything reached the world.
    fn not_begun(exit: Option<Exit>, reason: String, tail: Vec<String>) -> Self {
        Self {
            began: false,
            ..Self::fail(exit, reason, tail)
        }
    }
}

/// Runs `step` (a step of the scope's plan, or an instance made during the run) to its end and
/// emits `step_finished`. In a dry run, `after_printed` says the step waits for (`needs` or
/// `after`) a step that was only printed: even a `read_only` step is then printed, since what
/// it would read does not exist.
pub(crate) async fn run(shared: &Arc<RunScope>, step: &Step, after_printed: bool) -> StepResult {
    // An instance sees its item.
    let shared = &shared.for_step(step);
    if let Some(host) = ssh::step_host(step, &shared.context) {
        shared.bus.assign_host(&step.id, &host);
    }
    let result = execute(shared, step, after_printed).await;
    emit_finished(shared, step, &result);
    result
}

/// The `step_finished` of `step`, and the tail of its output when it failed.
pub(crate) fn emit_finished(shared: &RunScope, step: &Step, result: &StepResult) {
    shared.bus.emit(Event::StepFinished {
        step: step.id.to_string(),
        status: result.status,
        reason: result.reason.clone(),
        outputs: result.outputs.clone(),
        exit_code: result.exit_code,
        attempts: result.attempts,
        duration_ms: millis(result.duration),
        would_run: result.would_run.clone(),
    });
    if result.status == StepStatus::Failed && !result.tail.is_empty() {
        shared.bus.tail(&step.id, &result.tail);
    }
}

fn render(shared: &RunScope, t: &Template, what: &str) -> Result<String, String> {
    shared
        .context
        .render(t)
        .map_err(|e| format!("template error in `{what}`: {e}"))
}

async fn execute(shared: &RunScope, step: &Step, after_printed: bool) -> StepResult {
    if let Some(when) = &step.when {
        match shared.context.condition(when) {
            Ok(true) => {}
            Ok(false) => {
                return StepResult::new(StepStatus::Skipped, Some("`when` is false".to_owned()));
            }
            Err(e) => return StepResult::failed(format!("template error in `when`: {e}")),
        }
    }
    let summary = match describe(shared, step) {
        Ok(s) => s,
        Err(e) => return StepResult::failed(e),
    };
    // A nested playbook is entered in a dry run too: its own steps follow the dry-run rules.
    if shared.dry_run
        && (after_printed || !step.read_only)
        && !matches!(step.action, Action::Playbook(_))
    {
        let why = if step.read_only {
            "dry run: not executed (it reads what a step the dry run did not execute would make)"
        } else {
            "dry run: not executed"
        };
        // What would be sent is shown whole: the request's body, the message's fields, rendered.
        let would_run = match request_body(shared, step) {
            Ok(Some(body)) => format!("{summary}\n{body}"),
            Ok(None) => summary,
            Err(e) => return StepResult::failed(e),
        };
        // The channels show the message instead of sending it (`notification_previewed`).
        let would_run = match &step.action {
            Action::Notify(n) => match notice(shared, n) {
                Ok((text, fields)) => {
                    let shown = fields
                        .iter()
                        .fold(would_run, |s, (k, v)| format!("{s}\n{k}: {v}"));
                    shared.bus.emit(Event::NotifyRequested {
                        step: step.id.to_string(),
                        text,
                        fields,
                    });
                    shown
                }
                Err(e) => return StepResult::failed(e),
            },
            _ => would_run,
        };
        let mut r = StepResult::new(StepStatus::Skipped, Some(why.to_owned()));
        r.would_run = Some(would_run);
        return r;
    }
    if let Some(confirm) = step.confirm() {
        let question = match render(shared, confirm, "confirm") {
            Ok(q) => q,
            Err(e) => return StepResult::failed(e),
        };
        match approve(shared, step, Ask::Confirm, &question).await {
            Ok(_) => {}
            Err(Refusal::No(reason) | Refusal::Unasked(reason)) => {
                return StepResult::failed(reason);
            }
            Err(Refusal::Interrupted) => {
                return StepResult::new(
                    StepStatus::Cancelled,
                    Some("the run was interrupted while the step waited for approval".to_owned()),
                );
            }
        }
    }
    shared.bus.emit(Event::StepStarted {
        step: step.id.to_string(),
        title: step.display_title().to_owned(),
        action: step.action.key().to_owned(),
        command: summary,
        always: step.always,
    });
    // The step's own time starts here: an approval's wait is journaled with the approval.
    let began = Instant::now();
    let mut result = within_budget(shared, step).await;
    result.duration = began.elapsed();
    result
}

/// The attempts, with a `budget_exceeded` event once they run over the step's budget.
async fn within_budget(shared: &RunScope, step: &Step) -> StepResult {
    let work = attempts(shared, step);
    let Some(budget) = step.budget else {
        return work.await;
    };
    // A step over its budget is not stopped, only reported, once.
    tokio::pin!(work);
    let over = tokio::time::sleep(budget.get());
    tokio::pin!(over);
    let started = Instant::now();
    let mut warned = false;
    loop {
        tokio::select! {
            r = &mut work => return r,
            () = &mut over, if !warned => {
                warned = true;
                shared.bus.emit(Event::BudgetExceeded {
                    step: step.id.to_string(),
                    budget_ms: budget.as_millis(),
                    elapsed_ms: millis(started.elapsed()),
                });
            }
        }
    }
}

/// The action in words, rendered: what `step_started` and a dry run show.
fn describe(shared: &RunScope, step: &Step) -> Result<String, String> {
    Ok(match &step.action {
        Action::Run(t) => render(shared, t, "run")?,
        Action::Http(h) => format!("{} {}", h.method, render(shared, &h.url, "http.url")?),
        Action::Check(c) => format!(
            "{} check {}",
            c.probe.kind(),
            crate::engine::probe::target(&c.probe, &shared.context)
        ),
        Action::Manual(t) => render(shared, t, "manual")?,
        Action::Sleep(d) => format!("sleep {d}"),
        Action::Notify(n) => render(shared, &n.text, "notify")?,
        Action::Playbook(p) => format!("playbook {p}"),
    })
}

/// A `notify` step's text and fields, rendered.
fn notice(shared: &RunScope, n: &Notice) -> Result<(String, IndexMap<String, String>), String> {
    let text = render(shared, &n.text, "notify")?;
    let fields = n
        .fields
        .iter()
        .map(|(label, t)| {
            Ok((
                label.clone(),
                render(shared, t, &format!("fields.{label}"))?,
            ))
        })
        .collect::<Result<_, String>>()?;
    Ok((text, fields))
}

/// An `http` step's body, rendered: a `json` body as one line of JSON.
fn request_body(shared: &RunScope, step: &Step) -> Result<Option<String>, String> {
    let Action::Http(h) = &step.action else {
        return Ok(None);
    };
    Ok(match &h.body {
        Some(HttpBody::Text(t)) => Some(render(shared, t, "http.body")?),
        Some(HttpBody::Json(j)) => Some(
            j.render(&mut |t| render(shared, t, "http.json"))?
                .to_string(),
        ),
        None => None,
    })
}

/// Why an approval did not let the step go on.
enum Refusal {
    /// Declined (or a manual step not confirmed in time): the step fails.
    No(String),
    /// Nobody could be asked: the step fails, and nobody saw what it asks.
    Unasked(String),
    /// The run was interrupted first: nobody answered, and the step is cancelled.
    Interrupted,
}

/// Asks for the approval (and a manual step's inputs); the answers when it is given.
#[expect(
    clippy::too_many_lines,
    reason = "one arm per decision, each journaled"
)]
async fn approve(
    shared: &RunScope,
    step: &Step,
    kind: Ask,
    text: &str,
) -> Result<BTreeMap<String, String>, Refusal> {
    shared.bus.emit(Event::ApprovalRequested {
        step: step.id.to_string(),
        question: text.to_owned(),
    });
    let asked = Instant::now();
    let wanted = match kind {
        Ask::Manual => step.inputs(),
        Ask::Confirm => &IndexMap::new(),
    };
    let name = shared.bus.step_name(&step.id);
    let gate = Gate {
        kind,
        id: &step.id,
        name: &name,
        text,
        wanted,
        rule: step.confirm_rule(),
        timeout: match kind {
            Ask::Confirm => step.confirm_timeout(),
            Ask::Manual => None,
        },
        bus: &shared.bus,
    };
    let decision = shared.approvals.ask(&gate, &shared.cancel).await;
    let waited_ms = millis(asked.elapsed());
    match decision {
        Decision::Given {
            by,
            how,
            mut answers,
            os_user,
            approvers,
        } => {
            inputs::sort(&mut answers, wanted);
            // A secret answer is masked from its first event on, and in every log after it.
            let secrets: Vec<String> = answers
                .iter()
                .filter(|a| wanted.get(&a.input).is_some_and(|i| i.secret))
                .map(|a| a.value.clone())
                .collect();
            if let Err(e) = shared.bus.learn_secrets(&secrets) {
                let reason = format!(
                    "failed to mask the secret answers of step `{}`: {e}",
                    step.id
                );
                shared.bus.emit(Event::ApprovalDeclined {
                    step: step.id.to_string(),
                    by: "nobody".to_owned(),
                    reason: reason.clone(),
                    waited_ms,
                    os_user: None,
                    timed_out: false,
                });
                return Err(Refusal::Unasked(reason));
            }
            for a in &answers {
                shared.bus.emit(Event::InputGiven {
                    step: step.id.to_string(),
                    input: a.input.clone(),
                    value: a.value.clone(),
                    by: a.by.clone(),
                    how: a.how,
                });
            }
            shared.bus.emit(Event::ApprovalGiven {
                step: step.id.to_string(),
                by,
                how,
                waited_ms,
                os_user,
                approvers,
            });
            Ok(answers.into_iter().map(|a| (a.input, a.value)).collect())
        }
        Decision::Declined {
            by,
            reason,
            os_user,
        } => {
            shared.bus.emit(Event::ApprovalDeclined {
                step: step.id.to_string(),
                by: by.clone(),
                reason: reason.clone(),
                waited_ms,
                os_user,
                timed_out: false,
            });
            Err(Refusal::No(format!("approval declined by {by} ({reason})")))
        }
        Decision::TimedOut(limit_ms) => {
            let reason = format!(
                "nobody answered within {} (`confirm_timeout`)",
                format_human(limit_ms)
            );
            shared.bus.emit(Event::ApprovalDeclined {
                step: step.id.to_string(),
                by: "nobody".to_owned(),
                reason: reason.clone(),
                waited_ms,
                os_user: None,
                timed_out: true,
            });
            Err(Refusal::No(format!("approval declined: {reason}")))
        }
        Decision::Impossible(reason) => {
            // Nobody was there to answer: no wait for an answer either.
            shared.bus.emit(Event::ApprovalDeclined {
                step: step.id.to_string(),
                by: "nobody".to_owned(),
                reason: reason.clone(),
                waited_ms: 0,
                os_user: None,
                timed_out: false,
            });
            Err(Refusal::Unasked(reason))
        }
        // Not a decline: nobody answered. The step ends `cancelled` with the run.
        Decision::Interrupted => Err(Refusal::Interrupted),
    }
}

/// The attempts of a step: the first, then `retries` more after failures, each after
/// `retry_delay × backoff^(n-1)`.
async fn attempts(shared: &RunScope, step: &Step) -> StepResult {
    let prepared = match prepare(shared, step) {
        Ok(p) => p,
        Err(e) => return StepResult::failed(e),
    };
    let total = 1 + step.retries;
    let mut delay = step.retry_delay.get();
    let mut last = None;
    let mut made = 0;
    let mut began = false;
    for n in 1..=total {
        made = n;
        let started = Instant::now();
        let mut attempt = once(shared, step, &prepared, n).await;
        began |= attempt.began;
        if attempt.ok && !step.verify().is_empty() {
            // `verify` may name the step's own outputs.
            shared.context.record_step(
                &step.id,
                StepStatus::Ok,
                attempt.exit.and_then(Exit::code),
                &attempt.outputs,
            );
            if let Err(reason) = verify(shared, step, &prepared).await {
                attempt.ok = false;
                attempt.reason = Some(reason);
            }
        }
        shared.bus.emit(Event::StepAttemptFinished {
            step: step.id.to_string(),
            attempt: n,
            exit: attempt.exit,
            exit_code: attempt.exit.and_then(Exit::code),
            duration_ms: millis(started.elapsed()),
            reason: attempt.reason.clone(),
        });
        let cancelled =
            matches!(attempt.exit, Some(Exit::Cancelled)) || shared.cancel.is_cancelled();
        // No new attempt (an HTTP request, a probe) once the record cannot be written.
        let done = attempt.ok || cancelled || n == total || shared.bus.fault().is_some();
        last = Some(attempt);
        if done {
            break;
        }
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = shared.cancel.cancelled() => break,
        }
        delay = delay.mul_f64(step.backoff);
    }
    let attempt = last.expect("a step makes at least one attempt");
    let status = if attempt.ok {
        StepStatus::Ok
    } else if matches!(attempt.exit, Some(Exit::Cancelled)) || shared.cancel.is_cancelled() {
        StepStatus::Cancelled
    } else {
        StepStatus::Failed
    };
    let mut result = StepResult::new(status, attempt.reason);
    result.exit_code = attempt.exit.and_then(Exit::code);
    result.outputs = attempt.outputs;
    result.tail = attempt.tail;
    result.attempts = made;
    result.began = began;
    result
}

/// Everything rendered once per step: command, environment, working directory, log.
struct Prepared {
    env: Vec<(String, String)>,
    cwd: PathBuf,
    log: PathBuf,
}

fn prepare(shared: &RunScope, step: &Step) -> Result<Prepared, String> {
    let mut env = shared.env.clone();
    env.push(("RUNBOOK_STEP".to_owned(), step.id.to_string()));
    for (k, t) in step.env() {
        env.push((k.clone(), render(shared, t, &format!("env.{k}"))?));
    }
    let cwd = match step.cwd() {
        Some(t) => shared.run_dir.join(render(shared, t, "cwd")?),
        None => shared.run_dir.clone(),
    };
    Ok(Prepared {
        env,
        cwd,
        log: shared.log_path(&step.id),
    })
}

async fn once(shared: &RunScope, step: &Step, prepared: &Prepared, n: u32) -> Attempt {
    match &step.action {
        Action::Run(t) => match render(shared, t, "run") {
            Ok(script) => command(shared, step, prepared, n, script).await,
            Err(e) => Attempt::not_begun(None, e, Vec::new()),
        },
        Action::Http(h) => {
            let penv = probe_env(shared, prepared);
            let limit = step
                .timeout
                .map_or(Duration::from_secs(30), HumanDuration::get);
            shared.bus.barrier();
            match probe::http(h, &penv, limit).await {
                Ok((result, body)) if result.passed => match outputs(step, &body) {
                    (outputs, _) if learn_secret_outputs(shared, step, &outputs).is_err() => {
                        Attempt::fail(
                            None,
                            format!("a secret output of step `{}` cannot be masked", step.id),
                            Vec::new(),
                        )
                    }
                    (outputs, None) => Attempt::succeeded(outputs),
                    (outputs, Some(e)) => Attempt {
                        outputs,
                        ..Attempt::fail(None, e, Vec::new())
                    },
                },
                Ok((result, _)) | Err(result) => Attempt::fail(None, result.detail, Vec::new()),
            }
        }
        Action::Check(c) => {
            let penv = probe_env(shared, prepared);
            let outcome = check::run(c, CheckPhase::Step, Some(&step.id), &penv, &shared.bus).await;
            if outcome.passed {
                Attempt::succeeded(BTreeMap::new())
            } else {
                let why = format!(
                    "check did not pass after {} ({})",
                    crate::text::count(outcome.attempts as usize, "attempt"),
                    outcome.detail
                );
                Attempt::fail(None, why, Vec::new())
            }
        }
        Action::Manual(t) => {
            let text = match render(shared, t, "manual") {
                Ok(text) => text,
                Err(e) => return Attempt::not_begun(None, e, Vec::new()),
            };
            let asked = approve(shared, step, Ask::Manual, &text);
            let answer = match step.timeout {
                Some(limit) => tokio::time::timeout(limit.get(), asked)
                    .await
                    .unwrap_or_else(|_| {
                        Err(Refusal::No(format!(
                            "nobody confirmed within {}",
                            format_human(limit.as_millis())
                        )))
                    }),
                None => asked.await,
            };
            // A manual step's action is the person doing it: it began once they were asked.
            match answer {
                // The answers are the step's outputs.
                Ok(answers) => Attempt::succeeded(answers),
                Err(Refusal::No(e)) => Attempt::fail(None, e, Vec::new()),
                Err(Refusal::Unasked(e)) => Attempt::not_begun(None, e, Vec::new()),
                Err(Refusal::Interrupted) => Attempt::not_begun(
                    Some(Exit::Cancelled),
                    "the run was interrupted while the step waited for a person".to_owned(),
                    Vec::new(),
                ),
            }
        }
        Action::Sleep(d) => tokio::select! {
            () = tokio::time::sleep(d.get()) => Attempt::succeeded(BTreeMap::new()),
            () = shared.cancel.cancelled() => Attempt::fail(Some(Exit::Cancelled), "cancelled".to_owned(), Vec::new()),
        },
        Action::Notify(n) => match notice(shared, n) {
            Ok((text, fields)) => {
                shared.bus.emit(Event::NotifyRequested {
                    step: step.id.to_string(),
                    text,
                    fields,
                });
                Attempt::succeeded(BTreeMap::new())
            }
            Err(e) => Attempt::not_begun(None, e, Vec::new()),
        },
        Action::Playbook(p) => match crate::engine::nested::run(shared, step, p).await {
            Ok(outputs) => Attempt::succeeded(outputs),
            Err(e) => Attempt::fail(None, e, Vec::new()),
        },
    }
}

fn probe_env<'a>(shared: &'a RunScope, prepared: &'a Prepared) -> ProbeEnv<'a> {
    ProbeEnv {
        context: &shared.context,
        http: &shared.http,
        cwd: &prepared.cwd,
        env: &prepared.env,
        cancel: &shared.cancel,
        groups: &shared.groups,
        history: &shared.history,
        inventory: shared.inventory(),
    }
}

async fn command(
    shared: &RunScope,
    step: &Step,
    prepared: &Prepared,
    n: u32,
    script: String,
) -> Attempt {
    let mut spec = CommandSpec::new(script, &prepared.cwd);
    spec.env.clone_from(&prepared.env);
    spec.timeout = step.timeout.map(HumanDuration::get);
    let open = if step.secret_outputs().is_empty() {
        StepLog::open
    } else {
        StepLog::open_held
    };
    let mut log = match open(
        &prepared.log,
        &step.id,
        shared.bus.clone(),
        &format!("attempt {n}"),
    ) {
        Ok(log) => log,
        Err(e) => {
            return Attempt::not_begun(
                None,
                format!("failed to write `{}`: {e}", prepared.log.display()),
                Vec::new(),
            );
        }
    };
    let place = match ssh::Place::for_step(step, shared.inventory(), &shared.context) {
        Ok(place) => place,
        Err(e) => return Attempt::not_begun(None, e, Vec::new()),
    };
    shared.bus.barrier();
    if let Some(fault) = shared.bus.fault() {
        // Nothing starts that the record could not tell of.
        return Attempt::fail(None, fault.to_string(), Vec::new());
    }
    let finished = ssh::run(&place, &spec, &mut log, &shared.cancel, &shared.groups).await;
    let mut captured = log.finish();
    if let Some(held) = captured.held.take() {
        // The secret outputs are read first, whatever became of the command, so that the log
        // is written with them masked; a log that cannot be masked is not written at all.
        let (values, _) = outputs(step, &captured.stdout);
        if let Err(e) = learn_secret_outputs(shared, step, &values) {
            return Attempt::fail(None, e, Vec::new());
        }
        let released = held.release();
        captured.tail = released.tail;
        captured.write_error = released.write_error;
    }
    let finished = match finished {
        Ok(f) => f,
        Err(e) if !e.began() => {
            return Attempt::not_begun(None, e.to_string(), captured.tail);
        }
        Err(e) => return Attempt::fail(None, e.to_string(), captured.tail),
    };
    if matches!(finished.exit, Exit::TimedOut | Exit::Cancelled) {
        shared.bus.emit(Event::ProcessGroupChecked {
            step: step.id.to_string(),
            pgid: i32::try_from(finished.pgid).unwrap_or(-1),
            empty: finished.group_empty,
            killed: finished.killed,
            detached: finished.detached,
        });
    }
    let exit = finished.exit;
    let reason = match exit {
        Exit::TimedOut => Some(format!(
            "timed out after {}",
            format_human(step.timeout.map_or(0, HumanDuration::as_millis))
        )),
        Exit::Cancelled => Some("cancelled".to_owned()),
        Exit::Signal(_) => Some(exit.to_string()),
        Exit::Success | Exit::Code(_) => {
            let code = exit.code().unwrap_or(-1);
            (code != step.expect().exit_code).then(|| {
                if step.expect().exit_code == 0 {
                    format!("exit code {code}")
                } else {
                    format!("exit code {code}, expected {}", step.expect().exit_code)
                }
            })
        }
    };
    // A log that could not be written fails the step, whatever its command did.
    let verdict = match captured.write_error.clone().or(reason) {
        Some(reason) => Err(reason),
        None => expectations(shared, step, &captured),
    };
    // Outputs are read even from a failed attempt, as far as they can be: the step's own
    // rollback may need them (the path of a half-written dump).
    let (outputs, missing) = outputs(step, &captured.stdout);
    let reason = match (verdict, missing) {
        (Err(reason), _) | (Ok(()), Some(reason)) => Some(reason),
        (Ok(()), None) => None,
    };
    Attempt {
        ok: reason.is_none(),
        began: true,
        exit: Some(exit),
        reason,
        outputs,
        tail: captured.tail,
    }
}

/// Tells the bus the values of the step's `secret = true` outputs: from now on they are masked
/// in every event, log and file.
fn learn_secret_outputs(
    shared: &RunScope,
    step: &Step,
    values: &BTreeMap<String, String>,
) -> Result<(), String> {
    let secrets: Vec<String> = step
        .secret_outputs()
        .iter()
        .filter_map(|name| values.get(name).cloned())
        .collect();
    shared.bus.learn_secrets(&secrets).map_err(|e| {
        format!(
            "a secret output of step `{}` cannot be masked: {e}",
            step.id
        )
    })
}

/// `expect`: stdout contains, stdout matches, stderr matches (on the trimmed text).
fn expectations(
    shared: &RunScope,
    step: &Step,
    captured: &crate::engine::log::Captured,
) -> Result<(), String> {
    let stdout = captured.stdout.trim();
    let stderr = captured.stderr.trim();
    if let Some(t) = &step.expect().stdout_contains {
        let needle = render(shared, t, "expect.stdout_contains")?;
        if !stdout.contains(&needle) {
            return Err(format!("stdout does not contain {needle:?}"));
        }
    }
    if let Some(re) = &step.expect().stdout_matches
        && !re.is_match(stdout)
    {
        return Err(format!("stdout does not match /{re}/"));
    }
    if let Some(re) = &step.expect().stderr_matches
        && !re.is_match(stderr)
    {
        return Err(format!("stderr does not match /{re}/"));
    }
    Ok(())
}

/// The step's declared outputs, from its stdout (or an `http` step's response body): every one
/// that can be read, and why the first one that cannot, could not.
fn outputs(step: &Step, stdout: &str) -> (BTreeMap<String, String>, Option<String>) {
    let mut out = BTreeMap::new();
    let mut missing = None;
    for (name, source) in &step.outputs {
        let value = match source {
            OutputSource::Stdout => Ok(stdout.trim().to_owned()),
            // Like `expect`, a regex sees the trimmed output.
            OutputSource::StdoutRegex(re) => re
                .captures(stdout.trim())
                .and_then(|c| c.get(1))
                .map(|m| m.as_str().to_owned())
                .ok_or_else(|| format!("output `{name}`: /{re}/ does not match the output")),
            OutputSource::JsonPointer(pointer) => {
                serde_json::from_str::<serde_json::Value>(stdout.trim())
                    .map_err(|e| format!("output `{name}`: the output is not JSON ({e})"))
                    .and_then(|doc| match doc.pointer(pointer) {
                        Some(serde_json::Value::String(s)) => Ok(s.clone()),
                        Some(other) => Ok(other.to_string()),
                        None => Err(format!("output `{name}`: no value at {pointer}")),
                    })
            }
        };
        match value {
            Ok(v) => {
                out.insert(name.to_owned(), v);
            }
            Err(e) => {
                missing.get_or_insert(e);
            }
        }
    }
    (out, missing)
}

async fn verify(shared: &RunScope, step: &Step, prepared: &Prepared) -> Result<(), String> {
    let penv = probe_env(shared, prepared);
    for c in step.verify() {
        let outcome = check::run(c, CheckPhase::Verify, Some(&step.id), &penv, &shared.bus).await;
        if !outcome.passed {
            return Err(format!("verify `{}` failed: {}", c.id, outcome.detail));
        }
    }
    Ok(())
}
