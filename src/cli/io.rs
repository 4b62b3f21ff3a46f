//! What every command prints besides its errors: its result on stdout, warnings on stderr.

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

/// Prints warnings (diagnostics that do not fail the command) to stderr.
pub(crate) fn print_warnings(warnings: &crate::playbook::Diagnostics) {
    if !warnings.0.is_empty() {
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "{warnings}");
    }
}
