//! A small builder for running the real binary in a scratch folder.

use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;

/// The repository root, where `playbooks/` and `tests/fixtures/` live.
pub(crate) fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The real binary as a plain process (for tests that spawn, signal or kill it), without the
/// environment that would redirect it.
pub(crate) fn runbook() -> std::process::Command {
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("runbook"));
    cmd.env_remove("RUNBOOK_PATH")
        .env_remove("RUNBOOK_RUNS")
        .env("NO_COLOR", "1");
    cmd
}

/// The binary started in `dir` with `args`, stdin closed and its output piped.
pub(crate) fn spawn(dir: &Path, args: &[&str]) -> std::process::Child {
    spawn_with_env(dir, args, &[])
}

/// [`spawn`] with extra environment variables.
pub(crate) fn spawn_with_env(
    dir: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> std::process::Child {
    use std::process::Stdio;
    let mut cmd = runbook();
    cmd.envs(env.iter().copied())
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd.spawn().expect("runbook starts")
}

/// The run folders (those with a journal) under a runs root, sorted; none when it is missing.
pub(crate) fn run_folders(root: &Path) -> Vec<PathBuf> {
    let mut folders: Vec<PathBuf> = std::fs::read_dir(root)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    folders.retain(|p| p.join("journal.jsonl").is_file());
    folders.sort();
    folders
}

/// How many lines a file has; 0 when it does not exist.
pub(crate) fn count_lines(path: &Path) -> usize {
    std::fs::read_to_string(path).map_or(0, |t| t.lines().count())
}

/// A run of `runbook` in a fresh temporary folder.
pub(crate) struct Test {
    /// Holds the scratch folder, which is `work/` inside it: a playbook written at the top of
    /// the scratch folder has its runs root (`runs/` in the parent of the playbook's folder)
    /// inside the temporary folder too, not in the shared system temp dir.
    dir: tempfile::TempDir,
    work: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    cwd: Option<PathBuf>,
}

impl Drop for Test {
    /// Ends every process a step of this test started that is still alive (a test that kills
    /// runbook with SIGKILL leaves its step running, as nothing can stop it then), before the
    /// folder goes: a step waiting for a file in it would otherwise wait for ever.
    fn drop(&mut self) {
        kill_leftovers(self.dir.path());
    }
}

/// Kills (SIGKILL) the processes whose `RUNBOOK_RUN_DIR` is under `dir`, found in `/proc`.
pub(crate) fn kill_leftovers(dir: &Path) {
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return;
    };
    for entry in procs.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(environ) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        let under = environ
            .split(|&b| b == 0)
            .filter_map(|var| var.strip_prefix(b"RUNBOOK_RUN_DIR="))
            .any(|run_dir| Path::new(std::ffi::OsStr::from_bytes(run_dir)).starts_with(dir));
        if under {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

impl Test {
    pub(crate) fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let work = dir.path().join("work");
        std::fs::create_dir(&work).expect("mkdir work");
        Self {
            dir,
            work,
            args: Vec::new(),
            env: Vec::new(),
            cwd: None,
        }
    }

    /// Writes a file (relative to the scratch folder), creating parent folders.
    pub(crate) fn file(self, relative: &str, text: &str) -> Self {
        let path = self.work.join(relative);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
        self
    }

    pub(crate) fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub(crate) fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Runs from the repository root instead of the scratch folder.
    pub(crate) fn in_repo(mut self) -> Self {
        self.cwd = Some(root().to_path_buf());
        self
    }

    pub(crate) fn path(&self) -> &Path {
        &self.work
    }

    /// Where a playbook written at the top of [`Self::path`] keeps its runs.
    pub(crate) fn runs_root(&self) -> PathBuf {
        self.dir.path().join("runs")
    }

    /// Runs with these arguments (after any given with `args`), keeping the scratch folder.
    pub(crate) fn run_args<I, S>(&self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut all = self.args.clone();
        all.extend(args.into_iter().map(Into::into));
        self.command(&all)
    }

    pub(crate) fn run(&self) -> Run {
        self.command(&self.args)
    }

    /// Starts the binary with these arguments, the builder's environment and folder, stdin
    /// closed and its output piped, for a test that signals it.
    pub(crate) fn spawn_args(&self, args: &[String]) -> std::process::Child {
        use std::process::Stdio;
        let mut cmd = runbook();
        cmd.current_dir(self.cwd.as_deref().unwrap_or(&self.work));
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd.args(&self.args)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd.spawn().expect("runbook starts")
    }

    fn command(&self, args: &[String]) -> Run {
        let mut cmd = Command::cargo_bin("runbook").expect("the runbook binary is built");
        cmd.current_dir(self.cwd.as_deref().unwrap_or(&self.work));
        cmd.env_remove("RUNBOOK_PATH")
            .env_remove("RUNBOOK_RUNS")
            .env("NO_COLOR", "1");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd.args(args);
        Run(cmd.output().expect("runbook runs"))
    }
}

/// What a run left: exit code, stdout, stderr.
pub(crate) struct Run(pub(crate) Output);

impl Run {
    pub(crate) fn code(&self) -> i32 {
        self.0.status.code().expect("runbook exited, not killed")
    }

    pub(crate) fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.0.stdout).into_owned()
    }

    pub(crate) fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.0.stderr).into_owned()
    }

    /// The `--json` events a run printed, one object a line.
    pub(crate) fn events(&self) -> Vec<serde_json::Value> {
        json_lines(&self.stdout())
    }

    /// Asserts the exit code, showing both streams when it differs.
    #[track_caller]
    pub(crate) fn expect_code(self, code: i32) -> Self {
        assert_eq!(
            self.code(),
            code,
            "unexpected exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout(),
            self.stderr()
        );
        assert!(
            !self.stderr().contains("panicked"),
            "runbook panicked:\n{}",
            self.stderr()
        );
        self
    }
}

/// A minimal valid playbook with the given extra TOML after `[playbook]` and steps.
pub(crate) fn playbook(name: &str, body: &str) -> String {
    format!("[playbook]\nname = \"{name}\"\nversion = \"1.0.0\"\n{body}")
}

/// One JSON object per line, each line named if it does not parse.
pub(crate) fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// The events of a run folder's `journal.jsonl`.
pub(crate) fn journal(run_dir: &Path) -> Vec<serde_json::Value> {
    let path = run_dir.join("journal.jsonl");
    json_lines(
        &std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
}

/// The events of a run folder's journal so far: none while it does not exist yet.
pub(crate) fn journal_or_empty(run_dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(run_dir.join("journal.jsonl"))
        .map(|t| {
            t.lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect()
        })
        .unwrap_or_default()
}

/// The first `step_finished` of `step` among `events` (a journal, or `--json` lines).
pub(crate) fn finished<'a>(events: &'a [serde_json::Value], step: &str) -> &'a serde_json::Value {
    events
        .iter()
        .find(|e| e["event"] == "step_finished" && e["step"] == step)
        .unwrap_or_else(|| panic!("no step_finished for {step}: {events:#?}"))
}

/// `runbook ARGS` in the test's folder under `limits` (shell `ulimit` commands, such as
/// `ulimit -n 256`), with no stdin: its exit code, stdout and stderr.
pub(crate) fn run_limited(t: &Test, limits: &str, args: &str) -> std::process::Output {
    let bin = runbook().get_program().to_owned();
    std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{limits} && exec \"$0\" {args}"))
        .arg(&bin)
        .current_dir(t.path())
        .env("RUNBOOK_RUNS", t.runs_root())
        .stdin(std::process::Stdio::null())
        .output()
        .expect("sh runs")
}
