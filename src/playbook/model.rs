//! The validated playbook. Everything here has been checked: ids exist, the graph has no cycle,
//! durations parse, regexes compile, templates parse and name only what can exist.

use std::path::PathBuf;
use std::sync::Arc;

use indexmap::IndexMap;
use regex::Regex;
use semver::Version;

use crate::playbook::decode::Span;
use crate::playbook::diagnostic::SourceFile;
use crate::playbook::duration::HumanDuration;
use crate::playbook::schedule::CronSchedule;
use crate::playbook::size::ByteSize;
use crate::playbook::template::{JsonTemplate, Template};

mod step;

pub use step::{
    ACTION_KEYS, Action, Expansion, Expect, ForEach, ForEachSource, Instance, Notice, On,
    OnFailure, OutputSource, Outputs, PlaybookRef, Step, StepMore,
};

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

/// `[hosts.NAME]`: a remote host, reached with the system `ssh` client. Every value is a
/// template (vars and env), rendered when the run first connects.
#[derive(Debug, Clone)]
pub struct Host {
    /// `[user@]host[:port]`, or a `Host` alias of the ssh configuration.
    pub ssh: Template,
    pub identity: Option<Template>,
    pub known_hosts: Option<Template>,
}

/// A playbook file that was found but is not necessarily valid: for `list` and lookups.
#[derive(Debug, Clone)]
pub struct Found {
    pub path: PathBuf,
    pub name: String,
    pub version: Version,
}
