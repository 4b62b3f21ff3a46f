//! The errors that stop runbook itself, and the one place exit codes live.

use std::path::PathBuf;

use crate::import::ImportError;
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
    /// `runbook import` cannot read the page or write the draft where it was asked to.
    #[error(transparent)]
    Import(#[from] ImportError),
    /// A command-line mistake that clap cannot see (e.g. an undeclared `--var`).
    #[error("{0}")]
    Usage(String),
    /// Refused before anything ran (environment not allowed, lock held).
    #[error("{0}")]
    Refused(String),
    /// The run could not start or go on.
    #[error("{0}")]
    Run(String),
    /// The run failed; the terminal view and the report say why.
    #[error("the run failed")]
    RunFailed,
    /// The run was interrupted by a signal.
    #[error("the run was interrupted")]
    Interrupted,
    #[error("failed to start the async runtime: {0}")]
    Runtime(String),
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
        crate::text::count(errors, "error"),
        crate::text::count(files.len(), "playbook"),
    )
}

impl Error {
    /// 0 ok, 1 run failed, 2 usage or invalid playbook, 3 refused, 130 interrupted.
    #[must_use]
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Invalid(_) | Self::Find(_) | Self::Import(_) | Self::Usage(_) => 2,
            Self::Refused(_) => 3,
            Self::Write { .. } | Self::Run(_) | Self::RunFailed | Self::Runtime(_) => 1,
            Self::Interrupted => 130,
        }
    }
}

/// An error and its causes on one line: `a: b: c`.
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
