//! Vars that real procedures need: lists and tables, `--var` of a list, `--var-file`, and
//! environments with their own values (`--env staging` points the same playbook at staging).

use crate::util::{Test, playbook};

const BODY: &str = r#"[vars]
host = "localhost"
port = 5432
databases = ["control_plane"]
db = { user = "postgres", sslmode = "disable" }
tiers = [{ name = "api", port = 8080 }, { name = "web", port = 80 }]

[[steps]]
id = "show"
run = """
echo 'host={{vars.host}}:{{vars.port}}'
echo 'databases={{vars.databases}}'
echo 'pair={{vars.host}}{{vars.databases}}'
echo 'each={{#each vars.databases}}{{this}};{{/each}}'
echo 'user={{vars.db.user}} db={{vars.db}}'
echo 'tiers={{#each vars.tiers}}{{name}}:{{port}};{{/each}} count={{len vars.tiers}}'
"""
outputs = { all = "stdout" }
"#;

fn output(t: &Test, args: &[&str]) -> String {
    let mut all = vec!["run", "p.toml", "--out", "out", "--json"];
    all.extend_from_slice(args);
    let run = t.run_args(all).expect_code(0);
    let events = run.events();
    events
        .iter()
        .find(|e| e["event"] == "step_finished" && e["step"] == "show")
        .and_then(|e| e["outputs"]["all"].as_str())
        .expect("the step's output")
        .to_owned()
}

#[test]
fn lists_and_tables_render_as_json_and_iterate() {
    let t = Test::new().file("p.toml", &playbook("vars", BODY));
    let out = output(&t, &[]);
    assert_eq!(
        out,
        "host=localhost:5432\n\
         databases=[\"control_plane\"]\n\
         pair=localhost[\"control_plane\"]\n\
         each=control_plane;\n\
         user=postgres db={\"user\":\"postgres\",\"sslmode\":\"disable\"}\n\
         tiers=api:8080;web:80; count=2"
    );
}

#[test]
fn a_list_var_takes_a_toml_array_on_the_command_line() {
    let t = Test::new().file("p.toml", &playbook("vars", BODY));
    let out = output(&t, &["--var", r#"databases=["n8n", "veritas"]"#]);
    assert!(out.contains("databases=[\"n8n\",\"veritas\"]"), "{out}");
    assert!(out.contains("each=n8n;veritas;"), "{out}");

    let bad = t
        .run_args([
            "run",
            "p.toml",
            "--out",
            "bad",
            "--var",
            "databases=n8n,veritas",
        ])
        .expect_code(2);
    assert!(
        bad.stderr()
            .contains("expected a TOML array such as [\"n8n\", \"veritas\"]"),
        "{}",
        bad.stderr()
    );
    let wrong_kind = t
        .run_args([
            "run",
            "p.toml",
            "--out",
            "bad2",
            "--var",
            "databases=[1, 2]",
        ])
        .expect_code(2);
    assert!(
        wrong_kind
            .stderr()
            .contains("with elements like the declared ones"),
        "{}",
        wrong_kind.stderr()
    );
}

#[test]
fn var_files_apply_in_order_under_the_command_line() {
    let t = Test::new()
        .file("p.toml", &playbook("vars", BODY))
        .file("one.toml", "host = \"one\"\ndatabases = [\"a\", \"b\"]\n")
        .file("two.toml", "host = \"two\"\n");
    let out = output(
        &t,
        &[
            "--var-file",
            "one.toml",
            "--var-file",
            "two.toml",
            "--var",
            "port=6543",
        ],
    );
    assert!(out.contains("host=two:6543"), "{out}");
    assert!(out.contains("each=a;b;"), "{out}");
}

#[test]
fn a_var_file_naming_an_undeclared_var_is_located() {
    let t = Test::new().file("p.toml", &playbook("vars", BODY)).file(
        "vars.toml",
        "host = \"h\"\ndatabse = [\"x\"]\nport = \"not a number\"\n",
    );
    let run = t
        .run_args(["run", "p.toml", "--out", "out", "--var-file", "vars.toml"])
        .expect_code(2);
    let err = run.stderr();
    assert!(err.contains("vars.toml:2:1"), "{err}");
    assert!(err.contains("unknown var `databse` in var file"), "{err}");
    assert!(err.contains("did you mean `databases`?"), "{err}");
    assert!(err.contains("vars.toml:3:8"), "{err}");
    assert!(
        err.contains("var `port` is a string in var file, but [vars] declares it as an integer"),
        "{err}"
    );
    assert!(!t.path().join("out").exists(), "nothing ran");
}

const ENVS: &str = r#"
[playbook.environments.staging]
vars = { host = "staging-db.internal", databases = ["control_plane", "n8n"] }

[playbook.environments.production]
vars = { host = "prod-db.internal" }
"#;

#[test]
fn an_environment_points_the_same_playbook_at_its_own_systems() {
    let text = playbook("vars", &format!("{ENVS}{BODY}"));
    let t = Test::new().file("p.toml", &text);
    let staging = output(&t, &["--env", "staging"]);
    assert!(
        staging.contains("host=staging-db.internal:5432"),
        "{staging}"
    );
    assert!(staging.contains("each=control_plane;n8n;"), "{staging}");

    let t = Test::new().file("p.toml", &text);
    let production = output(&t, &["--env", "production", "--var", "host=override"]);
    assert!(
        production.contains("host=override:5432"),
        "--var wins: {production}"
    );
    assert!(production.contains("each=control_plane;"), "{production}");

    let refused = Test::new()
        .file("p.toml", &text)
        .args(["run", "p.toml", "--env", "stagin"])
        .run()
        .expect_code(3);
    assert!(
        refused.stderr().contains("did you mean `staging`?"),
        "{}",
        refused.stderr()
    );

    let plan = Test::new()
        .file("p.toml", &text)
        .args(["plan", "p.toml", "--env", "staging"])
        .run()
        .expect_code(0);
    assert!(
        plan.stdout().contains("environment: staging"),
        "{}",
        plan.stdout()
    );
}

#[test]
fn environments_set_only_declared_vars_of_their_kind() {
    let text = playbook(
        "bad-envs",
        r#"
[playbook.environments.staging]
vars = { hots = "x", port = "5432" }

[vars]
host = "localhost"
port = 5432
nested = [[1, 2]]

[[steps]]
id = "a"
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
        err.contains("unknown var `hots` in [playbook.environments.staging] vars"),
        "{err}"
    );
    assert!(err.contains("did you mean `host`?"), "{err}");
    assert!(
        err.contains("var `port` is a string in [playbook.environments.staging], but [vars] declares it as an integer"),
        "{err}"
    );
    assert!(
        err.contains("an array inside an array in var `nested`"),
        "{err}"
    );
    assert!(err.contains("p.toml:11:11"), "located: {err}");
}

/// Var files from fragments of TOML, right and wrong, through the binary: the answer is a
/// plan (exit 0) or located problems (exit 2), never a panic. Bounded: 48 cases.
#[test]
fn mutated_var_files_never_panic_and_every_problem_is_located() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};
    const FRAGMENTS: &[&str] = &[
        "host = \"h\"\n",
        "port = 5433\n",
        "port = \"x\"\n",
        "databases = [\"a\", \"b\"]\n",
        "databases = [1, \"b\"]\n",
        "databases = [[\"a\"]]\n",
        "db = { user = \"u\" }\n",
        "db = { user = { deep = 1 } }\n",
        "tiers = [{ name = \"x\", port = 1 }]\n",
        "unknown = 1\n",
        "host = 1979-05-27T07:32:00Z\n",
        "[table]\nx = 1\n",
        "= broken\n",
        "host = \"unterminated\n",
        "\u{0}\u{ff}\n",
        "host = \"h\"\nhost = \"again\"\n",
        "'quoted key' = 1\n",
        "# a comment\n",
        "\n",
    ];
    let t = Test::new().file("p.toml", &playbook("vars", BODY));
    let mut runner = TestRunner::new(Config {
        cases: 48,
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = proptest::collection::vec(0..FRAGMENTS.len(), 0..6);
    runner
        .run(&strategy, |picks| {
            let text: String = picks.iter().map(|&i| FRAGMENTS[i]).collect();
            std::fs::write(t.path().join("vars.toml"), &text).expect("write");
            let run = t.run_args(["plan", "p.toml", "--var-file", "vars.toml"]);
            let err = run.stderr();
            prop_assert!(!err.contains("panicked"), "{text:?}: {err}");
            match run.code() {
                0 => {}
                2 => prop_assert!(err.contains("vars.toml:"), "unlocated: {text:?}: {err}"),
                other => prop_assert!(false, "exit {other} for {text:?}: {err}"),
            }
            Ok(())
        })
        .expect("no var file panics, every problem is located");
}
