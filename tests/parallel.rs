//! Parallelism is the playbook's: no limit by default, `[playbook] max_parallel`, the
//! `--max-parallel` override, `plan` simulating the limit the run would use, and a wide run
//! under a low open-file limit that waits for slots instead of failing.

use std::fmt::Write as _;

use serde_json::Value;

use crate::util::{Test, playbook};

/// Four steps that each wait (bounded) until all four have started: they pass only when all
/// four run at once.
fn rendezvous(extra: &str) -> String {
    let mut body = String::from(extra);
    for id in ["a", "b", "c", "d"] {
        let _ = writeln!(
            body,
            "[[steps]]\nid = \"{id}\"\nrun = \"touch arrived.{id}; for i in $(seq 200); do [ $(ls arrived.* | wc -l) -ge 4 ] && exit 0; sleep 0.05; done; exit 1\""
        );
    }
    playbook("rendezvous", &body)
}

fn run_started(events: &[Value]) -> &Value {
    events
        .iter()
        .find(|e| e["event"] == "run_started")
        .expect("run_started")
}

#[test]
fn by_default_every_ready_step_runs_at_once() {
    // On a 2-CPU machine the old default (the CPU count) could not run these four together.
    let t = Test::new().file("p.toml", &rendezvous(""));
    let run = t
        .run_args(["run", "p.toml", "--out", "out", "--json"])
        .expect_code(0);
    assert!(
        run_started(&run.events())["max_parallel"].is_null(),
        "no limit is journaled as null"
    );
}

/// Steps that record how many of them were running when each started.
fn counting(extra: &str, n: usize) -> String {
    let mut body = String::from(extra);
    for i in 0..n {
        let _ = writeln!(
            body,
            "[[steps]]\nid = \"s{i}\"\nrun = \"touch running.s{i}; ls running.* | wc -l >> seen; sleep 0.2; rm running.s{i}\""
        );
    }
    playbook("counting", &body)
}

fn most_seen(t: &Test) -> usize {
    std::fs::read_to_string(t.path().join("out/seen"))
        .expect("seen")
        .lines()
        .map(|l| l.trim().parse::<usize>().expect("a count"))
        .max()
        .expect("one count per step")
}

#[test]
fn the_playbooks_limit_holds_and_the_flag_overrides_it() {
    let t = Test::new().file("p.toml", &counting("max_parallel = 2\n", 6));
    let run = t
        .run_args(["run", "p.toml", "--out", "out", "--json"])
        .expect_code(0);
    assert_eq!(run_started(&run.events())["max_parallel"], 2);
    assert!(most_seen(&t) <= 2, "at most 2 at once");

    let t = Test::new().file("p.toml", &counting("max_parallel = 2\n", 6));
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
    assert_eq!(run_started(&run.events())["max_parallel"], 1);
    assert_eq!(most_seen(&t), 1, "one at a time");
}

#[test]
fn an_invalid_max_parallel_is_located() {
    let run = Test::new()
        .file("p.toml", &counting("max_parallel = 0\n", 1))
        .args(["validate", "p.toml"])
        .run()
        .expect_code(2);
    let err = run.stderr();
    assert!(err.contains("p.toml:4:16"), "{err}");
    assert!(
        err.contains("invalid `max_parallel` 0 in [playbook]"),
        "{err}"
    );
    assert!(err.contains("leave it out for no limit"), "{err}");
}

fn three_then_one(extra: &str) -> String {
    playbook(
        "three-then-one",
        &format!(
            r#"{extra}[[steps]]
id = "a"
run = "true"
budget = "1m"
[[steps]]
id = "b"
run = "true"
budget = "1m"
[[steps]]
id = "c"
run = "true"
budget = "1m"
[[steps]]
id = "d"
needs = ["a", "b", "c"]
run = "true"
budget = "10s"
"#
        ),
    )
}

fn plan_json(t: &Test, extra: &[&str]) -> Value {
    let mut args = vec!["plan", "p.toml", "--format", "json"];
    args.extend_from_slice(extra);
    serde_json::from_str(&t.run_args(args).expect_code(0).stdout()).expect("plan json")
}

#[test]
fn plan_simulates_the_limit_the_run_would_use() {
    let t = Test::new().file("p.toml", &three_then_one(""));
    let free = plan_json(&t, &[]);
    assert_eq!(free["planned_rto_ms"], 70_000);
    assert_eq!(free["waves"], serde_json::json!([["a", "b", "c"], ["d"]]));
    assert!(free["max_parallel"].is_null());

    let t = Test::new().file("p.toml", &three_then_one("max_parallel = 2\n"));
    let two = plan_json(&t, &[]);
    assert_eq!(two["planned_rto_ms"], 130_000);
    assert_eq!(two["waves"], serde_json::json!([["a", "b"], ["c"], ["d"]]));
    assert_eq!(two["max_parallel"], 2);
    let text = t.run_args(["plan", "p.toml"]).expect_code(0).stdout();
    assert!(text.contains("parallel: at most 2 steps"), "{text}");
    assert!(text.contains("wave 1 (2 in parallel)"), "{text}");

    let one = plan_json(&t, &["--max-parallel", "1"]);
    assert_eq!(one["planned_rto_ms"], 190_000);
    assert_eq!(one["waves"].as_array().map(Vec::len), Some(4));
}

#[test]
fn a_wide_run_under_a_low_open_file_limit_waits_for_slots() {
    // 200 steps at once would need far more than 256 descriptors; the run must complete by
    // running them in as many slots as the limit allows, not fail with EMFILE.
    let mut body = String::new();
    for i in 0..200 {
        let _ = writeln!(
            body,
            "[[steps]]\nid = \"s{i}\"\nrun = \"sleep 0.05; echo {i}\""
        );
    }
    let t = Test::new().file("p.toml", &playbook("wide", &body));
    let out = crate::util::run_limited(&t, "ulimit -n 256", "run p.toml --out out --json");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let events = crate::util::json_lines(&String::from_utf8_lossy(&out.stdout));
    let ok = events
        .iter()
        .filter(|e| e["event"] == "step_finished" && e["status"] == "ok")
        .count();
    assert_eq!(ok, 200);
}
