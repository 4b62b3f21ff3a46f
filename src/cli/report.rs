//! `runbook report RUN [--format md|json]`: write a run's report (`report.md` and
//! `report.json`) again from its folder alone, and print it.

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
    /// Markdown or one JSON document (both are written again to the run folder's report.md and
    /// report.json)
    #[arg(long, value_enum, default_value_t = ReportFormat::Md)]
    format: ReportFormat,
}

pub(crate) fn run(args: &Args, library: &Library) -> Result<ExitCode, Error> {
    let folder = find_run(&args.run, library)?;
    let roots = runs_roots(library);
    // Both files are rebuilt, whichever is printed: they are the same report.
    written::write(&folder, &roots, None).map_err(|e| match e {
        written::WriteError::Write { path, source } => Error::Write { path, source },
        written::WriteError::Render(e) => Error::Usage(crate::error::chain(&e)),
    })?;
    let path = match args.format {
        ReportFormat::Md => folder.report(),
        ReportFormat::Json => folder.report_json(),
    };
    let text = std::fs::read_to_string(&path)
        .map_err(|e| Error::Run(format!("failed to read back `{}`: {e}", path.display())))?;
    print_stdout(&text)?;
    Ok(ExitCode::SUCCESS)
}
