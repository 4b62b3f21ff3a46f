//! Reading the page to import as playbooks are read (no FIFO, device or folder, at most
//! 16 MiB), and the errors of `runbook import`.

use std::path::{Path, PathBuf};

use crate::playbook::find::{MAX_PLAYBOOK_BYTES, Refusal, read_regular};
use crate::text::os_error;

/// The largest page read, as for playbooks.
const MAX_PAGE_BYTES: u64 = MAX_PLAYBOOK_BYTES;

/// Why `runbook import` cannot go on.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read `{}`: {}; name the Markdown page to import", path.display(), os_error(error))]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("cannot import `{}`: it is {what}, not a Markdown file", path.display())]
    NotAFile { path: PathBuf, what: &'static str },
    #[error("cannot import `{}`: it is {size} bytes, and a page may have at most 16 MiB", path.display())]
    TooLarge { path: PathBuf, size: u64 },
    #[error("`{}` already exists: pass `--force` to overwrite it, or name another file with `-o`", path.display())]
    Exists { path: PathBuf },
    #[error(
        "invalid playbook name `{name}` for `--name`: a name is lowercase letters, digits and `-`, e.g. `{suggestion}`"
    )]
    Name { name: String, suggestion: String },
}

/// A page's text; bytes that are not UTF-8 read as U+FFFD.
#[derive(Debug)]
pub(crate) struct Page {
    pub(crate) text: String,
    /// The first byte that is not UTF-8, if any.
    pub(crate) not_utf8_at: Option<usize>,
}

/// Reads the page at `path`.
pub(crate) fn read(path: &Path) -> Result<Page, ImportError> {
    let bytes = read_regular(path, MAX_PAGE_BYTES).map_err(|refusal| match refusal {
        Refusal::Io(error) => ImportError::Read {
            path: path.to_path_buf(),
            error,
        },
        Refusal::NotAFile(what) => ImportError::NotAFile {
            path: path.to_path_buf(),
            what,
        },
        Refusal::TooLarge(size) => ImportError::TooLarge {
            path: path.to_path_buf(),
            size,
        },
    })?;
    Ok(match String::from_utf8(bytes) {
        Ok(text) => Page {
            text,
            not_utf8_at: None,
        },
        Err(e) => Page {
            not_utf8_at: Some(e.utf8_error().valid_up_to()),
            text: String::from_utf8_lossy(e.as_bytes()).into_owned(),
        },
    })
}
