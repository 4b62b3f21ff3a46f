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

/// Both renderings of one build of the report: the Markdown, and the JSON document
/// pretty-printed; each ends in a newline.
#[must_use]
pub(crate) fn both(input: &ReportInput<'_>) -> (String, String) {
    let report = model::Report::build(input);
    (markdown::render(&report), json::render(&report))
}
