//! Reading the page to import, refusing what is not one before it can hang or fill memory (a
//! FIFO, a device, a folder, more than 16 MiB), and the errors of `runbook import`.

use std::path::{Path, PathBuf};

use crate::text::os_error;

/// The largest page read, as for playbooks.
const MAX_PAGE_BYTES: u64 = 16 * 1024 * 1024;

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
    use std::io::Read as _;
    use std::os::unix::fs::{FileTypeExt as _, OpenOptionsExt as _};

    let failed = |error| ImportError::Read {
        path: path.to_path_buf(),
        error,
    };
    let check = |meta: &std::fs::Metadata| {
        let kind = meta.file_type();
        let what = if kind.is_file() {
            return if meta.len() > MAX_PAGE_BYTES {
                Err(ImportError::TooLarge {
                    path: path.to_path_buf(),
                    size: meta.len(),
                })
            } else {
                Ok(())
            };
        } else if kind.is_dir() {
            "a folder"
        } else if kind.is_fifo() {
            "a FIFO (named pipe)"
        } else if kind.is_char_device() || kind.is_block_device() {
            "a device"
        } else {
            "not a regular file"
        };
        Err(ImportError::NotAFile {
            path: path.to_path_buf(),
            what,
        })
    };
    // Look before opening: opening a FIFO waits for a writer.
    check(&std::fs::metadata(path).map_err(failed)?)?;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
        .open(path)
        .map_err(failed)?;
    check(&file.metadata().map_err(failed)?)?;
    let mut bytes = Vec::new();
    file.take(MAX_PAGE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(failed)?;
    let size = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    if size > MAX_PAGE_BYTES {
        return Err(ImportError::TooLarge {
            path: path.to_path_buf(),
            size,
        });
    }
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
