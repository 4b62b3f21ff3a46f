//! The run record: a durable journal, resume after `kill -9`, the lock, run history.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::wait_until;
use crate::util::{Test, count_lines, journal, playbook, runbook, spawn};

/// Three steps; the middle one waits for `go` to exist, so a test can kill the runner under it.
const THREE: &str = r#"rto = "10m"
[[steps]]
id = "one"
run = "echo run >> ../one.count; echo first"
outputs = { v = "stdout" }
[[steps]]
id = "two"
needs = ["one"]
run = "echo run >> ../two.count; echo waiting-for-go; while [ ! -e ../go ]; do sleep 0.05; done; echo went"
[[steps]]
id = "three"
needs = ["two"]
run = "echo run >> ../three.count; echo {{steps.one.outputs.v}} > ../three.value"
"#;

/// `runbook resume run --yes`, once the crashed run's step has stopped (bounded): resume refuses
/// while it still runs.
fn resume_once_free(dir: &Path) -> Output {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = runbook_output(dir, &["resume", "run", "--yes"]);
        if !out.stderr_contains("still running") || Instant::now() > deadline {
            return out;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn kill_under_step_two(dir: &Path, out: &str) {
    let mut child = spawn(dir, &["run", "pb.toml", "--out", out]);
    let log = dir.join(out).join("logs/two.log");
    let logged = || std::fs::read_to_string(&log).is_ok_and(|t| t.contains("waiting-for-go"));
    assert!(
        wait_until(Duration::from_secs(20), logged),
        "step two never started"
    );
    child.kill().expect("kill -9");
    let _ = child.wait();
}

#[test]
fn kill_9_then_resume_finishes_without_rerunning_finished_steps() {
    let t = Test::new().file("pb.toml", &playbook("three", THREE));
    kill_under_step_two(t.path(), "run");
    std::fs::write(t.path().join("go"), "").expect("go");
    // The crashed step's shell is still waiting; resume refuses until it is gone.
    let resumed = resume_once_free(t.path());
    assert!(
        resumed.0.status.success(),
        "resume failed:\n{}",
        String::from_utf8_lossy(&resumed.0.stderr)
    );
    let run_dir = t.path().join("run");
    assert_eq!(count_lines(&t.path().join("one.count")), 1, "one ran once");
    assert_eq!(
        count_lines(&t.path().join("two.count")),
        2,
        "two ran again after the crash"
    );
    assert_eq!(
        count_lines(&t.path().join("three.count")),
        1,
        "three ran once"
    );
    assert_eq!(
        std::fs::read_to_string(t.path().join("three.value")).expect("value"),
        "first\n",
        "outputs survive the crash"
    );
    let events = journal(&run_dir);
    let names: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().expect("event"))
        .collect();
    assert_eq!(names.iter().filter(|n| **n == "run_started").count(), 1);
    assert_eq!(names.iter().filter(|n| **n == "run_resumed").count(), 1);
    assert_eq!(names.last(), Some(&"run_finished"));
    let resumed = events
        .iter()
        .find(|e| e["event"] == "run_resumed")
        .expect("run_resumed");
    assert_eq!(resumed["rerun"], serde_json::json!(["two"]));
    let log = std::fs::read_to_string(run_dir.join("logs/two.log")).expect("log");
    assert_eq!(
        log.matches("waiting-for-go").count(),
        2,
        "the crashed attempt's output is in the log: {log}"
    );
}

struct Output(std::process::Output);

impl Output {
    fn stderr_contains(&self, text: &str) -> bool {
        String::from_utf8_lossy(&self.0.stderr).contains(text)
    }
}

fn runbook_output(dir: &Path, args: &[&str]) -> Output {
    Output(
        runbook()
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .output()
            .expect("runbook runs"),
    )
}

#[test]
fn a_step_in_flight_is_not_rerun_without_confirmation_unless_idempotent() {
    let t = Test::new().file("pb.toml", &playbook("three", THREE));
    kill_under_step_two(t.path(), "run");
    std::fs::write(t.path().join("go"), "").expect("go");
    let deadline = Instant::now() + Duration::from_secs(20);
    let run = loop {
        let run = t.run_args(["resume", "run"]);
        if !run.stderr().contains("still running") || Instant::now() > deadline {
            break run;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let run = run.expect_code(1);
    assert!(
        run.stderr()
            .contains("step `two` was running when the runner stopped"),
        "{}",
        run.stderr()
    );
    assert!(
        run.stderr().contains("two | waiting-for-go"),
        "the log tail is shown: {}",
        run.stderr()
    );
    assert!(
        run.stderr()
            .contains("no terminal to confirm it; rerun with --yes"),
        "{}",
        run.stderr()
    );
    assert_eq!(count_lines(&t.path().join("two.count")), 1, "nothing ran");

    let idempotent = THREE.replace(
        "needs = [\"one\"]\nrun",
        "needs = [\"one\"]\nidempotent = true\nrun",
    );
    let t = Test::new().file("pb.toml", &playbook("three", &idempotent));
    kill_under_step_two(t.path(), "run");
    std::fs::write(t.path().join("go"), "").expect("go");
    assert!(wait_until(Duration::from_secs(20), || runbook_output(
        t.path(),
        &["resume", "run"]
    )
    .0
    .status
    .success()));
    assert_eq!(count_lines(&t.path().join("two.count")), 2);
}

#[test]
fn a_journal_cut_off_mid_line_still_resumes() {
    let t = Test::new().file("pb.toml", &playbook("three", THREE));
    kill_under_step_two(t.path(), "run");
    std::fs::write(t.path().join("go"), "").expect("go");
    let journal_path = t.path().join("run/journal.jsonl");
    let mut text = std::fs::read_to_string(&journal_path).expect("journal");
    text.push_str(r#"{"ts":"2026-11-23T02:00:00.000Z","run_id":"x","event":"step_fin"#);
    std::fs::write(&journal_path, text).expect("write");
    assert!(wait_until(Duration::from_secs(20), || runbook_output(
        t.path(),
        &["resume", "run", "--yes"]
    )
    .0
    .status
    .success()));
    assert_eq!(count_lines(&t.path().join("three.count")), 1);
}

#[test]
fn a_changed_playbook_is_refused_unless_allowed() {
    let t = Test::new().file("pb.toml", &playbook("three", THREE));
    kill_under_step_two(t.path(), "run");
    std::fs::write(t.path().join("go"), "").expect("go");
    std::fs::write(
        t.path().join("pb.toml"),
        playbook(
            "three",
            &format!(
                "title = \"Changed title\"\n{}",
                THREE.replace("echo first", "echo changed")
            ),
        ),
    )
    .expect("edit");
    let run = t.run_args(["resume", "run", "--yes"]).expect_code(2);
    assert!(
        run.stderr().contains("changed since run") && run.stderr().contains("--allow-changed"),
        "{}",
        run.stderr()
    );
    assert!(wait_until(Duration::from_secs(20), || runbook_output(
        t.path(),
        &["resume", "run", "--yes", "--allow-changed"]
    )
    .0
    .status
    .success()));
    let resumed = journal(&t.path().join("run"))
        .into_iter()
        .find(|e| e["event"] == "run_resumed")
        .expect("resumed");
    assert_eq!(resumed["playbook_changed"], true);
    // The resumed run ran the new text, but the folder keeps the text the run started with:
    // the report written at the end is built from that copy, exactly as `report RUN` builds it.
    for (format, file) in [("md", "report.md"), ("json", "report.json")] {
        let written = std::fs::read_to_string(t.path().join("run").join(file)).expect("report");
        let again = t
            .run_args(["report", "run", "--format", format])
            .expect_code(0);
        assert_eq!(again.stdout(), written, "{file}");
    }
}

#[test]
fn a_finished_run_has_nothing_to_resume() {
    let t = Test::new().file(
        "pb.toml",
        &playbook("quick", "[[steps]]\nid = \"a\"\nrun = \"true\"\n"),
    );
    t.run_args(["run", "pb.toml", "--out", "run"])
        .expect_code(0);
    let run = t.run_args(["resume", "run"]).expect_code(2);
    assert!(
        run.stderr()
            .contains("already finished (ok): there is nothing to resume"),
        "{}",
        run.stderr()
    );
}

#[test]
fn the_journal_is_one_json_object_a_line_with_ts_event_run_id_and_ms() {
    let t = Test::new()
        .file("pb.toml", &playbook("journal", "secrets = [\"TOKEN\"]\n[vars]\nx = \"1\"\n[[steps]]\nid = \"a\"\nrun = \"echo $TOKEN; exit 3\"\n"))
        .env("TOKEN", "sekret-value-42");
    t.run_args(["run", "pb.toml", "--out", "run"])
        .expect_code(1);
    let text = std::fs::read_to_string(t.path().join("run/journal.jsonl")).expect("journal");
    assert!(
        !text.contains("sekret-value-42"),
        "the secret is masked in the journal"
    );
    for e in journal(&t.path().join("run")) {
        assert!(
            e["ts"]
                .as_str()
                .is_some_and(|ts| ts.len() == 24 && ts.ends_with('Z')),
            "{e}"
        );
        assert!(e["event"].is_string() && e["run_id"].is_string(), "{e}");
        for (k, v) in e.as_object().expect("object") {
            if k.ends_with("_ms") {
                assert!(
                    v.is_u64() || v.is_null(),
                    "{k} is an integer of milliseconds: {e}"
                );
            }
        }
    }
    let log = std::fs::read_to_string(t.path().join("run/logs/a.log")).expect("log");
    assert!(!log.contains("sekret-value-42") && log.contains("***"));
}

/// The first run holds the lock until `go` exists.
fn holder(t: &Test, policy: &str) -> Child {
    let dir = t.path().display();
    let text = playbook(
        "locked",
        &format!(
            "lock = \"{policy}\"\n[[steps]]\nid = \"wait\"\nrun = \"touch {dir}/started; while [ ! -e {dir}/go ]; do sleep 0.05; done\"\n"
        ),
    );
    std::fs::create_dir_all(t.path().join("playbooks")).expect("mkdir");
    std::fs::write(t.path().join("playbooks/locked.toml"), text).expect("write");
    let child = spawn(t.path(), &["run", "locked"]);
    assert!(wait_until(Duration::from_secs(20), || t
        .path()
        .join("started")
        .exists()));
    child
}

fn finish(t: &Test, mut child: Child) {
    std::fs::write(t.path().join("go"), "").expect("go");
    let status = child.wait().expect("wait");
    assert!(status.success());
}

fn run_folders(t: &Test) -> Vec<PathBuf> {
    std::fs::read_dir(t.path().join("runs"))
        .expect("runs")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("journal.jsonl").exists())
        .collect()
}

#[test]
fn a_second_run_of_a_locked_playbook_is_refused_with_3() {
    let t = Test::new();
    let first = holder(&t, "fail");
    let run = t.run_args(["run", "locked"]).expect_code(3);
    let stderr = run.stderr();
    assert!(
        stderr.contains("`locked` is already running: run ")
            && stderr.contains(" (pid ")
            && stderr.contains(" on ")
            && stderr.contains("started "),
        "{stderr}"
    );
    finish(&t, first);
    assert_eq!(
        run_folders(&t).len(),
        1,
        "the refused run left no run folder"
    );
    t.run_args(["run", "locked"]).expect_code(0);
}

#[test]
fn skip_exits_0_and_wait_runs_after_the_holder() {
    let t = Test::new();
    let first = holder(&t, "skip");
    let run = t.run_args(["run", "locked"]).expect_code(0);
    assert!(
        run.stderr()
            .contains("skipped: `locked` is already running"),
        "{}",
        run.stderr()
    );
    finish(&t, first);

    let t = Test::new();
    let first = holder(&t, "wait");
    // The second run's stderr goes to a file, so the test can see it start waiting.
    let waiting_log = t.path().join("second.stderr");
    let mut second = runbook()
        .args(["run", "locked"])
        .current_dir(t.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&waiting_log).expect("stderr file"))
        .spawn()
        .expect("runbook starts");
    let waiting = || {
        std::fs::read_to_string(&waiting_log)
            .is_ok_and(|t| t.contains("waiting for the lock of `locked`"))
    };
    assert!(
        wait_until(Duration::from_secs(20), waiting),
        "the second run waits for the first"
    );
    finish(&t, first);
    let status = second.wait().expect("second run");
    assert!(
        status.success(),
        "{}",
        std::fs::read_to_string(&waiting_log).unwrap_or_default()
    );
    assert_eq!(run_folders(&t).len(), 2);
}

#[test]
fn a_stale_lock_is_taken_over_with_a_warning_and_journaled() {
    let t = Test::new().file(
        "playbooks/stale.toml",
        &playbook("stale", "[[steps]]\nid = \"a\"\nrun = \"true\"\n"),
    );
    let dead = serde_json::json!({"run_id": "20261123T000000Z-stale-dead", "pid": 999_999_999u32, "host": host(), "started": "2026-11-23T00:00:00Z"});
    std::fs::create_dir_all(t.path().join("runs/.locks")).expect("mkdir");
    std::fs::write(t.path().join("runs/.locks/stale.lock"), dead.to_string()).expect("lock");
    let run = t.run_args(["run", "stale"]).expect_code(0);
    assert!(
        run.stderr()
            .contains("took over the stale lock of run 20261123T000000Z-stale-dead"),
        "{}",
        run.stderr()
    );
    let events = journal(&run_folders(&t)[0]);
    let broken = events
        .iter()
        .find(|e| e["event"] == "lock_broken")
        .expect("lock_broken");
    assert_eq!(broken["stale"], true);
    assert!(
        !t.path().join("runs/.locks/stale.lock").exists(),
        "released at the end"
    );
}

fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .expect("hostname")
        .trim()
        .to_owned()
}

#[test]
fn runs_lists_history_newest_first_and_warns_about_overdue_drills() {
    let t = Test::new().file(
        "playbooks/drill.toml",
        &playbook("drill", "drill_every = \"30d\"\nrto = \"1m\"\n[[steps]]\nid = \"a\"\nrun = \"test -e ../../ok\"\n"),
    );
    let never = t.run_args(["runs"]).expect_code(0);
    assert!(
        never
            .stderr()
            .contains("warning: `drill` never: no run recorded (drill_every 30d)"),
        "{}",
        never.stderr()
    );
    t.run_args(["run", "drill"]).expect_code(1);
    let overdue = t.run_args(["list"]).expect_code(0);
    assert!(
        overdue
            .stderr()
            .contains("warning: `drill` overdue: no successful run recorded"),
        "{}",
        overdue.stderr()
    );
    std::fs::write(t.path().join("ok"), "").expect("ok");
    std::thread::sleep(Duration::from_millis(1100));
    t.run_args(["run", "drill"]).expect_code(0);
    let runs = t.run_args(["runs", "--playbook", "drill"]).expect_code(0);
    let stdout = runs.stdout();
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].starts_with("RUN "), "{}", runs.stdout());
    assert!(
        lines[1].contains("drill@1.0.0") && lines[1].contains(" ok "),
        "newest first: {}",
        runs.stdout()
    );
    assert!(lines[2].contains(" failed "), "{}", runs.stdout());
    assert!(
        !runs.stderr().contains("overdue") && !runs.stderr().contains("never"),
        "{}",
        runs.stderr()
    );
}

#[test]
fn break_lock_takes_a_live_lock_and_is_journaled() {
    let t = Test::new();
    let first = holder(&t, "fail");
    // The second run takes the live lock; both then wait for `go`.
    let second = spawn(t.path(), &["run", "locked", "--break-lock"]);
    let broke = || {
        run_folders(&t).into_iter().any(|dir| {
            std::fs::read_to_string(dir.join("journal.jsonl"))
                .is_ok_and(|j| j.contains(r#""event":"lock_broken""#))
        })
    };
    assert!(
        wait_until(Duration::from_secs(20), broke),
        "the run that broke the lock journals it"
    );
    finish(&t, first);
    let out = second.wait_with_output().expect("second run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("broke the lock (--break-lock) of run "));
    let events: Vec<Value> = run_folders(&t).iter().flat_map(|d| journal(d)).collect();
    let broken = events
        .iter()
        .find(|e| e["event"] == "lock_broken")
        .expect("lock_broken");
    assert_eq!(broken["stale"], false);
}

#[test]
fn a_crash_before_an_always_step_still_runs_it_on_resume() {
    let text = playbook(
        "cleanup-on-resume",
        r#"[[steps]]
id = "two"
run = "echo waiting-for-go; while [ ! -e ../go ]; do sleep 0.05; done"
idempotent = true

[[steps]]
id = "drop-scratch"
after = ["two"]
always = true
run = "echo dropped >> ../dropped"
"#,
    );
    let t = Test::new().file("pb.toml", &text);
    kill_under_step_two(t.path(), "run");
    assert!(
        !t.path().join("dropped").exists(),
        "the cleanup had not run before the crash"
    );
    std::fs::write(t.path().join("go"), "").expect("go");
    let resumed = resume_once_free(t.path());
    assert!(
        resumed.0.status.success(),
        "resume failed:\n{}",
        String::from_utf8_lossy(&resumed.0.stderr)
    );
    assert_eq!(
        count_lines(&t.path().join("dropped")),
        1,
        "the cleanup ran once"
    );
    let events = journal(&t.path().join("run"));
    assert!(
        events.iter().any(|e| e["event"] == "step_finished"
            && e["step"] == "drop-scratch"
            && e["status"] == "ok"),
        "drop-scratch finished ok after the resume"
    );
}
