//! `runbook show NAME|FILE`: what a playbook is and does, for a reviewer.

use std::fmt::Write as _;
use std::process::ExitCode;

use crate::cli::io::print_stdout;
use crate::cli::load::load;
use crate::error::Error;
use crate::playbook::Playbook;
use crate::playbook::duration::format_human;
use crate::playbook::find::Library;
use crate::playbook::model::{Action, Check, OnFailure, Probe, Step};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Playbook name, name@semver-requirement, or file
    #[arg(value_name = "NAME|FILE")]
    playbook: String,
}

pub(crate) fn run(args: &Args, library: &Library) -> Result<ExitCode, Error> {
    let validated = load(library, &args.playbook)?;
    print_stdout(&describe(&validated.playbook))?;
    Ok(ExitCode::SUCCESS)
}

fn describe(p: &Playbook) -> String {
    let m = &p.meta;
    let mut out = String::new();
    let _ = writeln!(out, "{}  {}", p.label(), m.display_title());
    let mut field = |key: &str, value: String| {
        let _ = writeln!(out, "  {:<15}{value}", format!("{key}:"));
    };
    field(
        "file",
        format!("{} (sha256 {})", p.path().display(), &p.sha256[..12]),
    );
    if let Some(d) = &m.description {
        field("description", d.clone());
    }
    if let Some(o) = &m.owner {
        field("owner", o.clone());
    }
    if !m.tags.is_empty() {
        field("tags", m.tags.join(", "));
    }
    field(
        "environments",
        m.environments
            .as_ref()
            .map_or_else(|| "any".to_owned(), |e| e.join(", ")),
    );
    let clock = m.rto_clock.map_or_else(String::new, |c| {
        format!(" (clock: {} → {})", p.steps[c.start].id, p.steps[c.stop].id)
    });
    field(
        "rto",
        m.rto.map_or_else(
            || "none".to_owned(),
            |r| format!("{}{clock}", format_human(r.duration.as_millis())),
        ),
    );
    field(
        "rpo",
        m.rpo.map_or_else(
            || "none".to_owned(),
            |r| format_human(r.duration.as_millis()),
        ),
    );
    if let Some(rp) = &m.recovery_point {
        field("recovery point", rp.source().to_owned());
    }
    if let Some(d) = m.drill_every {
        field("drill every", format_human(d.as_millis()));
    }
    if let Some(s) = &m.schedule {
        field("schedule", format!("{s} (UTC)"));
    }
    field("lock", format!("{:?}", m.lock).to_lowercase());
    if !m.secrets.is_empty() {
        field(
            "secrets",
            format!("{} (values are masked)", m.secrets.join(", ")),
        );
    }
    if let Some(channels) = channels(p) {
        field("notify", channels);
    }
    if !p.report.signoff.is_empty() {
        field("sign-off", p.report.signoff.join(", "));
    }
    if let Some(publish) = &p.report.publish {
        field("publish", publish.to_string());
    }
    if !p.vars.is_empty() {
        let _ = writeln!(out, "\nvars (override with --var key=value):");
        for (k, v) in &p.vars {
            let _ = writeln!(out, "  {k} = {v}");
        }
    }
    if !p.env.is_empty() {
        let _ = writeln!(out, "\nenv:");
        for (k, v) in &p.env {
            let _ = writeln!(out, "  {k} = {v}");
        }
    }
    hosts(&mut out, p);
    if !p.checks.is_empty() {
        let _ = writeln!(out, "\nchecks (before and after the steps):");
        for c in &p.checks {
            let _ = writeln!(out, "  {}", check_line(c));
        }
    }
    let _ = writeln!(out, "\nsteps:");
    for (i, s) in p.steps.iter().enumerate() {
        step(&mut out, p, i, s);
    }
    out
}

/// `[hosts]`: each host's address, key and `known_hosts` file.
fn hosts(out: &mut String, p: &Playbook) {
    if p.hosts.is_empty() {
        return;
    }
    let _ = writeln!(out, "\nhosts (reached with ssh):");
    for (name, h) in &p.hosts {
        let mut extra = Vec::new();
        if let Some(i) = &h.identity {
            extra.push(format!("identity {i}"));
        }
        if let Some(k) = &h.known_hosts {
            extra.push(format!("known_hosts {k}"));
        }
        let extra = if extra.is_empty() {
            String::new()
        } else {
            format!(" ({})", extra.join(", "))
        };
        let _ = writeln!(out, "  {name} = {}{extra}", h.ssh);
    }
}

/// The notification channels and their events: `slack #ops (started, finished); webhook (…)`.
fn channels(p: &Playbook) -> Option<String> {
    let mut notify = Vec::new();
    if let Some(s) = &p.notify.slack {
        notify.push(format!(
            "slack{} ({})",
            s.channel
                .as_ref()
                .map_or_else(String::new, |c| format!(" {c}")),
            s.events.join(", ")
        ));
    }
    if let Some(w) = &p.notify.webhook {
        notify.push(format!("webhook ({})", w.events.join(", ")));
    }
    (!notify.is_empty()).then(|| notify.join("; "))
}

fn check_line(c: &Check) -> String {
    let extra = match &c.probe {
        Probe::Http(h) => h
            .status
            .map_or_else(String::new, |s| format!(" status {s}")),
        Probe::File(f) => {
            let mut e = String::new();
            if let Some(a) = f.max_age {
                let _ = write!(e, " max_age {}", format_human(a.as_millis()));
            }
            if let Some(s) = f.min_size {
                let _ = write!(e, " min_size {s}");
            }
            e
        }
        Probe::History(h) => format!(
            " since {}, min_success_rate {}, min_runs {}",
            format_human(h.since.as_millis()),
            crate::text::percent(h.min_success_rate),
            h.min_runs
        ),
        Probe::Command(cp) => cp
            .on
            .as_ref()
            .map_or_else(String::new, |on| format!(" on {}", on.source())),
        Probe::Tcp(_) => String::new(),
    };
    format!(
        "{}: {} {}{extra} (every {}, timeout {})",
        c.id,
        c.probe.kind(),
        c.probe.target(),
        format_human(c.interval.as_millis()),
        format_human(c.timeout.as_millis())
    )
}

fn step(out: &mut String, p: &Playbook, i: usize, s: &Step) {
    let title = s
        .title
        .as_ref()
        .map_or_else(String::new, |t| format!("  {t}"));
    let _ = writeln!(out, "  {}. {}{title}", i + 1, s.id);
    let action = match &s.action {
        Action::Check(c) => check_line(c),
        other => other.summary(),
    };
    for (n, line) in action.lines().enumerate() {
        let key = if n == 0 {
            format!("{}:", s.action.key())
        } else {
            String::new()
        };
        let _ = writeln!(out, "       {key:<9}{line}");
    }
    if let Action::Notify(n) = &s.action {
        for (label, value) in &n.fields {
            let _ = writeln!(out, "       field {label}: {value}");
        }
    }
    for (name, input) in s.inputs() {
        let _ = writeln!(out, "       input {name}: {}", input.describe());
    }
    let facts = facts(p, s);
    if !facts.is_empty() {
        let _ = writeln!(out, "       {}", facts.join("; "));
    }
    if let Some(c) = s.confirm() {
        let mut rule: Vec<String> = s.confirm_rule().words().into_iter().collect();
        if let Some(t) = s.confirm_timeout() {
            rule.push(format!("declined after {t} unanswered"));
        }
        let rule = if rule.is_empty() {
            String::new()
        } else {
            format!(" ({})", rule.join("; "))
        };
        let _ = writeln!(out, "       confirm: {c}{rule}");
    }
    if let Some(r) = &s.rollback {
        let _ = writeln!(out, "       rollback: {r}");
    }
    for v in s.verify() {
        let _ = writeln!(out, "       verify: {}", check_line(v));
    }
}

/// One line of what a step is bound by: host, needs, loop, condition, budget, retries, …
fn facts(p: &Playbook, s: &Step) -> Vec<String> {
    let mut facts = Vec::new();
    if let (Some(host), Action::Run(_)) = (s.host_label(), &s.action) {
        facts.push(format!("on {host}"));
    }
    if !s.needs.is_empty() {
        facts.push(format!(
            "needs {}",
            s.needs
                .iter()
                .map(|&d| p.steps[d].id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if let Some(each) = s.for_each() {
        let mut fact = format!("for each item of {}", each.text);
        if let Some(m) = s.max_parallel() {
            let _ = write!(fact, " (at most {m} at once)");
        }
        facts.push(fact);
    }
    if let Some(w) = &s.when {
        facts.push(format!("when {w}"));
    }
    if let Some(e) = s.environments() {
        facts.push(format!("only in {}", e.join(", ")));
    }
    if let Some(b) = s.budget {
        facts.push(format!("budget {}", format_human(b.as_millis())));
    }
    if let (Action::Run(_), Some(t)) = (&s.action, s.timeout) {
        facts.push(format!("timeout {}", format_human(t.as_millis())));
    }
    if s.retries > 0 {
        facts.push(format!(
            "retries {} (delay {}, backoff {})",
            s.retries,
            format_human(s.retry_delay.as_millis()),
            s.backoff
        ));
    }
    if s.on_failure != OnFailure::Abort {
        facts.push(format!("on failure {}", s.on_failure.name()));
    }
    if s.idempotent {
        facts.push("idempotent".to_owned());
    }
    if s.read_only {
        facts.push("read-only".to_owned());
    }
    if !s.outputs.is_empty() {
        facts.push(format!(
            "outputs {}",
            s.outputs.keys().collect::<Vec<_>>().join(", ")
        ));
    }
    facts
}
