//! `runbook runs [--playbook NAME]`: past runs, newest first, with status and RTO achieved,
//! and the playbooks overdue for a drill. A run without an end is told apart as running (its
//! lock's holder is alive) or crashed (with the command that resumes it).

use std::path::Path;
use std::process::ExitCode;

use chrono::Utc;

use crate::cli::io::print_stdout;
use crate::cli::list::table;
use crate::error::Error;
use crate::event::RunStatus;
use crate::playbook::duration::{HumanDuration, format_human};
use crate::playbook::find::{self, Library};
use crate::record::history::{self, Exercise, PastRun};
use crate::session::runs_roots;

use crate::record::replay::RunState;
use crate::text::List;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Only the runs of this playbook
    #[arg(long, value_name = "NAME")]
    playbook: Option<String>,
}

pub(crate) fn run(args: &Args, library: &Library) -> Result<ExitCode, Error> {
    let roots = runs_roots(library);
    let (runs, warnings) = match &args.playbook {
        Some(name) => history::scan_playbook(&roots, name),
        None => history::scan(&roots),
    };
    for w in &warnings {
        eprintln!("{w}");
    }
    let shown: Vec<&PastRun> = runs
        .iter()
        .filter(|r| args.playbook.as_deref().is_none_or(|p| r.playbook() == p))
        .collect();
    if shown.is_empty() {
        let which = args
            .playbook
            .as_ref()
            .map_or_else(String::new, |p| format!(" of `{p}`"));
        eprintln!(
            "no runs{which} recorded in {}",
            List::ticked(runs_roots(library).iter().map(|r| r.display()))
        );
    } else {
        let mut rows =
            vec![["RUN", "PLAYBOOK", "MODE", "STATUS", "RTO", "STARTED"].map(str::to_owned)];
        for r in shown {
            let s = r
                .state
                .started
                .as_ref()
                .expect("a loaded journal has run_started");
            let rto = r
                .state
                .finished
                .as_ref()
                .and_then(|f| f.rto_achieved_ms)
                .map_or_else(|| "-".to_owned(), format_human);
            let objective = r
                .state
                .finished
                .as_ref()
                .and_then(|f| f.rto_objective_ms)
                .map_or_else(String::new, |o| format!(" / {}", format_human(o)));
            let mode = if s.dry_run {
                "dry-run"
            } else {
                s.mode.as_str()
            };
            rows.push([
                r.state.run_id.clone(),
                format!("{}@{}", s.playbook, s.version),
                mode.to_owned(),
                status(&r.state),
                format!("{rto}{objective}"),
                s.ts.format("%Y-%m-%d %H:%M UTC").to_string(),
            ]);
        }
        print_stdout(&table(&rows))?;
    }
    for line in drill_warnings(&drill_policies(library, args.playbook.as_deref()), &runs) {
        eprintln!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}

/// A run's status; a run without an end is `running (pid N)` while the process holding its
/// playbook's lock for it is alive, else `crashed` with the command that resumes it.
fn status(state: &RunState) -> String {
    let word = state.status_word();
    if word == RunStatus::Interrupted.as_str() {
        return format!("{word}: runbook resume {}", state.run_id);
    }
    let Some(started) = state.started.as_ref().filter(|_| state.finished.is_none()) else {
        return word.to_owned();
    };
    let root = crate::session::runs_root(Path::new(&started.path));
    let live = crate::session::holder(&crate::session::lock_path(&root, &started.playbook))
        .filter(|h| h.run_id == state.run_id && h.is_live());
    match live {
        Some(h) if h.host == crate::session::host() => format!("running (pid {})", h.pid),
        Some(h) => format!("running (pid {} on {})", h.pid, h.host),
        None => format!("crashed: runbook resume {}", state.run_id),
    }
}

/// Each playbook with `drill_every` in the search path (the first of a name), validated.
pub(crate) fn drill_policies(
    library: &Library,
    only: Option<&str>,
) -> Vec<(String, HumanDuration)> {
    let Ok(entries) = library.entries() else {
        return Vec::new();
    };
    let mut seen = std::collections::BTreeSet::new();
    let mut policies = Vec::new();
    for entry in entries {
        if only.is_some_and(|o| o != entry.name) || !seen.insert(entry.name.clone()) {
            continue;
        }
        if let Ok(Ok(v)) = find::load(&entry.path)
            && let Some(every) = v.playbook.meta.drill_every
        {
            policies.push((v.playbook.meta.name.clone(), every));
        }
    }
    policies
}

/// A warning line per playbook not exercised within its `drill_every`: `overdue`, or `never`.
pub(crate) fn drill_warnings(
    policies: &[(String, HumanDuration)],
    runs: &[PastRun],
) -> Vec<String> {
    let mut lines = Vec::new();
    for (name, every) in policies {
        let every = *every;
        let period = format_human(every.as_millis());
        match history::exercise(runs, name, every.get(), Utc::now()) {
            Exercise::Current => {}
            Exercise::Never => lines.push(format!(
                "warning: `{name}` never: no run recorded (drill_every {period})"
            )),
            Exercise::Overdue(None) => {
                lines.push(format!(
                    "warning: `{name}` overdue: no successful run recorded (drill_every {period})"
                ));
            }
            Exercise::Overdue(Some(last)) => {
                let ago = u64::try_from((Utc::now() - last).num_milliseconds()).unwrap_or(0);
                lines.push(format!(
                    "warning: `{name}` overdue: last successful run {} ago (drill_every {period})",
                    format_human(ago)
                ));
            }
        }
    }
    lines
}
