//! Template references, checked once the step graph is known: `vars.*` must be declared,
//! `steps.<id>` must be a step that has finished before the template is rendered, outputs must
//! be declared, helpers must exist. Also the `rto_clock` order.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

use indexmap::{IndexMap, IndexSet};

use crate::playbook::decode::{Sp, Span};
use crate::playbook::diagnostic::{
    Diagnostic, Diagnostics, SourceFile, Suggester, did_you_mean, some_names,
};
use crate::playbook::graph::{Ancestry, StepGraph};
use crate::playbook::model::{Action, Playbook, Step};
use crate::playbook::raw::{RawPlaybook, RawStep};
use crate::playbook::template::{HELPERS, Usage, ValuePath};
use crate::text::{List, count};

/// When a template is rendered, which decides the steps it may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// Before any step runs (`[env]`, `[[checks]]`, notification settings).
    NoSteps(&'static str),
    /// For step `index`: its ancestors, and itself when rendered after it ran (`rollback`, `verify`).
    Step { index: usize, include_self: bool },
    /// The `for_each` of step `index`: its ancestors, and no `item` yet.
    ForEach { index: usize },
    /// After the run (`recovery_point`, the report title): any step.
    AnyStep,
    /// `[report] publish`: any step, and `report.*`.
    Publish,
}

/// Every "does this step run before that one" question the checks ask of a step template:
/// `(target, step)` for each step value a step's template (or its `for_each`) uses. The RTO
/// clock's adds one.
fn ancestry_questions<'a>(
    uses: &'a [TemplateUse],
    ids: &'a Index<'_>,
) -> impl Iterator<Item = (usize, usize)> + 'a {
    uses.iter()
        .filter_map(|u| match u.scope {
            Scope::Step { index: step, .. } | Scope::ForEach { index: step } => Some((u, step)),
            _ => None,
        })
        .flat_map(move |(u, step)| {
            u.usages.iter().filter_map(move |usage| match usage {
                Usage::Path(p) if p.get(0) == Some("steps") => {
                    ids.get(p.get(1)?).map(|target| (target, step))
                }
                _ => None,
            })
        })
}

/// A template's uses, waiting for the graph.
#[derive(Debug, Clone)]
pub(crate) struct TemplateUse {
    pub(crate) scope: Scope,
    pub(crate) span: Span,
    pub(crate) usages: Box<[Usage]>,
    /// "`run` in step `restore`": most fit in the string itself, without an allocation of their
    /// own (one for each template of a playbook, all kept until the references are checked,
    /// #18).
    pub(crate) what: compact_str::CompactString,
}

/// The fields of `run.*`.
pub const RUN_FIELDS: [&str; 7] = [
    "id",
    "mode",
    "env",
    "started_at",
    "date",
    "commander",
    "dir",
];
/// The fields of `playbook.*`.
pub const PLAYBOOK_FIELDS: [&str; 3] = ["name", "version", "title"];
/// The fields of `report.*`, known to `[report] publish` only.
pub(crate) const REPORT_FIELDS: [&str; 2] = ["path", "json_path"];
/// The fields of `steps.<id>.*`.
pub(crate) const STEP_FIELDS: [&str; 3] = ["outputs", "status", "exit_code"];
const ROOTS: [&str; 5] = ["vars", "env", "steps", "run", "playbook"];

/// Where the step names come from: the raw tables, which may be wrong, or a valid model, which
/// holds the same names (the lean path of `validate` keeps no raw step once it became a model
/// step, #18).
#[derive(Clone, Copy)]
pub(crate) enum Steps<'a> {
    Raw(&'a [Sp<RawStep>]),
    Model(&'a Playbook),
}

/// A step's position by id: the check's own table over the raw ids, or the model's index.
enum Index<'a> {
    Own(HashMap<&'a str, usize>),
    Model(&'a Playbook),
}

impl Index<'_> {
    fn get(&self, id: &str) -> Option<usize> {
        match self {
            Self::Own(index) => index.get(id).copied(),
            Self::Model(playbook) => playbook.step_index(id),
        }
    }
}

/// A table's keys by position, whatever its values: the outputs and inputs of a raw step and of
/// a model step.
trait Keys {
    fn key(&self, i: usize) -> &str;
    fn count(&self) -> usize;
    fn has(&self, key: &str) -> bool;
}

impl<V> Keys for IndexMap<String, V> {
    fn key(&self, i: usize) -> &str {
        self.get_index(i).map_or("", |(k, _)| k.as_str())
    }

    fn count(&self) -> usize {
        self.len()
    }

    fn has(&self, key: &str) -> bool {
        self.contains_key(key)
    }
}

impl Keys for crate::playbook::model::Outputs {
    fn key(&self, i: usize) -> &str {
        crate::playbook::model::Outputs::key(self, i).unwrap_or("")
    }

    fn count(&self) -> usize {
        self.len()
    }

    fn has(&self, key: &str) -> bool {
        self.contains_key(key)
    }
}

/// A step's output names, read from its tables rather than copied into a set per step (#18):
/// its `outputs`, then a manual step's `inputs`, which are its outputs once answered, each name
/// once.
#[derive(Clone, Copy)]
struct Outputs<'a> {
    outputs: Option<&'a dyn Keys>,
    inputs: Option<&'a dyn Keys>,
}

impl<'a> Outputs<'a> {
    fn of_raw(s: &'a RawStep) -> Self {
        Self {
            outputs: s.outputs.as_ref().map(|o| &o.value as &dyn Keys),
            inputs: s.inputs.as_ref().map(|i| &i.value as &dyn Keys),
        }
    }

    fn of_model(s: &'a Step) -> Self {
        Self {
            outputs: Some(&s.outputs),
            inputs: Some(s.inputs()),
        }
    }

    fn iter(self) -> impl Iterator<Item = &'a str> + Clone {
        let keys = |t: &'a dyn Keys| (0..t.count()).map(move |i| t.key(i));
        let written = self.outputs.into_iter().flat_map(keys);
        let answered = self
            .inputs
            .into_iter()
            .flat_map(keys)
            .filter(move |k| !self.outputs.is_some_and(|o| o.has(k)));
        written.chain(answered)
    }

    fn contains(self, name: &str) -> bool {
        self.outputs.is_some_and(|o| o.has(name)) || self.inputs.is_some_and(|i| i.has(name))
    }

    fn len(self) -> usize {
        self.iter().count()
    }
}

struct Checker<'a> {
    file: &'a Arc<SourceFile>,
    /// Declared var names. This and the names below borrow from the tables: copies of every
    /// id and output name were a tenth of `validate`'s peak (#18).
    vars: IndexSet<&'a str>,
    /// Step ids by position (`None` where the id is missing or invalid).
    ids: Vec<Option<&'a str>>,
    /// Position by step id (the first, for a duplicate): one lookup per reference, not a scan.
    index: Index<'a>,
    /// Declared outputs by step position.
    outputs: Vec<Outputs<'a>>,
    /// By step position: a `playbook` step, whose outputs its nested playbook's `[outputs]`
    /// declare (checked by `runbook validate`, which finds it, and when it runs).
    nested: Vec<bool>,
    /// By step position: it has a `for_each`, so its templates see `item` and `item_index`.
    for_each: Vec<bool>,
    /// Only when the step graph is valid.
    ancestry: Option<Ancestry<'a>>,
    diagnostics: Diagnostics,
    /// "Did you mean" over the playbook's names, within one budget.
    suggest: Suggester,
}

/// Checks every template use. Names (vars, steps, outputs, fields, helpers) are checked from
/// the raw tables (`[vars]`, and `steps` unless the model's are given), so they are reported
/// alongside other errors; whether a step runs before the template needs a valid graph, so that
/// is checked only when `playbook` is given.
pub(crate) fn check(
    file: &Arc<SourceFile>,
    raw: &RawPlaybook,
    steps: Steps<'_>,
    model: Option<(&Playbook, &StepGraph)>,
    uses: &[TemplateUse],
) -> Diagnostics {
    let ids: Vec<Option<&str>>;
    let outputs: Vec<Outputs<'_>>;
    let (nested, for_each): (Vec<bool>, Vec<bool>);
    let index = match steps {
        Steps::Raw(raw_steps) => {
            ids = raw_steps
                .iter()
                .map(|s| s.value.id.as_ref().map(|i| i.value.as_str()))
                .collect();
            (nested, for_each) = raw_steps
                .iter()
                .map(|s| (s.value.playbook.is_some(), has_instances(&s.value)))
                .unzip();
            outputs = raw_steps
                .iter()
                .map(|s| Outputs::of_raw(&s.value))
                .collect();
            let mut index = HashMap::with_capacity(ids.len());
            for (i, id) in ids.iter().enumerate() {
                if let Some(id) = id {
                    index.entry(*id).or_insert(i);
                }
            }
            Index::Own(index)
        }
        Steps::Model(playbook) => {
            ids = playbook.steps.iter().map(|s| Some(s.id.as_str())).collect();
            (nested, for_each) = playbook
                .steps
                .iter()
                .map(|s| {
                    (
                        matches!(s.action, Action::Playbook(_)),
                        // `on = [..]` is a `for_each` over the hosts in the model.
                        s.for_each().is_some(),
                    )
                })
                .unzip();
            outputs = playbook.steps.iter().map(Outputs::of_model).collect();
            Index::Model(playbook)
        }
    };
    let vars = raw
        .vars
        .as_ref()
        .map(|v| v.value.keys().map(String::as_str).collect())
        .unwrap_or_default();
    // `after` orders as `needs` does: a step's values exist once it ended.
    let ancestry = model.map(|(playbook, graph)| {
        let clock = playbook.meta.rto_clock.map(|c| (c.start, c.stop));
        Ancestry::new(
            &graph.waits,
            &graph.order.order,
            ancestry_questions(uses, &index).chain(clock),
        )
    });
    let mut checker = Checker {
        file,
        vars,
        ids,
        index,
        outputs,
        nested,
        for_each,
        ancestry,
        diagnostics: Diagnostics::default(),
        suggest: Suggester::default(),
    };
    for u in uses {
        for usage in &u.usages {
            checker.usage(u, usage);
        }
    }
    if let (Some((playbook, _)), Some(ancestry)) = (model, &checker.ancestry)
        && let Some(clock) = playbook.meta.rto_clock
        && clock.start != clock.stop
        && !ancestry.is_ancestor(clock.start, clock.stop)
    {
        let span = raw
            .playbook
            .as_ref()
            .and_then(|m| m.value.rto_clock.as_ref())
            .and_then(|c| c.value.stop.as_ref())
            .map_or(0..0, |s| s.span.clone());
        let (start, stop) = (
            &playbook.steps[clock.start].id,
            &playbook.steps[clock.stop].id,
        );
        checker.error(
            span,
            format!(
                "`rto_clock` stops at `{stop}`, which does not run after `{start}`, where it starts"
            ),
            format!("choose a `stop` step that needs `{start}` (directly or through other steps)"),
        );
    }
    checker.diagnostics
}

impl Checker<'_> {
    fn error(&mut self, span: Span, message: String, help: String) {
        self.diagnostics
            .push(Diagnostic::error(self.file, span, message).with_help(help));
    }

    /// Where `text` is written inside the template's value, else the whole value.
    fn locate(&self, u: &TemplateUse, text: &str) -> Span {
        self.file
            .text
            .get(u.span.clone())
            .and_then(|written| written.find(text))
            .map_or_else(
                || u.span.clone(),
                |i| u.span.start + i..u.span.start + i + text.len(),
            )
    }

    fn usage(&mut self, u: &TemplateUse, usage: &Usage) {
        let path = match usage {
            Usage::Helper(name) => {
                if !HELPERS.contains(&name.as_ref()) {
                    let span = self.locate(u, name);
                    let mut message = format!("unknown helper `{name}` in {}", u.what);
                    if let Some(close) = did_you_mean(name, HELPERS) {
                        let _ = write!(message, ", did you mean `{close}`?");
                    }
                    self.error(
                        span,
                        message,
                        format!("the helpers are {}", List::and_ticked(HELPERS)),
                    );
                }
                return;
            }
            Usage::Arguments {
                helper,
                given,
                takes,
            } => {
                let span = self.locate(u, helper);
                self.error(
                    span,
                    format!(
                        "`{helper}` in {} is given {}, but it takes {takes}",
                        u.what,
                        count(*given, "value")
                    ),
                    format!("write it as {}", example(helper)),
                );
                return;
            }
            Usage::Context(written) => {
                let span = self.locate(u, written);
                self.error(
                    span,
                    format!("`{written}` in {} names no value: only a block such as `{{{{#each}}}}` gives one", u.what),
                    "templates can use `vars.*`, `env.*`, `steps.<id>.*`, `run.*` and `playbook.*`".to_owned(),
                );
                return;
            }
            Usage::Path(path) => path,
        };
        let Some(root) = path.get(0) else {
            return;
        };
        let text = path.joined();
        let span = self.locate(u, text);
        let field = path.get(1);
        if root == "item" || root == "item_index" {
            self.item_path(span, u, root);
            return;
        }
        match (root, field) {
            ("env", _) | (_, None) if ROOTS.contains(&root) => {}
            ("vars", Some(name)) => {
                if !self.vars.contains(name) {
                    let mut message = format!("unknown var `{name}` in {}", u.what);
                    let help = match self.suggest.closest(name, self.vars.iter().copied()) {
                        Some(close) => {
                            let _ = write!(message, ", did you mean `{close}`?");
                            format!("write `vars.{close}`, or declare `{name}` in [vars]")
                        }
                        None => format!("declare it in [vars]: {name} = \"...\""),
                    };
                    self.error(span, message, help);
                }
            }
            ("run", Some(name)) => self.known_field(span, u, "run", name, &RUN_FIELDS),
            ("playbook", Some(name)) => {
                self.known_field(span, u, "playbook", name, &PLAYBOOK_FIELDS);
            }
            ("steps", Some(id)) => self.step_path(span, u, path, id),
            ("report", _) => self.report_path(span, u, field, text),
            _ => {
                // A `for_each` step's templates also have its item.
                let looped = matches!(u.scope, Scope::Step { index, .. } if self.for_each[index]);
                let items: &[&str] = if looped { &["item", "item_index"] } else { &[] };
                let mut message = format!("unknown template value `{text}` in {}", u.what);
                if let Some(close) = did_you_mean(root, ROOTS.iter().chain(items).copied()) {
                    let _ = write!(message, ", did you mean `{close}`?");
                }
                let also = if looped { ", `item`, `item_index`" } else { "" };
                self.error(
                    span,
                    message,
                    format!("templates can use `vars.*`, `env.*`, `steps.<id>.*`, `run.*`{also} and `playbook.*`"),
                );
            }
        }
    }

    /// `item` and `item_index`: only in the templates of a `for_each` step, and not in the
    /// `for_each` itself.
    fn item_path(&mut self, span: Span, u: &TemplateUse, root: &str) {
        match u.scope {
            Scope::Step { index, .. } if self.for_each[index] => {}
            Scope::ForEach { .. } => self.error(
                span,
                format!(
                    "`{root}` in {}: the items are what `for_each` gives, so it has no item yet",
                    u.what
                ),
                "loop over a var or a step's output, e.g. for_each = \"{{vars.databases}}\""
                    .to_owned(),
            ),
            _ => self.error(
                span,
                format!(
                    "`{root}` in {}, but only a step with `for_each` has an item",
                    u.what
                ),
                "add `for_each` to the step, or use `vars.*` or `steps.<id>.*`".to_owned(),
            ),
        }
    }

    /// `report.*`: only `[report] publish` runs once the report exists.
    fn report_path(&mut self, span: Span, u: &TemplateUse, field: Option<&str>, text: &str) {
        if u.scope != Scope::Publish {
            self.error(
                span,
                format!(
                    "`{text}` in {} names the report, which exists only once the run is over",
                    u.what
                ),
                "only `[report] publish` sees `report.path` and `report.json_path`".to_owned(),
            );
        } else if let Some(name) = field {
            self.known_field(span, u, "report", name, &REPORT_FIELDS);
        }
    }

    fn known_field(
        &mut self,
        span: Span,
        u: &TemplateUse,
        root: &str,
        name: &str,
        fields: &[&str],
    ) {
        if fields.contains(&name) {
            return;
        }
        let mut message = format!("unknown field `{root}.{name}` in {}", u.what);
        if let Some(close) = did_you_mean(name, fields.iter().copied()) {
            let _ = write!(message, ", did you mean `{close}`?");
        }
        let list = List::ticked(fields.iter().map(|f| format!("{root}.{f}")));
        self.error(span, message, format!("use one of {list}"));
    }

    /// Whether step `target`, named in a template of step `index`, has ended before it is
    /// rendered; records the error when not.
    fn runs_before(
        &mut self,
        span: Span,
        u: &TemplateUse,
        id: &str,
        target: usize,
        index: usize,
        include_self: bool,
    ) -> bool {
        let runs_before = self
            .ancestry
            .as_ref()
            .is_none_or(|a| a.is_ancestor(target, index));
        if runs_before || (include_self && target == index) {
            return true;
        }
        let user = self.ids[index].unwrap_or_default();
        let reason = if target == index {
            "a step's own values exist only after it ran"
        } else {
            "it is not guaranteed to have finished"
        };
        self.error(
            span,
            format!(
                "{} uses `steps.{id}`, but `{id}` does not run before `{user}`: {reason}",
                u.what
            ),
            format!("add \"{id}\" to `needs` of step `{user}` (directly or through another step)"),
        );
        false
    }

    fn step_path(&mut self, span: Span, u: &TemplateUse, path: &ValuePath, id: &str) {
        let Some(target) = self.index.get(id) else {
            let mut message = format!("unknown step `{id}` in {}", u.what);
            if let Some(close) = self.suggest.closest(id, self.ids.iter().flatten().copied()) {
                let _ = write!(message, ", did you mean `{close}`?");
            }
            self.error(span, message, "name a step that this one needs".to_owned());
            return;
        };
        match u.scope {
            Scope::NoSteps(place) => {
                self.error(
                    span,
                    format!(
                        "{} cannot use `steps.{id}`: {place} is rendered before any step runs",
                        u.what
                    ),
                    "move this into a step that needs the step whose value it uses".to_owned(),
                );
                return;
            }
            Scope::Step {
                index,
                include_self,
            } => {
                if !self.runs_before(span.clone(), u, id, target, index, include_self) {
                    return;
                }
            }
            Scope::ForEach { index } => {
                if !self.runs_before(span.clone(), u, id, target, index, false) {
                    return;
                }
            }
            Scope::AnyStep | Scope::Publish => {}
        }
        let Some(field) = path.get(2) else { return };
        if !STEP_FIELDS.contains(&field) {
            let mut message = format!("unknown field `{field}` of step `{id}` in {}", u.what);
            if let Some(close) = did_you_mean(field, STEP_FIELDS) {
                let _ = write!(message, ", did you mean `{close}`?");
            }
            self.error(
                span,
                message,
                "a step has `outputs.<name>`, `status` and `exit_code`".to_owned(),
            );
            return;
        }
        if let (true, Some(name)) = (field == "outputs", path.get(3))
            && !self.nested[target]
        {
            let outputs = self.outputs[target];
            if !outputs.contains(name) {
                let mut message =
                    format!("step `{id}` has no output `{name}` (used in {})", u.what);
                let help = match self.suggest.closest(name, outputs.iter()) {
                    Some(close) => {
                        let _ = write!(message, ", did you mean `{close}`?");
                        format!("write `steps.{id}.outputs.{close}`")
                    }
                    None if outputs.len() == 0 => {
                        format!("declare it on step `{id}`: outputs = {{ {name} = \"stdout\" }}")
                    }
                    None => format!(
                        "step `{id}` declares {}; add `{name}` to its `outputs`",
                        some_names(outputs.iter(), outputs.len())
                    ),
                };
                self.error(span, message, help);
            }
        }
    }
}

/// How a helper is called, for the help of a call with the wrong number of values.
fn example(helper: &str) -> &'static str {
    match helper {
        "eq" => "{{eq A B}}, or (eq A B) inside {{#if}}",
        "ne" => "{{ne A B}}",
        "gt" => "{{gt A B}}",
        "gte" => "{{gte A B}}",
        "lt" => "{{lt A B}}",
        "lte" => "{{lte A B}}",
        "contains" => "{{contains HAYSTACK NEEDLE}}, e.g. {{contains vars.regions \"eu\"}}",
        "default" => "{{default VALUE \"fallback\"}}",
        "not" => "{{not A}}",
        "json" => "{{json VALUE}}",
        "len" => "{{len VALUE}}",
        "quote" => "{{quote VALUE}}",
        "and" => "{{and A B}}",
        "or" => "{{or A B}}",
        _ => "{{now}} or {{now \"%Y-%m-%d\"}}",
    }
}

/// Whether a step's templates see `item`: it has a `for_each`, or `on = [..]`, which fans it out
/// over its hosts as `for_each` does.
fn has_instances(s: &crate::playbook::raw::RawStep) -> bool {
    s.for_each.is_some()
        || matches!(
            s.on.as_ref().map(|o| &o.value),
            Some(crate::playbook::raw::RawOn::Many(_))
        )
}

#[cfg(test)]
mod tests {
    use crate::playbook::diagnostic::SourceFile;
    use crate::playbook::validate;

    // See: #18
    #[test]
    fn a_missing_output_lists_outputs_then_inputs_each_once() {
        let text = "[playbook]\nname = \"p\"\nversion = \"1.0.0\"\n\n[[steps]]\nid = \"ask\"\nmanual = \"Look.\"\noutputs = { when = \"stdout\", zone = \"stdout\" }\ninputs = { zone = \"string\", ticket = \"string\" }\n\n[[steps]]\nid = \"use\"\nneeds = [\"ask\"]\nrun = \"echo {{steps.ask.outputs.nothing_like_it}}\"\n";
        let file = SourceFile::new("p.toml", text);
        let errors = validate(&file).expect_err("unknown output");
        let shown = format!("{errors:?}");
        assert!(
            shown.contains("step `ask` declares `when`, `zone`, `ticket`;"),
            "{shown}"
        );
    }
}
