//! Rule 9: one runs root per playbook file, however its path is spelled. The path is made
//! absolute and its symlinks resolved before `runs/` (beside the playbook's folder) is derived,
//! so every spelling shares one lock and one history.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use super::{finish_within, spawn};
use crate::support::wait_until;
use crate::util::{Test, json_lines, playbook, run_folders};

fn run_dir(events: &[Value]) -> PathBuf {
    let started = events
        .iter()
        .find(|e| e["event"] == "run_started")
        .expect("run_started");
    PathBuf::from(started["run_dir"].as_str().expect("run_dir"))
}

// See: #11
#[test]
fn every_spelling_of_one_playbook_shares_one_runs_root() {
    let text = playbook("x", "[[steps]]\nid = \"a\"\nrun = \"true\"\n");
    let t = Test::new()
        .file("playbooks/x.toml", &text)
        .file("ops/current/.keep", "");
    std::os::unix::fs::symlink(
        "../../playbooks/x.toml",
        t.path().join("ops/current/x.toml"),
    )
    .expect("symlink");
    let root = t.path().canonicalize().expect("real path").join("runs");
    let spellings: [(&Path, &str); 4] = [
        (t.path(), "playbooks/x.toml"),
        (&t.path().join("playbooks"), "x.toml"),
        (&t.path().join("playbooks"), "./x.toml"),
        (t.path(), "ops/current/x.toml"),
    ];
    for (cwd, path) in spellings {
        let out = finish_within(
            spawn(cwd, &["run", path, "--json"]),
            Duration::from_secs(60),
            path,
        );
        assert_eq!(
            out.status.code(),
            Some(0),
            "{path}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let events = json_lines(&String::from_utf8_lossy(&out.stdout));
        assert_eq!(run_dir(&events).parent(), Some(root.as_path()), "{path}");
    }
    assert_eq!(run_folders(&root).len(), 4, "every run is in one runs root");
    for stray in ["playbooks/runs", "ops/runs", "ops/current/runs"] {
        assert!(!t.path().join(stray).exists(), "{stray} exists");
    }
    // One history: `runs` from inside the playbook folder sees all four.
    let out = finish_within(
        spawn(
            &t.path().join("playbooks"),
            &["--dir", ".", "runs", "--playbook", "x"],
        ),
        Duration::from_secs(60),
        "runs",
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout.lines().filter(|l| l.contains("x@1.0.0")).count(),
        4,
        "{stdout}"
    );
}

// See: #11
#[test]
fn a_second_spelling_cannot_bypass_the_lock() {
    let t = Test::new();
    let go = t.path().join("go");
    let text = playbook(
        "x",
        &format!(
            "[[steps]]\nid = \"wait\"\nrun = \"i=0; while [ ! -e {go} ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done\"\n",
            go = go.display()
        ),
    );
    let t = t.file("playbooks/x.toml", &text);
    let first = spawn(t.path(), &["run", "playbooks/x.toml"]);
    let lock = t.path().join("runs/.locks/x.lock");
    assert!(
        wait_until(Duration::from_secs(60), || lock.is_file()),
        "the first run takes the lock"
    );
    for (cwd, path) in [
        (t.path().join("playbooks"), "x.toml"),
        (t.path().to_path_buf(), "./playbooks/../playbooks/x.toml"),
    ] {
        let out = finish_within(
            spawn(&cwd, &["run", path, "--json"]),
            Duration::from_secs(120),
            path,
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{path}: {stderr}");
        assert!(stderr.contains("`x` is already running"), "{stderr}");
        assert!(
            out.stdout.is_empty(),
            "nothing started: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    std::fs::write(&go, "").expect("let the first run finish");
    let out = finish_within(first, Duration::from_secs(120), "run playbooks/x.toml");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        run_folders(&t.path().join("runs")).len(),
        1,
        "only the first run ran"
    );
    assert!(!t.path().join("playbooks/runs").exists());
}

// See: #11
#[test]
fn a_run_of_a_playbook_in_the_current_folder_is_found_by_runs_report_and_resume() {
    // The playbook's runs root is `runs/` beside its folder, so outside the current folder: the
    // commands that take a run id look there too.
    let t = Test::new().file(
        "pb.toml",
        &playbook("here", "[[steps]]\nid = \"a\"\nrun = \"true\"\n"),
    );
    let events = json_lines(
        &t.run_args(["run", "pb.toml", "--json"])
            .expect_code(0)
            .stdout(),
    );
    let folder = run_dir(&events);
    assert_eq!(run_folders(&t.runs_root()), std::slice::from_ref(&folder));
    let id = folder
        .file_name()
        .expect("an id")
        .to_string_lossy()
        .into_owned();
    let runs = t.run_args(["runs"]).expect_code(0);
    assert!(runs.stdout().contains(&id), "{}", runs.stdout());
    let report = t.run_args(["report", &id]).expect_code(0);
    assert!(
        report.stdout().contains("**Status:** ok"),
        "{}",
        report.stdout()
    );
    let resume = t.run_args(["resume", &id]).expect_code(2);
    assert!(
        resume.stderr().contains("already finished (ok)"),
        "found, and refused because it finished: {}",
        resume.stderr()
    );
}

// See: #11
#[test]
fn a_runs_root_that_cannot_be_written_says_how_to_choose_another() {
    // As root, run as `nobody` in a folder it owns whose parent it cannot write: the runs root
    // (`runs/` beside the playbook's folder) is out of reach.
    let t = Test::new().file(
        "mine/pb.toml",
        &playbook("unwritable", "[[steps]]\nid = \"a\"\nrun = \"true\"\n"),
    );
    let mine = t.path().join("mine");
    let binary = t.path().join("mine/runbook");
    std::fs::copy(assert_cmd::cargo::cargo_bin("runbook"), &binary).expect("copy the binary");
    let chown = std::process::Command::new("chown")
        .args(["-R", "nobody"])
        .arg(&mine)
        .status()
        .expect("chown runs");
    assert!(chown.success(), "the tests run as root (chown)");
    let mut dir = mine.clone();
    while let Some(parent) = dir.parent() {
        // Every folder up to `mine` must be searchable by `nobody`.
        let _ = std::process::Command::new("chmod")
            .arg("o+x")
            .arg(parent)
            .status();
        dir = parent.to_path_buf();
        if dir == Path::new("/tmp") || dir == Path::new("/") {
            break;
        }
    }
    let out = std::process::Command::new("runuser")
        .args(["-u", "nobody", "--"])
        .arg(&binary)
        .args(["run", "pb.toml"])
        .current_dir(&mine)
        .env_remove("RUNBOOK_RUNS")
        .env("NO_COLOR", "1")
        .output()
        .expect("runuser runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("its runs root cannot be written: set `RUNBOOK_RUNS`"),
        "{stderr}"
    );
}
