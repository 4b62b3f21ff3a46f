//! `runbook validate [PATH...]`: every problem in every file, at once.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::cli::io::{print_stdout, print_warnings};
use crate::error::Error;
use crate::plan::Plan;
use crate::playbook::Validated;
use crate::playbook::diagnostic::{Diagnostic, Diagnostics};
use crate::playbook::find::{self, FindError, Library};
use crate::playbook::model::Action;
use crate::text::count;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Playbook files or folders (default: the playbook folder)
    #[arg(value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// Check that these overrides name declared vars of the right type
    #[arg(long = "var", value_name = "KEY=VALUE")]
    vars: Vec<String>,
}

pub(crate) fn run(args: &Args, library: &Library) -> Result<ExitCode, Error> {
    let paths: Vec<PathBuf> = if args.paths.is_empty() {
        let existing: Vec<PathBuf> = library
            .dirs()
            .iter()
            .filter(|d| d.is_dir())
            .cloned()
            .collect();
        if existing.is_empty() {
            return Err(Error::Usage("no playbook folder: `playbooks` does not exist here; name files or folders, or set --dir".to_owned()));
        }
        existing
    } else {
        args.paths.clone()
    };
    let mut files = Vec::new();
    let mut problems = Diagnostics::default();
    for path in &paths {
        if path.is_dir() {
            let entries = find::folder_entries(path)?;
            if entries.is_empty() {
                // A CI job pointed at the wrong folder must not pass by checking nothing.
                return Err(Error::Usage(format!(
                    "no playbook in `{}`: it holds no `.toml` file; name the folder that holds the playbooks",
                    path.display()
                )));
            }
            problems.extend(find::duplicates(&entries)?);
            files.extend(entries.into_iter().map(|e| e.path));
        } else if path.exists() {
            files.push(path.clone());
        } else {
            return Err(FindError::Read {
                path: path.clone(),
                source: std::io::Error::from(std::io::ErrorKind::NotFound),
            }
            .into());
        }
    }
    let mut ok_lines = String::new();
    let mut warnings = Diagnostics::default();
    for file in &files {
        match find::load(file)? {
            Ok(validated) => {
                check_extra(
                    &validated,
                    library,
                    &args.vars,
                    &mut problems,
                    &mut warnings,
                );
                if !problems.0.iter().any(|d| d.path() == file.as_path()) {
                    let p = &validated.playbook;
                    let _ = writeln!(
                        ok_lines,
                        "ok  {}  {} ({})",
                        file.display(),
                        p.label(),
                        count(p.steps.len(), "step")
                    );
                }
            }
            Err(diagnostics) => {
                for d in diagnostics.0 {
                    match d.severity {
                        crate::playbook::Severity::Error => problems.push(d),
                        crate::playbook::Severity::Warning => warnings.push(d),
                    }
                }
            }
        }
    }
    print_stdout(&ok_lines)?;
    warnings.sort();
    print_warnings(&warnings);
    if problems.has_errors() {
        problems.sort();
        return Err(Error::Invalid(problems));
    }
    Ok(ExitCode::SUCCESS)
}

/// Checks that need more than the file: `--var` overrides, nested playbooks, the planned RTO.
fn check_extra(
    v: &Validated,
    library: &Library,
    vars: &[String],
    problems: &mut Diagnostics,
    warnings: &mut Diagnostics,
) {
    let p = &v.playbook;
    warnings.extend(v.warnings.clone());
    if let Some(w) = Plan::new(p, None).rto_warning() {
        warnings.push(w);
    }
    let overrides = crate::cli::vars::VarArgs {
        vars: vars.to_vec(),
        files: Vec::new(),
    };
    if let Err(e) = crate::cli::vars::apply(p, None, &overrides) {
        let span = p.source.text.find("[vars]").map_or(0..0, |i| i..i + 6);
        problems.push(
            Diagnostic::error(&p.source, span, e.to_string())
                .with_help("declare the var in [vars] or fix the name in --var"),
        );
    }
    let folder = p
        .path()
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let nested = Library::new(Some(folder), None);
    for step in &p.steps {
        if let Action::Playbook(r) = &step.action {
            let target = format!("{}@{}", r.name, r.req);
            let found = nested
                .resolve(&target)
                .or_else(|_| library.resolve(&target));
            if let Err(e) = found {
                problems.push(
                    Diagnostic::error(&p.source, r.at.0..r.at.1, format!("nested playbook `{r}` of step `{}` not found: {e}", step.id))
                        .with_help("put the playbook in the same folder as this one, or in --dir / $RUNBOOK_PATH"),
                );
            }
        }
    }
}
