//! Outputs and vars holding a secret come back whole on resume, from the secrets supplied
//! again, never from the disk (rule 7).

use crate::util::{Test, journal, playbook};

use super::{
    SECRET, SECRET_OUTPUT, count_lines, files_containing, kill_9, resume, sha256_hex,
    spawn_with_env, stderr, wait_exit, wait_for_text,
};

#[test]
fn resume_gives_later_steps_the_whole_output_that_held_a_secret() {
    // See: #11
    let env = [("DB_PASSWORD", SECRET)];
    let t = Test::new().file("pb.toml", &playbook("secret-output", SECRET_OUTPUT));
    let child = spawn_with_env(t.path(), &["run", "pb.toml", "--out", "run"], &env);
    wait_for_text(&t.path().join("run/logs/two.log"), "waiting-for-go");
    kill_9(child);

    // Without the secret, the output cannot be whole: refused before anything runs.
    let refused = wait_exit(spawn_with_env(t.path(), &["resume", "run", "--yes"], &[]));
    assert_eq!(refused.status.code(), Some(3), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("`steps.make.outputs.dsn`")
            && stderr(&refused).contains("`DB_PASSWORD`, which is not set"),
        "{}",
        stderr(&refused)
    );
    assert!(
        !journal(&t.path().join("run"))
            .iter()
            .any(|e| e["event"] == "run_resumed"),
        "the refused resume journaled nothing"
    );
    assert_eq!(count_lines(&t.path().join("two.count")), 1, "nothing ran");

    std::fs::write(t.path().join("go"), "").expect("go");
    let out = resume(t.path(), &["run", "--yes"], &env);
    assert_eq!(out.status.code(), Some(0), "resume: {}", stderr(&out));
    assert_eq!(
        count_lines(&t.path().join("make.count")),
        1,
        "make ran once"
    );
    assert_eq!(
        std::fs::read_to_string(t.path().join("three.sha"))
            .expect("three ran")
            .trim(),
        sha256_hex(&format!("postgres://app:{SECRET}@db/x")),
        "three got the value an uninterrupted run gives it"
    );
    assert_eq!(
        files_containing(&t.path().join("run"), SECRET),
        Vec::<std::path::PathBuf>::new(),
        "the secret is written to no file of the run folder"
    );
    let make = journal(&t.path().join("run"))
        .into_iter()
        .find(|e| e["event"] == "step_finished" && e["step"] == "make")
        .expect("make finished");
    assert_eq!(make["outputs"]["dsn"], "postgres://app:***@db/x");
}

#[test]
fn resume_gives_later_steps_the_whole_var_that_held_a_secret() {
    // See: #11
    let env = [("DB_PASSWORD", SECRET)];
    let body = r#"secrets = ["DB_PASSWORD"]
[vars]
dsn = "none"
[[steps]]
id = "two"
run = "echo run >> ../two.count; echo waiting-for-go; while [ ! -e ../go ]; do sleep 0.05; done"
[[steps]]
id = "three"
needs = ["two"]
run = "printf %s '{{vars.dsn}}' | sha256sum | cut -d ' ' -f 1 > ../three.sha"
"#;
    let t = Test::new().file("pb.toml", &playbook("secret-var", body));
    let dsn = format!("postgres://app:{SECRET}@db/x");
    let var = format!("dsn={dsn}");
    let child = spawn_with_env(
        t.path(),
        &["run", "pb.toml", "--out", "run", "--var", &var],
        &env,
    );
    wait_for_text(&t.path().join("run/logs/two.log"), "waiting-for-go");
    kill_9(child);
    let refused = wait_exit(spawn_with_env(t.path(), &["resume", "run", "--yes"], &[]));
    assert_eq!(refused.status.code(), Some(3), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("var `dsn` cannot be restored"),
        "{}",
        stderr(&refused)
    );
    std::fs::write(t.path().join("go"), "").expect("go");
    let out = resume(t.path(), &["run", "--yes"], &env);
    assert_eq!(out.status.code(), Some(0), "resume: {}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(t.path().join("three.sha"))
            .expect("three ran")
            .trim(),
        sha256_hex(&dsn)
    );
    assert_eq!(
        files_containing(&t.path().join("run"), SECRET),
        Vec::<std::path::PathBuf>::new()
    );
}

#[test]
fn a_log_holds_every_byte_of_tricky_output_masked_with_the_secret_split_between_reads() {
    // See: #18 (the log path writes whole chunks and keeps the tail as bytes; its log must be
    // byte for byte what the step printed, masked)
    let (head, rest) = SECRET.split_at(7);
    let body = format!(
        r#"secrets = ["DB_PASSWORD"]

[[steps]]
id = "noisy"
run = '''
printf 'first\r\nsecond\rthird\n\n'
head -c 100000 /dev/zero | tr '\0' x
printf '\n\377 not utf-8 %s' '{head}'
sleep 0.3
printf '%s end\n' '{rest}'
printf 'no newline at the end'
exit 3
'''
"#
    );
    let t = Test::new()
        .file("pb.toml", &playbook("tricky-log", &body))
        .env("DB_PASSWORD", SECRET);
    let out = t
        .run_args(["run", "pb.toml", "--out", "run"])
        .expect_code(1);
    let log = std::fs::read(t.path().join("run/logs/noisy.log")).expect("the log");
    let nl = log.iter().position(|&b| b == b'\n').expect("a separator");
    assert!(log.starts_with(b"=== noisy: "), "{:?}", &log[..nl]);
    let mut expected = b"first\r\nsecond\rthird\n\n".to_vec();
    expected.extend(std::iter::repeat_n(b'x', 100_000));
    expected.extend_from_slice(b"\n\xff not utf-8 *** end\nno newline at the end");
    let written = &log[nl + 1..];
    let differs = written.iter().zip(&expected).position(|(a, b)| a != b);
    assert!(
        written == &expected[..],
        "the log differs at byte {differs:?} (lengths {} and {}), ending {:?}",
        written.len(),
        expected.len(),
        String::from_utf8_lossy(&written[written.len().saturating_sub(60)..])
    );
    // The terminal shows the last lines, masked too.
    assert!(
        out.stderr().contains("no newline at the end"),
        "{}",
        out.stderr()
    );
    assert!(!out.stderr().contains(head), "{}", out.stderr());
}
