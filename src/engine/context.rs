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
use crate::playbook::template::{RenderFailure, Renderer, Template};

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
    value: RwLock<Value>,
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

    pub(crate) fn render(&self, template: &Template) -> Result<String, RenderFailure> {
        let Some(instance) = &self.item else {
            return self.shared.renderer.render(template, &self.read());
        };
        if template.is_literal() {
            return Ok(template.source().to_owned());
        }
        let mut value = self.read().clone();
        self.overlay(&mut value, instance);
        self.shared.renderer.render(template, &value)
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
        let mut value = self.read().clone();
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
        let entry =
            json!({ "status": status.as_str(), "exit_code": exit_code, "outputs": outputs });
        self.put(id, entry);
    }

    /// Files `entry` under `steps.ID`, or with the instances when `id` is one (`ID[KEY]`).
    fn put(&self, id: &str, entry: Value) {
        if Instance::of_name(id).is_some() {
            self.shared
                .instances
                .write()
                .expect("the context lock is never poisoned")
                .insert(id.to_owned(), entry);
        } else {
            self.shared
                .value
                .write()
                .expect("the context lock is never poisoned")["steps"][id] = entry;
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
            json!({
                "status": format!("<steps.{id}.status>"),
                "exit_code": format!("<steps.{id}.exit_code>"),
                "outputs": outputs,
            }),
        );
    }
}
