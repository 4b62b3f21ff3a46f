//! `[playbook] schedule`: validated with a located diagnostic, the next due time in `list`,
//! `missed` warnings in `list` and `runs`, and `runbook schedule` for crontab (run for real),
//! systemd (checked by `systemd-analyze verify` where installed) and Kubernetes (parsed as YAML
//! by `PyYAML` where installed).

use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{Datelike, TimeZone, Utc};
use serde_json::Value;

use crate::history::backdate;
use crate::util::{Test, run_folders};

/// Due once a year, at midnight UTC on the 1st of January.
fn yearly(name: &str) -> String {
    format!(
        "[playbook]\nname = \"{name}\"\nversion = \"1.0.0\"\ntitle = \"Yearly 100% check\"\nschedule = \"0 0 1 1 *\"\n\n[[steps]]\nid = \"a\"\nrun = \"true\"\n"
    )
}

fn next_new_year() -> String {
    let year = Utc::now().year() + 1;
    Utc.with_ymd_and_hms(year, 1, 1, 0, 0, 0)
        .single()
        .expect("a time")
        .format("%Y-%m-%d %H:%M UTC")
        .to_string()
}

fn last_new_year() -> String {
    let year = Utc::now().year();
    format!("{year}-01-01 00:00 UTC")
}

fn only_run_dir(t: &Test) -> PathBuf {
    let dirs = run_folders(&t.path().join("runs"));
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs[0].clone()
}

#[test]
fn an_invalid_schedule_is_a_located_diagnostic_with_a_fix() {
    let bad = |schedule: &str| {
        let t = Test::new().file(
            "p.toml",
            &format!(
                "[playbook]\nname = \"p\"\nversion = \"1.0.0\"\nschedule = \"{schedule}\"\n\n[[steps]]\nid = \"a\"\nrun = \"true\"\n"
            ),
        );
        t.run_args(["validate", "p.toml"]).expect_code(2).stderr()
    };
    let err = bad("@daily");
    assert!(
        err.contains("p.toml:4:12: error: invalid schedule \"@daily\" in [playbook]: `@daily` is a nickname, not five fields"),
        "{err}"
    );
    assert!(
        err.contains("help: write `schedule = \"0 0 * * *\"`"),
        "{err}"
    );
    let err = bad("0 0 2 * * *");
    assert!(
        err.contains("it has 6 fields; a schedule has five"),
        "{err}"
    );
    assert!(
        err.contains("\"0 2 * * *\" is every day at 02:00 UTC"),
        "{err}"
    );
    let err = bad("0 25 * * *");
    assert!(
        err.contains("p.toml:4:12: error: invalid schedule \"0 25 * * *\""),
        "{err}"
    );
    let err = bad("0 0 L * *");
    assert!(err.contains("do not all understand"), "{err}");
    let err = bad("0 0 30 2 *");
    assert!(err.contains("it never matches a real date"), "{err}");
}

#[test]
fn list_shows_the_next_due_time_and_list_and_runs_warn_about_a_missed_one() {
    let t = Test::new()
        .file("playbooks/yearly.toml", &yearly("yearly"))
        .file(
            "playbooks/plain.toml",
            "[playbook]\nname = \"plain\"\nversion = \"1.0.0\"\n\n[[steps]]\nid = \"a\"\nrun = \"true\"\n",
        );
    let list = t.run_args(["list"]).expect_code(0);
    let stdout = list.stdout();
    assert!(
        stdout.starts_with("NAME    VERSION  RTO  NEXT DUE  "),
        "{stdout}"
    );
    let plain = stdout
        .lines()
        .find(|l| l.starts_with("plain "))
        .expect("plain");
    assert!(plain.contains(" - "), "no schedule, no due time: {plain}");
    let yearly_row = stdout
        .lines()
        .find(|l| l.starts_with("yearly "))
        .expect("yearly");
    assert!(yearly_row.contains(&next_new_year()), "{yearly_row}");
    // Never run: this year's due time passed without a run.
    let missed = format!(
        "warning: `yearly` missed: due {} (schedule `0 0 1 1 *`, UTC) and no run started since; no run recorded",
        last_new_year()
    );
    assert!(list.stderr().contains(&missed), "{}", list.stderr());
    assert!(!list.stderr().contains("`plain`"), "{}", list.stderr());

    // A run now is after the due time: nothing missed.
    t.run_args(["run", "yearly"]).expect_code(0);
    for args in [["list"], ["runs"]] {
        let out = t.run_args(args).expect_code(0);
        assert!(
            !out.stderr().contains("missed"),
            "{args:?}: {}",
            out.stderr()
        );
    }
    // The same run, a year and a bit ago: before the latest due time.
    let dir = only_run_dir(&t);
    backdate(&dir, 400);
    for args in [["list"], ["runs"]] {
        let out = t.run_args(args).expect_code(0);
        let err = out.stderr();
        assert!(
            err.contains(&format!(
                "warning: `yearly` missed: due {}",
                last_new_year()
            )),
            "{args:?}: {err}"
        );
        assert!(err.contains("; last run started "), "{args:?}: {err}");
    }
}

#[test]
fn list_without_a_scheduled_playbook_has_no_due_column() {
    let t = Test::new().file(
        "playbooks/plain.toml",
        "[playbook]\nname = \"plain\"\nversion = \"1.0.0\"\n\n[[steps]]\nid = \"a\"\nrun = \"true\"\n",
    );
    let out = t.run_args(["list"]).expect_code(0);
    assert!(
        out.stdout()
            .starts_with("NAME   VERSION  RTO  TITLE  TAGS\n"),
        "{}",
        out.stdout()
    );
}

fn runbook_exe() -> String {
    std::fs::canonicalize(assert_cmd::cargo::cargo_bin("runbook"))
        .expect("the binary")
        .display()
        .to_string()
}

fn playbooks_dir(t: &Test) -> String {
    std::fs::canonicalize(t.path().join("playbooks"))
        .expect("playbooks/")
        .display()
        .to_string()
}

#[test]
fn the_crontab_line_runs_the_playbook_as_a_routine_run() {
    let t = Test::new().file("playbooks/yearly.toml", &yearly("yearly"));
    let out = t
        .run_args(["schedule", "--format", "crontab"])
        .expect_code(0)
        .stdout();
    let expected_line = format!(
        "0 0 1 1 * {} --dir {} run yearly --mode routine",
        runbook_exe(),
        playbooks_dir(&t)
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        [
            "# runbook schedule --format crontab: routine runs at each playbook's schedule, in UTC",
            "CRON_TZ=UTC",
            "# yearly@1.0.0: Yearly 100% check",
            expected_line.as_str(),
        ]
    );
    // What cron would run, run from somewhere else: a routine run in the playbook's runs root.
    let command: Vec<&str> = expected_line.split(' ').skip(5).collect();
    let status = Command::new("sh")
        .args(["-c", &command.join(" ")])
        .current_dir(std::env::temp_dir())
        .env_remove("RUNBOOK_RUNS")
        .env_remove("RUNBOOK_PATH")
        .status()
        .expect("sh runs");
    assert!(status.success());
    let runs: Value = serde_json::from_str(
        &t.run_args(["runs", "--format", "json", "--mode", "routine"])
            .expect_code(0)
            .stdout(),
    )
    .expect("JSON");
    assert_eq!(runs["runs"][0]["playbook"], "yearly");
    assert_eq!(runs["runs"][0]["status"], "ok");
}

/// Splits `runbook schedule --format systemd` at its `### FILE` lines into `dir`.
fn write_units(text: &str, dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut current: Option<(PathBuf, String)> = None;
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("### ") {
            files.extend(current.take().map(|(path, body)| {
                std::fs::write(&path, body).expect("write a unit");
                path
            }));
            current = Some((dir.join(name), String::new()));
        } else if let Some((_, body)) = &mut current {
            body.push_str(line);
            body.push('\n');
        }
    }
    files.extend(current.map(|(path, body)| {
        std::fs::write(&path, body).expect("write a unit");
        path
    }));
    files
}

#[test]
fn systemd_units_pass_systemd_analyze_verify() {
    let t = Test::new()
        .file("playbooks/yearly.toml", &yearly("yearly"))
        .file(
            "playbooks/weekdays.toml",
            "[playbook]\nname = \"weekdays\"\nversion = \"1.0.0\"\nschedule = \"*/30 6-7 13 * mon-fri\"\n\n[[steps]]\nid = \"a\"\nrun = \"true\"\n",
        );
    let out = t
        .run_args(["schedule", "--format", "systemd"])
        .expect_code(0)
        .stdout();
    let units = tempfile::tempdir().expect("temp dir");
    let files = write_units(&out, units.path());
    let names: Vec<String> = files
        .iter()
        .map(|f| {
            f.file_name()
                .expect("a name")
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(
        names,
        [
            "runbook-weekdays.service",
            "runbook-weekdays.timer",
            "runbook-yearly.service",
            "runbook-yearly.timer"
        ]
    );
    let service =
        std::fs::read_to_string(units.path().join("runbook-yearly.service")).expect("unit");
    assert!(
        service.contains(&format!(
            "ExecStart={} --dir {} run yearly --mode routine\n",
            runbook_exe(),
            playbooks_dir(&t)
        )),
        "{service}"
    );
    assert!(
        service.contains("Description=runbook: routine run of yearly: Yearly 100%% check\n"),
        "{service}"
    );
    let timer = std::fs::read_to_string(units.path().join("runbook-weekdays.timer")).expect("unit");
    assert!(
        timer.contains("OnCalendar=*-*-13 06,07:00,30:00 UTC\nOnCalendar=Mon,Tue,Wed,Thu,Fri *-*-* 06,07:00,30:00 UTC\n"),
        "{timer}"
    );
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipped: systemd-analyze is not installed, the units were not verified");
        return;
    }
    let verify = Command::new("systemd-analyze")
        .arg("verify")
        .args(&files)
        .output()
        .expect("systemd-analyze runs");
    assert!(
        verify.status.success(),
        "systemd-analyze verify: {}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
}

#[test]
fn the_kubernetes_manifest_is_a_cronjob_running_a_routine_run() {
    let t = Test::new().file("playbooks/yearly.toml", &yearly("yearly"));
    let out = t
        .run_args([
            "schedule",
            "yearly",
            "--format",
            "kubernetes",
            "--image",
            "registry.example/runbook:0.1 \"quoted\"",
        ])
        .expect_code(0)
        .stdout();
    assert!(out.contains("\nkind: CronJob\n"), "{out}");
    let has_yaml = Command::new("python3")
        .args(["-c", "import yaml"])
        .status()
        .is_ok_and(|s| s.success());
    if !has_yaml {
        eprintln!("skipped: python3 with PyYAML is not installed, the manifest was not parsed");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("cronjob.yaml");
    std::fs::write(&path, &out).expect("write");
    let parsed = Command::new("python3")
        .args([
            "-c",
            "import json, sys, yaml; print(json.dumps(list(yaml.safe_load_all(open(sys.argv[1])))))",
        ])
        .arg(&path)
        .output()
        .expect("python3 runs");
    assert!(
        parsed.status.success(),
        "{}",
        String::from_utf8_lossy(&parsed.stderr)
    );
    let docs: Value = serde_json::from_slice(&parsed.stdout).expect("JSON");
    let docs = docs.as_array().expect("documents");
    assert_eq!(docs.len(), 1, "{docs:?}");
    let job = &docs[0];
    assert_eq!(job["kind"], "CronJob");
    assert_eq!(job["apiVersion"], "batch/v1");
    assert_eq!(job["metadata"]["name"], "runbook-yearly");
    assert_eq!(job["spec"]["schedule"], "0 0 1 1 *");
    assert_eq!(job["spec"]["timeZone"], "Etc/UTC");
    let container = &job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        container["image"],
        "registry.example/runbook:0.1 \"quoted\""
    );
    assert_eq!(
        container["command"],
        serde_json::json!(["runbook", "run", "yearly", "--mode", "routine"])
    );
}

#[test]
fn schedule_refuses_what_it_cannot_write() {
    let t = Test::new()
        .file("playbooks/yearly.toml", &yearly("yearly"))
        .file(
            "playbooks/plain.toml",
            "[playbook]\nname = \"plain\"\nversion = \"1.0.0\"\n\n[[steps]]\nid = \"a\"\nrun = \"true\"\n",
        );
    let err = t
        .run_args(["schedule", "--format", "kubernetes"])
        .expect_code(2)
        .stderr();
    assert!(
        err.contains("`--format kubernetes` needs `--image IMAGE`"),
        "{err}"
    );
    let err = t
        .run_args(["schedule", "--format", "crontab", "--image", "x"])
        .expect_code(2)
        .stderr();
    assert!(
        err.contains("`--image` is only for `--format kubernetes`"),
        "{err}"
    );
    let err = t
        .run_args(["schedule", "plain", "--format", "crontab"])
        .expect_code(2)
        .stderr();
    assert!(
        err.contains("`plain` has no schedule: add `schedule = \"0 2 * * *\"`"),
        "{err}"
    );
    let none = Test::new()
        .file(
            "playbooks/plain.toml",
            "[playbook]\nname = \"plain\"\nversion = \"1.0.0\"\n\n[[steps]]\nid = \"a\"\nrun = \"true\"\n",
        )
        .run_args(["schedule", "--format", "systemd"])
        .expect_code(0);
    assert_eq!(none.stdout(), "");
    assert!(
        none.stderr()
            .contains("no playbook with a `schedule` found"),
        "{}",
        none.stderr()
    );
}
