//! What every command prints besides its errors: its result on stdout (tables too), warnings on
//! stderr.

use std::fmt::Write as _;
use std::io::Write as _;

use crate::error::Error;

/// Writes a command's result to stdout; a closed pipe (`runbook list | head`) is not an error.
pub(crate) fn print_stdout(text: &str) -> Result<(), Error> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(Error::Write {
            path: "<stdout>".into(),
            source: e,
        }),
        _ => Ok(()),
    }
}

/// Writes to stdout through a buffer what `write` writes, as [`print_stdout`] prints: a reader
/// that went away (a closed pipe) is no error.
pub(crate) fn write_stdout(
    write: impl FnOnce(&mut std::io::BufWriter<std::io::StdoutLock<'_>>) -> std::io::Result<()>,
) -> Result<(), Error> {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match write(&mut out).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(Error::Write {
            path: "<stdout>".into(),
            source: e,
        }),
        _ => Ok(()),
    }
}

/// Prints warnings (diagnostics that do not fail the command) to stderr.
pub(crate) fn print_warnings(warnings: &crate::playbook::Diagnostics) {
    if !warnings.0.is_empty() {
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "{warnings}");
    }
}

/// Left-aligned columns separated by two spaces, the last column unpadded.
pub(crate) fn table<const N: usize>(rows: &[[String; N]]) -> String {
    let widths: Vec<usize> = (0..N)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c + 1 == N {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<w$}  ", w = widths[c]);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The value of `--input NAME=VALUE`: `@FILE` reads it from a file and `@-` from stdin (one
/// trailing newline dropped), so that a secret answer need not be in the process list; `@@…`
/// is a value that starts with `@`.
pub(crate) fn input_value(flag: &str, value: &str) -> Result<String, Error> {
    let Some(source) = value.strip_prefix('@') else {
        return Ok(value.to_owned());
    };
    if source.starts_with('@') {
        return Ok(source.to_owned());
    }
    let read = if source == "-" {
        std::io::read_to_string(std::io::stdin())
    } else {
        std::fs::read_to_string(source)
    };
    let mut text = read.map_err(|e| {
        let from = if source == "-" {
            "stdin".to_owned()
        } else {
            format!("`{source}`")
        };
        Error::Usage(format!(
            "`--input {flag}`: cannot read the value from {from}: {e}"
        ))
    })?;
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    Ok(text)
}
