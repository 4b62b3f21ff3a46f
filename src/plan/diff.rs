//! What changed between two versions of a playbook, for the reviewer of the new one: objectives,
//! planned RTO and critical path, steps added, removed and changed field by field, vars, `[env]`,
//! checks, notifications and report settings. Pure: two validated playbooks in, a
//! [`PlaybookDiff`] out. Parts are compared as named text fields (template sources, regex
//! sources, `Action::summary()`, exact durations), so what differs is exactly what reads
//! differently, and steps are matched by id, so moving one is not a change.

use std::cmp::Ordering;
use std::sync::Arc;

use serde::Serialize;

use crate::plan::critical_path::Plan;
use crate::playbook::duration::{HumanDuration, format_human};
use crate::playbook::model::{
    Action, Check, HttpBody, HttpProbe, IncludeLogs, OutputSource, Playbook, Probe, Step, VarValue,
};
use crate::text::count;

/// Everything a reviewer needs to approve a new version of a playbook.
#[derive(Debug, Clone, Serialize)]
pub struct PlaybookDiff {
    pub old: Side,
    pub new: Side,
    /// The two files have the same bytes.
    pub identical: bool,
    pub warnings: Vec<Warning>,
    /// `name`, `title`, `description`, `owner`, `tags`.
    pub playbook: Vec<FieldChange>,
    /// `rto`, `rpo`, `rto_clock`, `recovery_point`, `drill_every`, `schedule`, `environments`, `secrets`, `lock`.
    pub objectives: Vec<FieldChange>,
    pub planned_rto: PlannedRto,
    pub steps: Changes<StepEntry>,
    /// By var name: `before` absent when added, `after` absent when removed.
    pub vars: Vec<FieldChange>,
    /// By variable name, like `vars`.
    pub env: Vec<FieldChange>,
    /// `NAME.ssh`, `NAME.identity`, `NAME.known_hosts` of `[hosts]`.
    pub hosts: Vec<FieldChange>,
    pub checks: Changes<CheckEntry>,
    /// `slack.*` and `webhook.*`.
    pub notify: Vec<FieldChange>,
    /// `signoff`, `title`, `include_logs`.
    pub report: Vec<FieldChange>,
    /// The one-line summary: `3 steps changed, 1 added, 0 removed; planned RTO 21m → 25m (+4m)`.
    pub summary: String,
}

/// One of the two playbooks compared.
#[derive(Debug, Clone, Serialize)]
pub struct Side {
    pub name: String,
    pub version: String,
    pub path: String,
    pub sha256: String,
}

impl Side {
    fn of(p: &Playbook) -> Self {
        Self {
            name: p.meta.name.clone(),
            version: p.meta.version.to_string(),
            path: p.path().display().to_string(),
            sha256: p.sha256.clone(),
        }
    }

    /// `name@version`.
    #[must_use]
    pub fn label(&self) -> String {
        format!("{}@{}", self.name, self.version)
    }

    /// The first 12 hex digits of the sha256, as `show` prints it.
    #[must_use]
    pub fn sha256_prefix(&self) -> &str {
        self.sha256.get(..12).unwrap_or(&self.sha256)
    }
}

/// Something the reviewer should not miss.
#[derive(Debug, Clone, Serialize)]
pub struct Warning {
    pub kind: WarningKind,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WarningKind {
    /// Same version, different bytes: the format says to bump it on every change.
    VersionNotBumped,
    /// The new version is lower than the old one.
    VersionWentBackwards,
    /// The two files are not versions of the same playbook.
    DifferentPlaybooks,
}

/// The planned RTO (`Plan::new(playbook, None)`) and critical path of each version.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedRto {
    pub before_ms: u64,
    pub after_ms: u64,
    pub delta_ms: i64,
    pub critical_path_before: Vec<String>,
    pub critical_path_after: Vec<String>,
    /// The new version's `rto`, which the new planned RTO is measured against.
    pub objective_ms: Option<u64>,
}

impl PlannedRto {
    #[must_use]
    pub fn critical_path_changed(&self) -> bool {
        self.critical_path_before != self.critical_path_after
    }

    /// Whether the new planned RTO is longer than the new objective.
    #[must_use]
    pub fn exceeds_objective(&self) -> bool {
        self.objective_ms.is_some_and(|o| self.after_ms > o)
    }

    /// `21m → 25m (+4m)`, or `21m (unchanged)`.
    #[must_use]
    pub fn text(&self) -> String {
        let before = format_human(self.before_ms);
        match self.after_ms.cmp(&self.before_ms) {
            Ordering::Equal => format!("{before} (unchanged)"),
            Ordering::Greater => format!(
                "{before} → {} (+{})",
                format_human(self.after_ms),
                format_human(self.after_ms - self.before_ms)
            ),
            Ordering::Less => format!(
                "{before} → {} (-{})",
                format_human(self.after_ms),
                format_human(self.before_ms - self.after_ms)
            ),
        }
    }
}

/// Items matched by id: those only in the new version, only in the old one, and in both but
/// different (in the new version's order).
#[derive(Debug, Clone, Serialize)]
pub struct Changes<T> {
    pub added: Vec<T>,
    pub removed: Vec<T>,
    pub changed: Vec<Changed>,
}

impl<T> Changes<T> {
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }
}

/// A step added or removed.
#[derive(Debug, Clone, Serialize)]
pub struct StepEntry {
    pub id: String,
    pub title: Option<String>,
    /// The action key: `run`, `http`, `check`, `manual`, `sleep`, `notify`, `playbook`.
    pub action: String,
    /// `Action::summary()`: the command, URL, text, duration or playbook, as written.
    pub summary: String,
    pub needs: Vec<String>,
    pub budget_ms: Option<u64>,
}

impl StepEntry {
    fn of(p: &Playbook, s: &Step) -> Self {
        Self {
            id: s.id.to_string(),
            title: s.title.clone(),
            action: s.action.key().to_owned(),
            summary: s.action.summary(),
            needs: s.needs.iter().map(|&d| p.steps[d].id.to_string()).collect(),
            budget_ms: s.budget.map(HumanDuration::as_millis),
        }
    }
}

/// A `[[checks]]` entry added or removed.
#[derive(Debug, Clone, Serialize)]
pub struct CheckEntry {
    pub id: String,
    /// `http`, `tcp`, `command` or `file`.
    pub probe: String,
    /// The URL, address, command or glob, as written.
    pub target: String,
}

impl CheckEntry {
    fn of(c: &Check) -> Self {
        Self {
            id: c.id.clone(),
            probe: c.probe.kind().to_owned(),
            target: c.probe.target().to_owned(),
        }
    }
}

/// A step or check in both versions, with every field that differs.
#[derive(Debug, Clone, Serialize)]
pub struct Changed {
    pub id: String,
    pub fields: Vec<FieldChange>,
}

/// One field before and after; absent (`None`) where the version does not set it.
#[derive(Debug, Clone, Serialize)]
pub struct FieldChange {
    pub field: String,
    pub before: Option<String>,
    pub after: Option<String>,
    /// A line diff, when either value has more than one line.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub lines: Vec<LineEdit>,
}

impl FieldChange {
    fn new(field: &str, before: Option<&String>, after: Option<&String>) -> Self {
        let multi_line = |v: Option<&String>| v.is_some_and(|v| v.contains('\n'));
        let lines = if multi_line(before) || multi_line(after) {
            line_diff(
                before.map_or("", String::as_str),
                after.map_or("", String::as_str),
            )
        } else {
            Vec::new()
        };
        Self {
            field: field.to_owned(),
            before: before.cloned(),
            after: after.cloned(),
            lines,
        }
    }
}

/// One line of a line diff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LineEdit {
    pub op: LineOp,
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LineOp {
    Same,
    Removed,
    Added,
}

impl LineOp {
    /// The prefix of a unified diff: ` `, `-` or `+`.
    #[must_use]
    pub fn prefix(self) -> char {
        match self {
            Self::Same => ' ',
            Self::Removed => '-',
            Self::Added => '+',
        }
    }
}

impl PlaybookDiff {
    /// Compares two validated playbooks.
    #[must_use]
    pub fn new(old: &Arc<Playbook>, new: &Arc<Playbook>) -> Self {
        let (before, after) = (Plan::new(old, None), Plan::new(new, None));
        let path = |plan: &Plan| -> Vec<String> {
            plan.critical_path
                .iter()
                .map(|&i| plan.playbook.steps[i].id.to_string())
                .collect()
        };
        let planned_rto = PlannedRto {
            before_ms: before.planned_rto_ms,
            after_ms: after.planned_rto_ms,
            delta_ms: signed(after.planned_rto_ms) - signed(before.planned_rto_ms),
            critical_path_before: path(&before),
            critical_path_after: path(&after),
            objective_ms: after.rto_objective_ms(),
        };
        let mut diff = Self {
            old: Side::of(old),
            new: Side::of(new),
            identical: old.sha256 == new.sha256,
            warnings: warnings(old, new),
            playbook: compare(&about_fields(old), &about_fields(new)),
            objectives: compare(&objective_fields(old), &objective_fields(new)),
            planned_rto,
            steps: match_by_id(
                &old.steps,
                &new.steps,
                |s| s.id.as_str(),
                |s| StepEntry::of(old, s),
                |s| StepEntry::of(new, s),
                |a, b| compare(&step_fields(old, a), &step_fields(new, b)),
            ),
            vars: compare(&var_fields(old), &var_fields(new)),
            env: compare(&template_map(&old.env, ""), &template_map(&new.env, "")),
            hosts: compare(&host_fields(old), &host_fields(new)),
            checks: match_by_id(
                &old.checks,
                &new.checks,
                |c| &c.id,
                CheckEntry::of,
                CheckEntry::of,
                |a, b| compare(&check_fields(a, ""), &check_fields(b, "")),
            ),
            notify: compare(&notify_fields(old), &notify_fields(new)),
            report: compare(&report_fields(old), &report_fields(new)),
            summary: String::new(),
        };
        diff.summary = diff.summary_line();
        diff
    }

    /// Whether anything but the version (or comments and formatting) differs. The planned RTO
    /// follows from what is compared; the critical path alone is no change, because a tie
    /// between equally long paths goes to the first in file order, and moving a step is not a
    /// change.
    #[must_use]
    pub fn has_changes(&self) -> bool {
        !(self.playbook.is_empty()
            && self.objectives.is_empty()
            && self.steps.is_empty()
            && self.vars.is_empty()
            && self.env.is_empty()
            && self.hosts.is_empty()
            && self.checks.is_empty()
            && self.notify.is_empty()
            && self.report.is_empty())
    }

    fn summary_line(&self) -> String {
        if self.identical {
            return "no differences".to_owned();
        }
        if !self.has_changes() {
            return if self.old.version == self.new.version {
                "no differences apart from comments or formatting".to_owned()
            } else {
                format!(
                    "no differences apart from the version ({} → {})",
                    self.old.version, self.new.version
                )
            };
        }
        let mut line = format!(
            "{} changed, {} added, {} removed; planned RTO {}",
            count(self.steps.changed.len(), "step"),
            self.steps.added.len(),
            self.steps.removed.len(),
            self.planned_rto.text()
        );
        let others: Vec<&str> = [
            ("playbook", self.playbook.is_empty()),
            ("objectives", self.objectives.is_empty()),
            ("vars", self.vars.is_empty()),
            ("env", self.env.is_empty()),
            ("hosts", self.hosts.is_empty()),
            ("checks", self.checks.is_empty()),
            ("notify", self.notify.is_empty()),
            ("report", self.report.is_empty()),
        ]
        .into_iter()
        .filter(|(_, empty)| !empty)
        .map(|(name, _)| name)
        .collect();
        if !others.is_empty() {
            line.push_str("; also changed: ");
            line.push_str(&others.join(", "));
        }
        line
    }
}

fn signed(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}

fn warnings(old: &Playbook, new: &Playbook) -> Vec<Warning> {
    let mut out = Vec::new();
    let (o, n) = (&old.meta, &new.meta);
    if o.name != n.name {
        out.push(Warning {
            kind: WarningKind::DifferentPlaybooks,
            message: format!(
                "these are two different playbooks: `{}` and `{}`",
                o.name, n.name
            ),
        });
        // Versions of two different playbooks say nothing about each other.
        return out;
    }
    match n.version.cmp(&o.version) {
        Ordering::Equal if old.sha256 != new.sha256 => out.push(Warning {
            kind: WarningKind::VersionNotBumped,
            message: format!(
                "version {} was not bumped but the file changed; bump `version` on every change",
                n.version
            ),
        }),
        Ordering::Less => out.push(Warning {
            kind: WarningKind::VersionWentBackwards,
            message: format!("version went backwards: {} → {}", o.version, n.version),
        }),
        _ => {}
    }
    out
}

/// Splits two lists into added, removed and changed by id; order does not matter.
fn match_by_id<I, T>(
    old: &[I],
    new: &[I],
    id: impl Fn(&I) -> &str,
    entry_old: impl Fn(&I) -> T,
    entry_new: impl Fn(&I) -> T,
    fields: impl Fn(&I, &I) -> Vec<FieldChange>,
) -> Changes<T> {
    let find = |list: &[I], key: &str| list.iter().position(|x| id(x) == key);
    let mut changes = Changes {
        added: Vec::new(),
        removed: Vec::new(),
        changed: Vec::new(),
    };
    for n in new {
        match find(old, id(n)) {
            None => changes.added.push(entry_new(n)),
            Some(o) => {
                let fields = fields(&old[o], n);
                if !fields.is_empty() {
                    changes.changed.push(Changed {
                        id: id(n).to_owned(),
                        fields,
                    });
                }
            }
        }
    }
    changes.removed = old
        .iter()
        .filter(|o| find(new, id(o)).is_none())
        .map(entry_old)
        .collect();
    changes
}

/// A part of a playbook as named text fields, in the order a reviewer reads them; `None` where
/// the field is not set.
#[derive(Debug, Default)]
struct Fields(Vec<(String, Option<String>)>);

impl Fields {
    fn put(&mut self, name: impl Into<String>, value: Option<String>) {
        self.0.push((name.into(), value));
    }

    fn text(&mut self, name: impl Into<String>, value: &impl ToString) {
        self.put(name, Some(value.to_string()));
    }

    /// A template, regex or duration as written (`Display` gives the source), when set.
    fn opt(&mut self, name: impl Into<String>, value: Option<&impl ToString>) {
        self.put(name, value.map(ToString::to_string));
    }

    fn list(&mut self, name: &str, values: &[String]) {
        self.put(name, (!values.is_empty()).then(|| values.join(", ")));
    }

    fn get(&self, name: &str) -> Option<&String> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| v.as_ref())
    }

    /// Every field that is set, as `name value`, for a one-line description; a flag that is
    /// off is left out.
    fn one_line(&self) -> String {
        self.0
            .iter()
            .filter_map(|(k, v)| {
                v.as_ref()
                    .filter(|v| *v != "false")
                    .map(|v| format!("{k} {v}"))
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The fields that differ, in the new version's order, with fields only in the old version
/// after the field that preceded them there.
fn compare(old: &Fields, new: &Fields) -> Vec<FieldChange> {
    let mut names: Vec<&str> = new.0.iter().map(|(k, _)| k.as_str()).collect();
    let mut at = 0;
    for (k, _) in &old.0 {
        if let Some(p) = names.iter().position(|n| n == k) {
            at = p + 1;
        } else {
            names.insert(at, k);
            at += 1;
        }
    }
    names
        .into_iter()
        .filter_map(|k| {
            let (before, after) = (old.get(k), new.get(k));
            (before != after).then(|| FieldChange::new(k, before, after))
        })
        .collect()
}

fn about_fields(p: &Playbook) -> Fields {
    let m = &p.meta;
    let mut f = Fields::default();
    f.text("name", &&m.name);
    f.put("title", m.title.clone());
    f.put("description", m.description.clone());
    f.put("owner", m.owner.clone());
    f.list("tags", &m.tags);
    f
}

fn objective_fields(p: &Playbook) -> Fields {
    let m = &p.meta;
    let mut f = Fields::default();
    f.put("rto", m.rto.map(|o| o.duration.to_string()));
    f.put("rpo", m.rpo.map(|o| o.duration.to_string()));
    f.put(
        "rto_clock",
        m.rto_clock
            .map(|c| format!("start {}, stop {}", p.steps[c.start].id, p.steps[c.stop].id)),
    );
    f.opt("recovery_point", m.recovery_point.as_ref());
    f.opt("drill_every", m.drill_every.as_ref());
    f.opt("schedule", m.schedule.as_ref());
    f.text(
        "environments",
        &m.environments
            .as_ref()
            .map_or_else(|| "any".to_owned(), |e| e.join(", ")),
    );
    f.list("secrets", &m.secrets);
    f.text("lock", &format!("{:?}", m.lock).to_lowercase());
    f
}

/// A var's value with its type visible: `"3"` is a string, `3` an integer, `3.0` a float.
fn var_text(v: &VarValue) -> String {
    match v {
        VarValue::Float(x) => format!("{x:?}"),
        other => other.to_string(),
    }
}

fn var_fields(p: &Playbook) -> Fields {
    let mut f = Fields::default();
    for (k, v) in &p.vars {
        f.text(k, &var_text(v));
    }
    f
}

fn template_map(
    map: &indexmap::IndexMap<String, crate::playbook::template::Template>,
    prefix: &str,
) -> Fields {
    let mut f = Fields::default();
    for (k, v) in map {
        f.text(format!("{prefix}{k}"), &v.source());
    }
    f
}

fn host_fields(p: &Playbook) -> Fields {
    let mut f = Fields::default();
    for (name, h) in &p.hosts {
        f.text(format!("{name}.ssh"), &h.ssh.source());
        f.opt(format!("{name}.identity"), h.identity.as_ref());
        f.opt(format!("{name}.known_hosts"), h.known_hosts.as_ref());
    }
    f
}

fn notify_fields(p: &Playbook) -> Fields {
    let mut f = Fields::default();
    if let Some(s) = &p.notify.slack {
        f.text("slack.webhook", &s.webhook.source());
        f.put("slack.channel", s.channel.clone());
        f.list("slack.events", &s.events);
        f.put("slack.mention", s.mention.clone());
    }
    if let Some(w) = &p.notify.webhook {
        f.text("webhook.url", &w.url.source());
        f.list("webhook.events", &w.events);
        f.0.extend(template_map(&w.headers, "webhook.headers.").0);
    }
    f
}

fn report_fields(p: &Playbook) -> Fields {
    let r = &p.report;
    let mut f = Fields::default();
    f.list("signoff", &r.signoff);
    f.opt("title", r.title.as_ref());
    f.opt("publish", r.publish.as_ref());
    f.text(
        "include_logs",
        &match r.include_logs {
            IncludeLogs::Failures => "failures",
            IncludeLogs::All => "all",
            IncludeLogs::None => "none",
        },
    );
    f
}

/// A health check's fields; `prefix` names them inside a step (`check.`).
fn check_fields(c: &Check, prefix: &str) -> Fields {
    let mut f = Fields::default();
    if prefix.is_empty() {
        f.put("title", c.title.clone());
        f.text(c.probe.kind(), &c.probe.target());
    }
    probe_fields(&mut f, &c.probe, prefix);
    f.text(format!("{prefix}interval"), &c.interval);
    f.text(format!("{prefix}timeout"), &c.timeout);
    f.text(format!("{prefix}attempt_timeout"), &c.attempt_timeout);
    f
}

/// What a probe checks besides its target.
fn probe_fields(f: &mut Fields, probe: &Probe, prefix: &str) {
    let name = |key: &str| format!("{prefix}{key}");
    match probe {
        Probe::Http(h) => http_fields(f, h, prefix),
        Probe::Tcp(_) => {}
        Probe::Command(c) => {
            f.put(name("on"), c.on.as_ref().map(|on| on.source().to_owned()));
            f.opt(name("stdout_contains"), c.stdout_contains.as_ref());
            f.opt(name("stdout_matches"), c.stdout_matches.as_ref());
        }
        Probe::File(p) => {
            f.opt(name("max_age"), p.max_age.as_ref());
            f.opt(name("min_size"), p.min_size.as_ref());
        }
        Probe::History(h) => {
            f.text(name("since"), &h.since);
            f.text(name("min_success_rate"), &h.min_success_rate);
            f.text(name("min_runs"), &h.min_runs);
        }
    }
}

/// What an HTTP request sends and expects besides its URL.
fn http_fields(f: &mut Fields, h: &HttpProbe, prefix: &str) {
    let name = |key: &str| format!("{prefix}{key}");
    f.0.extend(template_map(&h.headers, &name("headers.")).0);
    f.put(
        name("body"),
        h.body.as_ref().map(|b| match b {
            HttpBody::Text(t) => t.source().to_owned(),
            HttpBody::Json(j) => format!("json {j}"),
        }),
    );
    f.text(
        name("status"),
        &h.status.map_or_else(|| "2xx".to_owned(), |s| s.to_string()),
    );
    f.opt(name("body_contains"), h.body_contains.as_ref());
    f.opt(name("body_matches"), h.body_matches.as_ref());
    f.put(name("json_pointer"), h.json_pointer.clone());
    f.opt(name("equals"), h.equals.as_ref());
    f.text(name("insecure_tls"), &h.insecure_tls);
}

fn step_fields(p: &Playbook, s: &Step) -> Fields {
    let mut f = Fields::default();
    f.put("title", s.title.clone());
    // Sorted: the order `needs` are written in does not change what runs when.
    let mut needs: Vec<String> = s.needs.iter().map(|&d| p.steps[d].id.to_string()).collect();
    needs.sort();
    f.list("needs", &needs);
    f.put("for_each", s.for_each().map(|e| e.text.clone()));
    f.put("max_parallel", s.max_parallel().map(|m| m.to_string()));
    f.opt("when", s.when.as_ref());
    f.text(s.action.key(), &s.action.summary());
    if matches!(s.action, Action::Run(_)) {
        f.put("on", s.host_label());
    }
    match &s.action {
        Action::Http(h) => http_fields(&mut f, h, "http."),
        Action::Check(c) => f.0.extend(check_fields(c, "check.").0),
        Action::Notify(n) => f.0.extend(template_map(&n.fields, "fields.").0),
        Action::Run(_) | Action::Manual(_) | Action::Sleep(_) | Action::Playbook(_) => {}
    }
    f.opt("timeout", s.timeout.as_ref());
    f.text("retries", &s.retries);
    f.text("retry_delay", &s.retry_delay);
    f.text("backoff", &s.backoff);
    f.opt("budget", s.budget.as_ref());
    f.text("on_failure", &s.on_failure.name());
    f.opt("rollback", s.rollback.as_ref());
    f.opt("confirm", s.confirm());
    if s.confirm().is_some() {
        f.text("confirm.approvers", &s.confirm_rule().approvers);
        f.text("confirm.not_commander", &s.confirm_rule().not_commander);
    }
    f.opt("confirm_timeout", s.confirm_timeout().as_ref());
    f.0.extend(template_map(s.env(), "env.").0);
    f.opt("cwd", s.cwd());
    for (name, source) in &s.outputs {
        f.text(
            format!("outputs.{name}"),
            &match source {
                OutputSource::Stdout => "stdout".to_owned(),
                OutputSource::StdoutRegex(r) => format!("stdout_regex {}", r.as_str()),
                OutputSource::JsonPointer(ptr) => format!("json_pointer {ptr}"),
            },
        );
    }
    for (name, input) in s.inputs() {
        f.text(format!("inputs.{name}"), &input.describe());
    }
    let e = s.expect();
    f.text("expect.exit_code", &e.exit_code);
    f.opt("expect.stdout_contains", e.stdout_contains.as_ref());
    f.opt("expect.stdout_matches", e.stdout_matches.as_ref());
    f.opt("expect.stderr_matches", e.stderr_matches.as_ref());
    // One line per check, so that a changed check shows as a line diff.
    let verify: Vec<String> = s
        .verify()
        .iter()
        .map(|c| format!("{}: {}", c.id, check_fields(c, "").one_line()))
        .collect();
    f.put("verify", (!verify.is_empty()).then(|| verify.join("\n")));
    f.text(
        "environments",
        &s.environments()
            .map_or_else(|| "all".to_owned(), |e| e.join(", ")),
    );
    f.text("idempotent", &s.idempotent);
    f.text("read_only", &s.read_only);
    f
}

/// The longest-common-subsequence line diff of two texts: unchanged lines, then for each
/// change the removed lines before the added ones.
fn line_diff(before: &str, after: &str) -> Vec<LineEdit> {
    let a: Vec<&str> = before.lines().collect();
    let b: Vec<&str> = after.lines().collect();
    let edit = |op, text: &str| LineEdit {
        op,
        text: text.to_owned(),
    };
    // Commands are short; a pathological pair gets a plain replacement rather than a
    // quadratic table.
    if a.len().saturating_mul(b.len()) > 1_000_000 {
        return a
            .iter()
            .map(|l| edit(LineOp::Removed, l))
            .chain(b.iter().map(|l| edit(LineOp::Added, l)))
            .collect();
    }
    let width = b.len() + 1;
    // lcs[i * width + j]: the length of the longest common subsequence of a[i..] and b[j..].
    let mut lcs = vec![0u32; (a.len() + 1) * width];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i * width + j] = if a[i] == b[j] {
                lcs[(i + 1) * width + j + 1] + 1
            } else {
                lcs[(i + 1) * width + j].max(lcs[i * width + j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::with_capacity(a.len() + b.len());
    while i < a.len() && j < b.len() {
        if a[i] == b[j] {
            out.push(edit(LineOp::Same, a[i]));
            i += 1;
            j += 1;
        } else if lcs[(i + 1) * width + j] >= lcs[i * width + j + 1] {
            out.push(edit(LineOp::Removed, a[i]));
            i += 1;
        } else {
            out.push(edit(LineOp::Added, b[j]));
            j += 1;
        }
    }
    out.extend(a[i..].iter().map(|l| edit(LineOp::Removed, l)));
    out.extend(b[j..].iter().map(|l| edit(LineOp::Added, l)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::playbook::SourceFile;

    fn playbook(version: &str, body: &str) -> Arc<Playbook> {
        let text = format!("[playbook]\nname = \"p\"\nversion = \"{version}\"\n{body}");
        crate::playbook::validate(&SourceFile::new(format!("{version}.toml"), text))
            .expect("valid")
            .playbook
    }

    fn ops(edits: &[LineEdit]) -> String {
        edits
            .iter()
            .map(|e| format!("{}{}", e.op.prefix(), e.text))
            .collect::<Vec<_>>()
            .join("|")
    }

    #[test]
    fn line_diff_keeps_common_lines() {
        assert_eq!(ops(&line_diff("a\nb\nc", "a\nx\nc\nd")), " a|-b|+x| c|+d");
        assert_eq!(ops(&line_diff("", "a")), "+a");
        assert_eq!(ops(&line_diff("a\nb", "")), "-a|-b");
        assert_eq!(ops(&line_diff("a\nb\nc", "b\nc\na")), "-a| b| c|+a");
    }

    #[test]
    fn moving_a_step_or_reordering_needs_is_not_a_change() {
        let steps = |order: [&str; 3]| {
            order
                .iter()
                .map(|s| match *s {
                    "a" => "[[steps]]\nid = \"a\"\nrun = \"true\"\n",
                    "b" => "[[steps]]\nid = \"b\"\nrun = \"true\"\n",
                    _ => "[[steps]]\nid = \"c\"\nneeds = [\"a\", \"b\"]\nrun = \"true\"\n",
                })
                .collect::<String>()
        };
        let old = playbook("1.0.0", &steps(["a", "b", "c"]));
        let new = playbook(
            "1.0.1",
            &steps(["c", "b", "a"]).replace("[\"a\", \"b\"]", "[\"b\", \"a\"]"),
        );
        let diff = PlaybookDiff::new(&old, &new);
        assert!(!diff.has_changes(), "{diff:#?}");
        assert!(diff.warnings.is_empty());
        assert_eq!(
            diff.summary,
            "no differences apart from the version (1.0.0 → 1.0.1)"
        );
    }

    #[test]
    fn fields_only_in_the_old_version_keep_their_place() {
        let old = playbook(
            "1.0.0",
            "[[steps]]\nid = \"a\"\nrun = \"x\"\nbudget = \"1m\"\nrollback = \"undo\"\n",
        );
        let new = playbook(
            "1.1.0",
            "[[steps]]\nid = \"a\"\nmanual = \"x\"\nrollback = \"undo it\"\n",
        );
        let diff = PlaybookDiff::new(&old, &new);
        let fields: Vec<&str> = diff.steps.changed[0]
            .fields
            .iter()
            .map(|f| f.field.as_str())
            .collect();
        assert_eq!(fields, ["run", "manual", "timeout", "budget", "rollback"]);
        assert_eq!(diff.planned_rto.delta_ms, -60_000);
        assert_eq!(
            diff.summary,
            "1 step changed, 0 added, 0 removed; planned RTO 1m → 0s (-1m)"
        );
    }

    #[test]
    fn same_version_with_other_bytes_warns() {
        let old = playbook("1.0.0", "[[steps]]\nid = \"a\"\nrun = \"x\"\n");
        let new = playbook("1.0.0", "[[steps]]\nid = \"a\"\nrun = \"y\"\n");
        let diff = PlaybookDiff::new(&old, &new);
        assert_eq!(diff.warnings.len(), 1);
        assert_eq!(diff.warnings[0].kind, WarningKind::VersionNotBumped);
        let back = PlaybookDiff::new(
            &playbook("1.1.0", "[[steps]]\nid = \"a\"\nrun = \"x\"\n"),
            &old,
        );
        assert_eq!(back.warnings[0].kind, WarningKind::VersionWentBackwards);
    }
}
