//! Timeouts and interrupts: whole process groups die, grandchildren included, and the run ends
//! with the right code and a complete record.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::{Test, playbook};

/// A grandchild that ignores TERM and writes its pid.
const STUBBORN: &str = r#"sh -c 'trap "" TERM INT; echo $$ > grandchild.pid; sleep 60' & sleep 60"#;

/// Gone, or a zombie waiting to be reaped (this machine's init reaps slowly): not running.
fn is_dead(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with(['Z', 'X'])),
    }
}

fn pid_in(dir: &Path) -> u32 {
    let path = dir.join("grandchild.pid");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(text) = std::fs::read_to_string(&path)
            && let Ok(pid) = text.trim().parse()
        {
            return pid;
        }
        assert!(Instant::now() < deadline, "the step never started");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_timeout_kills_the_whole_process_group() {
    let text = playbook(
        "timeout",
        &format!("[[steps]]\nid = \"hang\"\nrun = \"\"\"{STUBBORN}\"\"\"\ntimeout = \"1s\"\n"),
    );
    let t = Test::new().file("p.toml", &text);
    let run = t
        .run_args(["run", "p.toml", "--out", "out", "--json"])
        .expect_code(1);
    let pid = pid_in(&t.path().join("out"));
    assert!(
        is_dead(pid),
        "the grandchild {pid} that ignores TERM is still running"
    );
    let events: Vec<serde_json::Value> = run
        .stdout()
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    let attempt = events
        .iter()
        .find(|e| e["event"] == "step_attempt_finished")
        .expect("an attempt");
    assert_eq!(attempt["exit"]["kind"], "timed_out");
    assert_eq!(attempt["reason"], "timed out after 1s");
    let checked = events
        .iter()
        .find(|e| e["event"] == "process_group_checked")
        .expect("the group is checked");
    assert_eq!(checked["empty"], true);
}

#[test]
fn sigint_stops_the_run_with_130_and_leaves_no_process() {
    let text = playbook(
        "interrupt",
        &format!(
            "[[steps]]\nid = \"hang\"\nrun = \"\"\"{STUBBORN}\"\"\"\n[[steps]]\nid = \"next\"\nneeds = [\"hang\"]\nrun = \"touch next-ran\"\n"
        ),
    );
    let t = Test::new().file("p.toml", &text);
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("runbook"))
        .args(["run", "p.toml", "--out", "out", "--json"])
        .current_dir(t.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("runbook starts");
    let pid = pid_in(&t.path().join("out"));
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let sent = Instant::now();
    let output = loop {
        if child.try_wait().expect("wait").is_some() {
            break child.wait_with_output().expect("output");
        }
        assert!(
            sent.elapsed() < Duration::from_secs(30),
            "runbook did not exit after SIGINT"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(
        output.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(is_dead(pid), "the grandchild {pid} survived the interrupt");
    assert!(
        !t.path().join("out/next-ran").exists(),
        "no new step starts after an interrupt"
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains(r#""event":"run_interrupted""#), "{stdout}");
    assert!(stdout.contains(r#""status":"cancelled""#), "{stdout}");
    assert!(
        stdout.contains(r#""event":"run_finished""#)
            && stdout.contains(r#""status":"interrupted""#),
        "{stdout}"
    );
}
