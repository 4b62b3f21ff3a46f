//! `runbook approve RUN STEP` and `runbook decline RUN STEP`: answer a request a live run waits
//! for, from another terminal or process. The answer goes through the run folder (see
//! `engine::answer`); the command waits for the run's reply and says what the run made of it.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use indexmap::IndexMap;

use crate::cli::io::print_stdout;
use crate::cli::resume::find_run;
use crate::engine::answer::{self, Answer, Outcome, Sent, Verdict};
use crate::engine::wake::{Wake, wait_blocking};
use crate::error::Error;
use crate::playbook::diagnostic::did_you_mean_suffix;
use crate::playbook::find::Library;
use crate::record::folder::RunFolder;
use crate::record::replay::RunState;
use crate::session::{Liveness, liveness};
use crate::text::List;

/// How often the command looks at the run without being woken (is it still there?).
const LOOK_AGAIN: Duration = Duration::from_secs(1);

#[derive(Debug, clap::Args)]
pub(crate) struct ApproveArgs {
    /// Run id (looked up in the runs root) or run folder
    #[arg(value_name = "RUN")]
    run: String,
    /// The step waiting for approval, as the run names it (`parent/child` in a nested playbook)
    #[arg(value_name = "STEP")]
    step: String,
    /// The name recorded with the approval (default: your OS user)
    #[arg(long = "as", value_name = "NAME")]
    name: Option<String>,
    /// Answer one input of a manual step (repeatable)
    #[arg(long = "input", value_name = "NAME=VALUE")]
    inputs: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub(crate) struct DeclineArgs {
    /// Run id (looked up in the runs root) or run folder
    #[arg(value_name = "RUN")]
    run: String,
    /// The step waiting for approval, as the run names it
    #[arg(value_name = "STEP")]
    step: String,
    /// The name recorded with the decline (default: your OS user)
    #[arg(long = "as", value_name = "NAME")]
    name: Option<String>,
    /// Why, for the journal and the report
    #[arg(long, value_name = "TEXT")]
    reason: Option<String>,
}

pub(crate) fn approve(args: &ApproveArgs, library: &Library) -> Result<ExitCode, Error> {
    let mut inputs = IndexMap::new();
    for flag in &args.inputs {
        let Some((name, value)) = flag.split_once('=') else {
            return Err(Error::Usage(format!(
                "`--input {flag}` gives no value: write `--input NAME=VALUE`, e.g. `--input ticket=INC-42`"
            )));
        };
        let value = crate::cli::io::input_value(name, value)?;
        if inputs.insert(name.to_owned(), value).is_some() {
            return Err(Error::Usage(format!(
                "`--input {name}` is given twice: give each input once"
            )));
        }
    }
    send(
        &args.run,
        library,
        &Answer {
            step: args.step.clone(),
            verdict: Verdict::Approve,
            by: by(args.name.as_deref())?,
            reason: None,
            inputs,
        },
    )
}

pub(crate) fn decline(args: &DeclineArgs, library: &Library) -> Result<ExitCode, Error> {
    send(
        &args.run,
        library,
        &Answer {
            step: args.step.clone(),
            verdict: Verdict::Decline,
            by: by(args.name.as_deref())?,
            reason: args.reason.clone(),
            inputs: IndexMap::new(),
        },
    )
}

/// `--as`, else the OS user.
fn by(name: Option<&str>) -> Result<String, Error> {
    match name.map(str::trim) {
        Some("") => Err(Error::Usage(
            "`--as` needs a name: write e.g. `--as \"Alice Martin\"`".to_owned(),
        )),
        Some(n) => Ok(n.to_owned()),
        None => Ok(answer::own_user()),
    }
}

/// Sends the answer to a run that waits for it, and waits for the run's reply.
fn send(run: &str, library: &Library, answer: &Answer) -> Result<ExitCode, Error> {
    let folder = find_run(run, library)?;
    let state = load(&folder)?;
    check_live(run, &folder, &state)?;
    check_waiting(run, &state, &answer.step)?;
    let sent = answer::send(&folder.dir, answer).map_err(|e| {
        let dir = answer::folder(&folder.dir);
        let why = if e.kind() == std::io::ErrorKind::PermissionDenied {
            format!(
                "{e}: the run folder must be writable for you (a shared ops group, see docs/safety.md)"
            )
        } else {
            e.to_string()
        };
        Error::Refused(format!(
            "failed to write the answer in `{}`: {why}",
            dir.display()
        ))
    })?;
    let reply = wait_for_reply(run, &folder, &answer.step, &sent)?;
    match reply.outcome {
        Outcome::Recorded => {
            print_stdout(&format!("{}\n", reply.message))?;
            Ok(ExitCode::SUCCESS)
        }
        Outcome::Refused => Err(Error::Refused(reply.message)),
        Outcome::Invalid => Err(Error::Usage(reply.message)),
    }
}

fn load(folder: &RunFolder) -> Result<RunState, Error> {
    RunState::load(&folder.journal()).map_err(|e| Error::Usage(crate::error::chain(&e)))
}

/// Refuses a run that ended or whose process is gone.
fn check_live(run: &str, folder: &RunFolder, state: &RunState) -> Result<(), Error> {
    if let Some(f) = &state.finished {
        return Err(Error::Refused(format!(
            "run `{run}` is not live: it ended ({}) at {}, and nothing waits for an answer",
            f.status.as_str(),
            f.ts.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        )));
    }
    match liveness(&folder.dir) {
        Liveness::Live => Ok(()),
        Liveness::Gone | Liveness::Unknown => Err(Error::Refused(format!(
            "run `{run}` is not live: its process is gone without finishing (it crashed or was killed); continue it with `runbook resume {run}`"
        ))),
    }
}

/// Refuses a step that is not waiting for `runbook approve`.
fn check_waiting(run: &str, state: &RunState, step: &str) -> Result<(), Error> {
    let waiting: Vec<&str> = state
        .approvals
        .iter()
        .filter(|a| a.is_waiting())
        .map(|a| a.step.as_str())
        .collect();
    if waiting.contains(&step) {
        return Ok(());
    }
    if state
        .approvals
        .iter()
        .any(|a| a.step == step && a.answered.is_none())
    {
        return Err(Error::Refused(format!(
            "step `{step}` of run `{run}` is asking at the run's terminal, not waiting for `runbook approve`: answer it there (a run takes answers from elsewhere with `--wait-for-approval`)"
        )));
    }
    // A `for_each` step asks once per instance, each by its own name.
    let prefix = format!("{step}[");
    let hint = match waiting.iter().find(|w| w.starts_with(&prefix)) {
        Some(instance) => format!(
            ": step `{step}` runs once per item, and each instance asks by its own name, e.g. `{instance}`"
        ),
        None => did_you_mean_suffix(step, waiting.iter().copied()),
    };
    let now = if waiting.is_empty() {
        format!("no step of run `{run}` waits for an answer now")
    } else {
        format!("waiting now: {}", List::and_ticked(&waiting))
    };
    Err(Error::Refused(format!(
        "step `{step}` of run `{run}` is not waiting for an answer{hint} ({now})"
    )))
}

/// Waits, without polling, for the run's reply; gives up (taking the answer back) when the
/// request is settled without it or the run ends.
fn wait_for_reply(
    run: &str,
    folder: &RunFolder,
    step: &str,
    sent: &Sent,
) -> Result<answer::Reply, Error> {
    let answers = answer::folder(&folder.dir);
    let watched: [&Path; 2] = [&answers, &folder.dir];
    let (_wake, woken) = match Wake::blocking(&watched) {
        Ok((wake, rx)) => (Some(wake), Some(rx)),
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch the run folder; looking every 100 ms");
            (None, None)
        }
    };
    loop {
        if let Some(reply) = answer::read_reply(&sent.reply) {
            // Read once: the run folder keeps no reply nobody waits for (where allowed).
            let _ = std::fs::remove_file(&sent.reply);
            return Ok(reply);
        }
        // Still there: the run has not taken it. Is anybody going to?
        if sent.answer.exists() {
            let state = load(folder)?;
            let settled = check_live(run, folder, &state)
                .and_then(|()| check_waiting(run, &state, step))
                .err();
            if let Some(why) = settled {
                // Taken back, unless the run took it in the meantime (its reply follows).
                if std::fs::remove_file(&sent.answer).is_ok() {
                    return Err(why);
                }
            }
        } else if liveness(&folder.dir) != Liveness::Live
            && answer::read_reply(&sent.reply).is_none()
        {
            return Err(Error::Run(format!(
                "run `{run}` ended after it took the answer and before it replied: see its journal with `runbook report {run}`"
            )));
        }
        wait_blocking(woken.as_ref(), LOOK_AGAIN);
    }
}
