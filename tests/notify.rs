//! Notifications through the real binary, posted to `HttpStub`s on 127.0.0.1: Slack Block Kit
//! payloads for every event kind (snapshots), retries (500 then 200, 429 with `Retry-After`),
//! a hung webhook that delays the exit by the drain limit at most, secrets masked in messages,
//! `--no-notify`, the generic `[notify.webhook]`, a notify step's `fields`, and `--dry-run`,
//! which prints every message instead of sending it.

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
fn a_manual_step_answered_by_input_is_not_announced() {
    let stub = HttpStub::start(vec![Reply::ok("ok")]);
    let body = format!(
        "{}[[steps]]\nid = \"ticket\"\nmanual = \"Open the incident.\"\ninputs = {{ id = \"string\" }}\n",
        slack("")
    );
    let t = test(&stub, &body);
    run(&t, &["--input", "ticket.id=INC-1"], 0);
    assert_eq!(outcomes(t.path()), [sent("started"), sent("finished")]);
    // Without the answer, somebody must act: it is announced (and fails without a terminal).
    let stub = HttpStub::start(vec![Reply::ok("ok")]);
    let t = test(&stub, &body);
    run(&t, &[], 1);
    assert!(outcomes(t.path()).contains(&sent("approval_needed")));
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
    assert_eq!(
        outcomes(dry.path()),
        [
            ("notification_previewed".to_owned(), "started".to_owned()),
            ("notification_previewed".to_owned(), "notify".to_owned()),
            ("notification_previewed".to_owned(), "finished".to_owned()),
        ],
        "a dry run journals what it would send, and neither sent nor failed"
    );
    assert!(stub.requests().is_empty(), "nothing was posted");
}

/// `fields` on a notify step, with a secret among them.
fn fields_step(extra: &str) -> String {
    format!(
        r#"secrets = ["SLACK_WEBHOOK_URL", "PAGER_TOKEN"]
[vars]
zone = "eu-west-1"
{extra}[[steps]]
id = "page"
notify = "orders is down in {{{{vars.zone}}}}"
fields = {{ Severity = "SEV0", Commander = "{{{{run.commander}}}}", Zone = "{{{{vars.zone}}}}", Token = "pager {{{{env.PAGER_TOKEN}}}}" }}
"#
    )
}

const PAGER_TOKEN: &str = "pg-Tk-7731";

/// `[notify.webhook]` posting to `hook`, for the notify step only.
fn webhook(hook: &HttpStub) -> String {
    format!(
        "[notify.webhook]\nurl = \"{}\"\nevents = []\n",
        hook.url_for("/events")
    )
}

#[test]
fn a_notify_step_s_fields_reach_the_webhook_in_order_and_slack_as_section_fields() {
    let hook = HttpStub::start(vec![Reply::status(204)]);
    let chat = HttpStub::start(vec![Reply::ok("ok")]);
    let body = fields_step(&format!("{}{}", slack("events = []"), webhook(&hook)));
    let t = test(&chat, &body).env("PAGER_TOKEN", PAGER_TOKEN);
    run(&t, &[], 0);

    let posted = hook.requests();
    assert_eq!(posted.len(), 1, "only the notify step's message");
    let raw = &posted[0].body;
    let at = |key: &str| raw.find(&format!("\"{key}\"")).expect(key);
    assert!(
        at("Severity") < at("Commander")
            && at("Commander") < at("Zone")
            && at("Zone") < at("Token"),
        "in the order written: {raw}"
    );
    let payload = posted[0].json();
    assert_eq!(
        payload["fields"],
        serde_json::json!({"Severity": "SEV0", "Commander": "alice", "Zone": "eu-west-1", "Token": "pager ***"})
    );
    assert_eq!(
        payload["text"],
        "[DRILL] db-restore@1.0.0: message from step page\norders is down in eu-west-1"
    );

    let slack = chat.requests();
    assert_eq!(slack.len(), 1);
    let blocks = slack[0].json()["blocks"].clone();
    let fields: Vec<&str> = blocks
        .as_array()
        .expect("blocks")
        .iter()
        .find_map(|b| b["fields"].as_array())
        .expect("a section with fields")
        .iter()
        .map(|f| f["text"].as_str().expect("text"))
        .collect();
    assert_eq!(
        fields,
        [
            "*Severity*\nSEV0",
            "*Commander*\nalice",
            "*Zone*\neu-west-1",
            "*Token*\npager ***"
        ]
    );
    for request in posted.iter().chain(&slack) {
        assert!(!request.body.contains(PAGER_TOKEN), "{}", request.body);
    }
}

#[test]
fn a_secret_in_a_field_is_masked_in_the_journal_which_keeps_the_fields() {
    let hook = HttpStub::start(vec![Reply::status(204)]);
    let t = Test::new()
        .file(
            "p.toml",
            &playbook("db-restore", &fields_step(&webhook(&hook))),
        )
        .env("PAGER_TOKEN", PAGER_TOKEN);
    run(&t, &[], 0);
    let text = std::fs::read_to_string(t.path().join("out/journal.jsonl")).expect("journal");
    assert!(!text.contains(PAGER_TOKEN), "{text}");
    let events = journal(t.path());
    let expected = serde_json::json!({"Severity": "SEV0", "Commander": "alice", "Zone": "eu-west-1", "Token": "pager ***"});
    let requested = events
        .iter()
        .find(|e| e["event"] == "notify_requested")
        .expect("notify_requested");
    assert_eq!(requested["fields"], expected);
    let sent = events
        .iter()
        .find(|e| e["event"] == "notification_sent")
        .expect("notification_sent");
    assert_eq!(sent["channel"], "webhook");
    assert_eq!(sent["fields"], expected);
    assert_eq!(hook.requests()[0].json()["fields"], expected);
}

#[test]
fn a_dry_run_prints_every_message_with_its_fields_masked_and_sends_none() {
    let hook = HttpStub::start(vec![Reply::status(204)]);
    let chat = HttpStub::start(vec![Reply::ok("ok")]);
    let body = fields_step(&format!(
        "{}[notify.webhook]\nurl = \"{}\"\n",
        slack(""),
        hook.url_for("/events")
    ));
    let t = test(&chat, &body).env("PAGER_TOKEN", PAGER_TOKEN);
    let out = t
        .run_args([
            "run",
            "p.toml",
            "--out",
            "out",
            "--commander",
            "alice",
            "--dry-run",
        ])
        .expect_code(0);
    assert!(hook.requests().is_empty(), "the webhook got nothing");
    assert!(chat.requests().is_empty(), "Slack got nothing");
    let stderr = out.stderr();
    for channel in ["slack", "webhook"] {
        for about in ["started", "notify", "finished"] {
            assert!(
                stderr.contains(&format!(
                    "would send {about} to {channel} (dry run: not sent)"
                )),
                "{about} to {channel}:\n{stderr}"
            );
        }
    }
    assert!(
        stderr.contains("[DRY RUN] db-restore@1.0.0: message from step page"),
        "{stderr}"
    );
    assert!(stderr.contains("orders is down in eu-west-1"), "{stderr}");
    assert!(stderr.contains("Severity: SEV0"), "{stderr}");
    assert!(stderr.contains("Token: pager ***"), "{stderr}");
    let record = std::fs::read_to_string(t.path().join("out/journal.jsonl")).expect("journal");
    for text in [&stderr, &out.stdout(), &record] {
        assert!(!text.contains(PAGER_TOKEN), "{text}");
        assert!(!text.contains(HOOK_PATH), "the webhook URL is a secret too");
    }
    let previews: Vec<Value> = notifications(t.path());
    assert_eq!(
        previews.len(),
        6,
        "three messages for each channel: {previews:?}"
    );
    assert!(
        previews
            .iter()
            .all(|e| e["event"] == "notification_previewed")
    );
    let page = previews
        .iter()
        .find(|e| e["about"] == "notify" && e["channel"] == "webhook")
        .expect("the notify step's preview");
    assert_eq!(page["fields"]["Token"], "pager ***");
    assert_eq!(page["fields"]["Commander"], "alice");
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

#[test]
fn show_and_diff_name_a_notify_step_s_fields() {
    let v1 = playbook(
        "db-restore",
        "[[steps]]\nid = \"page\"\nnotify = \"orders is down\"\nfields = { Severity = \"SEV1\", Commander = \"{{run.commander}}\" }\n",
    );
    let v2 = v1
        .replace("version = \"1.0.0\"", "version = \"1.1.0\"")
        .replace("SEV1", "SEV0");
    let t = Test::new().file("a/p.toml", &v1).file("b/p.toml", &v2);
    let shown = t.run_args(["show", "b/p.toml"]).expect_code(0).stdout();
    assert!(shown.contains("field Severity: SEV0"), "{shown}");
    assert!(
        shown.contains("field Commander: {{run.commander}}"),
        "{shown}"
    );
    let diff = t
        .run_args(["diff", "a/p.toml", "b/p.toml", "--format", "json"])
        .expect_code(0)
        .stdout();
    let diff: Value = serde_json::from_str(&diff).expect("JSON");
    let changed = &diff["steps"]["changed"][0];
    assert_eq!(changed["id"], "page");
    let fields: Vec<&str> = changed["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .map(|f| f["field"].as_str().expect("a name"))
        .collect();
    assert_eq!(fields, ["fields.Severity"]);
}
