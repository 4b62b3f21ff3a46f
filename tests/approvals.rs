//! Approvals, signals and durations (v2.md section 0, rules 1, 3 and 8): a step that never
//! started has nothing to undo, SIGHUP and a signal at a prompt interrupt at once, and a step's
//! duration is its execution, not its approval wait. Prompts run on a real terminal (util-linux
//! `script` gives runbook a pty).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::support::wait_until;
use crate::util::{Test, journal, playbook};

/// Far longer than any of these runs takes; only a failing test waits it out.
const LIMIT: Duration = Duration::from_secs(60);

fn events<'a>(journal: &'a [Value], name: &str) -> Vec<&'a Value> {
    journal.iter().filter(|e| e["event"] == name).collect()
}

fn finished<'a>(journal: &'a [Value], step: &str) -> &'a Value {
    journal
        .iter()
        .rev()
        .find(|e| e["event"] == "step_finished" && e["step"] == step)
        .unwrap_or_else(|| panic!("no step_finished for `{step}`: {journal:#?}"))
}

fn runbook(dir: &Path) -> Command {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("runbook"));
    cmd.current_dir(dir)
        .env_remove("RUNBOOK_PATH")
        .env_remove("RUNBOOK_RUNS")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd
}

// See: #11
#[test]
fn sighup_interrupts_the_run_stops_the_step_and_writes_the_report() {
    let text = playbook(
        "hup",
        "[[steps]]\nid = \"long\"\nrun = \"echo $$ > ../long.pid; echo started; sleep 600\"\n",
    );
    let t = Test::new().file("p.toml", &text);
    let mut child = runbook(t.path())
        .args(["run", "p.toml", "--out", "out"])
        .spawn()
        .expect("runbook starts");
    let pid_file = t.path().join("long.pid");
    let log = t.path().join("out/logs/long.log");
    let started = wait_until(LIMIT, || {
        std::fs::read_to_string(&log).is_ok_and(|l| l.contains("started"))
            && std::fs::read_to_string(&pid_file).is_ok_and(|p| p.trim().parse::<i32>().is_ok())
    });
    if !started {
        let _ = child.kill();
        let _ = child.wait();
        panic!("the step never started");
    }
    let runner = nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid"));
    nix::sys::signal::kill(runner, nix::sys::signal::Signal::SIGHUP).expect("SIGHUP");
    let mut status = None;
    let ended = wait_until(LIMIT, || {
        status = child.try_wait().expect("try_wait");
        status.is_some()
    });
    if !ended {
        let _ = child.kill();
        let _ = child.wait();
        panic!("runbook did not stop after SIGHUP");
    }
    assert_eq!(status.and_then(|s| s.code()), Some(130), "{status:?}");
    let run_dir = t.path().join("out");
    let journal = journal(&run_dir);
    let interrupted = events(&journal, "run_interrupted");
    assert_eq!(interrupted.len(), 1, "{journal:#?}");
    assert_eq!(interrupted[0]["signal"], "SIGHUP");
    assert_eq!(finished(&journal, "long")["status"], "cancelled");
    assert!(run_dir.join("report.md").is_file(), "the report is written");
    let group: i32 = std::fs::read_to_string(&pid_file)
        .expect("pid")
        .trim()
        .parse()
        .expect("a pid");
    assert!(
        wait_until(LIMIT, || live_in_group(group) == 0),
        "the step's process group is gone"
    );
}

/// Processes of process group `pgid` that are not zombies (a zombie waits for a parent that
/// may not reap it, here, but runs nothing).
fn live_in_group(pgid: i32) -> usize {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter(|stat| {
            // `pid (comm) state ppid pgrp …`; comm may hold spaces, so read after its `)`.
            let Some((_, rest)) = stat.rsplit_once(')') else {
                return false;
            };
            let fields: Vec<&str> = rest.split_whitespace().collect();
            fields.len() > 2 && fields[0] != "Z" && fields[2] == pgid.to_string()
        })
        .count()
}
