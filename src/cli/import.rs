//! `runbook import FILE.md [--name NAME] [-o OUT.toml] [--force]`: a Markdown runbook → a draft
//! playbook on stdout or in a file that did not exist, and a summary on stderr.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::cli::io::print_stdout;
use crate::error::Error;
use crate::import::{ImportError, import, read};

#[derive(Debug, clap::Args)]
#[command(after_help = "What the import does and what to review: docs/import.md")]
pub(crate) struct Args {
    /// The Markdown page to import (a wiki runbook)
    #[arg(value_name = "FILE.md")]
    file: PathBuf,
    /// The playbook's name (default: made from the page's title)
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// Write the draft to this file instead of stdout; an existing file is kept unless --force
    #[arg(short = 'o', long = "output", value_name = "OUT.toml")]
    output: Option<PathBuf>,
    /// Overwrite OUT.toml when it exists
    #[arg(long, requires = "output")]
    force: bool,
}

pub(crate) fn run(args: &Args) -> Result<ExitCode, Error> {
    if let Some(name) = &args.name {
        check_name(name)?;
    }
    let page = read(&args.file)?;
    let imported = import(&page.text, &args.file, args.name.as_deref());
    let mut err = std::io::stderr().lock();
    if let Some(at) = page.not_utf8_at {
        let _ = writeln!(
            err,
            "warning: `{}` is not UTF-8 text from byte {at} on: each invalid byte was read as U+FFFD",
            args.file.display()
        );
    }
    if let Some(out) = &args.output {
        write_new(out, &imported.toml, args.force)?;
        let _ = writeln!(
            err,
            "imported `{}` into `{}`: {}\nsettle each `# review:` note, then run `runbook validate {}`",
            args.file.display(),
            out.display(),
            imported.summary,
            out.display()
        );
    } else {
        print_stdout(&imported.toml)?;
        let _ = writeln!(
            err,
            "imported `{}`: {}; settle each `# review:` note in the draft",
            args.file.display(),
            imported.summary
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes the draft, never over an existing file unless `force`.
fn write_new(path: &Path, text: &str, force: bool) -> Result<(), Error> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if force {
        options.create(true).truncate(true);
    } else {
        // One call that fails when the file exists, so a file created meanwhile is kept too.
        options.create_new(true);
    }
    let write = options
        .open(path)
        .and_then(|mut file| file.write_all(text.as_bytes()));
    match write {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(ImportError::Exists {
            path: path.to_path_buf(),
        }
        .into()),
        Err(source) => Err(Error::Write {
            path: path.to_path_buf(),
            source,
        }),
        Ok(()) => Ok(()),
    }
}

/// `--name` follows the playbook name rule, `[a-z0-9][a-z0-9-]*`.
fn check_name(name: &str) -> Result<(), ImportError> {
    let valid = name
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if valid {
        return Ok(());
    }
    let suggestion: String = name
        .to_ascii_lowercase()
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    Err(ImportError::Name {
        name: name.to_owned(),
        suggestion: if suggestion.is_empty() {
            "my-playbook".to_owned()
        } else {
            suggestion
        },
    })
}
