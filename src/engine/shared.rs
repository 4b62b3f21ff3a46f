//! What every step of a run shares: the playbook, the template context, the event bus, HTTP
//! clients, approvals, the cancel signal and the run folder. A nested playbook gets its own
//! `Shared` for its steps, sharing the rest with its parent.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::engine::approval::Approvals;
use crate::engine::context::{Context, RunInfo};
use crate::engine::probe::HttpClients;
use crate::engine::process::Registry;
use crate::event::Bus;
use crate::playbook::find::Library;
use crate::playbook::model::Playbook;

/// A run's shared state, behind an `Arc` so that each step can be its own task.
pub struct Shared {
    pub playbook: Arc<Playbook>,
    pub context: Context,
    pub emitter: Arc<Bus>,
    pub http: Arc<HttpClients>,
    pub approvals: Arc<Approvals>,
    /// Cancelled on SIGINT/SIGTERM: running steps terminate their process groups.
    pub cancel: CancellationToken,
    /// Every live process group, for a second Ctrl-C to kill at once.
    pub groups: Arc<Registry>,
    /// The run folder: the default working directory of commands.
    pub run_dir: PathBuf,
    pub logs_dir: PathBuf,
    /// `[env]` rendered, plus `RUNBOOK_*`; added to the inherited environment of every command.
    pub env: Vec<(String, String)>,
    pub dry_run: bool,
    /// What `run.*` says.
    pub info: RunInfo,
    /// The runner's environment, for `env.*`.
    pub process_env: Arc<BTreeMap<String, String>>,
    /// `--env`.
    pub target_env: Option<String>,
    pub max_parallel: usize,
    /// Where nested playbooks are looked up after the parent's own folder.
    pub library: Library,
    /// The playbooks this one is nested in, outermost first, ending with its own name.
    pub stack: Vec<String>,
    /// Prefix of log file names: empty at the top, `parent-step.` inside a nested playbook.
    pub log_prefix: String,
    /// Every secret value known so far (for a nested playbook's masker, a superset).
    pub secrets: Arc<Vec<String>>,
}

impl Shared {
    /// The log file of a step.
    #[must_use]
    pub fn log_path(&self, step: &str) -> PathBuf {
        self.logs_dir.join(format!("{}{step}.log", self.log_prefix))
    }
}
