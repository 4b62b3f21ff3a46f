//! Interrupts, crashes and torn lines: resume continues and loses nothing (rules 2 and 6).

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::support::wait_until;
use crate::util::{Test, journal, playbook};

use super::{
    SECRET, THREE, count_lines, crash_under_two, files_containing, kill_9, resume, spawn_with_env,
    stderr, wait_exit, wait_for_text,
};

#[test]
fn an_interrupted_run_resumes_rerunning_only_the_cancelled_step() {
    // See: #11
    let t = Test::new().file("pb.toml", &playbook("interrupted", THREE));
    let child = spawn_with_env(t.path(), &["run", "pb.toml", "--out", "run"], &[]);
    wait_for_text(&t.path().join("run/logs/two.log"), "waiting-for-go");
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let out = wait_exit(child);
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));

    std::fs::write(t.path().join("go"), "").expect("go");
    let out = resume(t.path(), &["run", "--yes"], &[]);
    assert_eq!(out.status.code(), Some(0), "resume: {}", stderr(&out));
    assert_eq!(count_lines(&t.path().join("one.count")), 1, "one ran once");
    assert_eq!(count_lines(&t.path().join("two.count")), 2, "two ran again");
    assert_eq!(
        count_lines(&t.path().join("three.count")),
        1,
        "three ran once"
    );
    assert_eq!(
        std::fs::read_to_string(t.path().join("three.value")).expect("value"),
        "first\n"
    );
    let events = journal(&t.path().join("run"));
    let resumed = events
        .iter()
        .find(|e| e["event"] == "run_resumed")
        .expect("run_resumed");
    assert_eq!(resumed["rerun"], serde_json::json!(["two"]));
    let last = events.last().expect("events");
    assert_eq!(last["event"], "run_finished");
    assert_eq!(last["status"], "ok");
}

#[test]
fn an_interrupted_idempotent_step_reruns_without_asking_and_a_failed_run_is_refused() {
    // See: #11
    let idempotent = THREE.replace(
        "needs = [\"one\"]\nrun",
        "needs = [\"one\"]\nidempotent = true\nrun",
    );
    let t = Test::new().file("pb.toml", &playbook("interrupted-idempotent", &idempotent));
    let child = spawn_with_env(t.path(), &["run", "pb.toml", "--out", "run"], &[]);
    wait_for_text(&t.path().join("run/logs/two.log"), "waiting-for-go");
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    assert_eq!(wait_exit(child).status.code(), Some(130));
    std::fs::write(t.path().join("go"), "").expect("go");
    let out = resume(t.path(), &["run"], &[]);
    assert_eq!(out.status.code(), Some(0), "resume: {}", stderr(&out));
    assert!(
        stderr(&out).contains("`two` was cancelled by the interrupt"),
        "{}",
        stderr(&out)
    );
    assert_eq!(count_lines(&t.path().join("two.count")), 2);

    let failing = Test::new().file(
        "pb.toml",
        &playbook("failed-run", "[[steps]]\nid = \"a\"\nrun = \"exit 4\"\n"),
    );
    failing
        .run_args(["run", "pb.toml", "--out", "run"])
        .expect_code(1);
    let refused = failing.run_args(["resume", "run"]).expect_code(2);
    assert!(
        refused
            .stderr()
            .contains("already finished (failed): there is nothing to resume"),
        "{}",
        refused.stderr()
    );
}

#[test]
fn a_torn_last_line_survives_resume_crash_and_resume_again() {
    // See: #11
    let t = Test::new().file("pb.toml", &playbook("torn", THREE));
    crash_under_two(t.path(), &["run", "pb.toml", "--out", "run"], 1);
    // A power cut: the journal's last line is cut in half.
    let path = t.path().join("run/journal.jsonl");
    let text = std::fs::read_to_string(&path).expect("journal");
    let body = text.trim_end_matches('\n');
    let last_start = body.rfind('\n').map_or(0, |i| i + 1);
    let cut = last_start + (body.len() - last_start) / 2;
    let torn = body[last_start..cut].to_owned();
    std::fs::write(&path, &text[..cut]).expect("truncate");

    // The resume crashes too, under the same step.
    crash_under_two(t.path(), &["resume", "run", "--yes"], 2);
    std::fs::write(t.path().join("go"), "").expect("go");
    let out = resume(t.path(), &["run", "--yes"], &[]);
    assert_eq!(out.status.code(), Some(0), "resume: {}", stderr(&out));
    t.run_args(["report", "run"]).expect_code(0);

    let text = std::fs::read_to_string(&path).expect("journal");
    let mut events = Vec::new();
    for line in text.lines() {
        if line == torn {
            continue;
        }
        events.push(
            serde_json::from_str::<serde_json::Value>(line)
                .unwrap_or_else(|e| panic!("a whole line does not parse ({e}): {line}\n{text}")),
        );
    }
    assert_eq!(
        text.lines().filter(|l| *l == torn).count(),
        1,
        "the cut-off line stays a line of its own:\n{text}"
    );
    assert_eq!(
        events
            .iter()
            .filter(|e| e["event"] == "run_resumed")
            .count(),
        2
    );
    let last = events.last().expect("events");
    assert_eq!(
        (&last["event"], &last["status"]),
        (&"run_finished".into(), &"ok".into())
    );
    assert_eq!(count_lines(&t.path().join("one.count")), 1, "one ran once");
    assert_eq!(
        count_lines(&t.path().join("three.count")),
        1,
        "three ran once"
    );
}

#[test]
fn runs_tells_a_live_run_from_a_crashed_one() {
    // See: #11
    let t = Test::new();
    let dir = t.path().display().to_string();
    let t = t.file(
        "playbooks/live.toml",
        &playbook(
            "live",
            &format!(
                "[[steps]]\nid = \"wait\"\nrun = \"touch {dir}/started; while [ ! -e {dir}/go ]; do sleep 0.05; done\"\n"
            ),
        ),
    );
    let child = spawn_with_env(t.path(), &["run", "live"], &[]);
    let pid = child.id();
    assert!(wait_until(Duration::from_secs(30), || t
        .path()
        .join("started")
        .exists()));
    let run_id = std::fs::read_dir(t.path().join("runs"))
        .expect("runs")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|n| n.contains("-live-"))
        .expect("a run folder");
    let live = t.run_args(["runs"]).expect_code(0);
    let row = |out: &str| {
        out.lines()
            .find(|l| l.starts_with(&run_id))
            .unwrap_or_else(|| panic!("no row for {run_id}:\n{out}"))
            .to_owned()
    };
    assert!(
        row(&live.stdout()).contains(&format!("running (pid {pid})")),
        "{}",
        live.stdout()
    );
    kill_9(child);
    let crashed = t.run_args(["runs"]).expect_code(0);
    assert!(
        row(&crashed.stdout()).contains(&format!("crashed: runbook resume {run_id}")),
        "{}",
        crashed.stdout()
    );

    // An interrupted run can be resumed too, and says how.
    std::fs::remove_file(t.path().join("started")).expect("rm");
    let child = spawn_with_env(t.path(), &["run", "live"], &[]);
    assert!(wait_until(Duration::from_secs(30), || t
        .path()
        .join("started")
        .exists()));
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    assert_eq!(wait_exit(child).status.code(), Some(130));
    let second = std::fs::read_dir(t.path().join("runs"))
        .expect("runs")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|n| n.contains("-live-") && *n != run_id)
        .expect("a second run folder");
    let listed = t.run_args(["runs"]).expect_code(0);
    let second_row = listed
        .stdout()
        .lines()
        .find(|l| l.starts_with(&second))
        .map(str::to_owned)
        .unwrap_or_default();
    assert!(
        second_row.contains(&format!("interrupted: runbook resume {second}")),
        "{}",
        listed.stdout()
    );
    std::fs::write(t.path().join("go"), "").expect("go");
}

/// 30 chained steps: each outputs the one before it plus its number (step 7 adds a secret) and
/// appends its id to `ledger` as it finishes; the last writes what it got to `final`.
fn thirty_steps() -> (String, String) {
    let mut body = String::from("secrets = [\"TOKEN\"]\n");
    let mut expected = String::from("1");
    body.push_str(
        "[[steps]]\nid = \"s01\"\nrun = \"echo 1; echo s01 >> ../ledger\"\noutputs = { v = \"stdout\" }\n",
    );
    for i in 2..30 {
        let secret = if i == 7 { "-$TOKEN" } else { "" };
        let _ = write!(
            body,
            "[[steps]]\nid = \"s{i:02}\"\nneeds = [\"s{p:02}\"]\nrun = \"echo '{{{{steps.s{p:02}.outputs.v}}}}-{i}'{secret}; echo s{i:02} >> ../ledger\"\noutputs = {{ v = \"stdout\" }}\n",
            p = i - 1
        );
        let _ = write!(expected, "-{i}");
        if i == 7 {
            let _ = write!(expected, "-{SECRET}");
        }
    }
    body.push_str("[[steps]]\nid = \"s30\"\nneeds = [\"s29\"]\nrun = \"printf %s '{{steps.s29.outputs.v}}' > ../final; echo s30 >> ../ledger\"\n");
    (body, expected)
}

/// The step ids the parseable lines of a journal say started and finished.
fn started_and_finished(run_dir: &Path) -> (Vec<String>, Vec<String>) {
    let mut started = Vec::new();
    let mut finished = Vec::new();
    for e in journal(run_dir) {
        let step = e["step"].as_str().unwrap_or_default().to_owned();
        match e["event"].as_str() {
            Some("step_started") => started.push(step),
            Some("step_finished") => finished.push(step),
            _ => {}
        }
    }
    (started, finished)
}

#[test]
fn kill_9_at_random_moments_then_resume_loses_nothing_and_reruns_nothing_finished() {
    // See: #11
    let (body, expected) = thirty_steps();
    let env = [("TOKEN", SECRET)];
    let mut seed: u64 = 0x5eed_0011_dead_beef;
    let mut next = |bound: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % bound
    };
    for case in 0..10 {
        // Kill once `after` steps have finished their command, `delay` ms later: between
        // steps, inside one, or while an event is written.
        let after = usize::try_from(1 + next(28)).expect("small");
        let delay = Duration::from_millis(next(25));
        let t = Test::new().file("playbooks/pb.toml", &playbook("thirty", &body));
        let ledger = t.path().join("ledger");
        let child = spawn_with_env(
            t.path(),
            &["run", "playbooks/pb.toml", "--out", "run"],
            &env,
        );
        assert!(
            wait_until(Duration::from_secs(60), || count_lines(&ledger) >= after),
            "case {case}: the run never reached step {after}"
        );
        std::thread::sleep(delay);
        kill_9(child);
        let run_dir = t.path().join("run");
        // A kill -9 never tears a line: the kernel has every write whole.
        let (started, finished) = started_and_finished(&run_dir);
        let ended = journal(&run_dir)
            .iter()
            .any(|e| e["event"] == "run_finished");

        if !ended {
            let out = resume(t.path(), &["run", "--yes"], &env);
            assert_eq!(
                out.status.code(),
                Some(0),
                "case {case} (killed after {after} + {delay:?}): {}",
                stderr(&out)
            );
        }
        let text = std::fs::read_to_string(&ledger).expect("ledger");
        for i in 1..=30 {
            let id = format!("s{i:02}");
            let runs = text.lines().filter(|l| *l == id).count();
            let in_flight = started.contains(&id) && !finished.contains(&id);
            let allowed = if in_flight { 1..=2 } else { 1..=1 };
            assert!(
                allowed.contains(&runs),
                "case {case} (killed after {after} + {delay:?}): {id} ran {runs} times (finished before the kill: {}, in flight: {in_flight})\n{text}",
                finished.contains(&id)
            );
        }
        assert_eq!(
            std::fs::read_to_string(t.path().join("final")).expect("s30 ran"),
            expected,
            "case {case}: the last step got the values of an uninterrupted run"
        );
        let events = journal(&run_dir);
        let last = events.last().expect("events");
        assert_eq!(
            (&last["event"], &last["status"]),
            (&"run_finished".into(), &"ok".into()),
            "case {case}"
        );
        assert_eq!(
            files_containing(&run_dir, SECRET),
            Vec::<std::path::PathBuf>::new(),
            "case {case}: the secret reached the run folder"
        );
    }
}
