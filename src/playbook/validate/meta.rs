//! The playbook as a whole: `[playbook]` (identity, objectives, the RTO clock), `[vars]` and
//! `[report]`, and the assembly of the model from every pass.

use std::fmt::Write as _;
use std::sync::Arc;

use indexmap::IndexMap;
use semver::Version;
use sha2::{Digest, Sha256};

use crate::playbook::decode::Sp;
use crate::playbook::model::{
    ApprovalPolicy, IncludeLogs, LockPolicy, Meta, Objective, Playbook, ReportSettings, RtoClock,
    StepIndex, VarValue,
};
use crate::playbook::raw::{
    RawEnvironment, RawEnvironments, RawMeta, RawPlaybook, RawReport, RawVar,
};
use crate::playbook::references::Scope;
use crate::playbook::schedule::CronSchedule;
use crate::playbook::template::Template;
use crate::playbook::validate::names::{
    env_name_like, is_env_name, is_playbook_name, is_var_name, playbook_name_like,
};
use crate::playbook::validate::validator::{StepIds, Validator, key_span};

impl Validator<'_> {
    /// `locks` of [playbook]: templates rendered before the run starts, so no `steps.*`.
    fn locks(&mut self, raw: Option<&Sp<Vec<Sp<String>>>>) -> Vec<Template> {
        let at = "`locks` of [playbook]";
        raw.iter()
            .flat_map(|l| &l.value)
            .filter_map(|l| self.template(Some(l), Scope::NoSteps(at), at))
            .collect()
    }

    /// `max_parallel` of [playbook]: 1 to [`Meta::MAX_PARALLEL`].
    fn max_parallel(&mut self, raw: Option<&Sp<i64>>) -> Option<usize> {
        let m = raw?;
        if let Ok(n @ 1..=Meta::MAX_PARALLEL) = usize::try_from(m.value) {
            return Some(n);
        }
        self.error(
            m.span.clone(),
            format!(
                "invalid `max_parallel` {} in [playbook]: it is how many steps may run at once",
                m.value
            ),
            format!(
                "use a whole number from 1 to {}, or leave it out for no limit",
                Meta::MAX_PARALLEL
            ),
        );
        None
    }

    pub(crate) fn playbook(&mut self, raw: &mut RawPlaybook) -> Option<Playbook> {
        let file = Arc::clone(self.cx.file());
        let meta_raw = raw.playbook.as_ref();
        if meta_raw.is_none() && !self.cx.was_broken(raw.span.start, "playbook") {
            self.error(
                0..0,
                "missing [playbook] table",
                "start the file with [playbook], its `name` and `version`: [playbook] name = \"my-playbook\" version = \"1.0.0\"",
            );
        }
        let hosts = self.hosts(raw.hosts.as_deref());
        let ids = match self.ids.take() {
            Some(ids) => ids,
            None => self.steps(raw),
        };
        let meta = meta_raw.and_then(|m| self.meta(&m.value, &ids));
        let vars = self.vars(raw.vars.as_deref());
        let env = self.env_map(raw.env.as_deref(), Scope::NoSteps("[env]"), "[env]");
        let notify = self.notify(raw.notify.as_deref());
        let report = self.report(raw.report.as_deref());
        let checks = self.top_checks(raw.checks.as_deref());
        let outputs = self.templates(raw.outputs.as_deref(), Scope::AnyStep, "[outputs]");
        let steps = self.finish_steps(raw, &ids, meta.as_ref());
        // The first pass's names are done with: the model's index replaces them.
        drop(ids);
        let mut meta = meta?;
        if let Some(RawEnvironments::Table(table)) = raw
            .playbook
            .as_ref()
            .and_then(|m| m.value.environments.as_ref())
            .map(|e| &e.value)
        {
            meta.environment_vars = self.environment_vars(table, &vars);
        }
        let mut hasher = Sha256::new();
        hasher.update(file.text.as_bytes());
        let sha256 = format!("{:x}", hasher.finalize());
        Some(Playbook {
            source: file,
            sha256,
            meta,
            vars,
            env,
            hosts,
            notify,
            report,
            checks,
            index: StepIndex::new(steps.as_deref().unwrap_or_default()),
            steps: steps?,
            outputs,
        })
    }

    #[expect(clippy::too_many_lines, reason = "one key of [playbook] after another")]
    fn meta(&mut self, raw: &RawMeta, steps: &StepIds) -> Option<Meta> {
        let at = "in [playbook]";
        let name = self
            .required(
                raw.name.as_deref(),
                &raw.span,
                "name",
                at,
                "\"my-playbook\"",
            )
            .cloned();
        let name = name.and_then(|n| self.name(&n));
        let version = self
            .required(
                raw.version.as_deref(),
                &raw.span,
                "version",
                at,
                "\"1.0.0\"",
            )
            .cloned();
        let version = version.and_then(|v| self.version(&v));
        let environments = raw.environments.as_ref().map(|e| match &e.value {
            RawEnvironments::Names(names) => names.iter().map(|n| n.value.clone()).collect(),
            RawEnvironments::Table(table) => table.keys().cloned().collect(),
        });
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
            .positive_duration(raw.rto.as_deref(), "rto", at)
            .map(|d| {
                Objective::new(
                    d,
                    &raw.rto.as_ref().map(|r| r.span.clone()).unwrap_or_default(),
                )
            });
        let rpo = self
            .positive_duration(raw.rpo.as_deref(), "rpo", at)
            .map(|d| {
                Objective::new(
                    d,
                    &raw.rpo.as_ref().map(|r| r.span.clone()).unwrap_or_default(),
                )
            });
        let drill_every = self.positive_duration(raw.drill_every.as_deref(), "drill_every", at);
        let cleanup_timeout =
            (self.positive_duration(raw.cleanup_timeout.as_deref(), "cleanup_timeout", at))
                .unwrap_or(Meta::DEFAULT_CLEANUP_TIMEOUT);
        let max_parallel = self.max_parallel(raw.max_parallel.as_deref());
        let mode = (self.choice(raw.mode.as_deref(), "mode", at, &Meta::MODES)).map(str::to_owned);
        let locks = self.locks(raw.locks.as_deref());
        let approvals = match self.choice(
            raw.approvals.as_deref(),
            "approvals",
            at,
            &ApprovalPolicy::NAMES,
        ) {
            Some("wait") => ApprovalPolicy::Wait,
            _ => ApprovalPolicy::Ask,
        };
        let schedule = raw.schedule.as_ref().and_then(|s| self.schedule(s));
        let lock = match self.choice(raw.lock.as_deref(), "lock", at, &LockPolicy::NAMES) {
            Some("wait") => LockPolicy::Wait,
            Some("skip") => LockPolicy::Skip,
            _ => LockPolicy::Fail,
        };
        let rto_clock = raw.rto_clock.as_ref().and_then(|c| {
            let c = &c.value;
            let where_ = "in [playbook.rto_clock]";
            let start = self
                .required(
                    c.start.as_deref(),
                    &c.span,
                    "start",
                    where_,
                    "\"first-step\"",
                )
                .cloned();
            let stop = self
                .required(c.stop.as_deref(), &c.span, "stop", where_, "\"last-step\"")
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
            raw.recovery_point.as_deref(),
            Scope::AnyStep,
            "`recovery_point` of [playbook]",
        );
        Some(Meta {
            name: name?,
            version: version?,
            title: raw.title.as_ref().map(|t| t.value.clone()),
            description: raw.description.as_ref().map(|t| t.value.clone()),
            owner: raw.owner.as_ref().map(|t| t.value.clone()),
            tags: Self::strings(raw.tags.as_deref()),
            environments,
            environment_vars: IndexMap::new(),
            secrets,
            rto,
            rpo,
            rto_clock,
            recovery_point,
            drill_every,
            schedule,
            lock,
            cleanup_timeout,
            max_parallel,
            mode,
            approvals,
            locks,
        })
    }

    fn schedule(&mut self, raw: &Sp<String>) -> Option<CronSchedule> {
        match CronSchedule::parse(&raw.value) {
            Ok(s) => Some(s),
            Err(e) => {
                let help = e.suggestion.map_or_else(
                    || "write five fields, minute hour day-of-month month day-of-week, read in UTC: \"0 2 * * *\" is every day at 02:00 UTC, \"*/15 * * * 1-5\" every 15 minutes on weekdays".to_owned(),
                    |s| format!("write `schedule = \"{s}\"`: five fields, minute hour day-of-month month day-of-week, in UTC"),
                );
                self.error(
                    raw.span.clone(),
                    format!(
                        "invalid schedule {:?} in [playbook]: {}",
                        raw.value, e.reason
                    ),
                    help,
                );
                None
            }
        }
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
            if let Some(v) = self.var(&format!("var `{name}` of [vars]"), value, 0) {
                out.insert(name.clone(), v);
            }
        }
        out
    }

    /// Each environment's var values: declared vars only, of their declared kind.
    fn environment_vars(
        &mut self,
        table: &IndexMap<String, Sp<RawEnvironment>>,
        declared: &IndexMap<String, VarValue>,
    ) -> IndexMap<String, IndexMap<String, VarValue>> {
        let mut out = IndexMap::new();
        for (env, raw) in table {
            let mut values = IndexMap::new();
            for (name, value) in raw.value.vars.iter().flat_map(|v| &v.value) {
                let Some(declaration) = declared.get(name) else {
                    let span = raw
                        .value
                        .vars
                        .as_ref()
                        .and_then(|v| key_span(&self.cx.file().text, &v.span, name))
                        .unwrap_or_else(|| value.span.clone());
                    let mut message = format!(
                        "unknown var `{name}` in [playbook.environments.{env}] vars: an environment sets values of declared vars only"
                    );
                    let help = match self
                        .cx
                        .suggest
                        .closest(name, declared.keys().map(String::as_str))
                    {
                        Some(close) => {
                            let _ = write!(message, ", did you mean `{close}`?");
                            format!("change it to `{close}`")
                        }
                        None => format!("declare it in [vars] first: {name} = …"),
                    };
                    self.error(span, message, help);
                    continue;
                };
                let label = format!("var `{name}` in [playbook.environments.{env}]");
                let Some(v) = self.var(&label, value, 0) else {
                    continue;
                };
                if !declaration.accepts(&v) {
                    self.error(
                        value.span.clone(),
                        format!("var `{name}` is {} in [playbook.environments.{env}], but [vars] declares it as {} ({name} = {declaration})", v.kind(), declaration.kind()),
                        format!("give it {}", declaration.kind()),
                    );
                    continue;
                }
                values.insert(name.clone(), v);
            }
            out.insert(env.clone(), values);
        }
        out
    }

    /// One var's value: a scalar, a table of scalars (`depth` 1 inside an array), or an array
    /// of scalars or tables; anything deeper is an error at its span.
    /// `label` says where: "var `host` of [vars]".
    fn var(&mut self, label: &str, raw: &Sp<RawVar>, depth: u8) -> Option<VarValue> {
        let deeper = |what: &str| {
            format!(
                "{what} in {label}: a var is a value, an array of values or tables, or a table of values"
            )
        };
        Some(match &raw.value {
            RawVar::String(s) => VarValue::String(s.clone()),
            RawVar::Integer(n) => VarValue::Integer(*n),
            RawVar::Float(x) => VarValue::Float(*x),
            RawVar::Bool(b) => VarValue::Bool(*b),
            RawVar::List(items) if depth == 0 => {
                let mut out = Vec::with_capacity(items.len());
                let mut kind = None;
                for item in items {
                    let v = match &item.value {
                        RawVar::List(_) => {
                            self.error(item.span.clone(), deeper("an array inside an array"), "flatten it, or use an array of tables: [{ name = \"a\", port = 1 }]");
                            return None;
                        }
                        RawVar::Table(_) => self.var(label, item, 1)?,
                        _ => self.var(label, item, 2)?,
                    };
                    match kind {
                        None => kind = Some(v.kind()),
                        Some(k) if k != v.kind() => {
                            self.error(item.span.clone(), format!("{} in {label}, whose first element is {k}: the elements of an array are of one kind", v.kind()), format!("make every element {k}"));
                            return None;
                        }
                        Some(_) => {}
                    }
                    out.push(v);
                }
                VarValue::List(out)
            }
            RawVar::Table(entries) if depth < 2 => {
                let mut out = IndexMap::with_capacity(entries.len());
                for (key, entry) in entries {
                    if matches!(entry.value, RawVar::List(_) | RawVar::Table(_)) {
                        self.error(
                            entry.span.clone(),
                            deeper(&format!(
                                "`{key}` holds {}",
                                if matches!(entry.value, RawVar::List(_)) {
                                    "an array"
                                } else {
                                    "a table"
                                }
                            )),
                            "keep one level: a table of strings, numbers and booleans",
                        );
                        return None;
                    }
                    out.insert(key.clone(), self.var(label, entry, 2)?);
                }
                VarValue::Table(out)
            }
            RawVar::List(_) | RawVar::Table(_) => {
                self.error(
                    raw.span.clone(),
                    deeper("a value nested too deep"),
                    "keep one level: a table of strings, numbers and booleans",
                );
                return None;
            }
        })
    }

    fn report(&mut self, raw: Option<&Sp<RawReport>>) -> ReportSettings {
        let Some(raw) = raw else {
            return ReportSettings::default();
        };
        let r = &raw.value;
        let include_logs = match self.choice(
            r.include_logs.as_deref(),
            "include_logs",
            "in [report]",
            &IncludeLogs::NAMES,
        ) {
            Some("all") => IncludeLogs::All,
            Some("none") => IncludeLogs::None,
            _ => IncludeLogs::Failures,
        };
        ReportSettings {
            signoff: Self::strings(r.signoff.as_deref()),
            title: self.template(r.title.as_deref(), Scope::AnyStep, "`title` of [report]"),
            include_logs,
            publish: self.template(
                r.publish.as_deref(),
                Scope::Publish,
                "`publish` of [report]",
            ),
        }
    }
}
