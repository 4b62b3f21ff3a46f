//! A plan for people (text), for tools (JSON) and for diagrams (a Mermaid flowchart).

use std::borrow::Cow;
use std::fmt::Write as _;

use serde_json::json;

use crate::plan::critical_path::Plan;
use crate::playbook::duration::{HumanDuration, format_human};
use crate::playbook::model::Expansion;
use crate::text::count;

/// How `plan` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
    Mermaid,
}

#[must_use]
pub fn render(plan: &Plan, format: Format) -> String {
    let mut out = Vec::new();
    render_to(plan, format, &mut out).expect("a plan renders into memory");
    String::from_utf8(out).expect("a plan is text")
}

/// [`render`] into `out`: the JSON plan written as it is serialized, not built whole first (at
/// 100,000 steps it is 40 MB of text, #18).
///
/// # Errors
///
/// What writing to `out` gives.
pub fn render_to(
    plan: &Plan,
    format: Format,
    out: &mut impl std::io::Write,
) -> std::io::Result<()> {
    match format {
        Format::Text => out.write_all(text(plan).as_bytes()),
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, &to_json(plan))
                .map_err(std::io::Error::from)?;
            out.write_all(b"\n")
        }
        Format::Mermaid => out.write_all(mermaid(plan).as_bytes()),
    }
}

#[expect(clippy::too_many_lines, reason = "the text plan top to bottom")]
fn text(plan: &Plan) -> String {
    let p = &*plan.playbook;
    let mut out = String::new();
    let _ = writeln!(out, "{}  {}", p.label(), p.meta.display_title());
    let _ = writeln!(
        out,
        "environment: {}",
        plan.env.as_deref().unwrap_or("any (no --env)")
    );
    if let Some(limit) = plan.limit {
        let _ = writeln!(out, "parallel: at most {}", count(limit, "step"));
    }
    let width = (0..p.steps.len())
        .map(|i| shown_id(plan, i).chars().count())
        .max()
        .unwrap_or(0);
    for (w, wave) in plan.waves().iter().enumerate() {
        let running = wave
            .iter()
            .filter(|&&i| plan.steps[i].skip.is_none() && group_note(plan, i).is_none())
            .count();
        let parallel = if running > 1 {
            format!(" ({running} in parallel)")
        } else {
            String::new()
        };
        let _ = writeln!(out, "\nwave {}{parallel}", w + 1);
        for &i in wave {
            let step = &p.steps[i];
            let budget = step
                .budget
                .map_or_else(|| "-".to_owned(), |b| format_human(b.as_millis()));
            let mut notes = Vec::new();
            if let Some(group) = group_note(plan, i) {
                let line = format!(
                    "  {}  {:<8}  {:>7}  {group}",
                    pad(&shown_id(plan, i), width),
                    "for_each",
                    ""
                );
                let _ = writeln!(out, "{}", line.trim_end());
                continue;
            }
            if let Some(host) = step.host_label() {
                notes.push(format!("on {host}"));
            }
            if !step.needs.is_empty() {
                notes.push(format!(
                    "needs {}",
                    step.needs
                        .iter()
                        .map(|&d| p.steps[d].id.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            if !step.after.is_empty() {
                let after: Vec<&str> = step.after.iter().map(|&d| p.steps[d].id.as_str()).collect();
                notes.push(format!("after {}", after.join(", ")));
            }
            if step.always {
                notes.push("cleanup (always)".to_owned());
            }
            if step.confirm().is_some() {
                notes.push(match step.confirm_rule().words() {
                    Some(rule) => format!("confirm ({rule})"),
                    None => "confirm".to_owned(),
                });
            }
            if step.read_only {
                notes.push("read-only".to_owned());
            }
            if plan.is_critical(i) {
                notes.push("critical".to_owned());
            }
            if let Some(skip) = &plan.steps[i].skip {
                notes.push(format!("skipped: {skip}"));
            }
            let line = format!(
                "  {}  {:<8}  {:>7}  {}",
                pad(&shown_id(plan, i), width),
                step.action.key(),
                budget,
                notes.join("; ")
            );
            let _ = writeln!(out, "{}", line.trim_end());
        }
    }
    let _ = writeln!(out);
    if plan.critical_path.is_empty() {
        let _ = writeln!(out, "critical path: none (every step is skipped)");
    } else {
        let _ = writeln!(
            out,
            "critical path: {} ({})",
            plan.critical_path_text(),
            format_human(plan.planned_rto_ms_of_path())
        );
    }
    let clock = p.meta.rto_clock.map_or_else(String::new, |c| {
        format!(
            " (rto_clock {} → {})",
            p.steps[c.start].id, p.steps[c.stop].id
        )
    });
    let verdict = match plan.rto_objective_ms() {
        Some(o) if plan.exceeds_rto() => format!("; objective {}: EXCEEDED", format_human(o)),
        Some(o) => format!("; objective {}: within", format_human(o)),
        None => "; no rto objective".to_owned(),
    };
    let _ = writeln!(
        out,
        "planned RTO: {}{clock}{verdict}",
        format_human(plan.planned_rto_ms)
    );
    if !plan.unbudgeted.is_empty() {
        let ids: Vec<&str> = plan
            .unbudgeted
            .iter()
            .map(|&i| p.steps[i].id.as_str())
            .collect();
        let (has, counts) = if ids.len() == 1 {
            ("has", "counts")
        } else {
            ("have", "count")
        };
        let _ = writeln!(
            out,
            "{} {has} no budget and {counts} as 0: {}",
            count(ids.len(), "step"),
            ids.join(", ")
        );
    }
    out
}

/// A step as the plan shows it: `ID[*]` for a `for_each` whose items only the run knows.
/// Borrowed otherwise: the JSON plan of a long chain names each step four times (#18).
fn shown_id(plan: &Plan, i: usize) -> Cow<'_, str> {
    let step = &plan.playbook.steps[i];
    match step.expansion {
        Expansion::Group { dynamic: true } => Cow::Owned(format!("{}[*]", step.id)),
        _ => Cow::Borrowed(&step.id),
    }
}

/// For the group of instances the plan made: how many, and at most how many at once.
fn group_note(plan: &Plan, i: usize) -> Option<String> {
    let step = &plan.playbook.steps[i];
    if !matches!(step.expansion, Expansion::Group { dynamic: false }) {
        return None;
    }
    let instances = step
        .after
        .iter()
        .filter(|&&d| {
            plan.playbook.steps[d]
                .instance()
                .is_some_and(|x| x.of == step.id)
        })
        .count();
    let mut note = if instances == 0 {
        "no items".to_owned()
    } else {
        format!("ends with its {}", count(instances, "instance"))
    };
    if let Some(m) = step.max_parallel() {
        let _ = write!(note, ", at most {m} at once");
    }
    if let Some(skip) = &plan.steps[i].skip {
        let _ = write!(note, "; skipped: {skip}");
    }
    Some(note)
}

/// `text` and spaces up to `width` characters. Not `{:<width$}`: a format width is at most
/// 65,535, and a step id may be longer.
fn pad(text: &str, width: usize) -> String {
    let mut padded = String::with_capacity(width.max(text.len()));
    padded.push_str(text);
    padded.extend(std::iter::repeat_n(
        ' ',
        width.saturating_sub(text.chars().count()),
    ));
    padded
}

/// `plan --format json`. The rows are typed and borrow from the plan, so they serialize
/// straight into the text: a `Value` per row (a map each) was most of `plan`'s memory at
/// 100,000 steps.
#[derive(serde::Serialize)]
struct PlanJson<'a> {
    playbook: &'a str,
    version: String,
    title: Option<&'a str>,
    path: String,
    sha256: &'a str,
    env: Option<&'a str>,
    max_parallel: Option<usize>,
    waves: Waves<'a>,
    steps: Steps<'a>,
    critical_path: Ids<'a>,
    planned_rto_ms: u64,
    rto_objective_ms: Option<u64>,
    rto_exceeded: Option<bool>,
    rto_clock: serde_json::Value,
    unbudgeted: Ids<'a>,
}

#[derive(serde::Serialize)]
struct StepJson<'a> {
    id: Cow<'a, str>,
    title: Option<&'a str>,
    action: &'a str,
    host: Option<String>,
    for_each: serde_json::Value,
    wave: usize,
    needs: Ids<'a>,
    after: Ids<'a>,
    always: bool,
    budget_ms: Option<u64>,
    earliest_start_ms: u64,
    earliest_finish_ms: u64,
    critical: bool,
    skipped: Option<String>,
}

// The lists of the JSON plan are written as they are produced, each step's entry made when it
// is written: at 100,000 steps the entries built first were 30 MB (#18).

/// Steps by index, as the plan shows them.
struct Ids<'a>(&'a Plan, &'a [usize]);

impl serde::Serialize for Ids<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.1.iter().map(|&i| shown_id(self.0, i)))
    }
}

/// The plan's steps, in order.
struct Steps<'a>(&'a Plan);

impl serde::Serialize for Steps<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let plan = self.0;
        let p = &*plan.playbook;
        s.collect_seq(plan.steps.iter().map(|s| {
            let step = &p.steps[s.index];
            StepJson {
                id: shown_id(plan, s.index),
                title: step.title.as_deref(),
                action: step.action.key(),
                host: step.host_label(),
                for_each: for_each_json(plan, s.index),
                wave: s.wave + 1,
                needs: Ids(plan, &step.needs),
                after: Ids(plan, &step.after),
                always: step.always,
                budget_ms: step.budget.map(HumanDuration::as_millis),
                earliest_start_ms: s.earliest_start_ms,
                earliest_finish_ms: s.earliest_finish_ms,
                critical: plan.is_critical(s.index),
                skipped: s.skip.as_ref().map(ToString::to_string),
            }
        }))
    }
}

/// The waves, each its steps in plan order: [`Plan::waves`] without a list per wave.
struct Waves<'a> {
    plan: &'a Plan,
    /// The steps' indices by wave, then plan order.
    order: Vec<usize>,
    /// The wave of each entry of `order`.
    wave: Vec<usize>,
}

impl<'a> Waves<'a> {
    fn new(plan: &'a Plan) -> Self {
        let mut at: Vec<usize> = (0..plan.steps.len()).collect();
        at.sort_by_key(|&k| plan.steps[k].wave);
        Self {
            plan,
            order: at.iter().map(|&k| plan.steps[k].index).collect(),
            wave: at.iter().map(|&k| plan.steps[k].wave).collect(),
        }
    }
}

impl serde::Serialize for Waves<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let count = self.wave.last().map_or(0, |w| w + 1);
        let waves = (0..count).scan(0, |start, w| {
            let len = self.wave[*start..].iter().take_while(|&&x| x == w).count();
            let ids = Ids(self.plan, &self.order[*start..*start + len]);
            *start += len;
            Some(ids)
        });
        s.collect_seq(waves)
    }
}

fn to_json(plan: &Plan) -> PlanJson<'_> {
    let p = &*plan.playbook;
    PlanJson {
        playbook: &p.meta.name,
        version: p.meta.version.to_string(),
        title: p.meta.title.as_deref(),
        path: p.path().display().to_string(),
        sha256: &p.sha256,
        env: plan.env.as_deref(),
        max_parallel: plan.limit,
        waves: Waves::new(plan),
        steps: Steps(plan),
        critical_path: Ids(plan, &plan.critical_path),
        planned_rto_ms: plan.planned_rto_ms,
        rto_objective_ms: plan.rto_objective_ms(),
        rto_exceeded: plan.rto_objective_ms().map(|_| plan.exceeds_rto()),
        rto_clock: p.meta.rto_clock.map_or(
            serde_json::Value::Null,
            |c| json!({"start": p.steps[c.start].id, "stop": p.steps[c.stop].id}),
        ),
        unbudgeted: Ids(plan, &plan.unbudgeted),
    }
}

/// What `plan --format json` says of a `for_each`: the group (its instances, or `dynamic`), or
/// the instance (its step, key and item); `null` for other steps.
fn for_each_json(plan: &Plan, i: usize) -> serde_json::Value {
    let step = &plan.playbook.steps[i];
    match &step.expansion {
        Expansion::Single => serde_json::Value::Null,
        Expansion::Group { dynamic: true } => {
            json!({ "dynamic": true, "max_parallel": step.max_parallel() })
        }
        Expansion::Group { dynamic: false } => json!({
            "dynamic": false,
            "max_parallel": step.max_parallel(),
            "instances": step.after.iter().filter(|&&d| plan.playbook.steps[d].instance().is_some_and(|x| x.of == step.id)).map(|&d| plan.playbook.steps[d].id.clone()).collect::<Vec<_>>(),
        }),
        Expansion::Instance(inst) => {
            json!({ "of": inst.of, "key": inst.key, "index": inst.index, "item": inst.item })
        }
    }
}

/// Text safe inside a quoted Mermaid label.
fn label(s: &str) -> String {
    s.replace('&', "#amp;")
        .replace('"', "#quot;")
        .replace('<', "#lt;")
        .replace('>', "#gt;")
}

fn mermaid(plan: &Plan) -> String {
    let p = &*plan.playbook;
    let mut out = String::from("flowchart TD\n");
    for (i, step) in p.steps.iter().enumerate() {
        let budget = step.budget.map_or_else(String::new, |b| {
            format!(" · {}", format_human(b.as_millis()))
        });
        let title = step
            .title
            .as_deref()
            .map_or_else(String::new, |t| format!("<br/>{}", label(t)));
        let _ = writeln!(
            out,
            "  s{i}[\"{} ({}{budget}){title}\"]",
            label(&shown_id(plan, i)),
            step.action.key()
        );
    }
    let on_path = |a: usize, b: usize| {
        plan.critical_path
            .windows(2)
            .any(|w| w[0] == a && w[1] == b)
    };
    for (i, step) in p.steps.iter().enumerate() {
        for &d in &step.needs {
            let arrow = if on_path(d, i) { "==>" } else { "-->" };
            let _ = writeln!(out, "  s{d} {arrow} s{i}");
        }
    }
    let class = |ids: Vec<usize>| {
        ids.iter()
            .map(|i| format!("s{i}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    if !plan.critical_path.is_empty() {
        out.push_str("  classDef critical stroke:#d1242f,stroke-width:3px\n");
        let _ = writeln!(
            out,
            "  class {} critical",
            class(plan.critical_path.clone())
        );
    }
    let skipped: Vec<usize> = plan
        .steps
        .iter()
        .filter(|s| s.skip.is_some())
        .map(|s| s.index)
        .collect();
    if !skipped.is_empty() {
        out.push_str("  classDef skipped stroke-dasharray:5 5,opacity:0.5\n");
        let _ = writeln!(out, "  class {} skipped", class(skipped));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::pad;

    // See: #11
    #[test]
    fn pads_past_the_largest_format_width() {
        // `{:<width$}` panics past 65,535; ids are shorter today, but the padding is not why.
        let wide = pad("a", 70_000);
        assert_eq!((wide.len(), wide.starts_with("a ")), (70_000, true));
        assert_eq!(pad("é", 3), "é  ");
        assert_eq!(pad("long", 2), "long");
    }
}
