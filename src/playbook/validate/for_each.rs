//! Validation of a step's `for_each` and `max_parallel`: the items written out (at most
//! [`Step::MAX_ITEMS`], each key once) or a template, which decides whether the plan can expand
//! it; and what an `always` step may loop over.

use crate::playbook::decode::Sp;
use crate::playbook::model::{ForEach, ForEachSource, Step};
use crate::playbook::raw::{RawForEach, RawStep, RawVar};
use crate::playbook::references::Scope;
use crate::playbook::template::{Template, Usage};
use crate::playbook::validate::validator::Validator;

impl Validator<'_> {
    /// `for_each` of step `index`: `Ok(None)` without one, `Err(())` when it is invalid (the
    /// problems are recorded).
    pub(super) fn for_each(
        &mut self,
        s: &RawStep,
        index: usize,
        at: &str,
        always: bool,
    ) -> Result<Option<ForEach>, ()> {
        let Some(raw) = s.for_each.as_ref() else {
            return Ok(None);
        };
        match &raw.value {
            RawForEach::Items(items) => {
                let mut values = Vec::with_capacity(items.len());
                let mut ok = true;
                for item in items {
                    match self.item(item, at) {
                        Some(v) => values.push(v),
                        None => ok = false,
                    }
                }
                if !ok {
                    return Err(());
                }
                if let Err(problem) = ForEach::check_items(&values) {
                    self.error(
                        raw.span.clone(),
                        format!("`for_each` {at} {problem}"),
                        items_help(&problem),
                    );
                    return Err(());
                }
                let text = serde_json::Value::Array(values.clone()).to_string();
                Ok(Some(ForEach {
                    text,
                    source: ForEachSource::Items(values),
                    span: raw.span.clone(),
                }))
            }
            RawForEach::Template(source) => {
                let sp = Sp::new(source.clone(), raw.span.clone());
                let what = format!("`for_each` {at}");
                let scope = Scope::ForEach { index };
                let template = self.template(Some(&sp), scope, &what).ok_or(())?;
                let usages = Template::parse(source).map(|(_, u)| u).unwrap_or_default();
                let dynamic = usages
                    .iter()
                    .any(|u| matches!(u, Usage::Path(p) if p.get(0).is_some_and(|r| r != "vars")));
                if dynamic && always {
                    self.error(
                        raw.span.clone(),
                        format!("`for_each` {at} loops over values known only during the run, but it is an `always` step: cleanup must know what it cleans up even when the steps that would give them never ran"),
                        "loop over a var or a written list, or remove `always = true`",
                    );
                    return Err(());
                }
                Ok(Some(ForEach {
                    text: source.clone(),
                    span: raw.span.clone(),
                    source: if dynamic {
                        ForEachSource::Dynamic(template)
                    } else {
                        ForEachSource::Vars(template)
                    },
                }))
            }
        }
    }

    /// `max_parallel` of a step: at least 1, and only with `for_each`.
    pub(super) fn step_max_parallel(&mut self, s: &RawStep, at: &str) -> Result<Option<usize>, ()> {
        let Some(m) = s.max_parallel.as_ref() else {
            return Ok(None);
        };
        let hosts = matches!(
            s.on.as_ref().map(|o| &o.value),
            Some(crate::playbook::raw::RawOn::Many(_))
        );
        if s.for_each.is_none() && !hosts {
            self.error(
                m.span.clone(),
                format!("`max_parallel` {at}, but the step has no `for_each`: on a step it limits how many of its instances run at once"),
                "remove it, or set `max_parallel` in [playbook] to limit the whole run",
            );
            return Err(());
        }
        match usize::try_from(m.value) {
            Ok(n) if n >= 1 => Ok(Some(n)),
            _ => {
                self.error(
                    m.span.clone(),
                    format!(
                        "invalid `max_parallel` {} {at}: it is how many instances may run at once",
                        m.value
                    ),
                    "use a whole number from 1, or leave it out for no limit but the run's",
                );
                Err(())
            }
        }
    }

    /// One written item: a string, number, boolean or a table of them.
    fn item(&mut self, item: &Sp<RawVar>, at: &str) -> Option<serde_json::Value> {
        Some(match &item.value {
            RawVar::String(s) => serde_json::Value::String(s.clone()),
            RawVar::Integer(n) => serde_json::Value::from(*n),
            RawVar::Float(x) => serde_json::Value::from(*x),
            RawVar::Bool(b) => serde_json::Value::Bool(*b),
            RawVar::Table(t) => {
                let mut map = serde_json::Map::new();
                for (k, v) in t {
                    if matches!(v.value, RawVar::List(_) | RawVar::Table(_)) {
                        self.error(
                            v.span.clone(),
                            format!("item `{k}` of `for_each` {at} is itself an array or a table"),
                            "an item is a value or a table of values: { name = \"a\", port = 5432 }",
                        );
                        return None;
                    }
                    map.insert(k.clone(), self.item(v, at)?);
                }
                serde_json::Value::Object(map)
            }
            RawVar::List(_) => {
                self.error(
                    item.span.clone(),
                    format!("an array inside `for_each` {at}"),
                    "flatten it, or use an array of tables: [{ name = \"a\", port = 1 }]",
                );
                return None;
            }
        })
    }
}

fn items_help(problem: &str) -> String {
    if problem.contains("twice") {
        "remove the repeated item".to_owned()
    } else {
        format!(
            "split the work into several steps of at most {} items",
            Step::MAX_ITEMS
        )
    }
}
