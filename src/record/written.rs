//! The report of a run folder, from the folder alone: its journal, `playbook.toml` and `logs/`,
//! compared with the previous successful run under the same runs roots. The report written at
//! the end of a run (`report.md` and `report.json`) and `runbook report` are this one function,
//! so they agree.

use std::path::{Path, PathBuf};
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
    // through the same guards as any playbook (a regular file, of bounded size). When it is not
    // the text `known` was validated from, it is validated on a thread of its own while this one
    // replays the journal: the two are independent, and at 10,000 steps each is a third of the
    // report's time. At the end of a run it is that text, and no thread is started (one is a
    // tenth of a millisecond: a run of one step takes five).
    let file = crate::playbook::find::read(&folder.playbook()).ok();
    let reused = known
        .zip(file.as_ref())
        .filter(|(p, file)| p.sha256 == format!("{:x}", Sha256::digest(file.text.as_bytes())))
        .map(|(p, _)| Arc::clone(p));
    let (state, playbook) = match (reused, file) {
        (Some(playbook), _) => (RunState::load(&folder.journal()), Some(playbook)),
        (None, None) => (RunState::load(&folder.journal()), None),
        (None, Some(file)) => {
            let validate = || crate::playbook::validate(&file).ok().map(|v| v.playbook);
            std::thread::scope(|scope| {
                // Without a thread to spare (a limit on processes), the same work, one after
                // the other.
                match std::thread::Builder::new().spawn_scoped(scope, validate) {
                    Ok(validating) => {
                        let state = RunState::load(&folder.journal());
                        // A panic while validating is a bug, and stays one: never read as
                        // "invalid".
                        let playbook = validating
                            .join()
                            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
                        (state, playbook)
                    }
                    Err(_) => (RunState::load(&folder.journal()), validate()),
                }
            })
        }
    };
    let state = state?;
    let started = state.started.as_ref().map(|s| (s.playbook.clone(), s.ts));
    // The run itself is passed over: its journal is read already, and it cannot be its own
    // previous run.
    // Only the run compared with is read whole; the others are glanced at in the runs root's
    // heads file.
    let previous = started
        .and_then(|(name, ts)| {
            history::previous_success_of(runs_roots, &name, Some(&folder.dir), ts)
        })
        .and_then(|dir| RunState::load(&dir.join("journal.jsonl")).ok());
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
    with_input(folder, runs_roots, known, |input| {
        write_both(folder, &report::build(input))
    })?
}

/// Writes both renderings of `built` beside their files, flushes them to disk and renames
/// them over the reports.
fn write_both(folder: &RunFolder, built: &report::Built<'_>) -> Result<(), WriteError> {
    let md_file = Staged::write(folder, ReportFormat::Md, |out| built.write_markdown(out))?;
    let json_file = match Staged::write(folder, ReportFormat::Json, |out| built.write_json(out)) {
        Ok(staged) => staged,
        Err(e) => {
            // As when each was written in turn: the Markdown report stands, the JSON one
            // is gone.
            let synced = md_file.file.sync_data();
            md_file.place(synced)?;
            return Err(e);
        }
    };
    // The two flushes to disk overlap: each is a wait on the disk (1 to 4 ms here), paid by
    // every run at its end (#18). Without a spare thread they run in turn. Each file is renamed
    // over its report only once it is on disk.
    let (md_synced, json_synced) = std::thread::scope(|scope| {
        let json = std::thread::Builder::new().spawn_scoped(scope, || json_file.file.sync_data());
        let md = md_file.file.sync_data();
        let json = match json {
            Ok(handle) => handle
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            Err(_) => json_file.file.sync_data(),
        };
        (md, json)
    });
    if let Err(e) = md_file.place(md_synced) {
        // As when each was written in turn: the JSON report is not written after a failed
        // Markdown one, and leaves nothing behind.
        let _ = std::fs::remove_file(&json_file.temp);
        return Err(e);
    }
    json_file.place(json_synced)
}

/// A report written beside its file, not yet on disk nor in its place.
struct Staged {
    file: std::fs::File,
    temp: PathBuf,
    path: PathBuf,
}

impl Staged {
    /// Writes what `fill` writes to the report's temporary file. On failure, the report of an
    /// earlier segment is removed too: it no longer tells how the run went.
    fn write(
        folder: &RunFolder,
        format: ReportFormat,
        fill: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> std::io::Result<()>,
    ) -> Result<Self, WriteError> {
        let (path, temp) = match format {
            ReportFormat::Md => (folder.report(), folder.dir.join(".report.md.partial")),
            ReportFormat::Json => (
                folder.report_json(),
                folder.dir.join(".report.json.partial"),
            ),
        };
        let written = (|| {
            let mut out =
                std::io::BufWriter::with_capacity(64 * 1024, std::fs::File::create(&temp)?);
            fill(&mut out)?;
            out.into_inner()
                .map_err(std::io::IntoInnerError::into_error)
        })();
        match written {
            Ok(staged) => Ok(Self {
                file: staged,
                temp,
                path,
            }),
            Err(source) => Err(Self::failed(&temp, path, source)),
        }
    }

    /// Renames the file over the report once `synced` says it is on disk, so that a full
    /// disk or a crash never leaves a cut-off (or empty) report.
    fn place(self, synced: std::io::Result<()>) -> Result<(), WriteError> {
        let Self { file, temp, path } = self;
        drop(file);
        match synced.and_then(|()| std::fs::rename(&temp, &path)) {
            Ok(()) => Ok(()),
            Err(source) => Err(Self::failed(&temp, path, source)),
        }
    }

    fn failed(temp: &Path, path: PathBuf, source: std::io::Error) -> WriteError {
        let _ = std::fs::remove_file(temp);
        let _ = std::fs::remove_file(&path);
        WriteError::Write { path, source }
    }
}
