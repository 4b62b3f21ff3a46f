//! Run record → report: `report.md` (GitHub-flavoured Markdown) and the same content as one JSON
//! document, rendered by pure functions from the journal's [`RunState`], the run folder's
//! `playbook.toml` and its `logs/` (all masked already), so a report never holds a secret.
//!
//! [`RunState`]: crate::record::replay::RunState

mod build;
mod closing;
mod escape;
mod evidence;
mod json;
mod markdown;
mod md;
mod mermaid;
mod model;

#[cfg(test)]
mod tests;

pub(crate) use model::ReportInput;

/// The report as GitHub-flavoured Markdown.
#[cfg(test)]
#[must_use]
pub(crate) fn markdown(input: &ReportInput<'_>) -> String {
    markdown::render(&model::Report::build(input))
}

/// The same content as one JSON document.
#[cfg(test)]
#[must_use]
pub(crate) fn json(input: &ReportInput<'_>) -> serde_json::Value {
    json::value(&model::Report::build(input))
}

/// A report built once, for both renderings. It borrows the run's record: its step rows are
/// made from it as they are written.
pub(crate) struct Built<'a>(model::Report<'a>);

/// Builds the report of `input`.
#[must_use]
pub(crate) fn build<'a>(input: &ReportInput<'a>) -> Built<'a> {
    Built(model::Report::build(input))
}

impl Built<'_> {
    /// The Markdown, ending in a newline, written to `out` as it is rendered (at 10,000 steps
    /// it is a megabyte: no copy of it is held).
    pub(crate) fn write_markdown(&self, mut out: impl std::io::Write) -> std::io::Result<()> {
        markdown::write(&self.0, &mut out)
    }

    /// The JSON document, pretty-printed and ending in a newline, written to `out` as it is
    /// serialized (at 10,000 steps it is megabytes: no copy of it is held).
    pub(crate) fn write_json(&self, out: impl std::io::Write) -> std::io::Result<()> {
        json::write(&self.0, out)
    }
}
