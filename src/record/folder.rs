//! The run folder: `playbook.toml` (the exact bytes that ran), `journal.jsonl`, `logs/`,
//! `report.md` and `report.json`. Created before anything runs; never overwrites an existing run.

use std::path::{Path, PathBuf};

/// Why a run folder cannot be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FolderError {
    #[error("run folder `{}` already holds a run: choose another --out", path.display())]
    Exists { path: PathBuf },
    #[error("failed to create the run folder `{}`", path.display())]
    Create {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{}` is not a run folder: it has no journal.jsonl", path.display())]
    NotARun { path: PathBuf },
}

/// The files of one run.
#[derive(Debug, Clone)]
pub(crate) struct RunFolder {
    pub(crate) dir: PathBuf,
}

impl RunFolder {
    /// Creates a new run folder holding the playbook's bytes. An existing folder is used only
    /// when it has no journal (a run never overwrites another run's record).
    pub(crate) fn create(dir: &Path, playbook_bytes: &[u8]) -> Result<Self, FolderError> {
        let folder = Self {
            dir: dir.to_path_buf(),
        };
        if folder.journal().exists() {
            return Err(FolderError::Exists {
                path: dir.to_path_buf(),
            });
        }
        let create = |path: &Path, result: std::io::Result<()>| {
            result.map_err(|source| FolderError::Create {
                path: path.to_path_buf(),
                source,
            })
        };
        create(&folder.logs(), std::fs::create_dir_all(folder.logs()))?;
        create(
            &folder.playbook(),
            std::fs::write(folder.playbook(), playbook_bytes),
        )?;
        Ok(folder)
    }

    /// An existing run folder.
    pub(crate) fn open(dir: &Path) -> Result<Self, FolderError> {
        let folder = Self {
            dir: dir.to_path_buf(),
        };
        if folder.journal().is_file() {
            Ok(folder)
        } else {
            Err(FolderError::NotARun {
                path: dir.to_path_buf(),
            })
        }
    }

    #[must_use]
    pub(crate) fn journal(&self) -> PathBuf {
        self.dir.join("journal.jsonl")
    }

    #[must_use]
    pub(crate) fn logs(&self) -> PathBuf {
        self.dir.join("logs")
    }

    #[must_use]
    pub(crate) fn playbook(&self) -> PathBuf {
        self.dir.join("playbook.toml")
    }

    #[must_use]
    pub(crate) fn report(&self) -> PathBuf {
        self.dir.join("report.md")
    }

    /// The report as one JSON document, written beside `report.md`.
    #[must_use]
    pub(crate) fn report_json(&self) -> PathBuf {
        self.dir.join("report.json")
    }
}
