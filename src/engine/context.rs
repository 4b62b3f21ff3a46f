//! The template context of a run: `vars`, `env`, `steps.<id>.{outputs,status,exit_code}`,
//! `run.*` and `playbook.*`, updated as steps finish and read by every render.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use indexmap::IndexMap;
use serde_json::{Map, Value, json};

use crate::event::{Mode, StepStatus};
use crate::playbook::model::{Instance, Playbook, Step, VarValue};
use crate::playbook::template::{RenderFailure, Renderer, StepsNamed, Template};

/// The finished steps' entries under `steps`. A JSON object per step was most of a long run's
/// memory (seven allocations, about 325 bytes, for each of 10,000 steps, #18), and a render
/// reads a few: each is kept compact, and a render puts in `steps` those its template names,
/// for that render. A template that can reach any step (`{{#each steps}}`, `lookup`, a block)
/// moves them all into `steps` for good, in the order they finished, as before.
#[derive(Default)]
struct Recorded {
    /// The entries not in `value`, in the order recorded (every entry, until `whole`).
    by_id: IndexMap<compact_str::CompactString, Entry>,
    /// Every entry is in `value["steps"]`, and new ones go there.
    whole: bool,
}

/// One step's entry, as templates see it once it is JSON.
enum Entry {
    Ran {
        status: StepStatus,
        exit_code: Option<i32>,
        outputs: BTreeMap<String, String>,
    },
    /// A dry run's placeholders.
    Json(Value),
}

impl Entry {
    fn to_json(&self) -> Value {
        match self {
            Self::Ran {
                status,
                exit_code,
                outputs,
            } => json!({ "status": status.as_str(), "exit_code": exit_code, "outputs": outputs }),
            Self::Json(value) => value.clone(),
        }
    }
}

/// What `run.*` says.
#[derive(Debug, Clone)]
pub(crate) struct RunInfo {
    pub(crate) id: String,
    pub(crate) mode: Mode,
    pub(crate) env: Option<String>,
    pub(crate) started_at: DateTime<Utc>,
    pub(crate) commander: String,
    pub(crate) dir: PathBuf,
}

/// The values templates render against, shared by every step of a run; an instance of a
/// `for_each` step sees its `item` on top ([`Context::instance`]).
pub(crate) struct Context {
    shared: Arc<Shared>,
    /// For an instance: its item, index and item-wise partners.
    item: Option<Arc<Instance>>,
}

struct Shared {
    /// `vars`, `env`, `run`, `playbook`, and under `steps` the entries a render asked for (all
    /// of them once one asked for all, see [`Recorded`]).
    value: RwLock<Value>,
    /// What each finished step gives: locked before `value` wherever both are.
    steps: RwLock<Recorded>,
    /// What each finished instance gives (`ID[KEY]` → status, exit code, outputs): kept apart
    /// from `steps`, which templates see, so that a render copies one entry per step.
    instances: RwLock<HashMap<String, Value>>,
    renderer: Renderer,
}

impl Context {
    #[must_use]
    pub(crate) fn new(
        playbook: &Playbook,
        vars: &IndexMap<String, VarValue>,
        run: &RunInfo,
        env: &BTreeMap<String, String>,
    ) -> Self {
        let vars: Map<String, Value> = vars.iter().map(|(k, v)| (k.clone(), v.to_json())).collect();
        let value = json!({
            "vars": vars,
            "env": env,
            "steps": {},
            "run": {
                "id": run.id,
                "mode": run.mode.as_str(),
                "env": run.env,
                "started_at": run.started_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "date": run.started_at.format("%Y-%m-%d").to_string(),
                "commander": run.commander,
                "dir": run.dir.display().to_string(),
            },
            "playbook": {
                "name": playbook.meta.name,
                "version": playbook.meta.version.to_string(),
                "title": playbook.meta.display_title(),
            },
        });
        Self {
            shared: Arc::new(Shared {
                value: RwLock::new(value),
                steps: RwLock::new(Recorded::default()),
                instances: RwLock::new(HashMap::new()),
                renderer: Renderer::new(),
            }),
            item: None,
        }
    }

    /// The context of an instance: the run's, plus `item`, `item_index`, and as `steps.A` the
    /// values of `A[KEY]` for each item-wise need `A`.
    pub(crate) fn instance(&self, instance: &Arc<Instance>) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
            item: Some(Arc::clone(instance)),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Value> {
        self.shared
            .value
            .read()
            .expect("the context lock is never poisoned: renders do not panic")
    }

    /// `f` given the values, with under `steps` every finished step `template` can reach.
    fn with_steps<R>(&self, template: &Template, f: impl FnOnce(&Value) -> R) -> R {
        let named = template.steps_named();
        if named == StepsNamed::Ids(Vec::new()) {
            return f(&self.read());
        }
        let lock = "the context lock is never poisoned: renders do not panic";
        let mut steps = self.shared.steps.write().expect(lock);
        if steps.whole {
            drop(steps);
            return f(&self.read());
        }
        let mut value = self.shared.value.write().expect(lock);
        let StepsNamed::Ids(ids) = named else {
            // For good: from now on entries go straight to `steps`.
            for (id, entry) in std::mem::take(&mut steps.by_id) {
                value["steps"][id.as_str()] = entry.to_json();
            }
            steps.whole = true;
            drop(steps);
            return f(&value);
        };
        for id in &ids {
            if let Some(entry) = steps.by_id.get(id.as_str()) {
                value["steps"][id.as_str()] = entry.to_json();
            }
        }
        drop(steps);
        let result = f(&value);
        value["steps"] = json!({});
        result
    }

    pub(crate) fn render(&self, template: &Template) -> Result<String, RenderFailure> {
        if template.is_literal() {
            return Ok(template.source().to_owned());
        }
        self.with_steps(template, |value| match &self.item {
            None => self.shared.renderer.render(template, value),
            Some(instance) => {
                let mut value = value.clone();
                self.overlay(&mut value, instance);
                self.shared.renderer.render(template, &value)
            }
        })
    }

    fn overlay(&self, value: &mut Value, instance: &Instance) {
        value["item"] = instance.item.clone();
        value["item_index"] = Value::from(instance.index);
        let instances = self
            .shared
            .instances
            .read()
            .expect("the context lock is never poisoned");
        for (step, partner) in &instance.partners {
            if let Some(v) = instances.get(partner) {
                value["steps"][step.as_str()] = v.clone();
            }
        }
    }

    /// Renders `template` with one more value at the top: `report.*` for `[report] publish`.
    pub(crate) fn render_with(
        &self,
        template: &Template,
        name: &str,
        extra: Value,
    ) -> Result<String, RenderFailure> {
        let mut value = self.with_steps(template, Value::clone);
        if let Some(instance) = &self.item {
            self.overlay(&mut value, instance);
        }
        value[name] = extra;
        self.shared.renderer.render(template, &value)
    }

    /// The playbook's `[env]`, rendered: name and value, or the name that failed and why.
    pub(crate) fn render_env(
        &self,
        playbook: &Playbook,
    ) -> Result<Vec<(String, String)>, (String, RenderFailure)> {
        playbook
            .env
            .iter()
            .map(|(key, template)| {
                self.render(template)
                    .map(|value| (key.clone(), value))
                    .map_err(|e| (key.clone(), e))
            })
            .collect()
    }

    /// Renders a `when` condition: `true` or `false`, nothing else.
    pub(crate) fn condition(&self, template: &Template) -> Result<bool, RenderFailure> {
        let text = self.render(template)?;
        match text.trim() {
            "true" => Ok(true),
            "false" | "" => Ok(false),
            other => Err(RenderFailure(format!(
                "`when` rendered to {other:?}, not `true` or `false`"
            ))),
        }
    }

    /// Records a finished step (or instance) for the templates of the steps after it.
    pub(crate) fn record_step(
        &self,
        id: &str,
        status: StepStatus,
        exit_code: Option<i32>,
        outputs: &BTreeMap<String, String>,
    ) {
        let entry = Entry::Ran {
            status,
            exit_code,
            outputs: outputs.clone(),
        };
        self.put(id, entry);
    }

    /// Files `entry` under `steps.ID`, or with the instances when `id` is one (`ID[KEY]`).
    fn put(&self, id: &str, entry: Entry) {
        let lock = "the context lock is never poisoned";
        if Instance::of_name(id).is_some() {
            self.shared
                .instances
                .write()
                .expect(lock)
                .insert(id.to_owned(), entry.to_json());
            return;
        }
        let mut steps = self.shared.steps.write().expect(lock);
        if steps.whole {
            self.shared.value.write().expect(lock)["steps"][id] = entry.to_json();
        } else {
            steps.by_id.insert(id.into(), entry);
        }
    }

    /// The outputs of a `for_each` step: for each output it declares (or its instances gave:
    /// a nested playbook's), the JSON array of its instances' values in item order (`null`
    /// for an instance that did not give it).
    pub(crate) fn combined_outputs(
        &self,
        step: &Step,
        instances: &[String],
    ) -> BTreeMap<String, String> {
        let recorded = self
            .shared
            .instances
            .read()
            .expect("the context lock is never poisoned");
        let entries: Vec<Option<&Value>> = instances.iter().map(|id| recorded.get(id)).collect();
        let mut names: Vec<String> = step
            .outputs
            .keys()
            .chain(step.inputs().keys().map(String::as_str))
            .map(str::to_owned)
            .collect();
        for entry in entries.iter().flatten() {
            if let Some(outputs) = entry["outputs"].as_object() {
                for name in outputs.keys() {
                    if !names.contains(name) {
                        names.push(name.clone());
                    }
                }
            }
        }
        names
            .into_iter()
            .map(|name| {
                let values: Vec<Value> = entries
                    .iter()
                    .map(|e| {
                        e.and_then(|e| e["outputs"].get(&name))
                            .cloned()
                            .unwrap_or(Value::Null)
                    })
                    .collect();
                (name, Value::Array(values).to_string())
            })
            .collect()
    }

    /// For a step a dry run did not execute: placeholders (`<steps.ID.outputs.NAME>`) that render
    /// in place of values that would only exist after a real run.
    pub(crate) fn record_placeholder(&self, step: &Step) {
        let id = &step.id;
        let outputs: Map<String, Value> = step
            .outputs
            .keys()
            .chain(step.inputs().keys().map(String::as_str))
            .map(|name| {
                (
                    name.to_owned(),
                    Value::String(format!("<steps.{id}.outputs.{name}>")),
                )
            })
            .collect();
        self.put(
            id,
            Entry::Json(json!({
                "status": format!("<steps.{id}.status>"),
                "exit_code": format!("<steps.{id}.exit_code>"),
                "outputs": outputs,
            })),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATES: [&str; 10] = [
        "{{steps.a.status}}",
        "{{steps.b.outputs.out}} {{steps.a.exit_code}}",
        "{{#each steps}}{{@key}}:{{this.status}},{{/each}}",
        "{{lookup (lookup steps \"a\") \"status\"}}",
        "{{#with steps.c}}{{exit_code}}{{/with}}",
        "{{json steps}}",
        "{{vars.x}}",
        "{{#if steps.a}}A{{else}}none{{/if}}",
        "{{steps.c.outputs}}",
        "{{#each vars.list}}{{@root.steps.b.status}}{{/each}}",
    ];

    fn context() -> Context {
        let text = "[playbook]\nname = \"p\"\nversion = \"1.0.0\"\n\n[vars]\nx = \"1\"\nlist = [\"i\", \"j\"]\n\n[[steps]]\nid = \"a\"\nrun = \"true\"\n";
        let file = crate::playbook::SourceFile::new("p.toml", text);
        let playbook = crate::playbook::validate(&file).expect("valid").playbook;
        let run = RunInfo {
            id: "r".to_owned(),
            mode: Mode::Drill,
            env: None,
            started_at: Utc::now(),
            commander: "c".to_owned(),
            dir: PathBuf::from("/tmp"),
        };
        Context::new(&playbook, &playbook.vars, &run, &BTreeMap::new())
    }

    proptest::proptest! {
        /// Whatever the steps recorded and the templates rendered, in any order, a render gives
        /// what it gives against every entry in `steps` as JSON, in the order recorded (the
        /// context before entries were kept compact, #18).
        #[test]
        fn a_render_sees_what_it_would_see_with_every_entry(
            ops in proptest::collection::vec((0usize..3, 0usize..2, 0i32..3, 0usize..TEMPLATES.len(), proptest::bool::ANY), 1..24)
        ) {
            let cx = context();
            let base = cx.read().clone();
            let mut expected: IndexMap<String, Value> = IndexMap::new();
            for (step, status, code, template, record) in ops {
                if record {
                    let id = ["a", "b", "c"][step];
                    let status = [StepStatus::Ok, StepStatus::Failed][status];
                    let outputs = BTreeMap::from([("out".to_owned(), format!("{id}{code}"))]);
                    cx.record_step(id, status, Some(code), &outputs);
                    expected.insert(
                        id.to_owned(),
                        json!({ "status": status.as_str(), "exit_code": code, "outputs": outputs }),
                    );
                } else {
                    let (t, _) = Template::parse(TEMPLATES[template]).expect("compiles");
                    let mut whole = base.clone();
                    for (id, entry) in &expected {
                        whole["steps"][id.as_str()] = entry.clone();
                    }
                    let want = Renderer::new().render(&t, &whole);
                    proptest::prop_assert_eq!(cx.render(&t), want, "{}", TEMPLATES[template]);
                }
            }
        }
    }

    #[test]
    fn a_template_names_the_steps_it_reads_or_all_of_them() {
        let named = |source: &str| Template::parse(source).expect("compiles").0.steps_named();
        let ids = |list: &[&str]| StepsNamed::Ids(list.iter().map(|s| (*s).to_owned()).collect());
        assert_eq!(named("echo {{steps.a.outputs.f}} {{vars.x}}"), ids(&["a"]));
        assert_eq!(
            named("{{#if (eq steps.b.status \"ok\")}}y{{/if}}"),
            ids(&["b"])
        );
        assert_eq!(named("plain"), ids(&[]));
        assert_eq!(named("{{quote run.id}}"), ids(&[]));
        for all in [
            "{{#each steps}}{{@key}}{{/each}}",
            "{{json steps}}",
            "{{lookup steps \"a\"}}",
            "{{#with vars}}{{x}}{{/with}}",
            "{{#each vars.l}}{{@root.steps.a.status}}{{/each}}",
            "{{this}}",
        ] {
            assert_eq!(named(all), StepsNamed::All, "{all}");
        }
    }
}
