//! A journal, log or report that cannot be written fails the run and starts nothing (rule 6).

use std::path::Path;
use std::process::Command;

use crate::util::{Test, journal, playbook};

use super::{SmallDisk, THREE, count_lines, crash_under_two, resume, stderr};

#[test]
fn a_full_disk_fails_the_run_naming_the_log_and_starts_nothing_more() {
    // See: #11
    let disk = SmallDisk::mount();
    let t = Test::new();
    let markers = t.path().display().to_string();
    let text = playbook(
        "disk-full",
        &format!(
            r#"[[steps]]
id = "big"
retries = 1
retry_delay = "1s"
run = "yes 0123456789abcdef | head -c 5000000; touch {markers}/big-ended"
[[steps]]
id = "after"
needs = ["big"]
run = "touch {markers}/after-ran"
[[steps]]
id = "independent"
run = "touch {markers}/independent-ran"
"#
        ),
    );
    let t = t.file("pb.toml", &text);
    let out_dir = disk.path().join("run");
    let run = t
        .run_args([
            "run",
            "pb.toml",
            "--max-parallel",
            "1",
            "--out",
            &out_dir.display().to_string(),
        ])
        .expect_code(1);
    let stderr = run.stderr();
    let log = out_dir.join("logs/big.log");
    assert!(
        stderr.contains(&format!("`{}`", log.display()))
            && stderr.contains("No space left on device"),
        "stderr names the log and the OS error:\n{stderr}"
    );
    assert!(
        t.path().join("big-ended").exists(),
        "the step's command ran to its end"
    );
    let big = stderr
        .lines()
        .find(|l| l.contains("big failed"))
        .unwrap_or_else(|| panic!("no line for big:\n{stderr}"));
    assert!(
        !big.contains("attempts"),
        "no new attempt once the record failed: {big}"
    );
    assert!(
        !t.path().join("after-ran").exists(),
        "no step starts after the failure"
    );
    assert!(
        !t.path().join("independent-ran").exists(),
        "no step starts after the failure, dependent or not"
    );
    let report = out_dir.join("report.md");
    assert!(
        std::fs::metadata(&report).map_or(true, |m| m.len() > 0),
        "no empty report is left behind"
    );
}

#[test]
fn a_report_that_cannot_be_written_fails_the_run_and_is_journaled() {
    // See: #11
    let t = Test::new()
        .file(
            "pb.toml",
            &playbook(
                "report-unwritable",
                "[[steps]]\nid = \"a\"\nrun = \"true\"\n",
            ),
        )
        // A folder where the report goes: renaming the report over it fails.
        .file("run/report.md/keep", "");
    let run = t
        .run_args(["run", "pb.toml", "--out", "run"])
        .expect_code(1);
    assert!(
        run.stderr().contains("failed to write `run/report.md`")
            && run.stderr().contains("Is a directory"),
        "{}",
        run.stderr()
    );
    let events = journal(&t.path().join("run"));
    let last = events.last().expect("events");
    assert_eq!(last["event"], "record_failed", "{last}");
    assert_eq!(last["path"], "run/report.md");
    for partial in [".report.md.partial", ".report.json.partial"] {
        assert!(
            !t.path().join("run").join(partial).exists(),
            "`{partial}` is left behind"
        );
    }
    let refused = t.run_args(["resume", "run"]).expect_code(2);
    assert!(
        refused.stderr().contains("already finished (failed)"),
        "the run reads as failed: {}",
        refused.stderr()
    );
    // Once the report can be written, it says why the record is incomplete.
    std::fs::remove_dir_all(t.path().join("run/report.md")).expect("make room");
    let report = t.run_args(["report", "run"]).expect_code(0);
    assert!(
        report
            .stdout()
            .contains("The record is incomplete: runbook failed to write `run/report.md`")
            && report.stdout().contains("Is a directory"),
        "{}",
        report.stdout()
    );
    let json = t
        .run_args(["report", "run", "--format", "json"])
        .expect_code(0);
    let json: serde_json::Value = serde_json::from_str(&json.stdout()).expect("json");
    assert_eq!(
        json["outcome"]["record_failures"][0]["path"], "run/report.md",
        "{json}"
    );
}

/// Copies the files of `from` into `to` (one level of folders, as a run folder has).
fn copy_run(from: &Path, to: &Path) {
    std::fs::create_dir_all(to.join("logs")).expect("mkdir");
    for dir in ["", "logs"] {
        for entry in std::fs::read_dir(from.join(dir)).expect("read").flatten() {
            if entry.path().is_file() {
                std::fs::copy(entry.path(), to.join(dir).join(entry.file_name())).expect("copy");
            }
        }
    }
}

#[test]
fn a_journal_that_cannot_be_written_starts_nothing_and_fails_the_resume() {
    // See: #11
    let disk = SmallDisk::mount();
    let t = Test::new();
    // Markers outside the small disk, where writing them cannot fail.
    let text = THREE.replace("../", &format!("{}/", t.path().display()));
    let t = t.file("pb.toml", &playbook("journal-full", &text));
    crash_under_two(t.path(), &["run", "pb.toml", "--out", "run"], 1);
    std::fs::write(t.path().join("go"), "").expect("go");
    // The crashed run moves to the small disk, its journal padded with empty lines (which
    // readers skip) to a whole page, and the disk is filled: the journal's next line fails.
    let run = disk.path().join("run");
    copy_run(&t.path().join("run"), &run);
    let journal_path = run.join("journal.jsonl");
    let len = std::fs::metadata(&journal_path).expect("journal").len();
    let pad = usize::try_from((4096 - len % 4096) % 4096).expect("small");
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&journal_path)
        .expect("journal");
    std::io::Write::write_all(&mut file, "\n".repeat(pad).as_bytes()).expect("pad");
    drop(file);
    let filled = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "head -c 2000000 /dev/zero > {}/filler",
            disk.path().display()
        ))
        .status()
        .expect("sh");
    assert!(!filled.success(), "the disk is full");

    let run_arg = run.display().to_string();
    let out = resume(t.path(), &[&run_arg, "--yes"], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("`{}`", journal_path.display()))
            && stderr(&out).contains("No space left on device"),
        "stderr names the journal and the OS error:\n{}",
        stderr(&out)
    );
    assert_eq!(
        count_lines(&t.path().join("two.count")),
        1,
        "two did not run again"
    );
    assert_eq!(
        count_lines(&t.path().join("three.count")),
        0,
        "three never started"
    );
}

#[test]
fn a_rollback_whose_log_fills_the_disk_stops_the_rollbacks_after_it() {
    // See: #11
    let disk = SmallDisk::mount();
    let t = Test::new();
    let markers = t.path().display().to_string();
    let text = playbook(
        "rollback-full",
        &format!(
            r#"[[steps]]
id = "a"
run = "true"
rollback = "touch {markers}/a-rolled-back"
[[steps]]
id = "b"
needs = ["a"]
on_failure = "rollback"
run = "exit 1"
rollback = "yes 0123456789abcdef | head -c 5000000"
"#
        ),
    );
    let t = t.file("pb.toml", &text);
    let out_dir = disk.path().join("run");
    let run = t
        .run_args(["run", "pb.toml", "--out", &out_dir.display().to_string()])
        .expect_code(1);
    assert!(
        run.stderr().contains("logs/b.log`") && run.stderr().contains("No space left on device"),
        "{}",
        run.stderr()
    );
    assert!(
        !t.path().join("a-rolled-back").exists(),
        "no rollback starts once the record cannot be written"
    );
}
