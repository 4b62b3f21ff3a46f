//! `runbook approve` and `runbook decline` from a second process, `confirm_timeout`, the errors
//! of answering what does not wait, and `--ticket`.

use super::{
    LONG, cli, events, expect, finish, gated, id_un, of, out, start, text, wait_for_request,
};
use crate::support::{HttpStub, Reply, wait_until};
use crate::util::{Test, finished, playbook};

#[test]
fn a_run_without_a_terminal_waits_and_another_process_approves_it() {
    let t = Test::new().file("p.toml", &gated("", "\"Restore over production?\""));
    let run = start(&t, &["--wait-for-approval"]);
    wait_for_request(&out(&t), "gate");

    let approved = cli(
        t.path(),
        &["approve", "out", "gate", "--as", "Alice Martin"],
    );
    expect(&approved, 0);
    assert_eq!(text(&approved.stdout), "approved step `gate`\n");
    let run = finish(run);
    expect(&run, 0);

    // The plain lines print the exact command, with the run folder it names.
    let folder = std::fs::canonicalize(out(&t)).expect("out");
    let stderr = text(&run.stderr);
    let command = format!("runbook approve {} gate", folder.display());
    assert!(stderr.contains(&command), "{stderr}");
    assert!(
        stderr.contains("gate approved by Alice Martin (OS user"),
        "{stderr}"
    );

    let ev = events(&out(&t));
    let given = of(&ev, "approval_given");
    assert_eq!(given.len(), 1);
    assert_eq!(given[0]["by"], "Alice Martin");
    assert_eq!(given[0]["os_user"], id_un().as_str());
    assert_eq!(given[0]["how"], "remote");
    assert!(given[0]["waited_ms"].is_u64());
    assert_eq!(of(&ev, "approval_waiting")[0]["approve"], command.as_str());
    assert_eq!(finished(&ev, "last")["status"], "ok");
    // The answer was taken and removed; only the run's reply is left, read by `approve`.
    let left: Vec<_> = std::fs::read_dir(out(&t).join("answers"))
        .expect("answers/")
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "answer"))
        .collect();
    assert!(left.is_empty(), "{left:?}");

    let report = std::fs::read_to_string(out(&t).join("report.md")).expect("report");
    let row = format!("Alice Martin (OS user {})", id_un());
    assert!(report.contains(&row), "{report}");
}

#[test]
fn a_declined_step_fails_the_run_and_is_never_rolled_back() {
    // `approvals = "wait"` in the playbook instead of the flag.
    let t = Test::new().file(
        "p.toml",
        &gated("approvals = \"wait\"", "\"Restore over production?\""),
    );
    let run = start(&t, &[]);
    wait_for_request(&out(&t), "gate");
    let declined = cli(
        t.path(),
        &[
            "decline",
            "out",
            "gate",
            "--reason",
            "the backup is from last week",
        ],
    );
    expect(&declined, 0);
    assert_eq!(text(&declined.stdout), "declined step `gate`\n");
    expect(&finish(run), 1);

    let ev = events(&out(&t));
    let declined = of(&ev, "approval_declined");
    assert_eq!(declined.len(), 1);
    assert_eq!(declined[0]["reason"], "the backup is from last week");
    assert_eq!(declined[0]["by"], id_un().as_str());
    assert_eq!(declined[0]["os_user"], id_un().as_str());
    assert_eq!(finished(&ev, "gate")["status"], "failed");
    // `first` ran and is undone; `gate` never started, so nothing of it is undone.
    let rollbacks: Vec<&str> = of(&ev, "rollback_started")
        .iter()
        .map(|e| e["step"].as_str().expect("step"))
        .collect();
    assert_eq!(rollbacks, ["first"]);
    assert!(!of(&ev, "step_started").iter().any(|e| e["step"] == "gate"));
}

#[test]
fn confirm_timeout_declines_an_unanswered_request() {
    let body = gated("", "\"Go on?\"").replace(
        "on_failure = \"rollback\"",
        "on_failure = \"rollback\"\nconfirm_timeout = \"300ms\"",
    );
    let t = Test::new().file("p.toml", &body);
    let run = finish(start(&t, &["--wait-for-approval"]));
    expect(&run, 1);
    let ev = events(&out(&t));
    let declined = of(&ev, "approval_declined");
    assert_eq!(declined.len(), 1);
    assert_eq!(declined[0]["timed_out"], true);
    assert_eq!(declined[0]["by"], "nobody");
    assert!(
        declined[0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("within 300ms (`confirm_timeout`)")),
        "{declined:#?}"
    );
    assert_eq!(of(&ev, "approval_waiting")[0]["timeout_ms"], 300);
    assert!(
        !of(&ev, "rollback_started")
            .iter()
            .any(|e| e["step"] == "gate")
    );
    assert!(text(&run.stderr).contains("declined if unanswered within 300ms"));
}

#[test]
fn without_leave_to_wait_a_run_with_no_terminal_fails_at_once_and_says_how_to_wait() {
    let t = Test::new().file("p.toml", &gated("", "\"Go on?\""));
    let run = finish(start(&t, &[]));
    expect(&run, 1);
    let reason = finished(&events(&out(&t)), "gate")["reason"].clone();
    assert!(
        reason
            .as_str()
            .is_some_and(|r| r.contains("--wait-for-approval")),
        "{reason}"
    );
}

#[test]
fn a_manual_step_takes_typed_inputs_from_approve() {
    let body = playbook(
        "manual",
        r#"
[[steps]]
id = "page"
manual = "Page the DBA on call"
inputs = { ticket = { type = "string", pattern = '^INC-[0-9]+$' }, minutes = "number" }
"#,
    );
    let t = Test::new().file("p.toml", &body);
    let run = start(&t, &["--wait-for-approval"]);
    wait_for_request(&out(&t), "page");

    let typo = cli(
        t.path(),
        &["approve", "out", "page", "--input", "tickt=INC-1"],
    );
    expect(&typo, 2);
    assert!(
        text(&typo.stderr).contains("unknown input `tickt` of step `page`, did you mean `ticket`?"),
        "{}",
        text(&typo.stderr)
    );
    let wrong = cli(
        t.path(),
        &[
            "approve",
            "out",
            "page",
            "--input",
            "ticket=INC-1",
            "--input",
            "minutes=ten",
        ],
    );
    expect(&wrong, 2);
    assert!(text(&wrong.stderr).contains("invalid `--input minutes=ten`"));
    let missing = cli(
        t.path(),
        &["approve", "out", "page", "--input", "ticket=INC-1"],
    );
    expect(&missing, 2);
    assert!(text(&missing.stderr).contains("--input minutes=VALUE"));
    let no_value = cli(t.path(), &["approve", "out", "page", "--input", "ticket"]);
    expect(&no_value, 2);

    let done = cli(
        t.path(),
        &[
            "approve",
            "out",
            "page",
            "--input",
            "ticket=INC-7",
            "--input",
            "minutes=5",
        ],
    );
    expect(&done, 0);
    assert_eq!(text(&done.stdout), "confirmed step `page`\n");
    expect(&finish(run), 0);
    let ev = events(&out(&t));
    let answers: Vec<(&str, &str)> = of(&ev, "input_given")
        .iter()
        .map(|e| {
            (
                e["input"].as_str().expect("input"),
                e["value"].as_str().expect("value"),
            )
        })
        .collect();
    assert_eq!(answers, [("ticket", "INC-7"), ("minutes", "5")]);
    assert_eq!(finished(&ev, "page")["outputs"]["ticket"], "INC-7");
    // The refused answers never reached the journal as answers.
    assert_eq!(of(&ev, "approval_given").len(), 1);
}

#[test]
fn answering_what_does_not_wait_is_a_clear_error() {
    let t = Test::new().file("p.toml", &gated("", "\"Go on?\""));
    let missing = cli(t.path(), &["approve", "nowhere", "gate"]);
    expect(&missing, 2);
    assert!(text(&missing.stderr).contains("no run `nowhere`"));

    let run = start(&t, &["--wait-for-approval"]);
    wait_for_request(&out(&t), "gate");
    let typo = cli(t.path(), &["approve", "out", "gat"]);
    expect(&typo, 3);
    assert!(
        text(&typo.stderr)
            .contains("step `gat` of run `out` is not waiting for an answer, did you mean `gate`?"),
        "{}",
        text(&typo.stderr)
    );
    let not_yet = cli(t.path(), &["approve", "out", "last"]);
    expect(&not_yet, 3);
    assert!(text(&not_yet.stderr).contains("waiting now: `gate`"));
    let inputs = cli(t.path(), &["approve", "out", "gate", "--input", "a=b"]);
    expect(&inputs, 2);
    assert!(text(&inputs.stderr).contains("takes no `--input`"));

    expect(&cli(t.path(), &["approve", "out", "gate"]), 0);
    expect(&finish(run), 0);
    let over = cli(t.path(), &["approve", "out", "gate"]);
    expect(&over, 3);
    assert!(text(&over.stderr).contains("run `out` is not live: it ended (ok)"));
}

#[test]
fn a_crashed_run_is_not_live_for_approve() {
    let t = Test::new().file("p.toml", &gated("", "\"Go on?\""));
    let mut run = start(&t, &["--wait-for-approval"]);
    wait_for_request(&out(&t), "gate");
    run.kill().expect("kill -9");
    run.wait().expect("reaped");
    let late = cli(t.path(), &["approve", "out", "gate"]);
    expect(&late, 3);
    assert!(
        text(&late.stderr).contains("its process is gone without finishing")
            && text(&late.stderr).contains("runbook resume out"),
        "{}",
        text(&late.stderr)
    );
}

#[test]
fn the_ticket_is_in_the_journal_the_report_and_every_webhook_payload() {
    let hook = HttpStub::start(vec![Reply::status(204)]);
    let body = gated(
        "[notify.webhook]\nurl = \"{{env.HOOK_URL}}\"\nevents = [\"started\", \"finished\"]",
        "\"Go on?\"",
    );
    let t = Test::new()
        .file("p.toml", &body)
        .env("HOOK_URL", &hook.url_for("/events"));
    t.run_args([
        "run", "p.toml", "--out", "out", "--yes", "--ticket", "INC-4711",
    ])
    .expect_code(0);
    let ev = events(&out(&t));
    assert_eq!(of(&ev, "run_started")[0]["ticket"], "INC-4711");
    let md = std::fs::read_to_string(out(&t).join("report.md")).expect("md");
    assert!(md.contains("**Ticket:** `INC-4711`"), "{md}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out(&t).join("report.json")).expect("json"))
            .expect("report.json parses");
    assert_eq!(json["run"]["ticket"], "INC-4711");
    assert!(wait_until(LONG, || hook.requests().len() >= 2));
    let payloads: Vec<serde_json::Value> = hook.requests().iter().map(|r| r.json()).collect();
    assert_eq!(payloads.len(), 2, "{payloads:#?}");
    for p in &payloads {
        assert_eq!(p["ticket"], "INC-4711", "{p:#}");
        assert!(p["text"].as_str().is_some());
    }
    // `runs` lists the runs of the runs root (not `--out` folders).
    t.run_args([
        "run",
        "p.toml",
        "--yes",
        "--ticket",
        "INC-4711",
        "--no-notify",
    ])
    .expect_code(0);
    let runs = t.run_args(["runs"]).expect_code(0);
    assert!(runs.stdout().contains("INC-4711"), "{}", runs.stdout());

    let empty = t
        .run_args(["run", "p.toml", "--ticket", " "])
        .expect_code(2);
    assert!(empty.stderr().contains("a ticket cannot be empty"));
}

#[test]
fn each_for_each_instance_is_asked_and_answered_by_its_own_name() {
    let body = playbook(
        "per-item",
        r#"
[[steps]]
id = "wipe"
for_each = ["alpha", "beta"]
confirm = "Wipe {{item}}?"
run = "echo wiping {{item}}"
max_parallel = 1
"#,
    );
    let t = Test::new().file("p.toml", &body);
    let run = start(&t, &["--wait-for-approval"]);
    wait_for_request(&out(&t), "wipe[alpha]");
    let bare = cli(t.path(), &["approve", "out", "wipe"]);
    expect(&bare, 3);
    assert!(
        text(&bare.stderr).contains("each instance asks by its own name, e.g. `wipe[alpha]`"),
        "{}",
        text(&bare.stderr)
    );
    expect(&cli(t.path(), &["approve", "out", "wipe[alpha]"]), 0);
    wait_for_request(&out(&t), "wipe[beta]");
    let declined = cli(
        t.path(),
        &["decline", "out", "wipe[beta]", "--reason", "keep it"],
    );
    expect(&declined, 0);
    expect(&finish(run), 1);
    let ev = events(&out(&t));
    assert_eq!(finished(&ev, "wipe[alpha]")["status"], "ok");
    assert_eq!(finished(&ev, "wipe[beta]")["status"], "failed");
    let waiting: Vec<&str> = of(&ev, "approval_waiting")
        .iter()
        .map(|e| e["approve"].as_str().expect("approve"))
        .collect();
    assert!(
        waiting
            .iter()
            .all(|c| c.ends_with("'wipe[alpha]'") || c.ends_with("'wipe[beta]'")),
        "the printed commands quote the instance for the shell: {waiting:?}"
    );
}

#[test]
fn on_a_terminal_with_leave_to_wait_the_first_answer_wins_the_prompt_or_approve() {
    let t = Test::new().file("p.toml", &gated("", "\"Go on?\""));
    let term =
        crate::approvals::Terminal::open(t.path(), "run p.toml --out out --wait-for-approval", &[]);
    wait_for_request(&out(&t), "gate");
    assert!(
        wait_until(LONG, || term.screen().contains("[y/N]")),
        "the prompt shows too:\n{}",
        term.screen()
    );
    let waiting = of(&events(&out(&t)), "approval_waiting")[0].clone();
    assert_eq!(waiting["prompt"], true);
    // Answered from elsewhere: the prompt stops asking and the run goes on.
    expect(
        &cli(t.path(), &["approve", "out", "gate", "--as", "Remote Rita"]),
        0,
    );
    assert_eq!(term.wait(), 0);
    let ev = events(&out(&t));
    let given = of(&ev, "approval_given");
    assert_eq!(given.len(), 1);
    assert_eq!(given[0]["by"], "Remote Rita");
    assert_eq!(given[0]["how"], "remote");
    assert_eq!(finished(&ev, "last")["status"], "ok");
}
