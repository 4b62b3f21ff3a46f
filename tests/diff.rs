//! `runbook diff OLD NEW`: what a reviewer sees between two versions of a playbook.

use crate::util::{Test, root};

const V1_0: &str = "tests/fixtures/diff/restore-1.0.0.toml";
const V1_1: &str = "tests/fixtures/diff/restore-1.1.0.toml";

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).expect("valid JSON")
}

fn ids(value: &serde_json::Value) -> Vec<&str> {
    value
        .as_array()
        .expect("an array")
        .iter()
        .map(|v| v["id"].as_str().expect("an id"))
        .collect()
}

fn fixture(relative: &str) -> String {
    std::fs::read_to_string(root().join(relative)).expect("fixture")
}

#[test]
fn text_shows_objectives_rto_and_every_changed_step() {
    let run = Test::new()
        .in_repo()
        .args(["diff", V1_0, V1_1])
        .run()
        .expect_code(0);
    assert_eq!(run.stderr(), "");
    insta::assert_snapshot!(run.stdout());
}

#[test]
fn json_has_the_same_content() {
    let run = Test::new()
        .in_repo()
        .args(["diff", V1_0, V1_1, "--format", "json"])
        .run()
        .expect_code(0);
    let diff = json(&run.stdout());
    assert_eq!(diff["old"]["version"], "1.0.0");
    assert_eq!(diff["new"]["version"], "1.1.0");
    assert_eq!(diff["identical"], false);
    assert_eq!(ids(&diff["steps"]["added"]), ["verify-checksum"]);
    assert_eq!(ids(&diff["steps"]["removed"]), ["announce"]);
    assert_eq!(ids(&diff["steps"]["changed"]), ["latest-backup", "restore"]);
    let restore = &diff["steps"]["changed"][1]["fields"];
    let fields: Vec<&str> = restore
        .as_array()
        .expect("fields")
        .iter()
        .map(|f| f["field"].as_str().expect("a name"))
        .collect();
    assert_eq!(fields, ["needs", "run", "timeout", "budget"]);
    assert_eq!(restore[1]["lines"][0]["op"], "removed");
    assert_eq!(diff["planned_rto"]["before_ms"], 19 * 60_000);
    assert_eq!(diff["planned_rto"]["after_ms"], 24 * 60_000);
    assert_eq!(diff["planned_rto"]["delta_ms"], 5 * 60_000);
    assert_eq!(
        diff["objectives"][0],
        serde_json::json!({"field": "rto", "before": "30m", "after": "25m"})
    );
    assert_eq!(
        diff["summary"],
        "2 steps changed, 1 added, 1 removed; planned RTO 19m → 24m (+5m); also changed: objectives, vars"
    );
}

#[test]
fn names_with_requirements_are_looked_up_in_dir() {
    let run = Test::new()
        .in_repo()
        .args([
            "--dir",
            "tests/fixtures/diff",
            "diff",
            "restore@^1",
            "restore@^2",
        ])
        .run()
        .expect_code(0);
    assert!(
        run.stdout()
            .starts_with("old: restore@1.1.0 (tests/fixtures/diff/restore-1.1.0.toml, sha256 "),
        "{}",
        run.stdout()
    );
    insta::assert_snapshot!(run.stdout());
}

#[test]
fn identical_playbooks_have_no_differences() {
    let text = fixture(V1_0);
    let run = Test::new()
        .file("a.toml", &text)
        .file("b.toml", &text)
        .args(["diff", "a.toml", "b.toml"])
        .run()
        .expect_code(0);
    assert_eq!(run.stdout(), "no differences\n");
    let run = Test::new()
        .in_repo()
        .args(["diff", V1_0, V1_0, "--format", "json"])
        .run()
        .expect_code(0);
    let diff = json(&run.stdout());
    assert_eq!(diff["identical"], true);
    assert_eq!(diff["summary"], "no differences");
}

#[test]
fn a_change_without_a_version_bump_warns() {
    let old = fixture(V1_0);
    let new = old.replace(
        "systemctl stop orders-api",
        "systemctl stop orders-api orders-worker",
    );
    let run = Test::new()
        .file("old.toml", &old)
        .file("new.toml", &new)
        .args(["diff", "old.toml", "new.toml"])
        .run()
        .expect_code(0);
    let warning = "warning: version 1.0.0 was not bumped but the file changed; bump `version` on every change\n";
    assert!(run.stdout().contains(warning), "{}", run.stdout());
    assert_eq!(run.stderr(), warning);
    assert!(
        run.stdout().contains(
            "      run: systemctl stop orders-api → systemctl stop orders-api orders-worker\n"
        ),
        "{}",
        run.stdout()
    );
    // Only a comment changed: still a warning, and nothing else to review.
    let commented = format!("{old}\n# reviewed\n");
    let run = Test::new()
        .file("old.toml", &old)
        .file("new.toml", &commented)
        .args(["diff", "old.toml", "new.toml"])
        .run()
        .expect_code(0);
    assert!(
        run.stdout()
            .ends_with("\nno differences apart from comments or formatting\n"),
        "{}",
        run.stdout()
    );
}

#[test]
fn a_version_that_goes_backwards_warns() {
    let run = Test::new()
        .in_repo()
        .args(["diff", V1_1, V1_0])
        .run()
        .expect_code(0);
    assert!(
        run.stderr()
            .contains("warning: version went backwards: 1.1.0 → 1.0.0"),
        "{}",
        run.stderr()
    );
}

#[test]
fn a_missing_or_invalid_playbook_exits_2() {
    let run = Test::new()
        .in_repo()
        .args(["diff", V1_0, "tests/fixtures/diff/restore-9.9.9.toml"])
        .run()
        .expect_code(2);
    assert!(run.stdout().is_empty());
    assert!(
        run.stderr().contains("restore-9.9.9.toml"),
        "{}",
        run.stderr()
    );
    let run = Test::new()
        .in_repo()
        .args([
            "--dir",
            "tests/fixtures/diff",
            "diff",
            "restore@^3",
            "restore@^2",
        ])
        .run()
        .expect_code(2);
    assert!(run.stdout().is_empty());
    let broken = fixture(V1_1).replace("needs = [\"restore\"]", "neds = [\"restore\"]");
    let run = Test::new()
        .file("old.toml", &fixture(V1_0))
        .file("new.toml", &broken)
        .args(["diff", "old.toml", "new.toml"])
        .run()
        .expect_code(2);
    assert!(run.stdout().is_empty());
    assert!(
        run.stderr().contains("did you mean `needs`?"),
        "{}",
        run.stderr()
    );
}

// See: #11
#[test]
fn exit_code_says_whether_the_playbooks_differ() {
    let old = fixture(V1_0);
    let t = Test::new()
        .file("old.toml", &old)
        .file("same.toml", &old)
        .file("commented.toml", &format!("{old}\n# reviewed\n"));
    // As `git diff --exit-code`: 1 when they differ, in any way, with the diff still printed.
    let run = t
        .run_args([
            "diff",
            "old.toml",
            &root().join(V1_1).to_string_lossy(),
            "--exit-code",
        ])
        .expect_code(1);
    assert!(run.stdout().contains("verify-checksum"), "{}", run.stdout());
    let run = t
        .run_args(["diff", "old.toml", "commented.toml", "--exit-code"])
        .expect_code(1);
    assert!(
        run.stdout()
            .ends_with("\nno differences apart from comments or formatting\n"),
        "{}",
        run.stdout()
    );
    let run = t
        .run_args([
            "diff",
            "old.toml",
            "same.toml",
            "--exit-code",
            "--format",
            "json",
        ])
        .expect_code(0);
    assert_eq!(json(&run.stdout())["identical"], true);
    // Without the flag, a diff that found changes is still a success.
    t.run_args(["diff", "old.toml", "commented.toml"])
        .expect_code(0);
    // An invalid side is still a usage error, not "different".
    let t = t.file("broken.toml", "[playbook\n");
    t.run_args(["diff", "old.toml", "broken.toml", "--exit-code"])
        .expect_code(2);
}

#[test]
fn a_changed_input_and_a_changed_publish_command_are_shown() {
    let old = fixture("tests/fixtures/valid/manual-inputs-and-publish.toml");
    let new = old
        .replace("default = 3", "default = 5")
        .replace("https://archive.example", "https://backup.example")
        .replace("version = \"1.0.0\"", "version = \"1.1.0\"");
    let run = Test::new()
        .file("old.toml", &old)
        .file("new.toml", &new)
        .args(["diff", "old.toml", "new.toml"])
        .run()
        .expect_code(0);
    let text = run.stdout();
    assert!(
        text.contains(
            "      inputs.replicas:\n        - number, one of 1, 3, 5, default 3\n        + number, one of 1, 3, 5, default 5\n"
        ),
        "{text}"
    );
    assert!(text.contains("report:\n  publish:\n"), "{text}");
    assert!(text.contains("https://backup.example"), "{text}");
}
