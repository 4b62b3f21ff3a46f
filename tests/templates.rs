//! Templates everywhere (v2 1.12): every string of an `http` step's `json` body rendered before
//! it is posted to an `HttpStub` on 127.0.0.1, shown rendered and masked by `--dry-run`, and the
//! helpers `eq`, `contains`, `len`, `json` in `when` conditions and bodies.

use serde_json::{Value, json};

use crate::support::{HttpStub, Reply};
use crate::util::{Test, journal, playbook};

/// A playbook whose `open` step posts a templated JSON body to `url`, after `snapshot` made an
/// output, with a secret token inside the body.
fn incident(url: &str) -> String {
    playbook(
        "incident",
        &format!(
            r#"secrets = ["API_TOKEN"]
[vars]
database = "orders"
replicas = 3
regions = "eu-west,us-east"
[[steps]]
id = "snapshot"
run = "echo snap-42"
outputs = {{ id = "stdout" }}
[[steps]]
id = "open"
needs = ["snapshot"]
http = {{ url = "{url}", method = "POST", status = 201, json = {{ incident = {{ title = "restore {{{{vars.database}}}}", by = "{{{{run.commander}}}}", replicas = 3, urgent = true }}, tags = ["dr", "{{{{vars.database}}}}", "{{{{steps.snapshot.outputs.id}}}}"], checks = [{{ mode = "{{{{#if (eq vars.replicas 3)}}}}full{{{{else}}}}partial{{{{/if}}}}" }}], summary = "{{{{len vars.database}}}} {{{{json vars.regions}}}}", token = "{{{{env.API_TOKEN}}}}", literal = "no braces" }} }}
"#
        ),
    )
}

const TOKEN: &str = "tok-Zq9-secret";

#[test]
fn every_string_of_a_json_body_is_rendered_and_the_rest_is_sent_as_written() {
    let stub = HttpStub::start(vec![Reply::status(201)]);
    let t = Test::new()
        .file("p.toml", &incident(&stub.url_for("/incidents")))
        .env("API_TOKEN", TOKEN);
    let run = t
        .run_args(["run", "p.toml", "--out", "out", "--commander", "alice"])
        .expect_code(0);
    let requests = stub.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].method, "POST");
    assert_eq!(
        requests[0].json(),
        json!({
            "incident": { "title": "restore orders", "by": "alice", "replicas": 3, "urgent": true },
            "tags": ["dr", "orders", "snap-42"],
            "checks": [{ "mode": "full" }],
            "summary": "6 \"eu-west,us-east\"",
            "token": TOKEN,
            "literal": "no braces",
        })
    );
    // The server needs the token; nobody else sees it.
    let record = std::fs::read_to_string(t.path().join("out/journal.jsonl")).expect("journal");
    for text in [run.stdout(), run.stderr(), record] {
        assert!(!text.contains(TOKEN), "{text}");
    }
}

#[test]
fn a_dry_run_shows_the_json_body_rendered_and_masked_and_posts_nothing() {
    let stub = HttpStub::start(vec![Reply::status(201)]);
    let t = Test::new()
        .file("p.toml", &incident(&stub.url_for("/incidents")))
        .env("API_TOKEN", TOKEN);
    let run = t
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
    assert!(stub.requests().is_empty(), "a dry run posts nothing");
    let stderr = run.stderr();
    assert!(!stderr.contains(TOKEN), "{stderr}");
    let would: Vec<Value> = journal(&t.path().join("out"))
        .into_iter()
        .filter(|e| e["event"] == "step_finished" && e["step"] == "open")
        .collect();
    let shown = would[0]["would_run"].as_str().expect("would_run");
    let (request, body) = shown.split_once('\n').expect("the body on the second line");
    assert_eq!(request, format!("POST {}", stub.url_for("/incidents")));
    // `snapshot` did not run: its output is a placeholder, and the secret is masked.
    let body: Value = serde_json::from_str(body).expect("the body is JSON");
    assert_eq!(
        body["tags"],
        json!(["dr", "orders", "<steps.snapshot.outputs.id>"])
    );
    assert_eq!(body["token"], "***");
    assert_eq!(body["incident"]["title"], "restore orders");
    assert!(
        stderr.contains(r#""title":"restore orders""#),
        "the terminal shows the body:\n{stderr}"
    );
}

#[test]
fn when_conditions_use_the_comparison_helpers() {
    let t = Test::new().file(
        "p.toml",
        &playbook(
            "regions",
            r#"[vars]
regions = "eu-west,us-east"
replicas = 3
[[steps]]
id = "eu"
when = "{{contains vars.regions 'eu'}}"
run = "echo eu > eu.txt"
[[steps]]
id = "ap"
when = "{{contains vars.regions 'ap'}}"
run = "echo ap > ap.txt"
[[steps]]
id = "scaled"
when = "{{and (gt vars.replicas 2) (not (eq (len vars.regions) 0))}}"
run = "echo {{len vars.regions}} > scaled.txt"
"#,
        ),
    );
    let run = t
        .run_args(["run", "p.toml", "--out", "out", "--json"])
        .expect_code(0);
    let status = |id: &str| {
        run.events()
            .into_iter()
            .find(|e| e["event"] == "step_finished" && e["step"] == id)
            .map(|e| e["status"].clone())
    };
    assert_eq!(status("eu"), Some(json!("ok")));
    assert_eq!(status("ap"), Some(json!("skipped")));
    assert_eq!(status("scaled"), Some(json!("ok")));
    let read = |f: &str| std::fs::read_to_string(t.path().join("out").join(f)).ok();
    assert_eq!(read("eu.txt").as_deref(), Some("eu\n"));
    assert_eq!(read("ap.txt"), None);
    assert_eq!(read("scaled.txt").as_deref(), Some("15\n"));
}
