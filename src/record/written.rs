//! The report of a run folder, from the folder alone: its journal, `playbook.toml` and `logs/`,
//! compared with the previous successful run under the same runs roots. The report written at
//! the end of a run (`report.md` and `report.json`) and `runbook report` are this one function,
//! so they agree.

use std::io::Write as _;
use std::path::PathBuf;

use crate::record::folder::RunFolder;
use crate::record::history;
use crate::record::replay::{ReplayError, RunState};
use crate::record::report::{self, ReportInput};

/// Which rendering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ReportFormat {
    Md,
    Json,
}

/// The report in Markdown and as pretty JSON (each ending in a newline), from one reading of
/// the folder.
fn render_both(
    folder: &RunFolder,
    runs_roots: &[PathBuf],
) -> Result<(String, String), ReplayError> {
    with_input(folder, runs_roots, report::both)
}

/// What the report of `folder` is made from, handed to `f`.
fn with_input<R>(
    folder: &RunFolder,
    runs_roots: &[PathBuf],
    f: impl FnOnce(&ReportInput<'_>) -> R,
) -> Result<R, ReplayError> {
    let state = RunState::load(&folder.journal())?;
    // The copy in the run folder is what ran; a report needs it for budgets and sign-off, and
    // renders without it (from the journal alone) if it no longer validates.
    let playbook = crate::playbook::find::load(&folder.playbook())
        .ok()
        .and_then(Result::ok)
        .map(|v| v.playbook);
    let started = state.started.as_ref().map(|s| (s.playbook.clone(), s.ts));
    // The run itself is passed over: its journal is read already, and it cannot be its own
    // previous run.
    let runs = started.as_ref().map_or_else(Vec::new, |(name, _)| {
        history::scan_heads(runs_roots, name, Some(&folder.dir)).0
    });
    // Only the run compared with is read whole; the others come from the runs root's index.
    let previous = started
        .and_then(|(name, ts)| history::previous_success(&runs, &name, ts))
        .and_then(|r| r.load_state().ok());
    let report_path = folder.report();
    let input = ReportInput {
        state: &state,
        playbook: playbook.as_ref(),
        logs: &folder.logs(),
        previous: previous.as_ref(),
        report_path_hint: Some(&report_path),
    };
    Ok(f(&input))
}

/// Why a report could not be written.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WriteError {
    #[error("failed to render the report")]
    Render(#[from] ReplayError),
    #[error("failed to write `{}`", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Writes `report.md` and `report.json` into the run folder; their texts.
pub(crate) fn write(
    folder: &RunFolder,
    runs_roots: &[PathBuf],
) -> Result<(String, String), WriteError> {
    let (md, json) = render_both(folder, runs_roots)?;
    write_text(folder, ReportFormat::Md, &md)?;
    write_text(folder, ReportFormat::Json, &json)?;
    Ok((md, json))
}

/// Replaces `report.md` (or `report.json`) with `text` at once: written beside it, flushed, then
/// renamed over it, so that a full disk never leaves a cut-off (or empty) report. When that
/// fails, the report of an earlier segment is removed too: it no longer tells how the run went.
fn write_text(folder: &RunFolder, format: ReportFormat, text: &str) -> Result<(), WriteError> {
    let (path, temp) = match format {
        ReportFormat::Md => (folder.report(), folder.dir.join(".report.md.partial")),
        ReportFormat::Json => (
            folder.report_json(),
            folder.dir.join(".report.json.partial"),
        ),
    };
    let written = (|| {
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(text.as_bytes())?;
        file.sync_data()?;
        std::fs::rename(&temp, &path)
    })();
    written.map_err(|source| {
        let _ = std::fs::remove_file(&temp);
        let _ = std::fs::remove_file(&path);
        WriteError::Write { path, source }
    })
}
