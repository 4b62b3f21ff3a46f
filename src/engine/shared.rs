//! What every step of a run shares: the playbook, the template context, the event bus, HTTP
//! clients, approvals, the cancel signal and the run folder.

use std::path::PathBuf;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::engine::approval::Approvals;
use crate::engine::context::Context;
use crate::engine::emitter::Emitter;
use crate::engine::probe::HttpClients;
use crate::engine::process::Registry;
use crate::playbook::model::Playbook;

/// A run's shared state, behind an `Arc` so that each step can be its own task.
pub struct Shared {
    pub playbook: Arc<Playbook>,
    pub context: Context,
    pub emitter: Arc<Emitter>,
    pub http: HttpClients,
    pub approvals: Approvals,
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
}
