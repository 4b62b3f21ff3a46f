//! `runbook schedule [NAME...] --format crontab|systemd|kubernetes [--image IMAGE]`: the
//! scheduled playbooks written for the schedulers teams already run: a crontab line, a systemd
//! service + timer pair, or a Kubernetes `CronJob`, each running `runbook run NAME --mode
//! routine` at the playbook's `schedule` (UTC). runbook itself never runs a scheduler daemon.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use crate::cli::io::print_stdout;
use crate::cli::load::load;
use crate::error::Error;
use crate::playbook::Playbook;
use crate::playbook::find::{self, Library};
use crate::playbook::schedule::{CronSchedule, Fields};
use crate::text::{List, count};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Playbooks to schedule, by name or file (default: every playbook found with a `schedule`)
    #[arg(value_name = "NAME|FILE")]
    playbooks: Vec<String>,
    /// Which scheduler to write for
    #[arg(long, value_enum)]
    format: Scheduler,
    /// The container image that runs runbook with the playbooks (`--format kubernetes` only)
    #[arg(long, value_name = "IMAGE")]
    image: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Scheduler {
    /// One crontab line per playbook, after `CRON_TZ=UTC`
    Crontab,
    /// A `.service` and a `.timer` unit per playbook, each after a `### FILE` line
    Systemd,
    /// A `CronJob` manifest per playbook, as YAML documents
    Kubernetes,
}

/// A playbook to schedule, and how a scheduler on this host finds it again.
struct Job {
    playbook: Arc<Playbook>,
    schedule: CronSchedule,
    /// The playbook's folder, absolute: `--dir` of the scheduled command.
    dir: PathBuf,
}

/// The longest name a `CronJob` may have: Kubernetes adds 11 characters for its Jobs.
const CRONJOB_NAME_MAX: usize = 52;

pub(crate) fn run(args: &Args, library: &Library) -> Result<ExitCode, Error> {
    let image = match (args.format, &args.image) {
        (Scheduler::Kubernetes, Some(image)) => Some(image.as_str()),
        (Scheduler::Kubernetes, None) => {
            return Err(Error::Usage(
                "`--format kubernetes` needs `--image IMAGE`: the container image that has runbook and the playbooks".to_owned(),
            ));
        }
        (_, Some(_)) => {
            return Err(Error::Usage(
                "`--image` is only for `--format kubernetes`".to_owned(),
            ));
        }
        (_, None) => None,
    };
    let jobs = if args.playbooks.is_empty() {
        every_scheduled(library)?
    } else {
        named(library, &args.playbooks)?
    };
    if jobs.is_empty() {
        let searched = List::ticked(library.dirs().iter().map(|d| d.display()));
        eprintln!("no playbook with a `schedule` found in {searched}");
        return Ok(ExitCode::SUCCESS);
    }
    let runbook = std::env::current_exe()
        .and_then(std::fs::canonicalize)
        .unwrap_or_else(|_| PathBuf::from("runbook"));
    let text = match args.format {
        Scheduler::Crontab => crontab(&jobs, &runbook),
        Scheduler::Systemd => systemd(&jobs, &runbook),
        Scheduler::Kubernetes => kubernetes(&jobs, image.unwrap_or_default())?,
    };
    print_stdout(&text)?;
    Ok(ExitCode::SUCCESS)
}

/// The named playbooks; each must have a schedule.
fn named(library: &Library, args: &[String]) -> Result<Vec<Job>, Error> {
    let mut jobs = Vec::new();
    for arg in args {
        let playbook = load(library, arg)?.playbook;
        let Some(schedule) = playbook.meta.schedule.clone() else {
            return Err(Error::Usage(format!(
                "`{}` has no schedule: add `schedule = \"0 2 * * *\"` (five-field cron, UTC) to its [playbook]",
                playbook.meta.name
            )));
        };
        jobs.push(job(playbook, schedule));
    }
    Ok(jobs)
}

/// The first playbook of each name in the search path that has a schedule; an invalid one is
/// named on stderr, not skipped silently.
fn every_scheduled(library: &Library) -> Result<Vec<Job>, Error> {
    let mut seen = std::collections::BTreeSet::new();
    let mut jobs = Vec::new();
    for entry in library.entries()? {
        if !seen.insert(entry.name.clone()) {
            continue;
        }
        match find::load(&entry.path)? {
            Ok(v) => {
                if let Some(schedule) = v.playbook.meta.schedule.clone() {
                    jobs.push(job(v.playbook, schedule));
                }
            }
            Err(d) => eprintln!(
                "warning: `{}` is not scheduled: it has {}; run `runbook validate {}`",
                entry.path.display(),
                count(d.errors(), "error"),
                entry.path.display()
            ),
        }
    }
    Ok(jobs)
}

fn job(playbook: Arc<Playbook>, schedule: CronSchedule) -> Job {
    let file = std::fs::canonicalize(playbook.path()).unwrap_or_else(|_| {
        std::path::absolute(playbook.path()).unwrap_or_else(|_| playbook.path().to_path_buf())
    });
    let dir = file
        .parent()
        .map_or_else(|| PathBuf::from("/"), Path::to_path_buf);
    Job {
        playbook,
        schedule,
        dir,
    }
}

/// `runbook --dir DIR run NAME --mode routine`, as words.
fn command(job: &Job, runbook: &Path) -> Vec<String> {
    vec![
        runbook.display().to_string(),
        "--dir".to_owned(),
        job.dir.display().to_string(),
        "run".to_owned(),
        job.playbook.meta.name.clone(),
        "--mode".to_owned(),
        "routine".to_owned(),
    ]
}

/// A title on one line, for comments and descriptions.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

fn crontab(jobs: &[Job], runbook: &Path) -> String {
    let mut out = String::from(
        "# runbook schedule --format crontab: routine runs at each playbook's schedule, in UTC\nCRON_TZ=UTC\n",
    );
    for job in jobs {
        let words: Vec<String> = command(job, runbook)
            .iter()
            .map(|w| shell_word(w))
            .collect();
        // `%` ends a crontab command (the rest is its stdin) unless escaped.
        let line = words.join(" ").replace('%', "\\%");
        let _ = writeln!(
            out,
            "# {}: {}\n{} {line}",
            job.playbook.label(),
            one_line(job.playbook.meta.display_title()),
            job.schedule
        );
    }
    out
}

/// A word for `sh`: as is when it is plain, else in single quotes.
fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@+,".contains(c));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

fn systemd(jobs: &[Job], runbook: &Path) -> String {
    let mut out = String::new();
    for job in jobs {
        let name = &job.playbook.meta.name;
        let unit = format!("runbook-{name}");
        let exec: Vec<String> = command(job, runbook).iter().map(|w| unit_word(w)).collect();
        let title = job
            .playbook
            .meta
            .title
            .as_ref()
            .map_or_else(String::new, |t| format!(": {}", unit_value(&one_line(t))));
        let _ = write!(
            out,
            "### {unit}.service\n[Unit]\nDescription=runbook: routine run of {name}{title}\n\n[Service]\nType=oneshot\nExecStart={}\n\n",
            exec.join(" ")
        );
        let _ = write!(
            out,
            "### {unit}.timer\n[Unit]\nDescription=runbook: when {name} is due ({} UTC)\n\n[Timer]\n",
            job.schedule
        );
        for calendar in on_calendar(&job.schedule.fields()) {
            let _ = writeln!(out, "OnCalendar={calendar}");
        }
        let _ = write!(
            out,
            "Persistent=true\nUnit={unit}.service\n\n[Install]\nWantedBy=timers.target\n\n"
        );
    }
    out.pop();
    out
}

/// A value in a unit file: `%` starts a specifier, so it is doubled.
fn unit_value(text: &str) -> String {
    text.replace('%', "%%")
}

/// A word of `ExecStart=`: quoted when it has spaces or quotes, `%` and `$` escaped.
fn unit_word(word: &str) -> String {
    let escaped = unit_value(word).replace('$', "$$");
    if escaped.is_empty() || escaped.contains(|c: char| c.is_whitespace() || "\"'\\;".contains(c)) {
        format!("\"{}\"", escaped.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        escaped
    }
}

/// The systemd calendar events of a cron schedule. Cron runs on a day that matches the day of
/// month *or* the day of the week when both are restricted; systemd needs both to match within
/// one event, so that case takes two events.
fn on_calendar(f: &Fields) -> Vec<String> {
    let time = format!("{}:{}:00", list(&f.hours, 0..=23), list(&f.minutes, 0..=59));
    let months = list(&f.months, 1..=12);
    let date = |days: Option<&Vec<u16>>| {
        let days = days.map_or_else(|| "*".to_owned(), |d| list(d, 1..=31));
        format!("*-{months}-{days}")
    };
    let weekdays = |w: &[u16]| {
        const NAMES: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
        w.iter()
            .filter_map(|d| NAMES.get(usize::from(*d)))
            .copied()
            .collect::<Vec<_>>()
            .join(",")
    };
    match (&f.days, &f.weekdays) {
        (days, None) => vec![format!("{} {time} UTC", date(days.as_ref()))],
        (None, Some(w)) => vec![format!("{} {} {time} UTC", weekdays(w), date(None))],
        (Some(d), Some(w)) => vec![
            format!("{} {time} UTC", date(Some(d))),
            format!("{} {} {time} UTC", weekdays(w), date(None)),
        ],
    }
}

/// `*` when every value of the range is there, else the values with two digits.
fn list(values: &[u16], all: std::ops::RangeInclusive<u16>) -> String {
    if all.clone().all(|v| values.contains(&v)) {
        return "*".to_owned();
    }
    values
        .iter()
        .map(|v| format!("{v:02}"))
        .collect::<Vec<_>>()
        .join(",")
}

fn kubernetes(jobs: &[Job], image: &str) -> Result<String, Error> {
    let q = |s: &str| serde_json::to_string(s).expect("a string serializes");
    let mut out = String::from("# runbook schedule --format kubernetes\n");
    for job in jobs {
        let name = &job.playbook.meta.name;
        let cronjob = format!("runbook-{name}");
        if cronjob.len() > CRONJOB_NAME_MAX {
            return Err(Error::Usage(format!(
                "`{name}` is too long a name for a Kubernetes CronJob: `{cronjob}` has {} characters, at most {CRONJOB_NAME_MAX} are allowed",
                cronjob.len()
            )));
        }
        let args: Vec<String> = ["runbook", "run", name, "--mode", "routine"]
            .iter()
            .map(|w| q(w))
            .collect();
        let _ = write!(
            out,
            "---
apiVersion: batch/v1
kind: CronJob
metadata:
  name: {}
  labels:
    app.kubernetes.io/name: runbook
    app.kubernetes.io/instance: {}
  annotations:
    runbook/playbook: {}
spec:
  schedule: {}
  timeZone: Etc/UTC
  # One run at a time, and a failed procedure is not retried on its own.
  concurrencyPolicy: Forbid
  jobTemplate:
    spec:
      backoffLimit: 0
      template:
        spec:
          restartPolicy: Never
          containers:
            - name: runbook
              image: {}
              command: [{}]
",
            q(&cronjob),
            q(name),
            q(&job.playbook.label()),
            q(job.schedule.source()),
            q(image),
            args.join(", ")
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn calendar(cron: &str) -> Vec<String> {
        on_calendar(&CronSchedule::parse(cron).expect("valid").fields())
    }

    #[test]
    fn cron_fields_become_systemd_calendar_events() {
        assert_eq!(calendar("0 2 * * *"), ["*-*-* 02:00:00 UTC"]);
        assert_eq!(
            calendar("*/15 8-10 * * 1-5"),
            ["Mon,Tue,Wed,Thu,Fri *-*-* 08,09,10:00,15,30,45:00 UTC"]
        );
        assert_eq!(
            calendar("30 4 1,15 */3 *"),
            ["*-01,04,07,10-01,15 04:30:00 UTC"]
        );
        // Day of month or day of week, as cron reads it.
        assert_eq!(
            calendar("0 0 13 * 5"),
            ["*-*-13 00:00:00 UTC", "Fri *-*-* 00:00:00 UTC"]
        );
    }

    #[test]
    fn words_are_quoted_for_each_scheduler() {
        assert_eq!(shell_word("/usr/bin/runbook"), "/usr/bin/runbook");
        assert_eq!(shell_word("/tmp/my dir"), "'/tmp/my dir'");
        assert_eq!(shell_word("it's"), "'it'\\''s'");
        assert_eq!(unit_word("/tmp/my dir"), "\"/tmp/my dir\"");
        assert_eq!(unit_word("100%"), "100%%");
        assert_eq!(unit_word("$HOME"), "$$HOME");
    }
}
