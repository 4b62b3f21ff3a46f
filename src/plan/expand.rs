//! `for_each` → instances. A step whose items are known before the run (written out, or a
//! template of vars) becomes one step per item, `ID[KEY]`, followed by the step itself as a
//! *group* that ends once they all have; a step whose items come from step outputs stays one
//! group, expanded by the engine when it is ready ([`instances`]).
//!
//! Dependencies follow: a step that needs a `for_each` step waits for its group (every
//! instance), except in an item-wise chain (the same `for_each` text on both), where `B[x]`
//! needs only `A[x]`.

use std::collections::HashMap;
use std::sync::Arc;

use indexmap::IndexMap;
use serde_json::Value;

use crate::playbook::Diagnostic;
use crate::playbook::model::{
    Expansion, ForEach, ForEachSource, Instance, Playbook, RtoClock, Step, StepIndex, VarValue,
};
use crate::playbook::template::{RenderFailure, Renderer};

/// The items a rendered `for_each` template gives: the elements of a JSON array, else one
/// string per non-empty line.
#[must_use]
pub fn items_of(rendered: &str) -> Vec<Value> {
    let trimmed = rendered.trim();
    if trimmed.starts_with('[')
        && let Ok(Value::Array(items)) = serde_json::from_str(trimmed)
    {
        return items;
    }
    rendered
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| Value::String(l.to_owned()))
        .collect()
}

/// The instances of `step` (a `for_each` step of `of`) for `items`: the steps `ID[KEY]`, each
/// with its item, its own id and the given `needs` and `after`.
///
/// # Errors
/// Too many items, or two with the same key, in words after "`for_each` of step `x`".
pub fn instances(step: &Step, items: Vec<Value>) -> Result<Vec<Step>, String> {
    ForEach::check_items(&items)?;
    Ok(items
        .into_iter()
        .enumerate()
        .map(|(index, item)| instance(step, index, item, Vec::new()))
        .collect())
}

fn instance(step: &Step, index: usize, item: Value, partners: Vec<(String, String)>) -> Step {
    let key = Instance::key_of(&item, index);
    let mut s = step.clone();
    s.id = Instance::id(&step.id, &key).into();
    s.title = step.title.as_ref().map(|t| format!("{t} [{key}]"));
    s.expansion = Expansion::Instance(Arc::new(Instance {
        of: step.id.to_string(),
        key,
        index,
        item,
        partners,
    }));
    s
}

/// The items a step's `for_each` has before the run: `None` for an ordinary step or one whose
/// items only the run knows; `Some(Err)` when they cannot be made (the run fails the step).
fn planned_items(
    step: &Step,
    renderer: &Renderer,
    context: &Value,
) -> Option<Result<Vec<Value>, String>> {
    let for_each = step.for_each()?;
    let items = match &for_each.source {
        ForEachSource::Items(items) => items.clone(),
        ForEachSource::Vars(t) => match renderer.render(t, context) {
            Ok(text) => items_of(&text),
            Err(RenderFailure(e)) => return Some(Err(format!("cannot be rendered: {e}"))),
        },
        ForEachSource::Dynamic(_) => return None,
    };
    Some(ForEach::check_items(&items).map(|()| items))
}

/// The problems of the `for_each` lists known before the run, made from `vars`: too many
/// items, two with the same key, a template that cannot be rendered.
#[must_use]
pub fn problems(playbook: &Playbook, vars: &IndexMap<String, VarValue>) -> Vec<Diagnostic> {
    let renderer = Renderer::new();
    let context = vars_context(vars);
    playbook
        .steps
        .iter()
        .filter_map(|s| {
            let Err(problem) = planned_items(s, &renderer, &context)? else {
                return None;
            };
            let span = s.for_each().map_or(0..0, |f| f.span.clone());
            Some(
                Diagnostic::error(
                    &playbook.source,
                    span,
                    format!("`for_each` of step `{}` {problem}", s.id),
                )
                .with_help(if problem.contains("twice") {
                    "give each item once".to_owned()
                } else {
                    format!(
                        "give it at most {} items, or split the work into several steps",
                        Step::MAX_ITEMS
                    )
                }),
            )
        })
        .collect()
}

fn vars_context(vars: &IndexMap<String, VarValue>) -> Value {
    let vars: serde_json::Map<String, Value> =
        vars.iter().map(|(k, v)| (k.clone(), v.to_json())).collect();
    serde_json::json!({ "vars": vars })
}

/// The playbook with every `for_each` known before the run expanded, rendering templates with
/// `vars`; the playbook itself when it has none.
#[must_use]
pub(super) fn expand(playbook: &Arc<Playbook>, vars: &IndexMap<String, VarValue>) -> Arc<Playbook> {
    if playbook.steps.iter().all(|s| s.for_each().is_none()) {
        return Arc::clone(playbook);
    }
    let renderer = Renderer::new();
    let context = vars_context(vars);
    let old = &playbook.steps;
    // Per old step: its items when known before the run.
    let planned: Vec<Option<Vec<Value>>> = old
        .iter()
        .map(|s| planned_items(s, &renderer, &context).and_then(Result::ok))
        .collect();
    // New positions: each old step's instances (in item order), then the step itself.
    let mut rep = vec![0usize; old.len()];
    let mut keys: Vec<HashMap<String, usize>> = vec![HashMap::new(); old.len()];
    let mut next = 0usize;
    for (i, items) in planned.iter().enumerate() {
        if let Some(items) = items {
            for (k, item) in items.iter().enumerate() {
                keys[i].insert(Instance::key_of(item, k), next);
                next += 1;
            }
        }
        rep[i] = next;
        next += 1;
    }
    let itemwise = |i: usize, d: usize| {
        planned[i].is_some()
            && planned[d].is_some()
            && old[i].for_each().map(|f| &f.text) == old[d].for_each().map(|f| &f.text)
    };
    let mut steps = Vec::with_capacity(next);
    for (i, step) in old.iter().enumerate() {
        let after: Box<[usize]> = step.after.iter().map(|&d| rep[d]).collect();
        let Some(items) = &planned[i] else {
            let mut s = step.clone();
            s.needs = step.needs.iter().map(|&d| rep[d]).collect();
            s.after = after;
            if step.for_each().is_some() {
                s.expansion = Expansion::Group { dynamic: true };
            }
            steps.push(s);
            continue;
        };
        let mut members = Vec::with_capacity(items.len());
        for (k, item) in items.iter().enumerate() {
            let key = Instance::key_of(item, k);
            let mut needs = Vec::with_capacity(step.needs.len());
            let mut partners = Vec::new();
            for &d in &step.needs {
                match keys[d].get(&key) {
                    Some(&partner) if itemwise(i, d) => {
                        needs.push(partner);
                        partners.push((old[d].id.to_string(), Instance::id(&old[d].id, &key)));
                    }
                    // An item-wise need without this item: the instance waits for all of it.
                    _ => needs.push(rep[d]),
                }
            }
            members.push(steps.len());
            let mut s = instance(step, k, item.clone(), partners);
            s.needs = needs.into();
            s.after.clone_from(&after);
            steps.push(s);
        }
        // The group: its own needs (item-wise ones are its instances'), then every instance.
        let mut group = step.clone();
        group.needs = step
            .needs
            .iter()
            .filter(|&&d| !itemwise(i, d))
            .map(|&d| rep[d])
            .collect();
        group.after = after
            .iter()
            .copied()
            .chain(
                step.needs
                    .iter()
                    .filter(|&&d| itemwise(i, d))
                    .map(|&d| rep[d]),
            )
            .chain(members)
            .collect();
        group.budget = None;
        group.expansion = Expansion::Group { dynamic: false };
        steps.push(group);
    }
    let index = StepIndex::new(&steps);
    let mut expanded = (**playbook).clone();
    expanded.meta.rto_clock = playbook.meta.rto_clock.map(|c| RtoClock {
        // The clock starts with the first instance of a `for_each` step.
        start: match &planned[c.start] {
            Some(items) if !items.is_empty() => rep[c.start] - items.len(),
            _ => rep[c.start],
        },
        stop: rep[c.stop],
    });
    expanded.steps = steps;
    expanded.index = index;
    Arc::new(expanded)
}

/// A group whose instances the plan made: it runs nothing and takes no time or slot.
pub(super) fn is_planned_group(e: &Expansion) -> bool {
    matches!(e, Expansion::Group { dynamic: false })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_json_array_gives_its_elements_and_other_text_its_lines() {
        assert_eq!(
            items_of(r#" ["a", {"n": 1}] "#),
            vec![json!("a"), json!({"n": 1})]
        );
        assert_eq!(
            items_of("one.dump\n\n  two.dump \r\n"),
            vec![json!("one.dump"), json!("two.dump")]
        );
        assert_eq!(items_of("[not json"), vec![json!("[not json")]);
        assert!(items_of(" \n").is_empty());
    }

    #[test]
    fn keys_are_plain_items_or_indices() {
        assert_eq!(Instance::key_of(&json!("n8n"), 0), "n8n");
        assert_eq!(Instance::key_of(&json!(5432), 1), "5432");
        assert_eq!(Instance::key_of(&json!("a b"), 2), "2");
        assert_eq!(Instance::key_of(&json!({"name": "x"}), 3), "3");
        assert_eq!(Instance::key_of(&json!(""), 4), "4");
    }
}
