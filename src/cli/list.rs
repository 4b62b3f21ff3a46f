//! `runbook list`: every playbook found, with version, rto, title and tags, and the next due
//! time of those with a `schedule` (a column shown only when one has).

use std::process::ExitCode;

use crate::cli::io::{print_stdout, table};
use crate::cli::runs::{Policy, utc, warnings_for};
use crate::error::Error;
use crate::playbook::duration::format_human;
use crate::playbook::find::{self, Library};
use crate::text::{List, count};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {}

pub(crate) fn run(_: &Args, library: &Library) -> Result<ExitCode, Error> {
    let entries = library.entries()?;
    let mut rows = vec![["NAME", "VERSION", "RTO", "TITLE", "TAGS"].map(str::to_owned)];
    let now = chrono::Utc::now();
    // By row: the next due time (the header's is the column's title).
    let mut next = vec!["NEXT DUE".to_owned()];
    let mut invalid = Vec::new();
    // The policy of each name found first, from the same validation (not a second one).
    let mut policies: Vec<Policy> = Vec::new();
    for entry in &entries {
        match find::load(&entry.path)? {
            Ok(v) => {
                let m = &v.playbook.meta;
                if !policies.iter().any(|p| p.name == m.name) {
                    policies.extend(Policy::of(m));
                }
                rows.push([
                    m.name.clone(),
                    m.version.to_string(),
                    m.rto
                        .map_or_else(|| "-".to_owned(), |r| format_human(r.duration.as_millis())),
                    m.display_title().to_owned(),
                    m.tags.join(", "),
                ]);
                next.push(m.schedule.as_ref().map_or_else(
                    || "-".to_owned(),
                    |s| s.next_after(now).map_or_else(|| "-".to_owned(), utc),
                ));
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
    for line in warnings_for(&policies, &runs, now) {
        eprintln!("{line}");
    }
    if rows.len() == 1 {
        let searched = List::ticked(library.dirs().iter().map(|d| d.display()));
        eprintln!("no playbooks found in {searched}");
        return Ok(ExitCode::SUCCESS);
    }
    if next.iter().skip(1).all(|n| n == "-") {
        print_stdout(&table(&rows))?;
    } else {
        let rows: Vec<[String; 6]> = rows
            .into_iter()
            .zip(next)
            .map(|([name, version, rto, title, tags], next)| {
                [name, version, rto, next, title, tags]
            })
            .collect();
        print_stdout(&table(&rows))?;
    }
    Ok(ExitCode::SUCCESS)
}
