//! Working as a team (#17): a run without a terminal waits for `runbook approve` / `decline`
//! from a second process; `confirm_timeout`; the two-person rule with real OS users (made with
//! `useradd` for the test, as root); `runbook watch`; `--ticket`.

mod answers;
mod two_person;
mod validate;
mod watch;

use std::path::{Path, PathBuf};
use std::process::{Child, Output};
use std::time::Duration;

use serde_json::Value;

use crate::support::wait_until;
use crate::util::{Test, journal, playbook, runbook, spawn};

/// Far longer than anything here takes: only a hang waits it out.
const LONG: Duration = Duration::from_secs(60);

/// `first` (with a rollback), then `gate`, which needs a `confirm` (and has a rollback it must
/// never run), then `last`; `extra` goes in `[playbook]`, `confirm` is the gate's.
fn gated(extra: &str, confirm: &str) -> String {
    playbook(
        "gated",
        &format!(
            r#"{extra}
[[steps]]
id = "first"
run = "echo one"
rollback = "echo undo-first"

[[steps]]
id = "gate"
needs = ["first"]
confirm = {confirm}
run = "echo gated"
rollback = "echo undo-gate"
on_failure = "rollback"

[[steps]]
id = "last"
needs = ["gate"]
run = "echo last"
"#
        ),
    )
}

/// The OS user this test runs as, as `id -un` prints it.
fn id_un() -> String {
    let out = std::process::Command::new("id")
        .arg("-un")
        .output()
        .expect("id runs");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Starts `runbook run p.toml --out out` with `args`, no stdin, in the test's folder.
fn start(t: &Test, args: &[&str]) -> Child {
    let mut all = vec!["run", "p.toml", "--out", "out"];
    all.extend_from_slice(args);
    spawn(t.path(), &all)
}

/// The events of the journal in `dir`, or none while it is not there.
fn events(dir: &Path) -> Vec<Value> {
    if dir.join("journal.jsonl").is_file() {
        journal(dir)
    } else {
        Vec::new()
    }
}

/// Waits until the run in `dir` waits for `runbook approve` at `step`.
#[track_caller]
fn wait_for_request(dir: &Path, step: &str) {
    assert!(
        wait_until(LONG, || events(dir)
            .iter()
            .any(|e| e["event"] == "approval_waiting" && e["step"] == step)),
        "the run never waited for step {step}: {:#?}",
        events(dir)
    );
}

/// Waits for the run to exit; its output.
fn finish(child: Child) -> Output {
    child.wait_with_output().expect("the run ends")
}

/// `runbook ARGS` in `dir`, no stdin.
fn cli(dir: &Path, args: &[&str]) -> Output {
    runbook()
        .args(args)
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("runbook runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[track_caller]
fn expect(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "--- stdout\n{}\n--- stderr\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(!text(&out.stderr).contains("panicked"));
}

/// The events of `kind` in `events`.
fn of<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["event"] == kind).collect()
}

/// The run folder of a test that ran `p.toml --out out`.
fn out(t: &Test) -> PathBuf {
    t.path().join("out")
}
