//! The validator: the entry point `validate`, the state every pass shares, and the helpers
//! that record a problem at its span (durations, choices, regexes, templates).

use std::fmt::Write as _;
use std::sync::Arc;

use indexmap::IndexMap;
use regex::Regex;
use toml::de::DeTable;

use crate::playbook::chunks::StepChunks;
use crate::playbook::decode::{Cx, Decode, Sp, Span};
use crate::playbook::diagnostic::{Diagnostic, Diagnostics, SourceFile, did_you_mean};
use crate::playbook::duration::HumanDuration;
use crate::playbook::graph::StepGraph;
use crate::playbook::model::{Playbook, StepIndex};
use crate::playbook::raw::{DurationStr, RawPlaybook, RawStep};
use crate::playbook::references::{Scope, Steps, TemplateUse};
use crate::playbook::template::{Template, Usage};
use crate::playbook::validate::names::{MAX_STEP_ID, env_name_like, is_env_name, is_step_id};

/// A valid playbook and the warnings found on the way.
#[derive(Debug)]
pub struct Validated {
    /// Shared: the plan, the run and the report read the same model.
    pub playbook: Arc<Playbook>,
    pub warnings: Diagnostics,
    /// What the file says of its nested playbooks that only they can confirm: the vars its
    /// `playbook` steps set and the outputs it reads of them.
    pub nested: Vec<NestedUse>,
}

/// A var set on, or an output read of, a `playbook` step, and where it is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NestedUse {
    /// The `playbook` step's index.
    pub step: usize,
    pub kind: NestedKind,
    pub name: String,
    pub span: std::ops::Range<usize>,
}

/// What a [`NestedUse`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NestedKind {
    Var,
    Output,
}

/// Reads and validates a playbook's text.
pub fn validate(file: &Arc<SourceFile>) -> Result<Validated, Diagnostics> {
    // Step by step first: a plain, valid document never has its whole spanned tree, nor (where
    // each step's id is a plain line) all its raw steps, in memory at once (#18). Anything else
    // (another shape, or any error) is decoded and validated whole, which gives every diagnostic.
    if let Some((raw, cx, chunks)) = crate::playbook::chunks::open(file)
        && let Some(valid) = lean(file, raw, cx, chunks)
    {
        return Ok(valid);
    }
    whole(file)
}

/// The whole path: the whole document decoded, its raw tables kept until every reference is
/// checked against them.
fn whole(file: &Arc<SourceFile>) -> Result<Validated, Diagnostics> {
    let (mut raw, cx) = decode_whole(file)?;
    let mut v = Validator::new(cx, false);
    let playbook = v.playbook(&mut raw);
    let Validator {
        cx, uses, graph, ..
    } = v;
    let mut diagnostics = Diagnostics(cx.diagnostics);
    let playbook = playbook.filter(|_| !diagnostics.has_errors());
    let raw_steps = raw
        .steps
        .as_ref()
        .map(|s| s.value.as_slice())
        .unwrap_or_default();
    diagnostics.extend(crate::playbook::references::check(
        file,
        &raw,
        Steps::Raw(raw_steps),
        playbook.as_ref().zip(graph.as_ref()),
        &uses,
    ));
    diagnostics.sort();
    match playbook {
        Some(playbook) if !diagnostics.has_errors() => {
            let mut nested = Vec::new();
            for (i, s) in raw_steps.iter().enumerate() {
                nested_vars(&file.text, i, &s.value, &mut nested);
            }
            nested_outputs(&playbook, &uses, &mut nested);
            Ok(Validated {
                nested,
                playbook: Arc::new(playbook),
                warnings: diagnostics,
            })
        }
        _ => Err(diagnostics),
    }
}

/// The lean path: each step is decoded when its model step is built (or, when not every id could
/// be read off its line, decoded first and dropped once it became a model step), and the
/// references are checked against the model's names, which are the raw tables' own once the model is valid.
/// `None` on any error: the caller validates again from the whole document, whose diagnostics
/// name the raw tables.
fn lean(
    file: &Arc<SourceFile>,
    mut raw: RawPlaybook,
    cx: Cx<'_>,
    mut chunks: StepChunks,
) -> Option<Validated> {
    let mut v = Validator::new(cx, true);
    match plain_ids(&mut chunks) {
        // The first pass has the ids alone; the second decodes each step as it builds it
        // ([`Validator::chunks`]).
        Some(ids) => {
            v.ids = Some(ids);
            v.chunks = Some(chunks);
        }
        None => crate::playbook::chunks::decode_all(&mut raw, &mut v.cx, &chunks)?,
    }
    let playbook = v.playbook(&mut raw);
    let Validator {
        cx,
        uses,
        mut nested,
        graph,
        ..
    } = v;
    let mut diagnostics = Diagnostics(cx.diagnostics);
    let playbook = playbook.filter(|_| !diagnostics.has_errors())?;
    diagnostics.extend(crate::playbook::references::check(
        file,
        &raw,
        Steps::Model(&playbook),
        Some((&playbook, graph.as_ref()?)),
        &uses,
    ));
    if diagnostics.has_errors() {
        return None;
    }
    diagnostics.sort();
    nested_outputs(&playbook, &uses, &mut nested);
    Some(Validated {
        nested,
        playbook: Arc::new(playbook),
        warnings: diagnostics,
    })
}

/// The raw playbook decoded from the whole document's spanned tree, or its syntax errors.
pub(crate) fn decode_whole(file: &Arc<SourceFile>) -> Result<(RawPlaybook, Cx<'_>), Diagnostics> {
    let (root, syntax) = DeTable::parse_recoverable(&file.text);
    if !syntax.is_empty() {
        // The recovered tree is a guess; checking it would add errors that are not there.
        let mut diagnostics = Diagnostics::default();
        for e in syntax {
            let span = e.span().unwrap_or(0..0);
            let reason = e.message().trim_end_matches('.');
            let written = file.text.get(span.clone()).unwrap_or("").trim();
            let (message, help) = if reason.contains("duplicate key") {
                (
                    format!("invalid TOML: duplicate key `{written}`"),
                    format!("a key may appear once in a table; remove or rename this `{written}`"),
                )
            } else if reason.contains("string") && reason.contains("expected `\"`") {
                (
                    format!("invalid TOML: {reason}"),
                    "close the string with `\"` on the same line; use `\"\"\"` for text over several lines".to_owned(),
                )
            } else if reason.contains("expected `=`") {
                (
                    format!("invalid TOML: {reason}"),
                    "write `key = value`".to_owned(),
                )
            } else {
                (
                    format!("invalid TOML: {reason}"),
                    "fix the TOML syntax here; strings need quotes and every key needs `= value`"
                        .to_owned(),
                )
            };
            diagnostics.push(Diagnostic::error(file, span, message).with_help(help));
        }
        diagnostics.sort();
        return Err(diagnostics);
    }
    let root = toml::Spanned::new(root.span(), toml::de::DeValue::Table(root.into_inner()));
    let mut cx = Cx::new(file);
    let raw = RawPlaybook::decode(&root, &mut cx).unwrap_or_default();
    Ok((raw, cx))
}

/// Builds the model, recording problems in `cx`.
pub(crate) struct Validator<'f> {
    pub(crate) cx: Cx<'f>,
    /// Templates whose references are checked once the step graph is known.
    pub(crate) uses: Vec<TemplateUse>,
    /// The names of `[hosts]`, for `on`.
    pub(crate) host_names: Vec<String>,
    /// Whether the second pass drops each raw step once it became a model step (the lean path of
    /// [`validate`]).
    pub(crate) consume_steps: bool,
    /// On the lean path: the vars set on `playbook` steps, found before their raw steps go.
    pub(crate) nested: Vec<NestedUse>,
    /// On the lean path, where every step's id was read off its line: the steps, decoded one
    /// at a time by the second pass (the first sees stand-ins holding only the ids).
    pub(crate) chunks: Option<StepChunks>,
    /// With [`Validator::chunks`]: the ids, which the first pass takes as they are.
    pub(crate) ids: Option<StepIds>,
    /// The steps' graph, once the second pass found it acyclic: the reference check reads it.
    pub(crate) graph: Option<StepGraph>,
}

impl<'f> Validator<'f> {
    pub(crate) fn new(cx: Cx<'f>, consume_steps: bool) -> Self {
        Self {
            cx,
            uses: Vec::new(),
            host_names: Vec::new(),
            consume_steps,
            nested: Vec::new(),
            chunks: None,
            ids: None,
            graph: None,
        }
    }
}

impl Validator<'_> {
    pub(crate) fn error(
        &mut self,
        span: Span,
        message: impl Into<String>,
        help: impl Into<String>,
    ) {
        let file = self.cx.file();
        self.cx
            .diagnostics
            .push(Diagnostic::error(file, span, message).with_help(help));
    }

    pub(crate) fn warning(
        &mut self,
        span: Span,
        message: impl Into<String>,
        help: impl Into<String>,
    ) {
        let file = self.cx.file();
        self.cx
            .diagnostics
            .push(Diagnostic::warning(file, span, message).with_help(help));
    }

    /// A required key: reports it missing at its table's header unless it was written wrongly.
    pub(crate) fn required<'r, T>(
        &mut self,
        value: Option<&'r Sp<T>>,
        table: &Span,
        key: &str,
        location: &str,
        example: &str,
    ) -> Option<&'r Sp<T>> {
        if value.is_none() && !self.cx.was_broken(table.start, key) {
            self.error(
                table.clone(),
                format!("missing `{key}` {location}"),
                format!("add `{key} = {example}`"),
            );
        }
        value
    }

    pub(crate) fn duration(
        &mut self,
        value: Option<&Sp<DurationStr>>,
        key: &str,
        location: &str,
    ) -> Option<HumanDuration> {
        let value = value?;
        match value.value.0.parse::<HumanDuration>() {
            Ok(d) => Some(d),
            Err(e) => {
                let text = &value.value.0;
                let message = format!("invalid duration {text:?} for `{key}` {location}");
                let help = match e.suggestion {
                    Some(s) => format!("write `{key} = \"{s}\"`: durations are integer groups with a unit (ms, s, m, h, d), largest first"),
                    None => "write a duration such as \"90s\", \"30m\" or \"1h 30m\" (units ms, s, m, h, d, largest first)".to_owned(),
                };
                self.error(value.span.clone(), message, help);
                None
            }
        }
    }

    /// A duration that must be longer than zero.
    pub(crate) fn positive_duration(
        &mut self,
        value: Option<&Sp<DurationStr>>,
        key: &str,
        location: &str,
    ) -> Option<HumanDuration> {
        let d = self.duration(value, key, location)?;
        if d.is_zero() {
            let span = value.map(|v| v.span.clone()).unwrap_or_default();
            self.error(
                span,
                format!("`{key}` {location} must be longer than zero"),
                format!("give `{key}` a length such as \"30s\""),
            );
            return None;
        }
        Some(d)
    }

    pub(crate) fn regex(
        &mut self,
        value: Option<&Sp<String>>,
        key: &str,
        location: &str,
    ) -> Option<Regex> {
        let value = value?;
        match Regex::new(&value.value) {
            Ok(r) => Some(r),
            Err(e) => {
                let reason = e.to_string();
                let last = reason
                    .lines()
                    .rfind(|l| !l.trim().is_empty())
                    .unwrap_or("")
                    .trim()
                    .trim_start_matches("error: ");
                self.error(
                    value.span.clone(),
                    format!("invalid regex {:?} for `{key}` {location}: {last}", value.value),
                    "use Rust `regex` syntax; escape literal characters such as `(`, `.` and `*` with `\\`",
                );
                None
            }
        }
    }

    /// A string that must be one of `allowed`.
    pub(crate) fn choice<'a>(
        &mut self,
        value: Option<&Sp<String>>,
        key: &str,
        location: &str,
        allowed: &[&'a str],
    ) -> Option<&'a str> {
        let value = value?;
        if let Some(found) = allowed.iter().find(|a| **a == value.value) {
            return Some(found);
        }
        let list = allowed
            .iter()
            .map(|a| format!("\"{a}\""))
            .collect::<Vec<_>>()
            .join(", ");
        let mut message = format!("invalid value {:?} for `{key}` {location}", value.value);
        if let Some(close) = did_you_mean(&value.value, allowed.iter().copied()) {
            let _ = write!(message, ", did you mean `{close}`?");
        }
        self.error(
            value.span.clone(),
            message,
            format!("`{key}` is one of {list}"),
        );
        None
    }

    /// A template string: compiled now, its references checked after the graph is known.
    pub(crate) fn template(
        &mut self,
        value: Option<&Sp<String>>,
        scope: Scope,
        what: &str,
    ) -> Option<Template> {
        let value = value?;
        match Template::parse(&value.value) {
            Ok((template, usages)) => {
                if !usages.is_empty() {
                    // Kept until the references are checked: no spare room (#18).
                    self.uses.push(TemplateUse {
                        scope,
                        span: value.span.clone(),
                        usages: usages.into_boxed_slice(),
                        what: what.into(),
                    });
                }
                Some(template)
            }
            Err(e) => {
                let text = &self.cx.file().text;
                // Handlebars' parser speaks in grammar rules; an unclosed `{{` is the usual cause.
                let unclosed = unclosed_braces(&value.value);
                let (reason, at) = match unclosed {
                    Some(offset) => (
                        "`{{` is not closed with `}}`".to_owned(),
                        offset_in_string(
                            text,
                            &value.span,
                            &value.value,
                            line_col_of(&value.value, offset),
                        ),
                    ),
                    None => (
                        e.reason
                            .replace("invalid handlebars syntax: ", "invalid syntax: "),
                        e.line_col
                            .and_then(|lc| offset_in_string(text, &value.span, &value.value, lc)),
                    ),
                };
                let span = at.map_or_else(|| value.span.clone(), |at| at..at + 2);
                self.error(
                    span,
                    format!("invalid template in {what}: {reason}"),
                    "templates write values as {{vars.name}} or {{steps.ID.outputs.NAME}}, each `{{` closed by `}}`",
                );
                None
            }
        }
    }

    pub(crate) fn templates(
        &mut self,
        map: Option<&Sp<IndexMap<String, Sp<String>>>>,
        scope: Scope,
        what: &str,
    ) -> IndexMap<String, Template> {
        let mut out = IndexMap::with_capacity(map.map_or(0, |m| m.value.len()));
        for (key, value) in map.map(|m| &m.value).into_iter().flatten() {
            if let Some(t) = self.template(Some(value), scope, &format!("`{key}` of {what}")) {
                out.insert(key.clone(), t);
            }
        }
        out
    }

    pub(crate) fn env_map(
        &mut self,
        map: Option<&Sp<IndexMap<String, Sp<String>>>>,
        scope: Scope,
        what: &str,
    ) -> IndexMap<String, Template> {
        if let Some(map) = map {
            for (key, value) in &map.value {
                if !is_env_name(key) {
                    let span = key_span(&self.cx.file().text, &map.span, key)
                        .unwrap_or_else(|| value.span.clone());
                    self.error(
                        span,
                        format!("invalid environment variable name `{key}` in {what}"),
                        format!(
                            "use letters, digits and `_`, not starting with a digit, e.g. `{}`",
                            env_name_like(key)
                        ),
                    );
                }
            }
        }
        self.templates(map, scope, what)
    }

    pub(crate) fn strings(values: Option<&Sp<Vec<Sp<String>>>>) -> Vec<String> {
        values
            .map(|v| v.value.iter().map(|s| s.value.clone()).collect())
            .unwrap_or_default()
    }
}

/// The byte offset of the last `{{` that no `}}` closes.
fn unclosed_braces(s: &str) -> Option<usize> {
    let open = s.rfind("{{")?;
    (!s[open..].contains("}}")).then_some(open)
}

/// 1-based line and column of a byte offset in a string.
fn line_col_of(s: &str, offset: usize) -> (usize, usize) {
    let before = &s[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// Maps a 1-based line/column inside a string value to a byte offset in the file, when the
/// value is written without escapes (so the file holds the string's text verbatim).
fn offset_in_string(
    text: &str,
    span: &Span,
    value: &str,
    (line, col): (usize, usize),
) -> Option<usize> {
    let written = text.get(span.clone())?;
    let start = written.find(value.lines().next().unwrap_or(""))?;
    let mut offset = 0;
    for (i, l) in value.split('\n').enumerate() {
        if i + 1 == line {
            let within = l
                .char_indices()
                .nth(col.saturating_sub(1))
                .map_or(l.len(), |(b, _)| b);
            let at = offset + within;
            // Only trust the mapping when the text up to there is written verbatim.
            return written
                .get(start..start + at)
                .filter(|w| *w == &value[..at])
                .map(|_| span.start + start + at);
        }
        offset += l.len() + 1;
    }
    None
}

/// Finds where `key` is written inside a table's span (for errors about a key of a map).
pub(crate) fn key_span(text: &str, table: &Span, key: &str) -> Option<Span> {
    let written = text.get(table.clone())?;
    let mut from = 0;
    while let Some(i) = written[from..].find(key) {
        let at = from + i;
        let before = written[..at].chars().next_back();
        let after = written[at + key.len()..].trim_start().chars().next();
        if matches!(before, None | Some(' ' | '\n' | '{' | ',' | '\t' | '"'))
            && matches!(after, Some('=' | '"'))
        {
            return Some(table.start + at..table.start + at + key.len());
        }
        from = at + key.len();
    }
    None
}

/// The step ids read off the steps' lines, when every step has one and all are valid and
/// distinct: what the first pass would find (anything else is left to it, which says what is
/// wrong).
fn plain_ids(chunks: &mut StepChunks) -> Option<StepIds> {
    let mut seen = std::collections::HashSet::with_capacity(chunks.ids.len());
    for id in &chunks.ids {
        let id = id.as_ref()?;
        let fits = id.value.chars().count() <= MAX_STEP_ID;
        if !fits || !is_step_id(&id.value) || !seen.insert(id.value.as_str()) {
            return None;
        }
    }
    drop(seen);
    Some(StepIds::new(chunks.take_ids()))
}

/// The vars a `playbook` step sets for its nested playbook, with where each is written.
pub(crate) fn nested_vars(text: &str, step: usize, s: &RawStep, out: &mut Vec<NestedUse>) {
    let Some(vars) = s.vars.as_ref().filter(|_| s.playbook.is_some()) else {
        return;
    };
    for (name, value) in &vars.value {
        out.push(NestedUse {
            step,
            kind: NestedKind::Var,
            name: name.clone(),
            span: key_span(text, &vars.span, name).unwrap_or_else(|| value.span.clone()),
        });
    }
}

/// The outputs the templates read of `playbook` steps.
fn nested_outputs(playbook: &Playbook, uses: &[TemplateUse], out: &mut Vec<NestedUse>) {
    for u in uses {
        for usage in &u.usages {
            let Usage::Path(p) = usage else { continue };
            if p.get(0) == Some("steps")
                && p.get(2) == Some("outputs")
                && let (Some(id), Some(name)) = (p.get(1), p.get(3))
                && let Some(step) = playbook.step_index(id)
                && matches!(
                    playbook.steps[step].action,
                    crate::playbook::model::Action::Playbook(_)
                )
            {
                out.push(NestedUse {
                    step,
                    kind: NestedKind::Output,
                    name: name.to_owned(),
                    span: u.span.clone(),
                });
            }
        }
    }
}

/// The step ids found in the first pass, by position and by name.
#[derive(Debug, Default)]
pub(crate) struct StepIds {
    pub(crate) by_index: Vec<Option<String>>,
    /// Each distinct id's first step, by id: a table of copied ids was 75 bytes a step at
    /// validation's peak (#18).
    sorted: StepIndex,
}

impl StepIds {
    /// The ids by position (`None`: a step without a valid id).
    pub(crate) fn new(by_index: Vec<Option<String>>) -> Self {
        let sorted = StepIndex::of(by_index.len(), |i| by_index[i].as_deref());
        Self { by_index, sorted }
    }

    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        self.by_index.iter().flatten().map(String::as_str)
    }

    /// The position of the (first) step with this id.
    pub(crate) fn get(&self, id: &str) -> Option<usize> {
        self.sorted
            .find(id, |i| self.by_index.get(i).and_then(Option::as_deref))
    }

    /// How many distinct ids.
    pub(crate) fn distinct(&self) -> usize {
        self.sorted.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a validation gave, with what differs between two equal results left out: the file
    /// (shared), and the order of the step index (a hash map).
    fn shown(result: &Result<Validated, Diagnostics>) -> String {
        let problems = |d: &Diagnostics| {
            d.0.iter()
                .map(|d| format!("{:?} {:?} {} {:?}", d.severity, d.span, d.message, d.help))
                .collect::<Vec<_>>()
        };
        match result {
            Ok(v) => {
                let p = &v.playbook;
                let index = &p.index;
                format!(
                    "{:?}",
                    (
                        (&p.sha256, &p.meta, &p.vars, &p.env, &p.hosts, &p.notify),
                        (&p.report, &p.checks, &p.steps, &p.outputs, index),
                        (&v.nested, problems(&v.warnings)),
                    )
                )
            }
            Err(d) => format!("errors {:?}", problems(d)),
        }
    }

    /// Step pieces of generated documents: what the lean path reads of the model instead of the
    /// raw tables (outputs, a manual step's inputs, nested playbooks' vars and outputs,
    /// `for_each`, `on = [..]`), and what makes it give up (unknown names, cycles, warnings).
    const STEPS: &[&str] = &[
        "\n[[steps]]\nid = \"a\"\nrun = \"echo a\"\noutputs = { out = \"stdout\" }\n",
        "\n[[steps]]\nid = \"b\"\nneeds = [\"a\"]\nrun = \"echo {{quote steps.a.outputs.out}}\"\n",
        "\n[[steps]]\nid = \"m\"\nmanual = \"Look.\"\ninputs = { zone = \"string\" }\noutputs = { when = \"stdout\" }\n",
        "\n[[steps]]\nid = \"u\"\nneeds = [\"m\"]\nrun = \"echo {{steps.m.outputs.zone}} {{steps.m.outputs.when}}\"\n",
        "\n[[steps]]\nid = \"n\"\nplaybook = \"other\"\nvars = { db = \"{{vars.dir}}\", \"x y\" = \"1\" }\n",
        "\n[[steps]]\nid = \"r\"\nneeds = [\"n\"]\nrun = \"echo {{steps.n.outputs.file}}\"\n",
        "\n[[steps]]\nid = \"f\"\nfor_each = [\"x\", \"y\"]\nrun = \"echo {{item}}\"\n",
        "\n[[steps]]\nid = \"h\"\non = [\"app-1\", \"app-2\"]\nrun = \"echo {{item}}\"\n",
        "\n[[steps]]\nid = \"c1\"\nneeds = [\"c2\"]\nrun = \"true\"\n\n[[steps]]\nid = \"c2\"\nafter = [\"c1\"]\nrun = \"true\"\n",
        "\n[[steps]]\nid = \"w\"\nrun = \"echo {{steps.a.outputs.ot}} {{vars.dri}}\"\n",
        "\n[[steps]]\nid = \"k\"\nrun = \"true\"\nretries = 2\nidempotent = true\n",
        "\n[[steps]]\nid = \"v\"\nrun = \"true\"\nvars = { a = \"1\" }\n",
        "\n[[steps]]\nid = \"a\"\nrun = \"true\"\n",
        // Known only at the end of the step-by-step pass: whether any step has a rollback.
        "\n[[steps]]\nid = \"rb\"\nrun = \"true\"\non_failure = \"rollback\"\n",
        "\n[[steps]]\nid = \"rr\"\nrun = \"true\"\nrollback = \"true\"\n",
        // An id not on a plain line: the steps are decoded first.
        "\n[[steps]]\n\"id\" = \"q\"\nrun = \"true\"\n",
        "\n[[steps]]\nid = 'l'\n[steps.env]\nX = \"1\"\n",
    ];

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// Whatever the steps, the lean path gives what the whole path gives, or leaves the
        /// document to it.
        #[test]
        fn the_lean_path_agrees_with_the_whole_path(
            picks in proptest::collection::vec(0..STEPS.len(), 1..8)
        ) {
            let mut text = "[playbook]\nname = \"p\"\nversion = \"1.0.0\"\n\n[vars]\ndir = \"/tmp\"\n\n[hosts.app-1]\nssh = \"a\"\n\n[hosts.app-2]\nssh = \"b\"\n".to_owned();
            for i in picks {
                text.push_str(STEPS[i]);
            }
            let lean_file = SourceFile::new("p.toml", text.as_str());
            let lean_result = crate::playbook::chunks::open(&lean_file)
                .and_then(|(raw, cx, chunks)| lean(&lean_file, raw, cx, chunks));
            let whole_result = whole(&SourceFile::new("p.toml", text.as_str()));
            if let Ok(valid) = &whole_result {
                // The step index finds every step, and nothing else.
                let p = &valid.playbook;
                for (i, s) in p.steps.iter().enumerate() {
                    proptest::prop_assert_eq!(p.step_index(&s.id), Some(i));
                    proptest::prop_assert_eq!(p.step_index(&format!("{}-", s.id)), None);
                }
                proptest::prop_assert_eq!(p.step_index(""), None);
            }
            if let Some(lean_result) = lean_result {
                let lean_result = Ok(lean_result);
                proptest::prop_assert_eq!(shown(&lean_result), shown(&whole_result), "{}", text);
            } else {
                proptest::prop_assert!(
                    whole_result.is_err(),
                    "lean gave up on a valid document:\n{}",
                    text
                );
            }
        }
    }

    #[test]
    fn the_lean_path_agrees_on_the_shipped_playbooks() {
        let mut seen = 0;
        for dir in ["playbooks", "tests/fixtures"] {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
            let mut stack = vec![dir];
            while let Some(d) = stack.pop() {
                for entry in std::fs::read_dir(&d).expect("readable").flatten() {
                    let path = entry.path();
                    if path.is_dir() {
                        stack.push(path);
                    } else if path.extension().is_some_and(|e| e == "toml") {
                        // Fixtures include files that are not UTF-8 on purpose.
                        let Ok(text) = std::fs::read_to_string(&path) else {
                            continue;
                        };
                        let a = SourceFile::new(&path, text.as_str());
                        let lean_result = crate::playbook::chunks::open(&a)
                            .and_then(|(raw, cx, chunks)| lean(&a, raw, cx, chunks));
                        let whole_result = whole(&SourceFile::new(&path, text.as_str()));
                        if let Some(l) = lean_result {
                            assert_eq!(shown(&Ok(l)), shown(&whole_result), "{}", path.display());
                            seen += 1;
                        } else {
                            assert!(whole_result.is_err(), "{}", path.display());
                        }
                    }
                }
            }
        }
        assert!(seen > 10, "only {seen} playbooks took the lean path");
    }

    #[test]
    fn finds_keys_in_tables() {
        let text = "[vars]\nbad name = 1\n\"x y\" = 2\n";
        assert_eq!(key_span(text, &(0..text.len()), "x y"), Some(21..24));
    }

    // See: #18
    #[test]
    fn a_step_holds_no_spare_room() {
        let text = "[playbook]\nname = \"p\"\nversion = \"1.0.0\"\n\n[[steps]]\nid = \"a\"\nrun = \"echo hi\"\noutputs = { out = \"stdout\" }\nenv = { A = \"1\" }\n\n[[steps]]\nid = \"b\"\nneeds = [\"a\"]\nrun = \"echo {{quote steps.a.outputs.out}}\"\n";
        let file = SourceFile::new("p.toml", text);
        let (mut raw, cx) = crate::playbook::chunks::decode(&file).expect("plain");
        let mut v = Validator::new(cx, false);
        let playbook = v.playbook(&mut raw).expect("valid");
        let a = &playbook.steps[0];
        assert_eq!(a.outputs.len(), 1);
        assert_eq!((a.env().len(), a.env().capacity()), (1, 1));
        // The uses are a boxed slice: no spare room by their type.
        assert!(!v.uses[0].usages.is_empty());
        // The references borrowed from the raw tree still find everything.
        assert!(
            !crate::playbook::references::check(
                &file,
                &raw,
                Steps::Raw(&raw.steps.as_ref().expect("steps").value),
                Some((&playbook, v.graph.as_ref().expect("a graph"))),
                &v.uses
            )
            .has_errors()
        );
    }
}
