//! The report of a run folder, from the folder alone: its journal, `playbook.toml` and `logs/`,
//! compared with the previous successful run under the same runs roots. The report written at
//! the end of a run and `runbook report` are this one function, so they agree.

use std::path::PathBuf;

use crate::record::folder::RunFolder;
use crate::record::history;
use crate::record::replay::{ReplayError, RunState};
use crate::record::report::{self, ReportInput};

/// Which rendering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Md,
    Json,
}

/// Renders a run folder's report (Markdown or pretty JSON, ending in a newline).
pub fn render(
    folder: &RunFolder,
    runs_roots: &[PathBuf],
    format: ReportFormat,
) -> Result<String, ReplayError> {
    let state = RunState::load(&folder.journal())?;
    // The copy in the run folder is what ran; a report needs it for budgets and sign-off, and
    // renders without it (from the journal alone) if it no longer validates.
    let playbook = crate::playbook::find::load(&folder.playbook())
        .ok()
        .and_then(Result::ok)
        .map(|v| v.playbook);
    let started = state.started.as_ref().map(|s| (s.playbook.clone(), s.ts));
    let runs = started.as_ref().map_or_else(Vec::new, |(name, _)| {
        history::scan_playbook(runs_roots, name).0
    });
    let previous = started
        .and_then(|(name, ts)| history::previous_success(&runs, &name, ts))
        .map(|r| &r.state);
    let report_path = folder.report();
    let input = ReportInput {
        state: &state,
        playbook: playbook.as_ref(),
        logs: &folder.logs(),
        previous,
        report_path_hint: Some(&report_path),
    };
    Ok(match format {
        ReportFormat::Md => report::markdown(&input),
        ReportFormat::Json => {
            let mut text =
                serde_json::to_string_pretty(&report::json(&input)).expect("a report serializes");
            text.push('\n');
            text
        }
    })
}

/// Writes `report.md` into the run folder.
pub fn write(folder: &RunFolder, runs_roots: &[PathBuf]) -> Result<PathBuf, String> {
    let text = render(folder, runs_roots, ReportFormat::Md).map_err(|e| crate::error::chain(&e))?;
    std::fs::write(folder.report(), text)
        .map_err(|e| format!("failed to write `{}`: {e}", folder.report().display()))?;
    Ok(folder.report())
}
