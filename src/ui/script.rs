//! A scripted run for the sinks' tests: every kind of event a person sees, in engine order.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};

use crate::event::{ApprovalHow, CheckPhase, Event, Exit, Mode, Record, RunStatus, StepStatus};

use super::sink::{Objectives, Sink};

/// One thing the engine does to a sink.
pub(crate) enum Play {
    Event(Box<Record>),
    Tail(String, Vec<String>),
}

impl Play {
    pub(crate) fn play(&self, sink: &mut dyn Sink) {
        match self {
            Self::Event(record) => sink.event(record),
            Self::Tail(step, lines) => sink.tail(step, lines),
        }
    }
}

/// A record `ms` after 12:00:00 UTC.
pub(crate) fn record(ms: i64, event: Event) -> Record {
    let start: DateTime<Utc> = DateTime::parse_from_rfc3339("2026-11-23T12:00:00Z")
        .expect("valid time")
        .with_timezone(&Utc);
    Record {
        ts: start + Duration::milliseconds(ms),
        run_id: "r1".into(),
        item: None,
        event,
    }
}

/// The plan's side of the script: a 5m RTO and a 3m budget for `restore`.
pub(crate) fn objectives() -> Objectives {
    Objectives {
        rto_ms: Some(300_000),
        budgets: BTreeMap::from([
            ("restore".to_owned(), 180_000),
            ("verify".to_owned(), 60_000),
        ]),
        rto_start: None,
        rto_stop: None,
    }
}

fn output(ms: i64, step: &str, line: &str) -> Play {
    Play::Event(Box::new(record(
        ms,
        Event::StepOutput {
            step: step.into(),
            line: line.into(),
        },
    )))
}

fn finished(step: &str, status: StepStatus, reason: Option<&str>, attempts: u32, ms: u64) -> Event {
    Event::StepFinished {
        step: step.into(),
        status,
        reason: reason.map(str::to_owned),
        outputs: BTreeMap::new(),
        exit_code: None,
        attempts,
        duration_ms: ms,
        would_run: None,
    }
}

fn attempt(step: &str, attempt: u32, exit: Exit, ms: u64, reason: Option<&str>) -> Event {
    Event::StepAttemptFinished {
        step: step.into(),
        attempt,
        exit: Some(exit),
        exit_code: exit.code(),
        duration_ms: ms,
        reason: reason.map(str::to_owned),
    }
}

fn check_attempt(step: Option<&str>, n: u32, passed: bool, detail: &str, ms: u64) -> Event {
    Event::CheckAttempt {
        check: "api-up".into(),
        step: step.map(str::to_owned),
        attempt: n,
        passed,
        detail: detail.into(),
        duration_ms: ms,
        history: None,
    }
}

/// A drill of `postgres-restore` that fails in `verify`: an assessment check that fails, an
/// approval by flag, a retried step over its budget, the RTO warning, a failure with its tail,
/// a skipped step, a rollback, a check step passing on its third attempt, a failed notification.
#[expect(
    clippy::too_many_lines,
    reason = "one scripted run, read top to bottom"
)]
pub(crate) fn full_run() -> Vec<Play> {
    let e = |ms: i64, event: Event| Play::Event(Box::new(record(ms, event)));
    vec![
        e(
            0,
            Event::RunStarted {
                playbook: "postgres-restore".into(),
                path: "playbooks/postgres-restore.toml".into(),
                version: "2.1.0".into(),
                sha256: "ab12".into(),
                mode: Mode::Drill,
                env: Some("staging".into()),
                commander: "alice".into(),
                vars: BTreeMap::new(),
                incident_start: None,
                dry_run: false,
                host: "ops-1".into(),
                run_dir: "runs/r1".into(),
                runbook_version: "0.1.0".into(),
                max_parallel: Some(2),
                selection: None,
            },
        ),
        e(
            10,
            Event::CheckStarted {
                check: "api-up".into(),
                step: None,
                phase: CheckPhase::Assessment,
                probe: "http".into(),
                target: "http://127.0.0.1:8080/health".into(),
            },
        ),
        e(
            210,
            check_attempt(None, 1, false, "connection refused", 200),
        ),
        e(
            210,
            Event::CheckFinished {
                check: "api-up".into(),
                step: None,
                phase: CheckPhase::Assessment,
                passed: false,
                attempts: 1,
                first_pass_ms: None,
                duration_ms: 200,
                detail: "connection refused".into(),
            },
        ),
        e(
            1000,
            Event::NotificationSent {
                channel: "#incident-dr".into(),
                about: "started".into(),
                text: "DRILL postgres-restore@2.1.0 started by alice\nstaging, RTO 5m".into(),
                fields: indexmap::IndexMap::new(),
            },
        ),
        e(
            1000,
            Event::ApprovalRequested {
                step: "restore".into(),
                question: "restore over the live database?".into(),
            },
        ),
        e(
            1000,
            Event::ApprovalGiven {
                step: "restore".into(),
                by: "--yes".into(),
                how: ApprovalHow::Flag,
                waited_ms: 0,
            },
        ),
        e(
            1000,
            Event::StepStarted {
                step: "restore".into(),
                title: "Restore the dump".into(),
                action: "run".into(),
                command: "pg_restore --clean dump".into(),
                always: false,
            },
        ),
        output(30_000, "restore", "restoring table users"),
        e(
            121_000,
            attempt("restore", 1, Exit::Code(1), 120_000, Some("exit code 1")),
        ),
        output(150_000, "restore", "\x1b[1mrestoring\x1b[0m table orders\r"),
        e(
            181_500,
            Event::BudgetExceeded {
                step: "restore".into(),
                budget_ms: 180_000,
                elapsed_ms: 180_500,
            },
        ),
        e(
            240_000,
            Event::RtoWarning {
                elapsed_ms: 240_000,
                rto_objective_ms: 300_000,
            },
        ),
        e(270_000, attempt("restore", 2, Exit::Success, 149_000, None)),
        e(
            270_000,
            finished("restore", StepStatus::Ok, None, 2, 269_000),
        ),
        e(
            270_000,
            Event::StepStarted {
                step: "verify".into(),
                title: "Count rows".into(),
                action: "run".into(),
                command: "psql -c 'select count(*) from users'".into(),
                always: false,
            },
        ),
        e(
            270_000,
            Event::StepStarted {
                step: "wait-api".into(),
                title: "Wait for the API".into(),
                action: "check".into(),
                command: "http http://127.0.0.1:8080/health".into(),
                always: false,
            },
        ),
        e(
            270_000,
            Event::CheckStarted {
                check: "api-up".into(),
                step: Some("wait-api".into()),
                phase: CheckPhase::Step,
                probe: "http".into(),
                target: "http://127.0.0.1:8080/health".into(),
            },
        ),
        e(
            271_000,
            check_attempt(Some("wait-api"), 1, false, "HTTP 503", 1000),
        ),
        output(272_000, "verify", "relation \"users\" does not exist"),
        e(
            272_500,
            check_attempt(Some("wait-api"), 2, false, "HTTP 503", 1000),
        ),
        output(273_000, "verify", "count mismatch: 0 != 1200"),
        e(
            273_100,
            attempt("verify", 1, Exit::Code(3), 3100, Some("exit code 3")),
        ),
        e(
            273_100,
            Event::ProcessGroupChecked {
                step: "verify".into(),
                pgid: 4242,
                empty: true,
                killed: 1,
                detached: 0,
            },
        ),
        e(
            273_100,
            finished("verify", StepStatus::Failed, Some("exit code 3"), 1, 3100),
        ),
        Play::Tail(
            "verify".into(),
            vec![
                "relation \"users\" does not exist".into(),
                "count mismatch: 0 != 1200".into(),
            ],
        ),
        e(
            273_100,
            finished(
                "cleanup",
                StepStatus::Skipped,
                Some("needs failed step `verify`"),
                0,
                0,
            ),
        ),
        e(
            273_200,
            Event::RollbackStarted {
                step: "restore".into(),
                command: "pg_restore --clean previous".into(),
            },
        ),
        e(
            274_100,
            check_attempt(Some("wait-api"), 3, true, "HTTP 200", 100),
        ),
        e(
            274_100,
            Event::CheckFinished {
                check: "api-up".into(),
                step: Some("wait-api".into()),
                phase: CheckPhase::Step,
                passed: true,
                attempts: 3,
                first_pass_ms: Some(4100),
                duration_ms: 4100,
                detail: "HTTP 200".into(),
            },
        ),
        e(274_100, finished("wait-api", StepStatus::Ok, None, 1, 4100)),
        e(
            274_200,
            Event::StepStarted {
                step: "tell-dba".into(),
                title: "Tell the DBAs".into(),
                action: "notify".into(),
                command: "restore failed in verify; rolling back".into(),
                always: false,
            },
        ),
        e(
            274_200,
            Event::NotifyRequested {
                step: "tell-dba".into(),
                text: "restore failed in verify; rolling back\nsee the run folder".into(),
                fields: indexmap::IndexMap::new(),
            },
        ),
        e(274_200, finished("tell-dba", StepStatus::Ok, None, 1, 40)),
        e(
            274_900,
            Event::NotificationSent {
                channel: "#incident-dr".into(),
                about: "tell-dba".into(),
                text: "restore failed in verify; rolling back".into(),
                fields: indexmap::IndexMap::new(),
            },
        ),
        e(
            275_300,
            Event::RollbackFinished {
                step: "restore".into(),
                ok: true,
                exit_code: Some(0),
                duration_ms: 2100,
                reason: None,
            },
        ),
        e(
            276_000,
            Event::NotificationFailed {
                channel: "#incident-dr".into(),
                about: "step_failed".into(),
                reason: "gave up after 6 attempts".into(),
                http_status: Some(500),
            },
        ),
        e(
            276_000,
            Event::RunFinished {
                status: RunStatus::Failed,
                duration_ms: 276_000,
                failures_tolerated: 0,
                rto_objective_ms: Some(300_000),
                rto_achieved_ms: Some(276_000),
                rpo_objective_ms: None,
                rpo_achieved_ms: None,
                recovery_point: None,
                recovery_point_error: None,
            },
        ),
    ]
}

/// Plays the script on this terminal at 1/40 of its pace, with a pretend prompt:
/// `cargo test demo -- --ignored --nocapture` in a terminal, to look at the live view.
#[test]
#[ignore = "for people: draws on the terminal"]
fn demo() {
    use std::io::Write as _;

    let mut sink = super::terminal::for_terminal(false, false, objectives());
    let script = full_run();
    let start = script.iter().find_map(|p| match p {
        Play::Event(r) => Some(r.ts),
        Play::Tail(..) => None,
    });
    let start = start.expect("the script has events");
    let now = Utc::now();
    let mut played = 0;
    for play in script {
        let Play::Event(mut record) = play else {
            play.play(sink.as_mut());
            continue;
        };
        let offset = (record.ts - start).num_milliseconds();
        std::thread::sleep(std::time::Duration::from_millis(
            u64::try_from((offset - played) / 40).unwrap_or(0),
        ));
        played = offset;
        record.ts = now + Duration::milliseconds(offset / 40);
        sink.event(&record);
        if let Event::ApprovalRequested { question, .. } = &record.event {
            eprint!("{question} [y/N] ");
            let _ = std::io::stderr().flush();
            std::thread::sleep(std::time::Duration::from_secs(2));
            eprintln!("y");
        }
    }
    sink.finish();
}
