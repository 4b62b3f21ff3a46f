//! The evidence a recovery leaves in Markdown: the recovery point (the time the data is
//! restored as of, not only the RPO computed from it).

use super::escape::text;
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
