//! Health checks that pass only after a few attempts, against real servers on 127.0.0.1, and
//! nested playbooks.

use std::time::Duration;

use serde_json::Value;

use crate::support::{HttpStub, Reply, TcpGate};
use crate::util::{Test, playbook};

/// The `check_attempt` events of a check, as (passed, detail).
fn attempts(events: &[Value], check: &str) -> Vec<(bool, String)> {
    events
        .iter()
        .filter(|e| e["event"] == "check_attempt" && e["check"] == check)
        .map(|e| {
            (
                e["passed"].as_bool().expect("passed"),
                e["detail"].as_str().expect("detail").to_owned(),
            )
        })
        .collect()
}

#[test]
fn an_http_check_polls_until_the_service_answers() {
    let stub = HttpStub::start(vec![
        Reply::status(503),
        Reply::status(503),
        Reply::json(200, serde_json::json!({"status": "ready", "replicas": 3})),
    ]);
    let text = playbook(
        "http",
        &format!(
            r#"[[steps]]
id = "wait-api"
check = {{ http = {{ url = "{}", json_pointer = "/status", equals = "ready" }}, interval = "100ms", timeout = "30s" }}
"#,
            stub.url_for("/health")
        ),
    );
    let t = Test::new().file("p.toml", &text);
    let run = t
        .run_args(["run", "p.toml", "--out", "out", "--json"])
        .expect_code(0);
    let seen = attempts(&run.events(), "wait-api");
    assert_eq!(
        seen,
        [
            (false, "HTTP 503 (expected 2xx)".to_owned()),
            (false, "HTTP 503 (expected 2xx)".to_owned()),
            (true, "HTTP 200".to_owned())
        ]
    );
    assert_eq!(stub.requests().len(), 3);
    assert!(
        stub.requests()
            .iter()
            .all(|r| r.path == "/health" && r.method == "GET")
    );
}

#[test]
fn an_http_step_sends_its_request_and_checks_the_answer() {
    let stub = HttpStub::start(vec![Reply::json(
        202,
        serde_json::json!({"job": {"id": "j-42"}}),
    )]);
    let text = playbook(
        "post",
        &format!(
            r#"[vars]
db = "orders"
[[steps]]
id = "start-job"
http = {{ url = "{}", method = "POST", headers = {{ X-Token = "t-{{{{vars.db}}}}" }}, json = {{ database = "orders" }}, status = 202 }}
outputs = {{ job = {{ json_pointer = "/job/id" }} }}
[[steps]]
id = "use"
needs = ["start-job"]
run = "echo {{{{steps.start-job.outputs.job}}}} > job.txt"
"#,
            stub.url_for("/jobs")
        ),
    );
    let t = Test::new().file("p.toml", &text);
    t.run_args(["run", "p.toml", "--out", "out"]).expect_code(0);
    let request = &stub.requests()[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.header("x-token"), Some("t-orders"));
    assert_eq!(request.json(), serde_json::json!({"database": "orders"}));
    assert_eq!(
        std::fs::read_to_string(t.path().join("out/job.txt")).expect("job.txt"),
        "j-42\n"
    );
}

#[test]
fn a_tcp_check_passes_once_the_port_opens() {
    let mut gate = TcpGate::closed();
    gate.open_after(Duration::from_millis(600));
    let text = playbook(
        "tcp",
        &format!(
            "[[steps]]\nid = \"port\"\ncheck = {{ tcp = \"{}\", interval = \"100ms\", timeout = \"30s\" }}\n",
            gate.addr()
        ),
    );
    let t = Test::new().file("p.toml", &text);
    let run = t
        .run_args(["run", "p.toml", "--out", "out", "--json"])
        .expect_code(0);
    let seen = attempts(&run.events(), "port");
    assert!(seen.len() >= 2, "{seen:?}");
    assert!(
        !seen[0].0 && seen[0].1.contains("cannot connect"),
        "{seen:?}"
    );
    assert!(seen.last().expect("an attempt").0);
}

#[test]
fn a_file_check_passes_once_a_fresh_big_enough_file_appears() {
    let text = playbook(
        "file",
        r#"[[steps]]
id = "start-backup"
run = "(sleep 0.5; head -c 10 /dev/zero > backups/tiny.dump; sleep 0.5; head -c 2000 /dev/zero > backups/full.dump) >/dev/null 2>&1 &"
[[steps]]
id = "mkdir"
run = "mkdir -p backups"
[[steps]]
id = "fresh"
needs = ["start-backup", "mkdir"]
check = { file = "backups/*.dump", max_age = "1h", min_size = "1KB", interval = "100ms", timeout = "30s" }
"#,
    );
    let t = Test::new().file("p.toml", &text);
    let run = t
        .run_args([
            "run",
            "p.toml",
            "--out",
            "out",
            "--json",
            "--max-parallel",
            "1",
        ])
        .expect_code(0);
    let seen = attempts(&run.events(), "fresh");
    assert!(
        seen.iter()
            .any(|(ok, d)| !ok && d.contains("no file matches")),
        "{seen:?}"
    );
    assert!(
        seen.iter().any(|(ok, d)| !ok && d.contains("min_size 1KB")),
        "{seen:?}"
    );
    let (ok, detail) = seen.last().expect("an attempt");
    assert!(*ok && detail.contains("full.dump"), "{seen:?}");
}

#[test]
fn a_command_check_passes_on_the_third_attempt() {
    let text = playbook(
        "command",
        r#"[[steps]]
id = "ready"
check = { command = "n=$(cat n 2>/dev/null || echo 0); n=$((n+1)); echo $n > n; echo state-$n", stdout_matches = '^state-3$', interval = "50ms", timeout = "30s" }
"#,
    );
    let t = Test::new().file("p.toml", &text);
    let run = t
        .run_args(["run", "p.toml", "--out", "out", "--json"])
        .expect_code(0);
    let seen = attempts(&run.events(), "ready");
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert!(seen[0].1.contains("does not match"), "{seen:?}");
    let finished = run
        .events()
        .into_iter()
        .find(|e| e["event"] == "check_finished")
        .expect("check_finished");
    assert_eq!(finished["attempts"], 3);
    assert!(finished["first_pass_ms"].as_u64().is_some());
}

#[test]
fn a_check_that_never_passes_fails_the_step_after_its_timeout() {
    let stub = HttpStub::start(vec![Reply::status(500)]);
    let text = playbook(
        "never",
        &format!(
            "[[steps]]\nid = \"wait\"\ncheck = {{ http = \"{}\", interval = \"100ms\", timeout = \"1s\" }}\n",
            stub.url()
        ),
    );
    let t = Test::new().file("p.toml", &text);
    let run = t
        .run_args(["run", "p.toml", "--out", "out", "--json"])
        .expect_code(1);
    let step = run
        .events()
        .into_iter()
        .find(|e| e["event"] == "step_finished")
        .expect("step_finished");
    let reason = step["reason"].as_str().expect("reason");
    assert!(
        reason.starts_with("check did not pass after ")
            && reason.ends_with("(HTTP 500 (expected 2xx))"),
        "{reason}"
    );
}

#[test]
fn steady_state_checks_assess_before_and_validate_after() {
    // Down during the assessment (expected in an outage), up for the validation.
    let stub = HttpStub::start(vec![Reply::status(503), Reply::ok("ok")]);
    let text = playbook(
        "steady",
        &format!(
            "[[checks]]\nid = \"api\"\nhttp = \"{}\"\ninterval = \"100ms\"\n[[steps]]\nid = \"fix\"\nrun = \"true\"\n",
            stub.url()
        ),
    );
    let t = Test::new().file("p.toml", &text);
    let run = t
        .run_args(["run", "p.toml", "--out", "out", "--json"])
        .expect_code(0);
    let phases: Vec<(String, bool)> = run
        .events()
        .iter()
        .filter(|e| e["event"] == "check_finished")
        .map(|e| {
            (
                e["phase"].as_str().expect("phase").to_owned(),
                e["passed"].as_bool().expect("passed"),
            )
        })
        .collect();
    assert_eq!(
        phases,
        [
            ("assessment".to_owned(), false),
            ("validation".to_owned(), true)
        ]
    );
}

#[test]
fn a_nested_playbook_runs_as_one_step_with_its_steps_shown_inside() {
    let child = playbook(
        "child",
        "secrets = [\"CHILD_TOKEN\"]\n[vars]\nwho = \"child\"\n[[steps]]\nid = \"hello\"\nrun = \"echo {{vars.who}} > child-ran; echo $CHILD_TOKEN\"\n",
    );
    let parent = playbook(
        "parent",
        "[[steps]]\nid = \"sub\"\nplaybook = \"child@^1\"\n[[steps]]\nid = \"after\"\nneeds = [\"sub\"]\nrun = \"true\"\n",
    );
    let t = Test::new()
        .file("pb/child.toml", &child)
        .file("pb/parent.toml", &parent)
        .env("CHILD_TOKEN", "tok-XYZ-123");
    let run = t
        .run_args(["run", "pb/parent.toml", "--out", "out", "--json"])
        .expect_code(0);
    let steps: Vec<String> = run
        .events()
        .iter()
        .filter(|e| e["event"] == "step_finished")
        .map(|e| {
            format!(
                "{} {}",
                e["step"].as_str().expect("step"),
                e["status"].as_str().expect("status")
            )
        })
        .collect();
    assert_eq!(steps, ["sub/hello ok", "sub ok", "after ok"]);
    assert_eq!(
        std::fs::read_to_string(t.path().join("out/child-ran")).expect("child ran"),
        "child\n"
    );
    let log = std::fs::read_to_string(t.path().join("out/logs/sub.hello.log")).expect("nested log");
    assert!(
        log.contains("***") && !log.contains("tok-XYZ"),
        "the nested playbook's secret is masked: {log}"
    );

    let looping = playbook("loop", "[[steps]]\nid = \"again\"\nplaybook = \"loop\"\n");
    let t = Test::new().file("pb/loop.toml", &looping);
    let run = t
        .run_args(["run", "pb/loop.toml", "--out", "out", "--json"])
        .expect_code(1);
    assert!(
        run.stdout()
            .contains("nested playbooks form a cycle: loop → loop"),
        "{}",
        run.stdout()
    );
}
