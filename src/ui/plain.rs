//! Plain timestamped lines, for stderr when it is not a terminal (CI, pipes) or is a dumb one:
//! `12:03:04 restore started`, `12:03:45 restore ok 41.2s`. No colours, no cursor movement.

use std::fmt::Write as _;
use std::io::Write;

use chrono::{DateTime, Local, Utc};

use crate::event::{Event, Record};

use super::phrase::{Known, describe, sanitize};
use super::sink::{Objectives, Sink, last_lines};

/// Which clock the timestamps are read on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Zone {
    /// The machine's time zone, for people watching.
    Local,
    /// UTC, as in the journal (and for tests).
    #[cfg_attr(
        not(test),
        expect(dead_code, reason = "only tests pin the zone, for stable output")
    )]
    Utc,
}

impl Zone {
    fn time(self, ts: DateTime<Utc>) -> String {
        match self {
            Self::Local => ts.with_timezone(&Local).format("%H:%M:%S").to_string(),
            Self::Utc => ts.format("%H:%M:%S").to_string(),
        }
    }
}

/// Writes one line per event people care about; with `verbose`, also every output line.
pub(crate) struct Plain<W: Write + Send> {
    out: W,
    verbose: bool,
    zone: Zone,
    known: Known,
}

impl Plain<std::io::Stderr> {
    pub(crate) fn stderr(verbose: bool, objectives: &Objectives) -> Self {
        Self::new(std::io::stderr(), verbose, Zone::Local, objectives)
    }
}

impl<W: Write + Send> Plain<W> {
    pub(crate) fn new(out: W, verbose: bool, zone: Zone, objectives: &Objectives) -> Self {
        Self {
            out,
            verbose,
            zone,
            known: Known {
                rto_ms: objectives.rto_ms,
                dry_run: false,
            },
        }
    }

    /// Whether the event gets a line: attempts and check starts only with `verbose`, since the
    /// finished line sums them up; so are deliveries (a failed one is always a warning).
    fn shows(&self, event: &Event) -> bool {
        match event {
            Event::CheckStarted { .. }
            | Event::CheckAttempt { .. }
            | Event::StepAttemptFinished { .. }
            | Event::NotificationSent { .. } => self.verbose,
            Event::StepOutput { .. } => false,
            _ => true,
        }
    }

    /// Writes `text` in one call, so lines from other writers to stderr never split it.
    fn write(&mut self, text: &str) {
        // Nothing useful can be done when stderr is gone; the journal has the record.
        let _ = self.out.write_all(text.as_bytes());
    }
}

impl<W: Write + Send> Sink for Plain<W> {
    fn event(&mut self, record: &Record) {
        if let Event::StepOutput { step, line } = &record.event {
            if self.verbose {
                self.write(&format!("  {step} | {}\n", sanitize(line)));
            }
            return;
        }
        if let Event::RunStarted { dry_run, .. } = &record.event {
            self.known.dry_run = *dry_run;
        }
        if !self.shows(&record.event) {
            return;
        }
        let Some(mut line) = describe(&record.event, self.known) else {
            return;
        };
        if let (Event::StepStarted { .. }, Some(host)) = (&record.event, &record.host) {
            let _ = write!(line.text, " on {host}");
        }
        let mut text = format!("{} {}\n", self.zone.time(record.ts), line.text);
        for detail in &line.detail {
            let _ = writeln!(text, "         {detail}");
        }
        self.write(&text);
    }

    fn tail(&mut self, step: &str, lines: &[String]) {
        let mut text = String::new();
        for line in last_lines(lines) {
            let _ = writeln!(text, "  {step} | {}", sanitize(line));
        }
        self.write(&text);
    }

    fn finish(&mut self) {
        let _ = self.out.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ui::script::{full_run, objectives};

    #[test]
    fn a_full_run_reads_as_timestamped_lines() {
        let mut plain = Plain::new(Vec::new(), false, Zone::Utc, &objectives());
        for step in full_run() {
            step.play(&mut plain);
        }
        plain.finish();
        let text = String::from_utf8(plain.out).expect("utf-8");
        assert_eq!(
            text,
            "\
12:00:00 postgres-restore@2.1.0 started: DRILL in staging by alice, RTO objective 5m; run folder runs/r1
12:00:00 check api-up (before) failed after 1 attempt (200ms): connection refused
12:00:01 restore waits for approval: restore over the live database?
12:00:01 restore approved by --yes (flag)
12:00:01 restore started
12:03:01 warning: restore is over its budget 3m (3m 1s)
12:04:00 warning: RTO clock at 4m of 5m objective
12:04:30 restore ok 4m 29s (2 attempts)
12:04:30 verify started
12:04:30 wait-api started
12:04:33 verify failed 3.1s: exit code 3
  verify | relation \"users\" does not exist
  verify | count mismatch: 0 != 1200
12:04:33 cleanup skipped: needs failed step `verify`
12:04:33 restore rollback started
12:04:34 check api-up passed after 3 attempts (4.1s)
12:04:34 wait-api ok 4.1s
12:04:34 tell-dba started
12:04:34 notify: restore failed in verify; rolling back
                 see the run folder
12:04:34 tell-dba ok 40ms
12:04:35 restore rollback ok 2.1s
12:04:36 warning: notification to #incident-dr failed: gave up after 6 attempts (HTTP 500)
12:04:36 run failed in 4m 36s; RTO not achieved (5m objective)
"
        );
    }

    #[test]
    fn verbose_adds_output_attempts_and_check_details() {
        let mut plain = Plain::new(Vec::new(), true, Zone::Utc, &Objectives::default());
        for step in full_run() {
            step.play(&mut plain);
        }
        let text = String::from_utf8(plain.out).expect("utf-8");
        assert!(
            text.contains("  restore | restoring table users\n"),
            "{text}"
        );
        assert!(
            text.contains("  restore | restoring table orders\n"),
            "colours and \\r stripped: {text}"
        );
        assert!(
            text.contains("12:02:01 restore attempt 1 failed 2m: exit code 1\n"),
            "{text}"
        );
        assert!(
            text.contains("12:04:30 check api-up started: http http://127.0.0.1:8080/health\n"),
            "{text}"
        );
        assert!(
            text.contains("12:04:32 check api-up attempt 2 failed 1s: HTTP 503\n"),
            "{text}"
        );
        assert!(
            text.contains("12:04:34 sent tell-dba to #incident-dr\n"),
            "{text}"
        );
        assert!(
            text.contains("started: DRILL in staging by alice; run folder"),
            "no objective known: {text}"
        );
    }

    #[test]
    fn a_dry_run_shows_what_would_have_run() {
        let mut plain = Plain::new(Vec::new(), false, Zone::Utc, &Objectives::default());
        let record = crate::ui::script::record(
            0,
            Event::StepFinished {
                step: "restore".into(),
                status: crate::event::StepStatus::Skipped,
                reason: Some("dry run".into()),
                outputs: std::collections::BTreeMap::new(),
                exit_code: None,
                attempts: 0,
                duration_ms: 0,
                would_run: Some("pg_restore \\\n  --clean dump".into()),
            },
        );
        plain.event(&record);
        let text = String::from_utf8(plain.out).expect("utf-8");
        assert_eq!(
            text,
            "\
12:00:00 restore skipped: dry run
           would run: pg_restore \\
                        --clean dump
"
        );
    }
}
