//! A Markdown document under construction, and the small formats every section shares: UTC
//! times to the second, offsets and durations in the playbook grammar, id lists.

use chrono::{DateTime, SecondsFormat, Utc};

use crate::event::{ApprovalHow, CheckPhase};
use crate::playbook::duration::format_human;

use super::escape::code;

/// A document under construction: held whole, or written out as it grows (the report of
/// 10,000 steps is a megabyte of Markdown: #18).
#[derive(Default)]
pub(super) struct Md<'w> {
    text: String,
    /// Where the text goes once it is long; `None`: it stays in `text`.
    out: Option<&'w mut dyn std::io::Write>,
    /// Some text was written out already: the document is not empty.
    spilled: bool,
    /// The first failed write; the rest of the document is not written.
    error: Option<std::io::Error>,
}

/// Text held before it is written out.
const SPILL_BYTES: usize = 64 * 1024;

impl<'w> Md<'w> {
    /// A document written to `out` as it grows; [`Md::finish`] writes the rest.
    pub(super) fn to(out: &'w mut dyn std::io::Write) -> Self {
        Self {
            out: Some(out),
            ..Self::default()
        }
    }

    /// Writes out what is held but its trailing newlines, which decide the blank lines to
    /// come (and the document's end).
    fn spill(&mut self) {
        let Some(out) = self.out.as_mut() else {
            return;
        };
        if self.text.len() < SPILL_BYTES {
            return;
        }
        let keep = self.text.trim_end_matches('\n').len();
        if self.error.is_none()
            && let Err(e) = out.write_all(&self.text.as_bytes()[..keep])
        {
            self.error = Some(e);
        }
        self.text.drain(..keep);
        self.spilled = true;
    }

    /// The document, ending in one newline: returned when it is held, else written out.
    pub(super) fn finish(mut self) -> std::io::Result<String> {
        while self.text.ends_with("\n\n") {
            self.text.pop();
        }
        match (self.out.take(), self.error.take()) {
            (_, Some(e)) => Err(e),
            (None, None) => Ok(self.text),
            (Some(out), None) => out.write_all(self.text.as_bytes()).map(|()| String::new()),
        }
    }

    pub(super) fn line(&mut self, s: &str) {
        self.text.push_str(s);
        self.text.push('\n');
        self.spill();
    }

    pub(super) fn blank(&mut self) {
        if (self.spilled || !self.text.is_empty()) && !self.text.ends_with("\n\n") {
            self.text.push('\n');
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
            self.text.push('|');
            for cell in row.as_ref() {
                self.text.push(' ');
                self.text.push_str(if cell.is_empty() { " " } else { cell });
                self.text.push_str(" |");
            }
            self.text.push('\n');
            self.spill();
        }
        self.blank();
    }

    pub(super) fn block(&mut self, s: &str) {
        self.blank();
        self.text.push_str(s);
        self.spill();
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A document of more than twice [`SPILL_BYTES`], ending in blank lines.
    fn document(md: &mut Md<'_>) {
        md.heading(1, "Report");
        md.para("A paragraph.");
        let rows = (0..4000).map(|i| vec![i.to_string(), "x".repeat(i % 50), String::new()]);
        md.table(&["Step", "Notes", "Empty"], rows);
        md.block("```\nblock\n```\n");
        md.para("The end.");
        md.blank();
        md.blank();
    }

    #[test]
    fn a_document_written_out_as_it_grows_is_the_one_held_whole() {
        let mut held = Md::default();
        document(&mut held);
        let held = held.finish().expect("held");
        assert!(held.len() > 2 * SPILL_BYTES, "{}", held.len());
        assert!(held.ends_with("The end.\n"), "one final newline");
        let mut out = Vec::new();
        let mut written = Md::to(&mut out);
        document(&mut written);
        assert_eq!(written.finish().expect("written"), "");
        assert_eq!(String::from_utf8(out).expect("UTF-8"), held);
    }

    struct Full;

    impl std::io::Write for Full {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::from_raw_os_error(28))
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_failed_write_is_the_document_s_error() {
        let mut full = Full;
        let mut md = Md::to(&mut full);
        document(&mut md);
        let err = md.finish().expect_err("the disk is full");
        assert_eq!(err.raw_os_error(), Some(28));
        // A short document fails at the end.
        let mut md = Md::to(&mut full);
        md.para("short");
        assert!(md.finish().is_err());
    }
}
