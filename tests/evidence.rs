//! The report as evidence (issue #11, rule 12): every step's outputs, masked; the recovery
//! point's time; a failed rollback's log tail; and no statement about what did not happen: a
//! dry run or a failed run never says an objective was met, a step that never started has no
//! duration. Each checked in `report.md`, in `report --format json`, and where the run's own
//! output or journal says it too.

use std::path::Path;

use serde_json::Value;

use crate::util::{Test, journal, playbook};

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `runbook report RUN --format json`, parsed.
fn report_json(t: &Test, run: &str) -> Value {
    let out = t
        .run_args(["report", run, "--format", "json"])
        .expect_code(0);
    serde_json::from_str(&out.stdout()).expect("the report is one JSON document")
}

/// The text of a Markdown section, up to the next heading of the same level.
fn section<'a>(md: &'a str, heading: &str) -> &'a str {
    md.split(&format!("\n{heading}\n"))
        .nth(1)
        .unwrap_or_else(|| panic!("no {heading:?} in\n{md}"))
        .split("\n## ")
        .next()
        .unwrap_or_default()
}

fn run_finished(dir: &Path) -> Value {
    journal(dir)
        .into_iter()
        .find(|e| e["event"] == "run_finished")
        .expect("run_finished")
}

fn step<'a>(doc: &'a Value, id: &str) -> &'a Value {
    doc["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("no step {id} in {doc}"))
}

const SECRET: &str = "s3cr3t-7Hq";

const OUTPUTS: &str = r#"secrets = ["DB_TOKEN"]
[[steps]]
id = "latest-backup"
run = "echo /backups/orders-2026-12-02T0310.dump"
outputs = { file = "stdout" }
[[steps]]
id = "checksum"
needs = ["latest-backup"]
run = "echo 'sha256 9f2c1e4b  {{steps.latest-backup.outputs.file}}'"
outputs = { sha256 = { stdout_regex = 'sha256 ([0-9a-f]+)' } }
[[steps]]
id = "verify-counts"
needs = ["checksum"]
run = "echo 'orders=1200'; echo \"token=$DB_TOKEN\""
outputs = { orders = { stdout_regex = 'orders=([0-9]+)' }, token = { stdout_regex = 'token=(\S+)' } }
"#;

// See: #11
#[test]
fn every_steps_outputs_are_in_the_report_masked() {
    let t = Test::new()
        .file("pb.toml", &playbook("evidence", OUTPUTS))
        .env("DB_TOKEN", SECRET);
    t.run_args(["run", "pb.toml", "--out", "run"])
        .expect_code(0);
    let md = read(&t.path().join("run/report.md"));
    let outputs = section(&md, "## Outputs");
    for row in [
        "| `latest-backup` | `file` | `/backups/orders-2026-12-02T0310.dump` |",
        "| `checksum` | `sha256` | `9f2c1e4b` |",
        "| `verify-counts` | `orders` | `1200` |",
        "| `verify-counts` | `token` | `***` |",
    ] {
        assert!(outputs.contains(row), "missing {row:?} in\n{outputs}");
    }
    let doc = report_json(&t, "run");
    assert_eq!(
        step(&doc, "latest-backup")["outputs"]["file"],
        "/backups/orders-2026-12-02T0310.dump"
    );
    assert_eq!(step(&doc, "checksum")["outputs"]["sha256"], "9f2c1e4b");
    assert_eq!(step(&doc, "verify-counts")["outputs"]["orders"], "1200");
    assert_eq!(step(&doc, "verify-counts")["outputs"]["token"], "***");
    for (what, text) in [
        ("report.md", md.clone()),
        ("report --format json", doc.to_string()),
    ] {
        assert!(!text.contains(SECRET), "{what} holds the secret:\n{text}");
    }
}

const RECOVERY_POINT: &str = r#"rto = "10m"
rpo = "1h"
recovery_point = "{{steps.latest-backup.outputs.taken_at}}"
[[steps]]
id = "latest-backup"
read_only = true
run = "echo 2026-12-02T03:10:00Z"
outputs = { taken_at = "stdout" }
[[steps]]
id = "restore"
needs = ["latest-backup"]
run = "test -z \"$FAIL\""
"#;

// See: #11
#[test]
fn the_recovery_point_time_is_in_the_report_not_only_the_rpo() {
    let t = Test::new().file("pb.toml", &playbook("point", RECOVERY_POINT));
    t.run_args([
        "run",
        "pb.toml",
        "--out",
        "run",
        "--mode",
        "incident",
        "--incident-start",
        "2026-12-02T03:40:00Z",
    ])
    .expect_code(0);
    let finished = run_finished(&t.path().join("run"));
    assert_eq!(finished["recovery_point"], "2026-12-02T03:10:00Z");
    assert_eq!(finished["rpo_achieved_ms"], 30 * 60 * 1000);
    let md = read(&t.path().join("run/report.md"));
    let outcome = section(&md, "## Outcome");
    assert!(
        outcome.contains(
            "**Recovery point:** 2026-12-02T03:10:00Z (`recovery_point`): the data is restored as of this time; the RPO counts from the incident start 2026-12-02T03:40:00Z."
        ),
        "{outcome}"
    );
    assert!(outcome.contains("| RPO | 1h | 30m | met |"), "{outcome}");
    let doc = report_json(&t, "run");
    let point = &doc["outcome"]["recovery_point"];
    assert_eq!(point["at"], "2026-12-02T03:10:00.000Z");
    assert_eq!(point["rpo_measured_from"], "2026-12-02T03:40:00.000Z");
    assert_eq!(point["rpo_measured_from_incident_start"], true);
    assert_eq!(doc["outcome"]["rpo"]["result"], "met");
}

// See: #11
#[test]
fn a_recovery_point_that_gives_no_time_says_why() {
    let text = RECOVERY_POINT.replace("echo 2026-12-02T03:10:00Z", "echo yesterday");
    let t = Test::new().file("pb.toml", &playbook("point", &text));
    t.run_args(["run", "pb.toml", "--out", "run"])
        .expect_code(0);
    let finished = run_finished(&t.path().join("run"));
    assert!(finished.get("recovery_point").is_none(), "{finished}");
    let error = finished["recovery_point_error"]
        .as_str()
        .expect("the reason is journaled");
    assert!(error.contains("`yesterday`"), "{error}");
    let md = read(&t.path().join("run/report.md"));
    assert!(
        md.contains(
            "**Recovery point:** unknown: `recovery_point` gave `yesterday`, not an RFC 3339 time"
        ),
        "{md}"
    );
    let doc = report_json(&t, "run");
    assert_eq!(doc["outcome"]["recovery_point"]["at"], Value::Null);
    assert_eq!(doc["outcome"]["recovery_point"]["error"], error);
}

const ROLLBACK: &str = r#"secrets = ["DB_TOKEN"]
[[steps]]
id = "snapshot"
run = "echo snapshot taken"
rollback = "echo 'restoring the snapshot'; echo \"auth $DB_TOKEN\"; echo 'pg_restore: error: could not connect to server' >&2; exit 4"
[[steps]]
id = "restore"
needs = ["snapshot"]
run = "echo restoring; exit 3"
on_failure = "rollback"
"#;

// See: #11
#[test]
fn a_failed_rollback_shows_its_log_tail() {
    let t = Test::new()
        .file("pb.toml", &playbook("undo", ROLLBACK))
        .env("DB_TOKEN", SECRET);
    t.run_args(["run", "pb.toml", "--out", "run"])
        .expect_code(1);
    let md = read(&t.path().join("run/report.md"));
    let failures = section(&md, "## Failures and rollbacks");
    let tail = failures
        .split("#### Rollback of `snapshot`: failed")
        .nth(1)
        .unwrap_or_else(|| panic!("no log of the failed rollback in\n{failures}"));
    for line in [
        "Output of rollback, 3 lines",
        "restoring the snapshot",
        "auth ***",
        "pg_restore: error: could not connect to server",
    ] {
        assert!(tail.contains(line), "missing {line:?} in\n{tail}");
    }
    assert!(
        !tail.contains("snapshot taken"),
        "the step's own output is not the rollback's:\n{tail}"
    );
    let doc = report_json(&t, "run");
    let rollback = doc["rollbacks"]
        .as_array()
        .expect("rollbacks")
        .iter()
        .find(|rb| rb["step"] == "snapshot")
        .expect("the rollback of snapshot");
    assert_eq!(rollback["result"], "failed");
    assert_eq!(rollback["exit_code"], 4);
    assert_eq!(rollback["log"]["segment"], "rollback");
    // stdout and stderr interleave in their own order.
    let mut lines: Vec<&str> = rollback["log"]["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    lines.sort_unstable();
    assert_eq!(
        lines,
        [
            "auth ***",
            "pg_restore: error: could not connect to server",
            "restoring the snapshot",
        ]
    );
    for text in [md, doc.to_string()] {
        assert!(!text.contains(SECRET), "{text}");
    }
}

/// The other side of the rule: only a rollback that did not succeed gets its tail.
#[test]
fn a_rollback_that_succeeded_needs_no_log_tail() {
    let text = ROLLBACK.replace("; exit 4\"", "\"");
    let t = Test::new().file("pb.toml", &playbook("undo", &text));
    t.run_args(["run", "pb.toml", "--out", "run"])
        .expect_code(1);
    let md = read(&t.path().join("run/report.md"));
    assert!(!md.contains("#### Rollback of"), "{md}");
    let doc = report_json(&t, "run");
    let rollback = doc["rollbacks"][0].as_object().expect("a rollback");
    assert_eq!(rollback["result"], "ok");
    assert_eq!(rollback.get("log"), Some(&Value::Null), "{rollback:?}");
}

/// A claim that an objective was met, in any of the forms the outputs use.
fn claims_met(text: &str) -> bool {
    text.contains("(met)") || text.contains("| met |") || text.contains("\"met\"")
}

// See: #11
#[test]
fn a_dry_run_says_its_objectives_were_not_measured() {
    let t = Test::new().file("pb.toml", &playbook("point", RECOVERY_POINT));
    let run = t
        .run_args(["run", "pb.toml", "--out", "run", "--dry-run"])
        .expect_code(0);
    let stderr = run.stderr();
    assert!(!claims_met(&stderr), "{stderr}");
    assert!(
        stderr.contains(
            "; RTO not measured in a dry run (10m objective); RPO not measured in a dry run (1h objective)"
        ),
        "{stderr}"
    );
    let finished = run_finished(&t.path().join("run"));
    assert_eq!(finished["rto_achieved_ms"], Value::Null, "{finished}");
    assert_eq!(finished["rpo_achieved_ms"], Value::Null, "{finished}");
    let md = read(&t.path().join("run/report.md"));
    assert!(!claims_met(&md), "{md}");
    let outcome = section(&md, "## Outcome");
    for line in [
        "| RTO | 10m | — (dry run) | not measured in a dry run |",
        "| RPO | 1h | — (dry run) | not measured in a dry run |",
        "**Recovery point:** 2026-12-02T03:10:00Z (`recovery_point`): a dry run restores nothing.",
    ] {
        assert!(outcome.contains(line), "missing {line:?} in\n{outcome}");
    }
    let doc = report_json(&t, "run");
    assert!(!claims_met(&doc.to_string()), "{doc}");
    for objective in ["rto", "rpo"] {
        assert_eq!(doc["outcome"][objective]["achieved_ms"], Value::Null);
        assert_eq!(doc["outcome"][objective]["result"], "not_measured");
    }

    // `--json` prints the journal's events: no achieved figure there either.
    let t = Test::new().file("pb.toml", &playbook("point", RECOVERY_POINT));
    let run = t
        .run_args(["run", "pb.toml", "--out", "run", "--dry-run", "--json"])
        .expect_code(0);
    let finished = run
        .events()
        .into_iter()
        .find(|e| e["event"] == "run_finished")
        .expect("run_finished on stdout");
    assert_eq!(finished["rto_achieved_ms"], Value::Null, "{finished}");
    assert_eq!(finished["rpo_achieved_ms"], Value::Null, "{finished}");
}

// See: #11
#[test]
fn a_dry_run_on_a_terminal_shows_no_rto_figure() {
    use std::io::Write as _;
    let t = Test::new().file("pb.toml", &playbook("point", RECOVERY_POINT));
    let binary = assert_cmd::cargo::cargo_bin("runbook");
    let mut child = std::process::Command::new("script")
        .args([
            "-qec",
            &format!("{} run pb.toml --out run --dry-run", binary.display()),
            "/dev/null",
        ])
        .current_dir(t.path())
        .env("NO_COLOR", "1")
        .env("TERM", "xterm")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("util-linux `script` gives runbook a terminal");
    child.stdin.take().expect("stdin").flush().expect("flush");
    let out = child.wait_with_output().expect("script ends");
    let screen = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{screen}");
    assert!(!claims_met(&screen), "{screen}");
    assert!(
        screen.contains("RTO not measured in a dry run (10m objective)"),
        "the live view's summary:\n{screen}"
    );
}

// See: #11
#[test]
fn a_failed_run_says_its_objectives_were_not_achieved() {
    let t = Test::new()
        .file("pb.toml", &playbook("point", RECOVERY_POINT))
        .env("FAIL", "1");
    let run = t
        .run_args(["run", "pb.toml", "--out", "run"])
        .expect_code(1);
    let stderr = run.stderr();
    assert!(!claims_met(&stderr), "{stderr}");
    assert!(
        stderr.contains("; RTO not achieved (10m objective); RPO not achieved (1h objective)"),
        "{stderr}"
    );
    let finished = run_finished(&t.path().join("run"));
    assert_eq!(finished["rpo_achieved_ms"], Value::Null, "{finished}");
    assert_eq!(
        finished["recovery_point"], "2026-12-02T03:10:00Z",
        "the point it aimed for is still evidence"
    );
    let md = read(&t.path().join("run/report.md"));
    assert!(!claims_met(&md), "{md}");
    let outcome = section(&md, "## Outcome");
    for line in [
        "| RPO | 1h | — | not achieved |",
        "**Recovery point:** 2026-12-02T03:10:00Z (`recovery_point`): the run failed, so nothing was recovered to it.",
    ] {
        assert!(outcome.contains(line), "missing {line:?} in\n{outcome}");
    }
    let doc = report_json(&t, "run");
    assert_eq!(doc["outcome"]["rpo"]["achieved_ms"], Value::Null);
    assert_eq!(doc["outcome"]["rpo"]["result"], "not_achieved");
}

// See: #11
#[test]
fn a_step_that_never_started_has_no_duration_in_either_form() {
    let t = Test::new().file(
        "pb.toml",
        &playbook(
            "never",
            "[[steps]]\nid = \"fails\"\nrun = \"exit 3\"\n[[steps]]\nid = \"after\"\nneeds = [\"fails\"]\nrun = \"true\"\n",
        ),
    );
    t.run_args(["run", "pb.toml", "--out", "run"])
        .expect_code(1);
    let md = read(&t.path().join("run/report.md"));
    assert!(md.contains("| `after` | skipped | — | — | — | — |"), "{md}");
    let doc = report_json(&t, "run");
    let after = step(&doc, "after");
    assert_eq!(after["started_at"], Value::Null);
    assert_eq!(after["duration_ms"], Value::Null, "{after}");
    assert!(step(&doc, "fails")["duration_ms"].is_u64());
}

// See: #11
#[test]
fn a_rollback_whose_command_never_started_is_not_counted_as_run() {
    let t = Test::new().file(
        "pb.toml",
        &playbook(
            "undo",
            r#"[[steps]]
id = "restore"
run = "echo starting; exit 3"
outputs = { job = { stdout_regex = 'job=([0-9]+)' } }
on_failure = "rollback"
rollback = "echo cancelling {{steps.restore.outputs.job}}"
"#,
        ),
    );
    t.run_args(["run", "pb.toml", "--out", "run"])
        .expect_code(1);
    let md = read(&t.path().join("run/report.md"));
    let outcome = section(&md, "## Outcome");
    assert!(!outcome.contains("rollback ran"), "{outcome}");
    assert!(
        outcome.contains(
            "- The rollback of `restore` **never started**: template error in `rollback`"
        ),
        "{outcome}"
    );
    let rollbacks = section(&md, "## Failures and rollbacks");
    assert!(
        rollbacks.contains("| **not started** | — | — | template error in `rollback`"),
        "{rollbacks}"
    );
    assert!(
        !rollbacks.contains("#### Rollback of"),
        "no output to show:\n{rollbacks}"
    );
    let doc = report_json(&t, "run");
    let rollback = &doc["rollbacks"][0];
    assert_eq!(rollback["result"], "not_started");
    assert_eq!(rollback["duration_ms"], Value::Null);
    assert_eq!(rollback["log"], Value::Null);
}

// See: #11
#[test]
fn a_rollbacks_process_is_not_reported_as_its_steps() {
    let t = Test::new().file(
        "pb.toml",
        &playbook(
            "undo",
            "[[steps]]\nid = \"restore\"\nrun = \"exit 3\"\ntimeout = \"1s\"\non_failure = \"rollback\"\nrollback = \"echo undoing; sleep 30\"\n",
        ),
    );
    t.run_args(["run", "pb.toml", "--out", "run"])
        .expect_code(1);
    // Both the step's command and its rollback's start a process under the step's id.
    let pgids: Vec<u64> = journal(&t.path().join("run"))
        .iter()
        .filter(|e| e["event"] == "process_started")
        .filter_map(|e| e["pgid"].as_u64())
        .collect();
    assert_eq!(pgids.len(), 2, "{pgids:?}");
    let doc = report_json(&t, "run");
    assert_eq!(
        doc["failures"][0]["pgid"], pgids[0],
        "the failed step's process group is its command's, not its rollback's"
    );
    let md = read(&t.path().join("run/report.md"));
    let rollbacks = section(&md, "## Failures and rollbacks");
    assert!(
        rollbacks.contains("#### Rollback of `restore`: failed"),
        "{rollbacks}"
    );
    assert!(rollbacks.contains("undoing"), "{rollbacks}");
    assert_eq!(
        doc["rollbacks"][0]["log"]["lines"],
        serde_json::json!(["undoing"])
    );
}
