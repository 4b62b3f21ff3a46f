//! A step of the validated playbook: what it does ([`Action`]), when and how often, what it
//! yields ([`Outputs`]), and the parts few steps have, out of line ([`StepMore`]).

use std::sync::{Arc, LazyLock};

use indexmap::IndexMap;
use regex::Regex;
use semver::VersionReq;

use crate::playbook::decode::Span;
use crate::playbook::duration::HumanDuration;
use crate::playbook::input::Input;
use crate::playbook::model::{Check, ConfirmRule, HttpProbe, Probe};
use crate::playbook::template::Template;

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
