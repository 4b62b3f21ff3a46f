//! The errors that stop runbook itself, and the one place exit codes live.

use std::path::PathBuf;

use crate::playbook::Diagnostics;
use crate::playbook::find::FindError;

/// Something runbook itself cannot get past. A failed step is not an `Error`: it is an outcome.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// One or more playbooks are invalid; the diagnostics say why.
    #[error("{}", invalid_summary(.0))]
    Invalid(Diagnostics),
    #[error(transparent)]
    Find(#[from] FindError),
    /// A command-line mistake that clap cannot see (e.g. an undeclared `--var`).
    #[error("{0}")]
    Usage(String),
    #[error("failed to write `{}`", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn invalid_summary(d: &Diagnostics) -> String {
    let errors = d.errors();
    let files: std::collections::BTreeSet<_> = d.0.iter().map(|x| x.path().to_path_buf()).collect();
    format!(
        "{} in {}",
        crate::ui::count::count(errors, "error"),
        crate::ui::count::count(files.len(), "playbook"),
    )
}

impl Error {
    /// 0 ok, 1 run failed, 2 usage or invalid playbook, 3 refused, 130 interrupted.
    #[must_use]
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Invalid(_) | Self::Find(_) | Self::Usage(_) => 2,
            Self::Write { .. } => 1,
        }
    }
}
