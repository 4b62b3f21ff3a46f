//! Publishing the evidence (v2.md 1.11): `[report] publish` runs once report.md and
//! report.json are written, sees `report.path` and `report.json_path`, is masked and journaled,
//! and its failure is a warning that never changes the run's exit code. The report never
//! mentions its publishing, so `runbook report` rebuilds the published bytes.

use serde_json::Value;

use crate::util::{Test, journal, playbook};

fn last_event(journal: &[Value]) -> &Value {
    journal.last().expect("a journal has events")
}

#[test]
fn publish_copies_the_report_and_runbook_report_rebuilds_the_same_bytes() {
    let body = r#"[report]
publish = "mkdir -p ../published && cp {{quote report.path}} {{quote report.json_path}} ../published/ && echo published {{run.id}}"

[[steps]]
id = "a"
run = "echo a"
"#;
    let t = Test::new().file("p.toml", &playbook("evidence-copy", body));
    let run = t.run_args(["run", "p.toml", "--out", "out"]).expect_code(0);
    let out = t.path().join("out");
    let report = std::fs::read(out.join("report.md")).expect("report.md");
    let json = std::fs::read(out.join("report.json")).expect("report.json beside report.md");
    let published = t.path().join("published");
    assert_eq!(
        std::fs::read(published.join("report.md")).expect("copied"),
        report
    );
    assert_eq!(
        std::fs::read(published.join("report.json")).expect("copied"),
        json
    );
    serde_json::from_slice::<Value>(&json).expect("report.json is JSON");

    let journal = journal(&out);
    let event = last_event(&journal);
    assert_eq!(event["event"], "report_published", "{journal:#?}");
    let output = event["output"].as_array().expect("output lines");
    assert!(
        output[0]
            .as_str()
            .expect("a line")
            .starts_with("published "),
        "{event}"
    );
    assert!(
        run.stderr()
            .contains("report published: mkdir -p ../published")
    );
    let text = String::from_utf8_lossy(&report);
    assert!(
        !text.contains("publish"),
        "the report never mentions its publishing:\n{text}"
    );

    let rebuilt = t.run_args(["report", "out"]).expect_code(0);
    assert_eq!(rebuilt.stdout().as_bytes(), report.as_slice());
    assert_eq!(
        std::fs::read(out.join("report.md")).expect("rewritten"),
        report
    );
    assert_eq!(
        std::fs::read(out.join("report.json")).expect("rewritten"),
        json
    );
    let as_json = t
        .run_args(["report", "out", "--format", "json"])
        .expect_code(0);
    assert_eq!(as_json.stdout().as_bytes(), json.as_slice());
}

#[test]
fn a_failing_publish_is_a_warning_and_leaves_the_exit_code() {
    for (step, code) in [("echo ok", 0), ("exit 5", 1)] {
        let body = format!(
            r#"[report]
publish = "echo 'bucket not found' >&2; exit 4"

[[steps]]
id = "a"
run = "{step}"
"#
        );
        let t = Test::new().file("p.toml", &playbook("publish-fails", &body));
        let run = t
            .run_args(["run", "p.toml", "--out", "out"])
            .expect_code(code);
        assert!(
            run.stderr()
                .contains("warning: the report was not published: exit code 4"),
            "{}",
            run.stderr()
        );
        assert!(run.stderr().contains("bucket not found"));
        let journal = journal(&t.path().join("out"));
        let event = last_event(&journal);
        assert_eq!(event["event"], "report_publish_failed", "{journal:#?}");
        assert_eq!(event["reason"], "exit code 4");
        assert_eq!(event["output"][0], "bucket not found");
        let finished = journal
            .iter()
            .find(|e| e["event"] == "run_finished")
            .expect("run_finished");
        let status = if code == 0 { "ok" } else { "failed" };
        assert_eq!(finished["status"], status);
        // The report was written all the same, and replaying the journal reads the run as before.
        let runs = t
            .run_args(["report", "out", "--format", "json"])
            .expect_code(0);
        let report: Value = serde_json::from_str(&runs.stdout()).expect("JSON");
        assert_eq!(report["outcome"]["status"], status, "{report:#}");
    }
}

#[test]
fn a_secret_in_the_publish_command_and_its_output_is_masked() {
    let body = r#"secrets = ["ARCHIVE_TOKEN"]

[report]
publish = "echo uploading with $ARCHIVE_TOKEN; echo 'denied for {{env.ARCHIVE_TOKEN}}' >&2; exit 1"

[[steps]]
id = "a"
run = "echo a"
"#;
    let t = Test::new()
        .file("p.toml", &playbook("publish-secret", body))
        .env("ARCHIVE_TOKEN", "tok-8f3e1d");
    let run = t
        .run_args(["run", "p.toml", "--out", "out", "--json"])
        .expect_code(0);
    // `--json` prints the journal's lines, the publishing's last among them.
    let printed = run.events();
    let last = printed.last().expect("events on stdout");
    assert_eq!(last["event"], "report_publish_failed", "{last}");
    let journal_text =
        std::fs::read_to_string(t.path().join("out/journal.jsonl")).expect("journal");
    assert!(!journal_text.contains("tok-8f3e1d"), "{journal_text}");
    assert!(!run.stderr().contains("tok-8f3e1d") && !run.stdout().contains("tok-8f3e1d"));
    let journal = journal(&t.path().join("out"));
    let event = last_event(&journal);
    assert_eq!(event["event"], "report_publish_failed");
    assert_eq!(event, last, "the same line in the journal and on stdout");
    // Stdout and stderr interleave as they arrive, in either order.
    let mut output: Vec<&str> = event["output"]
        .as_array()
        .expect("output lines")
        .iter()
        .map(|l| l.as_str().expect("a line"))
        .collect();
    output.sort_unstable();
    assert_eq!(output, ["denied for ***", "uploading with ***"], "{event}");
    assert!(
        event["command"]
            .as_str()
            .expect("command")
            .contains("denied for ***"),
        "{event}"
    );
    assert!(run.stderr().contains("denied for ***"), "{}", run.stderr());
}

#[test]
fn publish_renders_the_outputs_of_the_run_s_steps_after_the_report() {
    // See: #18 (the template context is kept past the run only for a publish command)
    let body = r#"[report]
publish = "echo published {{steps.a.outputs.word}} {{steps.a.status}}"

[[steps]]
id = "a"
run = "echo kept"
outputs = { word = "stdout" }
"#;
    let t = Test::new().file("p.toml", &playbook("evidence-outputs", body));
    t.run_args(["run", "p.toml", "--out", "out"]).expect_code(0);
    let journal = journal(&t.path().join("out"));
    let event = last_event(&journal);
    assert_eq!(event["event"], "report_published", "{journal:#?}");
    assert_eq!(event["output"][0], "published kept ok", "{event}");
}
