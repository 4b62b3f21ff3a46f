//! `after` and `always`: fallbacks, joins after an optional branch, and cleanup that runs after
//! a failure, an abort, a rollback and Ctrl-C, bounded by `cleanup_timeout` and skipped by a
//! second signal. Through the real binary, with real processes and signals.

use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;

use crate::support::{marker, running_with, wait_until};
use crate::util::{Test, finished, journal, journal_or_empty, playbook, spawn};

/// Far longer than any of these runs takes; a bound, not a timing.
const LIMIT: Duration = Duration::from_secs(60);

fn started<'a>(events: &'a [Value], step: &str) -> Option<&'a Value> {
    events
        .iter()
        .find(|e| e["event"] == "step_started" && e["step"] == step)
}

fn signal(child: &Child, signal: Signal) {
    let pid = Pid::from_raw(i32::try_from(child.id()).expect("a pid"));
    kill(pid, signal).expect("runbook is alive");
}

/// Waits (bounded) for the runner to exit; its exit code.
fn exit_code(child: &mut Child) -> i32 {
    crate::support::exit_code(child, LIMIT)
}

fn wait_for_file(path: &Path) {
    assert!(
        wait_until(LIMIT, || path.exists()),
        "{} never appeared",
        path.display()
    );
}

#[test]
fn a_fallback_runs_after_the_step_it_replaces_failed() {
    let text = playbook(
        "fallback",
        r#"[[steps]]
id = "restore-newest"
on_failure = "continue"
run = "echo corrupt >&2; exit 3"

[[steps]]
id = "restore-previous"
after = ["restore-newest"]
when = "{{eq steps.restore-newest.status 'failed'}}"
run = "echo 'newest was {{steps.restore-newest.status}} ({{steps.restore-newest.exit_code}})' > fell-back"

[[steps]]
id = "unused-fallback"
after = ["restore-previous"]
when = "{{eq steps.restore-previous.status 'failed'}}"
run = "touch should-not-exist"
"#,
    );
    let t = Test::new().file("p.toml", &text);
    let run = t
        .run_args(["run", "p.toml", "--out", "out", "--json"])
        .expect_code(0);
    let events = run.events();
    assert_eq!(finished(&events, "restore-newest")["status"], "failed");
    assert_eq!(finished(&events, "restore-previous")["status"], "ok");
    assert_eq!(
        std::fs::read_to_string(t.path().join("out/fell-back")).expect("the fallback ran"),
        "newest was failed (3)\n"
    );
    assert_eq!(finished(&events, "unused-fallback")["status"], "skipped");
    assert!(!t.path().join("out/should-not-exist").exists());
}

#[test]
fn a_join_after_an_optional_branch_runs_when_the_branch_is_skipped() {
    let text = playbook(
        "join",
        r#"[vars]
optional = false

[[steps]]
id = "prepare"
run = "true"

[[steps]]
id = "optional-branch"
needs = ["prepare"]
when = "{{vars.optional}}"
run = "touch branch-ran"

[[steps]]
id = "branch-follow-up"
needs = ["optional-branch"]
run = "touch follow-up-ran"

[[steps]]
id = "join"
needs = ["prepare"]
after = ["branch-follow-up"]
run = "echo 'follow-up was {{steps.branch-follow-up.status}}' > joined"
"#,
    );
    let t = Test::new().file("p.toml", &text);
    let run = t
        .run_args(["run", "p.toml", "--out", "out", "--json"])
        .expect_code(0);
    let events = run.events();
    assert_eq!(finished(&events, "optional-branch")["status"], "skipped");
    assert_eq!(
        finished(&events, "branch-follow-up")["reason"],
        "needs skipped step `optional-branch`"
    );
    assert_eq!(finished(&events, "join")["status"], "ok");
    assert_eq!(
        std::fs::read_to_string(t.path().join("out/joined")).expect("the join ran"),
        "follow-up was skipped\n"
    );
}

#[test]
fn cleanup_runs_after_an_abort_and_the_run_still_fails() {
    let text = playbook(
        "abort-cleanup",
        r#"[[steps]]
id = "create-scratch"
run = "mkdir scratch"

[[steps]]
id = "restore"
needs = ["create-scratch"]
run = "exit 1"

[[steps]]
id = "verify"
needs = ["restore"]
run = "touch verified"

[[steps]]
id = "drop-scratch"
needs = ["create-scratch"]
after = ["verify"]
always = true
run = "rmdir scratch && echo 'restore {{steps.restore.status}}, verify {{steps.verify.status}}' > cleaned"
"#,
    );
    let t = Test::new().file("p.toml", &text);
    let run = t
        .run_args(["run", "p.toml", "--out", "out", "--json"])
        .expect_code(1);
    let events = run.events();
    assert_eq!(finished(&events, "restore")["status"], "failed");
    assert_eq!(finished(&events, "verify")["status"], "skipped");
    assert_eq!(finished(&events, "drop-scratch")["status"], "ok");
    assert_eq!(
        started(&events, "drop-scratch").expect("the cleanup started")["always"],
        true
    );
    assert!(
        started(&events, "restore").expect("restore started")["always"].is_null(),
        "only cleanup steps carry `always`"
    );
    assert!(
        !t.path().join("out/scratch").exists(),
        "the scratch is gone"
    );
    assert_eq!(
        std::fs::read_to_string(t.path().join("out/cleaned")).expect("cleanup ran"),
        "restore failed, verify skipped\n"
    );
    let run_finished = events
        .iter()
        .find(|e| e["event"] == "run_finished")
        .expect("run_finished");
    assert_eq!(run_finished["status"], "failed");
    let report = std::fs::read_to_string(t.path().join("out/report.md")).expect("report");
    let row = report
        .lines()
        .find(|l| l.starts_with("| ") && l.contains("drop-scratch"))
        .expect("the cleanup's row in the timeline");
    assert!(row.contains("cleanup (`always`)"), "{row}");
}

#[test]
fn cleanup_runs_after_the_rollbacks() {
    let text = playbook(
        "rollback-cleanup",
        r#"[[steps]]
id = "change"
run = "echo change >> order"
rollback = "echo undo >> order"

[[steps]]
id = "break"
needs = ["change"]
on_failure = "rollback"
run = "exit 1"

[[steps]]
id = "cleanup"
after = ["break"]
always = true
run = "echo cleanup >> order"
"#,
    );
    let t = Test::new().file("p.toml", &text);
    t.run_args(["run", "p.toml", "--out", "out", "--json"])
        .expect_code(1);
    assert_eq!(
        std::fs::read_to_string(t.path().join("out/order")).expect("order"),
        "change\nundo\ncleanup\n"
    );
}

#[test]
fn a_failing_cleanup_fails_an_otherwise_good_run() {
    let text = playbook(
        "bad-cleanup",
        "[[steps]]\nid = \"work\"\nrun = \"true\"\n\n[[steps]]\nid = \"cleanup\"\nafter = [\"work\"]\nalways = true\nrun = \"exit 4\"\n",
    );
    let t = Test::new().file("p.toml", &text);
    let run = t
        .run_args(["run", "p.toml", "--out", "out", "--json"])
        .expect_code(1);
    assert_eq!(finished(&run.events(), "cleanup")["status"], "failed");
}

#[test]
fn after_ctrl_c_the_cleanup_runs_and_the_run_exits_130() {
    let text = playbook(
        "interrupted-cleanup",
        r#"[[steps]]
id = "restore"
run = "touch restore-started; sleep 30"

[[steps]]
id = "never"
needs = ["restore"]
run = "touch never-ran"

[[steps]]
id = "drop-scratch"
after = ["never"]
always = true
run = "echo 'restore was {{steps.restore.status}}' > cleaned"
"#,
    );
    let t = Test::new().file("p.toml", &text);
    let mut child = spawn(t.path(), &["run", "p.toml", "--out", "out", "--json"]);
    wait_for_file(&t.path().join("out/restore-started"));
    let interrupted = Instant::now();
    signal(&child, Signal::SIGINT);
    assert_eq!(exit_code(&mut child), 130);
    let events = journal(&t.path().join("out"));
    assert_eq!(finished(&events, "restore")["status"], "cancelled");
    assert_eq!(
        finished(&events, "never")["reason"],
        "needs cancelled step `restore`"
    );
    assert_eq!(finished(&events, "drop-scratch")["status"], "ok");
    assert_eq!(
        std::fs::read_to_string(t.path().join("out/cleaned")).expect("cleanup ran"),
        "restore was cancelled\n"
    );
    assert!(!t.path().join("out/never-ran").exists());
    // Prompt: the 30-second sleep did not run out (a bound far above the grace period).
    assert!(interrupted.elapsed() < Duration::from_secs(25));
}

#[test]
fn a_second_signal_skips_the_cleanup() {
    let sleep = marker();
    let text = playbook(
        "second-signal",
        &format!(
            r#"[[steps]]
id = "restore"
run = "sleep 30"

[[steps]]
id = "slow-cleanup"
after = ["restore"]
always = true
run = "touch cleanup-started; sleep {sleep}"

[[steps]]
id = "later-cleanup"
after = ["slow-cleanup"]
always = true
run = "touch later-ran"
"#
        ),
    );
    let t = Test::new().file("p.toml", &text);
    let mut child = spawn(t.path(), &["run", "p.toml", "--out", "out", "--json"]);
    let out = t.path().join("out");
    assert!(
        wait_until(LIMIT, || started(&journal_or_empty(&out), "restore")
            .is_some()),
        "restore never started"
    );
    signal(&child, Signal::SIGINT);
    wait_for_file(&out.join("cleanup-started"));
    let second = Instant::now();
    signal(&child, Signal::SIGINT);
    assert_eq!(exit_code(&mut child), 130);
    assert!(
        second.elapsed() < Duration::from_secs(25),
        "the second signal stops the cleanup"
    );
    let events = journal(&out);
    assert_ne!(finished(&events, "slow-cleanup")["status"], "ok");
    assert_eq!(
        finished(&events, "later-cleanup")["reason"],
        "a second signal skipped the cleanup"
    );
    assert!(!out.join("later-ran").exists());
    assert_eq!(
        running_with(&sleep),
        Vec::<i32>::new(),
        "the cleanup's sleep survived"
    );
}

#[test]
fn cleanup_timeout_bounds_the_cleanup_after_an_interrupt() {
    let text = playbook(
        "cleanup-timeout",
        r#"cleanup_timeout = "1s"
[[steps]]
id = "restore"
run = "sleep 30"

[[steps]]
id = "hanging-cleanup"
after = ["restore"]
always = true
run = "touch cleanup-started; sleep 30"

[[steps]]
id = "later-cleanup"
after = ["hanging-cleanup"]
always = true
run = "touch later-ran"
"#,
    );
    let t = Test::new().file("p.toml", &text);
    let mut child = spawn(t.path(), &["run", "p.toml", "--out", "out", "--json"]);
    let out = t.path().join("out");
    assert!(
        wait_until(LIMIT, || started(&journal_or_empty(&out), "restore")
            .is_some()),
        "restore never started"
    );
    signal(&child, Signal::SIGINT);
    assert_eq!(exit_code(&mut child), 130);
    let events = journal(&out);
    assert!(out.join("cleanup-started").exists(), "the cleanup started");
    assert_eq!(finished(&events, "hanging-cleanup")["status"], "cancelled");
    assert_eq!(
        finished(&events, "later-cleanup")["reason"],
        "`cleanup_timeout` (1s) passed"
    );
}

/// The journal so far, or nothing before the run folder exists.
#[test]
fn validation_knows_after_and_always() {
    let text = playbook(
        "bad-flow",
        r#"[[steps]]
id = "a"
after = ["c"]
run = "true"

[[steps]]
id = "b"
needs = ["a"]
run = "true"

[[steps]]
id = "c"
after = ["b"]
run = "true"

[[steps]]
id = "cleanup"
after = ["restor"]
always = true
confirm = "really?"
run = "true"
"#,
    );
    let run = Test::new()
        .file("p.toml", &text)
        .args(["validate", "p.toml"])
        .run()
        .expect_code(2);
    let err = run.stderr();
    assert!(
        err.contains("unknown step `restor` in `after` in step `cleanup`"),
        "{err}"
    );
    assert!(
        err.contains("`confirm` in step `cleanup`, but it is an `always` step"),
        "{err}"
    );
    let cycle = Test::new()
        .file(
            "p.toml",
            &playbook(
                "cycle",
                "[[steps]]\nid = \"a\"\nafter = [\"c\"]\nrun = \"true\"\n[[steps]]\nid = \"b\"\nneeds = [\"a\"]\nrun = \"true\"\n[[steps]]\nid = \"c\"\nafter = [\"b\"]\nrun = \"true\"\n",
            ),
        )
        .args(["validate", "p.toml"])
        .run()
        .expect_code(2);
    let err = cycle.stderr();
    assert!(
        err.contains("dependency cycle: `a` runs after `c`, `c` runs after `b`, `b` needs `a`"),
        "{err}"
    );
    assert!(err.contains("p.toml:"), "located: {err}");
    assert!(
        err.contains("remove one of these `needs` or `after`"),
        "{err}"
    );
}

#[test]
fn plan_orders_after_like_needs_and_does_not_skip_through_it() {
    let text = playbook(
        "plan-after",
        r#"environments = ["staging", "production"]
[[steps]]
id = "page"
environments = ["production"]
run = "true"
budget = "1m"

[[steps]]
id = "then"
after = ["page"]
run = "true"
budget = "2m"

[[steps]]
id = "cleanup"
needs = ["page"]
always = true
run = "true"
"#,
    );
    let t = Test::new().file("p.toml", &text);
    let run = t
        .run_args(["plan", "p.toml", "--env", "staging", "--format", "json"])
        .expect_code(0);
    let plan: Value = serde_json::from_str(&run.stdout()).expect("plan json");
    let step = |id: &str| {
        plan["steps"]
            .as_array()
            .expect("steps")
            .iter()
            .find(|s| s["id"] == id)
            .cloned()
            .expect("step")
    };
    assert_eq!(step("page")["skipped"], "not for this environment");
    assert!(step("then")["skipped"].is_null(), "after does not skip");
    assert!(
        step("cleanup")["skipped"].is_null(),
        "always is not skipped by its needs"
    );
    assert_eq!(step("then")["wave"], 2);
    let production = t
        .run_args(["plan", "p.toml", "--env", "production", "--format", "json"])
        .expect_code(0);
    let plan: Value = serde_json::from_str(&production.stdout()).expect("plan json");
    assert_eq!(
        plan["planned_rto_ms"], 180_000,
        "after is on the critical path"
    );
}

#[test]
fn a_dry_run_prints_a_read_only_step_that_runs_after_a_printed_one() {
    // What `report` reads, `make` would have made: after a printed step, it cannot run for real.
    let text = playbook(
        "dry-after",
        r#"[[steps]]
id = "make"
run = "touch made"

[[steps]]
id = "report"
after = ["make"]
read_only = true
run = "cat made"
"#,
    );
    let t = Test::new().file("p.toml", &text);
    let run = t
        .run_args(["run", "p.toml", "--out", "out", "--json", "--dry-run"])
        .expect_code(0);
    let events = run.events();
    assert!(
        finished(&events, "report")["would_run"].is_string(),
        "{events:#?}"
    );
    assert!(!t.path().join("out/made").exists());
}
