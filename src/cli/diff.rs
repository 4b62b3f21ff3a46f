//! `runbook diff OLD NEW`: what changed between two versions of a playbook, as plain text that
//! reads well in a pull request, or as one JSON document.

use std::fmt::Write as _;
use std::process::ExitCode;

use crate::cli::io::print_stdout;
use crate::cli::load::load;
use crate::error::Error;
use crate::plan::{Changed, FieldChange, LineOp, PlaybookDiff, Side, StepEntry};
use crate::playbook::duration::format_human;
use crate::playbook::find::Library;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The version under review is compared with this one: name, name@semver-requirement, or file
    #[arg(value_name = "OLD")]
    old: String,
    /// The version under review: name, name@semver-requirement, or file
    #[arg(value_name = "NEW")]
    new: String,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Exit 1 when the two files differ in any way (comments and the version too), 0 when
    /// they are identical, as `git diff --exit-code` does
    #[arg(long)]
    exit_code: bool,
}

/// How `diff` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Text,
    Json,
}

pub(crate) fn run(args: &Args, library: &Library) -> Result<ExitCode, Error> {
    let (old, new) = match (load(library, &args.old), load(library, &args.new)) {
        (Ok(old), Ok(new)) => (old, new),
        // Both invalid: every problem at once, as `validate` would report them.
        (Err(Error::Invalid(mut first)), Err(Error::Invalid(second))) => {
            first.extend(second);
            return Err(Error::Invalid(first));
        }
        (Err(e), _) | (_, Err(e)) => return Err(e),
    };
    let diff = PlaybookDiff::new(&old.playbook, &new.playbook);
    for w in &diff.warnings {
        eprintln!("warning: {}", w.message);
    }
    let out = match args.format {
        Format::Text => text(&diff),
        Format::Json => {
            let mut s = serde_json::to_string_pretty(&diff).expect("a diff serializes");
            s.push('\n');
            s
        }
    };
    print_stdout(&out)?;
    Ok(if args.exit_code && !diff.identical {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Beyond this many characters, a changed value gets `-`/`+` lines instead of `before → after`.
const INLINE_WIDTH: usize = 72;

fn text(d: &PlaybookDiff) -> String {
    if d.identical {
        return "no differences\n".to_owned();
    }
    let mut out = String::new();
    let side = |label: &str, s: &Side| {
        format!(
            "{label}: {} ({}, sha256 {})\n",
            s.label(),
            s.path,
            s.sha256_prefix()
        )
    };
    out.push_str(&side("old", &d.old));
    out.push_str(&side("new", &d.new));
    for w in &d.warnings {
        let _ = writeln!(out, "warning: {}", w.message);
    }
    fields_section(&mut out, "playbook", &d.playbook);
    fields_section(&mut out, "objectives", &d.objectives);
    if d.has_changes() {
        let rto = &d.planned_rto;
        let verdict = match rto.objective_ms {
            Some(o) if rto.exceeds_objective() => {
                format!("; objective {}: EXCEEDED", format_human(o))
            }
            Some(o) => format!("; objective {}: within", format_human(o)),
            None => String::new(),
        };
        let _ = writeln!(out, "\nplanned RTO: {}{verdict}", rto.text());
        if rto.critical_path_changed() {
            let _ = writeln!(
                out,
                "  critical path before: {}\n  critical path after:  {}",
                path_text(&rto.critical_path_before),
                path_text(&rto.critical_path_after)
            );
        }
    }
    entries(&mut out, "steps added", '+', &d.steps.added, step_entry);
    entries(&mut out, "steps removed", '-', &d.steps.removed, step_entry);
    changed(&mut out, "steps changed", &d.steps.changed);
    map_section(&mut out, "vars", &d.vars);
    map_section(&mut out, "env", &d.env);
    fields_section(&mut out, "hosts", &d.hosts);
    entries(&mut out, "checks added", '+', &d.checks.added, |c| {
        (format!("{} ({} {})", c.id, c.probe, c.target), None)
    });
    entries(&mut out, "checks removed", '-', &d.checks.removed, |c| {
        (format!("{} ({} {})", c.id, c.probe, c.target), None)
    });
    changed(&mut out, "checks changed", &d.checks.changed);
    fields_section(&mut out, "notify", &d.notify);
    fields_section(&mut out, "report", &d.report);
    let _ = writeln!(out, "\n{}", d.summary);
    out
}

fn path_text(ids: &[String]) -> String {
    if ids.is_empty() {
        "none".to_owned()
    } else {
        ids.join(" → ")
    }
}

/// `id: title (action, needs a, b, budget 5m)` and the summary below it.
fn step_entry(s: &StepEntry) -> (String, Option<String>) {
    let title = s
        .title
        .as_ref()
        .map_or_else(String::new, |t| format!(": {t}"));
    let mut facts = vec![s.action.clone()];
    if !s.needs.is_empty() {
        facts.push(format!("needs {}", s.needs.join(", ")));
    }
    if let Some(b) = s.budget_ms {
        facts.push(format!("budget {}", format_human(b)));
    }
    (
        format!("{}{title} ({})", s.id, facts.join(", ")),
        Some(s.summary.clone()),
    )
}

/// Added or removed items: a head line each, and an indented body.
fn entries<T>(
    out: &mut String,
    heading: &str,
    sign: char,
    items: &[T],
    describe: impl Fn(&T) -> (String, Option<String>),
) {
    if items.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n{heading}:");
    for item in items {
        let (head, body) = describe(item);
        let _ = writeln!(out, "  {sign} {head}");
        for line in body.iter().flat_map(|b| b.lines()) {
            let _ = writeln!(out, "      {line}");
        }
    }
}

fn changed(out: &mut String, heading: &str, items: &[Changed]) {
    if items.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n{heading}:");
    for item in items {
        let _ = writeln!(out, "  ~ {}", item.id);
        for f in &item.fields {
            field(out, "      ", &f.field, f);
        }
    }
}

/// Named fields: `name: before → after`.
fn fields_section(out: &mut String, heading: &str, fields: &[FieldChange]) {
    if fields.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n{heading}:");
    for f in fields {
        field(out, "  ", &f.field, f);
    }
}

/// Keyed entries (vars, env): `+ k = v`, `- k = v`, `~ k: before → after`.
fn map_section(out: &mut String, heading: &str, fields: &[FieldChange]) {
    if fields.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n{heading}:");
    for f in fields {
        match (&f.before, &f.after) {
            (None, Some(v)) if !v.contains('\n') => {
                let _ = writeln!(out, "  + {} = {v}", f.field);
            }
            (Some(v), None) if !v.contains('\n') => {
                let _ = writeln!(out, "  - {} = {v}", f.field);
            }
            _ => field(out, "  ", &format!("~ {}", f.field), f),
        }
    }
}

/// One changed value: inline when short, else as `-`/`+` lines (a line diff when multi-line).
fn field(out: &mut String, indent: &str, name: &str, f: &FieldChange) {
    let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "(none)".to_owned());
    let (before, after) = (show(&f.before), show(&f.after));
    if !f.lines.is_empty() && f.lines.iter().all(|l| l.op == LineOp::Same) {
        // Only line endings differ: quote both so that the difference shows.
        let _ = writeln!(out, "{indent}{name}: {before:?} → {after:?}");
        return;
    }
    if f.lines.is_empty() && name.len() + before.len() + after.len() <= INLINE_WIDTH {
        let _ = writeln!(out, "{indent}{name}: {before} → {after}");
        return;
    }
    let _ = writeln!(out, "{indent}{name}:");
    if f.lines.is_empty() {
        for (sign, value) in [('-', &f.before), ('+', &f.after)] {
            if let Some(v) = value {
                let _ = writeln!(out, "{indent}  {sign} {v}");
            }
        }
    } else {
        for line in &f.lines {
            let text = format!("{indent}  {} {}", line.op.prefix(), line.text);
            let _ = writeln!(
                out,
                "{}",
                if line.op == LineOp::Same {
                    text.trim_end()
                } else {
                    &text
                }
            );
        }
    }
}
