//! What the session tells the engine about a run: the plan, the run's identity and folder,
//! the template context, the environment, the secrets, approvals and limits.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::engine::approval::Approvals;
use crate::engine::context::{Context, RunInfo};
use crate::event::Clock;
use crate::plan::Plan;
use crate::playbook::find::Library;

/// What the engine is told: no paths it must create, no lock, no notifications.
pub(crate) struct RunRequest {
    /// The playbook's plan for the run's environment: order, dependents, the steps skipped
    /// by environment, and what `--only`/`--from` or a resume settled before the start.
    pub(crate) plan: Arc<Plan>,
    /// What `run.*` says; `info.dir` is the run folder, with its `logs/` already made.
    pub(crate) info: RunInfo,
    /// The template context, vars included; the session keeps it for `[report] publish`.
    pub(crate) context: Arc<Context>,
    /// `[env]` rendered, plus `RUNBOOK_*`.
    pub(crate) env: Vec<(String, String)>,
    /// The runner's environment, for `env.*` and the secrets of nested playbooks.
    pub(crate) process_env: Arc<BTreeMap<String, String>>,
    /// Every secret value the bus masks: nested playbooks mask these and their own.
    pub(crate) secrets: Arc<Vec<String>>,
    pub(crate) approvals: Approvals,
    pub(crate) max_parallel: Option<usize>,
    pub(crate) dry_run: bool,
    pub(crate) incident_start: Option<DateTime<Utc>>,
    /// Started now, or at the original start for a resumed run.
    pub(crate) clock: Clock,
    /// Where nested playbooks are looked up after their parent's folder.
    pub(crate) library: Library,
    /// Past runs, for `history` probes.
    pub(crate) history: Arc<dyn crate::engine::probe::History>,
    /// Takes the locks a nested playbook names, for as long as it runs.
    pub(crate) locker: Arc<dyn Locker>,
}

/// The locks of a nested playbook (`[playbook] locks`), taken as the session takes the run's:
/// all or none, under the nested playbook's `lock` policy, a lock the run already holds not
/// being a conflict. The guard gives them back when dropped.
pub(crate) trait Locker: Send + Sync {
    fn take(
        &self,
        playbook: &crate::playbook::Playbook,
        names: &[String],
    ) -> Result<Box<dyn Send>, String>;
}
