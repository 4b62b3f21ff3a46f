//! The template context of a run: `vars`, `env`, `steps.<id>.{outputs,status,exit_code}`,
//! `run.*` and `playbook.*`, updated as steps finish and read by every render.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::RwLock;

use chrono::{DateTime, Utc};
use indexmap::IndexMap;
use serde_json::{Map, Value, json};

use crate::event::{Mode, StepStatus};
use crate::playbook::model::{Playbook, Step, VarValue};
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

/// The values templates render against, shared by every step of a run.
pub(crate) struct Context {
    value: RwLock<Value>,
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
            value: RwLock::new(value),
            renderer: Renderer::new(),
        }
    }

    pub(crate) fn render(&self, template: &Template) -> Result<String, RenderFailure> {
        let value = self
            .value
            .read()
            .expect("the context lock is never poisoned: renders do not panic");
        self.renderer.render(template, &value)
    }

    /// Renders `template` with one more value at the top: `report.*` for `[report] publish`.
    pub(crate) fn render_with(
        &self,
        template: &Template,
        name: &str,
        extra: Value,
    ) -> Result<String, RenderFailure> {
        let mut value = self
            .value
            .read()
            .expect("the context lock is never poisoned: renders do not panic")
            .clone();
        value[name] = extra;
        self.renderer.render(template, &value)
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

    /// Records a finished step for the templates of the steps after it.
    pub(crate) fn record_step(
        &self,
        id: &str,
        status: StepStatus,
        exit_code: Option<i32>,
        outputs: &BTreeMap<String, String>,
    ) {
        let mut value = self
            .value
            .write()
            .expect("the context lock is never poisoned");
        value["steps"][id] =
            json!({ "status": status.as_str(), "exit_code": exit_code, "outputs": outputs });
    }

    /// For a step a dry run did not execute: placeholders (`<steps.ID.outputs.NAME>`) that render
    /// in place of values that would only exist after a real run.
    pub(crate) fn record_placeholder(&self, step: &Step) {
        let id = &step.id;
        let outputs: Map<String, Value> = step
            .outputs
            .keys()
            .chain(step.inputs.keys())
            .map(|name| {
                (
                    name.clone(),
                    Value::String(format!("<steps.{id}.outputs.{name}>")),
                )
            })
            .collect();
        let mut value = self
            .value
            .write()
            .expect("the context lock is never poisoned");
        value["steps"][id.as_str()] = json!({
            "status": format!("<steps.{id}.status>"),
            "exit_code": format!("<steps.{id}.exit_code>"),
            "outputs": outputs,
        });
    }
}
