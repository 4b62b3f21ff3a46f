//! Reports of synthetic runs, one per kind of run: snapshots of the Markdown, and checks that
//! the JSON document says the same.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use chrono::{DateTime, Duration, Utc};

use crate::event::{ApprovalHow, CheckPhase, Event, Exit, Mode, Record, RunStatus, StepStatus};
use crate::playbook::model::Playbook;
use crate::playbook::{SourceFile, validate};
use crate::record::replay::RunState;

use super::{ReportInput, json, markdown};

const PLAYBOOK: &str = r#"
[playbook]
name = "postgres-restore"
version = "2.1.0"
title = "Restore PostgreSQL from the latest verified backup"
rto = "30m"
rpo = "5m"

[report]
signoff = ["SRE lead", "DevOps engineer"]

[[checks]]
id = "api-up"
http = { url = "http://localhost:8080/health", status = 200 }

[[steps]]
id = "declare"
title = "Declare the DR incident"
manual = "Open #incident-dr and page the database owner."

[[steps]]
id = "latest-backup"
run = "ls -1t /backups/*.dump | head -n 1"
read_only = true
budget = "1m"

[[steps]]
id = "safety-snapshot"
needs = ["declare"]
run = "pg_dump --format=custom --file=/backups/before.dump"
budget = "5m"
rollback = "pg_restore --clean --dbname=control_plane /backups/before.dump"

[[steps]]
id = "restore"
needs = ["latest-backup", "safety-snapshot"]
confirm = "This overwrites control_plane. Continue?"
run = "pg_restore --clean --if-exists --dbname=control_plane /backups/latest.dump"
budget = "15m"
retries = 1
on_failure = "rollback"
rollback = "pg_restore --clean --if-exists --dbname=control_plane /backups/before.dump | tee /tmp/rollback.log"

[[steps]]
id = "verify-counts"
needs = ["restore"]
run = "psql -tAc 'select count(*) from workflows'"
budget = "1m"
"#;

const SHA: &str = "7f3a9c0d1e2f3a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3";

fn playbook(text: &str) -> std::sync::Arc<Playbook> {
    validate(&SourceFile::new("playbook.toml", text))
        .expect("the test playbook is valid")
        .playbook
}

fn at(ms: i64) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-23T02:00:00Z")
        .expect("valid time")
        .with_timezone(&Utc)
        + Duration::milliseconds(ms)
}

/// The events of a run, each `ms` after 02:00:00 UTC.
#[derive(Default)]
struct Journal(Vec<Record>);

impl Journal {
    fn new(mode: Mode) -> Self {
        let mut j = Self::default();
        j.at(
            0,
            Event::RunStarted {
                playbook: "postgres-restore".into(),
                path: "playbooks/postgres-restore.toml".into(),
                version: "2.1.0".into(),
                sha256: SHA.into(),
                mode,
                env: Some("staging".into()),
                commander: "alice".into(),
                vars: BTreeMap::from([
                    ("database".to_owned(), "control_plane".into()),
                    ("password".to_owned(), "***".into()),
                ]),
                incident_start: None,
                dry_run: mode == Mode::DryRun,
                host: "db-ops-1".into(),
                run_dir: "runs/20261123T020000Z-postgres-restore-7f3a".into(),
                runbook_version: "0.1.0".into(),
                max_parallel: Some(4),
                selection: None,
            },
        );
        j
    }

    fn at(&mut self, ms: i64, event: Event) -> &mut Self {
        self.0.push(Record {
            ts: at(ms),
            run_id: "20261123T020000Z-postgres-restore-7f3a".into(),
            item: None,
            event,
        });
        self
    }

    fn started(&mut self, ms: i64, step: &str, action: &str, command: &str) -> &mut Self {
        self.at(
            ms,
            Event::StepStarted {
                step: step.into(),
                title: step.into(),
                action: action.into(),
                command: command.into(),
                always: false,
            },
        )
    }

    fn attempt(&mut self, ms: i64, step: &str, n: u32, exit: Exit, took: u64) -> &mut Self {
        let reason = match exit {
            Exit::Success => None,
            Exit::Code(c) => Some(format!("exit code {c}")),
            Exit::TimedOut => Some("timed out after 1s".to_owned()),
            Exit::Cancelled => Some("cancelled".to_owned()),
            Exit::Signal(s) => Some(format!("killed by signal {s}")),
        };
        self.at(
            ms,
            Event::StepAttemptFinished {
                step: step.into(),
                attempt: n,
                exit: Some(exit),
                exit_code: exit.code(),
                duration_ms: took,
                reason,
            },
        )
    }

    fn finished(&mut self, ms: i64, step: &str, status: StepStatus, took: u64) -> &mut Self {
        self.finished_with(ms, step, status, None, took)
    }

    fn finished_with(
        &mut self,
        ms: i64,
        step: &str,
        status: StepStatus,
        reason: Option<&str>,
        took: u64,
    ) -> &mut Self {
        self.at(
            ms,
            Event::StepFinished {
                step: step.into(),
                status,
                reason: reason.map(str::to_owned),
                outputs: BTreeMap::new(),
                exit_code: None,
                attempts: 1,
                duration_ms: took,
                would_run: None,
            },
        )
    }

    /// Gives the last `step_finished` of `step` these (masked) outputs.
    fn outputs(&mut self, step: &str, outputs: &[(&str, &str)]) -> &mut Self {
        let finished = self.0.iter_mut().rev().find_map(|r| match &mut r.event {
            Event::StepFinished {
                step: s, outputs, ..
            } if s == step => Some(outputs),
            _ => None,
        });
        let finished = finished.expect("the step finished");
        for (k, v) in outputs {
            finished.insert((*k).to_owned(), (*v).to_owned());
        }
        self
    }

    /// A whole successful `run` step.
    fn ok(&mut self, ms: i64, step: &str, command: &str, took: u64) -> &mut Self {
        let end = ms + i64::try_from(took).expect("small");
        self.started(ms, step, "run", command)
            .attempt(end, step, 1, Exit::Success, took)
            .finished(end, step, StepStatus::Ok, took)
    }

    fn check(&mut self, ms: i64, phase: CheckPhase, passed: bool, attempts: u32) -> &mut Self {
        self.at(
            ms,
            Event::CheckStarted {
                check: "api-up".into(),
                step: None,
                phase,
                probe: "http".into(),
                target: "http://localhost:8080/health".into(),
            },
        )
        .at(
            ms + 400,
            Event::CheckFinished {
                check: "api-up".into(),
                step: None,
                phase,
                passed,
                attempts,
                first_pass_ms: passed.then_some(400),
                duration_ms: 400,
                detail: if passed {
                    "status 200".into()
                } else {
                    "connection refused".into()
                },
            },
        )
    }

    fn approval(&mut self, ms: i64, step: &str, by: &str, how: ApprovalHow) -> &mut Self {
        self.at(
            ms,
            Event::ApprovalRequested {
                step: step.into(),
                question: format!("approve `{step}`?"),
            },
        )
        .at(
            ms + 20_000,
            Event::ApprovalGiven {
                step: step.into(),
                by: by.into(),
                how,
                waited_ms: 0,
            },
        )
    }

    fn run_finished(&mut self, ms: i64, status: RunStatus, rto: Option<u64>) -> &mut Self {
        self.at(
            ms,
            Event::RunFinished {
                status,
                duration_ms: u64::try_from(ms).expect("positive"),
                failures_tolerated: 0,
                rto_objective_ms: Some(1_800_000),
                rto_achieved_ms: rto,
                rpo_objective_ms: Some(300_000),
                rpo_achieved_ms: rto.map(|_| 190_000),
                recovery_point: rto.map(|_| at(-190_000)),
                recovery_point_error: None,
            },
        )
    }

    fn state(&self) -> RunState {
        RunState::from_records(&self.0)
    }
}

/// The first part of every run: the assessment, `declare` confirmed at the prompt, the two
/// steps that need nothing else.
fn beginning(j: &mut Journal) {
    j.check(100, CheckPhase::Assessment, false, 1)
        .started(
            1000,
            "declare",
            "manual",
            "Open #incident-dr and page the database owner.",
        )
        .approval(1500, "declare", "alice", ApprovalHow::Prompt)
        .attempt(21_500, "declare", 1, Exit::Success, 20_500)
        .finished(21_500, "declare", StepStatus::Ok, 20_500)
        .ok(
            1000,
            "latest-backup",
            "ls -1t /backups/*.dump | head -n 1",
            800,
        )
        .ok(
            21_600,
            "safety-snapshot",
            "pg_dump --format=custom --file=/backups/before.dump",
            200_000,
        );
}

fn successful() -> Journal {
    let mut j = Journal::new(Mode::Drill);
    beginning(&mut j);
    j.approval(221_700, "restore", "--yes", ApprovalHow::Flag)
        .ok(
            241_700,
            "restore",
            "pg_restore --clean --if-exists --dbname=control_plane /backups/latest.dump",
            460_000,
        )
        .outputs(
            "latest-backup",
            &[
                ("file", "/backups/2026-11-23T01-56.dump"),
                ("sha256", "9f2c1e"),
            ],
        )
        .ok(
            701_800,
            "verify-counts",
            "psql -tAc 'select count(*) from workflows'",
            1_200,
        )
        .outputs(
            "verify-counts",
            &[
                ("workflows", "1200"),
                ("password", "***"),
                ("tables", "orders 1200\nusers 31"),
            ],
        )
        .check(703_100, CheckPhase::Validation, true, 3)
        .at(
            703_600,
            Event::NotificationSent {
                channel: "#incident-dr".into(),
                about: "finished".into(),
                text: "DRILL postgres-restore@2.1.0 ok".into(),
                fields: indexmap::IndexMap::new(),
            },
        )
        .run_finished(703_600, RunStatus::Ok, Some(703_600));
    j
}

fn input<'a>(
    state: &'a RunState,
    playbook: Option<&'a std::sync::Arc<Playbook>>,
    logs: &'a Path,
    previous: Option<&'a RunState>,
) -> ReportInput<'a> {
    ReportInput {
        state,
        playbook,
        logs,
        previous,
        report_path_hint: None,
    }
}

/// The Markdown, with the JSON checked against it.
fn render(input: &ReportInput<'_>) -> String {
    let md = markdown(input);
    agree(&md, &json(input));
    md
}

/// The key facts of the JSON document are the ones the Markdown shows.
fn agree(md: &str, doc: &serde_json::Value) {
    let status = doc["outcome"]["status"].as_str().expect("status");
    assert!(
        md.contains(&format!("**Status:** {status}\n")),
        "status {status}"
    );
    let rto = &doc["outcome"]["rto"];
    let achieved = rto["achieved_ms"]
        .as_u64()
        .map_or("—".to_owned(), crate::playbook::duration::format_human);
    let result = rto["result"].as_str().expect("result").replace('_', " ");
    let row = md
        .lines()
        .find(|l| l.starts_with("| RTO |"))
        .expect("an RTO row");
    assert!(row.contains(&format!("| {achieved}")), "{row}");
    // `not measured` in JSON is `not measured in a dry run` in a dry run's Markdown.
    assert!(row.contains(&format!("| {result}")), "{row}");
    // Every output the JSON lists is in the Markdown's Outputs section, and no other.
    let outputs = md
        .split("\n## Outputs\n")
        .nth(1)
        .expect("an Outputs section")
        .split("\n## ")
        .next()
        .expect("its text");
    let mut listed = 0;
    for step in doc["steps"].as_array().expect("steps") {
        let id = step["id"].as_str().expect("id");
        for (name, value) in step["outputs"].as_object().expect("outputs") {
            let value = value.as_str().expect("a string");
            assert!(
                outputs.contains(&format!("| `{id}` | `{name}` |"))
                    && outputs.contains(value.lines().next().unwrap_or_default()),
                "{id}.{name} = {value:?} in\n{outputs}"
            );
            listed += 1;
        }
    }
    assert_eq!(outputs.matches("\n| `").count(), listed, "{outputs}");
    if let Some(at) = doc["outcome"]["recovery_point"]["at"].as_str() {
        let at = at.replace(".000Z", "Z");
        assert!(md.contains(&format!("**Recovery point:** {at} ")), "{at}");
    }
    let timeline = md
        .split("## Timeline")
        .nth(1)
        .expect("a timeline")
        .split("\n## ")
        .next()
        .expect("its text");
    for step in doc["steps"].as_array().expect("steps") {
        let id = step["id"].as_str().expect("id");
        let status = step["status"].as_str().expect("status");
        let row = timeline
            .lines()
            .find(|l| l.starts_with(&format!("| `{id}`")))
            .unwrap_or_else(|| panic!("no timeline row for {id}"));
        let cells: Vec<&str> = row.split(" | ").collect();
        assert_eq!(cells[1].trim_matches('*'), status, "{row}");
    }
}

fn snapshot(name: &str, md: &str) {
    insta::with_settings!({ snapshot_path => "../snapshots", prepend_module_to_snapshot => false }, {
        insta::assert_snapshot!(name, md);
    });
}

#[test]
fn successful_run_with_checks_and_approvals() {
    let pb = playbook(PLAYBOOK);
    let state = successful().state();
    let md = render(&input(
        &state,
        Some(&pb),
        Path::new("/nonexistent/logs"),
        None,
    ));
    snapshot("report_successful", &md);
}

#[test]
fn failed_run_with_a_rollback_and_the_failure_tail() {
    let pb = playbook(PLAYBOOK);
    let dir = tempfile::tempdir().expect("temp dir");
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).expect("logs dir");
    let mut log = String::from("=== restore: attempt 1 at 2026-11-23T02:03:41.700Z ===\n");
    log.push_str("pg_restore: connecting to database for restore\nfirst attempt died\n");
    log.push_str("=== restore: attempt 2 at 2026-11-23T02:04:46.700Z ===\n");
    for i in 1..=24 {
        let _ = writeln!(log, "pg_restore: processing item {i} TABLE DATA workflows");
    }
    log.push_str("pg_restore: error: could not execute query: ERROR:  relation \"workflows\" does not exist\n");
    log.push_str("password=*** host=db | `quoted` <b>not html</b>\n");
    log.push_str("=== restore: rollback at 2026-11-23T02:05:20.000Z ===\nrolled back fine\n");
    std::fs::write(logs.join("restore.log"), log).expect("write log");

    let mut j = Journal::new(Mode::Incident);
    beginning(&mut j);
    j.approval(221_700, "restore", "bob", ApprovalHow::Prompt)
        .started(241_700, "restore", "run", "pg_restore --clean --if-exists --dbname=control_plane /backups/latest.dump")
        .attempt(246_700, "restore", 1, Exit::Code(1), 5_000)
        .attempt(318_000, "restore", 2, Exit::Code(3), 70_000)
        .finished_with(318_000, "restore", StepStatus::Failed, Some("exit code 3"), 76_300)
        .finished_with(318_000, "verify-counts", StepStatus::Skipped, Some("needs failed step `restore`"), 0)
        .at(
            318_100,
            Event::RollbackStarted {
                step: "restore".into(),
                command: "pg_restore --clean --if-exists --dbname=control_plane /backups/before.dump | tee /tmp/rollback.log".into(),
            },
        )
        .at(
            320_000,
            Event::RollbackFinished {
                step: "restore".into(),
                ok: true,
                exit_code: Some(0),
                duration_ms: 1_900,
                reason: None,
            },
        )
        .at(
            320_100,
            Event::RollbackStarted {
                step: "safety-snapshot".into(),
                command: "pg_restore --clean --dbname=control_plane /backups/before.dump".into(),
            },
        )
        .at(
            323_000,
            Event::RollbackFinished {
                step: "safety-snapshot".into(),
                ok: true,
                exit_code: Some(0),
                duration_ms: 2_900,
                reason: None,
            },
        )
        .at(
            323_500,
            Event::NotificationFailed {
                channel: "#incident-dr".into(),
                about: "step_failed".into(),
                reason: "gave up after 6 attempts".into(),
                http_status: Some(500),
            },
        )
        .run_finished(323_500, RunStatus::Failed, Some(323_500));
    let state = j.state();
    let hint = dir.path().join("report.md");
    let mut input = input(&state, Some(&pb), &logs, None);
    input.report_path_hint = Some(&hint);
    let md = render(&input);
    let md = md.replace(&dir.path().display().to_string(), "[run folder]");
    snapshot("report_failed_with_rollback", &md);

    let doc = json(&input);
    let failure = &doc["failures"][0];
    assert_eq!(failure["step"], "restore");
    assert_eq!(failure["exit_code"], 3);
    assert_eq!(failure["log"]["segment"], "attempt 2");
    assert_eq!(failure["log"]["lines"].as_array().map(Vec::len), Some(20));
    assert_eq!(doc["steps"][2]["status"], "rolled_back");
    assert_eq!(doc["rollbacks"][1]["result"], "ok");
}

#[test]
fn interrupted_run() {
    let pb = playbook(PLAYBOOK);
    let mut j = Journal::new(Mode::Drill);
    beginning(&mut j);
    j.approval(221_700, "restore", "--approve restore", ApprovalHow::Flag)
        .started(
            241_700,
            "restore",
            "run",
            "pg_restore --clean --if-exists --dbname=control_plane /backups/latest.dump",
        )
        .at(
            241_800,
            Event::ProcessStarted {
                step: "restore".into(),
                pgid: 4242,
            },
        )
        .at(
            301_700,
            Event::ProcessGroupChecked {
                step: "restore".into(),
                pgid: 4242,
                empty: true,
                killed: 1,
                detached: 0,
            },
        )
        .attempt(301_700, "restore", 1, Exit::Cancelled, 60_000)
        .finished_with(
            301_700,
            "restore",
            StepStatus::Cancelled,
            Some("cancelled"),
            60_000,
        )
        .finished_with(
            301_700,
            "verify-counts",
            StepStatus::Skipped,
            Some("the run was interrupted"),
            0,
        )
        .at(
            301_800,
            Event::RunInterrupted {
                signal: "SIGINT".into(),
            },
        )
        .run_finished(301_800, RunStatus::Interrupted, None);
    let state = j.state();
    let dir = tempfile::tempdir().expect("temp dir");
    let md = render(&input(&state, Some(&pb), dir.path(), None));
    snapshot("report_interrupted", &md);
}

#[test]
fn incomplete_run_without_a_playbook_that_validates() {
    let mut j = Journal::new(Mode::Incident);
    beginning(&mut j);
    j.started(
        241_700,
        "restore",
        "run",
        "pg_restore --clean --if-exists --dbname=control_plane /backups/latest.dump",
    )
    .at(
        241_800,
        Event::ProcessStarted {
            step: "restore".into(),
            pgid: 4242,
        },
    );
    let state = j.state();
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("restore.log"),
        "=== restore: attempt 1 at 2026-11-23T02:04:01.700Z ===\nrestoring…\n",
    )
    .expect("write log");
    let md = render(&input(&state, None, dir.path(), None));
    snapshot("report_incomplete_no_playbook", &md);
    // With the playbook, the steps it never reached are listed too.
    let pb = playbook(PLAYBOOK);
    let md = render(&input(&state, Some(&pb), dir.path(), None));
    assert!(md.contains("| `verify-counts` | not_started | — |"), "{md}");
}

#[test]
fn dry_run_shows_the_plan() {
    let pb = playbook(PLAYBOOK);
    let mut j = Journal::new(Mode::DryRun);
    j.check(100, CheckPhase::Assessment, true, 1).ok(
        600,
        "latest-backup",
        "ls -1t /backups/*.dump | head -n 1",
        40,
    );
    for (ms, step, would) in [
        (
            700,
            "declare",
            "Open #incident-dr and page the database owner.",
        ),
        (
            710,
            "safety-snapshot",
            "pg_dump --format=custom --file=/backups/before.dump",
        ),
        (
            720,
            "restore",
            "pg_restore --clean --if-exists \\\n  --dbname=control_plane /backups/latest.dump",
        ),
        (
            730,
            "verify-counts",
            "psql -tAc 'select count(*) from workflows'",
        ),
    ] {
        j.at(
            ms,
            Event::StepFinished {
                step: step.into(),
                status: StepStatus::Skipped,
                reason: Some("dry run: not executed".into()),
                outputs: BTreeMap::new(),
                exit_code: None,
                attempts: 0,
                duration_ms: 0,
                would_run: Some(would.into()),
            },
        );
    }
    j.run_finished(800, RunStatus::Ok, Some(800));
    let state = j.state();
    let dir = tempfile::tempdir().expect("temp dir");
    let md = render(&input(&state, Some(&pb), dir.path(), None));
    assert!(md.contains("> **DRY RUN**"));
    snapshot("report_dry_run", &md);
    let doc = json(&input(&state, Some(&pb), dir.path(), None));
    assert_eq!(doc["plan"]["planned_rto_ms"], 1_260_000);
    assert_eq!(doc["outcome"]["rto"]["result"], "not_measured");
}

#[test]
fn resumed_run_shows_the_gap() {
    let pb = playbook(PLAYBOOK);
    let mut j = Journal::new(Mode::Incident);
    beginning(&mut j);
    j.approval(221_700, "restore", "--yes", ApprovalHow::Flag)
        .started(
            241_700,
            "restore",
            "run",
            "pg_restore --clean --if-exists --dbname=control_plane /backups/latest.dump",
        )
        .at(
            1_000_000,
            Event::RunResumed {
                commander: "bob".into(),
                gap_ms: 700_000,
                rerun: vec!["restore".into()],
                playbook_changed: false,
            },
        )
        .ok(
            1_001_000,
            "restore",
            "pg_restore --clean --if-exists --dbname=control_plane /backups/latest.dump",
            400_000,
        )
        .ok(
            1_401_100,
            "verify-counts",
            "psql -tAc 'select count(*) from workflows'",
            1_000,
        )
        .check(1_402_200, CheckPhase::Validation, true, 1)
        .run_finished(1_402_700, RunStatus::Ok, Some(1_402_700));
    let state = j.state();
    let dir = tempfile::tempdir().expect("temp dir");
    let md = render(&input(&state, Some(&pb), dir.path(), None));
    assert!(md.contains("after a gap of 11m 40s"), "{md}");
    snapshot("report_resumed", &md);
}

#[test]
fn compared_with_the_previous_successful_run() {
    let pb = playbook(PLAYBOOK);
    let previous = {
        let mut j = Journal::new(Mode::Drill);
        beginning(&mut j);
        j.ok(221_700, "restore", "pg_restore", 300_000)
            .ok(521_800, "verify-counts", "psql", 1_100)
            .run_finished(523_000, RunStatus::Ok, Some(523_000));
        j.0.iter_mut().for_each(|r| {
            r.ts -= Duration::days(30);
            r.run_id = "20261024T020000Z-postgres-restore-1a2b".into();
        });
        j.state()
    };
    let state = successful().state();
    let dir = tempfile::tempdir().expect("temp dir");
    let md = render(&input(&state, Some(&pb), dir.path(), Some(&previous)));
    snapshot("report_compared", &md);
    let doc = json(&input(&state, Some(&pb), dir.path(), Some(&previous)));
    let slower = doc["comparison"]["slower_steps"].as_array().expect("list");
    // restore: 5m → 7m 40s is 53% slower; verify-counts 1.1s → 1.2s is 9%.
    assert_eq!(slower.len(), 1);
    assert_eq!(slower[0]["step"], "restore");
    assert_eq!(slower[0]["slower_percent"], 53);
}

#[test]
fn the_logs_setting_and_a_literal_title_are_honoured() {
    let text = PLAYBOOK.replace(
        "[report]\n",
        "[report]\ntitle = \"Quarterly drill | control plane\"\ninclude_logs = \"all\"\n",
    );
    let pb = playbook(&text);
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("latest-backup.log"),
        "=== latest-backup: attempt 1 at 2026-11-23T02:00:01.000Z ===\n/backups/2026-11-23.dump\n",
    )
    .expect("write log");
    let state = successful().state();
    let md = render(&input(&state, Some(&pb), dir.path(), None));
    assert!(
        md.starts_with("# Quarterly drill \\| control plane\n"),
        "{md}"
    );
    assert!(md.contains("### Last lines of every step"));
    assert!(md.contains("/backups/2026-11-23.dump"));

    let none = PLAYBOOK.replace("[report]\n", "[report]\ninclude_logs = \"none\"\n");
    let pb = playbook(&none);
    let templated = PLAYBOOK.replace("[report]\n", "[report]\ntitle = \"DR {{run.date}}\"\n");
    let pb_templated = playbook(&templated);
    let md = render(&input(&state, Some(&pb_templated), dir.path(), None));
    assert!(md.starts_with("# Restore PostgreSQL from the latest verified backup — 2026-11-23\n"));
    let mut j = Journal::new(Mode::Incident);
    j.started(100, "restore", "run", "false")
        .attempt(200, "restore", 1, Exit::TimedOut, 100)
        .finished_with(
            200,
            "restore",
            StepStatus::Failed,
            Some("timed out after 1s"),
            100,
        )
        .run_finished(300, RunStatus::Failed, Some(300));
    std::fs::write(dir.path().join("restore.log"), "secretless output\n").expect("write log");
    let state = j.state();
    let md = render(&input(&state, Some(&pb), dir.path(), None));
    assert!(md.contains("- **Reason:** timed out after 1s"), "{md}");
    assert!(md.contains("include_logs = \"none\""));
    assert!(!md.contains("secretless output"));
}

#[test]
fn values_from_the_record_cannot_break_the_markdown() {
    let mut j = Journal::new(Mode::Incident);
    j.started(100, "restore", "run", "echo `a|b`")
        .attempt(200, "restore", 1, Exit::Code(2), 100)
        .finished_with(
            200,
            "restore",
            StepStatus::Failed,
            Some("<img src=x> | *bold* [link](x)"),
            100,
        )
        .at(
            300,
            Event::RollbackStarted {
                step: "restore".into(),
                command: "printf '%s\\n' `x` | tr a b".into(),
            },
        )
        .at(
            400,
            Event::RollbackFinished {
                step: "restore".into(),
                ok: false,
                exit_code: Some(1),
                duration_ms: 100,
                reason: Some("exit code 1".into()),
            },
        )
        .run_finished(500, RunStatus::Failed, Some(500));
    let state = j.state();
    let dir = tempfile::tempdir().expect("temp dir");
    let md = render(&input(&state, None, dir.path(), None));
    assert!(
        md.contains("\\<img src=x\\> \\| \\*bold\\* \\[link\\](x)"),
        "{md}"
    );
    assert!(
        md.contains("| `restore` | ``printf '%s\\n' `x` \\| tr a b`` | **failed** |"),
        "{md}"
    );
    assert_eq!(
        md.matches("<img").count(),
        md.matches("\\<img").count(),
        "{md}"
    );
}

#[test]
fn declines_tolerated_failures_nested_steps_and_failed_validation() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("db.migrate.log"),
        "=== migrate: attempt 1 at 2026-11-23T02:00:01.000Z ===\nmigration 42 failed\n",
    )
    .expect("write log");
    let mut j = Journal::new(Mode::Incident);
    j.at(
        500,
        Event::ApprovalRequested {
            step: "drop-cache".into(),
            question: "drop the cache?".into(),
        },
    )
    .at(
        900,
        Event::ApprovalDeclined {
            step: "drop-cache".into(),
            by: "nobody".into(),
            reason: "no terminal to ask on (use --yes or --approve)".into(),
            waited_ms: 0,
        },
    )
    .finished_with(
        900,
        "drop-cache",
        StepStatus::Failed,
        Some("no terminal to ask on (use --yes or --approve)"),
        0,
    )
    .started(1000, "db/migrate", "run", "migrate up")
    .attempt(1500, "db/migrate", 1, Exit::Code(42), 500)
    .finished_with(
        1500,
        "db/migrate",
        StepStatus::Failed,
        Some("exit code 42"),
        500,
    )
    .check(2000, CheckPhase::Validation, false, 30)
    .at(
        3000,
        Event::RunFinished {
            status: RunStatus::Failed,
            duration_ms: 3000,
            failures_tolerated: 1,
            rto_objective_ms: Some(1000),
            rto_achieved_ms: Some(3000),
            rpo_objective_ms: None,
            rpo_achieved_ms: None,
            recovery_point: None,
            recovery_point_error: None,
        },
    );
    let state = j.state();
    let md = render(&input(&state, None, dir.path(), None));
    for expected in [
        "- `drop-cache` failed: no terminal to ask on (use --yes or --approve).",
        "- Validation check `api-up` did not pass after 30 attempts: connection refused.",
        "- 1 failure tolerated under `on_failure = \"continue\"`.",
        "| RTO | 1s | — | not achieved |",
        "| `drop-cache` | confirm | **declined**: no terminal to ask on (use --yes or --approve) | nobody |",
        "### `db/migrate`: failed",
        "Output of attempt 1, 1 line (full log: `logs/db.migrate.log`):",
        "migration 42 failed",
    ] {
        assert!(md.contains(expected), "missing {expected:?} in\n{md}");
    }
    // A step refused before it started has no log to show.
    let drop_cache = md
        .split("### `drop-cache`: failed")
        .nth(1)
        .and_then(|s| s.split("### ").next())
        .expect("a failure section");
    assert!(!drop_cache.contains("log"), "{drop_cache}");
    assert!(!md.contains("| RPO |"));
}
