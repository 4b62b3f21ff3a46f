//! `--approve ID` and `--input ID.NAME=VALUE` are checked against the playbook before anything
//! runs: a typo is a usage error with a suggestion, never an approval that approves nothing and
//! a run that fails at the gate, and an answer its input would refuse is refused at once. (`--only`
//! and `--from` are checked where `run` makes its selection.)

use std::sync::Arc;

use indexmap::IndexMap;

use crate::error::Error;
use crate::playbook::diagnostic::{SourceFile, did_you_mean_suffix};
use crate::playbook::find::{self, Library};
use crate::playbook::input::Input;
use crate::playbook::model::{Action, Playbook};
use crate::session::GivenInputs;

/// A step `--approve` or `--input` may name: a step of the playbook, or of a playbook it runs
/// (a nested step asks by its own id).
struct Approvable {
    id: String,
    confirm: bool,
    /// Its `confirm` needs other people (`approvers`, `not_commander`): no flag gives it.
    needs_others: bool,
    manual: bool,
    inputs: IndexMap<String, Input>,
    /// The file that declares it.
    source: Arc<SourceFile>,
}

/// Refuses an `--approve ID` that names no step, or a step with nothing to approve.
pub(crate) fn check_approve(
    playbook: &Playbook,
    library: &Library,
    approve: &[String],
) -> Result<(), Error> {
    if approve.is_empty() {
        return Ok(());
    }
    let mut steps = Vec::new();
    collect(
        playbook,
        library,
        &mut vec![playbook.meta.name.clone()],
        &mut steps,
    );
    for given in approve {
        // An instance `restore[KEY]` is approved as `restore` is.
        let id = &crate::playbook::model::Instance::without_keys(given).into_owned();
        let found: Vec<&Approvable> = steps.iter().filter(|s| &s.id == id).collect();
        if found.is_empty() {
            let hint = did_you_mean_suffix(id, steps.iter().map(|s| s.id.as_str()));
            return Err(Error::Usage(format!(
                "unknown step `{id}` in `--approve {id}`{hint}"
            )));
        }
        if found.iter().any(|s| s.confirm && !s.needs_others) {
            continue;
        }
        if found.iter().any(|s| s.needs_others) {
            return Err(Error::Usage(format!(
                "`--approve {id}` cannot approve step `{id}`: its `confirm` needs other people (`approvers`, `not_commander`), who each approve with `runbook approve RUN {id}` while the run waits (run it with `--wait-for-approval`)"
            )));
        }
        let why = if found.iter().any(|s| s.manual) {
            "it is a manual step, which --approve cannot confirm: confirm it at the terminal, or pass --yes"
        } else {
            "it has no `confirm`"
        };
        let with_confirm: Vec<&str> = steps
            .iter()
            .filter(|s| s.confirm)
            .map(|s| s.id.as_str())
            .collect();
        let hint = did_you_mean_suffix(id, with_confirm.iter().copied());
        return Err(Error::Usage(format!(
            "`--approve {id}` approves nothing: {why}{hint}"
        )));
    }
    Ok(())
}

/// Reads every `--input ID.NAME=VALUE`: a known input of a known step, given once, with an
/// answer that input accepts. The answers by step, as they will be recorded.
pub(crate) fn check_inputs(
    playbook: &Playbook,
    library: &Library,
    given: &[String],
) -> Result<GivenInputs, Error> {
    let mut out = GivenInputs::new();
    if given.is_empty() {
        return Ok(out);
    }
    let mut steps = Vec::new();
    collect(
        playbook,
        library,
        &mut vec![playbook.meta.name.clone()],
        &mut steps,
    );
    let with_inputs: Vec<&Approvable> = steps.iter().filter(|s| !s.inputs.is_empty()).collect();
    for flag in given {
        let usage = |why: String| Error::Usage(why);
        let Some((path, value)) = flag.split_once('=') else {
            return Err(usage(format!(
                "`--input {flag}` gives no value: write `--input STEP.NAME=VALUE`, e.g. `--input target-time.ticket=INC-42`"
            )));
        };
        let Some((id, name)) = path.split_once('.') else {
            return Err(usage(format!(
                "`--input {flag}` names no step: write `--input STEP.NAME=VALUE`, e.g. `--input target-time.{path}={value}`"
            )));
        };
        let Some(step) = with_inputs.iter().find(|s| s.id == id) else {
            let hint = did_you_mean_suffix(id, with_inputs.iter().map(|s| s.id.as_str()));
            let why = if steps.iter().any(|s| s.id == id) {
                format!("`--input {path}=…` answers nothing: step `{id}` has no `inputs`{hint}")
            } else {
                format!("unknown step `{id}` in `--input {path}=…`{hint}")
            };
            return Err(usage(why));
        };
        let Some(input) = step.inputs.get(name) else {
            let hint = did_you_mean_suffix(name, step.inputs.keys().map(String::as_str));
            let declared = crate::text::List::and_ticked(step.inputs.keys());
            return Err(usage(format!(
                "unknown input `{name}` of step `{id}` in `--input {path}=…`{hint} (step `{id}` has {declared})"
            )));
        };
        let inline = !value.starts_with('@');
        let value = &crate::cli::io::input_value(path, value)?;
        if input.secret && inline {
            eprintln!(
                "warning: `--input {path}=…` puts a secret answer in the process list; give it as `--input {path}=@FILE` or `--input {path}=@-` (stdin)"
            );
        }
        let shown = if input.secret { "***" } else { value };
        let accepted = input.accept(value).map_err(|why| {
            usage(format!(
                "invalid `--input {path}={shown}`: {why} (input `{name}` of step `{id}`, declared at {})",
                step.source.position(input.at)
            ))
        })?;
        let answers = out.entry(id.to_owned()).or_default();
        if answers.insert(name.to_owned(), accepted).is_some() {
            return Err(usage(format!(
                "`--input {path}` is given twice: give each input once"
            )));
        }
    }
    Ok(out)
}

/// The steps of `playbook` and, depth first, of the playbooks its steps run. A nested playbook
/// that cannot be found or is invalid adds nothing: the run reports it at that step.
fn collect(
    playbook: &Playbook,
    library: &Library,
    stack: &mut Vec<String>,
    out: &mut Vec<Approvable>,
) {
    for step in &playbook.steps {
        out.push(Approvable {
            id: step.id.to_string(),
            confirm: step.confirm().is_some(),
            needs_others: step.confirm().is_some() && step.confirm_rule().needs_others(),
            manual: matches!(step.action, Action::Manual(_)),
            inputs: step.inputs().clone(),
            source: Arc::clone(&playbook.source),
        });
        let Action::Playbook(reference) = &step.action else {
            continue;
        };
        let target = format!("{}@{}", reference.name, reference.req);
        let Ok(path) = find::resolve_nested(playbook.path(), &target, library) else {
            continue;
        };
        let Ok(Ok(nested)) = find::load(&path) else {
            continue;
        };
        let nested = nested.playbook;
        if stack.contains(&nested.meta.name) {
            continue;
        }
        stack.push(nested.meta.name.clone());
        collect(&nested, library, stack, out);
        stack.pop();
    }
}
