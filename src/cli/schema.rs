//! `runbook schema`: the JSON Schema of the playbook format.

use std::process::ExitCode;

use crate::cli::io::print_stdout;
use crate::error::Error;

pub(crate) fn run() -> Result<ExitCode, Error> {
    print_stdout(&crate::playbook::schema::json_schema())?;
    Ok(ExitCode::SUCCESS)
}
