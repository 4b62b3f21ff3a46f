//! `runbook validate`: every rule of the format, every problem at once, never a panic.

use std::fmt::Write as _;

use crate::util::{Test, playbook, root};

/// Each invalid fixture has exactly one mistake: exactly one error, at a position, exit 2, and
/// the full diagnostic text is a snapshot.
#[test]
fn invalid_fixtures_give_one_precise_error_each() {
    insta::glob!("fixtures/invalid/*.toml", |path| {
        let relative = path
            .strip_prefix(root())
            .expect("inside the repo")
            .to_string_lossy()
            .into_owned();
        let run = Test::new()
            .in_repo()
            .args(["validate", relative.as_str()])
            .run()
            .expect_code(2);
        let stderr = run.stderr();
        let errors: Vec<&str> = stderr.lines().filter(|l| l.contains(": error: ")).collect();
        assert_eq!(
            errors.len(),
            1,
            "{relative} should have exactly one error:\n{stderr}"
        );
        assert!(
            errors[0].starts_with(&format!("{relative}:")),
            "the error starts with FILE:LINE:COL:\n{stderr}"
        );
        assert!(
            stderr.contains("= help: "),
            "every diagnostic suggests a fix:\n{stderr}"
        );
        assert!(
            stderr.contains(" | "),
            "every diagnostic shows the source line:\n{stderr}"
        );
        assert!(
            run.stdout().is_empty(),
            "an invalid file is not reported ok"
        );
        insta::assert_snapshot!(stderr);
    });
}

#[test]
fn every_problem_is_reported_at_once() {
    let text = r#"[playbook]
name = "many"
version = "1.0"
rto = "5 minutes"

[vars]
database = "app"

[[steps]]
id = "a"
run = "echo {{vars.databse}}"
neds = ["b"]

[[steps]]
id = "b"
needs = ["c"]
run = "true"
timeout = 30
on_failure = "abort-all"
"#;
    let run = Test::new()
        .file("many.toml", text)
        .args(["validate", "many.toml"])
        .run()
        .expect_code(2);
    let stderr = run.stderr();
    let positions: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains(": error: "))
        .map(|l| l.split(": error: ").next().unwrap_or(""))
        .collect();
    assert_eq!(
        positions,
        [
            "many.toml:3:11",
            "many.toml:4:7",
            "many.toml:11:15",
            "many.toml:12:1",
            "many.toml:16:10",
            "many.toml:18:11",
            "many.toml:19:14"
        ],
        "{stderr}"
    );
    assert!(
        stderr.ends_with("error: 7 errors in 1 playbook\n"),
        "{stderr}"
    );
}

#[test]
fn valid_fixtures_validate() {
    let run = Test::new()
        .in_repo()
        .args(["validate", "tests/fixtures/valid"])
        .run()
        .expect_code(0);
    let ok = run
        .stdout()
        .lines()
        .filter(|l| l.starts_with("ok  "))
        .count();
    let files = std::fs::read_dir(root().join("tests/fixtures/valid"))
        .expect("fixtures")
        .count();
    assert_eq!(ok, files, "{}", run.stdout());
}

#[test]
fn the_shipped_playbooks_validate() {
    let run = Test::new()
        .in_repo()
        .args(["validate"])
        .run()
        .expect_code(0);
    assert!(
        run.stdout()
            .contains("ok  playbooks/local-backup-drill.toml  local-backup-drill@"),
        "{}",
        run.stdout()
    );
}

#[test]
fn duplicate_name_and_version_in_a_folder_is_an_error_at_the_second_name() {
    let run = Test::new()
        .in_repo()
        .args(["validate", "tests/fixtures/duplicate"])
        .run()
        .expect_code(2);
    insta::assert_snapshot!(run.stderr());
    assert!(
        !run.stdout().contains("b.toml"),
        "the duplicate is not reported ok"
    );
}

#[test]
fn an_undeclared_var_override_is_an_error_with_a_suggestion() {
    let text = playbook(
        "vars",
        "[vars]\ndatabase = \"app\"\n[[steps]]\nid = \"a\"\nrun = \"true\"\n",
    );
    let run = Test::new()
        .file("v.toml", &text)
        .args(["validate", "v.toml", "--var", "databse=x"])
        .run()
        .expect_code(2);
    assert!(
        run.stderr()
            .contains("unknown var `databse` in `--var databse=x`"),
        "{}",
        run.stderr()
    );
    assert!(
        run.stderr().contains("did you mean `database`?"),
        "{}",
        run.stderr()
    );
}

#[test]
fn a_critical_path_longer_than_the_rto_is_a_warning_not_an_error() {
    let text = r#"[playbook]
name = "slow"
version = "1.0.0"
rto = "10m"

[[steps]]
id = "a"
run = "true"
budget = "8m"

[[steps]]
id = "b"
needs = ["a"]
run = "true"
budget = "5m"
"#;
    let run = Test::new()
        .file("slow.toml", text)
        .args(["validate", "slow.toml"])
        .run()
        .expect_code(0);
    insta::assert_snapshot!(run.stderr(), @r#"
    slow.toml:4:7: warning: planned RTO 13m exceeds `rto` 10m (critical path: a → b)
      |
    4 | rto = "10m"
      |       ^^^^^
      = help: shorten the budgets on the critical path, let more steps run in parallel, or revisit the objective
    "#);
}

#[test]
fn a_missing_path_is_a_clear_error() {
    let run = Test::new()
        .args(["validate", "nope.toml"])
        .run()
        .expect_code(2);
    assert_eq!(
        run.stderr(),
        "error: failed to read `nope.toml`\n  caused by: entity not found\n"
    );
}

#[test]
fn a_folder_without_playbooks_is_an_error_not_a_silent_pass() {
    // See: #11
    let run = Test::new()
        .file("empty/README.md", "no playbooks here")
        .args(["validate", "empty"])
        .run()
        .expect_code(2);
    assert_eq!(
        run.stderr(),
        "error: no playbook in `empty`: it holds no `.toml` file; name the folder that holds the playbooks\n"
    );
}

#[test]
fn a_huge_chain_does_not_overflow_the_stack() {
    // Correctness only; the timing lives in benches/validate.rs.
    let mut text = String::from("[playbook]\nname = \"chain\"\nversion = \"1.0.0\"\n");
    for i in 0..10_000 {
        let _ = write!(
            text,
            "[[steps]]\nid = \"s{i}\"\nrun = \"echo {{{{steps.s{}.outputs.out}}}}\"\noutputs = {{ out = \"stdout\" }}\n",
            i.max(1) - 1
        );
        if i > 0 {
            let _ = writeln!(text, "needs = [\"s{}\"]", i - 1);
        }
    }
    // s0 refers to itself, which is an error: exactly one, even in a huge file.
    let run = Test::new()
        .file("chain.toml", &text)
        .args(["validate", "chain.toml"])
        .run()
        .expect_code(2);
    assert_eq!(
        run.stderr().matches(": error: ").count(),
        1,
        "{}",
        run.stderr()
    );
    assert!(
        run.stderr().contains("`s0` does not run before `s0`"),
        "{}",
        run.stderr()
    );
    let fixed = text.replacen(
        "run = \"echo {{steps.s0.outputs.out}}\"",
        "run = \"echo start\"",
        1,
    );
    Test::new()
        .file("chain.toml", &fixed)
        .args(["validate", "chain.toml"])
        .run()
        .expect_code(0);
}
