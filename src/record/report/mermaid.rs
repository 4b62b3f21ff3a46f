//! The timeline as a Mermaid `gantt`: one bar per step that ran (failed ones `crit`), the
//! run's own checks, rollbacks and the gaps before a resume; for a dry run, the planned timings.
//!
//! Times are written as UTC wall-clock times in a format without a zone, so that the axis reads
//! as the report's UTC times whatever the reader's zone. Task names are built from step ids and
//! fixed words only, and never start with a word Mermaid's gantt lexer takes for a keyword.

use std::fmt::Write as _;
use std::sync::LazyLock;

use chrono::format::{Item, StrftimeItems};
use chrono::{DateTime, Duration, Utc};

use crate::playbook::duration::format_human;

use super::model::{Report, Status};

/// Words that start a statement in Mermaid's gantt grammar, matched case-insensitively at the
/// start of a line; a task named like one would be read as that statement.
const KEYWORDS: [&str; 20] = [
    "gantt",
    "dateformat",
    "inclusiveenddates",
    "topaxis",
    "axisformat",
    "tickinterval",
    "includes",
    "excludes",
    "todaymarker",
    "weekday",
    "weekend",
    "title",
    "acctitle",
    "accdescr",
    "section",
    "click",
    "call",
    "href",
    "displaymode",
    "vert",
];

struct Chart {
    out: String,
    n: usize,
}

impl Chart {
    fn new(title: &str) -> Self {
        let mut out = String::from("```mermaid\ngantt\n");
        let _ = writeln!(out, "    title {title}");
        out.push_str("    dateFormat YYYY-MM-DD HH:mm:ss.SSS\n");
        out.push_str("    axisFormat %H:%M:%S\n");
        Self { out, n: 0 }
    }

    fn section(&mut self, name: &str) {
        let _ = writeln!(self.out, "    section {name}");
    }

    fn bar(&mut self, label: &str, tag: Option<&str>, from: DateTime<Utc>, to: DateTime<Utc>) {
        self.n += 1;
        // A zero-length bar confuses the layout; a millisecond is invisible anyway.
        let to = to.max(from + Duration::milliseconds(1));
        let tag = tag.map_or(String::new(), |t| format!("{t}, "));
        let _ = writeln!(
            self.out,
            "    {} :{tag}t{}, {}, {}",
            label_safe(label),
            self.n,
            time(from),
            time(to)
        );
    }

    fn finish(mut self) -> Option<String> {
        self.out.push_str("```\n");
        (self.n > 0).then_some(self.out)
    }
}

/// A bar's start, as Mermaid's `dateFormat` reads it. The format is parsed once: parsed again
/// for every bar, it was 3% of the report of a 10,000-step run (#18).
fn time(t: DateTime<Utc>) -> String {
    static ITEMS: LazyLock<Vec<Item<'static>>> =
        LazyLock::new(|| StrftimeItems::new("%Y-%m-%d %H:%M:%S%.3f").collect());
    t.format_with_items(ITEMS.iter()).to_string()
}

/// A task name Mermaid reads as one: only letters, digits and `-_./()` and spaces, and never a
/// keyword first.
pub(super) fn label_safe(label: &str) -> String {
    let mut s: String = label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/' | '(' | ')' | ' ') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let lower = s.trim_start().to_ascii_lowercase();
    if s.trim().is_empty() || KEYWORDS.iter().any(|k| lower.starts_with(k)) {
        s.insert_str(0, "step ");
    }
    s
}

/// The actual timeline.
pub(super) fn actual(report: &Report) -> Option<String> {
    let mut chart = Chart::new("Timeline (UTC)");
    let checks: Vec<_> = report
        .checks
        .iter()
        .filter(|c| c.step.is_none())
        .filter_map(|c| {
            let to = c.started_at + Duration::milliseconds(i64::try_from(c.duration_ms?).ok()?);
            Some((c, to))
        })
        .collect();
    if !checks.is_empty() {
        chart.section("Checks");
        for (c, to) in checks {
            let tag = (c.passed == Some(false)).then_some("crit");
            chart.bar(
                &format!("{} ({})", c.check, c.result()),
                tag,
                c.started_at,
                to,
            );
        }
    }
    let ran = || {
        report
            .steps
            .iter()
            .filter_map(|s| Some((s, s.started_at?, s.finished_at()?)))
    };
    if ran().next().is_some() {
        chart.section("Steps");
        for (s, from, to) in ran() {
            let tag = match s.status {
                Status::Ok => Some("done"),
                Status::RolledBack => Some("active"),
                Status::Failed | Status::Cancelled | Status::Unfinished => Some("crit"),
                Status::Skipped | Status::NotStarted => None,
            };
            chart.bar(&format!("{} ({})", s.id, s.status.as_str()), tag, from, to);
        }
    }
    let rollbacks: Vec<_> = report
        .rollbacks
        .iter()
        .filter_map(|r| {
            let to = r.started_at + Duration::milliseconds(i64::try_from(r.duration_ms?).ok()?);
            Some((r, to))
        })
        .collect();
    if !rollbacks.is_empty() {
        chart.section("Rollbacks");
        for (r, to) in rollbacks {
            let tag = if r.result == "ok" { "active" } else { "crit" };
            chart.bar(
                &format!("{} rollback ({})", r.step, r.result),
                Some(tag),
                r.started_at,
                to,
            );
        }
    }
    if !report.outcome.gaps.is_empty() {
        chart.section("Resumes");
        for g in &report.outcome.gaps {
            chart.bar(
                &format!("runner gone ({})", format_human(g.length_ms)),
                Some("crit"),
                g.began_at(),
                g.resumed_at,
            );
        }
    }
    chart.finish()
}

/// A dry run's plan: each step from its earliest start for as long as its budget, the critical
/// path `crit`, steps without a budget as milestones.
pub(super) fn planned(report: &Report) -> Option<String> {
    report.plan.as_ref()?;
    let start = report.header.started_at?;
    let at = |ms: u64| start + Duration::milliseconds(i64::try_from(ms).unwrap_or(i64::MAX));
    let mut chart = Chart::new("Planned timings (UTC, every budget held)");
    chart.section("Plan");
    for p in report.planned_steps().filter(|p| p.skip.is_none()) {
        let label = match p.budget_ms {
            Some(b) => format!("{} ({})", p.id, format_human(b)),
            None => format!("{} (no budget)", p.id),
        };
        let tag = match (p.budget_ms.unwrap_or(0), p.critical) {
            (0, _) => Some("milestone"),
            (_, true) => Some("crit"),
            (_, false) => None,
        };
        chart.bar(&label, tag, at(p.start_ms), at(p.finish_ms));
    }
    chart.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_never_hold_mermaid_syntax_or_start_with_a_keyword() {
        assert_eq!(label_safe("restore (ok)"), "restore (ok)");
        assert_eq!(label_safe("a:b#c;d%e"), "a_b_c_d_e");
        assert_eq!(label_safe("title (ok)"), "step title (ok)");
        assert_eq!(label_safe("Section-2 (failed)"), "step Section-2 (failed)");
        assert_eq!(label_safe("clicker (ok)"), "step clicker (ok)");
        assert_eq!(label_safe("db/verify (ok)"), "db/verify (ok)");
    }
}
