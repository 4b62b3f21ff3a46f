//! A `playbook = "name@req"` step: the nested playbook is found (its parent's folder first, then
//! the search path), validated, and run with its own vars and template context, its steps
//! reported as `step/nested-step`, its secrets masked too. A playbook nesting itself, directly
//! or not, is refused.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use crate::engine::phases::steps_and_checks;
use crate::engine::scope::RunScope;
use crate::event::RunStatus;
use crate::playbook::find;
use crate::playbook::model::{Playbook, PlaybookRef, Step};
use crate::text::count;

/// The nested playbook's `[outputs]`, rendered, or why it failed.
type Outputs = Result<BTreeMap<String, String>, String>;

/// Runs the nested playbook of `step` to its end: its `[outputs]`, rendered, or why it failed.
///
/// The future is boxed with an explicit `Send`: steps run nested playbooks, which run steps,
/// and the compiler cannot see through that cycle of opaque types.
pub(crate) fn run<'a>(
    shared: &'a RunScope,
    step: &'a Step,
    reference: &'a PlaybookRef,
) -> Pin<Box<dyn Future<Output = Outputs> + Send + 'a>> {
    Box::pin(run_nested(shared, step, reference))
}

/// Finds, validates and admits the nested playbook: not a cycle, allowed in this environment.
fn resolve(shared: &RunScope, reference: &PlaybookRef) -> Result<Arc<Playbook>, String> {
    let target = format!("{}@{}", reference.name, reference.req);
    let path = find::resolve_nested(shared.playbook().path(), &target, &shared.library)
        .map_err(|e| format!("nested playbook `{reference}`: {e}"))?;
    let validated = find::load(&path)
        .map_err(|e| format!("nested playbook `{reference}`: {e}"))?
        .map_err(|d| {
            format!(
                "nested playbook `{}` is invalid ({}); run `runbook validate {}`",
                path.display(),
                count(d.errors(), "error"),
                path.display()
            )
        })?;
    let nested = validated.playbook;
    if shared.stack.contains(&nested.meta.name) {
        return Err(format!(
            "nested playbooks form a cycle: {} → {}",
            shared.stack.join(" → "),
            nested.meta.name
        ));
    }
    if let (Some(allowed), Some(env)) = (&nested.meta.environments, &shared.info.env)
        && !allowed.contains(env)
    {
        return Err(format!(
            "nested playbook `{}` may not run in environment `{env}`",
            nested.label()
        ));
    }
    Ok(nested)
}

async fn run_nested(shared: &RunScope, step: &Step, reference: &PlaybookRef) -> Outputs {
    let nested = resolve(shared, reference)?;
    let child = Arc::new(shared.nested(step, &nested)?);
    // Its own locks, for as long as it runs (its default lock, its name, is not taken).
    let names = nested
        .meta
        .locks
        .iter()
        .map(|t| {
            child
                .context
                .render(t)
                .map_err(|e| format!("`locks` of nested playbook `{}`: {e}", nested.label()))
        })
        .collect::<Result<Vec<String>, String>>()?;
    let _locks = if names.is_empty() {
        None
    } else {
        let locker = Arc::clone(&shared.locker);
        let playbook = Arc::clone(&nested);
        // Taking a lock may wait (`lock = "wait"`): not on a runtime worker.
        let taken = tokio::task::spawn_blocking(move || locker.take(&playbook, &names))
            .await
            .map_err(|e| format!("nested playbook `{}`: {e}", nested.label()))??;
        Some(taken)
    };
    let (outcome, status) = steps_and_checks(&child, None, Instant::now()).await;
    match status {
        RunStatus::Ok => nested
            .outputs
            .iter()
            .map(|(name, template)| {
                child
                    .context
                    .render(template)
                    .map(|v| (name.clone(), v))
                    .map_err(|e| {
                        format!(
                            "output `{name}` of nested playbook `{}`: {e}",
                            nested.label()
                        )
                    })
            })
            .collect(),
        RunStatus::Interrupted => Err("interrupted".to_owned()),
        RunStatus::Failed => {
            let failed: Vec<&str> = nested
                .steps
                .iter()
                .zip(&outcome.status)
                .filter(|(_, s)| **s == crate::event::StepStatus::Failed)
                .map(|(s, _)| s.id.as_str())
                .collect();
            Err(if failed.is_empty() {
                format!("nested playbook `{}` failed its checks", nested.label())
            } else {
                format!(
                    "nested playbook `{}` failed at {}",
                    nested.label(),
                    failed.join(", ")
                )
            })
        }
    }
}
