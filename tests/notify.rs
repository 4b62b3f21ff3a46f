//! Notifications through the real binary, posted to `HttpStub`s on 127.0.0.1: Slack Block Kit
//! payloads for every event kind (snapshots), retries (500 then 200, 429 with `Retry-After`),
//! a hung webhook that delays the exit by the drain limit at most, secrets masked in messages,
//! `--no-notify` and `--dry-run`, and the generic `[notify.webhook]`.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{HttpStub, Reply, Request};
use crate::util::{Test, playbook};

/// The stub's path: Slack's webhook URLs carry their credentials in it.
const HOOK_PATH: &str = "/services/T0001/B0001/s3cr3tT0k3n";

/// `[notify.slack]` posting to `stub`, with the extra keys given.
fn slack(extra: &str) -> String {
    format!("[notify.slack]\nwebhook = \"{{{{env.SLACK_WEBHOOK_URL}}}}\"\n{extra}\n")
}

/// A scratch folder with `p.toml`, and the stub's URL in `SLACK_WEBHOOK_URL`.
fn test(stub: &HttpStub, body: &str) -> Test {
    Test::new()
        .file("p.toml", &playbook("db-restore", body))
        .env("SLACK_WEBHOOK_URL", &stub.url_for(HOOK_PATH))
}

/// Runs `p.toml` into `out/` as alice in staging, with more arguments.
fn run(t: &Test, args: &[&str], code: i32) {
    let mut all = vec![
        "run",
        "p.toml",
        "--out",
        "out",
        "--env",
        "staging",
        "--commander",
        "alice",
    ];
    all.extend_from_slice(args);
    t.run_args(all).expect_code(code);
}

fn journal(dir: &Path) -> Vec<Value> {
    crate::util::journal(&dir.join("out"))
}

/// The journal's `notification_sent`/`notification_failed` events.
fn notifications(dir: &Path) -> Vec<Value> {
    journal(dir)
        .into_iter()
        .filter(|e| {
            e["event"]
                .as_str()
                .is_some_and(|n| n.starts_with("notification_"))
        })
        .collect()
}

/// `(event, about)` of each notification journaled.
fn outcomes(dir: &Path) -> Vec<(String, String)> {
    notifications(dir)
        .iter()
        .map(|e| {
            (
                e["event"].as_str().expect("event").to_owned(),
                e["about"].as_str().expect("about").to_owned(),
            )
        })
        .collect()
}

fn sent(about: &str) -> (String, String) {
    ("notification_sent".to_owned(), about.to_owned())
}

fn failed(about: &str) -> (String, String) {
    ("notification_failed".to_owned(), about.to_owned())
}

/// A payload as pretty JSON, with what changes from run to run replaced in every string: the
/// scratch folder, run ids, times and durations; and every measured `*_ms` number.
fn normalized(value: &Value, dir: &Path) -> String {
    let dirs = [
        dir.to_path_buf(),
        dir.canonicalize().expect("canonical dir"),
    ];
    let rules: Vec<(regex::Regex, &str)> = [
        (r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z", "[time]"),
        (r"\d{8}T\d{6}Z-[a-z0-9-]+-[0-9a-f]{4}", "[run-id]"),
        (r"\b\d+(\.\d+)?(ms|s|m|h)( \d+(\.\d+)?(ms|s))?\b", "[dur]"),
    ]
    .into_iter()
    .map(|(p, r)| (regex::Regex::new(p).expect("regex"), r))
    .collect();
    let mut value = value.clone();
    normalize(&mut value, &|s| {
        let mut text = s.to_owned();
        for d in &dirs {
            text = text.replace(&d.display().to_string(), "[dir]");
        }
        for (re, replacement) in &rules {
            text = re.replace_all(&text, *replacement).into_owned();
        }
        text
    });
    serde_json::to_string_pretty(&value).expect("JSON")
}

fn normalize(value: &mut Value, text: &dyn Fn(&str) -> String) {
    match value {
        Value::String(s) => *s = text(s),
        Value::Array(items) => items.iter_mut().for_each(|v| normalize(v, text)),
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                let measured = key.ends_with("_ms") && key != "rto_objective_ms";
                if measured && v.is_number() {
                    *v = Value::from("[ms]");
                } else {
                    normalize(v, text);
                }
            }
        }
        _ => {}
    }
}

fn bodies(requests: &[Request]) -> Vec<Value> {
    requests.iter().map(Request::json).collect()
}

const ALL_EVENTS: &str = r#"events = ["started", "step_failed", "approval_needed", "rto_warning", "finished", "step_finished", "check_failed", "rollback"]"#;

#[test]
fn slack_gets_block_kit_messages_for_every_event_kind() {
    let stub = HttpStub::start(vec![Reply::ok("ok")]);
    let body = format!(
        r#"title = "Restore the orders database"
rto = "1s"
secrets = ["SLACK_WEBHOOK_URL"]
[vars]
database = "orders"
{}
[[checks]]
id = "api-up"
command = "echo 'connection refused' >&2; exit 7"
[[steps]]
id = "announce"
notify = "Restoring {{{{vars.database}}}} from last night's backup.\nFollow along here."
[[steps]]
id = "wait"
needs = ["announce"]
sleep = "1s"
[[steps]]
id = "snapshot"
needs = ["wait"]
run = "echo snapshot taken"
rollback = "echo restoring the snapshot"
[[steps]]
id = "restore"
needs = ["snapshot"]
run = "echo restoring orders >&2; echo 'ERROR: relation \"orders\" does not exist <!channel>' >&2; exit 3"
on_failure = "rollback"
"#,
        slack(&format!(
            "channel = \"#incident-dr\"\nmention = \"<!subteam^S0DBA>\"\n{ALL_EVENTS}"
        ))
    );
    let t = test(&stub, &body);
    run(&t, &[], 1);

    let requests = stub.requests();
    let journaled = notifications(t.path());
    assert_eq!(
        outcomes(t.path()),
        [
            sent("started"),
            sent("check_failed"),
            sent("notify"),
            sent("step_finished"),
            sent("rto_warning"),
            sent("step_finished"),
            sent("step_finished"),
            sent("step_failed"),
            sent("rollback"),
            sent("finished"),
        ],
        "one message per event, in order, each journaled as sent"
    );
    assert_eq!(requests.len(), journaled.len(), "each message posted once");
    assert!(journaled.iter().all(|e| e["channel"] == "#incident-dr"));
    assert!(requests.iter().all(|r| r.method == "POST"
        && r.path == HOOK_PATH
        && r.header("content-type") == Some("application/json")));
    let mut seen = Vec::new();
    for (request, event) in requests.iter().zip(&journaled) {
        let about = event["about"].as_str().expect("about");
        let body = request.json();
        assert_eq!(body["text"].as_str(), Some(&*slack_text(event)));
        if !seen.contains(&about) {
            seen.push(about);
            insta::assert_snapshot!(format!("slack_{about}"), normalized(&body, t.path()));
        }
    }
}

/// The Slack `text` fallback of a journaled message: its text, escaped, with the mention on
/// failures.
fn slack_text(event: &Value) -> String {
    let text = event["text"]
        .as_str()
        .expect("text")
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    match event["about"].as_str() {
        Some("step_failed" | "check_failed" | "finished") => format!("<!subteam^S0DBA> {text}"),
        _ => text,
    }
}

#[test]
fn an_approval_someone_must_give_is_announced_and_one_given_by_flag_is_not() {
    let stub = HttpStub::start(vec![Reply::ok("ok")]);
    let body = format!(
        "{}[[steps]]\nid = \"promote\"\nconfirm = \"Promote the replica in {{{{run.env}}}}?\"\nrun = \"true\"\n",
        slack("mention = \"<!subteam^S0DBA>\"")
    );
    let t = test(&stub, &body);
    // No terminal and no flag: the approval is asked, cannot be, and the step fails.
    run(&t, &[], 1);
    assert_eq!(
        outcomes(t.path()),
        [
            sent("started"),
            sent("approval_needed"),
            sent("step_failed"),
            sent("finished")
        ]
    );
    let approval = stub.requests()[1].json();
    insta::assert_snapshot!("slack_approval_needed", normalized(&approval, t.path()));

    let stub = HttpStub::start(vec![Reply::ok("ok")]);
    let t = test(&stub, &body);
    run(&t, &["--approve", "promote"], 0);
    assert_eq!(outcomes(t.path()), [sent("started"), sent("finished")]);
    assert_eq!(stub.requests().len(), 2);
}

#[test]
fn a_server_answering_500_then_200_gets_the_message_once() {
    let stub = HttpStub::start(vec![Reply::status(500).body("oops"), Reply::ok("ok")]);
    let t = test(
        &stub,
        &format!(
            "{}[[steps]]\nid = \"a\"\nrun = \"true\"\n",
            slack("events = [\"started\"]")
        ),
    );
    run(&t, &[], 0);
    let requests = stub.requests();
    assert_eq!(requests.len(), 2, "one failed attempt, one delivery");
    assert_eq!(requests[0].body, requests[1].body, "the same message again");
    assert_eq!(outcomes(t.path()), [sent("started")]);
}

#[test]
fn a_429_with_retry_after_is_honoured() {
    let stub = HttpStub::start(vec![
        Reply::status(429).header("Retry-After", "1"),
        Reply::ok("ok"),
    ]);
    let t = test(
        &stub,
        &format!(
            "{}[[steps]]\nid = \"a\"\nrun = \"true\"\n",
            slack("events = [\"started\"]")
        ),
    );
    run(&t, &[], 0);
    let requests = stub.requests();
    assert_eq!(requests.len(), 2);
    let gap = requests[1].arrived - requests[0].arrived;
    assert!(
        gap >= Duration::from_secs(1),
        "the retry came {gap:?} after the 429, before its Retry-After"
    );
    assert_eq!(outcomes(t.path()), [sent("started")]);
}

#[test]
fn a_refusal_is_not_retried_and_is_journaled_with_its_status() {
    let stub = HttpStub::start(vec![Reply::status(404).body("no_service")]);
    let t = test(
        &stub,
        &format!(
            "{}[[steps]]\nid = \"a\"\nrun = \"true\"\n",
            slack("events = [\"started\"]")
        ),
    );
    run(&t, &[], 0);
    assert_eq!(stub.requests().len(), 1);
    let journaled = notifications(t.path());
    assert_eq!(journaled.len(), 1);
    assert_eq!(journaled[0]["event"], "notification_failed");
    assert_eq!(journaled[0]["channel"], "slack");
    assert_eq!(journaled[0]["http_status"], 404);
    assert_eq!(
        journaled[0]["reason"],
        "not retried after 1 attempt: HTTP 404: no_service"
    );
}

#[test]
fn a_hung_webhook_delays_the_exit_by_the_drain_limit_at_most() {
    let stub = HttpStub::start(vec![Reply::hang()]);
    let t = test(
        &stub,
        &format!(
            "secrets = [\"SLACK_WEBHOOK_URL\"]\n{}[[steps]]\nid = \"a\"\nrun = \"true\"\n",
            slack("")
        ),
    );
    let started = Instant::now();
    run(&t, &[], 0);
    let took = started.elapsed();
    // The drain limit is 10 s and each attempt gives up within 5 s; the bound is generous.
    assert!(
        took < Duration::from_secs(30),
        "the run took {took:?} with a hung webhook"
    );
    assert!(!stub.requests().is_empty(), "the webhook was tried");
    assert_eq!(outcomes(t.path()), [failed("started"), failed("finished")]);
    for event in notifications(t.path()) {
        let reason = event["reason"].as_str().expect("reason");
        assert!(
            reason.starts_with("undelivered when the run ended"),
            "{reason}"
        );
    }
    let report = std::fs::read_to_string(t.path().join("out/report.md")).expect("report.md");
    let section = report
        .split("## Notifications")
        .nth(1)
        .expect("a Notifications section");
    assert!(section.contains("**failed**"), "{section}");
    assert!(
        section.contains("undelivered when the run ended"),
        "{section}"
    );
    assert!(!report.contains(HOOK_PATH), "the webhook URL is masked");
}

#[test]
fn a_secret_in_a_failing_step_s_output_is_masked_in_the_slack_message() {
    let stub = HttpStub::start(vec![Reply::ok("ok")]);
    let t = test(
        &stub,
        &format!(
            r#"secrets = ["SLACK_WEBHOOK_URL", "DB_PASSWORD"]
{}[[steps]]
id = "tell"
notify = "connecting with {{{{env.DB_PASSWORD}}}}"
[[steps]]
id = "connect"
needs = ["tell"]
run = "echo \"connecting as admin:$DB_PASSWORD@db\"; echo \"FATAL: password $DB_PASSWORD rejected\" >&2; exit 2"
"#,
            slack("")
        ),
    )
    .env("DB_PASSWORD", "hunter2-Zq9");
    let out = t.run_args([
        "run",
        "p.toml",
        "--out",
        "out",
        "--commander",
        "alice",
        "--json",
    ]);
    assert_eq!(out.code(), 1);
    assert_eq!(
        outcomes(t.path()),
        [
            sent("started"),
            sent("notify"),
            sent("step_failed"),
            sent("finished")
        ]
    );
    let requests = stub.requests();
    for request in &requests {
        assert!(!request.body.contains("hunter2"), "{}", request.body);
    }
    let failure = requests[2].json();
    let tail = failure["blocks"]
        .as_array()
        .expect("blocks")
        .iter()
        .find_map(|b| {
            b["text"]["text"]
                .as_str()
                .filter(|t| t.starts_with("*Last lines"))
        })
        .expect("a log tail block");
    assert!(tail.contains("connecting as admin:***@db"), "{tail}");
    assert!(tail.contains("FATAL: password *** rejected"), "{tail}");
    assert!(requests[1].body.contains("connecting with ***"));
    // The webhook URL is a secret too: nowhere in the output or the record.
    let journal = std::fs::read_to_string(t.path().join("out/journal.jsonl")).expect("journal");
    let report = std::fs::read_to_string(t.path().join("out/report.md")).expect("report");
    for text in [out.stdout(), out.stderr(), journal, report] {
        assert!(!text.contains(HOOK_PATH));
        assert!(!text.contains("hunter2"));
    }
}

#[test]
fn no_notify_and_dry_run_send_nothing() {
    let stub = HttpStub::start(vec![Reply::ok("ok")]);
    let body = format!(
        "{}[[steps]]\nid = \"a\"\nrun = \"true\"\n[[steps]]\nid = \"tell\"\nneeds = [\"a\"]\nnotify = \"done\"\n",
        slack("")
    );
    let t = test(&stub, &body);
    run(&t, &["--no-notify"], 0);
    assert_eq!(
        outcomes(t.path()),
        [failed("started"), failed("notify"), failed("finished")],
        "journaled as skipped"
    );
    assert!(
        notifications(t.path())
            .iter()
            .all(|e| e["reason"] == "skipped: --no-notify" && e["http_status"].is_null())
    );

    let dry = test(&stub, &body);
    run(&dry, &["--dry-run"], 0);
    assert!(outcomes(dry.path()).is_empty(), "a dry run journals none");
    assert!(stub.requests().is_empty(), "nothing was posted");
}

#[test]
fn a_webhook_url_that_does_not_render_is_one_failure_and_the_run_goes_on() {
    let t = Test::new().file(
        "p.toml",
        &playbook(
            "db-restore",
            "[notify.slack]\nwebhook = \"{{env.RUNBOOK_TEST_UNSET_HOOK}}\"\n[[steps]]\nid = \"a\"\nrun = \"true\"\n",
        ),
    );
    run(&t, &[], 0);
    let journaled = notifications(t.path());
    assert_eq!(journaled.len(), 1, "{journaled:?}");
    assert_eq!(journaled[0]["event"], "notification_failed");
    let reason = journaled[0]["reason"].as_str().expect("reason");
    assert!(
        reason.starts_with("failed to render `webhook` of [notify.slack]"),
        "{reason}"
    );
}

#[test]
fn a_generic_webhook_gets_json_and_notify_steps_reach_every_channel() {
    let hook = HttpStub::start(vec![Reply::status(204)]);
    let chat = HttpStub::start(vec![Reply::ok("ok")]);
    let body = format!(
        r#"rto = "30m"
secrets = ["HOOK_TOKEN"]
{}[notify.webhook]
url = "{{{{env.HOOK_URL}}}}"
headers = {{ Authorization = "Bearer {{{{env.HOOK_TOKEN}}}}" }}
[[steps]]
id = "restore"
run = "echo 'disk full' >&2; exit 1"
on_failure = "continue"
[[steps]]
id = "tell"
notify = "restore is being retried by hand"
"#,
        slack("events = [\"finished\"]")
    );
    let t = test(&chat, &body)
        .env("HOOK_URL", &hook.url_for("/events"))
        .env("HOOK_TOKEN", "tok-123");
    run(&t, &["--mode", "incident", "--max-parallel", "1"], 0);

    let requests = hook.requests();
    assert!(requests.iter().all(|r| r.method == "POST"
        && r.path == "/events"
        && r.header("authorization") == Some("Bearer tok-123")
        && r.header("content-type") == Some("application/json")));
    let payloads: Vec<String> = bodies(&requests)
        .iter()
        .map(|b| normalized(b, t.path()))
        .collect();
    insta::assert_snapshot!("webhook_payloads", payloads.join("\n"));
    let abouts: Vec<String> = bodies(&chat.requests())
        .iter()
        .map(|b| b["text"].as_str().expect("text").to_owned())
        .collect();
    assert_eq!(abouts.len(), 2, "the notify step and finished: {abouts:?}");
    assert!(abouts[0].contains("restore is being retried by hand"));
}
