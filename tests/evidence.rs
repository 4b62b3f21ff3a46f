//! What a run says about its objectives (issue #11): a dry run measures nothing and a failed
//! run recovers nothing, so neither says an objective was met: not in its journal (nor `--json`),
//! not in its plain or live summary.

use std::path::Path;

use serde_json::Value;

use crate::util::{Test, journal, playbook};

fn run_finished(dir: &Path) -> Value {
    journal(dir)
        .into_iter()
        .find(|e| e["event"] == "run_finished")
        .expect("run_finished")
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
}
