//! Approvals, signals and durations (v2.md section 0, rules 1, 3 and 8): a step that never
//! started has nothing to undo, SIGHUP and a signal at a prompt interrupt at once, and a step's
//! duration is its execution, not its approval wait. Prompts run on a real terminal (util-linux
//! `script` gives runbook a pty).

use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::support::wait_until;
use crate::util::{Test, journal, playbook};

/// Far longer than any of these runs takes; only a failing test waits it out.
const LIMIT: Duration = Duration::from_secs(60);

/// `runbook ARGS` on a pty, typed at as the test goes; what it prints goes to a file, so a
/// chatty live view never fills a pipe nobody reads.
pub(crate) struct Terminal {
    child: Child,
    keys: Option<ChildStdin>,
    screen: PathBuf,
}

impl Terminal {
    /// Waits (bounded) until the run journaled its question and the prompt is on the screen.
    fn wait_for_prompt(&self, run_dir: &Path) {
        let asked = wait_until(LIMIT, || {
            journal_has(run_dir, "approval_requested") && self.screen().contains("[y/N]")
        });
        assert!(asked, "the prompt never showed:\n{}", self.screen());
    }

    pub(crate) fn open(dir: &Path, args: &str, env: &[(&str, &str)]) -> Self {
        let binary = assert_cmd::cargo::cargo_bin("runbook");
        let screen = dir.join("screen.txt");
        let mut cmd = Command::new("script");
        cmd.args(["-qec", &format!("{} {args}", binary.display()), "/dev/null"])
            .current_dir(dir)
            .env_remove("RUNBOOK_PATH")
            .env_remove("RUNBOOK_RUNS")
            .env("NO_COLOR", "1")
            .stdin(Stdio::piped())
            .stdout(File::create(&screen).expect("screen file"))
            .stderr(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect(
            "util-linux `script` is needed for terminal tests (apt-get install util-linux)",
        );
        let keys = child.stdin.take();
        Self {
            child,
            keys,
            screen,
        }
    }

    pub(crate) fn type_keys(&mut self, text: &str) {
        let keys = self.keys.as_mut().expect("the keyboard is still there");
        keys.write_all(text.as_bytes()).expect("type");
        keys.flush().expect("flush");
    }

    pub(crate) fn screen(&self) -> String {
        std::fs::read_to_string(&self.screen).unwrap_or_default()
    }

    /// Waits (bounded) for runbook to end with the keyboard still attached, so that it cannot
    /// end because its input closed; its exit code.
    pub(crate) fn wait(mut self) -> i32 {
        let mut status = None;
        let ended = wait_until(LIMIT, || {
            status = self.child.try_wait().expect("try_wait");
            status.is_some()
        });
        if !ended {
            let _ = self.child.kill();
            let _ = self.child.wait();
            panic!("runbook did not end within {LIMIT:?}:\n{}", self.screen());
        }
        drop(self.keys.take());
        status.and_then(|s| s.code()).expect("script exited")
    }

    /// Kills `script`, which closes the pty as a dropped SSH session does: the kernel hangs up
    /// the terminal and sends SIGHUP to runbook.
    fn hang_up(mut self) {
        self.child.kill().expect("kill script");
        let _ = self.child.wait();
    }

    /// Types `answers` and closes the keyboard, then waits (bounded) for the end.
    pub(crate) fn answer(mut self, answers: &str) -> i32 {
        self.type_keys(answers);
        drop(self.keys.take());
        self.wait()
    }
}

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

fn rolled_back(journal: &[Value]) -> Vec<&str> {
    events(journal, "rollback_started")
        .iter()
        .map(|e| e["step"].as_str().expect("step"))
        .collect()
}

fn journal_has(run_dir: &Path, event: &str) -> bool {
    std::fs::read_to_string(run_dir.join("journal.jsonl"))
        .is_ok_and(|t| t.contains(&format!("\"event\":\"{event}\"")))
}

/// A snapshot that completes, then a restore behind a `confirm` that rolls the run back.
const GATED_RESTORE: &str = r#"[[steps]]
id = "snapshot"
run = "touch ../snapshot.done"
rollback = "touch ../snapshot.undone"
[[steps]]
id = "restore"
needs = ["snapshot"]
confirm = "restore over the database?"
on_failure = "rollback"
run = "touch ../restored"
rollback = "touch ../restore.undone"
"#;

/// The declined (or never asked) restore: failed with 0 attempts, its own rollback never ran,
/// and the snapshot before it was rolled back.
#[track_caller]
fn assert_declined_restore_not_undone(dir: &Path, run_dir: &Path) {
    let journal = journal(run_dir);
    let restore = finished(&journal, "restore");
    assert_eq!(restore["status"], "failed", "{restore}");
    assert_eq!(restore["attempts"], 0, "{restore}");
    assert_eq!(rolled_back(&journal), ["snapshot"], "{journal:#?}");
    assert!(!dir.join("restored").exists(), "the restore never ran");
    assert!(
        !dir.join("restore.undone").exists(),
        "the restore's rollback must not run: it never started"
    );
    assert!(
        dir.join("snapshot.undone").exists(),
        "the completed snapshot is rolled back as usual"
    );
}

// See: #11
#[test]
fn a_declined_confirm_runs_no_rollback_of_its_own_but_rolls_back_what_completed() {
    let t = Test::new().file("p.toml", &playbook("approvals-declined", GATED_RESTORE));
    let code = Terminal::open(t.path(), "run p.toml --out out", &[]).answer("n\ncarol\n");
    assert_eq!(code, 1, "a declined approval fails the run");
    let run_dir = t.path().join("out");
    let journal = journal(&run_dir);
    let declined = events(&journal, "approval_declined");
    assert_eq!(declined.len(), 1, "{journal:#?}");
    assert_eq!(declined[0]["by"], "carol");
    assert_declined_restore_not_undone(t.path(), &run_dir);
}

// See: #11
#[test]
fn a_confirm_nobody_can_be_asked_runs_no_rollback_of_its_own() {
    let t = Test::new().file("p.toml", &playbook("approvals-unasked", GATED_RESTORE));
    let run = t.run_args(["run", "p.toml", "--out", "out"]).expect_code(1);
    assert!(
        run.stderr().contains("no terminal to ask") || run.stdout().contains("no terminal to ask"),
        "{}\n{}",
        run.stdout(),
        run.stderr()
    );
    assert_declined_restore_not_undone(t.path(), &t.path().join("out"));
}

/// Three steps for a resume: `one` completes, `two` is killed under (idempotent, so it runs
/// again without a question), `three` is behind a `confirm` and rolls the run back.
const RESUMED: &str = r#"[[steps]]
id = "one"
run = "touch ../one.done"
rollback = "touch ../one.undone"
[[steps]]
id = "two"
needs = ["one"]
idempotent = true
run = "echo waiting-for-go; while [ ! -e ../go ]; do sleep 0.05; done"
rollback = "touch ../two.undone"
[[steps]]
id = "three"
needs = ["two"]
confirm = "restore over the database?"
on_failure = "rollback"
run = "touch ../three.done"
rollback = "touch ../three.undone"
"#;

fn runbook(dir: &Path) -> Command {
    let mut cmd = crate::util::runbook();
    cmd.current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd
}

/// Starts `run`, waits until `two` runs, kills the runner (kill -9) and lets `two`'s shell end.
fn crash_under_two(dir: &Path, extra: &[&str]) {
    let mut child = runbook(dir)
        .args(["run", "pb.toml", "--out", "run"])
        .args(extra)
        .spawn()
        .expect("runbook starts");
    let log = dir.join("run/logs/two.log");
    let started = wait_until(LIMIT, || {
        std::fs::read_to_string(&log).is_ok_and(|t| t.contains("waiting-for-go"))
    });
    child.kill().expect("kill -9");
    let _ = child.wait();
    assert!(started, "step two never started");
    std::fs::write(dir.join("go"), "").expect("go");
}

/// Resumes on a terminal, retrying (bounded) while the crashed run's step still winds down.
fn resume_on_a_terminal(dir: &Path, args: &str, answers: &str, env: &[(&str, &str)]) -> i32 {
    for _ in 0..100 {
        let code = Terminal::open(dir, args, env).answer(answers);
        let screen = std::fs::read_to_string(dir.join("screen.txt")).unwrap_or_default();
        if !screen.contains("still running") {
            return code;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the crashed run's step never ended")
}

// See: #11
#[test]
fn a_confirm_declined_after_a_resume_runs_no_rollback_of_its_own() {
    let t = Test::new().file("pb.toml", &playbook("approvals-resume-declined", RESUMED));
    crash_under_two(t.path(), &[]);
    let code = resume_on_a_terminal(t.path(), "resume run", "n\ncarol\n", &[]);
    assert_eq!(
        code,
        1,
        "{}",
        std::fs::read_to_string(t.path().join("screen.txt")).unwrap_or_default()
    );
    let journal = journal(&t.path().join("run"));
    assert_eq!(events(&journal, "run_resumed").len(), 1);
    let three = finished(&journal, "three");
    assert_eq!(three["status"], "failed", "{three}");
    assert_eq!(three["attempts"], 0, "{three}");
    assert_eq!(
        rolled_back(&journal),
        ["two", "one"],
        "the completed steps are rolled back, newest first; three's own is not: {journal:#?}"
    );
    assert!(!t.path().join("three.done").exists());
    assert!(!t.path().join("three.undone").exists());
    assert!(t.path().join("one.undone").exists());
}

// See: #11
#[test]
fn resume_commander_answers_the_single_question_of_a_rerun_confirm_step() {
    // `two` was approved and running when the runner died; resuming it asks once (its own
    // `confirm`), and the default name at that prompt is the one who resumes.
    let text = RESUMED
        .replace("idempotent = true\n", "confirm = \"run the long step?\"\n")
        .replace(
            "confirm = \"restore over the database?\"\non_failure = \"rollback\"\n",
            "",
        );
    let t = Test::new().file("pb.toml", &playbook("approvals-resume-commander", &text));
    crash_under_two(t.path(), &["--approve", "two"]);
    let code = resume_on_a_terminal(
        t.path(),
        "resume run --commander dave",
        "y\n\n",
        &[("USER", "")],
    );
    let screen = std::fs::read_to_string(t.path().join("screen.txt")).unwrap_or_default();
    assert_eq!(code, 0, "{screen}");
    assert_eq!(
        screen.matches("[y/N]").count(),
        1,
        "one question for one step: {screen}"
    );
    let journal = journal(&t.path().join("run"));
    let resumed_at = journal
        .iter()
        .position(|e| e["event"] == "run_resumed")
        .expect("run_resumed");
    assert_eq!(journal[resumed_at]["commander"], "dave");
    let given: Vec<&Value> = journal[resumed_at..]
        .iter()
        .filter(|e| e["event"] == "approval_given")
        .collect();
    assert_eq!(given.len(), 1, "{journal:#?}");
    assert_eq!(given[0]["step"], "two");
    assert_eq!(given[0]["by"], "dave", "{}", given[0]);
    assert_eq!(given[0]["how"], "prompt");
    assert_eq!(finished(&journal, "two")["status"], "ok");
}

fn account_name() -> String {
    let out = Command::new("id").arg("-un").output().expect("id -un");
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_owned()
}

// See: #11
#[test]
fn an_empty_user_falls_back_to_the_account_name() {
    let text = playbook("approvals-who", "[[steps]]\nid = \"a\"\nrun = \"true\"\n");
    let t = Test::new().file("p.toml", &text).env("USER", "");
    t.run_args(["run", "p.toml", "--out", "out"]).expect_code(0);
    let journal = journal(&t.path().join("out"));
    let name = account_name();
    assert!(!name.is_empty());
    assert_eq!(
        events(&journal, "run_started")[0]["commander"],
        name.as_str()
    );
}

// See: #11
#[test]
fn sighup_interrupts_the_run_stops_the_step_and_writes_the_report() {
    let text = playbook(
        "approvals-hup",
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

// See: #11
#[test]
fn ctrl_c_at_a_prompt_interrupts_at_once_and_is_not_a_decline() {
    let text = playbook(
        "approvals-ctrl-c",
        "[[steps]]\nid = \"drop\"\nconfirm = \"drop the table?\"\non_failure = \"rollback\"\nrun = \"touch ../dropped\"\nrollback = \"touch ../undone\"\n",
    );
    let t = Test::new().file("p.toml", &text);
    let run_dir = t.path().join("out");
    let mut term = Terminal::open(t.path(), "run p.toml --out out", &[]);
    term.wait_for_prompt(&run_dir);
    // Ctrl-C on the terminal, and nothing else: no Enter, no name, the keyboard stays open.
    term.type_keys("\u{3}");
    let code = term.wait();
    assert_eq!(code, 130);
    let journal = journal(&run_dir);
    assert!(
        events(&journal, "approval_declined").is_empty(),
        "nobody declined: {journal:#?}"
    );
    assert!(events(&journal, "approval_given").is_empty());
    assert_eq!(events(&journal, "run_interrupted").len(), 1);
    let drop = finished(&journal, "drop");
    assert_eq!(drop["status"], "cancelled", "{drop}");
    assert_eq!(drop["attempts"], 0);
    assert!(rolled_back(&journal).is_empty());
    assert!(!t.path().join("dropped").exists());
    assert!(!t.path().join("undone").exists());
    assert!(run_dir.join("report.md").is_file());
}

// See: #11
#[test]
fn a_terminal_hanging_up_at_a_prompt_interrupts_the_run_and_is_not_a_decline() {
    let text = playbook(
        "approvals-hangup",
        "[[steps]]\nid = \"drop\"\nconfirm = \"drop the table?\"\nrun = \"touch ../dropped\"\n",
    );
    let t = Test::new().file("p.toml", &text);
    let run_dir = t.path().join("out");
    let term = Terminal::open(t.path(), "run p.toml --out out", &[]);
    term.wait_for_prompt(&run_dir);
    term.hang_up();
    assert!(
        wait_until(LIMIT, || journal_has(&run_dir, "run_finished")),
        "the run ends on its own after the hangup"
    );
    let journal = journal(&run_dir);
    let interrupted = events(&journal, "run_interrupted");
    assert_eq!(interrupted.len(), 1, "{journal:#?}");
    assert_eq!(interrupted[0]["signal"], "SIGHUP");
    assert!(
        events(&journal, "approval_declined").is_empty(),
        "nobody declined: {journal:#?}"
    );
    assert_eq!(finished(&journal, "drop")["status"], "cancelled");
    assert!(!t.path().join("dropped").exists());
    assert!(
        wait_until(LIMIT, || run_dir.join("report.md").is_file()),
        "the report is written"
    );
}

/// A gantt bar's start and end, by its label's start.
fn bar(report: &str, label: &str) -> (String, String) {
    let line = report
        .lines()
        .find(|l| l.trim_start().starts_with(label))
        .unwrap_or_else(|| panic!("no gantt bar `{label}`:\n{report}"));
    let parts: Vec<&str> = line.rsplitn(3, ", ").collect();
    (parts[1].trim().to_owned(), parts[0].trim().to_owned())
}

/// A journal timestamp in the gantt's format (`2026-11-23T02:00:00.123Z` → `2026-11-23 02:00:00.123`).
fn gantt_time(ts: &Value) -> String {
    ts.as_str()
        .expect("ts")
        .replace('T', " ")
        .trim_end_matches('Z')
        .to_owned()
}

// See: #11
#[test]
fn a_steps_duration_is_its_execution_and_the_approval_wait_is_beside_it() {
    let text = playbook(
        "approvals-wait",
        "[[steps]]\nid = \"restore\"\nconfirm = \"restore now?\"\nrun = \"true\"\n[[steps]]\nid = \"verify\"\nneeds = [\"restore\"]\nrun = \"true\"\n",
    );
    let t = Test::new().file("p.toml", &text);
    let run_dir = t.path().join("out");
    let mut term = Terminal::open(t.path(), "run p.toml --out out", &[]);
    term.wait_for_prompt(&run_dir);
    // The person takes a while to answer.
    let pause = Duration::from_secs(3);
    std::thread::sleep(pause);
    term.type_keys("y\nalice\n");
    assert_eq!(term.wait(), 0);

    let journal = journal(&run_dir);
    let given = events(&journal, "approval_given");
    assert_eq!(given.len(), 1, "{journal:#?}");
    let waited = given[0]["waited_ms"].as_u64().expect("waited_ms");
    let pause_ms = u64::try_from(pause.as_millis()).expect("ms");
    assert!(waited >= pause_ms, "the wait is recorded: {}", given[0]);
    let restore = finished(&journal, "restore");
    let duration = restore["duration_ms"].as_u64().expect("duration_ms");
    assert!(
        duration < waited,
        "`true` ran for {duration} ms: the {waited} ms wait is not part of it"
    );

    let report = std::fs::read_to_string(run_dir.join("report.md")).expect("report");
    let row = report
        .lines()
        .find(|l| l.starts_with("| `restore`"))
        .unwrap_or_else(|| panic!("no timeline row:\n{report}"));
    assert!(
        row.contains("waited ") && row.contains(" for approval"),
        "{row}"
    );
    let (restore_from, restore_to) = bar(&report, "restore (ok)");
    let (verify_from, _) = bar(&report, "verify (ok)");
    assert!(
        restore_from >= gantt_time(&given[0]["ts"]),
        "the bar starts after the approval: {restore_from}"
    );
    assert!(
        restore_to <= verify_from,
        "restore's bar ends before its dependent starts: {restore_to} > {verify_from}"
    );
}
