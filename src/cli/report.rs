//! `runbook report RUN [--format md|json]`: write a run's report again from its folder alone,
//! and print it.

use std::process::ExitCode;

use crate::cli::io::print_stdout;
use crate::cli::resume::find_run;
use crate::error::Error;
use crate::playbook::find::Library;
use crate::record::written::{self, ReportFormat};
use crate::session::runs_roots;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Run id (looked up in the runs root) or run folder
    #[arg(value_name = "RUN")]
    run: String,
    /// Markdown (also written to the run folder's report.md) or one JSON document
    #[arg(long, value_enum, default_value_t = ReportFormat::Md)]
    format: ReportFormat,
}

pub(crate) fn run(args: &Args, library: &Library) -> Result<ExitCode, Error> {
    let folder = find_run(&args.run, library)?;
    let roots = runs_roots(library);
    let text = written::render(&folder, &roots, args.format)
        .map_err(|e| Error::Usage(crate::error::chain(&e)))?;
    if args.format == ReportFormat::Md {
        written::write_text(&folder, &text).map_err(|e| match e {
            written::WriteError::Write { path, source } => Error::Write { path, source },
            other @ written::WriteError::Render(_) => Error::Run(crate::error::chain(&other)),
        })?;
    }
    print_stdout(&text)?;
    Ok(ExitCode::SUCCESS)
}
