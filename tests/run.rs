//! `runbook run`: scheduling, outputs, skips, retries, rollbacks, approvals, dry runs and
//! secrets, through the real binary with real processes. Events are read from `--json`.

use std::path::Path;

use serde_json::Value;

use crate::util::{Test, finished, playbook, root};

fn named<'a>(events: &'a [Value], name: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["event"] == name).collect()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn the_example_playbook_runs_with_no_setup() {
    let t = Test::new().file(
        "playbooks/local-backup-drill.toml",
        &read(&root().join("playbooks/local-backup-drill.toml")),
    );
    let run = t
        .run_args(["run", "local-backup-drill", "--json"])
        .expect_code(0);
    let events = run.events();
    assert_eq!(named(&events, "run_finished")[0]["status"], "ok");
    let runs: Vec<_> = std::fs::read_dir(t.path().join("runs"))
        .expect("runs/ beside the playbook folder")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("journal.jsonl").is_file())
        .collect();
    assert_eq!(runs.len(), 1, "one run folder");
    let folder = runs[0].clone();
    assert!(folder.join("report.md").is_file(), "the report is written");
    assert_eq!(
        read(&folder.join("playbook.toml")),
        read(&root().join("playbooks/local-backup-drill.toml"))
    );
    assert!(folder.join("logs/backup.log").is_file());
}

#[test]
fn independent_steps_really_overlap() {
    // Each step records when it started and ended; with two slots they overlap.
    let step = |id: &str| {
        format!(
            "[[steps]]\nid = \"{id}\"\nrun = \"date +%s%N > {id}.start; sleep 0.5; date +%s%N > {id}.end\"\n"
        )
    };
    let text = playbook("par", &format!("{}{}", step("a"), step("b")));
    let t = Test::new().file("p.toml", &text);
    t.run_args(["run", "p.toml", "--out", "out", "--max-parallel", "2"])
        .expect_code(0);
    let num = |f: &str| {
        read(&t.path().join("out").join(f))
            .trim()
            .parse::<u128>()
            .expect("a timestamp")
    };
    assert!(
        num("a.start") < num("b.end") && num("b.start") < num("a.end"),
        "a and b ran at the same time"
    );

    let t = Test::new().file("p.toml", &text);
    t.run_args(["run", "p.toml", "--out", "out", "--max-parallel", "1"])
        .expect_code(0);
    let num = |f: &str| {
        read(&t.path().join("out").join(f))
            .trim()
            .parse::<u128>()
            .expect("a timestamp")
    };
    assert!(
        num("a.end") <= num("b.start") || num("b.end") <= num("a.start"),
        "one slot: one at a time"
    );
}

#[test]
fn a_failed_step_rolls_back_the_completed_steps_in_reverse_order() {
    let text = playbook(
        "rollback",
        r#"[[steps]]
id = "a"
run = "echo a >> order.txt"
rollback = "echo undo-a >> order.txt"
[[steps]]
id = "b"
needs = ["a"]
run = "echo b >> order.txt"
rollback = "echo undo-b >> order.txt"
[[steps]]
id = "c"
needs = ["a"]
run = "sleep 0.2; echo c >> order.txt"
[[steps]]
id = "boom"
needs = ["b", "c"]
run = "echo boom >> order.txt; exit 4"
on_failure = "rollback"
rollback = "echo undo-boom >> order.txt"
[[steps]]
id = "after"
needs = ["boom"]
run = "echo after >> order.txt"
"#,
    );
    let t = Test::new().file("p.toml", &text);
    let run = t
        .run_args(["run", "p.toml", "--out", "out", "--json"])
        .expect_code(1);
    assert_eq!(
        read(&t.path().join("out/order.txt")),
        "a\nb\nc\nboom\nundo-boom\nundo-b\nundo-a\n"
    );
    let events = run.events();
    let rollbacks: Vec<&str> = named(&events, "rollback_finished")
        .iter()
        .map(|e| e["step"].as_str().expect("step"))
        .collect();
    assert_eq!(rollbacks, ["boom", "b", "a"]);
    assert_eq!(finished(&events, "boom")["reason"], "exit code 4");
    assert_eq!(finished(&events, "after")["status"], "skipped");
    assert_eq!(
        finished(&events, "after")["reason"],
        "needs failed step `boom`"
    );
    assert_eq!(named(&events, "run_finished")[0]["status"], "failed");
}

#[test]
fn retries_wait_longer_each_time_and_are_counted() {
    let text = playbook(
        "retry",
        r#"[[steps]]
id = "flaky"
run = "n=$(cat n 2>/dev/null || echo 0); n=$((n+1)); echo $n > n; date +%s%N >> times; [ $n -ge 3 ]"
retries = 4
retry_delay = "200ms"
backoff = 2.0
"#,
    );
    let t = Test::new().file("p.toml", &text);
    let run = t
        .run_args(["run", "p.toml", "--out", "out", "--json"])
        .expect_code(0);
    let events = run.events();
    let attempts = named(&events, "step_attempt_finished");
    assert_eq!(attempts.len(), 3, "two failures, then success");
    assert_eq!(attempts[0]["reason"], "exit code 1");
    assert_eq!(finished(&events, "flaky")["attempts"], 3);
    let times: Vec<u128> = read(&t.path().join("out/times"))
        .lines()
        .map(|l| l.parse().expect("ns"))
        .collect();
    // Delays of at least 200 ms, then 400 ms (lower bounds only: a busy machine is slower, never faster).
    assert!(times[1] - times[0] >= 200_000_000, "{times:?}");
    assert!(times[2] - times[1] >= 400_000_000, "{times:?}");
}

#[test]
fn outputs_flow_into_later_templates() {
    let text = playbook(
        "outputs",
        r#"[[steps]]
id = "source"
run = "echo '{\"backup\": {\"path\": \"/b/x y.dump\", \"size\": 42}}'"
outputs = { path = { json_pointer = "/backup/path" }, size = { json_pointer = "/backup/size" }, raw = "stdout" }
[[steps]]
id = "regex"
run = "echo 'taken at 2026-11-23T02:00:00Z by cron'"
outputs = { taken = { stdout_regex = 'taken at (\S+)' } }
[[steps]]
id = "use"
needs = ["source", "regex"]
run = "printf '%s|%s|%s|%s' {{quote steps.source.outputs.path}} {{steps.source.outputs.size}} {{steps.regex.outputs.taken}} {{steps.source.status}} > used.txt"
"#,
    );
    let t = Test::new().file("p.toml", &text);
    let run = t
        .run_args(["run", "p.toml", "--out", "out", "--json"])
        .expect_code(0);
    assert_eq!(
        read(&t.path().join("out/used.txt")),
        "/b/x y.dump|42|2026-11-23T02:00:00Z|ok"
    );
    assert_eq!(
        finished(&run.events(), "regex")["outputs"]["taken"],
        "2026-11-23T02:00:00Z"
    );
}

#[test]
fn when_skips_a_step_and_its_dependents_with_the_reason() {
    let text = playbook(
        "when",
        r#"[vars]
restore = false
[[steps]]
id = "gate"
when = "{{vars.restore}}"
run = "touch gate-ran"
[[steps]]
id = "after-gate"
needs = ["gate"]
run = "touch after-ran"
[[steps]]
id = "later"
needs = ["after-gate"]
run = "touch later-ran"
[[steps]]
id = "independent"
run = "touch independent-ran"
"#,
    );
    let t = Test::new().file("p.toml", &text);
    let run = t
        .run_args(["run", "p.toml", "--out", "out", "--json"])
        .expect_code(0);
    let events = run.events();
    assert_eq!(finished(&events, "gate")["reason"], "`when` is false");
    assert_eq!(
        finished(&events, "after-gate")["reason"],
        "needs skipped step `gate`"
    );
    assert_eq!(
        finished(&events, "later")["reason"],
        "needs skipped step `after-gate`"
    );
    assert!(!t.path().join("out/gate-ran").exists() && !t.path().join("out/later-ran").exists());
    assert!(t.path().join("out/independent-ran").exists());
    let t = Test::new().file("p.toml", &text);
    t.run_args(["run", "p.toml", "--out", "out", "--var", "restore=true"])
        .expect_code(0);
    assert!(
        t.path().join("out/later-ran").exists(),
        "--var restore=true runs the chain"
    );
}

#[test]
fn a_dry_run_executes_only_read_only_steps_and_prints_the_rest() {
    let text = playbook(
        "dry",
        r#"[[steps]]
id = "find"
read_only = true
run = "echo /backups/newest.dump"
outputs = { file = "stdout" }
[[steps]]
id = "restore"
needs = ["find"]
confirm = "overwrite the database?"
run = "touch restored && echo restoring {{quote steps.find.outputs.file}}"
outputs = { rows = "stdout" }
[[steps]]
id = "count"
needs = ["restore"]
run = "echo {{steps.restore.outputs.rows}} > counted"
"#,
    );
    let t = Test::new().file("p.toml", &text);
    let run = t
        .run_args(["run", "p.toml", "--out", "out", "--dry-run", "--json"])
        .expect_code(0);
    let events = run.events();
    assert_eq!(finished(&events, "find")["status"], "ok");
    assert_eq!(
        finished(&events, "restore")["would_run"],
        "touch restored && echo restoring /backups/newest.dump"
    );
    assert_eq!(
        finished(&events, "count")["would_run"],
        "echo <steps.restore.outputs.rows> > counted"
    );
    assert_eq!(named(&events, "run_started")[0]["mode"], "dry-run");
    assert!(
        named(&events, "approval_requested").is_empty(),
        "a dry run asks nobody"
    );
    let created: Vec<String> = std::fs::read_dir(t.path().join("out"))
        .expect("run folder")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    let mut created = created;
    created.sort();
    assert_eq!(
        created,
        [
            "journal.jsonl",
            "logs",
            "playbook.toml",
            "report.json",
            "report.md"
        ],
        "no command of a non-read-only step ran"
    );
}

#[test]
fn a_step_needing_approval_fails_at_once_without_a_terminal() {
    let text = playbook(
        "approve",
        "[[steps]]\nid = \"drop\"\nconfirm = \"drop the database?\"\nrun = \"touch dropped\"\n",
    );
    let t = Test::new().file("p.toml", &text);
    let run = t
        .run_args(["run", "p.toml", "--out", "out", "--json"])
        .expect_code(1);
    let reason = finished(&run.events(), "drop")["reason"]
        .as_str()
        .expect("reason")
        .to_owned();
    assert!(
        reason.contains("no terminal to ask") && reason.contains("--approve drop"),
        "{reason}"
    );
    assert!(!t.path().join("out/dropped").exists());

    let t = Test::new().file("p.toml", &text);
    let run = t
        .run_args([
            "run",
            "p.toml",
            "--out",
            "out",
            "--json",
            "--approve",
            "drop",
        ])
        .expect_code(0);
    let given = named(&run.events(), "approval_given")[0].clone();
    assert_eq!(
        (given["by"].as_str(), given["how"].as_str()),
        (Some("--approve drop"), Some("flag"))
    );
    assert!(t.path().join("out/dropped").exists());
}

#[test]
fn secrets_never_reach_stdout_stderr_logs_or_events() {
    // Regex and shell metacharacters, and printed in two halves across two reads.
    let secret = r#"p@ss.w*rd$(x)|'"\[1]"#;
    let text = playbook(
        "secret",
        r#"secrets = ["DB_PASS"]
[[steps]]
id = "leak"
run = "printf 'url=postgres://u:%s@db\n' \"$DB_PASS\"; printf '%s' \"$DB_PASS\" | head -c 5; sleep 0.2; printf '%s\n' \"$DB_PASS\" | tail -c +6; echo \"$DB_PASS\" >&2"
outputs = { line = "stdout" }
[[steps]]
id = "fail"
needs = ["leak"]
run = "echo \"about to fail with $DB_PASS\"; exit 2"
"#,
    );
    for json in [true, false] {
        let t = Test::new().file("p.toml", &text).env("DB_PASS", secret);
        let mut args = vec!["run", "p.toml", "--out", "out", "--verbose"];
        if json {
            args.push("--json");
        }
        let run = t.run_args(args).expect_code(1);
        assert!(
            !run.stdout().contains(secret) && !run.stderr().contains(secret),
            "the secret leaked to the terminal"
        );
        assert!(
            !run.stdout().contains("p@ss") && !run.stderr().contains("p@ss"),
            "part of the secret leaked"
        );
        for log in ["leak.log", "fail.log"] {
            let text = read(&t.path().join("out/logs").join(log));
            assert!(
                !text.contains("p@ss") && text.contains("***"),
                "{log}: {text}"
            );
        }
        if json {
            let events = run.events();
            assert_eq!(
                finished(&events, "leak")["outputs"]["line"]
                    .as_str()
                    .map(|s| s.contains("***")),
                Some(true)
            );
        }
    }
}

#[test]
fn an_environment_outside_the_playbooks_is_refused_with_3() {
    let text = playbook(
        "envs",
        "environments = [\"staging\"]\n[[steps]]\nid = \"a\"\nrun = \"touch ran\"\n",
    );
    let t = Test::new().file("p.toml", &text);
    let run = t
        .run_args(["run", "p.toml", "--out", "out", "--env", "production"])
        .expect_code(3);
    assert!(
        run.stderr()
            .contains("environment `production` is not allowed"),
        "{}",
        run.stderr()
    );
    assert!(!t.path().join("out").exists(), "nothing ran, no run folder");
}

#[test]
fn steps_for_other_environments_are_skipped_as_the_plan_says() {
    // One skip rule: `plan --env` and `run --env` name the same steps, with the same words.
    let text = playbook(
        "envs",
        r#"environments = ["staging", "production"]
[[steps]]
id = "slow"
run = "sleep 0.3; touch slow-ran"
[[steps]]
id = "page"
environments = ["production"]
run = "touch page-ran"
[[steps]]
id = "after-page"
needs = ["page"]
run = "touch after-ran"
[[steps]]
id = "last"
needs = ["slow"]
run = "true"
"#,
    );
    let t = Test::new().file("p.toml", &text);
    let plan = t
        .run_args(["plan", "p.toml", "--env", "staging", "--format", "json"])
        .expect_code(0);
    let plan: Value = serde_json::from_str(&plan.stdout()).expect("plan json");
    let planned: Vec<(String, String)> = plan["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter(|s| !s["skipped"].is_null())
        .map(|s| {
            (
                s["id"].as_str().unwrap_or("").to_owned(),
                s["skipped"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        planned,
        [
            ("page".to_owned(), "not for this environment".to_owned()),
            (
                "after-page".to_owned(),
                "needs skipped step `page`".to_owned()
            ),
        ]
    );
    let run = t
        .run_args([
            "run", "p.toml", "--out", "out", "--env", "staging", "--json",
        ])
        .expect_code(0);
    let events = run.events();
    for (id, reason) in &planned {
        let f = finished(&events, id);
        assert_eq!(f["status"], "skipped", "{f}");
        assert_eq!(f["reason"].as_str(), Some(reason.as_str()), "{f}");
    }
    assert_eq!(finished(&events, "slow")["status"], "ok");
    assert_eq!(finished(&events, "last")["status"], "ok");
    assert!(t.path().join("out/slow-ran").exists());
    assert!(!t.path().join("out/page-ran").exists() && !t.path().join("out/after-ran").exists());
    // Known from the start: the skips come before the first step ends.
    let position = |pred: &dyn Fn(&Value) -> bool| events.iter().position(pred).expect("event");
    let skipped = position(&|e| e["event"] == "step_finished" && e["step"] == "after-page");
    let slow_done = position(&|e| e["event"] == "step_finished" && e["step"] == "slow");
    assert!(skipped < slow_done, "{events:#?}");
}

#[test]
fn expectations_env_and_cwd_are_honoured() {
    let text = playbook(
        "expect",
        r#"[env]
GREETING = "hello {{vars.who}}"
[vars]
who = "sre"
[[steps]]
id = "mk"
run = "mkdir -p sub"
[[steps]]
id = "here"
needs = ["mk"]
cwd = "sub"
env = { EXTRA = "x" }
run = "echo \"$GREETING $EXTRA $RUNBOOK_STEP\"; pwd"
expect = { stdout_matches = '^hello sre x here\n.*/sub$' }
[[steps]]
id = "wrong"
needs = ["here"]
run = "echo nope"
expect = { stdout_contains = "yes" }
"#,
    );
    let t = Test::new().file("p.toml", &text);
    let run = t
        .run_args(["run", "p.toml", "--out", "out", "--json"])
        .expect_code(1);
    let events = run.events();
    assert_eq!(finished(&events, "here")["status"], "ok");
    assert_eq!(
        finished(&events, "wrong")["reason"],
        "stdout does not contain \"yes\""
    );
}

/// Runs `runbook` on a real terminal (util-linux `script` gives it a pty) with `answers` typed.
fn on_a_terminal(dir: &Path, args: &str, answers: &str) -> std::process::Output {
    use std::io::Write as _;
    let binary = assert_cmd::cargo::cargo_bin("runbook");
    let mut child = std::process::Command::new("script")
        .args(["-qec", &format!("{} {args}", binary.display()), "/dev/null"])
        .current_dir(dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("util-linux `script` is needed for terminal tests (apt-get install util-linux)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(answers.as_bytes())
        .expect("type the answers");
    child.wait_with_output().expect("script ends")
}

#[test]
fn approvals_asked_on_a_terminal_record_who_answered() {
    let text = playbook(
        "ask",
        "[[steps]]\nid = \"drop\"\nconfirm = \"drop the table?\"\nrun = \"touch dropped\"\n[[steps]]\nid = \"call\"\nneeds = [\"drop\"]\nmanual = \"Call the DBA\"\n",
    );
    let t = Test::new().file("p.toml", &text);
    let out = on_a_terminal(t.path(), "run p.toml --out out", "y\nalice\ndone\nbob\n");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let journal = read(&t.path().join("out/journal.jsonl"));
    assert!(
        journal.contains(r#""event":"approval_given","step":"drop","by":"alice","how":"prompt""#),
        "{journal}"
    );
    assert!(
        journal.contains(r#""event":"approval_given","step":"call","by":"bob","how":"prompt""#),
        "{journal}"
    );
    assert!(t.path().join("out/dropped").exists());

    let t = Test::new().file("p.toml", &text);
    let out = on_a_terminal(t.path(), "run p.toml --out out", "n\ncarol\n");
    assert_eq!(
        out.status.code(),
        Some(1),
        "a declined approval fails the run"
    );
    let journal = read(&t.path().join("out/journal.jsonl"));
    assert!(
        journal.contains(r#""event":"approval_declined","step":"drop","by":"carol""#),
        "{journal}"
    );
    assert!(!t.path().join("out/dropped").exists(), "nothing ran");
}

#[test]
fn only_runs_a_step_and_what_it_needs_and_says_so_in_the_journal_and_report() {
    let text = playbook(
        "subset",
        "[[steps]]\nid = \"a\"\nrun = \"touch a\"\n[[steps]]\nid = \"b\"\nneeds = [\"a\"]\nrun = \"touch b\"\n[[steps]]\nid = \"c\"\nneeds = [\"b\"]\nrun = \"touch c\"\n[[steps]]\nid = \"other\"\nrun = \"touch other\"\n",
    );
    let t = Test::new().file("p.toml", &text);
    t.run_args(["run", "p.toml", "--out", "out", "--only", "b"])
        .expect_code(0);
    let out = t.path().join("out");
    let ran: Vec<bool> = ["a", "b", "c", "other"]
        .iter()
        .map(|f| out.join(f).exists())
        .collect();
    assert_eq!(ran, [true, true, false, false]);
    let started = crate::util::journal(&out)
        .into_iter()
        .find(|e| e["event"] == "run_started")
        .expect("run_started");
    assert_eq!(started["selection"], "--only b");
    let report = read(&out.join("report.md"));
    assert!(report.contains("**Subset:** `--only b`"), "{report}");
    assert!(report.contains("not selected by `--only b`"), "{report}");
}

#[test]
fn the_playbooks_mode_is_the_default_and_mode_overrides_it() {
    let text = playbook(
        "nightly",
        "mode = \"routine\"\n[[steps]]\nid = \"a\"\nrun = \"true\"\n",
    );
    let t = Test::new().file("p.toml", &text);
    let mode = |run: &crate::util::Run| {
        run.events()
            .iter()
            .find(|e| e["event"] == "run_started")
            .map(|e| e["mode"].clone())
            .expect("run_started")
    };
    let routine = t
        .run_args(["run", "p.toml", "--out", "one", "--json"])
        .expect_code(0);
    assert_eq!(mode(&routine), "routine");
    let incident = t
        .run_args([
            "run", "p.toml", "--out", "two", "--json", "--mode", "incident",
        ])
        .expect_code(0);
    assert_eq!(mode(&incident), "incident");
    let bad = Test::new()
        .file("p.toml", &text.replace("\"routine\"", "\"routin\""))
        .args(["validate", "p.toml"])
        .run()
        .expect_code(2);
    assert!(bad.stderr().contains("p.toml:4:8"), "{}", bad.stderr());
    assert!(bad.stderr().contains("routine"), "{}", bad.stderr());
}

#[test]
fn a_routine_report_without_an_rto_speaks_of_duration_not_recovery() {
    let t = Test::new()
        .file(
            "nightly.toml",
            &playbook(
                "nightly",
                "mode = \"routine\"\n[[steps]]\nid = \"a\"\nrun = \"true\"\n",
            ),
        )
        .file(
            "drill.toml",
            &playbook(
                "drill",
                "rto = \"5m\"\nmode = \"routine\"\n[[steps]]\nid = \"a\"\nrun = \"true\"\n",
            ),
        );
    t.run_args(["run", "nightly.toml", "--out", "one"])
        .expect_code(0);
    let report = read(&t.path().join("one/report.md"));
    assert!(report.contains("**Duration:** "), "{report}");
    assert!(!report.contains("| RTO |"), "{report}");
    t.run_args(["run", "drill.toml", "--out", "two"])
        .expect_code(0);
    let report = read(&t.path().join("two/report.md"));
    assert!(
        report.contains("| RTO | 5m |"),
        "an objective keeps the table: {report}"
    );
}
