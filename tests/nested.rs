//! Nested playbooks that take vars and give outputs: a larger procedure calls
//! `pg-restore` once per database and reads back what each restored.

use crate::util::{Test, playbook};

const CHILD: &str = r#"[vars]
database = "app"
port = 5432

[outputs]
restored = "{{steps.restore.outputs.line}}"
where = "{{vars.database}}:{{vars.port}}"

[[steps]]
id = "restore"
run = "echo restored-{{vars.database}}"
outputs = { line = "stdout" }
"#;

fn parent(body: &str) -> String {
    playbook("parent", body)
}

#[test]
fn a_nested_playbook_takes_vars_and_gives_its_outputs() {
    let t = Test::new()
        .file("pg-restore.toml", &playbook("pg-restore", CHILD))
        .file(
            "p.toml",
            &parent(
                r#"[vars]
db = "billing"

[[steps]]
id = "restore-billing"
playbook = "pg-restore"
vars = { database = "{{vars.db}}", port = "6543" }

[[steps]]
id = "report"
needs = ["restore-billing"]
run = "echo '{{steps.restore-billing.outputs.restored}} at {{steps.restore-billing.outputs.where}}' > got"
"#,
            ),
        );
    t.run_args(["validate", "p.toml"]).expect_code(0);
    let run = t
        .run_args(["run", "p.toml", "--out", "out", "--json"])
        .expect_code(0);
    assert_eq!(
        std::fs::read_to_string(t.path().join("out/got")).expect("report ran"),
        "restored-billing at billing:6543\n"
    );
    let finished = run
        .events()
        .into_iter()
        .find(|e| e["event"] == "step_finished" && e["step"] == "restore-billing")
        .expect("the nested step finished");
    assert_eq!(finished["outputs"]["restored"], "restored-billing");
}

#[test]
fn validate_checks_the_vars_and_outputs_against_the_nested_playbook() {
    let t = Test::new()
        .file("pg-restore.toml", &playbook("pg-restore", CHILD))
        .file(
            "p.toml",
            &parent(
                r#"[[steps]]
id = "restore"
playbook = "pg-restore"
vars = { databse = "x" }

[[steps]]
id = "report"
needs = ["restore"]
run = "echo {{steps.restore.outputs.restord}}"
"#,
            ),
        );
    let run = t.run_args(["validate", "p.toml"]).expect_code(2);
    let err = run.stderr();
    assert!(err.contains("p.toml:7:10"), "at the parent's key: {err}");
    assert!(
        err.contains("nested playbook `pg-restore@1.0.0` of step `restore` has no var `databse`"),
        "{err}"
    );
    assert!(err.contains("did you mean `database`?"), "{err}");
    assert!(err.contains("has no output `restord`"), "{err}");
    assert!(err.contains("did you mean `restored`?"), "{err}");
}

#[test]
fn a_var_of_the_wrong_type_fails_the_step_naming_it() {
    let t = Test::new()
        .file("pg-restore.toml", &playbook("pg-restore", CHILD))
        .file(
            "p.toml",
            &parent(
                "[[steps]]\nid = \"restore\"\nplaybook = \"pg-restore\"\nvars = { port = \"not-a-port\" }\n",
            ),
        );
    let run = t
        .run_args(["run", "p.toml", "--out", "out", "--json"])
        .expect_code(1);
    let failed = run
        .events()
        .into_iter()
        .find(|e| e["event"] == "step_finished" && e["step"] == "restore")
        .expect("restore finished");
    assert_eq!(failed["status"], "failed");
    let reason = failed["reason"].as_str().unwrap_or_default().to_owned();
    assert!(
        reason.contains("`vars.port` of step `restore` is `not-a-port`"),
        "{reason}"
    );
}

#[test]
fn only_a_playbook_step_takes_vars() {
    let run = Test::new()
        .file(
            "p.toml",
            &parent("[[steps]]\nid = \"a\"\nrun = \"true\"\nvars = { x = \"1\" }\n"),
        )
        .args(["validate", "p.toml"])
        .run()
        .expect_code(2);
    assert!(
        run.stderr().contains("only a `playbook` step takes vars"),
        "{}",
        run.stderr()
    );
}

#[test]
fn a_for_each_of_a_nested_playbook_gives_each_instances_outputs_as_an_array() {
    let t = Test::new()
        .file("pg-restore.toml", &playbook("pg-restore", CHILD))
        .file(
            "p.toml",
            &parent(
                r#"[[steps]]
id = "restore"
for_each = ["shop", "billing"]
playbook = "pg-restore"
vars = { database = "{{item}}" }

[[steps]]
id = "report"
needs = ["restore"]
run = "echo '{{steps.restore.outputs.restored}}' > got"
"#,
            ),
        );
    let run = t
        .run_args(["run", "p.toml", "--out", "out", "--json"])
        .expect_code(0);
    assert_eq!(
        std::fs::read_to_string(t.path().join("out/got")).expect("report ran"),
        "[\"restored-shop\",\"restored-billing\"]\n"
    );
    let group = run
        .events()
        .into_iter()
        .find(|e| e["event"] == "step_finished" && e["step"] == "restore")
        .expect("the group finished");
    assert_eq!(
        group["outputs"]["where"],
        "[\"shop:5432\",\"billing:5432\"]"
    );
}
