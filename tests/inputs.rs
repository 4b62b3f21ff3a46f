//! Manual steps that record answers (v2.md 1.7): `inputs` answered by `--input` (which is then
//! the confirmation), checked before anything runs, asked at a terminal until valid, secret
//! ones masked everywhere, and the answers in the journal and the report.

use std::path::Path;

use serde_json::Value;

use crate::approvals::Terminal;
use crate::util::{Test, journal, playbook};

/// A manual step with a time and a ticket, and a step that uses both.
const TARGET_TIME: &str = r#"[[steps]]
id = "target-time"
manual = "Find the last good moment in the application logs."
inputs = { target_time = "time", ticket = { type = "string", pattern = '^INC-[0-9]+$', description = "the incident" } }

[[steps]]
id = "restore"
needs = ["target-time"]
run = "echo 'to {{steps.target-time.outputs.target_time}} for {{steps.target-time.outputs.ticket}}' > ../restored.txt"
"#;

fn events<'a>(journal: &'a [Value], name: &str) -> Vec<&'a Value> {
    journal.iter().filter(|e| e["event"] == name).collect()
}

/// Every file of a run folder, as text.
fn folder_text(dir: &Path) -> String {
    let mut text = String::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                text.push_str(&String::from_utf8_lossy(
                    &std::fs::read(&path).expect("read"),
                ));
            }
        }
    }
    text
}

#[test]
fn answers_given_by_input_reach_a_later_step_and_need_no_yes() {
    let t = Test::new().file("p.toml", &playbook("inputs-given", TARGET_TIME));
    let run = t
        .run_args([
            "run",
            "p.toml",
            "--out",
            "out",
            "--input",
            "target-time.ticket=INC-42",
            "--input",
            "target-time.target_time=2026-11-23T02:00:00Z",
        ])
        .expect_code(0);
    let restored = std::fs::read_to_string(t.path().join("restored.txt")).expect("restore ran");
    assert_eq!(restored, "to 2026-11-23T02:00:00Z for INC-42\n");
    let journal = journal(&t.path().join("out"));
    let given = events(&journal, "input_given");
    // In the order declared, each with who gave it.
    assert_eq!(given.len(), 2, "{journal:#?}");
    assert_eq!(given[0]["input"], "target_time");
    assert_eq!(given[1]["input"], "ticket");
    assert_eq!(given[1]["value"], "INC-42");
    assert_eq!(given[1]["by"], "--input");
    assert_eq!(given[1]["how"], "flag");
    assert!(given[0]["ts"].is_string());
    let approval = events(&journal, "approval_given");
    assert_eq!(approval[0]["by"], "--input", "{journal:#?}");
    let finished = journal
        .iter()
        .find(|e| e["event"] == "step_finished" && e["step"] == "target-time")
        .expect("the manual step finished");
    assert_eq!(finished["outputs"]["ticket"], "INC-42");
    let report = std::fs::read_to_string(t.path().join("out/report.md")).expect("report");
    assert!(
        report.contains("| `target-time` | `ticket` | INC-42 | --input | flag |"),
        "the report's approvals show the answers:\n{report}"
    );
    let json: Value = serde_json::from_str(
        &std::fs::read_to_string(t.path().join("out/report.json")).expect("report.json"),
    )
    .expect("JSON");
    assert_eq!(json["approvals"][0]["inputs"][1]["value"], "INC-42");
    assert!(
        run.stderr().contains("ticket = INC-42 (by --input)"),
        "{}",
        run.stderr()
    );
}

#[test]
fn an_invalid_input_is_a_usage_error_before_anything_runs() {
    let t = Test::new().file("p.toml", &playbook("inputs-invalid", TARGET_TIME));
    let cases = [
        (
            "target-time.ticket=42",
            "error: invalid `--input target-time.ticket=42`: it does not match the pattern /^INC-[0-9]+$/ (input `ticket` of step `target-time`, declared at p.toml:7:",
        ),
        (
            "target-time.target_time=yesterday",
            "error: invalid `--input target-time.target_time=yesterday`: expected an RFC 3339 time such as 2026-11-23T02:00:00Z",
        ),
        (
            "target-tme.ticket=INC-1",
            "error: unknown step `target-tme` in `--input target-tme.ticket=…`, did you mean `target-time`?",
        ),
        (
            "target-time.tickt=INC-1",
            "error: unknown input `tickt` of step `target-time` in `--input target-time.tickt=…`, did you mean `ticket`?",
        ),
        (
            "restore.ticket=INC-1",
            "error: `--input restore.ticket=…` answers nothing: step `restore` has no `inputs`",
        ),
        (
            "target-time.ticket",
            "error: `--input target-time.ticket` gives no value: write `--input STEP.NAME=VALUE`",
        ),
    ];
    for (flag, expected) in cases {
        let run = t
            .run_args(["run", "p.toml", "--out", "out", "--input", flag])
            .expect_code(2);
        assert!(
            run.stderr().contains(expected),
            "`--input {flag}`:\n{}",
            run.stderr()
        );
        assert!(!t.path().join("out").exists(), "nothing ran for `{flag}`");
    }
    assert!(!t.path().join("restored.txt").exists());
}

#[test]
fn a_missing_input_without_a_terminal_fails_the_step() {
    let t = Test::new().file("p.toml", &playbook("inputs-missing", TARGET_TIME));
    // One of the two is given; even --yes cannot invent the other (it has no default).
    let run = t
        .run_args([
            "run",
            "p.toml",
            "--out",
            "out",
            "--yes",
            "--input",
            "target-time.ticket=INC-42",
        ])
        .expect_code(1);
    let journal = journal(&t.path().join("out"));
    let declined = events(&journal, "approval_declined");
    assert_eq!(declined.len(), 1, "{journal:#?}");
    let reason = declined[0]["reason"].as_str().expect("a reason");
    assert!(
        reason.contains("needs input `target_time`, and there is no terminal to ask: rerun with `--input target-time.target_time=VALUE`"),
        "{reason}"
    );
    assert!(events(&journal, "input_given").is_empty());
    assert!(!t.path().join("restored.txt").exists(), "restore never ran");
    assert!(
        run.stderr()
            .contains("--input target-time.target_time=VALUE")
    );
}

#[test]
fn a_secret_input_is_masked_in_the_log_the_journal_and_the_report() {
    let body = r#"[[steps]]
id = "credentials"
manual = "Fetch the restore password from the vault."
inputs = { password = { type = "string", secret = true }, ticket = "string" }

[[steps]]
id = "restore"
needs = ["credentials"]
run = "echo 'logging in with {{steps.credentials.outputs.password}}'; echo -n '{{steps.credentials.outputs.password}}' > ../password.txt"
"#;
    let t = Test::new().file("p.toml", &playbook("inputs-secret", body));
    let secret = "hunter2-VAULT";
    let run = t
        .run_args([
            "run",
            "p.toml",
            "--out",
            "out",
            "--json",
            "--input",
            &format!("credentials.password={secret}"),
            "--input",
            "credentials.ticket=INC-9",
        ])
        .expect_code(0);
    // The step got the value itself.
    assert_eq!(
        std::fs::read_to_string(t.path().join("password.txt")).expect("restore ran"),
        secret
    );
    let out = t.path().join("out");
    assert!(
        !folder_text(&out).contains(secret),
        "the secret reached the run folder"
    );
    assert!(!run.stdout().contains(secret) && !run.stderr().contains(secret));
    let log = std::fs::read_to_string(out.join("logs/restore.log")).expect("log");
    assert!(log.contains("logging in with ***"), "{log}");
    let journal = journal(&out);
    let given = events(&journal, "input_given");
    assert_eq!(given[0]["value"], "***", "{journal:#?}");
    let report = std::fs::read_to_string(out.join("report.md")).expect("report");
    assert!(
        report.contains("| `credentials` | `password` | \\*\\*\\* | --input | flag |"),
        "{report}"
    );
    // An invalid secret answer is refused without being shown.
    let body = body.replace("secret = true", "secret = true, pattern = '^[a-z0-9-]+$'");
    let t = Test::new().file("p.toml", &playbook("inputs-secret-invalid", &body));
    let run = t
        .run_args([
            "run",
            "p.toml",
            "--input",
            &format!("credentials.password={secret}"),
        ])
        .expect_code(2);
    assert!(
        run.stderr()
            .contains("invalid `--input credentials.password=***`"),
        "{}",
        run.stderr()
    );
    assert!(!run.stderr().contains(secret));
}

#[test]
fn at_a_terminal_each_input_is_asked_and_an_invalid_answer_asked_again() {
    let body = r#"[[steps]]
id = "target-time"
manual = "Find the last good moment."
inputs = { ticket = { type = "string", pattern = '^INC-[0-9]+$' }, replicas = { type = "number", default = 3 } }

[[steps]]
id = "restore"
needs = ["target-time"]
run = "echo '{{steps.target-time.outputs.ticket}} x{{steps.target-time.outputs.replicas}}' > ../restored.txt"
"#;
    let t = Test::new().file("p.toml", &playbook("inputs-terminal", body));
    // `done`, an invalid ticket, a valid one, Enter for the default, then the name.
    let code =
        Terminal::open(t.path(), "run p.toml --out out", &[]).answer("done\n42\nINC-7\n\nalice\n");
    let screen = std::fs::read_to_string(t.path().join("screen.txt")).unwrap_or_default();
    assert_eq!(code, 0, "{screen}");
    assert!(
        screen.contains("not valid: it does not match the pattern /^INC-[0-9]+$/; try again"),
        "{screen}"
    );
    assert_eq!(
        screen
            .matches("  ticket [string, /^INC-[0-9]+$/]: ")
            .count(),
        2,
        "asked twice:\n{screen}"
    );
    assert!(
        screen.contains("replicas [number] [default: 3]: "),
        "{screen}"
    );
    assert_eq!(
        std::fs::read_to_string(t.path().join("restored.txt")).expect("restore ran"),
        "INC-7 x3\n"
    );
    let journal = journal(&t.path().join("out"));
    let given = events(&journal, "input_given");
    assert_eq!(given.len(), 2, "{journal:#?}");
    assert_eq!(given[0]["value"], "INC-7");
    assert_eq!(given[0]["by"], "alice");
    assert_eq!(given[0]["how"], "prompt");
    assert_eq!(given[1]["value"], "3");
}

#[test]
fn a_secret_typed_at_the_terminal_is_not_echoed_and_is_masked() {
    let body = r#"[[steps]]
id = "credentials"
manual = "Fetch the restore password from the vault."
inputs = { password = { type = "string", secret = true } }

[[steps]]
id = "restore"
needs = ["credentials"]
run = "echo 'using {{steps.credentials.outputs.password}}'; echo -n '{{steps.credentials.outputs.password}}' > ../password.txt"
"#;
    let t = Test::new().file("p.toml", &playbook("inputs-terminal-secret", body));
    let mut term = Terminal::open(t.path(), "run p.toml --out out --verbose", &[]);
    term.type_keys("done\n");
    // Typed only once the prompt has turned echo off.
    let asked = crate::support::wait_until(std::time::Duration::from_secs(60), || {
        term.screen().contains("secret: not shown]: ")
    });
    assert!(asked, "the input was never asked:\n{}", term.screen());
    term.type_keys("s3cr3t-typed\nbob\n");
    let code = term.wait();
    let screen = std::fs::read_to_string(t.path().join("screen.txt")).unwrap_or_default();
    assert_eq!(code, 0, "{screen}");
    assert_eq!(
        std::fs::read_to_string(t.path().join("password.txt")).expect("restore ran"),
        "s3cr3t-typed"
    );
    assert!(
        !screen.contains("s3cr3t-typed"),
        "echoed or shown:\n{screen}"
    );
    assert!(
        !folder_text(&t.path().join("out")).contains("s3cr3t-typed"),
        "the secret reached the run folder"
    );
    let journal = journal(&t.path().join("out"));
    let given = events(&journal, "input_given");
    assert_eq!(given[0]["value"], "***");
    assert_eq!(given[0]["by"], "bob");
}

// A secret answer is never written to disk, so a run that recorded one cannot give it to the
// steps of a resume: `resume` refuses before anything runs, naming the output (v2.md 0.7).
#[test]
fn resume_refuses_a_run_whose_secret_answer_it_cannot_restore() {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;

    let body = r#"[[steps]]
id = "credentials"
manual = "Fetch the restore password from the vault."
inputs = { password = { type = "string", secret = true } }

[[steps]]
id = "restore"
needs = ["credentials"]
run = "touch ../started; sleep 30"
"#;
    let t = Test::new().file("p.toml", &playbook("inputs-secret-resume", body));
    let mut child = crate::util::spawn(
        t.path(),
        &[
            "run",
            "p.toml",
            "--out",
            "out",
            "--input",
            "credentials.password=s3cr3t-resume",
        ],
    );
    let limit = std::time::Duration::from_secs(60);
    assert!(
        crate::support::wait_until(limit, || t.path().join("started").exists()),
        "restore never started"
    );
    let pid = Pid::from_raw(i32::try_from(child.id()).expect("a pid"));
    kill(pid, Signal::SIGINT).expect("runbook is alive");
    let mut status = None;
    assert!(
        crate::support::wait_until(limit, || {
            status = child.try_wait().expect("wait");
            status.is_some()
        }),
        "runbook did not stop"
    );
    assert_eq!(status.and_then(|s| s.code()), Some(130));
    let run = t.run_args(["resume", "out", "--yes"]).expect_code(3);
    assert!(
        run.stderr().contains(
            "output `steps.credentials.outputs.password` cannot be restored: it contains a secret runbook cannot name (a webhook URL, the answer to a secret input, or a secret output)"
        ),
        "{}",
        run.stderr()
    );
    assert!(!run.stderr().contains("s3cr3t-resume"));
}

#[test]
fn a_secret_answer_read_from_a_file_or_stdin_stays_out_of_the_process_list() {
    let body = r#"[[steps]]
id = "credentials"
manual = "Fetch the restore password from the vault."
inputs = { password = { type = "string", secret = true } }

[[steps]]
id = "restore"
needs = ["credentials"]
run = "echo -n '{{steps.credentials.outputs.password}}' > ../password.txt"
"#;
    let secret = "hunter2-FROM-FILE";
    let t = Test::new()
        .file("p.toml", &playbook("inputs-from-file", body))
        .file("password", &format!("{secret}\n"));
    let run = t
        .run_args([
            "run",
            "p.toml",
            "--out",
            "file",
            "--input",
            "credentials.password=@password",
        ])
        .expect_code(0);
    assert_eq!(
        std::fs::read_to_string(t.path().join("password.txt")).expect("restore ran"),
        secret,
        "the value is the file's, without its newline"
    );
    assert!(!run.stderr().contains("process list"), "{}", run.stderr());
    assert!(!folder_text(&t.path().join("file")).contains(secret));
    // From stdin.
    let mut child = crate::util::runbook()
        .args([
            "run",
            "p.toml",
            "--out",
            "stdin",
            "--input",
            "credentials.password=@-",
        ])
        .current_dir(t.path())
        .env("RUNBOOK_RUNS", t.runs_root())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("runbook runs");
    {
        use std::io::Write as _;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(b"from-stdin-42\n")
            .expect("write the answer");
    }
    assert_eq!(child.wait().expect("runbook ends").code(), Some(0));
    assert_eq!(
        std::fs::read_to_string(t.path().join("password.txt")).expect("restore ran"),
        "from-stdin-42"
    );
    // Given inline, it works, with a warning that says how to keep it out of `ps`.
    let run = t
        .run_args([
            "run",
            "p.toml",
            "--out",
            "inline",
            "--input",
            &format!("credentials.password={secret}"),
        ])
        .expect_code(0);
    assert!(
        run.stderr().contains("puts a secret answer in the process list; give it as `--input credentials.password=@FILE`"),
        "{}",
        run.stderr()
    );
    // A missing file is a usage error before anything runs.
    let run = t
        .run_args([
            "run",
            "p.toml",
            "--out",
            "missing",
            "--input",
            "credentials.password=@nope",
        ])
        .expect_code(2);
    assert!(
        run.stderr().contains("cannot read the value from `nope`"),
        "{}",
        run.stderr()
    );
    assert!(!t.path().join("missing").exists());
}
