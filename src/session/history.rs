//! The past runs a `history` probe reads: the engine asks through [`History`], and this
//! answers from the run folders of the runs root, through `record::history`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use crate::engine::History;
use crate::event::HistoryFigures;
use crate::record::history;
use crate::record::summary::Summary;

/// The runs roots of the playbook being run.
pub(crate) struct RunsHistory {
    roots: Vec<PathBuf>,
}

impl RunsHistory {
    /// The history of the runs root `root`, as the engine takes it.
    pub(crate) fn shared(root: &Path) -> Arc<dyn History> {
        Arc::new(Self {
            roots: vec![root.to_path_buf()],
        })
    }
}

impl History for RunsHistory {
    fn figures(&self, playbook: &str, since: Duration) -> Result<HistoryFigures, String> {
        let (runs, warnings) = history::scan_heads(&self.roots, playbook, None);
        // A journal that cannot be read might be a failed run: figures without it could pass
        // a check that should not.
        if let Some(w) = warnings.first() {
            return Err(w.trim_start_matches("warning: ").to_owned());
        }
        let cutoff = history::cutoff(Utc::now(), since);
        let within = runs.iter().filter(|r| r.started() >= cutoff);
        Ok(Summary::of(playbook, within).figures())
    }
}
