//! Parse, dispatch, and print an error with its causes: the only place that prints one.

use std::error::Error as _;
use std::io::Write as _;
use std::process::ExitCode;

use clap::{CommandFactory as _, Parser as _};

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
        Command::Approve(args) => crate::cli::approve::approve(&args, &library),
        Command::Decline(args) => crate::cli::approve::decline(&args, &library),
        Command::Watch(args) => crate::cli::watch::run(&args, &library),
        Command::Runs(args) => crate::cli::runs::run(&args, &library),
        Command::Schedule(args) => crate::cli::schedule::run(&args, &library),
        Command::Report(args) => crate::cli::report::run(&args, &library),
        Command::Import(args) => crate::cli::import::run(&args),
        Command::Schema => crate::cli::schema::run(),
        Command::Completions(args) => crate::cli::completions::run(&args, Cli::command()),
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
