//! The record never lies and resume keeps what the record says (issue #11, rules 2, 6 and 7):
//! interrupted runs resume, write failures fail the run, torn journal lines are survived, and
//! outputs holding a secret come back whole without the secret touching the disk.

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::support::wait_until;
use crate::util::{Test, journal, playbook};

fn runbook() -> Command {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("runbook"));
    cmd.env_remove("RUNBOOK_PATH")
        .env_remove("RUNBOOK_RUNS")
        .env("NO_COLOR", "1");
    cmd
}

fn spawn(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Child {
    let mut cmd = runbook();
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("runbook starts")
}

fn count_lines(path: &Path) -> usize {
    std::fs::read_to_string(path).map_or(0, |t| t.lines().count())
}

/// Waits until `file` contains `text`, or fails the test naming what it waited for.
fn wait_for_text(file: &Path, text: &str) {
    assert!(
        wait_until(Duration::from_secs(30), || std::fs::read_to_string(file)
            .is_ok_and(|t| t.contains(text))),
        "`{}` never contained {text:?}",
        file.display()
    );
}

/// Waits for a child to exit (bounded), returning its output.
fn wait_exit(child: Child) -> std::process::Output {
    let pid = child.id();
    let (send, receive) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = send.send(child.wait_with_output());
    });
    receive
        .recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|_| panic!("runbook (pid {pid}) did not exit within 60s"))
        .expect("runbook output")
}

/// Resumes until the crashed step's process group is gone (bounded): `resume` refuses while it runs.
fn resume(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut all = vec!["resume"];
    all.extend_from_slice(args);
    for _ in 0..300 {
        let out = wait_exit(spawn(dir, &all, env));
        if !String::from_utf8_lossy(&out.stderr).contains("is still running") {
            return out;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the crashed run's step kept running for 15s");
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Three steps; the middle one waits for `go` to exist.
const THREE: &str = r#"[[steps]]
id = "one"
run = "echo run >> ../one.count; echo first"
outputs = { v = "stdout" }
[[steps]]
id = "two"
needs = ["one"]
run = "echo run >> ../two.count; echo waiting-for-go; while [ ! -e ../go ]; do sleep 0.05; done; echo went"
[[steps]]
id = "three"
needs = ["two"]
run = "echo run >> ../three.count; echo {{steps.one.outputs.v}} > ../three.value"
"#;

#[test]
fn an_interrupted_run_resumes_rerunning_only_the_cancelled_step() {
    // See: #11
    let t = Test::new().file("pb.toml", &playbook("interrupted", THREE));
    let child = spawn(t.path(), &["run", "pb.toml", "--out", "run"], &[]);
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
    let child = spawn(t.path(), &["run", "pb.toml", "--out", "run"], &[]);
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

/// Runs `pb.toml` into `run` and kills the runner (-9) once step `two` waits for `go`.
fn crash_under_two(dir: &Path, args: &[&str], times: usize) {
    let child = spawn(dir, args, &[]);
    let log = dir.join("run/logs/two.log");
    assert!(
        wait_until(Duration::from_secs(30), || std::fs::read_to_string(&log)
            .is_ok_and(|t| t.matches("waiting-for-go").count() >= times)),
        "step two never started (attempt {times})"
    );
    kill_9(child);
}

fn kill_9(mut child: Child) {
    child.kill().expect("kill -9");
    let _ = child.wait();
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

/// A 1 MiB tmpfs, unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
            .arg(dir.path())
            .output()
            .expect("mount runs");
        assert!(
            out.status.success(),
            "this test needs to mount a 1 MiB tmpfs (run it as root, as CI does): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

#[test]
fn a_full_disk_fails_the_run_naming_the_log_and_starts_nothing_more() {
    // See: #11
    let disk = SmallDisk::mount();
    let t = Test::new();
    let markers = t.path().display().to_string();
    let text = playbook(
        "disk-full",
        &format!(
            r#"[[steps]]
id = "big"
run = "yes 0123456789abcdef | head -c 5000000; touch {markers}/big-ended"
[[steps]]
id = "after"
needs = ["big"]
run = "touch {markers}/after-ran"
[[steps]]
id = "independent"
run = "touch {markers}/independent-ran"
"#
        ),
    );
    let t = t.file("pb.toml", &text);
    let out_dir = disk.path().join("run");
    let run = t
        .run_args([
            "run",
            "pb.toml",
            "--max-parallel",
            "1",
            "--out",
            &out_dir.display().to_string(),
        ])
        .expect_code(1);
    let stderr = run.stderr();
    let log = out_dir.join("logs/big.log");
    assert!(
        stderr.contains(&format!("`{}`", log.display()))
            && stderr.contains("No space left on device"),
        "stderr names the log and the OS error:\n{stderr}"
    );
    assert!(
        t.path().join("big-ended").exists(),
        "the step's command ran to its end"
    );
    assert!(
        !t.path().join("after-ran").exists(),
        "no step starts after the failure"
    );
    assert!(
        !t.path().join("independent-ran").exists(),
        "no step starts after the failure, dependent or not"
    );
    let report = out_dir.join("report.md");
    assert!(
        std::fs::metadata(&report).map_or(true, |m| m.len() > 0),
        "no empty report is left behind"
    );
}

#[test]
fn a_report_that_cannot_be_written_fails_the_run_and_is_journaled() {
    // See: #11
    let t = Test::new()
        .file(
            "pb.toml",
            &playbook(
                "report-unwritable",
                "[[steps]]\nid = \"a\"\nrun = \"true\"\n",
            ),
        )
        // A folder where the report goes: renaming the report over it fails.
        .file("run/report.md/keep", "");
    let run = t
        .run_args(["run", "pb.toml", "--out", "run"])
        .expect_code(1);
    assert!(
        run.stderr().contains("failed to write `run/report.md`")
            && run.stderr().contains("Is a directory"),
        "{}",
        run.stderr()
    );
    let events = journal(&t.path().join("run"));
    let last = events.last().expect("events");
    assert_eq!(last["event"], "record_failed", "{last}");
    assert_eq!(last["path"], "run/report.md");
    let refused = t.run_args(["resume", "run"]).expect_code(2);
    assert!(
        refused.stderr().contains("already finished (failed)"),
        "the run reads as failed: {}",
        refused.stderr()
    );
}

const SECRET: &str = "hunter2-Secret-42";

/// `make` outputs a value holding a secret; `three` writes a sha256 of the value it gets.
const SECRET_OUTPUT: &str = r#"secrets = ["DB_PASSWORD"]
[[steps]]
id = "make"
run = "echo run >> ../make.count; echo \"postgres://app:$DB_PASSWORD@db/x\""
outputs = { dsn = "stdout" }
[[steps]]
id = "two"
needs = ["make"]
run = "echo run >> ../two.count; echo waiting-for-go; while [ ! -e ../go ]; do sleep 0.05; done"
[[steps]]
id = "three"
needs = ["two"]
run = "printf %s '{{steps.make.outputs.dsn}}' | sha256sum | cut -d ' ' -f 1 > ../three.sha"
"#;

fn sha256_hex(text: &str) -> String {
    use sha2::Digest as _;
    format!("{:x}", sha2::Sha256::digest(text.as_bytes()))
}

/// Every file under `dir` that contains `needle`.
fn files_containing(dir: &Path, needle: &str) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if std::fs::read(&path)
                .is_ok_and(|b| String::from_utf8_lossy(&b).contains(needle))
            {
                found.push(path);
            }
        }
    }
    found
}

#[test]
fn resume_gives_later_steps_the_whole_output_that_held_a_secret() {
    // See: #11
    let env = [("DB_PASSWORD", SECRET)];
    let t = Test::new().file("pb.toml", &playbook("secret-output", SECRET_OUTPUT));
    let child = spawn(t.path(), &["run", "pb.toml", "--out", "run"], &env);
    wait_for_text(&t.path().join("run/logs/two.log"), "waiting-for-go");
    kill_9(child);

    // Without the secret, the output cannot be whole: refused before anything runs.
    let refused = wait_exit(spawn(t.path(), &["resume", "run", "--yes"], &[]));
    assert_eq!(refused.status.code(), Some(3), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("`steps.make.outputs.dsn`")
            && stderr(&refused).contains("`DB_PASSWORD`, which is not set"),
        "{}",
        stderr(&refused)
    );
    assert!(
        !journal(&t.path().join("run"))
            .iter()
            .any(|e| e["event"] == "run_resumed"),
        "the refused resume journaled nothing"
    );
    assert_eq!(count_lines(&t.path().join("two.count")), 1, "nothing ran");

    std::fs::write(t.path().join("go"), "").expect("go");
    let out = resume(t.path(), &["run", "--yes"], &env);
    assert_eq!(out.status.code(), Some(0), "resume: {}", stderr(&out));
    assert_eq!(
        count_lines(&t.path().join("make.count")),
        1,
        "make ran once"
    );
    assert_eq!(
        std::fs::read_to_string(t.path().join("three.sha"))
            .expect("three ran")
            .trim(),
        sha256_hex(&format!("postgres://app:{SECRET}@db/x")),
        "three got the value an uninterrupted run gives it"
    );
    assert_eq!(
        files_containing(&t.path().join("run"), SECRET),
        Vec::<std::path::PathBuf>::new(),
        "the secret is written to no file of the run folder"
    );
    let make = journal(&t.path().join("run"))
        .into_iter()
        .find(|e| e["event"] == "step_finished" && e["step"] == "make")
        .expect("make finished");
    assert_eq!(make["outputs"]["dsn"], "postgres://app:***@db/x");
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
    let child = spawn(t.path(), &["run", "live"], &[]);
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
        let child = spawn(
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

#[test]
fn resume_gives_later_steps_the_whole_var_that_held_a_secret() {
    // See: #11
    let env = [("DB_PASSWORD", SECRET)];
    let body = r#"secrets = ["DB_PASSWORD"]
[vars]
dsn = "none"
[[steps]]
id = "two"
run = "echo run >> ../two.count; echo waiting-for-go; while [ ! -e ../go ]; do sleep 0.05; done"
[[steps]]
id = "three"
needs = ["two"]
run = "printf %s '{{vars.dsn}}' | sha256sum | cut -d ' ' -f 1 > ../three.sha"
"#;
    let t = Test::new().file("pb.toml", &playbook("secret-var", body));
    let dsn = format!("postgres://app:{SECRET}@db/x");
    let var = format!("dsn={dsn}");
    let child = spawn(
        t.path(),
        &["run", "pb.toml", "--out", "run", "--var", &var],
        &env,
    );
    wait_for_text(&t.path().join("run/logs/two.log"), "waiting-for-go");
    kill_9(child);
    let refused = wait_exit(spawn(t.path(), &["resume", "run", "--yes"], &[]));
    assert_eq!(refused.status.code(), Some(3), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("var `dsn` cannot be restored"),
        "{}",
        stderr(&refused)
    );
    std::fs::write(t.path().join("go"), "").expect("go");
    let out = resume(t.path(), &["run", "--yes"], &env);
    assert_eq!(out.status.code(), Some(0), "resume: {}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(t.path().join("three.sha"))
            .expect("three ran")
            .trim(),
        sha256_hex(&dsn)
    );
    assert_eq!(
        files_containing(&t.path().join("run"), SECRET),
        Vec::<std::path::PathBuf>::new()
    );
}

/// Copies the files of `from` into `to` (one level of folders, as a run folder has).
fn copy_run(from: &Path, to: &Path) {
    std::fs::create_dir_all(to.join("logs")).expect("mkdir");
    for dir in ["", "logs"] {
        for entry in std::fs::read_dir(from.join(dir)).expect("read").flatten() {
            if entry.path().is_file() {
                std::fs::copy(entry.path(), to.join(dir).join(entry.file_name())).expect("copy");
            }
        }
    }
}

#[test]
fn a_journal_that_cannot_be_written_starts_nothing_and_fails_the_resume() {
    // See: #11
    let disk = SmallDisk::mount();
    let t = Test::new();
    // Markers outside the small disk, where writing them cannot fail.
    let text = THREE.replace("../", &format!("{}/", t.path().display()));
    let t = t.file("pb.toml", &playbook("journal-full", &text));
    crash_under_two(t.path(), &["run", "pb.toml", "--out", "run"], 1);
    std::fs::write(t.path().join("go"), "").expect("go");
    // The crashed run moves to the small disk, its journal padded with empty lines (which
    // readers skip) to a whole page, and the disk is filled: the journal's next line fails.
    let run = disk.path().join("run");
    copy_run(&t.path().join("run"), &run);
    let journal_path = run.join("journal.jsonl");
    let len = std::fs::metadata(&journal_path).expect("journal").len();
    let pad = usize::try_from((4096 - len % 4096) % 4096).expect("small");
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&journal_path)
        .expect("journal");
    std::io::Write::write_all(&mut file, "\n".repeat(pad).as_bytes()).expect("pad");
    drop(file);
    let filled = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "head -c 2000000 /dev/zero > {}/filler",
            disk.path().display()
        ))
        .status()
        .expect("sh");
    assert!(!filled.success(), "the disk is full");

    let run_arg = run.display().to_string();
    let out = resume(t.path(), &[&run_arg, "--yes"], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("`{}`", journal_path.display()))
            && stderr(&out).contains("No space left on device"),
        "stderr names the journal and the OS error:\n{}",
        stderr(&out)
    );
    assert_eq!(
        count_lines(&t.path().join("two.count")),
        1,
        "two did not run again"
    );
    assert_eq!(
        count_lines(&t.path().join("three.count")),
        0,
        "three never started"
    );
}

#[test]
fn a_rollback_whose_log_fills_the_disk_stops_the_rollbacks_after_it() {
    // See: #11
    let disk = SmallDisk::mount();
    let t = Test::new();
    let markers = t.path().display().to_string();
    let text = playbook(
        "rollback-full",
        &format!(
            r#"[[steps]]
id = "a"
run = "true"
rollback = "touch {markers}/a-rolled-back"
[[steps]]
id = "b"
needs = ["a"]
on_failure = "rollback"
run = "exit 1"
rollback = "yes 0123456789abcdef | head -c 5000000"
"#
        ),
    );
    let t = t.file("pb.toml", &text);
    let out_dir = disk.path().join("run");
    let run = t
        .run_args(["run", "pb.toml", "--out", &out_dir.display().to_string()])
        .expect_code(1);
    assert!(
        run.stderr().contains("logs/b.log`") && run.stderr().contains("No space left on device"),
        "{}",
        run.stderr()
    );
    assert!(
        !t.path().join("a-rolled-back").exists(),
        "no rollback starts once the record cannot be written"
    );
}
