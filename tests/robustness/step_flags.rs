//! Rule 10: flags naming steps are checked before anything runs. `--approve`, `--only` and
//! `--from` with an unknown step are usage errors (exit 2) with a suggestion, and no run
//! folder is made.

use crate::util::{Test, playbook};

fn steps() -> String {
    playbook(
        "flags",
        "[[steps]]\nid = \"snapshot\"\nrun = \"touch ../snapshot-ran\"\n\
         [[steps]]\nid = \"destroy\"\nneeds = [\"snapshot\"]\nconfirm = \"drop everything?\"\nrun = \"touch ../destroy-ran\"\n\
         [[steps]]\nid = \"call\"\nneeds = [\"destroy\"]\nmanual = \"Call the DBA\"\n",
    )
}

/// Runs `run p.toml --out out --json` with `flags`, expecting a usage error before anything ran.
fn refused(flags: &[&str]) -> String {
    let t = Test::new().file("p.toml", &steps());
    let mut args = vec!["run", "p.toml", "--out", "out", "--json"];
    args.extend_from_slice(flags);
    let run = t.run_args(args).expect_code(2);
    assert_eq!(run.stdout(), "", "no event: nothing started");
    assert!(!t.path().join("out").exists(), "no run folder");
    assert!(!t.runs_root().exists(), "no runs root");
    assert!(!t.path().join("snapshot-ran").exists(), "no step ran");
    run.stderr()
}

// See: #11
#[test]
fn approve_with_a_typo_is_refused_before_anything_runs() {
    assert_eq!(
        refused(&["--approve", "destory"]),
        "error: unknown step `destory` in `--approve destory`, did you mean `destroy`?\n"
    );
    assert_eq!(
        refused(&["--approve", "destroy", "--approve", "nothing-like-it"]),
        "error: unknown step `nothing-like-it` in `--approve nothing-like-it`\n"
    );
}

// See: #11
#[test]
fn approve_of_a_step_without_confirm_is_refused() {
    assert_eq!(
        refused(&["--approve", "snapshot"]),
        "error: `--approve snapshot` approves nothing: it has no `confirm`\n"
    );
    assert_eq!(
        refused(&["--approve", "call"]),
        "error: `--approve call` approves nothing: it is a manual step, which --approve cannot confirm: confirm it at the terminal, or pass --yes\n"
    );
}

// See: #11
#[test]
fn only_and_from_with_an_unknown_step_are_refused() {
    assert_eq!(
        refused(&["--only", "destory"]),
        "error: unknown step `destory` in `--only destory`, did you mean `destroy`?\n"
    );
    assert_eq!(
        refused(&["--from", "snapshop"]),
        "error: unknown step `snapshop` in `--from snapshop`, did you mean `snapshot`?\n"
    );
}

// See: #11
#[test]
fn approve_names_a_step_of_a_nested_playbook_too() {
    // A nested step asks by its own id, so `--approve` of it is checked against the nested
    // playbook's steps.
    let child = playbook(
        "child",
        "[[steps]]\nid = \"drop\"\nconfirm = \"drop?\"\nrun = \"touch ../dropped\"\n",
    );
    let parent = playbook("parent", "[[steps]]\nid = \"sub\"\nplaybook = \"child\"\n");
    let t = Test::new()
        .file("pb/child.toml", &child)
        .file("pb/parent.toml", &parent);
    let run = t
        .run_args([
            "run",
            "pb/parent.toml",
            "--out",
            "out",
            "--json",
            "--approve",
            "drop",
        ])
        .expect_code(0);
    assert!(
        run.events()
            .iter()
            .any(|e| e["event"] == "approval_given" && e["by"] == "--approve drop"),
        "{}",
        run.stdout()
    );
    assert!(t.path().join("dropped").exists());
    let run = t
        .run_args([
            "run",
            "pb/parent.toml",
            "--out",
            "out2",
            "--approve",
            "dorp",
        ])
        .expect_code(2);
    assert_eq!(
        run.stderr(),
        "error: unknown step `dorp` in `--approve dorp`, did you mean `drop`?\n"
    );
}
