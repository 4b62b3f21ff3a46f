//! The evidence a recovery leaves in Markdown: the recovery point (the time the data is
//! restored as of, not only the RPO computed from it) and every step's outputs (backup names,
//! checksums, counts), masked as the journal holds them.

use super::escape::{cell_code, code, fence, is_short, text};
use super::md::{Md, when};
use super::model::Report;

/// The recovery point, under the objectives: what it is and what it means for this run.
pub(super) fn recovery_point(md: &mut Md, r: &Report) {
    let Some(rp) = &r.outcome.recovery_point else {
        return;
    };
    let Some(at) = rp.at else {
        let why = rp.error.as_deref().map_or_else(String::new, text);
        md.para(&format!("**Recovery point:** unknown: {why}."));
        return;
    };
    let meaning = if r.header.dry_run {
        "a dry run restores nothing".to_owned()
    } else if r.outcome.status != "ok" {
        let how = match r.outcome.status {
            "failed" => "failed",
            "interrupted" => "was interrupted",
            _ => "did not finish",
        };
        format!("the run {how}, so nothing was recovered to it")
    } else {
        let from = match (rp.rpo_from, rp.rpo_from_incident) {
            (Some(ts), true) => format!(" from the incident start {}", when(ts)),
            (Some(ts), false) => format!(" from the run's start {}", when(ts)),
            (None, _) => String::new(),
        };
        format!("the data is restored as of this time; the RPO counts{from}")
    };
    md.para(&format!(
        "**Recovery point:** {} (`recovery_point`): {meaning}.",
        when(at)
    ));
}

/// Every output of every step; a value too long or with several lines for a cell follows the
/// table in a block.
pub(super) fn outputs(md: &mut Md, r: &Report) {
    md.heading(2, "Outputs");
    if r.outputs.is_empty() {
        md.para("No step gave an output.");
        return;
    }
    let mut long = Vec::new();
    let rows: Vec<Vec<String>> = r
        .outputs
        .iter()
        .map(|o| {
            let value = if is_short(&o.value) {
                cell_code(&o.value)
            } else {
                long.push(o);
                "below".to_owned()
            };
            vec![cell_code(&o.step), cell_code(&o.name), value]
        })
        .collect();
    md.table(&["Step", "Output", "Value"], &rows);
    for o in long {
        md.para(&format!("{} of {}:", code(&o.name), code(&o.step)));
        let lines: Vec<String> = o.value.lines().map(str::to_owned).collect();
        md.block(&fence(&lines, "text"));
    }
}
