//! `Scenario`: a scratch folder in which the shipped playbooks of `playbooks/` run through the
//! real binary, each run in its own folder, and `Outcome`: what one run left (exit code, the
//! journal, the report, the logs), read the way an operator would.

use std::cell::Cell;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::s3::AWS_ENV;
use super::tools;
use crate::util::{Run, Test, root};

/// A file of `tests/fixtures/dr/`.
pub(crate) fn fixture(name: &str) -> PathBuf {
    root().join("tests/fixtures/dr").join(name)
}

/// A shipped playbook, by name.
pub(crate) fn playbook(name: &str) -> PathBuf {
    root().join("playbooks").join(format!("{name}.toml"))
}

/// A scratch folder with its own runs root, so that tests running the same playbook at the
/// same time do not meet in its lock.
pub(crate) struct Scenario {
    test: Test,
    runs: Cell<usize>,
}

impl Scenario {
    pub(crate) fn new() -> Self {
        let test = Test::new();
        let runs_root = test.path().join("runs");
        let path = tools::path_for_playbooks();
        let mut test = test
            .env(
                "RUNBOOK_RUNS",
                runs_root.to_str().expect("a UTF-8 temp path"),
            )
            .env("PATH", path.to_str().expect("a UTF-8 PATH"))
            .env("PGCONNECT_TIMEOUT", "10");
        for (k, v) in AWS_ENV {
            test = test.env(k, v);
        }
        Self {
            test,
            runs: Cell::new(0),
        }
    }

    /// Adds an environment variable to every run.
    pub(crate) fn env(mut self, key: &str, value: &str) -> Self {
        self.test = self.test.env(key, value);
        self
    }

    /// Every file of the scratch folder (runs, backups, logs) that contains `needle`: a secret
    /// must appear in none.
    pub(crate) fn files_containing(&self, needle: &str) -> Vec<PathBuf> {
        Self::files_in_containing(self.test.path(), needle)
    }

    /// Every file under `dir` that contains `needle`.
    pub(crate) fn files_in_containing(dir: &Path, needle: &str) -> Vec<PathBuf> {
        fn walk(dir: &Path, needle: &[u8], found: &mut Vec<PathBuf>) {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, needle, found);
                } else if std::fs::read(&path)
                    .is_ok_and(|bytes| bytes.windows(needle.len()).any(|w| w == needle))
                {
                    found.push(path);
                }
            }
        }
        let mut found = Vec::new();
        walk(dir, needle.as_bytes(), &mut found);
        found
    }

    /// An absolute path inside the scratch folder (not created).
    pub(crate) fn path(&self, relative: &str) -> PathBuf {
        self.test.path().join(relative)
    }

    /// An absolute path inside the scratch folder, as a `--var` value.
    pub(crate) fn var_path(&self, relative: &str) -> String {
        self.path(relative)
            .to_str()
            .expect("a UTF-8 temp path")
            .to_owned()
    }

    /// `runbook run playbooks/NAME.toml --out <scratch>/runs/<n>-NAME ARGS`: a run of the
    /// scenario's runs root (known by its journal, whatever the folder is called), so that the
    /// `history` probes, `runs` and the reports' comparisons of later runs count it.
    pub(crate) fn run<S: AsRef<str>>(&self, name: &str, args: &[S]) -> Outcome {
        let (all, folder) = self.command(name, args);
        Outcome {
            run: self.test.run_args(all),
            folder,
        }
    }

    /// [`Self::run`] started in the background, for a test that interrupts it.
    pub(crate) fn spawn<S: AsRef<str>>(&self, name: &str, args: &[S]) -> Running {
        let (all, folder) = self.command(name, args);
        Running {
            child: self.test.spawn_args(&all),
            folder,
        }
    }

    fn command<S: AsRef<str>>(&self, name: &str, args: &[S]) -> (Vec<String>, PathBuf) {
        let n = self.runs.get() + 1;
        self.runs.set(n);
        let folder = self.path(&format!("runs/{n}-{name}"));
        let mut all: Vec<String> = vec![
            "run".into(),
            playbook(name).to_str().expect("a UTF-8 path").into(),
            "--out".into(),
            folder.to_str().expect("a UTF-8 temp path").into(),
        ];
        all.extend(args.iter().map(|a| a.as_ref().to_owned()));
        (all, folder)
    }
}

/// A run going on in the background.
pub(crate) struct Running {
    child: std::process::Child,
    folder: PathBuf,
}

impl Running {
    /// Waits (up to a minute) until a `step_started` of `step` is in the journal.
    #[track_caller]
    pub(crate) fn wait_for_step(&self, step: &str) {
        let journal = self.folder.join("journal.jsonl");
        let started = crate::support::wait_until(std::time::Duration::from_secs(60), || {
            std::fs::read_to_string(&journal).is_ok_and(|text| {
                text.lines().any(|l| {
                    serde_json::from_str::<Value>(l)
                        .is_ok_and(|e| e["event"] == "step_started" && e["step"] == step)
                })
            })
        });
        assert!(started, "`{step}` never started");
    }

    /// Sends `signal` to runbook.
    pub(crate) fn signal(&self, signal: nix::sys::signal::Signal) {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.child.id()).expect("a pid"));
        nix::sys::signal::kill(pid, signal).expect("runbook is alive");
    }

    /// Waits (up to two minutes) for runbook to exit; what it left.
    #[track_caller]
    pub(crate) fn finish(mut self) -> Outcome {
        let exited = crate::support::wait_until(std::time::Duration::from_secs(120), || {
            self.child.try_wait().is_ok_and(|s| s.is_some())
        });
        if !exited {
            let _ = self.child.kill();
        }
        let output = self.child.wait_with_output().expect("runbook's output");
        assert!(exited, "runbook did not exit");
        Outcome {
            run: Run(output),
            folder: self.folder,
        }
    }
}

/// `--var k=v` pairs.
pub(crate) fn vars(pairs: &[(&str, &str)]) -> Vec<String> {
    pairs
        .iter()
        .flat_map(|(k, v)| ["--var".to_owned(), format!("{k}={v}")])
        .collect()
}

/// What one run left behind.
pub(crate) struct Outcome {
    run: Run,
    folder: PathBuf,
}

impl Outcome {
    /// Asserts the exit code; on a mismatch shows both streams and the logs of failed steps.
    #[track_caller]
    pub(crate) fn expect_code(self, code: i32) -> Self {
        if self.run.code() != code {
            let mut logs = String::new();
            for entry in std::fs::read_dir(self.folder.join("logs"))
                .into_iter()
                .flatten()
                .flatten()
            {
                let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
                let _ = writeln!(logs, "--- {}\n{text}", entry.path().display());
            }
            panic!(
                "exit code {} instead of {code}\n--- stdout\n{}\n--- stderr\n{}\n{logs}",
                self.run.code(),
                self.run.stdout(),
                self.run.stderr()
            );
        }
        assert!(
            !self.run.stderr().contains("panicked"),
            "runbook panicked:\n{}",
            self.run.stderr()
        );
        self
    }

    pub(crate) fn stdout(&self) -> String {
        self.run.stdout()
    }

    pub(crate) fn stderr(&self) -> String {
        self.run.stderr()
    }

    pub(crate) fn folder(&self) -> &Path {
        &self.folder
    }

    /// Every event of `journal.jsonl`.
    pub(crate) fn journal(&self) -> Vec<Value> {
        std::fs::read_to_string(self.folder.join("journal.jsonl"))
            .expect("journal.jsonl in the run folder")
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect()
    }

    /// The journal's events named `event`, in order.
    pub(crate) fn events(&self, event: &str) -> Vec<Value> {
        self.journal()
            .into_iter()
            .filter(|e| e["event"] == event)
            .collect()
    }

    /// The `step_finished` event of `step`.
    #[track_caller]
    pub(crate) fn finished(&self, step: &str) -> Value {
        self.events("step_finished")
            .into_iter()
            .find(|e| e["step"] == step)
            .unwrap_or_else(|| panic!("no step_finished for `{step}`"))
    }

    /// The final status of `step` (`ok`, `failed`, `skipped`, `rolled_back`, …); a step whose
    /// rollback ran is `rolled_back`, as in the report.
    #[track_caller]
    pub(crate) fn status(&self, step: &str) -> String {
        let rolled_back = self
            .events("rollback_finished")
            .iter()
            .any(|e| e["step"] == step);
        if rolled_back {
            return "rolled_back".to_owned();
        }
        self.finished(step)["status"]
            .as_str()
            .expect("a status")
            .to_owned()
    }

    /// Whether `step` was ever started.
    pub(crate) fn started(&self, step: &str) -> bool {
        self.events("step_started")
            .iter()
            .any(|e| e["step"] == step)
    }

    /// An output of a finished step.
    #[track_caller]
    pub(crate) fn output(&self, step: &str, name: &str) -> String {
        let finished = self.finished(step);
        finished["outputs"][name]
            .as_str()
            .unwrap_or_else(|| panic!("no output `{name}` of `{step}`: {finished}"))
            .to_owned()
    }

    /// The `run_finished` event.
    #[track_caller]
    pub(crate) fn run_finished(&self) -> Value {
        self.events("run_finished")
            .pop()
            .expect("a run_finished event")
    }

    /// `report.md`.
    pub(crate) fn report(&self) -> String {
        std::fs::read_to_string(self.folder.join("report.md")).expect("report.md in the run folder")
    }

    /// The row of the report's outcome table for `objective` (`RTO`, `RPO`).
    #[track_caller]
    pub(crate) fn objective_row(&self, objective: &str) -> String {
        let report = self.report();
        report
            .lines()
            .find(|l| l.starts_with(&format!("| {objective} |")))
            .unwrap_or_else(|| panic!("no {objective} row in the report:\n{report}"))
            .to_owned()
    }

    /// The log of `step` (every attempt, and its rollback).
    pub(crate) fn log(&self, step: &str) -> String {
        std::fs::read_to_string(self.folder.join(format!("logs/{step}.log"))).unwrap_or_default()
    }
}
