//! `report.md` through the real binary: written after every run (ok, failed with rollback,
//! interrupted, dry run), rebuilt equal by `runbook report`, free of secrets, showing both
//! segments of a resumed run. Snapshots normalize what changes from run to run.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::wait_until;
use crate::util::{Test, playbook};

/// One filter list for every report snapshot: times, ids, hashes, durations, paths, host.
fn normalized(report: &str, dir: &Path) -> String {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_suffix("");
    let mut text = report.replace(&dir.display().to_string(), "[dir]");
    let rules: [(&str, &str); 10] = [
        (r"pgid \d+", "pgid [pgid]"),
        (r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z", "[time]"),
        (r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}", "[time]"),
        (r"\d{8}T\d{6}Z-[a-z0-9-]+-[0-9a-f]{4}", "[run-id]"),
        (r"sha256 `[0-9a-f]{12}`", "sha256 `[sha]`"),
        (r"\b\d{4}-\d{2}-\d{2}\b", "[date]"),
        (
            r"\+?\b\d+(\.\d+)?(ms|s|m|h|d)( \d+(\.\d+)?(ms|s|m|h))?\b",
            "[dur]",
        ),
        (r"\*\*Host:\*\* .*", "**Host:** [host]"),
        (r"\*\*runbook:\*\* .*", "**runbook:** [version]"),
        (r"\*\*Commander:\*\* .*", "**Commander:** [commander]"),
    ];
    for (pattern, replacement) in rules {
        text = regex::Regex::new(pattern)
            .expect("regex")
            .replace_all(&text, replacement)
            .into_owned();
    }
    text
}

fn report(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("report.md")).expect("report.md")
}

const RESTORE: &str = r#"title = "Restore the orders database"
rto = "10m"
rpo = "1h"
recovery_point = "{{steps.find.outputs.taken}}"
[report]
signoff = ["SRE lead", "Database owner"]
[[checks]]
id = "marker"
command = "test -e marker"
[[steps]]
id = "find"
read_only = true
run = "echo 2026-11-23T01:00:00Z"
outputs = { taken = "stdout" }
budget = "10s"
[[steps]]
id = "snapshot"
needs = ["find"]
run = "echo snapshot taken; touch marker"
rollback = "echo restoring the snapshot"
budget = "30s"
[[steps]]
id = "restore"
needs = ["snapshot"]
run = "echo restoring from {{steps.find.outputs.taken}} >&2; test -z \"$FAIL\" || { echo 'ERROR: relation \"orders\" does not exist' >&2; exit 3; }"
on_failure = "rollback"
rollback = "echo undoing the restore"
budget = "1m"
[[steps]]
id = "verify"
needs = ["restore"]
run = "echo 1200"
expect = { stdout_matches = '^[0-9]+$' }
"#;

#[test]
fn a_successful_run_writes_its_report_and_report_rebuilds_it_equal() {
    let t = Test::new().file("pb.toml", &playbook("restore", RESTORE));
    t.run_args([
        "run",
        "pb.toml",
        "--out",
        "run",
        "--incident-start",
        "2026-11-23T01:30:00Z",
        "--mode",
        "incident",
    ])
    .expect_code(0);
    let written = report(&t.path().join("run"));
    insta::assert_snapshot!(normalized(&written, t.path()));
    let rebuilt = t.run_args(["report", "run"]).expect_code(0);
    assert_eq!(
        rebuilt.stdout(),
        written,
        "runbook report rebuilds the same report from the journal"
    );
    let json = t
        .run_args(["report", "run", "--format", "json"])
        .expect_code(0);
    let json: serde_json::Value = serde_json::from_str(&json.stdout()).expect("JSON");
    // The JSON document and the Markdown say the same things.
    assert_eq!(json["outcome"]["status"], "ok");
    assert_eq!(json["outcome"]["rpo"]["result"], "met");
    assert!(written.contains("| RPO |") && written.contains("| met |"));
    let steps: Vec<(String, String)> = json["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| {
            (
                s["id"].as_str().unwrap_or_default().to_owned(),
                s["status"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(steps.len(), 4, "{steps:?}");
    for (id, status) in steps {
        assert!(
            written.contains(&format!("| `{id}` | {status} |")),
            "{id} {status} in the Markdown"
        );
    }
}

#[test]
fn a_run_folder_whose_playbook_was_swapped_for_a_fifo_is_reported_from_its_journal() {
    let t = Test::new().file(
        "pb.toml",
        &playbook("quick", "[[steps]]\nid = \"a\"\nrun = \"true\"\n"),
    );
    t.run_args(["run", "pb.toml", "--out", "run"])
        .expect_code(0);
    let copy = t.path().join("run/playbook.toml");
    std::fs::remove_file(&copy).expect("rm");
    nix::unistd::mkfifo(&copy, nix::sys::stat::Mode::S_IRWXU).expect("mkfifo");
    // Opening a FIFO for reading waits for a writer: the report must not.
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("runbook"))
        .args(["report", "run"])
        .current_dir(t.path())
        .env("NO_COLOR", "1")
        .env_remove("RUNBOOK_RUNS")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("runbook starts");
    let ended = wait_until(Duration::from_secs(20), || {
        child.try_wait().ok().flatten().is_some()
    });
    if !ended {
        let _ = child.kill();
    }
    assert!(ended, "runbook report waited on the FIFO");
    let out = child.wait_with_output().expect("output");
    assert_eq!(out.status.code(), Some(0));
    let md = String::from_utf8_lossy(&out.stdout);
    assert!(md.contains("no longer validates"), "{md}");
}

#[test]
fn a_failed_run_reports_the_failure_its_output_and_the_rollbacks() {
    let t = Test::new()
        .file("pb.toml", &playbook("restore", RESTORE))
        .env("FAIL", "1");
    t.run_args(["run", "pb.toml", "--out", "run"])
        .expect_code(1);
    insta::assert_snapshot!(normalized(&report(&t.path().join("run")), t.path()));
}

#[test]
fn a_dry_run_report_is_marked_and_shows_the_plan() {
    let t = Test::new().file("pb.toml", &playbook("restore", RESTORE));
    t.run_args(["run", "pb.toml", "--out", "run", "--dry-run"])
        .expect_code(0);
    let text = report(&t.path().join("run"));
    assert!(text.contains("DRY RUN"), "{text}");
    insta::assert_snapshot!(normalized(&text, t.path()));
}

#[test]
fn an_interrupted_run_still_writes_its_report() {
    let t = Test::new().file(
        "pb.toml",
        &playbook("slow", "[[steps]]\nid = \"wait\"\nrun = \"echo waiting; sleep 60\"\n[[steps]]\nid = \"after\"\nneeds = [\"wait\"]\nrun = \"true\"\n"),
    );
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("runbook"))
        .args(["run", "pb.toml", "--out", "run"])
        .current_dir(t.path())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("runbook starts");
    let log = t.path().join("run/logs/wait.log");
    assert!(wait_until(Duration::from_secs(20), || {
        std::fs::read_to_string(&log).is_ok_and(|l| l.contains("waiting"))
    }));
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert_eq!(child.wait().expect("wait").code(), Some(130));
    insta::assert_snapshot!(normalized(&report(&t.path().join("run")), t.path()));
}

#[test]
fn the_report_and_journal_never_contain_a_secret() {
    let secret = "hunter2-$(rm -rf)-.*";
    let text = playbook(
        "secret",
        "secrets = [\"DB_PASSWORD\"]\n[[steps]]\nid = \"leak\"\nrun = \"echo password=$DB_PASSWORD; echo $DB_PASSWORD >&2; exit 1\"\n",
    );
    let t = Test::new()
        .file("pb.toml", &text)
        .env("DB_PASSWORD", secret);
    t.run_args(["run", "pb.toml", "--out", "run"])
        .expect_code(1);
    for file in ["report.md", "journal.jsonl", "logs/leak.log"] {
        let content = std::fs::read_to_string(t.path().join("run").join(file)).expect("file");
        assert!(
            !content.contains("hunter2"),
            "{file} holds the secret:\n{content}"
        );
    }
    assert!(report(&t.path().join("run")).contains("password=***"));
}

#[test]
fn a_resumed_run_reports_both_segments() {
    let text = playbook(
        "segments",
        r#"[[steps]]
id = "first"
run = "echo first"
[[steps]]
id = "second"
needs = ["first"]
run = "echo second; while [ ! -e ../go ]; do sleep 0.05; done"
idempotent = true
"#,
    );
    let t = Test::new().file("pb.toml", &text);
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("runbook"))
        .args(["run", "pb.toml", "--out", "run"])
        .current_dir(t.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("runbook starts");
    let log = t.path().join("run/logs/second.log");
    assert!(wait_until(Duration::from_secs(20), || {
        std::fs::read_to_string(&log).is_ok_and(|l| l.contains("second"))
    }));
    child.kill().expect("kill -9");
    let _ = child.wait();
    std::fs::write(t.path().join("go"), "").expect("go");
    let resumed = || {
        Command::new(assert_cmd::cargo::cargo_bin("runbook"))
            .args(["resume", "run", "--commander", "sre"])
            .current_dir(t.path())
            .stdin(Stdio::null())
            .output()
            .is_ok_and(|o| o.status.success())
    };
    assert!(wait_until(Duration::from_secs(20), resumed));
    let text = report(&t.path().join("run"));
    assert!(
        text.to_lowercase().contains("resumed"),
        "the report says the run was resumed:\n{text}"
    );
    insta::assert_snapshot!(normalized(&text, t.path()));
}

#[test]
fn a_report_compares_with_the_previous_successful_run_of_its_playbook_only() {
    let steps = "[[steps]]\nid = \"a\"\nrun = \"true\"\n";
    let t = Test::new()
        .file("playbooks/mine.toml", &playbook("mine", steps))
        .file("playbooks/mine-too.toml", &playbook("mine-too", steps));
    t.run_args(["run", "mine"]).expect_code(0);
    std::thread::sleep(Duration::from_millis(1100));
    t.run_args(["run", "mine-too"]).expect_code(0);
    std::thread::sleep(Duration::from_millis(1100));
    t.run_args(["run", "mine"]).expect_code(0);
    let mut runs: Vec<_> = std::fs::read_dir(t.path().join("runs"))
        .expect("runs")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("report.md").is_file())
        .collect();
    runs.sort();
    assert_eq!(runs.len(), 3);
    let first = runs[0]
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    let newest = report(&runs[2]);
    let section = newest
        .split("## Compared with the previous successful run")
        .nth(1)
        .expect("the section");
    assert!(
        section.contains(&format!("Run `{first}`")),
        "compared with the first run of `mine`, not `mine-too`:\n{section}"
    );
    assert!(report(&runs[0]).contains("No previous successful run of this playbook."));
}

/// A generated lattice of `n` steps (each needs the three before it) where every step has an
/// output, every seventh a rollback, and the last fails and rolls back: what makes the
/// report's per-step lookups (outputs, rollbacks, plan facts) work.
fn lattice(n: usize) -> String {
    use std::fmt::Write as _;
    let mut body = String::from("rto = \"1h\"\n");
    for i in 0..n {
        let needs: Vec<String> = (i.saturating_sub(3)..i)
            .map(|j| format!("\"s{j}\""))
            .collect();
        let run = if i + 1 == n {
            "echo failing; exit 4".to_owned()
        } else {
            format!("echo value-{i}")
        };
        write!(
            body,
            "[[steps]]\nid = \"s{i}\"\nneeds = [{}]\nrun = \"{run}\"\noutputs = {{ out = \"stdout\" }}\nbudget = \"{}s\"\n",
            needs.join(", "),
            i % 5 + 1
        )
        .expect("a String");
        if i % 7 == 3 {
            writeln!(body, "rollback = \"echo undo {i}\"").expect("a String");
        }
        if i + 1 == n {
            body.push_str("on_failure = \"rollback\"\n");
        }
    }
    body
}

#[test]
fn the_report_of_a_generated_lattice_is_unchanged_in_both_formats() {
    // See: #18 (the report's lookups by step became maps: the same bytes must come out)
    let t = Test::new().file("pb.toml", &playbook("lattice", &lattice(40)));
    t.run_args(["run", "pb.toml", "--out", "run", "--max-parallel", "1"])
        .expect_code(1);
    let md = t.run_args(["report", "run"]).expect_code(0).stdout();
    let json = t
        .run_args(["report", "run", "--format", "json"])
        .expect_code(0)
        .stdout();
    let json = regex::Regex::new(r#""(\w+_ms|pgid)": \d+"#)
        .expect("regex")
        .replace_all(&json, r#""$1": "[n]""#)
        .into_owned();
    insta::assert_snapshot!("lattice_md", normalized(&md, t.path()));
    insta::assert_snapshot!("lattice_json", normalized(&json, t.path()));
}
