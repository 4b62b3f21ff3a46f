//! `runbook plan` and `runbook show`: every valid fixture round-trips through both.

use std::collections::HashMap;

use crate::util::{Test, playbook, root};

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).expect("valid JSON")
}

/// For every valid fixture: `show` names every step; `plan --format json` puts each step in
/// exactly one wave, after all its needs; the text plan and the Mermaid chart are snapshots.
#[test]
fn valid_fixtures_round_trip_through_show_and_plan() {
    insta::glob!("fixtures/valid/*.toml", |path| {
        let relative = path
            .strip_prefix(root())
            .expect("inside the repo")
            .to_string_lossy()
            .into_owned();
        let plan = Test::new()
            .in_repo()
            .args(["plan", relative.as_str(), "--format", "json"])
            .run()
            .expect_code(0);
        let plan = json(&plan.stdout());
        let steps = plan["steps"].as_array().expect("steps");
        let mut wave_of = HashMap::new();
        for (w, wave) in plan["waves"].as_array().expect("waves").iter().enumerate() {
            for id in wave.as_array().expect("a wave") {
                assert!(
                    wave_of
                        .insert(id.as_str().expect("id").to_owned(), w)
                        .is_none(),
                    "{id} in two waves"
                );
            }
        }
        assert_eq!(wave_of.len(), steps.len(), "every step is in a wave");
        for step in steps {
            let id = step["id"].as_str().expect("id");
            for need in step["needs"].as_array().expect("needs") {
                assert!(
                    wave_of[need.as_str().expect("need")] < wave_of[id],
                    "{id} runs after {need}"
                );
            }
        }
        let show = Test::new()
            .in_repo()
            .args(["show", relative.as_str()])
            .run()
            .expect_code(0);
        for step in steps {
            let id = step["id"].as_str().expect("id");
            assert!(
                show.stdout().contains(&format!(". {id}")),
                "show lists step {id}"
            );
        }
        let text = Test::new()
            .in_repo()
            .args(["plan", relative.as_str()])
            .run()
            .expect_code(0);
        let mermaid = Test::new()
            .in_repo()
            .args(["plan", relative.as_str(), "--format", "mermaid"])
            .run()
            .expect_code(0);
        insta::assert_snapshot!(format!(
            "{}\n--- mermaid\n{}\n--- show\n{}",
            text.stdout(),
            mermaid.stdout(),
            show.stdout()
        ));
    });
}

#[test]
fn plan_finds_the_critical_path_and_the_planned_rto() {
    let plan = Test::new()
        .in_repo()
        .args([
            "plan",
            "tests/fixtures/valid/parallel-waves.toml",
            "--format",
            "json",
        ])
        .run()
        .expect_code(0);
    let plan = json(&plan.stdout());
    let path: Vec<&str> = plan["critical_path"]
        .as_array()
        .expect("path")
        .iter()
        .map(|v| v.as_str().expect("id"))
        .collect();
    let steps = plan["steps"].as_array().expect("steps");
    let budget = |id: &str| {
        steps
            .iter()
            .find(|s| s["id"] == id)
            .and_then(|s| s["budget_ms"].as_u64())
            .unwrap_or(0)
    };
    let total: u64 = path.iter().map(|id| budget(id)).sum();
    assert_eq!(plan["planned_rto_ms"].as_u64(), Some(total));
    // No other chain of needs is longer.
    for s in steps {
        assert!(s["earliest_finish_ms"].as_u64().expect("finish") <= total);
    }
}

#[test]
fn the_rto_clock_measures_only_its_part_of_the_run() {
    let text = playbook(
        "clock",
        r#"rto = "1h"
rto_clock = { start = "b", stop = "c" }
[[steps]]
id = "a"
run = "true"
budget = "10m"
[[steps]]
id = "b"
needs = ["a"]
run = "true"
budget = "5m"
[[steps]]
id = "c"
needs = ["b"]
run = "true"
budget = "2m"
"#,
    );
    let run = Test::new()
        .file("clock.toml", &text)
        .args(["plan", "clock.toml", "--format", "json"])
        .run()
        .expect_code(0);
    assert_eq!(json(&run.stdout())["planned_rto_ms"], 420_000);
}

#[test]
fn steps_for_other_environments_are_skipped_with_their_dependents() {
    let text = playbook(
        "envs",
        r#"environments = ["staging", "production"]
[[steps]]
id = "a"
run = "true"
[[steps]]
id = "page"
environments = ["production"]
run = "true"
[[steps]]
id = "after-page"
needs = ["page"]
run = "true"
"#,
    );
    let t = Test::new().file("envs.toml", &text);
    let run = t
        .args(["plan", "envs.toml", "--env", "staging"])
        .run()
        .expect_code(0);
    assert!(
        run.stdout().contains("skipped: not for this environment"),
        "{}",
        run.stdout()
    );
    assert!(
        run.stdout().contains("skipped: needs skipped step `page`"),
        "{}",
        run.stdout()
    );
    let refused = Test::new()
        .file("envs.toml", &text)
        .args(["plan", "envs.toml", "--env", "prod"])
        .run()
        .expect_code(2);
    assert!(
        refused
            .stderr()
            .contains("environment `prod` is not allowed"),
        "{}",
        refused.stderr()
    );
}

#[test]
fn plan_var_overrides_are_typed() {
    let text = playbook(
        "typed",
        "[vars]\ncount = 3\n[[steps]]\nid = \"a\"\nrun = \"echo {{vars.count}}\"\n",
    );
    Test::new()
        .file("t.toml", &text)
        .args(["plan", "t.toml", "--var", "count=5"])
        .run()
        .expect_code(0);
    let bad = Test::new()
        .file("t.toml", &text)
        .args(["plan", "t.toml", "--var", "count=many"])
        .run()
        .expect_code(2);
    assert_eq!(
        bad.stderr(),
        "error: invalid value `many` for var `count` in `--var count=many`: expected an integer, as declared in [vars] (count = 3)\n"
    );
}
