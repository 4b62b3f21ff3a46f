//! `runbook runs [--playbook NAME] [--since DURATION] [--mode MODE] [--format text|json]`: past
//! runs, newest first, with status and RTO achieved, then a summary per playbook (see
//! `record::summary`); and the playbooks overdue for a drill or that missed their schedule. A
//! run without an end is told apart as running (its lock's holder is alive) or crashed (with
//! the command that resumes it).

use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::cli::io::{print_stdout, table};
use crate::error::Error;
use crate::event::{Mode, RunStatus};
use crate::playbook::duration::{HumanDuration, format_human};
use crate::playbook::find::{self, Library};
use crate::playbook::model::Meta;
use crate::playbook::schedule::CronSchedule;
use crate::record::history::{self, Exercise, PastRun};
use crate::record::summary::Summary;
use crate::session::runs_roots;
use crate::text::{List, count, percent};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Only the runs of this playbook
    #[arg(long, value_name = "NAME")]
    playbook: Option<String>,
    /// Only the runs that started within this long before now, in the playbook's duration
    /// grammar ("7d", "12h", "1h 30m")
    #[arg(long, value_name = "DURATION", value_parser = parse_since)]
    since: Option<HumanDuration>,
    /// Only the runs of this mode
    #[arg(long, value_enum, value_name = "MODE")]
    mode: Option<Mode>,
    /// `text`: a table and a summary per playbook; `json`: one document with both
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Text,
    Json,
}

fn parse_since(s: &str) -> Result<HumanDuration, String> {
    s.parse().map_err(|e: crate::playbook::duration::DurationError| {
        let hint = e
            .suggestion
            .map_or_else(String::new, |s| format!(": did you mean `{s}`?"));
        format!(
            "`{s}` is not a duration such as \"7d\", \"12h\" or \"1h 30m\" (integer groups, largest unit first, units d h m s ms){hint}"
        )
    })
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
    let now = Utc::now();
    let cutoff = args.since.map(|s| history::cutoff(now, s.get()));
    let shown: Vec<&PastRun> = runs
        .iter()
        .filter(|r| args.playbook.as_deref().is_none_or(|p| r.playbook() == p))
        .filter(|r| cutoff.is_none_or(|c| r.started() >= c))
        .filter(|r| args.mode.is_none_or(|m| r.listed_mode() == m))
        .collect();
    let summaries = summaries(&shown);
    match args.format {
        Format::Json => print_stdout(&json_document(&shown, &summaries))?,
        Format::Text if shown.is_empty() => {
            let which = args
                .playbook
                .as_ref()
                .map_or_else(String::new, |p| format!(" of `{p}`"));
            eprintln!(
                "no runs{which} recorded in {}{}",
                List::ticked(roots.iter().map(|r| r.display())),
                filters(args)
            );
        }
        Format::Text => print_stdout(&text(&shown, &summaries))?,
    }
    let policies = policies(library, args.playbook.as_deref());
    for line in warnings_for(&policies, &runs, now) {
        eprintln!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}

/// `` within 7d, mode `drill` `` for the "no runs" line.
fn filters(args: &Args) -> String {
    let mut parts = Vec::new();
    if let Some(s) = args.since {
        parts.push(format!("within {}", format_human(s.as_millis())));
    }
    if let Some(m) = args.mode {
        parts.push(format!("in mode `{}`", m.as_str()));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(" {}", parts.join(", "))
    }
}

/// One summary per playbook among `shown`, by name.
fn summaries(shown: &[&PastRun]) -> Vec<Summary> {
    let mut names: Vec<&str> = shown.iter().map(|r| r.playbook()).collect();
    names.sort_unstable();
    names.dedup();
    names
        .into_iter()
        .map(|name| Summary::of(name, shown.iter().copied().filter(|r| r.playbook() == name)))
        .collect()
}

fn text(shown: &[&PastRun], summaries: &[Summary]) -> String {
    let mut rows = vec![["RUN", "PLAYBOOK", "MODE", "STATUS", "RTO", "STARTED"].map(str::to_owned)];
    // The ticket column only where a run has one: most routine runs have none.
    let tickets = shown.iter().any(|r| r.ticket.is_some());
    for r in shown {
        let finished = r.finished.as_ref();
        let rto = finished
            .and_then(|f| f.rto_achieved_ms)
            .map_or_else(|| "-".to_owned(), format_human);
        let objective = finished
            .and_then(|f| f.rto_objective_ms)
            .map_or_else(String::new, |o| format!(" / {}", format_human(o)));
        rows.push([
            r.run_id.clone(),
            format!("{}@{}", r.playbook, r.version),
            r.listed_mode().as_str().to_owned(),
            status(r).to_string(),
            format!("{rto}{objective}"),
            utc(r.started),
        ]);
    }
    let mut out = if tickets {
        let wide: Vec<[String; 7]> = rows
            .iter()
            .enumerate()
            .map(|(i, row)| {
                let ticket = if i == 0 {
                    "TICKET".to_owned()
                } else {
                    shown[i - 1]
                        .ticket
                        .clone()
                        .unwrap_or_else(|| "-".to_owned())
                };
                let [run, playbook, mode, status, rto, started] = row.clone();
                [run, playbook, mode, status, rto, started, ticket]
            })
            .collect();
        table(&wide)
    } else {
        table(&rows)
    };
    for s in summaries {
        out.push('\n');
        summary_text(&mut out, s);
    }
    out
}

/// `db: 5 runs, 3 ok, 2 failed, success 60.0%`, then the RTO achieved and the slowest steps.
fn summary_text(out: &mut String, s: &Summary) {
    let _ = write!(out, "{}: {}", s.playbook, count(s.runs, "run"));
    let Some(rate) = s.success_rate else {
        let _ = writeln!(out, " ended (dry runs and unfinished runs are not counted)");
        return;
    };
    let _ = write!(out, ", {} ok, {} failed", s.ok, s.failed);
    if s.interrupted > 0 {
        let _ = write!(out, ", {} interrupted", s.interrupted);
    }
    let _ = writeln!(out, ", success {}", percent(rate));
    match &s.rto_achieved {
        Some(rto) => {
            let _ = writeln!(
                out,
                "  RTO achieved: median {}, p95 {}, max {} (over {})",
                format_human(rto.median_ms),
                format_human(rto.p95_ms),
                format_human(rto.max_ms),
                count(rto.runs, "run")
            );
        }
        None => {
            let _ = writeln!(out, "  RTO achieved: none recorded");
        }
    }
    if !s.slowest_steps.is_empty() {
        let steps: Vec<String> = s
            .slowest_steps
            .iter()
            .map(|t| {
                format!(
                    "{} median {}, last {} ({:+}%)",
                    t.step,
                    format_human(t.median_ms),
                    format_human(t.last_ms),
                    t.change_percent()
                )
            })
            .collect();
        let _ = writeln!(out, "  slowest steps: {}", steps.join("; "));
    }
}

fn json_document(shown: &[&PastRun], summaries: &[Summary]) -> String {
    let runs: Vec<serde_json::Value> = shown
        .iter()
        .map(|r| {
            let f = r.finished.as_ref();
            json!({
                "run_id": r.run_id,
                "playbook": r.playbook,
                "version": r.version,
                "mode": r.listed_mode().as_str(),
                "status": status(r).word,
                "started_at": r.started,
                "ticket": r.ticket,
                "finished_at": f.map(|f| f.ts),
                "duration_ms": f.map(|f| f.duration_ms),
                "rto_objective_ms": f.and_then(|f| f.rto_objective_ms),
                "rto_achieved_ms": f.and_then(|f| f.rto_achieved_ms),
                "dir": r.dir,
            })
        })
        .collect();
    let mut text = serde_json::to_string_pretty(&json!({
        "runs": runs,
        "summaries": summaries,
    }))
    .expect("JSON values serialize");
    text.push('\n');
    text
}

/// A run's status: `ok`, `failed`, `interrupted`, `running` or `crashed`, with what to do about it.
struct Status {
    word: &'static str,
    /// `pid 42`, `pid 42 on other-host`, or the command that resumes the run.
    note: Option<String>,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.note, self.word) {
            (None, word) => f.write_str(word),
            (Some(pid), "running") => write!(f, "running ({pid})"),
            (Some(note), word) => write!(f, "{word}: {note}"),
        }
    }
}

/// A run without an end is `running` while the process holding its playbook's lock for it is
/// alive, else `crashed`.
fn status(run: &PastRun) -> Status {
    let word = run.status_word();
    let resume = || Some(format!("runbook resume {}", run.run_id));
    if word == RunStatus::Interrupted.as_str() {
        return Status {
            word: "interrupted",
            note: resume(),
        };
    }
    if run.finished.is_some() {
        return Status { word, note: None };
    }
    let root = crate::session::runs_root(Path::new(&run.path));
    // Any lock the run holds (its playbook's, or the named ones it took) says it is live.
    let live = crate::session::held_by(&root, &run.run_id).filter(crate::session::Holder::is_live);
    match live {
        Some(h) if h.host == crate::session::host() => Status {
            word: "running",
            note: Some(format!("pid {}", h.pid)),
        },
        Some(h) => Status {
            word: "running",
            note: Some(format!("pid {} on {}", h.pid, h.host)),
        },
        None => Status {
            word: "crashed",
            note: resume(),
        },
    }
}

/// What `list` and `runs` warn about for one playbook: its `drill_every` and its `schedule`.
pub(crate) struct Policy {
    pub(crate) name: String,
    pub(crate) drill_every: Option<HumanDuration>,
    pub(crate) schedule: Option<CronSchedule>,
}

impl Policy {
    /// `None` when the playbook has nothing to warn about.
    pub(crate) fn of(meta: &Meta) -> Option<Self> {
        (meta.drill_every.is_some() || meta.schedule.is_some()).then(|| Self {
            name: meta.name.clone(),
            drill_every: meta.drill_every,
            schedule: meta.schedule.clone(),
        })
    }
}

/// The policy of each playbook in the search path (the first of a name), validated.
pub(crate) fn policies(library: &Library, only: Option<&str>) -> Vec<Policy> {
    let Ok(entries) = library.entries() else {
        return Vec::new();
    };
    let mut seen = std::collections::BTreeSet::new();
    let mut policies = Vec::new();
    for entry in entries {
        if only.is_some_and(|o| o != entry.name) || !seen.insert(entry.name.clone()) {
            continue;
        }
        if let Ok(Ok(v)) = find::load(&entry.path) {
            policies.extend(Policy::of(&v.playbook.meta));
        }
    }
    policies
}

/// A warning line per playbook not exercised within its `drill_every` (`overdue`, or `never`),
/// and per playbook that `missed` its schedule's latest due time.
pub(crate) fn warnings_for(
    policies: &[Policy],
    runs: &[PastRun],
    now: DateTime<Utc>,
) -> Vec<String> {
    let mut lines = Vec::new();
    for policy in policies {
        let name = &policy.name;
        if let Some(every) = policy.drill_every {
            lines.extend(drill_warning(name, every, runs, now));
        }
        if let Some(schedule) = &policy.schedule
            && let Some(m) = history::missed(runs, name, schedule, now)
        {
            let last = m.last_run.map_or_else(
                || "no run recorded".to_owned(),
                |t| format!("last run started {}", utc(t)),
            );
            lines.push(format!(
                "warning: `{name}` missed: due {} (schedule `{schedule}`, UTC) and no run started since; {last}",
                utc(m.due)
            ));
        }
    }
    lines
}

/// A time as `list` and `runs` show it: `2026-12-03 02:00 UTC`.
pub(crate) fn utc(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

fn drill_warning(
    name: &str,
    every: HumanDuration,
    runs: &[PastRun],
    now: DateTime<Utc>,
) -> Option<String> {
    let period = format_human(every.as_millis());
    match history::exercise(runs, name, every.get(), now) {
        Exercise::Current => None,
        Exercise::Never => Some(format!(
            "warning: `{name}` never: no run recorded (drill_every {period})"
        )),
        Exercise::Overdue(None) => Some(format!(
            "warning: `{name}` overdue: no successful run recorded (drill_every {period})"
        )),
        Exercise::Overdue(Some(last)) => {
            let ago = u64::try_from((now - last).num_milliseconds()).unwrap_or(0);
            Some(format!(
                "warning: `{name}` overdue: last successful run {} ago (drill_every {period})",
                format_human(ago)
            ))
        }
    }
}
