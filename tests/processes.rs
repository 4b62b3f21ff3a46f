//! Child processes: nothing a stopped step started outlives it, however it detached (`setsid`,
//! a double fork), while a daemon that a finished step started on purpose is left alone; and no
//! rendered command, with a secret a template inlined, shows in a process list.

use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;

use crate::support::{command_lines, marker, running_with, wait_until};
use crate::util::{Test, journal, playbook};

/// Generous bound for anything a test waits for; a passing test never waits it out.
const LIMIT: Duration = Duration::from_secs(60);

/// KILLs, when dropped, whatever still runs with one of the markers and the runner if it still
/// runs, so that a failing test leaves no process behind.
struct Cleanup {
    markers: Vec<String>,
    runner: Option<Child>,
}

impl Cleanup {
    fn new(markers: &[&String]) -> Self {
        Self {
            markers: markers.iter().map(|m| (*m).clone()).collect(),
            runner: None,
        }
    }

    /// Starts `runbook ARGS` in the test's folder; its output is discarded (the journal tells).
    fn spawn(&mut self, t: &Test, args: &[&str], env: &[(&str, &str)]) -> u32 {
        let child = Command::new(assert_cmd::cargo::cargo_bin("runbook"))
            .args(args)
            .envs(env.iter().copied())
            .current_dir(t.path())
            .env_remove("RUNBOOK_PATH")
            .env_remove("RUNBOOK_RUNS")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("runbook starts");
        let pid = child.id();
        self.runner = Some(child);
        pid
    }

    /// Waits (bounded) for the runner to exit.
    fn wait(&mut self) -> ExitStatus {
        let child = self.runner.as_mut().expect("a runner was started");
        let mut status = None;
        let exited = wait_until(LIMIT, || {
            status = child.try_wait().expect("wait for runbook");
            status.is_some()
        });
        assert!(exited, "runbook did not exit");
        status.expect("exited")
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(child) = self.runner.as_mut()
            && child.try_wait().ok().flatten().is_none()
        {
            let _ = child.kill();
            let _ = child.wait();
        }
        for marker in &self.markers {
            for pid in running_with(marker) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
    }
}

fn interrupt(pid: u32) {
    kill(
        Pid::from_raw(i32::try_from(pid).expect("a pid")),
        Signal::SIGINT,
    )
    .expect("runbook is alive");
}

/// The one `process_group_checked` event of `step` in the run folder's journal.
fn group_checked(run_dir: &Path, step: &str) -> Value {
    let checked: Vec<Value> = journal(run_dir)
        .into_iter()
        .filter(|e| e["event"] == "process_group_checked" && e["step"] == step)
        .collect();
    assert_eq!(checked.len(), 1, "{checked:?}");
    checked.into_iter().next().expect("one")
}

/// Fails naming the first of the script's processes (see [`escaping_script`]) still running.
fn assert_none_survive(setsid: &str, daemon: &str, own: &str) {
    for (what, marker) in [("setsid child", setsid), ("daemon", daemon), ("sleep", own)] {
        assert_eq!(
            running_with(marker),
            Vec::<i32>::new(),
            "the {what} survived"
        );
    }
}

/// Waits (bounded) until a process carrying each marker runs.
fn wait_for_all(markers: &[&str]) {
    let started = wait_until(LIMIT, || {
        markers.iter().all(|m| !running_with(m).is_empty())
    });
    assert!(started, "the step never started its processes");
}

/// A step that leaves its process group twice before it sleeps: a `setsid` child, and a
/// double-forked daemon in a session of its own, whose parent exits at once (so runbook, the
/// subreaper, adopts it). With `ignore_term`, all of them ignore TERM.
fn escaping_script(setsid: &str, daemon: &str, own: &str, ignore_term: bool) -> String {
    if ignore_term {
        format!(
            r"trap '' TERM
setsid sh -c 'sleep {setsid}; :' >/dev/null 2>&1 &
(setsid sh -c 'sleep {daemon}; :' >/dev/null 2>&1 &)
sleep {own}
echo never"
        )
    } else {
        format!(
            r"setsid sleep {setsid} >/dev/null 2>&1 &
(setsid sleep {daemon} >/dev/null 2>&1 &)
sleep {own}
echo never"
        )
    }
}

#[test]
fn a_timeout_kills_descendants_that_left_the_group_and_counts_them() {
    // See: #11
    let (setsid, daemon, own) = (marker(), marker(), marker());
    let _cleanup = Cleanup::new(&[&setsid, &daemon, &own]);
    let text = playbook(
        "escape",
        &format!(
            "[[steps]]\nid = \"hang\"\ntimeout = \"3s\"\nrun = \"\"\"\n{}\n\"\"\"\n",
            escaping_script(&setsid, &daemon, &own, false)
        ),
    );
    let t = Test::new().file("p.toml", &text);
    t.run_args(["run", "p.toml", "--out", "out"]).expect_code(1);
    assert_none_survive(&setsid, &daemon, &own);
    let checked = group_checked(&t.path().join("out"), "hang");
    assert_eq!(checked["empty"], true, "{checked}");
    // sh, its sleep, and the two that left the group.
    assert_eq!(checked["killed"], 4, "{checked}");
    assert_eq!(checked["detached"], 2, "{checked}");
}

#[test]
fn sigint_kills_descendants_that_left_the_group_and_counts_them() {
    // See: #11
    let (setsid, daemon, own) = (marker(), marker(), marker());
    let mut cleanup = Cleanup::new(&[&setsid, &daemon, &own]);
    let text = playbook(
        "escape",
        &format!(
            "[[steps]]\nid = \"hang\"\nrun = \"\"\"\n{}\n\"\"\"\n",
            escaping_script(&setsid, &daemon, &own, false)
        ),
    );
    let t = Test::new().file("p.toml", &text);
    let runner = cleanup.spawn(&t, &["run", "p.toml", "--out", "out"], &[]);
    wait_for_all(&[&setsid, &daemon, &own]);
    interrupt(runner);
    assert_eq!(cleanup.wait().code(), Some(130));
    assert_none_survive(&setsid, &daemon, &own);
    let checked = group_checked(&t.path().join("out"), "hang");
    assert_eq!(checked["empty"], true, "{checked}");
    assert_eq!(checked["killed"], 4, "{checked}");
    assert_eq!(checked["detached"], 2, "{checked}");
}

#[test]
fn a_second_sigint_kills_descendants_that_ignore_term_outside_the_group() {
    // See: #11
    let (setsid, daemon, own) = (marker(), marker(), marker());
    let mut cleanup = Cleanup::new(&[&setsid, &daemon, &own]);
    let text = playbook(
        "stubborn",
        &format!(
            "[[steps]]\nid = \"hang\"\nrun = \"\"\"\n{}\n\"\"\"\n",
            escaping_script(&setsid, &daemon, &own, true)
        ),
    );
    let t = Test::new().file("p.toml", &text);
    let runner = cleanup.spawn(&t, &["run", "p.toml", "--out", "out"], &[]);
    wait_for_all(&[&setsid, &daemon, &own]);
    interrupt(runner);
    let run_dir = t.path().join("out");
    let noticed = wait_until(LIMIT, || {
        std::fs::read_to_string(run_dir.join("journal.jsonl"))
            .is_ok_and(|j| j.contains(r#""event":"run_interrupted""#))
    });
    assert!(noticed, "the first SIGINT was not journaled");
    interrupt(runner);
    assert_eq!(cleanup.wait().code(), Some(130));
    assert_none_survive(&setsid, &daemon, &own);
    let checked = group_checked(&run_dir, "hang");
    assert_eq!(checked["empty"], true, "{checked}");
    // sh and its sleep; for each of the two that left the group, a sh and its sleep.
    assert_eq!(checked["killed"], 6, "{checked}");
    assert_eq!(checked["detached"], 4, "{checked}");
}

#[test]
fn a_daemon_started_by_a_step_that_ends_on_its_own_is_left_running() {
    // See: #11
    let (quiet, holding, own) = (marker(), marker(), marker());
    let _cleanup = Cleanup::new(&[&quiet, &holding, &own]);
    // One daemon detached from the output, one still holding it (a straggler outside the
    // group); then a later step times out, and its teardown must not reach the daemons.
    let text = playbook(
        "service",
        &format!(
            r#"[[steps]]
id = "start"
run = """
(setsid sleep {quiet} >/dev/null 2>&1 &)
(setsid sleep {holding} &)
echo started
"""
[[steps]]
id = "hang"
needs = ["start"]
timeout = "1s"
run = """
sleep {own}
echo never
"""
"#
        ),
    );
    let t = Test::new().file("p.toml", &text);
    t.run_args(["run", "p.toml", "--out", "out"]).expect_code(1);
    let run_dir = t.path().join("out");
    let start = journal(&run_dir)
        .into_iter()
        .find(|e| e["event"] == "step_finished" && e["step"] == "start")
        .expect("start finished");
    assert_eq!(start["status"], "ok", "{start}");
    assert_eq!(running_with(&quiet).len(), 1, "the daemon was killed");
    assert_eq!(
        running_with(&holding).len(),
        1,
        "the daemon holding the output was killed"
    );
    assert_eq!(
        running_with(&own),
        Vec::<i32>::new(),
        "the timed-out sleep survived"
    );
    let checked = group_checked(&run_dir, "hang");
    assert_eq!(checked["empty"], true, "{checked}");
    assert_eq!(checked["killed"], 2, "{checked}");
    assert_eq!(checked["detached"], 0, "{checked}");
}

/// A secret value unique to this test.
fn secret() -> String {
    format!("s3cret-{}", marker())
}

/// Every environment entry of a running process that contains `needle`, by pid.
fn environ_entries_with(needle: &str) -> Vec<(i32, String)> {
    command_lines()
        .into_iter()
        .filter_map(|(pid, _)| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .ok()
                .map(|e| (pid, e))
        })
        .flat_map(|(pid, environ)| {
            environ
                .split(|&b| b == 0)
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .filter(|v| v.contains(needle))
                .map(move |v| (pid, v))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Runs `text` (whose command writes `ready`, then waits for `go`), and while the command waits
/// checks every process's arguments and environment for `secret`.
fn assert_secret_stays_out_of_process_lists(text: &str, secret: &str) {
    let mut cleanup = Cleanup::new(&[]);
    let t = Test::new().file("p.toml", text);
    cleanup.spawn(
        &t,
        &["run", "p.toml", "--out", "out"],
        &[("RB_SECRET", secret)],
    );
    let run_dir = t.path().join("out");
    assert!(
        wait_until(LIMIT, || run_dir.join("ready").exists()),
        "the command never started"
    );
    let seen: Vec<(i32, Vec<String>)> = command_lines()
        .into_iter()
        .filter(|(_, args)| args.iter().any(|a| a.contains(secret)))
        .collect();
    // The runner's environment holds the secret, as the variable it is declared by, and every
    // command inherits it so that it can use `$RB_SECRET`; no other variable carries it.
    let environ = environ_entries_with(secret);
    std::fs::write(run_dir.join("go"), "").expect("write go");
    let status = cleanup.wait();
    assert_eq!(seen, Vec::new(), "the secret is in a process list");
    assert!(!environ.is_empty(), "the runner's environment was read");
    let expected = format!("RB_SECRET={secret}");
    for (pid, entry) in &environ {
        assert_eq!(
            entry, &expected,
            "process {pid} has the secret in its environment"
        );
    }
    assert_eq!(status.code(), Some(0));
}

/// Waits for `go`, bounded, after writing `ready`.
const HANDSHAKE: &str =
    "touch ready; i=0; while [ ! -e go ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done";

#[test]
fn a_secret_inlined_into_run_is_not_in_any_command_line() {
    // See: #11
    let secret = secret();
    let text = playbook(
        "inline",
        &format!(
            r#"secrets = ["RB_SECRET"]
[[steps]]
id = "inline"
run = """
printf '%s' '{{{{env.RB_SECRET}}}}' > /dev/null
{HANDSHAKE}
"""
"#
        ),
    );
    assert_secret_stays_out_of_process_lists(&text, &secret);
}

#[test]
fn a_secret_inlined_into_a_command_check_is_not_in_any_command_line() {
    // See: #11
    let secret = secret();
    let text = playbook(
        "probe",
        &format!(
            r#"secrets = ["RB_SECRET"]
[[steps]]
id = "probe"
check = {{ command = "printf '%s' '{{{{env.RB_SECRET}}}}' > /dev/null; {HANDSHAKE}; echo up", stdout_contains = "up", interval = "50ms", timeout = "2m" }}
"#
        ),
    );
    assert_secret_stays_out_of_process_lists(&text, &secret);
}
