//! Validation of `[[steps]]`: ids, needs, the one action key, per-action keys, outputs and
//! expectations. Health checks and probes are `check.rs`'s.

use std::fmt::Write as _;
use std::sync::Arc;

use indexmap::IndexMap;
use semver::VersionReq;

use crate::playbook::decode::{Sp, Span};
use crate::playbook::diagnostic::{did_you_mean, some_names, some_of};
use crate::playbook::graph::{self, StepGraph};
use crate::playbook::model::{
    ACTION_KEYS, Action, Expect, Meta, Notice, OnFailure, OutputSource, Outputs, PlaybookRef, Step,
    StepMore,
};
use crate::playbook::raw::{RawOutput, RawPlaybook, RawStep};
use crate::playbook::references::Scope;
use crate::playbook::validate::names::{MAX_STEP_ID, is_playbook_name, is_step_id};
use crate::playbook::validate::validator::{StepIds, Validator, nested_vars};
use crate::text::List;

fn location(id: Option<&String>, index: usize) -> String {
    id.map_or_else(
        || format!("in step #{}", index + 1),
        |id| format!("in step `{id}`"),
    )
}

impl Validator<'_> {
    /// First pass: every step's id, with duplicates and bad ids reported.
    pub(crate) fn steps(&mut self, raw: &RawPlaybook) -> StepIds {
        let ids = StepIds::default();
        let Some(steps) = raw.steps.as_ref() else {
            if !self.cx.was_broken(raw.span.start, "steps") {
                self.error(
                    0..0,
                    "no steps: a playbook needs at least one [[steps]] table",
                    "add a step: [[steps]] id = \"first\" run = \"echo hello\"",
                );
            }
            return ids;
        };
        if steps.value.is_empty() {
            self.error(
                steps.span.clone(),
                "no steps: `steps` is empty",
                "add at least one [[steps]] table with an `id` and an action",
            );
        }
        // Each valid id's first step, by the id as the raw step has it.
        let mut first_of: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
        let mut by_index = Vec::with_capacity(steps.value.len());
        for (i, step) in steps.value.iter().enumerate() {
            let s = &step.value;
            let id = self
                .required(
                    s.id.as_deref(),
                    &s.span,
                    "id",
                    &format!("in step #{}", i + 1),
                    "\"step-name\"",
                )
                .cloned();
            let id = id.filter(|id| {
                let length = id.value.chars().count();
                if is_step_id(&id.value) && length > MAX_STEP_ID {
                    self.error(
                        id.span.clone(),
                        format!("step id of {length} characters is too long: at most {MAX_STEP_ID}"),
                        "a step id names its log file (`logs/ID.log`), and a file name has at most 255 bytes; shorten it".to_owned(),
                    );
                    return false;
                }
                if is_step_id(&id.value) {
                    return true;
                }
                let mut like: String = id.value.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '-' }).collect();
                if !like.starts_with(|c: char| c.is_ascii_alphabetic()) {
                    like = format!("step-{like}");
                }
                self.error(
                    id.span.clone(),
                    format!("invalid step id {:?}", id.value),
                    format!("step ids start with a letter and use letters, digits, `-` and `_`, e.g. \"{like}\""),
                );
                false
            });
            let name = id.map(|id| {
                let raw_id = s.id.as_ref().map_or("", |r| r.value.as_str());
                if let Some(&first) = first_of.get(raw_id) {
                    let first_at = steps.value[first]
                        .value
                        .id
                        .as_ref()
                        .map_or(0, |f| f.span.start);
                    let (line, _) = self.cx.file().line_col(first_at);
                    self.error(
                        id.span.clone(),
                        format!(
                            "duplicate step id `{}`: step #{} on line {line} already uses it",
                            id.value,
                            first + 1
                        ),
                        "give each step its own id",
                    );
                } else {
                    first_of.insert(raw_id, i);
                }
                id.value
            });
            by_index.push(name);
        }
        drop(first_of);
        StepIds::new(by_index)
    }

    /// The step ids of `needs` or `after` (`key`): known, not the step itself, each once, and
    /// (for `after`) not also in `needs`.
    #[expect(
        clippy::too_many_arguments,
        reason = "the step's context, passed as it is"
    )]
    fn step_list(
        &mut self,
        raw: Option<&Sp<Vec<Sp<String>>>>,
        key: &str,
        id: Option<&String>,
        ids: &StepIds,
        at: &str,
        needs: &[usize],
        ok: &mut bool,
    ) -> Vec<usize> {
        // Sized to what is written, so that the step keeps it as it is (#18).
        let mut out = Vec::with_capacity(raw.map_or(0, |n| n.value.len()));
        for entry in raw.iter().flat_map(|n| &n.value) {
            if id == Some(&entry.value) {
                let verb = if key == "needs" {
                    "needs"
                } else {
                    "runs after"
                };
                self.error(
                    entry.span.clone(),
                    format!("step `{}` {verb} itself", entry.value),
                    format!("remove it from its own `{key}`"),
                );
                *ok = false;
                continue;
            }
            match self.step_ref(ids, entry, &format!("`{key}` {at}")) {
                Some(n) if out.contains(&n) => {
                    self.warning(
                        entry.span.clone(),
                        format!("`{}` is listed twice in `{key}` {at}", entry.value),
                        "list each step once",
                    );
                }
                Some(n) if needs.contains(&n) => {
                    self.warning(
                        entry.span.clone(),
                        format!("`{}` is in both `needs` and `after` {at}", entry.value),
                        "keep it in `needs` if the step must succeed first, in `after` if it only has to end",
                    );
                }
                Some(n) => out.push(n),
                None => *ok = false,
            }
        }
        out
    }

    /// A reference to a step by id, with "did you mean".
    pub(crate) fn step_ref(
        &mut self,
        ids: &StepIds,
        value: &Sp<String>,
        what: &str,
    ) -> Option<usize> {
        if let Some(i) = ids.get(&value.value) {
            return Some(i);
        }
        let mut message = format!("unknown step `{}` in {what}", value.value);
        let help = match self.cx.suggest.closest(&value.value, ids.names()) {
            Some(close) => {
                let _ = write!(message, ", did you mean `{close}`?");
                format!("change it to `{close}`")
            }
            None => format!(
                "name one of the steps: {}",
                some_names(ids.names(), ids.distinct())
            ),
        };
        self.error(value.span.clone(), message, help);
        None
    }

    /// Second pass: every step of the model, then the graph's cycles. On the lean path each
    /// `[[steps]]` table is decoded when its model step is built ([`Validator::chunks`]), or,
    /// where the steps were decoded first, each raw step is dropped once it became a model step
    /// ([`Validator::consume_steps`]), so the raw steps and the model never both exist whole
    /// (#18); a cycle is then not described (the caller validates the whole document again,
    /// which describes it).
    pub(crate) fn finish_steps(
        &mut self,
        raw: &mut RawPlaybook,
        ids: &StepIds,
        meta: Option<&Meta>,
    ) -> Option<Vec<Step>> {
        let raw_steps = raw
            .steps
            .as_ref()
            .map(|s| s.value.as_slice())
            .unwrap_or_default();
        let any_rollback = raw_steps.iter().any(|s| s.value.rollback.is_some());
        let mut steps = Vec::with_capacity(raw_steps.len());
        let mut complete = true;
        if let Some(chunks) = self.chunks.take() {
            // Each step is decoded as it is built, and must have the id its line showed.
            // Whether any step has a rollback is known only at the end: `on_failure =
            // "rollback"` without one leaves the playbook to the whole path.
            steps.reserve_exact(chunks.len());
            let text = &Arc::clone(self.cx.file()).text;
            let mut saw_rollback = false;
            for i in 0..chunks.len() {
                let (raw_step, _) = chunks.decode(i, &mut self.cx)?;
                let lexed = ids.by_index.get(i).and_then(Option::as_deref);
                if !chunks.confirms(i, raw_step.value.id.as_deref(), lexed) {
                    return None;
                }
                saw_rollback |= raw_step.value.rollback.is_some();
                nested_vars(text, i, &raw_step.value, &mut self.nested);
                match self.step(&raw_step.value, i, ids, meta, true) {
                    Some(step) => steps.push(step),
                    None => complete = false,
                }
            }
            if !saw_rollback && steps.iter().any(|s| s.on_failure == OnFailure::Rollback) {
                return None;
            }
        } else if self.consume_steps {
            let owned = raw.steps.take().map(|s| s.value).unwrap_or_default();
            let text = &Arc::clone(self.cx.file()).text;
            for (i, raw_step) in owned.into_iter().enumerate() {
                nested_vars(text, i, &raw_step.value, &mut self.nested);
                match self.step(&raw_step.value, i, ids, meta, any_rollback) {
                    Some(step) => steps.push(step),
                    None => complete = false,
                }
            }
        } else {
            for (i, raw_step) in raw_steps.iter().enumerate() {
                match self.step(&raw_step.value, i, ids, meta, any_rollback) {
                    Some(step) => steps.push(step),
                    None => complete = false,
                }
            }
        }
        if !complete || ids.by_index.iter().any(Option::is_none) {
            return None;
        }
        let waits = graph::Adjacency::from_lists(steps.iter().map(Step::waits_for));
        match graph::order(&waits) {
            Ok(order) => self.graph = Some(StepGraph { waits, order }),
            Err(cycles) => {
                if let Some(raw_steps) = raw.steps.as_ref() {
                    for cycle in cycles {
                        self.cycle(&raw_steps.value, &steps, &cycle);
                    }
                }
                return None;
            }
        }
        Some(steps)
    }

    fn cycle(&mut self, raw_steps: &[Sp<RawStep>], steps: &[Step], cycle: &[usize]) {
        let first = *cycle.iter().min().expect("a cycle has steps");
        let at = cycle
            .iter()
            .position(|&c| c == first)
            .expect("first is in the cycle");
        let rotated: Vec<usize> = cycle[at..].iter().chain(&cycle[..at]).copied().collect();
        let mut words = Vec::new();
        let mut through_after = false;
        for (k, &s) in rotated.iter().enumerate() {
            let next = rotated[(k + 1) % rotated.len()];
            let verb = if steps[s].needs.contains(&next) {
                "needs"
            } else {
                through_after = true;
                "runs after"
            };
            words.push(format!("`{}` {verb} `{}`", steps[s].id, steps[next].id));
        }
        let next = rotated[1 % rotated.len()];
        let raw = &raw_steps[first].value;
        let span = [raw.needs.as_ref(), raw.after.as_ref()]
            .into_iter()
            .flatten()
            .find_map(|n| {
                n.value
                    .iter()
                    .find(|x| x.value == steps[next].id)
                    .map(|x| x.span.clone())
            })
            .unwrap_or_else(|| raw_steps[first].span.clone());
        let keys = if through_after {
            "`needs` or `after`"
        } else {
            "`needs`"
        };
        self.error(
            span,
            format!("dependency cycle: {}", words.join(", ")),
            format!("no step of a cycle could ever start; remove one of these {keys}"),
        );
    }

    #[expect(
        clippy::too_many_lines,
        reason = "one check per key of a step, in the order the format lists them"
    )]
    fn step(
        &mut self,
        s: &RawStep,
        index: usize,
        ids: &StepIds,
        meta: Option<&Meta>,
        any_rollback: bool,
    ) -> Option<Step> {
        let id = ids.by_index.get(index).cloned().flatten();
        let at = location(id.as_ref(), index);
        let step_scope = Scope::Step {
            index,
            include_self: false,
        };
        let after_scope = Scope::Step {
            index,
            include_self: true,
        };
        let mut ok = true;

        let needs = self.step_list(
            s.needs.as_deref(),
            "needs",
            id.as_ref(),
            ids,
            &at,
            &[],
            &mut ok,
        );
        let after = self.step_list(
            s.after.as_deref(),
            "after",
            id.as_ref(),
            ids,
            &at,
            &needs,
            &mut ok,
        );
        let always = s.always.as_ref().is_some_and(|b| b.value);
        if always {
            for (key, span) in [
                ("confirm", s.confirm.as_ref().map(|c| c.span.clone())),
                ("manual", s.manual.as_ref().map(|m| m.span.clone())),
            ] {
                if let Some(span) = span {
                    self.error(
                        span,
                        format!("`{key}` {at}, but it is an `always` step: cleanup runs also after an interrupt, when nobody may be there to answer"),
                        format!("remove `{key}`, or remove `always = true` to make it an ordinary step"),
                    );
                    ok = false;
                }
            }
        }

        let for_each = self.for_each(s, index, &at, always);
        let max_parallel = self.step_max_parallel(s, &at);
        ok &= for_each.is_ok() && max_parallel.is_ok();

        let present: Vec<(&str, Span)> = [
            ("run", s.run.as_ref().map(|v| v.span.clone())),
            ("http", s.http.as_ref().map(|v| v.span.clone())),
            ("check", s.check.as_ref().map(|v| v.span.clone())),
            ("manual", s.manual.as_ref().map(|v| v.span.clone())),
            ("sleep", s.sleep.as_ref().map(|v| v.span.clone())),
            ("notify", s.notify.as_ref().map(|v| v.span.clone())),
            ("playbook", s.playbook.as_ref().map(|v| v.span.clone())),
        ]
        .into_iter()
        .filter_map(|(k, span)| span.map(|span| (k, span)))
        .collect();
        let action_key = match present.as_slice() {
            [] => {
                let broken = ACTION_KEYS
                    .iter()
                    .any(|k| self.cx.was_broken(s.span.start, k));
                if !broken {
                    let keys = List::ticked(ACTION_KEYS);
                    self.error(
                        s.span.clone(),
                        format!("no action {at}: a step needs exactly one of {keys}"),
                        "add what the step does, e.g. run = \"...\"",
                    );
                }
                return None;
            }
            [(key, _)] => *key,
            [(first, _), (second, span), ..] => {
                let name = id.as_ref().map_or_else(
                    || format!("step #{}", index + 1),
                    |id| format!("step `{id}`"),
                );
                self.error(
                    span.clone(),
                    format!(
                        "{name} has both `{first}` and `{second}`: a step does exactly one thing"
                    ),
                    format!(
                        "split it into two steps, the second with needs = [\"{}\"]",
                        id.as_deref().unwrap_or("first")
                    ),
                );
                return None;
            }
        };

        // Keys that only make sense for some actions.
        let rules: [(&str, Option<Span>, &[&str]); 10] = [
            (
                "timeout",
                s.timeout.as_ref().map(|v| v.span.clone()),
                &["run", "http", "manual", "playbook"],
            ),
            (
                "retries",
                s.retries.as_ref().map(|v| v.span.clone()),
                &["run", "http", "check", "playbook"],
            ),
            (
                "retry_delay",
                s.retry_delay.as_ref().map(|v| v.span.clone()),
                &["run", "http", "check", "playbook"],
            ),
            (
                "backoff",
                s.backoff.as_ref().map(|v| v.span.clone()),
                &["run", "http", "check", "playbook"],
            ),
            (
                "outputs",
                s.outputs.as_ref().map(|v| v.span.clone()),
                &["run", "http"],
            ),
            (
                "expect",
                s.expect.as_ref().map(|v| v.span.clone()),
                &["run"],
            ),
            (
                "env",
                s.env.as_ref().map(|v| v.span.clone()),
                &["run", "check"],
            ),
            (
                "cwd",
                s.cwd.as_ref().map(|v| v.span.clone()),
                &["run", "check"],
            ),
            (
                "fields",
                s.fields.as_ref().map(|v| v.span.clone()),
                &["notify"],
            ),
            (
                "inputs",
                s.inputs.as_ref().map(|v| v.span.clone()),
                &["manual"],
            ),
        ];
        for (key, span, allowed) in rules {
            let Some(span) = span else { continue };
            if !allowed.contains(&action_key) {
                let hint = if key == "timeout" && action_key == "check" {
                    "put it inside the check: check = { ..., timeout = \"2m\" }".to_owned()
                } else {
                    format!(
                        "`{key}` applies to {} steps; remove it here",
                        List::ticked(allowed)
                    )
                };
                self.error(
                    span,
                    format!("`{key}` has no effect on a `{action_key}` step {at}"),
                    hint,
                );
                ok = false;
            }
        }

        let what = |key: &str| format!("`{key}` {at}");
        let action = match action_key {
            "run" => self
                .template(s.run.as_deref(), step_scope, &what("run"))
                .map(Action::Run),
            "http" => s
                .http
                .as_ref()
                .and_then(|h| self.http(h, step_scope, &at, true))
                .map(|h| Action::Http(Box::new(h))),
            "check" => s
                .check
                .as_ref()
                .and_then(|c| {
                    self.check(
                        c,
                        id.clone().unwrap_or_default(),
                        step_scope,
                        &format!("`check` {at}"),
                    )
                })
                .map(|c| Action::Check(Box::new(c))),
            "manual" => self
                .template(s.manual.as_deref(), step_scope, &what("manual"))
                .map(Action::Manual),
            "sleep" => self
                .duration(s.sleep.as_deref(), "sleep", &at)
                .map(Action::Sleep),
            "notify" => self
                .notice(s, step_scope, &at)
                .map(|n| Action::Notify(Box::new(n))),
            _ => s
                .playbook
                .as_ref()
                .and_then(|p| self.playbook_ref(p, &at))
                .map(|p| Action::Playbook(Box::new(p))),
        };

        let mut for_each = for_each;
        let on = match &s.on {
            Some(raw) if action_key == "run" => {
                let has_for_each = s.for_each.is_some();
                if let Ok((on, hosts)) = self.step_on(raw, has_for_each, step_scope, &at) {
                    if hosts.is_some() {
                        for_each = Ok(hosts);
                    }
                    Some(on)
                } else {
                    ok = false;
                    None
                }
            }
            Some(raw) => {
                self.misplaced_on(raw, action_key, false, &at);
                ok = false;
                None
            }
            None => None,
        };
        let timeout = self.positive_duration(s.timeout.as_deref(), "timeout", &at);
        let timeout = timeout.or((action_key == "run").then_some(Step::DEFAULT_RUN_TIMEOUT));
        let retries = match s.retries.as_ref() {
            Some(r) => {
                match u32::try_from(r.value) {
                    Ok(n) if n <= 100 => n,
                    _ => {
                        self.error(r.span.clone(), format!("invalid `retries` {} {at}: it counts attempts after the first failure", r.value), "use a whole number from 0 to 100");
                        ok = false;
                        0
                    }
                }
            }
            None => 0,
        };
        let retry_delay = self
            .duration(s.retry_delay.as_deref(), "retry_delay", &at)
            .unwrap_or(crate::playbook::duration::HumanDuration::from_millis(1000));
        let backoff = match s.backoff.as_ref() {
            Some(b) if !(b.value.is_finite() && (1.0..=100.0).contains(&b.value)) => {
                self.error(b.span.clone(), format!("invalid `backoff` {} {at}: the retry delay is multiplied by it after each attempt", b.value), "use a number from 1.0 (a constant delay) to 100, e.g. 2.0 to double it");
                ok = false;
                1.0
            }
            Some(b) => b.value,
            None => 1.0,
        };
        let budget = self.duration(s.budget.as_deref(), "budget", &at);
        let on_failure = match self.choice(
            s.on_failure.as_deref(),
            "on_failure",
            &at,
            &OnFailure::NAMES,
        ) {
            Some("continue") => OnFailure::Continue,
            Some("rollback") => {
                if !any_rollback {
                    let span = s
                        .on_failure
                        .as_ref()
                        .map(|o| o.span.clone())
                        .unwrap_or_default();
                    self.error(span, format!("`on_failure = \"rollback\"` {at}, but no step has a `rollback` command, so nothing would be undone"), "add `rollback = \"...\"` to the steps that change things, or use on_failure = \"abort\"");
                    ok = false;
                }
                OnFailure::Rollback
            }
            _ => OnFailure::Abort,
        };
        let rollback = self.template(s.rollback.as_deref(), after_scope, &what("rollback"));
        let checked = self.confirm(s, &at, &mut ok);
        let confirm = self.template(checked.text.as_ref(), step_scope, &what("confirm"));
        let when = self.template(s.when.as_deref(), step_scope, &what("when"));
        let env = self.env_map(s.env.as_deref(), step_scope, &format!("`env` {at}"));
        let cwd = self.template(s.cwd.as_deref(), step_scope, &what("cwd"));
        let outputs = self.outputs(s.outputs.as_deref(), &at);
        let vars = self.templates(s.vars.as_deref(), step_scope, &format!("`vars` {at}"));
        if let Some(v) = s.vars.as_ref()
            && s.playbook.is_none()
        {
            self.error(
                v.span.clone(),
                format!(
                    "`vars` {at}, but only a `playbook` step takes vars (for the playbook it runs)"
                ),
                "remove `vars`, or use `env` for a command's environment",
            );
            ok = false;
        }
        let inputs = if action_key == "manual" {
            self.inputs(s.inputs.as_deref(), &at)
        } else {
            Some(IndexMap::new())
        };
        let expect = self.expect(s, step_scope, &at);
        let mut verify = Vec::new();
        for (k, check) in s.verify.iter().flat_map(|v| &v.value).enumerate() {
            let default_id = format!("{}-verify-{}", id.as_deref().unwrap_or("step"), k + 1);
            match self.check(
                check,
                default_id,
                after_scope,
                &format!("`verify` #{} {at}", k + 1),
            ) {
                Some(c) => verify.push(c),
                None => ok = false,
            }
        }
        let environments = s
            .environments
            .as_ref()
            .map(|e| e.value.iter().map(|x| x.value.clone()).collect::<Vec<_>>());
        if let (Some(step_envs), Some(allowed)) = (
            s.environments.as_ref(),
            meta.and_then(|m| m.environments.as_ref()),
        ) {
            for e in &step_envs.value {
                if !allowed.contains(&e.value) {
                    let mut message = format!(
                        "environment {:?} {at} is not one of the playbook's environments",
                        e.value
                    );
                    if let Some(close) = self
                        .cx
                        .suggest
                        .closest(&e.value, allowed.iter().map(String::as_str))
                    {
                        let _ = write!(message, ", did you mean `{close}`?");
                    }
                    self.error(e.span.clone(), message, format!("the playbook may run in {}; add it to [playbook] environments or fix the name", some_of(allowed.iter().map(|a| format!("\"{a}\"")), allowed.len())));
                    ok = false;
                }
            }
        }

        let step = Step {
            id: id?.into(),
            title: s.title.as_ref().map(|t| t.value.clone()),
            needs: needs.into(),
            after: after.into(),
            always,
            when,
            action: action?,
            timeout,
            retries,
            retry_delay,
            backoff,
            budget,
            on_failure,
            rollback,
            outputs: outputs?,
            idempotent: s.idempotent.as_ref().is_some_and(|b| b.value),
            read_only: s.read_only.as_ref().is_some_and(|b| b.value),
            expansion: crate::playbook::model::Expansion::Single,
            more: StepMore {
                vars,
                secret_outputs: s
                    .outputs
                    .iter()
                    .flat_map(|o| &o.value)
                    .filter(|(_, o)| matches!(&o.value, RawOutput::Table(t) if t.secret.as_ref().is_some_and(|b| b.value)))
                    .map(|(name, _)| name.clone())
                    .collect(),
                on,
                confirm,
                confirm_rule: checked.rule,
                confirm_timeout: checked.timeout,
                env,
                cwd,
                inputs: inputs?,
                expect: expect?,
                verify,
                environments,
                for_each: for_each.ok().flatten(),
                max_parallel: max_parallel.ok().flatten(),
            }
            .shared(),
        };
        ok.then_some(step)
    }

    /// A `notify` step's text and `fields`, at most [`Notice::MAX_FIELDS`] of them.
    fn notice(&mut self, s: &RawStep, scope: Scope, at: &str) -> Option<Notice> {
        let text = self.template(s.notify.as_deref(), scope, &format!("`notify` {at}"));
        let fields = self.templates(s.fields.as_deref(), scope, &format!("`fields` {at}"));
        if let Some(raw) = s.fields.as_ref()
            && raw.value.len() > Notice::MAX_FIELDS
        {
            self.error(
                raw.span.clone(),
                format!(
                    "{} `fields` {at}: a message has at most {}",
                    raw.value.len(),
                    Notice::MAX_FIELDS
                ),
                "Slack shows at most 10 fields in a message; move the rest into the text",
            );
            return None;
        }
        if let Some(raw) = s.fields.as_ref()
            && raw.value.keys().any(|label| label.trim().is_empty())
        {
            self.error(
                raw.span.clone(),
                format!("an empty label in `fields` {at}"),
                "give each field a label people read beside its value: Severity = \"SEV0\"",
            );
            return None;
        }
        let complete = s
            .fields
            .as_ref()
            .is_none_or(|raw| raw.value.len() == fields.len());
        Some(Notice {
            text: text?,
            fields,
        })
        .filter(|_| complete)
    }

    fn playbook_ref(&mut self, value: &Sp<String>, at: &str) -> Option<PlaybookRef> {
        let (name, req) = value
            .value
            .split_once('@')
            .map_or((value.value.as_str(), None), |(n, r)| (n, Some(r)));
        if !is_playbook_name(name) {
            self.error(value.span.clone(), format!("invalid playbook reference {:?} {at}", value.value), "write the playbook's name, optionally with a semver requirement: \"postgres-restore@^2\"");
            return None;
        }
        let req = match req.map(VersionReq::parse) {
            None => VersionReq::STAR,
            Some(Ok(r)) => r,
            Some(Err(e)) => {
                self.error(
                    value.span.clone(),
                    format!("invalid version requirement in {:?} {at}: {e}", value.value),
                    "use a semver requirement such as `^2`, `~1.4` or `>=1.2, <2`",
                );
                return None;
            }
        };
        Some(PlaybookRef {
            name: name.to_owned(),
            req,
            at: (value.span.start, value.span.end),
        })
    }

    fn outputs(
        &mut self,
        raw: Option<&Sp<IndexMap<String, Sp<RawOutput>>>>,
        at: &str,
    ) -> Option<Outputs> {
        let mut out = Vec::with_capacity(raw.map_or(0, |o| o.value.len()));
        let mut ok = true;
        for (name, source) in raw.iter().flat_map(|o| &o.value) {
            let parsed = match &source.value {
                RawOutput::Source(s) if s == "stdout" => Some(OutputSource::Stdout),
                RawOutput::Source(s) => {
                    let mut message =
                        format!("unknown output source {s:?} for output `{name}` {at}");
                    if let Some(close) = did_you_mean(s, ["stdout"]) {
                        let _ = write!(message, ", did you mean `{close}`?");
                    }
                    self.error(source.span.clone(), message, "an output is \"stdout\", { stdout_regex = '...' } or { json_pointer = \"/a/b\" }");
                    None
                }
                RawOutput::Table(t) => match (&t.stdout_regex, &t.json_pointer, &t.from) {
                    (None, None, Some(f)) if f.value == "stdout" => Some(OutputSource::Stdout),
                    (None, None, Some(f)) => {
                        self.error(
                            f.span.clone(),
                            format!(
                                "unknown output source {:?} for output `{name}` {at}",
                                f.value
                            ),
                            "write from = \"stdout\"",
                        );
                        None
                    }
                    (Some(r), None, None) => {
                        self.regex(Some(r), "stdout_regex", at).and_then(|re| {
                            if re.captures_len() > 1 {
                                Some(OutputSource::StdoutRegex(re))
                            } else {
                                self.error(
                                r.span.clone(),
                                format!(
                                    "`stdout_regex` of output `{name}` {at} has no capture group"
                                ),
                                "wrap the part to capture in parentheses, e.g. 'size: ([0-9]+)'",
                            );
                                None
                            }
                        })
                    }
                    (None, Some(p), None) => {
                        self.json_pointer(p, at).map(OutputSource::JsonPointer)
                    }
                    _ => {
                        self.error(source.span.clone(), format!("output `{name}` {at} needs exactly one of `stdout_regex`, `json_pointer` and `from`"), "keep one of them");
                        None
                    }
                },
            };
            match parsed {
                Some(p) => out.push((name.clone(), p)),
                None => ok = false,
            }
        }
        ok.then(|| out.into_iter().collect())
    }

    pub(crate) fn json_pointer(&mut self, p: &Sp<String>, at: &str) -> Option<String> {
        if p.value.is_empty() || p.value.starts_with('/') {
            return Some(p.value.clone());
        }
        self.error(
            p.span.clone(),
            format!(
                "invalid JSON pointer {:?} {at}: it must start with `/`",
                p.value
            ),
            format!("write \"/{}\"", p.value.replace('.', "/")),
        );
        None
    }

    fn expect(&mut self, s: &RawStep, scope: Scope, at: &str) -> Option<Expect> {
        let Some(e) = s.expect.as_ref() else {
            return Some(Expect::default());
        };
        let e = &e.value;
        let exit_code = match e.exit_code.as_ref() {
            Some(c) => match i32::try_from(c.value) {
                Ok(n) if (0..=255).contains(&n) => n,
                _ => {
                    self.error(
                        c.span.clone(),
                        format!("invalid `exit_code` {} in `expect` {at}", c.value),
                        "exit codes are 0 to 255",
                    );
                    return None;
                }
            },
            None => 0,
        };
        let stdout_contains = self.template(
            e.stdout_contains.as_deref(),
            scope,
            &format!("`expect.stdout_contains` {at}"),
        );
        let stdout_matches = self.regex(e.stdout_matches.as_deref(), "expect.stdout_matches", at);
        let stderr_matches = self.regex(e.stderr_matches.as_deref(), "expect.stderr_matches", at);
        let broken = (e.stdout_matches.is_some() && stdout_matches.is_none())
            || (e.stderr_matches.is_some() && stderr_matches.is_none());
        (!broken).then_some(Expect {
            exit_code,
            stdout_contains,
            stdout_matches,
            stderr_matches,
        })
    }
}
