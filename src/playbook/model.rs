//! The validated playbook. Everything here has been checked: ids exist, the graph has no cycle,
//! durations parse, regexes compile, templates parse and name only what can exist.

use std::path::PathBuf;
use std::sync::{Arc, LazyLock};

use indexmap::IndexMap;
use regex::Regex;
use semver::{Version, VersionReq};

use crate::playbook::decode::Span;
use crate::playbook::diagnostic::SourceFile;
use crate::playbook::duration::HumanDuration;
use crate::playbook::input::Input;
use crate::playbook::schedule::CronSchedule;
use crate::playbook::size::ByteSize;
use crate::playbook::template::{JsonTemplate, Template};

/// A valid playbook.
#[derive(Debug, Clone)]
pub struct Playbook {
    pub source: Arc<SourceFile>,
    /// Hex sha256 of the file's bytes.
    pub sha256: String,
    pub meta: Meta,
    pub vars: IndexMap<String, VarValue>,
    pub env: IndexMap<String, Template>,
    /// `[hosts.NAME]`: where `on` sends commands, by name in the order written.
    pub hosts: IndexMap<String, Host>,
    pub notify: Notify,
    pub report: ReportSettings,
    pub checks: Vec<Check>,
    /// In file order; `needs` are indices into this list.
    pub steps: Vec<Step>,
    /// `[outputs]`: what a parent running this playbook as a step sees, rendered at the end.
    pub outputs: IndexMap<String, Template>,
    /// Step index by id: one lookup instead of a scan (a report of 10,000 steps asks 10,000
    /// times).
    pub(crate) index: StepIndex,
}

/// The positions of steps, sorted by their ids: a lookup halves its way to the id (17
/// comparisons at 100,000 steps). Eight bytes a step, where a hash map holding a copy of every
/// id took ninety and was at validation's peak (#18). The ids stay where they are (the model's
/// steps, the first pass's names), read through `name`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct StepIndex(Box<[usize]>);

impl StepIndex {
    /// The index of `count` steps whose ids `name` gives (`None`: a step without one, left
    /// out). Of steps sharing an id, the first is the one found.
    pub(crate) fn of<'a>(count: usize, name: impl Fn(usize) -> Option<&'a str>) -> Self {
        let mut by_id: Vec<usize> = (0..count).filter(|&i| name(i).is_some()).collect();
        // The first of equal ids comes first, and is the one kept (ordered by position too:
        // a stable sort would take a buffer of half the steps).
        by_id.sort_unstable_by(|&a, &b| name(a).cmp(&name(b)).then(a.cmp(&b)));
        by_id.dedup_by(|later, kept| name(*later) == name(*kept));
        Self(by_id.into_boxed_slice())
    }

    /// The index of `steps`.
    pub(crate) fn new(steps: &[Step]) -> Self {
        Self::of(steps.len(), |i| Some(steps[i].id.as_str()))
    }

    /// The position of the step `id`, by the `name` the index was made with.
    pub(crate) fn find<'a>(
        &self,
        id: &str,
        name: impl Fn(usize) -> Option<&'a str>,
    ) -> Option<usize> {
        let at = self
            .0
            .binary_search_by(|&i| name(i).unwrap_or_default().cmp(id))
            .ok()?;
        Some(self.0[at]).filter(|&i| name(i) == Some(id))
    }

    /// How many distinct ids.
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    fn get(&self, steps: &[Step], id: &str) -> Option<usize> {
        self.find(id, |i| steps.get(i).map(|s| s.id.as_str()))
    }
}

impl Playbook {
    #[must_use]
    pub fn path(&self) -> &std::path::Path {
        &self.source.path
    }

    /// The index of the step with this id.
    #[must_use]
    pub fn step_index(&self, id: &str) -> Option<usize> {
        self.index.get(&self.steps, id)
    }

    /// `name@version`.
    #[must_use]
    pub fn label(&self) -> String {
        format!("{}@{}", self.meta.name, self.meta.version)
    }
}

/// `[playbook]`.
#[derive(Debug, Clone)]
pub struct Meta {
    pub name: String,
    pub version: Version,
    pub title: Option<String>,
    pub description: Option<String>,
    pub owner: Option<String>,
    pub tags: Vec<String>,
    /// `None`: may run anywhere.
    pub environments: Option<Vec<String>>,
    /// By environment: the values its `[playbook.environments.NAME] vars` give, over `[vars]`.
    pub environment_vars: IndexMap<String, IndexMap<String, VarValue>>,
    pub secrets: Vec<String>,
    pub rto: Option<Objective>,
    pub rpo: Option<Objective>,
    pub rto_clock: Option<RtoClock>,
    pub recovery_point: Option<Template>,
    pub drill_every: Option<HumanDuration>,
    /// `schedule`: when routine runs are due.
    pub schedule: Option<CronSchedule>,
    pub lock: LockPolicy,
    /// How long `always` steps may take once the run is interrupted.
    pub cleanup_timeout: HumanDuration,
    /// At most this many steps at once; `None`: no limit.
    pub max_parallel: Option<usize>,
    /// `mode`: what a run without `--mode` is; `None`: a drill.
    pub mode: Option<String>,
    /// `approvals`: what a run without a terminal does at an approval nobody gave in advance.
    pub approvals: ApprovalPolicy,
    /// `locks`: the resources a run holds, rendered from vars before it starts; empty: the
    /// playbook's own name.
    pub locks: Vec<Template>,
}

impl Meta {
    /// `cleanup_timeout` when the playbook does not set it.
    pub const DEFAULT_CLEANUP_TIMEOUT: HumanDuration = HumanDuration::from_millis(120_000);
    /// The values of `mode`.
    pub const MODES: [&'static str; 3] = ["incident", "drill", "routine"];
    /// The largest `max_parallel` (and `--max-parallel`) accepted.
    pub const MAX_PARALLEL: usize = 100_000;

    /// The title, or the name when there is none.
    #[must_use]
    pub fn display_title(&self) -> &str {
        self.title.as_deref().unwrap_or(&self.name)
    }
}

/// An objective and where it is written (for the critical-path warning).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Objective {
    pub duration: HumanDuration,
    pub(crate) at: (usize, usize),
}

impl Objective {
    pub(crate) fn new(duration: HumanDuration, span: &Span) -> Self {
        Self {
            duration,
            at: (span.start, span.end),
        }
    }

    #[must_use]
    pub fn span(&self) -> Span {
        self.at.0..self.at.1
    }
}

/// Which part of the run the RTO measures: from `start` starting to `stop` ending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtoClock {
    pub start: usize,
    pub stop: usize,
}

/// What a second run of a playbook does while one is live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LockPolicy {
    #[default]
    Fail,
    Wait,
    Skip,
}

impl LockPolicy {
    pub const NAMES: [&'static str; 3] = ["fail", "wait", "skip"];
}

/// What a run without a terminal does at a `confirm` or manual step nobody approved in advance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ApprovalPolicy {
    /// The step fails at once: nobody can be asked.
    #[default]
    Ask,
    /// The run waits for `runbook approve` / `runbook decline` from another process.
    Wait,
}

impl ApprovalPolicy {
    pub const NAMES: [&'static str; 2] = ["ask", "wait"];
}

/// Who must answer a step's `confirm`: one person by default; the table form can ask for
/// several different OS users, and refuse the one who started the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfirmRule {
    /// How many different OS users must approve (1 to [`ConfirmRule::MAX_APPROVERS`]).
    pub approvers: u32,
    /// The OS user who started the run may not approve.
    pub not_commander: bool,
}

impl ConfirmRule {
    pub const MAX_APPROVERS: u32 = 10;

    /// Whether only other people, through `runbook approve`, can satisfy it: `--yes`,
    /// `--approve` and the commander's own prompt cannot.
    #[must_use]
    pub fn needs_others(self) -> bool {
        self.approvers > 1 || self.not_commander
    }

    /// "2 approvers, not the commander"; `None` for one person, whoever it is.
    #[must_use]
    pub fn words(self) -> Option<String> {
        match (self.approvers, self.not_commander) {
            (1, false) => None,
            (1, true) => Some("not the commander".to_owned()),
            (n, false) => Some(format!("{n} approvers")),
            (n, true) => Some(format!("{n} approvers, not the commander")),
        }
    }
}

impl Default for ConfirmRule {
    fn default() -> Self {
        Self {
            approvers: 1,
            not_commander: false,
        }
    }
}

/// A var's value, keeping the type of its declaration: a scalar, a table of scalars, or an
/// array of scalars or of such tables.
#[derive(Debug, Clone, PartialEq)]
pub enum VarValue {
    String(String),
    Integer(i64),
    Float(f64),
    Bool(bool),
    List(Vec<VarValue>),
    Table(IndexMap<String, VarValue>),
}

impl VarValue {
    /// What kind of value this is, for messages: "a string", "an array", …
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Self::String(_) => "a string",
            Self::Integer(_) => "an integer",
            Self::Float(_) => "a number",
            Self::Bool(_) => "a boolean",
            Self::List(_) => "an array",
            Self::Table(_) => "a table",
        }
    }

    /// Whether `other` may replace this declaration's value: the same kind, and for an array
    /// whose declaration has elements, elements of the kind of its first.
    #[must_use]
    pub fn accepts(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::List(declared), Self::List(given)) => declared
                .first()
                .is_none_or(|d| given.iter().all(|g| d.kind() == g.kind())),
            (Self::Float(_), Self::Integer(_)) => true,
            _ => self.kind() == other.kind(),
        }
    }

    /// A value from TOML (`--var-file`, an environment's `vars`, `--var k=[…]`): `None` for
    /// what a var cannot hold (times, tables in tables, arrays in arrays).
    #[must_use]
    pub fn from_toml(value: &toml::Value) -> Option<Self> {
        Self::from_toml_at(value, 0)
    }

    fn from_toml_at(value: &toml::Value, depth: u8) -> Option<Self> {
        Some(match value {
            toml::Value::String(s) => Self::String(s.clone()),
            toml::Value::Integer(n) => Self::Integer(*n),
            toml::Value::Float(x) => Self::Float(*x),
            toml::Value::Boolean(b) => Self::Bool(*b),
            toml::Value::Array(items) if depth == 0 => Self::List(
                items
                    .iter()
                    .map(|i| match i {
                        toml::Value::Table(_) => Self::from_toml_at(i, 1),
                        toml::Value::Array(_) => None,
                        _ => Self::from_toml_at(i, 2),
                    })
                    .collect::<Option<_>>()?,
            ),
            toml::Value::Table(t) if depth < 2 => Self::Table(
                t.iter()
                    .map(|(k, v)| Some((k.clone(), Self::from_toml_at(v, 2)?)))
                    .collect::<Option<_>>()?,
            ),
            _ => return None,
        })
    }

    /// A value as [`VarValue::to_json`] wrote it (a journal's `run_started`), read back into
    /// this declaration's kind; `None` when it is not one.
    #[must_use]
    pub fn from_json_like(&self, value: &serde_json::Value) -> Option<Self> {
        let toml = toml::Value::try_from(value).ok()?;
        let parsed = Self::from_toml(&toml)?;
        self.accepts(&parsed).then_some(parsed)
    }

    /// Parses an override into the type of this declaration. An array or table is written as
    /// a TOML inline value: `["n8n", "veritas"]`, `{ host = "db", port = 5432 }`.
    pub fn parse_like(&self, text: &str) -> Result<Self, String> {
        match self {
            Self::List(_) | Self::Table(_) => {
                let example = if matches!(self, Self::List(_)) {
                    "a TOML array such as [\"n8n\", \"veritas\"]"
                } else {
                    "a TOML inline table such as { host = \"db\", port = 5432 }"
                };
                let parsed: toml::Table =
                    toml::from_str(&format!("v = {text}")).map_err(|_| example.to_owned())?;
                let value = parsed
                    .get("v")
                    .and_then(Self::from_toml)
                    .ok_or_else(|| example.to_owned())?;
                if self.accepts(&value) {
                    Ok(value)
                } else {
                    Err(format!("{example}, with elements like the declared ones"))
                }
            }
            Self::String(_) => Ok(Self::String(text.to_owned())),
            Self::Integer(_) => text
                .trim()
                .parse()
                .map(Self::Integer)
                .map_err(|_| "an integer".to_owned()),
            Self::Float(_) => text
                .trim()
                .parse()
                .map(Self::Float)
                .map_err(|_| "a number".to_owned()),
            Self::Bool(_) => match text.trim() {
                "true" => Ok(Self::Bool(true)),
                "false" => Ok(Self::Bool(false)),
                _ => Err("`true` or `false`".to_owned()),
            },
        }
    }

    #[must_use]
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Self::String(s) => serde_json::Value::String(s.clone()),
            Self::Integer(n) => serde_json::Value::from(*n),
            Self::Float(x) => serde_json::Value::from(*x),
            Self::Bool(b) => serde_json::Value::Bool(*b),
            Self::List(items) => items.iter().map(Self::to_json).collect(),
            Self::Table(t) => t.iter().map(|(k, v)| (k.clone(), v.to_json())).collect(),
        }
    }
}

/// As TOML writes it: `"text"`, `3`, `["a", "b"]`, `{ host = "db" }`.
impl std::fmt::Display for VarValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::String(s) => write!(f, "{s:?}"),
            Self::Integer(n) => write!(f, "{n}"),
            Self::Float(x) => write!(f, "{x}"),
            Self::Bool(b) => write!(f, "{b}"),
            Self::List(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
            Self::Table(t) => {
                f.write_str("{")?;
                for (i, (k, v)) in t.iter().enumerate() {
                    let sep = if i > 0 { ", " } else { " " };
                    write!(f, "{sep}{k} = {v}")?;
                }
                f.write_str(if t.is_empty() { "}" } else { " }" })
            }
        }
    }
}

/// `[notify]`.
#[derive(Debug, Clone, Default)]
pub struct Notify {
    pub slack: Option<SlackSettings>,
    pub webhook: Option<WebhookSettings>,
}

/// The events a channel can be sent.
pub const NOTIFY_EVENTS: [&str; 8] = [
    "started",
    "step_failed",
    "approval_needed",
    "rto_warning",
    "finished",
    "step_finished",
    "check_failed",
    "rollback",
];

/// The events sent when a channel does not say.
pub const DEFAULT_NOTIFY_EVENTS: [&str; 5] = [
    "started",
    "step_failed",
    "approval_needed",
    "rto_warning",
    "finished",
];

#[derive(Debug, Clone)]
pub struct SlackSettings {
    pub webhook: Template,
    pub channel: Option<String>,
    pub events: Vec<String>,
    pub mention: Option<String>,
}

#[derive(Debug, Clone)]
pub struct WebhookSettings {
    pub url: Template,
    pub events: Vec<String>,
    pub headers: IndexMap<String, Template>,
}

/// `[report]`.
#[derive(Debug, Clone, Default)]
pub struct ReportSettings {
    pub signoff: Vec<String>,
    pub title: Option<Template>,
    pub include_logs: IncludeLogs,
    /// Run after the report is written, to publish it.
    pub publish: Option<Template>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IncludeLogs {
    #[default]
    Failures,
    All,
    None,
}

impl IncludeLogs {
    pub const NAMES: [&'static str; 3] = ["failures", "all", "none"];
}

/// A health check with its polling settings.
#[derive(Debug, Clone)]
pub struct Check {
    pub id: String,
    pub title: Option<String>,
    pub probe: Probe,
    pub interval: HumanDuration,
    pub timeout: HumanDuration,
    pub attempt_timeout: HumanDuration,
}

impl Check {
    pub const DEFAULT_INTERVAL: HumanDuration = HumanDuration::from_millis(2000);
    pub const DEFAULT_TIMEOUT: HumanDuration = HumanDuration::from_millis(60_000);
}

/// What a check looks at.
#[derive(Debug, Clone)]
pub enum Probe {
    Http(Box<HttpProbe>),
    Tcp(Template),
    Command(CommandProbe),
    File(FileProbe),
    History(HistoryProbe),
}

impl Probe {
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Http(_) => "http",
            Self::Tcp(_) => "tcp",
            Self::Command(_) => "command",
            Self::File(_) => "file",
            Self::History(_) => "history",
        }
    }

    /// The probe's target as written: URL, address, command or glob.
    #[must_use]
    pub fn target(&self) -> &str {
        match self {
            Self::Http(h) => h.url.source(),
            Self::Tcp(t) => t.source(),
            Self::Command(c) => c.command.source(),
            Self::File(f) => f.glob.source(),
            Self::History(h) => &h.playbook,
        }
    }

    /// The template the probe's target is rendered from; `None` for a target that is not one.
    #[must_use]
    pub fn target_template(&self) -> Option<&Template> {
        match self {
            Self::Http(h) => Some(&h.url),
            Self::Tcp(t) => Some(t),
            Self::Command(c) => Some(&c.command),
            Self::File(f) => Some(&f.glob),
            Self::History(_) => None,
        }
    }
}

/// An HTTP request and what its response must look like.
#[derive(Debug, Clone)]
pub struct HttpProbe {
    pub url: Template,
    pub method: String,
    pub headers: IndexMap<String, Template>,
    pub body: Option<HttpBody>,
    /// `None`: any 2xx.
    pub status: Option<u16>,
    pub body_contains: Option<Template>,
    pub body_matches: Option<Regex>,
    pub json_pointer: Option<String>,
    pub equals: Option<serde_json::Value>,
    pub insecure_tls: bool,
}

#[derive(Debug, Clone)]
pub enum HttpBody {
    Text(Template),
    /// Every string in it is a template.
    Json(JsonTemplate),
}

#[derive(Debug, Clone)]
pub struct CommandProbe {
    pub command: Template,
    /// `on`: the host it runs on; `None`: here.
    pub on: Option<On>,
    pub stdout_contains: Option<Template>,
    pub stdout_matches: Option<Regex>,
}

#[derive(Debug, Clone)]
pub struct FileProbe {
    pub glob: Template,
    pub max_age: Option<HumanDuration>,
    pub min_size: Option<ByteSize>,
}

/// `history = { playbook, since, min_success_rate, min_runs }`: passes when the runs root's
/// ended real runs of `playbook` that started within `since` are at least `min_runs` and
/// succeeded at least `min_success_rate` of the time.
#[derive(Debug, Clone)]
pub struct HistoryProbe {
    pub playbook: String,
    pub since: HumanDuration,
    /// From 0 to 1.
    pub min_success_rate: f64,
    pub min_runs: u32,
}

impl HistoryProbe {
    /// Every run in the window ok, and at least one run.
    pub const DEFAULT_MIN_SUCCESS_RATE: f64 = 1.0;
    pub const DEFAULT_MIN_RUNS: u32 = 1;
}

/// One step of the procedure.
#[derive(Debug, Clone)]
pub struct Step {
    pub id: compact_str::CompactString,
    pub title: Option<String>,
    /// Indices of the steps that must finish `ok` first, in the order written.
    pub needs: Box<[usize]>,
    /// Indices of the steps that must have ended first, in any status.
    pub after: Box<[usize]>,
    /// A cleanup step: runs once its `needs` and `after` ended, whatever happened to the run.
    pub always: bool,
    pub when: Option<Template>,
    pub action: Action,
    /// `None` for actions without a default (manual, sleep, notify, playbook).
    pub timeout: Option<HumanDuration>,
    pub retries: u32,
    pub retry_delay: HumanDuration,
    pub backoff: f64,
    pub budget: Option<HumanDuration>,
    pub on_failure: OnFailure,
    pub rollback: Option<Template>,
    pub outputs: Outputs,
    pub idempotent: bool,
    pub read_only: bool,
    /// What the plan made of `for_each` ([`Expansion::Single`] in a validated playbook).
    pub expansion: Expansion,
    /// What few steps have; `None` when the step has none of it (see [`StepMore`]).
    pub(crate) more: Option<Arc<StepMore>>,
}

/// The parts of a step that most steps do not have, out of line: a step with none of them
/// holds a null pointer instead of these 500-odd bytes, and a playbook of 100,000 steps holds
/// 100,000 steps (#18). Shared, not copied, by the clones of a step: the plan makes each
/// instance of a `for_each` step from one, and each would otherwise hold all the items.
/// Read through [`Step`]'s accessors of the same names.
#[derive(Debug, Clone, Default)]
pub struct StepMore {
    /// A `playbook` step's values for the nested playbook's vars, by name.
    pub vars: IndexMap<String, Template>,
    /// The outputs declared `secret = true`: masked everywhere once known, and the step's log
    /// is held back until they are.
    pub secret_outputs: Vec<String>,
    /// `on` of a `run` step: the host its command (and rollback) runs on; `None`: here.
    pub on: Option<On>,
    pub confirm: Option<Template>,
    /// Who must answer `confirm`.
    pub confirm_rule: ConfirmRule,
    /// `confirm_timeout`: `confirm` is declined when nobody answered within it.
    pub confirm_timeout: Option<HumanDuration>,
    /// A step's own `env`, over the playbook's: rare, most steps take the playbook's.
    pub env: IndexMap<String, Template>,
    pub cwd: Option<Template>,
    /// A manual step's answers, in the order written (empty for other steps).
    pub inputs: IndexMap<String, Input>,
    pub expect: Expect,
    pub verify: Vec<Check>,
    pub environments: Option<Vec<String>>,
    /// `for_each`: one instance per item.
    pub for_each: Option<ForEach>,
    /// For `for_each`: at most this many instances at once (`None`: the run's limit only).
    pub max_parallel: Option<usize>,
}

/// What a step without any of [`StepMore`] reads: the defaults.
static NO_MORE: LazyLock<StepMore> = LazyLock::new(StepMore::default);

impl StepMore {
    /// Whether this is all defaults, so that a step can hold nothing instead.
    fn is_empty(&self) -> bool {
        // Spelled out field by field, so that a new field cannot be forgotten here.
        let Self {
            vars,
            secret_outputs,
            on,
            confirm,
            confirm_rule,
            confirm_timeout,
            env,
            cwd,
            inputs,
            expect,
            verify,
            environments,
            for_each,
            max_parallel,
        } = self;
        vars.is_empty()
            && secret_outputs.is_empty()
            && on.is_none()
            && confirm.is_none()
            && *confirm_rule == ConfirmRule::default()
            && confirm_timeout.is_none()
            && env.is_empty()
            && cwd.is_none()
            && inputs.is_empty()
            && expect.is_default()
            && verify.is_empty()
            && environments.is_none()
            && for_each.is_none()
            && max_parallel.is_none()
    }

    /// What a step holds: nothing when this is all defaults.
    pub(crate) fn shared(self) -> Option<Arc<Self>> {
        (!self.is_empty()).then(|| Arc::new(self))
    }
}

impl Step {
    /// The default `timeout` of a `run` step.
    pub const DEFAULT_RUN_TIMEOUT: HumanDuration = HumanDuration::from_millis(600_000);
    /// The most items a `for_each` may have.
    pub const MAX_ITEMS: usize = 1000;

    /// The parts few steps have, the defaults when this one has none of them.
    #[must_use]
    pub fn more(&self) -> &StepMore {
        self.more.as_deref().unwrap_or(&NO_MORE)
    }

    /// A `playbook` step's values for the nested playbook's vars, by name.
    #[must_use]
    pub fn vars(&self) -> &IndexMap<String, Template> {
        &self.more().vars
    }

    /// The outputs declared `secret = true`.
    #[must_use]
    pub fn secret_outputs(&self) -> &[String] {
        &self.more().secret_outputs
    }

    /// `on` of a `run` step: the host its command (and rollback) runs on; `None`: here.
    #[must_use]
    pub fn on(&self) -> Option<&On> {
        self.more().on.as_ref()
    }

    #[must_use]
    pub fn confirm(&self) -> Option<&Template> {
        self.more().confirm.as_ref()
    }

    /// Who must answer `confirm`.
    #[must_use]
    pub fn confirm_rule(&self) -> ConfirmRule {
        self.more().confirm_rule
    }

    /// `confirm_timeout`: `confirm` is declined when nobody answered within it.
    #[must_use]
    pub fn confirm_timeout(&self) -> Option<HumanDuration> {
        self.more().confirm_timeout
    }

    /// The step's own `env`, over the playbook's.
    #[must_use]
    pub fn env(&self) -> &IndexMap<String, Template> {
        &self.more().env
    }

    #[must_use]
    pub fn cwd(&self) -> Option<&Template> {
        self.more().cwd.as_ref()
    }

    /// A manual step's answers, in the order written (empty for other steps).
    #[must_use]
    pub fn inputs(&self) -> &IndexMap<String, Input> {
        &self.more().inputs
    }

    /// What a successful step looks like.
    #[must_use]
    pub fn expect(&self) -> &Expect {
        &self.more().expect
    }

    #[must_use]
    pub fn verify(&self) -> &[Check] {
        &self.more().verify
    }

    /// `environments`: where the step may run; `None`: wherever the playbook does.
    #[must_use]
    pub fn environments(&self) -> Option<&[String]> {
        self.more().environments.as_deref()
    }

    /// `for_each`: one instance per item.
    #[must_use]
    pub fn for_each(&self) -> Option<&ForEach> {
        self.more().for_each.as_ref()
    }

    /// For `for_each`: at most this many instances at once (`None`: the run's limit only).
    #[must_use]
    pub fn max_parallel(&self) -> Option<usize> {
        self.more().max_parallel
    }

    /// The instance this step is, if it is one.
    #[must_use]
    pub fn instance(&self) -> Option<&Instance> {
        match &self.expansion {
            Expansion::Instance(i) => Some(i),
            Expansion::Single | Expansion::Group { .. } => None,
        }
    }

    /// Where the step's command (or its `check`'s command probe) runs, in words for `plan`,
    /// `show` and `diff`: the host's name, each instance's own host for `on = [..]` (all of
    /// them, for the step that stands for its instances), or `on` as written; `None`: here.
    #[must_use]
    pub fn host_label(&self) -> Option<String> {
        let on = self.on().or(match &self.action {
            Action::Check(c) => match &c.probe {
                Probe::Command(p) => p.on.as_ref(),
                _ => None,
            },
            _ => None,
        })?;
        let each = matches!(on, On::Template(t) if t.source().trim() == "{{item}}");
        if each {
            if let Some(serde_json::Value::String(host)) = self.instance().map(|i| &i.item) {
                return Some(host.clone());
            }
            if let Some(ForEachSource::Items(items)) = self.for_each().map(|f| &f.source)
                && items.iter().all(serde_json::Value::is_string)
            {
                let hosts: Vec<&str> = items.iter().filter_map(serde_json::Value::as_str).collect();
                return Some(hosts.join(", "));
            }
        }
        Some(on.source().to_owned())
    }

    /// Whether this step stands for the instances of a `for_each` (and runs nothing itself).
    #[must_use]
    pub fn is_group(&self) -> bool {
        matches!(self.expansion, Expansion::Group { .. })
    }

    #[must_use]
    pub fn display_title(&self) -> &str {
        self.title.as_deref().unwrap_or(&self.id)
    }

    /// Every step this one waits for: its `needs`, then its `after`.
    pub fn waits_for(&self) -> impl Iterator<Item = usize> + '_ {
        self.needs.iter().chain(&self.after).copied()
    }

    /// Whether this step runs in `env` (`None`: no `--env` given, so every step runs).
    #[must_use]
    pub fn runs_in(&self, env: Option<&str>) -> bool {
        match (self.environments(), env) {
            (Some(allowed), Some(env)) => allowed.iter().any(|e| e == env),
            _ => true,
        }
    }
}

/// A step's `for_each`.
#[derive(Debug, Clone)]
pub struct ForEach {
    /// The source as written (the template, or the items as JSON): two steps with the same text
    /// form item-wise chains.
    pub text: String,
    pub source: ForEachSource,
    /// Where it is written, for the errors of a list that turns out too long.
    pub span: Span,
}

impl ForEach {
    /// Why a list of items cannot be a `for_each`: too many, or two items with the same key.
    ///
    /// # Errors
    /// The problem in words, after "`for_each` of step `x`".
    pub fn check_items(items: &[serde_json::Value]) -> Result<(), String> {
        if items.len() > Step::MAX_ITEMS {
            return Err(format!(
                "has {} items, more than the {} a step may have",
                items.len(),
                Step::MAX_ITEMS
            ));
        }
        let mut seen: std::collections::HashMap<String, usize> =
            std::collections::HashMap::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let key = Instance::key_of(item, i);
            if let Some(first) = seen.insert(key.clone(), i) {
                return Err(format!(
                    "has item {key:?} twice (items {} and {}): each instance is named by its item",
                    first + 1,
                    i + 1
                ));
            }
        }
        Ok(())
    }
}

/// Where the items of a `for_each` come from.
#[derive(Debug, Clone)]
pub enum ForEachSource {
    /// Written out in the playbook.
    Items(Vec<serde_json::Value>),
    /// A template naming only vars and literals: the plan expands it.
    Vars(Template),
    /// A template naming step outputs (or anything known only during the run): expanded when
    /// the step is ready to start.
    Dynamic(Template),
}

/// What the plan made of a step's `for_each`.
#[derive(Debug, Clone, Default)]
pub enum Expansion {
    /// An ordinary step (no `for_each`).
    #[default]
    Single,
    /// The step itself, standing for its instances: it ends once they all have, with their
    /// combined status and outputs. `dynamic`: its items are known only when it is ready.
    Group { dynamic: bool },
    /// One instance `ID[KEY]` of a `for_each` step.
    Instance(std::sync::Arc<Instance>),
}

/// One item of a `for_each` step.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    /// The `for_each` step's id.
    pub of: String,
    /// `ID[KEY]`'s KEY: the item when it is a plain string or number, else its index.
    pub key: String,
    /// 0-based, in item order.
    pub index: usize,
    pub item: serde_json::Value,
    /// Item-wise needs: `(A, A[KEY])` for each step `A` this one needs with the same
    /// `for_each`, whose values it sees as `steps.A`.
    pub partners: Vec<(String, String)>,
}

impl Instance {
    /// The KEY of item `index`: the item itself when it is a string or number of
    /// `[A-Za-z0-9_.-]+`, else the index.
    #[must_use]
    pub fn key_of(item: &serde_json::Value, index: usize) -> String {
        let text = match item {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Number(n) => n.to_string(),
            _ => return index.to_string(),
        };
        let plain = !text.is_empty()
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
        if plain { text } else { index.to_string() }
    }

    /// `ID[KEY]`.
    #[must_use]
    pub fn id(of: &str, key: &str) -> String {
        format!("{of}[{key}]")
    }

    /// The `for_each` step an instance's name `ID[KEY]` belongs to (`ID`); `None` for any
    /// other name, a nested one (`ID[KEY]/child`) included. Step ids cannot hold `[`, so the
    /// name alone says it.
    #[must_use]
    pub fn of_name(name: &str) -> Option<&str> {
        let open = name.find('[')?;
        (name.ends_with(']') && !name.contains('/')).then(|| &name[..open])
    }

    /// A step name with its instance keys left out: `restore[n8n]/verify` → `restore/verify`.
    #[must_use]
    pub fn without_keys(name: &str) -> std::borrow::Cow<'_, str> {
        if !name.contains('[') {
            return std::borrow::Cow::Borrowed(name);
        }
        let mut out = String::with_capacity(name.len());
        let mut depth = 0usize;
        for c in name.chars() {
            match c {
                '[' => depth += 1,
                ']' if depth > 0 => depth -= 1,
                _ if depth == 0 => out.push(c),
                _ => {}
            }
        }
        std::borrow::Cow::Owned(out)
    }
}

/// What a step does.
#[derive(Debug, Clone)]
pub enum Action {
    Run(Template),
    Http(Box<HttpProbe>),
    Check(Box<Check>),
    Manual(Template),
    Sleep(HumanDuration),
    Notify(Box<Notice>),
    Playbook(Box<PlaybookRef>),
}

/// `[hosts.NAME]`: a remote host, reached with the system `ssh` client. Every value is a
/// template (vars and env), rendered when the run first connects.
#[derive(Debug, Clone)]
pub struct Host {
    /// `[user@]host[:port]`, or a `Host` alias of the ssh configuration.
    pub ssh: Template,
    pub identity: Option<Template>,
    pub known_hosts: Option<Template>,
}

/// Where a command runs: a host of `[hosts]` named as written, or a template whose rendering
/// must name one.
#[derive(Debug, Clone)]
pub enum On {
    Host(String),
    Template(Template),
}

impl On {
    /// As written: the host name, or the template's source.
    #[must_use]
    pub fn source(&self) -> &str {
        match self {
            Self::Host(name) => name,
            Self::Template(t) => t.source(),
        }
    }
}

/// A `notify` step's message: its text and its labelled fields, in order, all templates.
#[derive(Debug, Clone)]
pub struct Notice {
    pub text: Template,
    pub fields: IndexMap<String, Template>,
}

impl Notice {
    /// The most fields a message may have: what a Slack section shows.
    pub const MAX_FIELDS: usize = 10;
}

impl Action {
    /// The action key as written in the playbook.
    #[must_use]
    pub fn key(&self) -> &'static str {
        match self {
            Self::Run(_) => "run",
            Self::Http(_) => "http",
            Self::Check(_) => "check",
            Self::Manual(_) => "manual",
            Self::Sleep(_) => "sleep",
            Self::Notify(_) => "notify",
            Self::Playbook(_) => "playbook",
        }
    }

    /// A one-line summary: the command, URL, text, duration or playbook.
    #[must_use]
    pub fn summary(&self) -> String {
        match self {
            Self::Run(t) | Self::Manual(t) => t.source().to_owned(),
            Self::Notify(n) => n.text.source().to_owned(),
            Self::Http(h) => format!("{} {}", h.method, h.url.source()),
            Self::Check(c) => format!("{} {}", c.probe.kind(), c.probe.target()),
            Self::Sleep(d) => d.to_string(),
            Self::Playbook(p) => p.to_string(),
        }
    }
}

/// The action keys, in the order the format lists them.
pub const ACTION_KEYS: [&str; 7] = [
    "run", "http", "check", "manual", "sleep", "notify", "playbook",
];

/// `playbook = "name@req"`.
#[derive(Debug, Clone)]
pub struct PlaybookRef {
    pub name: String,
    pub req: VersionReq,
    /// Where the reference is written, for errors when it cannot be resolved.
    pub(crate) at: (usize, usize),
}

impl std::fmt::Display for PlaybookRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.req == VersionReq::STAR {
            f.write_str(&self.name)
        } else {
            write!(f, "{}@{}", self.name, self.req)
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnFailure {
    #[default]
    Abort,
    Continue,
    Rollback,
}

impl OnFailure {
    pub const NAMES: [&'static str; 3] = ["abort", "continue", "rollback"];

    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Abort => "abort",
            Self::Continue => "continue",
            Self::Rollback => "rollback",
        }
    }
}

/// A step's `outputs`, in the order written, each name once: a handful at most, so a list
/// searched in order. An `IndexMap` was three allocations and 124 bytes for one output, and
/// 72 bytes in every step without any (#18).
#[derive(Debug, Clone, Default)]
pub struct Outputs(Box<[(Box<str>, OutputSource)]>);

impl Outputs {
    /// The source of output `name`.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&OutputSource> {
        self.0.iter().find(|(n, _)| **n == *name).map(|(_, s)| s)
    }

    #[must_use]
    pub fn contains_key(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// The names, in the order written.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(n, _)| &**n)
    }

    /// Name and source, in the order written.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &OutputSource)> {
        self.0.iter().map(|(n, s)| (&**n, s))
    }

    /// The name of output `i`.
    #[must_use]
    pub fn key(&self, i: usize) -> Option<&str> {
        self.0.get(i).map(|(n, _)| &**n)
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The outputs in the order given; a name given twice keeps its first place and its last
/// source, as a map would.
impl FromIterator<(String, OutputSource)> for Outputs {
    fn from_iter<I: IntoIterator<Item = (String, OutputSource)>>(iter: I) -> Self {
        let mut list: Vec<(Box<str>, OutputSource)> = Vec::new();
        for (name, source) in iter {
            match list.iter_mut().find(|(n, _)| **n == *name) {
                Some(entry) => entry.1 = source,
                None => list.push((name.into_boxed_str(), source)),
            }
        }
        Self(list.into_boxed_slice())
    }
}

impl<'a> IntoIterator for &'a Outputs {
    type Item = (&'a str, &'a OutputSource);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (Box<str>, OutputSource)>,
        fn(&'a (Box<str>, OutputSource)) -> (&'a str, &'a OutputSource),
    >;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(n, s)| (&**n, s))
    }
}

/// Where an output's value comes from.
#[derive(Debug, Clone)]
pub enum OutputSource {
    Stdout,
    StdoutRegex(Regex),
    JsonPointer(String),
}

/// What a successful step looks like.
#[derive(Debug, Clone, Default)]
pub struct Expect {
    pub exit_code: i32,
    pub stdout_contains: Option<Template>,
    pub stdout_matches: Option<Regex>,
    pub stderr_matches: Option<Regex>,
}

impl Expect {
    /// Whether this is what a step without `expect` gets: exit code 0, nothing else.
    #[must_use]
    pub fn is_default(&self) -> bool {
        let Self {
            exit_code,
            stdout_contains,
            stdout_matches,
            stderr_matches,
        } = self;
        *exit_code == 0
            && stdout_contains.is_none()
            && stdout_matches.is_none()
            && stderr_matches.is_none()
    }
}

/// A playbook file that was found but is not necessarily valid: for `list` and lookups.
#[derive(Debug, Clone)]
pub struct Found {
    pub path: PathBuf,
    pub name: String,
    pub version: Version,
}

#[cfg(test)]
mod tests {
    use super::{Step, StepMore};

    // See: #18. A playbook of 100,000 steps holds 100,000 of them through validate, plan, run
    // and report: what few steps have lives in `StepMore`, behind one optional Arc. A new field
    // that most steps leave empty belongs there, not here; raise this bound only for one most
    // steps have.
    #[test]
    fn a_step_stays_small() {
        assert!(
            size_of::<Step>() <= 240,
            "a Step is {} bytes (StepMore {})",
            size_of::<Step>(),
            size_of::<StepMore>()
        );
    }
}
