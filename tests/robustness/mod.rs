//! Reading input safely (#11, rules 9 to 11): one runs root per playbook file however its path
//! is spelled, flags naming steps checked before anything runs, and reading that never hangs,
//! never panics and takes linear time; mutated playbooks through the library, and the inputs
//! that once crashed kept as fixtures.

mod fuzz;
mod panics;
mod reading;
mod regressions;
mod runs_root;
mod step_flags;

use std::process::{Child, Command, Output};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use crate::util::spawn;

/// Far longer than any command here takes; only a hang waits it out.
const HANG: Duration = Duration::from_secs(60);

/// Waits for `child` up to `limit` (generous: only a hang waits it out), reading its output
/// meanwhile; a child still running then is killed, and the test fails naming what hung.
fn finish_within(child: Child, limit: Duration, what: &str) -> Output {
    let pid = child.id();
    let (done, finished) = mpsc::channel();
    thread::spawn(move || {
        let _ = done.send(child.wait_with_output());
    });
    if let Ok(output) = finished.recv_timeout(limit) {
        return output.expect("runbook's output");
    }
    // Only the process this test started, by its id.
    let _ = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status();
    panic!("`runbook {what}` still ran after {limit:?}: it hangs");
}

/// Every `error:` line of a diagnostic output starts with `FILE:LINE:COL:`, or is the closing
/// summary (`error: 1 error in 1 playbook`).
fn assert_located(stderr: &str, file: &str) {
    let errors: Vec<&str> = stderr.lines().filter(|l| l.contains("error: ")).collect();
    assert!(!errors.is_empty(), "no error in:\n{stderr}");
    for line in errors {
        if line.starts_with("error: ") {
            assert!(
                line.contains(" in 1 playbook"),
                "an error without a position:\n{stderr}"
            );
            continue;
        }
        let rest = line
            .strip_prefix(&format!("{file}:"))
            .unwrap_or_else(|| panic!("not at {file}: {line}\n{stderr}"));
        let mut parts = rest.splitn(3, ':');
        let (l, c) = (parts.next(), parts.next());
        assert!(
            l.is_some_and(|l| l.parse::<usize>().is_ok())
                && c.is_some_and(|c| c.parse::<usize>().is_ok()),
            "not FILE:LINE:COL: {line}"
        );
    }
}
