//! Finding playbooks: the search path (`--dir`, `$RUNBOOK_PATH`, `./playbooks`), `NAME` and
//! `NAME@REQ` lookup, and duplicate name+version detection within a folder.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use semver::{Version, VersionReq};
use toml::de::{DeTable, DeValue};

use crate::playbook::decode::Span;
use crate::playbook::diagnostic::{Diagnostic, Diagnostics, SourceFile, did_you_mean};
use crate::playbook::validate::{Validated, validate};
use crate::text::List;

/// Why a playbook could not be found or read.
#[derive(Debug, thiserror::Error)]
pub enum FindError {
    #[error("no playbook named `{name}` in {searched}{suggestion}")]
    NotFound {
        name: String,
        searched: String,
        suggestion: String,
    },
    #[error("no version of `{name}` matches `{req}` (found {found})")]
    NoMatchingVersion {
        name: String,
        req: String,
        found: String,
    },
    #[error("invalid version requirement `{req}` in `{arg}`: {reason}")]
    BadRequirement {
        arg: String,
        req: String,
        reason: String,
    },
    #[error("playbook `{name}@{version}` is defined twice in one folder: `{}` and `{}`", first.display(), second.display())]
    Duplicate {
        name: String,
        version: Version,
        first: PathBuf,
        second: PathBuf,
    },
    #[error("failed to read `{}`", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read `{}` as a playbook: it is {what}, not a regular file", path.display())]
    NotAFile { path: PathBuf, what: &'static str },
    #[error("cannot read `{}` as a playbook: it is {size} bytes ({} MiB), and a playbook may have at most 16 MiB", path.display(), size.div_ceil(1024 * 1024))]
    TooLarge { path: PathBuf, size: u64 },
    /// The file is not UTF-8: a diagnostic at the first bad byte, over the text read lossily.
    #[error("{}", not_text_summary(.0))]
    NotText(Box<Diagnostic>),
}

/// The largest playbook file read: far above any real procedure, and small enough that a
/// mistaken path (a disk image, a log) is refused at once instead of filling memory.
pub const MAX_PLAYBOOK_BYTES: u64 = 16 * 1024 * 1024;

fn not_text_summary(d: &Diagnostic) -> String {
    let at = d.span.as_ref().map_or_else(
        || d.path().display().to_string(),
        |s| d.file.position(s.start),
    );
    format!("{at}: {}", d.message)
}

/// The folders searched for playbooks by name, in order.
#[derive(Debug, Clone)]
pub struct Library {
    dirs: Vec<PathBuf>,
}

/// A playbook file found in a folder, identified by its `name` and `version` without being
/// fully validated.
#[derive(Debug, Clone)]
pub struct Entry {
    pub path: PathBuf,
    pub name: String,
    pub version: Option<Version>,
    name_span: Span,
}

impl Library {
    /// `--dir`, then each folder of `$RUNBOOK_PATH`, then `./playbooks`.
    #[must_use]
    pub fn new(dir: Option<&Path>, runbook_path: Option<&OsStr>) -> Self {
        let mut dirs: Vec<PathBuf> = dir.into_iter().map(Path::to_path_buf).collect();
        if let Some(paths) = runbook_path {
            dirs.extend(std::env::split_paths(paths).filter(|p| !p.as_os_str().is_empty()));
        }
        dirs.push(PathBuf::from("playbooks"));
        let mut seen = Vec::new();
        dirs.retain(|d| {
            let key = d.canonicalize().unwrap_or_else(|_| d.clone());
            let new = !seen.contains(&key);
            seen.push(key);
            new
        });
        Self { dirs }
    }

    /// The folders searched, in order.
    #[must_use]
    pub fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    /// Every playbook file in the folders that exist, folder by folder, sorted by path.
    pub fn entries(&self) -> Result<Vec<Entry>, FindError> {
        let mut out = Vec::new();
        for dir in &self.dirs {
            if dir.is_dir() {
                for path in toml_files(dir)? {
                    out.push(identify(&path)?);
                }
            }
        }
        Ok(out)
    }

    /// An argument naming a playbook: an existing file or anything ending in `.toml` is a file;
    /// anything else is `NAME` or `NAME@REQ`, looked up folder by folder.
    pub fn resolve(&self, arg: &str) -> Result<PathBuf, FindError> {
        if is_file_argument(arg) {
            return Ok(PathBuf::from(arg));
        }
        let (name, req) = match arg.split_once('@') {
            Some((name, req)) => {
                let parsed = VersionReq::parse(req).map_err(|e| FindError::BadRequirement {
                    arg: arg.to_owned(),
                    req: req.to_owned(),
                    reason: e.to_string(),
                })?;
                (name, parsed)
            }
            None => (arg, VersionReq::STAR),
        };
        let mut all_names = Vec::new();
        for dir in &self.dirs {
            if !dir.is_dir() {
                continue;
            }
            let entries: Vec<Entry> = toml_files(dir)?
                .iter()
                .map(|p| identify(p))
                .collect::<Result<_, _>>()?;
            let named: Vec<&Entry> = entries.iter().filter(|e| e.name == name).collect();
            if named.is_empty() {
                all_names.extend(entries.iter().map(|e| e.name.clone()));
                continue;
            }
            let best = named
                .iter()
                .filter(|e| e.version.as_ref().is_some_and(|v| req.matches(v)))
                .max_by(|a, b| a.version.cmp(&b.version));
            let Some(entry) = best else {
                let mut versions: Vec<String> = named
                    .iter()
                    .filter_map(|e| e.version.as_ref().map(ToString::to_string))
                    .collect();
                versions.sort();
                return Err(FindError::NoMatchingVersion {
                    name: name.to_owned(),
                    req: req.to_string(),
                    found: versions.join(", "),
                });
            };
            if let Some(twin) = named
                .iter()
                .find(|e| e.version == entry.version && e.path != entry.path)
            {
                return Err(FindError::Duplicate {
                    name: name.to_owned(),
                    version: entry
                        .version
                        .clone()
                        .expect("a matching entry has a version"),
                    first: entry.path.clone().min(twin.path.clone()),
                    second: entry.path.clone().max(twin.path.clone()),
                });
            }
            return Ok(entry.path.clone());
        }
        all_names.retain(|n| !n.is_empty());
        all_names.sort();
        all_names.dedup();
        let suggestion = match did_you_mean(name, all_names.iter().map(String::as_str)) {
            Some(c) => format!("; did you mean `{c}`?"),
            None if all_names.is_empty() => String::new(),
            None => format!("; the playbooks there are {}", List::ticked(&all_names)),
        };
        let searched = List::ticked(self.dirs.iter().map(|d| d.display()));
        Err(FindError::NotFound {
            name: name.to_owned(),
            searched: format!("{searched} (set --dir or $RUNBOOK_PATH)"),
            suggestion,
        })
    }
}

/// The playbook a `playbook = "name@req"` step of `parent` runs: looked up in the parent's own
/// folder first, then in the library.
pub fn resolve_nested(
    parent: &Path,
    target: &str,
    library: &Library,
) -> Result<PathBuf, FindError> {
    let folder = parent
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    Library::new(Some(folder), None)
        .resolve(target)
        .or_else(|_| library.resolve(target))
}

/// Whether a command-line argument names a file rather than a playbook: it ends in `.toml`,
/// has a `/` (no name or version requirement has one), or is something other than a folder
/// (so that `/dev/stdin` or a FIFO is refused as what it is, not looked up as a name).
#[must_use]
pub fn is_file_argument(arg: &str) -> bool {
    let path = Path::new(arg);
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("toml"))
        || arg.contains('/')
        || path.metadata().is_ok_and(|m| !m.is_dir())
}

/// The `*.toml` files directly inside `dir`, sorted.
pub fn toml_files(dir: &Path) -> Result<Vec<PathBuf>, FindError> {
    let read = std::fs::read_dir(dir).map_err(|source| FindError::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut files = Vec::new();
    for entry in read {
        let entry = entry.map_err(|source| FindError::Read {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = entry.path();
        if path.extension() == Some(OsStr::new("toml")) && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// Reads a playbook file as text, refusing what is not one before it can hang or fill memory:
/// a FIFO, a device, a socket or a folder, and a file of more than 16 MiB. Text that is not
/// UTF-8 is a diagnostic at the first bad byte.
pub fn read(path: &Path) -> Result<Arc<SourceFile>, FindError> {
    let bytes = read_regular(path, MAX_PLAYBOOK_BYTES).map_err(|refusal| match refusal {
        Refusal::Io(source) => FindError::Read {
            path: path.to_path_buf(),
            source,
        },
        Refusal::NotAFile(what) => FindError::NotAFile {
            path: path.to_path_buf(),
            what,
        },
        Refusal::TooLarge(size) => FindError::TooLarge {
            path: path.to_path_buf(),
            size,
        },
    })?;
    from_bytes(path, bytes).map_err(FindError::NotText)
}

/// Why [`read_regular`] read nothing.
#[derive(Debug)]
pub(crate) enum Refusal {
    Io(std::io::Error),
    /// What the path is instead of a regular file: "a folder", "a FIFO (named pipe)", …
    NotAFile(&'static str),
    /// The file's size in bytes.
    TooLarge(u64),
}

/// The bytes of a regular file of at most `limit` bytes; a FIFO, a device, a socket or a
/// folder is refused before it is opened (opening a FIFO waits for a writer), and a file that
/// grows while it is read stops at one byte past the limit. Playbooks and `import`'s pages.
pub(crate) fn read_regular(path: &Path, limit: u64) -> Result<Vec<u8>, Refusal> {
    use std::io::Read as _;
    use std::os::unix::fs::OpenOptionsExt as _;

    // Look before opening: opening a FIFO waits for a writer.
    check_kind(&std::fs::metadata(path).map_err(Refusal::Io)?, limit)?;
    // Non-blocking, in case the path was swapped for a FIFO in between; no effect on a file.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
        .open(path)
        .map_err(Refusal::Io)?;
    let meta = file.metadata().map_err(Refusal::Io)?;
    check_kind(&meta, limit)?;
    // Sized to the file (`take` hides the size from `read_to_end`, which would double its way
    // up to it): the text is held for as long as the playbook is (#18).
    let expected = usize::try_from(meta.len().min(limit)).unwrap_or(0);
    let mut bytes = Vec::with_capacity(expected.saturating_add(1));
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(Refusal::Io)?;
    let size = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    if size > limit {
        return Err(Refusal::TooLarge(meta.len().max(size)));
    }
    Ok(bytes)
}

/// A playbook's bytes as text: what [`read`] does once it has the bytes.
pub fn from_bytes(path: &Path, bytes: Vec<u8>) -> Result<Arc<SourceFile>, Box<Diagnostic>> {
    match String::from_utf8(bytes) {
        Ok(text) => Ok(SourceFile::new(path, text)),
        Err(e) => Err(Box::new(not_utf8(path, &e))),
    }
}

/// Refuses what is not a regular file of at most `limit` bytes.
fn check_kind(meta: &std::fs::Metadata, limit: u64) -> Result<(), Refusal> {
    use std::os::unix::fs::FileTypeExt as _;

    let kind = meta.file_type();
    let what = if kind.is_file() {
        if meta.len() > limit {
            return Err(Refusal::TooLarge(meta.len()));
        }
        return Ok(());
    } else if kind.is_dir() {
        "a folder"
    } else if kind.is_fifo() {
        "a FIFO (named pipe)"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "not a file"
    };
    Err(Refusal::NotAFile(what))
}

/// The diagnostic for bytes that are not UTF-8, at the first bad byte, over the text read
/// lossily (the text before that byte is exact, so its line and column are).
fn not_utf8(path: &Path, e: &std::string::FromUtf8Error) -> Diagnostic {
    let at = e.utf8_error().valid_up_to();
    let bad = e.as_bytes().get(at).copied().unwrap_or_default();
    let file = SourceFile::new(path, String::from_utf8_lossy(e.as_bytes()).into_owned());
    // The bad bytes read as one U+FFFD in the lossy text.
    Diagnostic::error(
        &file,
        at..at + '\u{fffd}'.len_utf8(),
        format!("the file is not valid UTF-8 text: byte `0x{bad:02x}` cannot start or continue a character here"),
    )
    .with_help("save the playbook as UTF-8")
}

/// Reads and validates one playbook file.
pub fn load(path: &Path) -> Result<Result<Validated, Diagnostics>, FindError> {
    match read(path) {
        Ok(file) => Ok(validate(&file)),
        Err(FindError::NotText(d)) => Ok(Err(Diagnostics(vec![*d]))),
        Err(e) => Err(e),
    }
}

/// Reads a file's `[playbook] name` and `version` without validating the rest.
fn identify(path: &Path) -> Result<Entry, FindError> {
    // A file that is not UTF-8 is still listed by the name it gives (read lossily); loading it
    // reports the bad byte.
    let file = match read(path) {
        Err(FindError::NotText(d)) => Arc::clone(&d.file),
        other => other?,
    };
    let mut entry = Entry {
        path: path.to_path_buf(),
        name: String::new(),
        version: None,
        name_span: 0..0,
    };
    if let Ok(root) = DeTable::parse(&file.text)
        && let Some(meta) = root.get_ref().get("playbook")
        && let DeValue::Table(meta) = meta.get_ref()
    {
        if let Some(name) = meta.get("name")
            && let Some(s) = name.get_ref().as_str()
        {
            s.clone_into(&mut entry.name);
            entry.name_span = name.span();
        }
        entry.version = meta
            .get("version")
            .and_then(|v| v.get_ref().as_str())
            .and_then(|v| Version::parse(v).ok());
    }
    Ok(entry)
}

/// One diagnostic per file whose name and version another file in the same folder already has,
/// at the later file's `name`.
pub fn duplicates(entries: &[Entry]) -> Result<Diagnostics, FindError> {
    let mut first: HashMap<(PathBuf, &str, &Version), &Entry> = HashMap::new();
    let mut out = Diagnostics::default();
    for e in entries {
        let Some(version) = &e.version else { continue };
        if e.name.is_empty() {
            continue;
        }
        let folder = e.path.parent().map(Path::to_path_buf).unwrap_or_default();
        match first.get(&(folder.clone(), e.name.as_str(), version)) {
            Some(original) => {
                let file = match read(&e.path) {
                    Err(FindError::NotText(d)) => Arc::clone(&d.file),
                    other => other?,
                };
                out.push(
                    Diagnostic::error(
                        &file,
                        e.name_span.clone(),
                        format!("playbook `{}@{version}` is also defined in `{}`", e.name, original.path.display()),
                    )
                    .with_help("two files in one folder cannot share a name and version; bump `version` in one of them"),
                );
            }
            None => {
                first.insert((folder, e.name.as_str(), version), e);
            }
        }
    }
    Ok(out)
}

/// Identifies every `*.toml` file in a folder (for `validate DIR`).
pub fn folder_entries(dir: &Path) -> Result<Vec<Entry>, FindError> {
    toml_files(dir)?.iter().map(|p| identify(p)).collect()
}
