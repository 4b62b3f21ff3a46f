//! `--approve ID` is checked against the playbook before anything runs: a typo is a usage
//! error with a suggestion, never an approval that approves nothing and a run that fails at
//! the gate. (`--only` and `--from` are checked where `run` makes its selection.)

use crate::error::Error;
use crate::playbook::diagnostic::did_you_mean_suffix;
use crate::playbook::find::{self, Library};
use crate::playbook::model::{Action, Playbook};

/// A step `--approve` may name: a step of the playbook, or of a playbook it runs (a nested
/// step asks by its own id).
struct Approvable {
    id: String,
    confirm: bool,
    manual: bool,
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
    for id in approve {
        let found: Vec<&Approvable> = steps.iter().filter(|s| &s.id == id).collect();
        if found.is_empty() {
            let hint = did_you_mean_suffix(id, steps.iter().map(|s| s.id.as_str()));
            return Err(Error::Usage(format!(
                "unknown step `{id}` in `--approve {id}`{hint}"
            )));
        }
        if found.iter().any(|s| s.confirm) {
            continue;
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
            id: step.id.clone(),
            confirm: step.confirm.is_some(),
            manual: matches!(step.action, Action::Manual(_)),
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
