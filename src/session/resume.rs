//! Continuing a run from its journal: what each step's record settles (kept, or run again),
//! the run's vars as they were, and the go-ahead for steps the runner died under.

use std::io::{BufRead as _, IsTerminal as _, Write as _};

use chrono::{DateTime, Utc};
use indexmap::IndexMap;

use crate::error::Error;
use crate::event::{ApprovalHow, StepStatus};
use crate::plan::Preset;
use crate::playbook::model::{Playbook, VarValue};
use crate::record::folder::RunFolder;
use crate::record::replay::{RunState, Started, StepRecord};

/// What a resumed run continues from.
#[derive(Debug, Clone)]
pub(crate) struct Resume {
    /// The original run's start: the RTO clock keeps counting from it.
    pub(crate) started_at: DateTime<Utc>,
    /// The journal's last event: the gap is from it to the moment the run goes on.
    pub(crate) last_event_at: Option<DateTime<Utc>>,
    /// Steps in flight when the runner died, run again.
    pub(crate) rerun: Vec<String>,
    pub(crate) playbook_changed: bool,
    /// Who resumed it.
    pub(crate) commander: String,
    /// Reruns of in-flight steps, confirmed: step, by whom, how.
    pub(crate) confirmed: Vec<(String, String, ApprovalHow)>,
}

impl Resume {
    /// From the journal's last event to now.
    pub(crate) fn gap_ms(&self) -> u64 {
        self.last_event_at.map_or(0, |t| {
            u64::try_from((Utc::now() - t).num_milliseconds()).unwrap_or(0)
        })
    }
}

/// What a resumed run keeps: by step index, and by id for instances made during the run.
pub(crate) struct Presets {
    pub(crate) steps: Vec<Option<Preset>>,
    pub(crate) made: std::collections::BTreeMap<String, Preset>,
}

/// What the journal settles for each step: kept, or `None` to run. The outputs of a kept step
/// are the whole values it produced (put together again from the secrets, supplied anew, where
/// they held one): later steps see what they would have seen in an uninterrupted run, or the
/// resume is refused before anything runs, naming the output.
pub(crate) fn presets(playbook: &Playbook, state: &RunState) -> Result<Presets, Error> {
    let secret = |name: &str| std::env::var(name).ok();
    let mut unusable = Vec::new();
    let mut settle = |record: &StepRecord| {
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
    };
    let steps = playbook
        .steps
        .iter()
        .map(|step| {
            // A `for_each` step ends again with its instances (those kept, those run again).
            if step.is_group() {
                return None;
            }
            settle(state.steps.get(step.id.as_str())?)
        })
        .collect();
    // Instances the run made from step outputs: settled when their step expands again.
    let made = state
        .steps
        .iter()
        .filter(|(id, _)| {
            crate::playbook::model::Instance::of_name(id).is_some()
                && playbook.step_index(id).is_none()
        })
        .filter_map(|(id, record)| Some((id.to_string(), settle(record)?)))
        .collect();
    if unusable.is_empty() {
        return Ok(Presets { steps, made });
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
pub(crate) fn reruns<'a>(
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
            let record = state.steps.get(step.id.as_str())?;
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
pub(crate) fn confirm_reruns(
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
            .filter(|&(g, since)| crate::engine::group_alive_since(g, since))
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
            confirmed.push((
                step.id.to_string(),
                "idempotent".to_owned(),
                ApprovalHow::Flag,
            ));
        } else if yes {
            confirmed.push((step.id.to_string(), "--yes".to_owned(), ApprovalHow::Flag));
        } else if std::io::stdin().is_terminal() && step.confirm().is_some() {
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
            confirmed.push((
                step.id.to_string(),
                commander.to_owned(),
                ApprovalHow::Prompt,
            ));
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
pub(crate) fn vars(
    playbook: &Playbook,
    started: &Started,
) -> Result<IndexMap<String, VarValue>, Error> {
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
                other => {
                    // Arrays and tables come back whole; a value of another kind is refused
                    // rather than replaced by the default without a word.
                    let value = declared.from_json_like(other).ok_or_else(|| {
                        Error::Refused(format!(
                            "not resumed: var `{k}` was {other} when the run started, which is not {} as [vars] now declares it",
                            declared.kind()
                        ))
                    })?;
                    vars.insert(k.clone(), value);
                    continue;
                }
            };
            if let Ok(value) = declared.parse_like(&text) {
                vars.insert(k.clone(), value);
            }
        }
    }
    Ok(vars)
}
