//! Secret outputs: a generated password handed to later steps is masked everywhere, the log of
//! the step that produced it included, and in no file of the run folder.

use std::path::Path;

use crate::util::{Test, finished, playbook};

/// Every file under `dir` whose bytes contain `needle`.
fn files_containing(dir: &Path, needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if std::fs::read(&path)
                .is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle.as_bytes()))
            {
                found.push(path.display().to_string());
            }
        }
    }
    found
}

/// What the steps generate, put together at run time from two halves, so that the playbook
/// (copied into the run folder) never holds it whole, as a generated password is never in it.
const PASSWORD: &str = "Zq7-generated-pw-51f0";
const HALVES: (&str, &str) = ("Zq7-gen", "erated-pw-51f0");

fn text() -> String {
    playbook(
        "secret-outputs",
        &format!(
            r#"[[steps]]
id = "generate"
run = "a={a}; b={b}; echo 'creating the role'; echo \"$a$b\" >&2; echo \"  $a$b  \""
outputs = {{ password = {{ stdout_regex = '(\S+)$', secret = true }} }}

[[steps]]
id = "use"
needs = ["generate"]
run = "[ '{{{{steps.generate.outputs.password}}}}' = {a}''{b} ] && echo 'the password arrived: {{{{steps.generate.outputs.password}}}}'"
"#,
            a = HALVES.0,
            b = HALVES.1
        ),
    )
}

#[test]
fn a_secret_output_is_masked_everywhere_and_still_reaches_later_steps() {
    let t = Test::new().file("p.toml", &text());
    let run = t
        .run_args(["run", "p.toml", "--out", "out", "--json", "--verbose"])
        .expect_code(0);
    assert!(!run.stdout().contains(PASSWORD), "stdout: {}", run.stdout());
    assert!(!run.stderr().contains(PASSWORD), "stderr: {}", run.stderr());
    let events = run.events();
    assert_eq!(
        finished(&events, "use")["status"],
        "ok",
        "the value reached the step"
    );
    assert_eq!(finished(&events, "generate")["outputs"]["password"], "***");
    let out = t.path().join("out");
    assert_eq!(files_containing(&out, PASSWORD), Vec::<String>::new());
    let log = std::fs::read_to_string(out.join("logs/generate.log")).expect("the log");
    assert!(
        log.contains("creating the role"),
        "the log is written: {log}"
    );
    assert!(log.contains("***"), "with the value masked: {log}");
    let use_log = std::fs::read_to_string(out.join("logs/use.log")).expect("the log");
    assert!(use_log.contains("the password arrived: ***"), "{use_log}");
}

#[test]
fn a_failing_step_with_a_secret_output_still_masks_it() {
    let t = Test::new().file(
        "p.toml",
        &playbook(
            "secret-fail",
            &format!(
                "[[steps]]\nid = \"generate\"\nrun = \"echo {a}''{b}; exit 3\"\noutputs = {{ password = {{ from = \"stdout\", secret = true }} }}\n",
                a = HALVES.0,
                b = HALVES.1
            ),
        ),
    );
    let run = t.run_args(["run", "p.toml", "--out", "out"]).expect_code(1);
    assert!(
        !run.stderr().contains(PASSWORD),
        "the failure tail: {}",
        run.stderr()
    );
    assert_eq!(
        files_containing(&t.path().join("out"), PASSWORD),
        Vec::<String>::new()
    );
}

#[test]
fn an_output_table_takes_one_source() {
    let run = Test::new()
        .file(
            "p.toml",
            &playbook(
                "bad",
                "[[steps]]\nid = \"a\"\nrun = \"true\"\noutputs = { x = { from = \"stdout\", json_pointer = \"/a\" }, y = { from = \"stdot\" } }\n",
            ),
        )
        .args(["validate", "p.toml"])
        .run()
        .expect_code(2);
    let err = run.stderr();
    assert!(
        err.contains("needs exactly one of `stdout_regex`, `json_pointer` and `from`"),
        "{err}"
    );
    assert!(err.contains("unknown output source \"stdot\""), "{err}");
}
