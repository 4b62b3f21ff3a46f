//! Parse, dispatch, and print an error with its causes: the only place that prints one.

use std::error::Error as _;
use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser as _;

use crate::cli::args::{Cli, Command};
use crate::error::Error;
use crate::playbook::find::Library;

pub(crate) fn main() -> ExitCode {
    let cli = Cli::parse();
    let library = Library::new(
        cli.dir.as_deref(),
        std::env::var_os("RUNBOOK_PATH").as_deref(),
    );
    let result = match cli.command {
        Command::Validate(args) => crate::cli::validate::run(&args, &library),
        Command::List(args) => crate::cli::list::run(&args, &library),
        Command::Show(args) => crate::cli::show::run(&args, &library),
        Command::Plan(args) => crate::cli::plan::run(&args, &library),
        Command::Run(args) => crate::cli::run::run(&args, &library),
        Command::Diff(args) => crate::cli::diff::run(&args, &library),
        Command::Resume(args) => crate::cli::resume::run(&args, &library),
        Command::Runs(args) => crate::cli::runs::run(&args, &library),
        Command::Report(args) => crate::cli::report::run(&args, &library),
        Command::Import(args) => crate::cli::import::run(&args),
        Command::Schema => crate::cli::schema::run(),
        Command::Completions(args) => crate::cli::completions::run(&args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            print_error(&e);
            ExitCode::from(e.exit_code())
        }
    }
}

fn print_error(e: &Error) {
    // The run's own view and report already said how it ended.
    if matches!(e, Error::RunFailed | Error::Interrupted) {
        return;
    }
    let mut err = std::io::stderr().lock();
    if let Error::Invalid(diagnostics) = e {
        let _ = write!(err, "{diagnostics}");
        let _ = writeln!(err, "\nerror: {e}");
        return;
    }
    let _ = writeln!(err, "error: {e}");
    let mut source = e.source();
    while let Some(cause) = source {
        let _ = writeln!(err, "  caused by: {cause}");
        source = cause.source();
    }
}

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

/// Finds (`NAME`, `NAME@REQ` or a file) and validates a playbook; warnings go to stderr.
pub(crate) fn load(library: &Library, arg: &str) -> Result<crate::playbook::Validated, Error> {
    let path = library.resolve(arg)?;
    let validated = crate::playbook::find::load(&path)?.map_err(Error::Invalid)?;
    print_warnings(&validated.warnings);
    Ok(validated)
}

/// Refuses an `--env` that the playbook does not allow.
pub(crate) fn check_env(
    playbook: &crate::playbook::Playbook,
    env: Option<&str>,
) -> Result<(), String> {
    match (&playbook.meta.environments, env) {
        (Some(allowed), Some(env)) if !allowed.iter().any(|a| a == env) => {
            let list = crate::text::List::ticked(allowed);
            let hint = crate::playbook::diagnostic::did_you_mean_suffix(
                env,
                allowed.iter().map(String::as_str),
            );
            Err(format!(
                "environment `{env}` is not allowed for `{}`: it may run in {list}{hint}",
                playbook.label()
            ))
        }
        _ => Ok(()),
    }
}
