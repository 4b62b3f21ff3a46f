//! Validation of health checks (`[[checks]]`, a step's `check`, `verify`): exactly one probe,
//! the keys that belong to it, polling durations, HTTP requests and expectations, sizes, and
//! the thresholds of a `history` probe.

use std::collections::HashMap;

use indexmap::IndexMap;

use crate::playbook::decode::{Sp, Span};
use crate::playbook::model::{
    Check, CommandProbe, FileProbe, HistoryProbe, HttpBody, HttpProbe, Probe,
};
use crate::playbook::raw::{RawCheck, RawHistory, RawHttp, RawHttpTable, RawJson, RawSize};
use crate::playbook::references::Scope;
use crate::playbook::size::{ByteSize, parse_size};
use crate::playbook::template::JsonTemplate;
use crate::playbook::validate::names::{is_playbook_name, playbook_name_like};
use crate::playbook::validate::validator::Validator;

impl Validator<'_> {
    /// `[[checks]]`, with default ids and duplicates reported.
    pub(crate) fn top_checks(&mut self, raw: Option<&Sp<Vec<Sp<RawCheck>>>>) -> Vec<Check> {
        let mut out: Vec<Check> = Vec::new();
        let mut seen: HashMap<String, usize> = HashMap::new();
        for (i, c) in raw.iter().flat_map(|c| &c.value).enumerate() {
            let id = c
                .value
                .id
                .as_ref()
                .map_or_else(|| format!("check-{}", i + 1), |id| id.value.clone());
            if let Some(first) = seen.get(&id) {
                let span = c
                    .value
                    .id
                    .as_ref()
                    .map_or_else(|| c.span.clone(), |s| s.span.clone());
                self.error(
                    span,
                    format!(
                        "duplicate check id `{id}`: check #{} already uses it",
                        first + 1
                    ),
                    "give each check its own id",
                );
                continue;
            }
            seen.insert(id.clone(), i);
            let at = c.value.id.as_ref().map_or_else(
                || format!("check #{}", i + 1),
                |id| format!("check `{}`", id.value),
            );
            if let Some(check) = self.check(c, id, Scope::NoSteps("[[checks]]"), &at) {
                out.push(check);
            }
        }
        out
    }

    /// A health check anywhere: `[[checks]]`, a step's `check`, `verify`.
    #[expect(
        clippy::too_many_lines,
        reason = "one check per key of a health check, in the format's order"
    )]
    pub(crate) fn check(
        &mut self,
        raw: &Sp<RawCheck>,
        default_id: String,
        scope: Scope,
        what: &str,
    ) -> Option<Check> {
        let c = &raw.value;
        let at = format!("in {what}");
        let probes: Vec<(&str, Span)> = [
            ("http", c.http.as_ref().map(|v| v.span.clone())),
            ("tcp", c.tcp.as_ref().map(|v| v.span.clone())),
            ("command", c.command.as_ref().map(|v| v.span.clone())),
            ("file", c.file.as_ref().map(|v| v.span.clone())),
            ("history", c.history.as_ref().map(|v| v.span.clone())),
        ]
        .into_iter()
        .filter_map(|(k, span)| span.map(|s| (k, s)))
        .collect();
        let probe_key = match probes.as_slice() {
            [(one, _)] => *one,
            [] => {
                if !["http", "tcp", "command", "file", "history"]
                    .iter()
                    .any(|k| self.cx.was_broken(c.span.start, k))
                {
                    self.error(raw.span.clone(), format!("{what} has no probe: a check needs exactly one of `http`, `tcp`, `command`, `file`, `history`"), "add what to look at, e.g. http = \"http://localhost:8080/health\"");
                }
                return None;
            }
            [(first, _), (second, span), ..] => {
                self.error(
                    span.clone(),
                    format!(
                        "{what} has both `{first}` and `{second}`: a check has exactly one probe"
                    ),
                    "split it into two checks, each with one probe",
                );
                return None;
            }
        };
        let mut ok = true;
        for (key, span, owner) in [
            (
                "stdout_contains",
                c.stdout_contains.as_ref().map(|v| v.span.clone()),
                "command",
            ),
            (
                "stdout_matches",
                c.stdout_matches.as_ref().map(|v| v.span.clone()),
                "command",
            ),
            (
                "max_age",
                c.max_age.as_ref().map(|v| v.span.clone()),
                "file",
            ),
            (
                "min_size",
                c.min_size.as_ref().map(|v| v.span.clone()),
                "file",
            ),
        ] {
            if let Some(span) = span
                && probe_key != owner
            {
                self.error(
                    span,
                    format!("`{key}` applies to a `{owner}` probe, not `{probe_key}` {at}"),
                    format!("remove `{key}` or use a `{owner}` probe"),
                );
                ok = false;
            }
        }
        let on = match &c.on {
            Some(raw) if probe_key == "command" => {
                let on = self.on(raw, scope, &at).ok();
                ok &= on.is_some();
                on
            }
            Some(raw) => {
                self.misplaced_on(raw, probe_key, true, &at);
                ok = false;
                None
            }
            None => None,
        };
        let probe = match probe_key {
            "http" => c
                .http
                .as_ref()
                .and_then(|h| self.http(h, scope, &at, false))
                .map(|h| Probe::Http(Box::new(h))),
            "tcp" => self
                .template(c.tcp.as_deref(), scope, &format!("`tcp` {at}"))
                .map(Probe::Tcp),
            "command" => {
                let command =
                    self.template(c.command.as_deref(), scope, &format!("`command` {at}"));
                let stdout_contains = self.template(
                    c.stdout_contains.as_deref(),
                    scope,
                    &format!("`stdout_contains` {at}"),
                );
                let stdout_matches = self.regex(c.stdout_matches.as_deref(), "stdout_matches", &at);
                ok &= c.stdout_matches.is_none() || stdout_matches.is_some();
                command.map(|command| {
                    Probe::Command(CommandProbe {
                        command,
                        on,
                        stdout_contains,
                        stdout_matches,
                    })
                })
            }
            "history" => c
                .history
                .as_ref()
                .and_then(|h| self.history(h, &at))
                .map(Probe::History),
            _ => {
                let glob = self.template(c.file.as_deref(), scope, &format!("`file` {at}"));
                let max_age = self.positive_duration(c.max_age.as_deref(), "max_age", &at);
                let min_size = c.min_size.as_ref().and_then(|m| self.size(m, &at));
                ok &= c.max_age.is_none() || max_age.is_some();
                ok &= c.min_size.is_none() || min_size.is_some();
                glob.map(|glob| {
                    Probe::File(FileProbe {
                        glob,
                        max_age,
                        min_size,
                    })
                })
            }
        };
        let interval = self.positive_duration(c.interval.as_deref(), "interval", &at);
        let timeout = self.positive_duration(c.timeout.as_deref(), "timeout", &at);
        let attempt_timeout =
            self.positive_duration(c.attempt_timeout.as_deref(), "attempt_timeout", &at);
        ok &= c.interval.is_none() || interval.is_some();
        ok &= c.timeout.is_none() || timeout.is_some();
        ok &= c.attempt_timeout.is_none() || attempt_timeout.is_some();
        let interval = interval.unwrap_or(Check::DEFAULT_INTERVAL);
        let attempt_timeout = attempt_timeout.unwrap_or_else(|| {
            interval.min(crate::playbook::duration::HumanDuration::from_millis(
                10_000,
            ))
        });
        let check = Check {
            id: c.id.as_ref().map_or(default_id, |i| i.value.clone()),
            title: c.title.as_ref().map(|t| t.value.clone()),
            probe: probe?,
            interval,
            timeout: timeout.unwrap_or(Check::DEFAULT_TIMEOUT),
            attempt_timeout,
        };
        ok.then_some(check)
    }

    /// `history = { playbook, since, min_success_rate, min_runs }`.
    fn history(&mut self, raw: &Sp<RawHistory>, at: &str) -> Option<HistoryProbe> {
        let h = &raw.value;
        let within = format!("in `history` {at}");
        let playbook = self
            .required(
                h.playbook.as_deref(),
                &h.span,
                "playbook",
                &within,
                "\"postgres-restore\"",
            )
            .cloned();
        let playbook = playbook.and_then(|p| {
            if is_playbook_name(&p.value) {
                return Some(p.value);
            }
            self.error(
                p.span.clone(),
                format!("invalid playbook name {:?} {within}", p.value),
                format!(
                    "name the playbook by its `name` in [playbook], e.g. \"{}\"",
                    playbook_name_like(&p.value)
                ),
            );
            None
        });
        let since = self.required(h.since.as_deref(), &h.span, "since", &within, "\"7d\"");
        let since = self.positive_duration(since, "since", &within);
        let mut ok = true;
        let min_success_rate = match &h.min_success_rate {
            Some(r) if (0.0..=1.0).contains(&r.value) => r.value,
            Some(r) => {
                let help = if r.value > 1.0 && r.value <= 100.0 {
                    format!(
                        "a rate is a fraction from 0 to 1: write {}",
                        r.value / 100.0
                    )
                } else {
                    "a rate is a fraction from 0 to 1, e.g. 0.95 for 95%".to_owned()
                };
                self.error(
                    r.span.clone(),
                    format!("`min_success_rate` {within} is {}, outside 0 to 1", r.value),
                    help,
                );
                ok = false;
                0.0
            }
            None => HistoryProbe::DEFAULT_MIN_SUCCESS_RATE,
        };
        let min_runs = match &h.min_runs {
            Some(n) => u32::try_from(n.value).unwrap_or_else(|_| {
                self.error(
                    n.span.clone(),
                    format!("`min_runs` {within} is {}, not a count of runs", n.value),
                    "write a whole number of runs, 0 or more, e.g. 1",
                );
                ok = false;
                0
            }),
            None => HistoryProbe::DEFAULT_MIN_RUNS,
        };
        let probe = HistoryProbe {
            playbook: playbook?,
            since: since?,
            min_success_rate,
            min_runs,
        };
        ok.then_some(probe)
    }

    fn size(&mut self, raw: &Sp<RawSize>, at: &str) -> Option<ByteSize> {
        let result = match &raw.value {
            RawSize::Bytes(n) => u64::try_from(*n).map(ByteSize).map_err(|_| None),
            RawSize::Text(t) => parse_size(t),
        };
        match result {
            Ok(size) => Some(size),
            Err(suggestion) => {
                let shown = match &raw.value {
                    RawSize::Bytes(n) => n.to_string(),
                    RawSize::Text(t) => format!("{t:?}"),
                };
                let help = suggestion.map_or_else(
                    || "write a number of bytes or a size with a unit: B, KB, MB, GB (powers of 1000), KiB, MiB, GiB (powers of 1024)".to_owned(),
                    |s| format!("write \"{s}\"; units are B, KB, MB, GB (powers of 1000) and KiB, MiB, GiB (powers of 1024)"),
                );
                self.error(
                    raw.span.clone(),
                    format!("invalid size {shown} for `min_size` {at}"),
                    help,
                );
                None
            }
        }
    }

    pub(crate) fn http(
        &mut self,
        raw: &Sp<RawHttp>,
        scope: Scope,
        at: &str,
        is_step: bool,
    ) -> Option<HttpProbe> {
        let table = match &raw.value {
            RawHttp::Url(url) => {
                let url = self.template(
                    Some(&Sp::new(url.clone(), raw.span.clone())),
                    scope,
                    &format!("`http` {at}"),
                )?;
                return Some(HttpProbe {
                    url,
                    method: "GET".to_owned(),
                    headers: IndexMap::new(),
                    body: None,
                    status: None,
                    body_contains: None,
                    body_matches: None,
                    json_pointer: None,
                    equals: None,
                    insecure_tls: false,
                });
            }
            RawHttp::Table(t) => t,
        };
        self.http_table(table, scope, at, is_step)
    }

    #[expect(
        clippy::too_many_lines,
        reason = "one check per key of an http table, in the format's order"
    )]
    fn http_table(
        &mut self,
        t: &RawHttpTable,
        scope: Scope,
        at: &str,
        is_step: bool,
    ) -> Option<HttpProbe> {
        let mut ok = true;
        if !is_step {
            for (key, span) in [
                ("method", t.method.as_ref().map(|v| v.span.clone())),
                ("body", t.body.as_ref().map(|v| v.span.clone())),
                ("json", t.json.as_ref().map(|v| v.span.clone())),
            ] {
                if let Some(span) = span {
                    self.error(span, format!("`{key}` is only allowed in an `http` step, not in a check {at}"), "checks send GET requests; make this an `http` step to send a request with a body");
                    ok = false;
                }
            }
        }
        let url = self
            .required(
                t.url.as_deref(),
                &t.span,
                "url",
                &format!("in `http` {at}"),
                "\"http://localhost:8080/health\"",
            )
            .cloned();
        let url = self.template(url.as_ref(), scope, &format!("`http.url` {at}"));
        let method = t
            .method
            .as_ref()
            .map_or_else(|| "GET".to_owned(), |m| m.value.to_ascii_uppercase());
        if let Some(m) = t.method.as_ref()
            && !["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
                .contains(&method.as_str())
        {
            self.error(
                m.span.clone(),
                format!("unknown HTTP method {:?} {at}", m.value),
                "use GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS",
            );
            ok = false;
        }
        let headers = self.templates(t.headers.as_deref(), scope, &format!("`http.headers` {at}"));
        let body = match (&t.body, &t.json) {
            (Some(_), Some(j)) => {
                self.error(
                    j.span.clone(),
                    format!("`http` has both `body` and `json` {at}"),
                    "send one body: `body` for text, `json` for a JSON document",
                );
                ok = false;
                None
            }
            (Some(b), None) => self
                .template(Some(b), scope, &format!("`http.body` {at}"))
                .map(HttpBody::Text),
            (None, Some(j)) => self
                .json_body(&j.value, scope, at, "json")
                .map(HttpBody::Json),
            (None, None) => None,
        };
        let status = match t.status.as_ref() {
            Some(s) => match u16::try_from(s.value) {
                Ok(code) if (100..=599).contains(&code) => Some(code),
                _ => {
                    self.error(
                        s.span.clone(),
                        format!("invalid HTTP status {} {at}", s.value),
                        "HTTP statuses are 100 to 599, e.g. 200",
                    );
                    ok = false;
                    None
                }
            },
            None => None,
        };
        let body_contains = self.template(
            t.body_contains.as_deref(),
            scope,
            &format!("`http.body_contains` {at}"),
        );
        let body_matches = self.regex(t.body_matches.as_deref(), "body_matches", at);
        ok &= t.body_matches.is_none() || body_matches.is_some();
        let json_pointer = t
            .json_pointer
            .as_ref()
            .and_then(|p| self.json_pointer(p, at));
        ok &= t.json_pointer.is_none() || json_pointer.is_some();
        if let (Some(e), None) = (&t.equals, &t.json_pointer) {
            self.error(
                e.span.clone(),
                format!("`equals` without `json_pointer` {at}"),
                "say which value to compare: json_pointer = \"/status\"",
            );
            ok = false;
        }
        let probe = HttpProbe {
            url: url?,
            method,
            headers,
            body,
            status,
            body_contains,
            body_matches,
            json_pointer,
            equals: t.equals.as_ref().map(|e| e.value.clone()),
            insecure_tls: t.insecure_tls.as_ref().is_some_and(|b| b.value),
        };
        ok.then_some(probe)
    }

    /// A `json` body: every string, at any depth, is a template, named by its path
    /// (`http.json.alert.title`) in messages.
    fn json_body(
        &mut self,
        raw: &RawJson,
        scope: Scope,
        at: &str,
        path: &str,
    ) -> Option<JsonTemplate> {
        match raw {
            RawJson::String(s) => self
                .template(Some(s), scope, &format!("`http.{path}` {at}"))
                .map(JsonTemplate::String),
            RawJson::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                let mut ok = true;
                for (i, item) in items.iter().enumerate() {
                    match self.json_body(item, scope, at, &format!("{path}[{i}]")) {
                        Some(t) => out.push(t),
                        None => ok = false,
                    }
                }
                ok.then_some(JsonTemplate::Array(out))
            }
            RawJson::Table(map) => {
                let mut out = IndexMap::with_capacity(map.len());
                let mut ok = true;
                for (key, item) in map {
                    match self.json_body(item, scope, at, &format!("{path}.{key}")) {
                        Some(t) => {
                            out.insert(key.clone(), t);
                        }
                        None => ok = false,
                    }
                }
                ok.then_some(JsonTemplate::Object(out))
            }
            RawJson::Value(v) => Some(JsonTemplate::Value(v.clone())),
        }
    }
}
