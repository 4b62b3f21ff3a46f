//! `runbook list`: every playbook found, with version, rto, title and tags.

use std::fmt::Write as _;
use std::process::ExitCode;

use crate::cli::io::print_stdout;
use crate::error::Error;
use crate::playbook::duration::format_human;
use crate::playbook::find::{self, Library};
use crate::text::{List, count};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {}

pub(crate) fn run(_: &Args, library: &Library) -> Result<ExitCode, Error> {
    let entries = library.entries()?;
    let mut rows = vec![["NAME", "VERSION", "RTO", "TITLE", "TAGS"].map(str::to_owned)];
    let mut invalid = Vec::new();
    // `drill_every` of each name found first, from the same validation (not a second one).
    let mut policies = Vec::new();
    for entry in &entries {
        match find::load(&entry.path)? {
            Ok(v) => {
                let m = &v.playbook.meta;
                if let Some(every) = m.drill_every
                    && !policies.iter().any(|(n, _)| n == &m.name)
                {
                    policies.push((m.name.clone(), every));
                }
                rows.push([
                    m.name.clone(),
                    m.version.to_string(),
                    m.rto
                        .map_or_else(|| "-".to_owned(), |r| format_human(r.duration.as_millis())),
                    m.display_title().to_owned(),
                    m.tags.join(", "),
                ]);
            }
            Err(d) => invalid.push((entry.path.clone(), d.errors())),
        }
    }
    for (path, errors) in &invalid {
        eprintln!(
            "warning: `{}` is not listed: it has {}; run `runbook validate {}`",
            path.display(),
            count(*errors, "error"),
            path.display()
        );
    }
    let (runs, _) = crate::record::history::scan(&crate::session::runs_roots(library));
    for line in crate::cli::runs::drill_warnings(&policies, &runs) {
        eprintln!("{line}");
    }
    if rows.len() == 1 {
        let searched = List::ticked(library.dirs().iter().map(|d| d.display()));
        eprintln!("no playbooks found in {searched}");
        return Ok(ExitCode::SUCCESS);
    }
    print_stdout(&table(&rows))?;
    Ok(ExitCode::SUCCESS)
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
