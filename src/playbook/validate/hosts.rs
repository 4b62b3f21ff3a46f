//! Validation of `[hosts.NAME]` (the inventory of remote hosts) and of `on`, which sends a
//! `run` step's command or a `command` probe to one of them.

use std::fmt::Write as _;

use indexmap::IndexMap;

use crate::playbook::decode::{Sp, Span};
use crate::playbook::diagnostic::some_names;
use crate::playbook::model::{ForEach, ForEachSource, Host, On};
use crate::playbook::raw::{RawHost, RawOn};
use crate::playbook::references::Scope;
use crate::playbook::template::Template;
use crate::playbook::validate::validator::Validator;

/// Whether `name` may name a host: a letter or digit, then letters, digits, `.`, `-`, `_`
/// (it becomes part of an instance id, `step[NAME]`).
fn is_host_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphanumeric())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

impl Validator<'_> {
    /// `[hosts]`: every host's `ssh` (required), `identity` and `known_hosts`, all templates of
    /// vars and env. Remembers the names for [`Validator::on`].
    pub(crate) fn hosts(
        &mut self,
        raw: Option<&Sp<IndexMap<String, Sp<RawHost>>>>,
    ) -> IndexMap<String, Host> {
        let mut out = IndexMap::new();
        for (name, host) in raw.map(|h| &h.value).into_iter().flatten() {
            let at = format!("in [hosts.{name}]");
            if !is_host_name(name) {
                let like: String = name
                    .chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() || c == '.' || c == '_' {
                            c
                        } else {
                            '-'
                        }
                    })
                    .collect();
                self.error(
                    host.span.clone(),
                    format!("invalid host name {name:?}"),
                    format!("host names start with a letter or digit and use letters, digits, `.`, `-` and `_`, e.g. [hosts.{}]", like.trim_start_matches(['-', '.', '_'])),
                );
                continue;
            }
            self.host_names.push(name.clone());
            let h = &host.value;
            let scope = Scope::NoSteps("[hosts]");
            let ssh = self
                .required(
                    h.ssh.as_deref(),
                    &h.span,
                    "ssh",
                    &at,
                    "\"user@10.0.4.12:22\"",
                )
                .cloned();
            if let Some(ssh) = &ssh
                && ssh.value.trim().is_empty()
            {
                self.error(
                    ssh.span.clone(),
                    format!("empty `ssh` {at}"),
                    "write the address as \"[user@]host[:port]\", or a Host alias of ~/.ssh/config",
                );
                continue;
            }
            let ssh = self.template(ssh.as_ref(), scope, &format!("`ssh` {at}"));
            let identity = self.template(h.identity.as_deref(), scope, &format!("`identity` {at}"));
            let known_hosts = self.template(
                h.known_hosts.as_deref(),
                scope,
                &format!("`known_hosts` {at}"),
            );
            let broken = (h.identity.is_some() && identity.is_none())
                || (h.known_hosts.is_some() && known_hosts.is_none());
            if let Some(ssh) = ssh
                && !broken
            {
                out.insert(
                    name.clone(),
                    Host {
                        ssh,
                        identity,
                        known_hosts,
                    },
                );
            }
        }
        out
    }

    /// `on` of a step's `run`: one host as for a probe ([`Validator::on`]), or a list of hosts,
    /// which fans the step out like `for_each` over the host names: one instance `ID[HOST]` per
    /// host, each on its host (`on = "{{item}}"`). `Err(())` once the problem is recorded.
    pub(crate) fn step_on(
        &mut self,
        raw: &Sp<RawOn>,
        has_for_each: bool,
        scope: Scope,
        at: &str,
    ) -> Result<(On, Option<ForEach>), ()> {
        let RawOn::Many(names) = &raw.value else {
            return self.on(raw, scope, at).map(|on| (on, None));
        };
        if has_for_each {
            self.error(
                raw.span.clone(),
                format!("`on` {at} lists hosts, and the step has a `for_each` too: a list of hosts is a `for_each` of its own"),
                "keep `for_each` and send each instance to its host with on = \"{{item.host}}\" (or the item itself, on = \"{{item}}\")",
            );
            return Err(());
        }
        if names.is_empty() {
            self.error(
                raw.span.clone(),
                format!("`on` {at} is an empty list"),
                "name the hosts the step runs on, e.g. on = [\"app-1\", \"app-2\"]",
            );
            return Err(());
        }
        let mut ok = true;
        let mut items = Vec::with_capacity(names.len());
        for name in names {
            if self.host_names.iter().any(|h| h == &name.value) {
                items.push(serde_json::Value::String(name.value.clone()));
            } else {
                self.unknown_host(&name.value, name.span.clone(), at);
                ok = false;
            }
        }
        if !ok {
            return Err(());
        }
        if let Err(problem) = ForEach::check_items(&items) {
            self.error(
                raw.span.clone(),
                format!("`on` {at} {problem}"),
                "list each host once",
            );
            return Err(());
        }
        let (item, _) = Template::parse("{{item}}").expect("a valid template");
        Ok((
            On::Template(item),
            Some(ForEach {
                text: serde_json::Value::Array(items.clone()).to_string(),
                source: ForEachSource::Items(items),
                span: raw.span.clone(),
            }),
        ))
    }

    /// `on` of a `command` probe (or of a step, one host): a host of `[hosts]` (with "did you
    /// mean"), or a template rendered when it runs. `Err(())` once the problem is recorded.
    pub(crate) fn on(&mut self, raw: &Sp<RawOn>, scope: Scope, at: &str) -> Result<On, ()> {
        match &raw.value {
            RawOn::Many(names) => {
                let example = names.first().map_or("app-1", |n| n.value.as_str());
                self.error(
                    raw.span.clone(),
                    format!("`on` {at} lists {} hosts, but a check runs on one host", names.len()),
                    format!("name one host, on = \"{example}\"; a step with on = [...] runs once per host, and its check can name the instance's host with on = \"{{{{item}}}}\""),
                );
                Err(())
            }
            RawOn::One(name) if name.contains("{{") => {
                let written = Sp::new(name.clone(), raw.span.clone());
                self.template(Some(&written), scope, &format!("`on` {at}"))
                    .map(On::Template)
                    .ok_or(())
            }
            RawOn::One(name) => {
                if self.host_names.iter().any(|h| h == name) {
                    return Ok(On::Host(name.clone()));
                }
                self.unknown_host(name, raw.span.clone(), at);
                Err(())
            }
        }
    }

    fn unknown_host(&mut self, name: &str, span: Span, at: &str) {
        let mut message = format!("unknown host `{name}` in `on` {at}");
        let names = std::mem::take(&mut self.host_names);
        let help = if names.is_empty() {
            format!("declare it: [hosts.{name}] ssh = \"user@host:22\"")
        } else {
            match self
                .cx
                .suggest
                .closest(name, names.iter().map(String::as_str))
            {
                Some(close) => {
                    let _ = write!(message, ", did you mean `{close}`?");
                    format!("change it to `{close}`")
                }
                None => format!(
                    "name one of [hosts]: {}, or add [hosts.{name}]",
                    some_names(names.iter().map(String::as_str), names.len())
                ),
            }
        };
        self.host_names = names;
        self.error(span, message, help);
    }

    /// `on` where it does not belong: a step whose action is not `run`, a probe that is not
    /// `command`. `key` is the action or probe key.
    pub(crate) fn misplaced_on(&mut self, raw: &Sp<RawOn>, key: &str, probe: bool, at: &str) {
        let (message, help) = match (probe, key) {
            (true, "file") => (
                format!("`on` with a `file` probe {at}: a `file` probe looks at the runner's own files"),
                "look on the host with a command probe instead: command = \"test -s /path/to/file\", on = \"...\"".to_owned(),
            ),
            (true, _) => (
                format!("`on` with a `{key}` probe {at}: `http`, `tcp` and `history` probes are made from the runner"),
                "remove `on`, or use a `command` probe, which runs on the host".to_owned(),
            ),
            (false, "check") => (
                format!("`on` on a `check` step {at}: the host belongs to the probe"),
                "put it inside the check: check = { command = \"...\", on = \"...\" }".to_owned(),
            ),
            (false, _) => (
                format!("`on` has no effect on a `{key}` step {at}"),
                "`on` applies to `run` steps (and `command` probes); remove it here".to_owned(),
            ),
        };
        self.error(raw.span.clone(), message, help);
    }
}

#[cfg(test)]
mod tests {
    use super::is_host_name;

    #[test]
    fn host_names() {
        for good in ["db-primary", "app_1", "10.0.4.12", "a"] {
            assert!(is_host_name(good), "{good}");
        }
        for bad in ["", "-db", "db primary", "db[1]", "é"] {
            assert!(!is_host_name(bad), "{bad}");
        }
    }
}
