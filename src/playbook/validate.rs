//! Raw playbook → model, recording every problem: TOML syntax, unknown keys and wrong types
//! (while decoding), then values, ids, the graph and template references.

use std::fmt::Write as _;
use std::sync::Arc;

use indexmap::IndexMap;
use regex::Regex;
use semver::Version;
use sha2::{Digest, Sha256};
use toml::de::DeTable;

use crate::playbook::decode::{Cx, Decode, Sp, Span};
use crate::playbook::diagnostic::{Diagnostic, Diagnostics, SourceFile, did_you_mean};
use crate::playbook::duration::HumanDuration;
use crate::playbook::model::{
    DEFAULT_NOTIFY_EVENTS, IncludeLogs, LockPolicy, Meta, NOTIFY_EVENTS, Notify, Objective,
    Playbook, ReportSettings, RtoClock, SlackSettings, VarValue, WebhookSettings,
};
use crate::playbook::raw::{DurationStr, RawMeta, RawNotify, RawPlaybook, RawReport, RawVar};
use crate::playbook::references::{Scope, TemplateUse};
use crate::playbook::template::Template;

/// A valid playbook and the warnings found on the way.
#[derive(Debug)]
pub struct Validated {
    pub playbook: Playbook,
    pub warnings: Diagnostics,
}

/// Reads and validates a playbook's text.
pub fn validate(file: &Arc<SourceFile>) -> Result<Validated, Diagnostics> {
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
    let mut v = Validator {
        cx,
        uses: Vec::new(),
    };
    let playbook = v.playbook(&raw);
    let Validator { cx, uses } = v;
    let mut diagnostics = Diagnostics(cx.diagnostics);
    let playbook = playbook.filter(|_| !diagnostics.has_errors());
    diagnostics.extend(crate::playbook::references::check(
        file,
        &raw,
        playbook.as_ref(),
        &uses,
    ));
    diagnostics.sort();
    match playbook {
        Some(playbook) if !diagnostics.has_errors() => Ok(Validated {
            playbook,
            warnings: diagnostics,
        }),
        _ => Err(diagnostics),
    }
}

/// Builds the model, recording problems in `cx`.
pub(crate) struct Validator<'f> {
    pub(crate) cx: Cx<'f>,
    /// Templates whose references are checked once the step graph is known.
    pub(crate) uses: Vec<TemplateUse>,
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
                    self.uses.push(TemplateUse {
                        scope,
                        span: value.span.clone(),
                        usages,
                        what: what.to_owned(),
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
        let mut out = IndexMap::new();
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

    fn strings(values: Option<&Sp<Vec<Sp<String>>>>) -> Vec<String> {
        values
            .map(|v| v.value.iter().map(|s| s.value.clone()).collect())
            .unwrap_or_default()
    }

    fn playbook(&mut self, raw: &RawPlaybook) -> Option<Playbook> {
        let file = Arc::clone(self.cx.file());
        let meta_raw = raw.playbook.as_ref();
        if meta_raw.is_none() && !self.cx.was_broken(raw.span.start, "playbook") {
            self.error(
                0..0,
                "missing [playbook] table",
                "start the file with [playbook], its `name` and `version`: [playbook] name = \"my-playbook\" version = \"1.0.0\"",
            );
        }
        let steps = self.steps(raw);
        let meta = meta_raw.and_then(|m| self.meta(&m.value, &steps));
        let vars = self.vars(raw.vars.as_ref());
        let env = self.env_map(raw.env.as_ref(), Scope::NoSteps("[env]"), "[env]");
        let notify = self.notify(raw.notify.as_ref());
        let report = self.report(raw.report.as_ref());
        let checks = self.top_checks(raw.checks.as_ref());
        let steps = self.finish_steps(raw, &steps, meta.as_ref());
        let meta = meta?;
        let mut hasher = Sha256::new();
        hasher.update(file.text.as_bytes());
        let sha256 = format!("{:x}", hasher.finalize());
        Some(Playbook {
            source: file,
            sha256,
            meta,
            vars,
            env,
            notify,
            report,
            checks,
            steps: steps?,
        })
    }

    fn meta(
        &mut self,
        raw: &RawMeta,
        steps: &crate::playbook::validate_step::StepIds,
    ) -> Option<Meta> {
        let at = "in [playbook]";
        let name = self
            .required(raw.name.as_ref(), &raw.span, "name", at, "\"my-playbook\"")
            .cloned();
        let name = name.and_then(|n| self.name(&n));
        let version = self
            .required(raw.version.as_ref(), &raw.span, "version", at, "\"1.0.0\"")
            .cloned();
        let version = version.and_then(|v| self.version(&v));
        let environments = raw.environments.as_ref().map(|e| Self::strings(Some(e)));
        let mut secrets = Vec::new();
        for s in raw.secrets.iter().flat_map(|s| &s.value) {
            if is_env_name(&s.value) {
                secrets.push(s.value.clone());
            } else {
                self.error(
                    s.span.clone(),
                    format!("invalid secret {:?} in [playbook]: `secrets` lists environment variable names", s.value),
                    format!("name the variable that holds the secret, e.g. \"{}\"", env_name_like(&s.value)),
                );
            }
        }
        let rto = self
            .positive_duration(raw.rto.as_ref(), "rto", at)
            .map(|d| {
                Objective::new(
                    d,
                    &raw.rto.as_ref().map(|r| r.span.clone()).unwrap_or_default(),
                )
            });
        let rpo = self
            .positive_duration(raw.rpo.as_ref(), "rpo", at)
            .map(|d| {
                Objective::new(
                    d,
                    &raw.rpo.as_ref().map(|r| r.span.clone()).unwrap_or_default(),
                )
            });
        let drill_every = self.positive_duration(raw.drill_every.as_ref(), "drill_every", at);
        let lock = match self.choice(raw.lock.as_ref(), "lock", at, &LockPolicy::NAMES) {
            Some("wait") => LockPolicy::Wait,
            Some("skip") => LockPolicy::Skip,
            _ => LockPolicy::Fail,
        };
        let rto_clock = raw.rto_clock.as_ref().and_then(|c| {
            let c = &c.value;
            let where_ = "in [playbook.rto_clock]";
            let start = self
                .required(c.start.as_ref(), &c.span, "start", where_, "\"first-step\"")
                .cloned();
            let stop = self
                .required(c.stop.as_ref(), &c.span, "stop", where_, "\"last-step\"")
                .cloned();
            let start =
                start.and_then(|s| self.step_ref(steps, &s, "`start` of [playbook.rto_clock]"));
            let stop =
                stop.and_then(|s| self.step_ref(steps, &s, "`stop` of [playbook.rto_clock]"));
            Some(RtoClock {
                start: start?,
                stop: stop?,
            })
        });
        let recovery_point = self.template(
            raw.recovery_point.as_ref(),
            Scope::AnyStep,
            "`recovery_point` of [playbook]",
        );
        Some(Meta {
            name: name?,
            version: version?,
            title: raw.title.as_ref().map(|t| t.value.clone()),
            description: raw.description.as_ref().map(|t| t.value.clone()),
            owner: raw.owner.as_ref().map(|t| t.value.clone()),
            tags: Self::strings(raw.tags.as_ref()),
            environments,
            secrets,
            rto,
            rpo,
            rto_clock,
            recovery_point,
            drill_every,
            lock,
        })
    }

    fn name(&mut self, name: &Sp<String>) -> Option<String> {
        if is_playbook_name(&name.value) {
            return Some(name.value.clone());
        }
        self.error(
            name.span.clone(),
            format!("invalid playbook name {:?} in [playbook]", name.value),
            format!(
                "names use lowercase letters, digits and `-`, starting with a letter or digit, e.g. \"{}\"",
                playbook_name_like(&name.value)
            ),
        );
        None
    }

    fn version(&mut self, version: &Sp<String>) -> Option<Version> {
        match Version::parse(&version.value) {
            Ok(v) => Some(v),
            Err(e) => {
                let text = version.value.trim().trim_start_matches(['v', 'V']);
                let parts: Vec<&str> = text.split('.').collect();
                let guess = match parts.as_slice() {
                    [a] => format!("{a}.0.0"),
                    [a, b] => format!("{a}.{b}.0"),
                    _ => text.to_owned(),
                };
                let help = if Version::parse(&guess).is_ok() {
                    format!("versions are semver MAJOR.MINOR.PATCH: write \"{guess}\"")
                } else {
                    "versions are semver MAJOR.MINOR.PATCH, e.g. \"1.0.0\"".to_owned()
                };
                self.error(
                    version.span.clone(),
                    format!("invalid version {:?} in [playbook]: {e}", version.value),
                    help,
                );
                None
            }
        }
    }

    fn vars(
        &mut self,
        raw: Option<&Sp<IndexMap<String, Sp<RawVar>>>>,
    ) -> IndexMap<String, VarValue> {
        let mut out = IndexMap::new();
        let Some(raw) = raw else { return out };
        for (name, value) in &raw.value {
            if !is_var_name(name) {
                let span = key_span(&self.cx.file().text, &raw.span, name)
                    .unwrap_or_else(|| value.span.clone());
                self.error(
                    span,
                    format!("invalid var name `{name}` in [vars]"),
                    "var names use letters, digits, `_` and `-`, starting with a letter or `_`",
                );
                continue;
            }
            let v = match &value.value {
                RawVar::String(s) => VarValue::String(s.clone()),
                RawVar::Integer(n) => VarValue::Integer(*n),
                RawVar::Float(x) => VarValue::Float(*x),
                RawVar::Bool(b) => VarValue::Bool(*b),
            };
            out.insert(name.clone(), v);
        }
        out
    }

    fn events(&mut self, raw: Option<&Sp<Vec<Sp<String>>>>, location: &str) -> Vec<String> {
        let Some(raw) = raw else {
            return DEFAULT_NOTIFY_EVENTS
                .iter()
                .map(|e| (*e).to_owned())
                .collect();
        };
        let mut out = Vec::new();
        for e in &raw.value {
            if let Some(event) = self.choice(Some(e), "events", location, &NOTIFY_EVENTS) {
                out.push(event.to_owned());
            }
        }
        out
    }

    fn notify(&mut self, raw: Option<&Sp<RawNotify>>) -> Notify {
        let Some(raw) = raw else {
            return Notify::default();
        };
        let slack = raw.value.slack.as_ref().and_then(|s| {
            let s = &s.value;
            let at = "in [notify.slack]";
            let webhook = self
                .required(
                    s.webhook.as_ref(),
                    &s.span,
                    "webhook",
                    at,
                    "\"{{env.SLACK_WEBHOOK_URL}}\"",
                )
                .cloned();
            let webhook = self.template(
                webhook.as_ref(),
                Scope::NoSteps("[notify.slack]"),
                "`webhook` of [notify.slack]",
            );
            let events = self.events(s.events.as_ref(), at);
            Some(SlackSettings {
                webhook: webhook?,
                channel: s.channel.as_ref().map(|c| c.value.clone()),
                events,
                mention: s.mention.as_ref().map(|m| m.value.clone()),
            })
        });
        let webhook = raw.value.webhook.as_ref().and_then(|w| {
            let w = &w.value;
            let at = "in [notify.webhook]";
            let url = self
                .required(
                    w.url.as_ref(),
                    &w.span,
                    "url",
                    at,
                    "\"{{env.WEBHOOK_URL}}\"",
                )
                .cloned();
            let url = self.template(
                url.as_ref(),
                Scope::NoSteps("[notify.webhook]"),
                "`url` of [notify.webhook]",
            );
            let events = self.events(w.events.as_ref(), at);
            let headers = self.templates(
                w.headers.as_ref(),
                Scope::NoSteps("[notify.webhook]"),
                "`headers` of [notify.webhook]",
            );
            Some(WebhookSettings {
                url: url?,
                events,
                headers,
            })
        });
        Notify { slack, webhook }
    }

    fn report(&mut self, raw: Option<&Sp<RawReport>>) -> ReportSettings {
        let Some(raw) = raw else {
            return ReportSettings::default();
        };
        let r = &raw.value;
        let include_logs = match self.choice(
            r.include_logs.as_ref(),
            "include_logs",
            "in [report]",
            &IncludeLogs::NAMES,
        ) {
            Some("all") => IncludeLogs::All,
            Some("none") => IncludeLogs::None,
            _ => IncludeLogs::Failures,
        };
        ReportSettings {
            signoff: Self::strings(r.signoff.as_ref()),
            title: self.template(r.title.as_ref(), Scope::AnyStep, "`title` of [report]"),
            include_logs,
        }
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

pub(crate) fn is_playbook_name(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

pub(crate) fn playbook_name_like(s: &str) -> String {
    let mut out: String = s
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    while out.contains("--") {
        out = out.replace("--", "-");
    }
    let out = out.trim_matches('-').to_owned();
    if out.is_empty() {
        "my-playbook".to_owned()
    } else {
        out
    }
}

pub(crate) fn is_step_id(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

pub(crate) fn is_env_name(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn env_name_like(s: &str) -> String {
    let out: String = s
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) || out.is_empty() {
        format!("_{out}")
    } else {
        out
    }
}

fn is_var_name(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_names() {
        assert_eq!(playbook_name_like("Postgres_Restore"), "postgres-restore");
        assert_eq!(env_name_like("database url"), "DATABASE_URL");
    }

    #[test]
    fn finds_keys_in_tables() {
        let text = "[vars]\nbad name = 1\n\"x y\" = 2\n";
        assert_eq!(key_span(text, &(0..text.len()), "x y"), Some(21..24));
    }
}
