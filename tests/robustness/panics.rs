//! Rule 11: no input panics or takes more than linear time. Templates, ids and names that
//! once panicked `validate`, `plan` and `run` or took quadratic time are diagnostics now.

use std::fmt::Write as _;

use super::{HANG, assert_located, finish_within, spawn};
use crate::util::{Test, playbook};

// See: #11
#[test]
fn this_outside_a_block_is_a_diagnostic_not_a_panic() {
    for template in ["{{this}}", "{{@root}}", "{{@index}}", "{{quote this}}"] {
        let text = playbook(
            "this",
            &format!("[[steps]]\nid = \"a\"\nrun = \"echo {template}\"\n"),
        );
        let t = Test::new().file("p.toml", &text);
        for command in ["validate", "plan", "run"] {
            let args = if command == "run" {
                vec![command, "p.toml", "--json"]
            } else {
                vec![command, "p.toml"]
            };
            let run = t.run_args(args).expect_code(2);
            let stderr = run.stderr();
            assert!(
                stderr.contains("names no value: only a block such as `{{#each}}` gives one"),
                "{command} {template}: {stderr}"
            );
            assert!(stderr.starts_with("p.toml:6:"), "{stderr}");
            assert_located(&stderr, "p.toml");
            assert!(run.stdout().is_empty(), "no step started: {}", run.stdout());
        }
        assert!(!t.runs_root().exists(), "nothing ran");
    }
    // Inside a block, `this` is the item, and `../` climbs back to the root.
    let text = playbook(
        "each",
        "[vars]\nwho = \"x\"\n[[steps]]\nid = \"a\"\nrun = \"echo {{#with vars}}{{this.who}}{{/with}} {{../vars.who}}\"\n",
    );
    Test::new()
        .file("p.toml", &text)
        .args(["validate", "p.toml"])
        .run()
        .expect_code(0);
}

// See: #11
#[test]
fn a_step_id_of_65536_characters_is_a_diagnostic_and_plan_does_not_panic() {
    let id = "a".repeat(65_536);
    let text = playbook(
        "long",
        &format!(
            "[[steps]]\nid = \"{id}\"\nrun = \"true\"\n[[steps]]\nid = \"b\"\nneeds = [\"{id}\"]\nrun = \"true\"\n"
        ),
    );
    let t = Test::new().file("p.toml", &text);
    for command in ["validate", "plan", "run"] {
        let run = t.run_args([command, "p.toml"]).expect_code(2);
        let stderr = run.stderr();
        assert!(
            stderr.starts_with(
                "p.toml:5:6: error: step id of 65536 characters is too long: at most 100\n"
            ),
            "{command}: {}",
            &stderr[..stderr.len().min(500)]
        );
        assert_located(&stderr, "p.toml");
        // The snippet shows a window of the line, not 64 KiB per problem.
        for line in stderr.lines().filter(|l| l.contains(" | ")) {
            assert!(
                line.chars().count() < 300,
                "a snippet of {} characters",
                line.len()
            );
        }
    }
    // The longest id allowed plans and runs (its log file name fits).
    let id = "a".repeat(100);
    let text = playbook(
        "long",
        &format!("[[steps]]\nid = \"{id}\"\nrun = \"true\"\n"),
    );
    let t = Test::new().file("p.toml", &text);
    let plan = t.run_args(["plan", "p.toml"]).expect_code(0);
    assert!(
        plan.stdout().contains(&format!("  {id}  run")),
        "{}",
        plan.stdout()
    );
    t.run_args(["run", "p.toml", "--out", "out"]).expect_code(0);
    assert!(t.path().join(format!("out/logs/{id}.log")).is_file());
}

// See: #11
#[test]
fn did_you_mean_on_names_of_120k_characters_still_suggests() {
    // Levenshtein over two 120,000-character names took 17 s (quadratic); the banded distance
    // is linear. The answer, not the time, is asserted here: the time is in benches/.
    let name = "v".repeat(120_000);
    let typo = format!("{}w", "v".repeat(119_999));
    let text = playbook(
        "long",
        &format!(
            "environments = [\"{name}\"]\n[[steps]]\nid = \"a\"\nenvironments = [\"{typo}\"]\nrun = \"true\"\n"
        ),
    );
    let t = Test::new().file("p.toml", &text);
    let out = finish_within(
        spawn(t.path(), &["validate", "p.toml"]),
        HANG * 5,
        "validate",
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr.contains(&format!(
            "is not one of the playbook's environments, did you mean `{name}`?"
        )),
        "{}",
        &stderr[..stderr.len().min(300)]
    );
    assert_located(&stderr, "p.toml");
}

// See: #11
#[test]
fn thousands_of_unknown_names_among_thousands_of_steps_stay_linear() {
    // Each unknown `needs` was compared with every id and its help listed every id: quadratic
    // work and output. Suggestions now share a budget per file, and a help lists ten names.
    let n = 2_000;
    let mut body = String::new();
    for i in 0..n {
        let _ = write!(
            body,
            "[[steps]]\nid = \"step-{i:05}\"\nneeds = [\"{}-{i:05}\"]\nrun = \"true\"\n",
            if i % 2 == 0 { "stap" } else { "zzzzzzzzzz" }
        );
    }
    let t = Test::new().file("p.toml", &playbook("many", &body));
    let out = finish_within(
        spawn(t.path(), &["validate", "p.toml"]),
        HANG * 5,
        "validate",
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert_located(&stderr, "p.toml");
    assert_eq!(
        stderr
            .lines()
            .filter(|l| l.contains(": error: unknown step"))
            .count(),
        n,
        "every unknown step is reported"
    );
    assert!(
        stderr.contains("error: unknown step `stap-00000` in `needs` in step `step-00000`, did you mean `step-00000`?"),
        "the first gets a suggestion"
    );
    assert!(
        stderr.contains("= help: name one of the steps: `step-00000`, `step-00001`, `step-00002`, `step-00003`, `step-00004`, `step-00005`, `step-00006`, `step-00007`, `step-00008`, `step-00009` and 1990 more\n"),
        "a help lists ten names"
    );
    assert!(
        stderr.len() < n * 1_000,
        "{} bytes for {n} errors",
        stderr.len()
    );
}

// See: #11
#[test]
fn a_template_past_its_bounds_is_a_diagnostic_not_minutes_of_parsing() {
    // Handlebars finds each element's line and column from the template's start: quadratic in
    // the template's size. A template with `{{` is bounded (64 KiB, 1,000 `{{`).
    let mut run = String::from("echo");
    while run.len() < 70_000 {
        run.push_str(" {{vars.x}}");
    }
    let text = playbook(
        "long",
        &format!("[vars]\nx = \"y\"\n[[steps]]\nid = \"a\"\nrun = \"{run}\"\n"),
    );
    let t = Test::new().file("p.toml", &text);
    for command in ["validate", "plan", "run"] {
        let out = finish_within(spawn(t.path(), &[command, "p.toml"]), HANG, command);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(
            stderr
                .starts_with("p.toml:8:7: error: invalid template in `run` in step `a`: it is 70"),
            "{command}: {}",
            &stderr[..stderr.len().min(300)]
        );
        assert_located(&stderr, "p.toml");
    }
    assert!(!t.runs_root().exists(), "nothing ran");
}
