//! Finding playbooks by name, `list`, `schema`, `completions`.

use crate::util::{Test, playbook, root};

#[test]
fn name_and_semver_requirement_pick_the_newest_match() {
    let lookup = |arg: &str| {
        Test::new()
            .in_repo()
            .args(["--dir", "tests/fixtures/lookup", "show", arg])
            .run()
            .expect_code(0)
            .stdout()
    };
    assert!(lookup("db-restore").starts_with("db-restore@2.0.0"));
    assert!(lookup("db-restore@^1").starts_with("db-restore@1.4.2"));
    assert!(lookup("db-restore@~1.0").starts_with("db-restore@1.0.0"));
    let none = Test::new()
        .in_repo()
        .args(["--dir", "tests/fixtures/lookup", "plan", "db-restore@^3"])
        .run()
        .expect_code(2);
    assert_eq!(
        none.stderr(),
        "error: no version of `db-restore` matches `^3` (found 1.0.0, 1.4.2, 2.0.0)\n"
    );
    let typo = Test::new()
        .in_repo()
        .args(["--dir", "tests/fixtures/lookup", "plan", "db-restor"])
        .run()
        .expect_code(2);
    assert!(
        typo.stderr().contains("did you mean `db-restore`?"),
        "{}",
        typo.stderr()
    );
}

#[test]
fn names_are_found_through_runbook_path_and_the_default_folder() {
    let t = Test::new()
        .file(
            "elsewhere/a.toml",
            &playbook("from-path", "[[steps]]\nid = \"x\"\nrun = \"true\"\n"),
        )
        .file(
            "playbooks/b.toml",
            &playbook("from-default", "[[steps]]\nid = \"y\"\nrun = \"true\"\n"),
        );
    let path = t.path().join("elsewhere").display().to_string();
    t.args(["show", "from-path"])
        .env("RUNBOOK_PATH", &path)
        .run()
        .expect_code(0);
    Test::new()
        .file(
            "playbooks/b.toml",
            &playbook("from-default", "[[steps]]\nid = \"y\"\nrun = \"true\"\n"),
        )
        .args(["show", "from-default"])
        .run()
        .expect_code(0);
}

#[test]
fn lookup_refuses_two_files_with_one_name_and_version() {
    let run = Test::new()
        .in_repo()
        .args(["--dir", "tests/fixtures/duplicate", "plan", "dup-restore"])
        .run()
        .expect_code(2);
    assert!(
        run.stderr().contains("is defined twice in one folder"),
        "{}",
        run.stderr()
    );
}

#[test]
fn list_shows_every_playbook_and_warns_about_invalid_ones() {
    let run = Test::new()
        .file("playbooks/a.toml", &playbook("alpha", "rto = \"30m\"\ntags = [\"db\", \"tier-1\"]\n[[steps]]\nid = \"x\"\nrun = \"true\"\n"))
        .file("playbooks/broken.toml", "[playbook]\nname = \"broken\"\n")
        .args(["list"])
        .run()
        .expect_code(0);
    insta::assert_snapshot!(run.stdout(), @r"
    NAME   VERSION  RTO  TITLE  TAGS
    alpha  1.0.0    30m  alpha  db, tier-1
    ");
    assert!(
        run.stderr()
            .contains("warning: `playbooks/broken.toml` is not listed: it has 2 errors"),
        "{}",
        run.stderr()
    );
}

#[test]
fn the_committed_schema_is_what_schema_prints() {
    let run = Test::new().args(["schema"]).run().expect_code(0);
    let committed = std::fs::read_to_string(root().join("schemas/playbook.schema.json"))
        .expect("committed schema");
    assert_eq!(
        run.stdout(),
        committed,
        "regenerate: cargo run -- schema > schemas/playbook.schema.json"
    );
    let schema: serde_json::Value = serde_json::from_str(&committed).expect("JSON");
    assert_eq!(schema["required"], serde_json::json!(["playbook", "steps"]));
}

#[test]
fn shipped_playbooks_point_editors_at_the_schema() {
    for entry in std::fs::read_dir(root().join("playbooks")).expect("playbooks/") {
        let path = entry.expect("entry").path();
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(
            text.starts_with("#:schema ../schemas/playbook.schema.json\n"),
            "{} lacks the #:schema line",
            path.display()
        );
    }
}

#[test]
fn completions_are_printed_for_each_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let run = Test::new()
            .args(["completions", shell])
            .run()
            .expect_code(0);
        assert!(run.stdout().contains("validate"), "{shell}");
    }
    Test::new()
        .args(["completions", "tcsh"])
        .run()
        .expect_code(2);
}

/// The schema is what editors check playbooks against: it must accept every valid playbook
/// and flag a misspelled key, or it would teach people to ignore their editor.
#[test]
fn the_schema_accepts_valid_playbooks_and_rejects_unknown_keys() {
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("schemas/playbook.schema.json")).expect("schema"),
    )
    .expect("JSON");
    let validator = jsonschema::validator_for(&schema).expect("a valid JSON Schema");
    let as_json = |text: &str| -> serde_json::Value {
        let value: toml::Value = toml::from_str(text).expect("TOML");
        serde_json::to_value(value).expect("JSON")
    };
    let mut files: Vec<_> = std::fs::read_dir(root().join("tests/fixtures/valid"))
        .expect("fixtures")
        .map(|e| e.expect("entry").path())
        .collect();
    files.push(root().join("playbooks/local-backup-drill.toml"));
    for path in files {
        let doc = as_json(&std::fs::read_to_string(&path).expect("read"));
        let errors: Vec<String> = validator
            .iter_errors(&doc)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{} fails the schema: {errors:#?}",
            path.display()
        );
    }
    let typo = as_json(&playbook(
        "typo",
        "[[steps]]\nid = \"a\"\nrun = \"true\"\nneds = [\"b\"]\n",
    ));
    assert!(!validator.is_valid(&typo), "an unknown step key is flagged");
    let bad_duration = as_json(&playbook(
        "d",
        "rto = \"5 minutes\"\n[[steps]]\nid = \"a\"\nrun = \"true\"\n",
    ));
    assert!(
        !validator.is_valid(&bad_duration),
        "a duration outside the grammar is flagged"
    );
}
