//! A Markdown document under construction, and the small formats every section shares: UTC
//! times to the second, offsets and durations in the playbook grammar, id lists.

use chrono::{DateTime, SecondsFormat, Utc};

use crate::event::{ApprovalHow, CheckPhase};
use crate::playbook::duration::format_human;

use super::escape::code;

/// A document under construction.
#[derive(Default)]
pub(super) struct Md(pub(super) String);

impl Md {
    pub(super) fn line(&mut self, s: &str) {
        self.0.push_str(s);
        self.0.push('\n');
    }

    pub(super) fn blank(&mut self) {
        if !self.0.is_empty() && !self.0.ends_with("\n\n") {
            self.0.push('\n');
        }
    }

    pub(super) fn heading(&mut self, level: usize, s: &str) {
        self.blank();
        self.line(&format!("{} {s}", "#".repeat(level)));
        self.blank();
    }

    pub(super) fn para(&mut self, s: &str) {
        self.blank();
        self.line(s);
        self.blank();
    }

    /// A table; `rows` are made one at a time as they are written (the timeline of a long run
    /// has a row per step).
    pub(super) fn table<R: AsRef<[String]>>(
        &mut self,
        head: &[&str],
        rows: impl IntoIterator<Item = R>,
    ) {
        self.blank();
        self.line(&format!("| {} |", head.join(" | ")));
        self.line(&format!("|{}", "---|".repeat(head.len())));
        for row in rows {
            self.0.push('|');
            for cell in row.as_ref() {
                self.0.push(' ');
                self.0.push_str(if cell.is_empty() { " " } else { cell });
                self.0.push_str(" |");
            }
            self.0.push('\n');
        }
        self.blank();
    }

    pub(super) fn block(&mut self, s: &str) {
        self.blank();
        self.0.push_str(s);
        self.blank();
    }
}

/// UTC, RFC 3339, to the second.
pub(super) fn when(ts: DateTime<Utc>) -> String {
    ts.to_rfc3339_opts(SecondsFormat::Secs, true)
}

pub(super) fn offset(ms: Option<u64>) -> String {
    ms.map_or_else(|| "—".to_owned(), |ms| format!("+{}", format_human(ms)))
}

pub(super) fn human(ms: Option<u64>) -> String {
    ms.map_or_else(|| "—".to_owned(), format_human)
}

pub(super) fn id_list<S: AsRef<str>>(ids: impl IntoIterator<Item = S>) -> String {
    ids.into_iter()
        .map(|i| code(i.as_ref()))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) fn phase(p: CheckPhase) -> &'static str {
    match p {
        CheckPhase::Assessment => "assessment",
        CheckPhase::Validation => "validation",
        CheckPhase::Step => "step",
        CheckPhase::Verify => "verify",
    }
}

pub(super) fn how(h: ApprovalHow) -> &'static str {
    match h {
        ApprovalHow::Prompt => "prompt",
        ApprovalHow::Flag => "flag",
        ApprovalHow::Remote => "runbook approve",
    }
}
