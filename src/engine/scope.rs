//! What every step of a run shares: the playbook, the template context, the event bus, HTTP
//! clients, approvals, the cancel signal and the run folder. A nested playbook gets its own
//! scope for its steps ([`RunScope::nested`]), sharing the rest with its parent.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::engine::approval::Approvals;
use crate::engine::context::{Context, RunInfo};
use crate::engine::probe::{History, HttpClients};
use crate::engine::process::Registry;
use crate::engine::request::RunRequest;
use crate::engine::signal::SignalHandling;
use crate::engine::ssh::{Connections, Inventory};
use crate::event::{Bus, Masker, secrets_in};
use crate::plan::Plan;
use crate::playbook::find::Library;
use crate::playbook::model::{Playbook, Step};

/// A run's shared state, behind an `Arc` so that each step can be its own task.
#[derive(Clone)]
pub(crate) struct RunScope {
    /// What runs: the playbook, its order and dependents, skips and presets.
    pub(crate) plan: Arc<Plan>,
    /// Shared with the scope of the run's cleanup ([`RunScope::with_cancel`]).
    pub(crate) context: Arc<Context>,
    pub(crate) bus: Arc<Bus>,
    pub(crate) http: Arc<HttpClients>,
    pub(crate) approvals: Arc<Approvals>,
    /// Cancelled on SIGINT/SIGTERM/SIGHUP: running steps terminate their process groups.
    pub(crate) cancel: CancellationToken,
    /// Cancelled on a second signal: it skips the cleanup (`always` steps).
    pub(crate) second_signal: CancellationToken,
    /// Every live process group, for a second signal to kill at once.
    pub(crate) groups: Arc<Registry>,
    /// The run folder: the default working directory of commands.
    pub(crate) run_dir: PathBuf,
    pub(crate) logs_dir: PathBuf,
    /// `[env]` rendered, plus `RUNBOOK_*`; added to the inherited environment of every command.
    pub(crate) env: Vec<(String, String)>,
    pub(crate) dry_run: bool,
    /// What `run.*` says.
    pub(crate) info: RunInfo,
    /// The runner's environment, for `env.*`.
    pub(crate) process_env: Arc<BTreeMap<String, String>>,
    pub(crate) max_parallel: Option<usize>,
    /// Where nested playbooks are looked up after the parent's own folder.
    pub(crate) library: Library,
    /// The playbooks this one is nested in, outermost first, ending with its own name.
    pub(crate) stack: Vec<String>,
    /// Prefix of log file names: empty at the top, `parent-step.` inside a nested playbook.
    pub(crate) log_prefix: String,
    /// Every secret value known so far (for a nested playbook's masker, a superset).
    pub(crate) secrets: Arc<Vec<String>>,
    /// Past runs, for `history` probes.
    pub(crate) history: Arc<dyn History>,
    /// Takes nested playbooks' locks.
    pub(crate) locker: Arc<dyn crate::engine::request::Locker>,
    /// The run's ssh connections, one per host, shared with nested playbooks.
    pub(crate) connections: Arc<Connections>,
}

impl RunScope {
    /// The scope of the run's own playbook.
    pub(crate) fn top(req: RunRequest, bus: Arc<Bus>, signals: &SignalHandling) -> Self {
        let logs_dir = req.info.dir.join("logs");
        Self {
            stack: vec![req.plan.playbook.meta.name.clone()],
            plan: req.plan,
            context: req.context,
            bus,
            http: Arc::new(HttpClients::default()),
            approvals: Arc::new(req.approvals),
            cancel: signals.cancel.clone(),
            second_signal: signals.second.clone(),
            groups: Arc::clone(&signals.groups),
            run_dir: req.info.dir.clone(),
            logs_dir,
            env: req.env,
            dry_run: req.dry_run,
            info: req.info,
            process_env: req.process_env,
            max_parallel: req.max_parallel,
            library: req.library,
            log_prefix: String::new(),
            secrets: req.secrets,
            history: req.history,
            locker: req.locker,
            connections: Arc::new(Connections::default()),
        }
    }

    /// The scope of `nested`, run by `step` of this scope: its own vars, `[env]` (with the
    /// parent's `RUNBOOK_*`), secrets added to the parent's, events reported as `step/…`.
    pub(crate) fn nested(&self, step: &Step, nested: &Arc<Playbook>) -> Result<Self, String> {
        let mut vars = nested.vars.clone();
        for (name, template) in step.vars() {
            let Some(declared) = nested.vars.get(name) else {
                return Err(format!(
                    "nested playbook `{}` has no var `{name}` (set in `vars` of step `{}`)",
                    nested.label(),
                    step.id
                ));
            };
            let text = self
                .context
                .render(template)
                .map_err(|e| format!("`vars.{name}` of step `{}`: {e}", step.id))?;
            let value = declared.parse_like(&text).map_err(|expected| {
                format!(
                    "`vars.{name}` of step `{}` is `{text}`, but nested playbook `{}` declares it as {expected}",
                    step.id,
                    nested.label()
                )
            })?;
            vars.insert(name.clone(), value);
        }
        let context = Context::new(nested, &vars, &self.info, &self.process_env);
        let mut env: Vec<(String, String)> = self
            .env
            .iter()
            .filter(|(k, _)| k.starts_with("RUNBOOK_"))
            .cloned()
            .collect();
        env.extend(context.render_env(nested).map_err(|(key, e)| {
            format!(
                "nested playbook `{}`: `{key}` of [env]: {e}",
                nested.label()
            )
        })?);
        let named = secrets_in(&nested.meta.secrets, &self.process_env);
        let mut secrets = (*self.secrets).clone();
        secrets.extend(named.iter().map(|(_, v)| (*v).to_owned()));
        let masker = Arc::new(
            Masker::new(&secrets)
                .map_err(|e| e.to_string())?
                .with_names(named),
        );
        let mut stack = self.stack.clone();
        stack.push(nested.meta.name.clone());
        Ok(Self {
            plan: Arc::new(Plan::with_vars(nested, self.info.env.as_deref(), &vars)),
            context: Arc::new(context),
            bus: self.bus.nested(&step.id, masker),
            http: Arc::clone(&self.http),
            approvals: Arc::clone(&self.approvals),
            cancel: self.cancel.clone(),
            second_signal: self.second_signal.clone(),
            groups: Arc::clone(&self.groups),
            run_dir: self.run_dir.clone(),
            logs_dir: self.logs_dir.clone(),
            env,
            dry_run: self.dry_run,
            info: self.info.clone(),
            process_env: Arc::clone(&self.process_env),
            max_parallel: self.max_parallel,
            library: self.library.clone(),
            stack,
            log_prefix: format!("{}{}.", self.log_prefix, step.id),
            secrets: Arc::new(secrets),
            history: Arc::clone(&self.history),
            locker: Arc::clone(&self.locker),
            connections: Arc::clone(&self.connections),
        })
    }

    /// The same scope, its steps watching `cancel` instead of the run's interrupt.
    pub(crate) fn with_cancel(&self, cancel: CancellationToken) -> Self {
        Self {
            cancel,
            ..self.clone()
        }
    }

    /// The scope `step` runs in: for an instance of a `for_each`, one whose templates see its
    /// item; else this one.
    pub(crate) fn for_step(self: &Arc<Self>, step: &Step) -> Arc<Self> {
        match &step.expansion {
            crate::playbook::model::Expansion::Instance(instance) => Arc::new(Self {
                context: Arc::new(self.context.instance(instance)),
                ..(**self).clone()
            }),
            _ => Arc::clone(self),
        }
    }

    /// The playbook being run.
    pub(crate) fn playbook(&self) -> &Playbook {
        &self.plan.playbook
    }

    /// What a command on a host of this playbook needs.
    pub(crate) fn inventory(&self) -> Inventory<'_> {
        Inventory {
            playbook: self.playbook(),
            connections: &self.connections,
            second: &self.second_signal,
        }
    }

    /// The log file of a step.
    pub(crate) fn log_path(&self, step: &str) -> PathBuf {
        self.logs_dir.join(format!("{}{step}.log", self.log_prefix))
    }
}
