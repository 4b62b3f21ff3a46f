//! The report of a run folder, from the folder alone: its journal, `playbook.toml` and `logs/`,
//! compared with the previous successful run under the same runs roots. The report written at
//! the end of a run (`report.md` and `report.json`) and `runbook report` are this one function,
//! so they agree.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use sha2::{Digest as _, Sha256};

use crate::playbook::Playbook;
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

/// What the report of `folder` is made from, handed to `f`. `known` is the playbook the run
/// had in memory (validated before expansion): it stands in for the folder's `playbook.toml`
/// only when that file's text is the one it was validated from, so the report is the same
/// whichever was used, and validating a large playbook a second time is saved.
fn with_input<R>(
    folder: &RunFolder,
    runs_roots: &[PathBuf],
    known: Option<&Arc<Playbook>>,
    f: impl FnOnce(&ReportInput<'_>) -> R,
) -> Result<R, ReplayError> {
    // The copy in the run folder is what ran; a report needs it for budgets and sign-off, and
    // renders without it (from the journal alone) if it no longer validates. It is read once,
    // through the same guards as any playbook (a regular file, of bounded size), and validated
    // on a thread of its own while this one replays the journal: the two are independent, and
    // at 10,000 steps each is a third of the report's time.
    let playbook = || {
        crate::playbook::find::read(&folder.playbook())
            .ok()
            .and_then(|file| {
                let sha256 = format!("{:x}", Sha256::digest(file.text.as_bytes()));
                match known.filter(|p| p.sha256 == sha256) {
                    Some(p) => Some(Arc::clone(p)),
                    None => crate::playbook::validate(&file).ok().map(|v| v.playbook),
                }
            })
    };
    let (state, playbook) = std::thread::scope(|scope| {
        // Without a thread to spare (a limit on processes), the same work, one after the other.
        match std::thread::Builder::new().spawn_scoped(scope, playbook) {
            Ok(validating) => {
                let state = RunState::load(&folder.journal());
                // A panic while validating is a bug, and stays one: never read as "invalid".
                let playbook = validating
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
                (state, playbook)
            }
            Err(_) => (RunState::load(&folder.journal()), playbook()),
        }
    });
    let state = state?;
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

/// Writes `report.md` and `report.json` into the run folder, from one reading of it and one
/// build of the report. `known`: the playbook the run validated, if at hand (see
/// [`with_input`]).
pub(crate) fn write(
    folder: &RunFolder,
    runs_roots: &[PathBuf],
    known: Option<&Arc<Playbook>>,
) -> Result<(), WriteError> {
    let built = with_input(folder, runs_roots, known, report::build)?;
    let md = built.markdown();
    write_file(folder, ReportFormat::Md, |out| out.write_all(md.as_bytes()))?;
    drop(md);
    write_file(folder, ReportFormat::Json, |out| built.write_json(out))
}

/// Replaces `report.md` (or `report.json`) with what `fill` writes, at once: written beside
/// it, flushed, then renamed over it, so that a full disk never leaves a cut-off (or empty)
/// report. When that fails, the report of an earlier segment is removed too: it no longer
/// tells how the run went.
fn write_file(
    folder: &RunFolder,
    format: ReportFormat,
    fill: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> std::io::Result<()>,
) -> Result<(), WriteError> {
    let (path, temp) = match format {
        ReportFormat::Md => (folder.report(), folder.dir.join(".report.md.partial")),
        ReportFormat::Json => (
            folder.report_json(),
            folder.dir.join(".report.json.partial"),
        ),
    };
    let written = (|| {
        let mut out = std::io::BufWriter::with_capacity(64 * 1024, std::fs::File::create(&temp)?);
        fill(&mut out)?;
        out.into_inner()
            .map_err(std::io::IntoInnerError::into_error)?
            .sync_data()?;
        std::fs::rename(&temp, &path)
    })();
    written.map_err(|source| {
        let _ = std::fs::remove_file(&temp);
        let _ = std::fs::remove_file(&path);
        WriteError::Write { path, source }
    })
}
