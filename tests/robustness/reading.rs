//! Rule 11: reading a playbook never hangs and never panics. A FIFO, a device or a file over
//! 16 MiB is refused at once; bytes that are not UTF-8 are a diagnostic at the first bad one;
//! templates and ids that once panicked are diagnostics.

use super::{HANG, assert_located, finish_within, spawn};
use crate::util::{Test, playbook};

// See: #11
#[test]
fn a_fifo_is_refused_without_hanging() {
    let t = Test::new();
    let made = runbook_free_mkfifo(&t.path().join("pipe.toml"));
    assert!(made, "mkfifo (coreutils) makes the FIFO");
    for command in ["validate", "plan", "show", "run"] {
        let out = finish_within(
            spawn(t.path(), &[command, "pipe.toml"]),
            HANG,
            &format!("{command} pipe.toml"),
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{command}: {stderr}");
        assert!(
            stderr.contains("cannot read `pipe.toml` as a playbook: it is a FIFO (named pipe), not a regular file"),
            "{command}: {stderr}"
        );
    }
    assert!(!t.runs_root().exists(), "nothing ran");
}

fn runbook_free_mkfifo(path: &std::path::Path) -> bool {
    std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .is_ok_and(|s| s.success())
}

// See: #11
#[test]
fn a_device_is_refused_without_reading_it() {
    let t = Test::new();
    for command in ["validate", "plan", "run"] {
        // /dev/zero never ends: a reader that tried would fill memory, so the address space is
        // capped and the wait bounded, and the refusal must come at once.
        let binary = assert_cmd::cargo::cargo_bin("runbook");
        let mut cmd = std::process::Command::new("sh");
        cmd.args([
            "-c",
            &format!(
                "ulimit -v 4000000; exec {} {command} /dev/zero",
                binary.display()
            ),
        ])
        .env("NO_COLOR", "1")
        .current_dir(t.path())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
        let out = finish_within(
            cmd.spawn().expect("sh starts"),
            HANG,
            &format!("{command} /dev/zero"),
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{command}: {stderr}");
        assert!(
            stderr.contains(
                "cannot read `/dev/zero` as a playbook: it is a character device, not a regular file"
            ),
            "{command}: {stderr}"
        );
    }
    assert!(!t.runs_root().exists(), "nothing ran");
}

// See: #11
#[test]
fn a_file_over_16_mib_is_refused_before_it_is_read() {
    let t = Test::new().file("big.toml", "");
    let big = std::fs::OpenOptions::new()
        .write(true)
        .open(t.path().join("big.toml"))
        .expect("open");
    big.set_len(16 * 1024 * 1024 + 1).expect("a sparse file");
    for command in ["validate", "run"] {
        let run = t.run_args([command, "big.toml"]).expect_code(2);
        assert!(
            run.stderr().contains(
                "cannot read `big.toml` as a playbook: it is 16777217 bytes (17 MiB), and a playbook may have at most 16 MiB"
            ),
            "{}",
            run.stderr()
        );
    }
    // Exactly 16 MiB is read (and is no playbook).
    big.set_len(16 * 1024 * 1024).expect("truncate");
    let run = t.run_args(["validate", "big.toml"]).expect_code(2);
    assert!(!run.stderr().contains("16 MiB"), "{}", run.stderr());
}

// See: #11
#[test]
fn bytes_that_are_not_utf8_are_a_diagnostic_at_the_first_bad_one() {
    let mut bytes = playbook("bad", "title = \"é").into_bytes();
    bytes.extend_from_slice(b"\xff\xfe\"\n[[steps]]\nid = \"a\"\nrun = \"true\"\n");
    let t = Test::new();
    std::fs::write(t.path().join("bad.toml"), &bytes).expect("write");
    for command in ["validate", "plan", "run"] {
        let run = t.run_args([command, "bad.toml"]).expect_code(2);
        let stderr = run.stderr();
        assert!(
            stderr.starts_with(
                "bad.toml:4:11: error: the file is not valid UTF-8 text: byte `0xff` cannot start or continue a character here\n"
            ),
            "{command}: {stderr}"
        );
        assert!(
            stderr.contains("= help: save the playbook as UTF-8"),
            "{stderr}"
        );
        assert_located(&stderr, "bad.toml");
    }
    assert!(!t.runs_root().exists(), "nothing ran");
    // A character cut short at the end of the file too.
    let t = Test::new();
    let mut cut = playbook("cut", "[[steps]]\nid = \"a\"\nrun = \"true\"\n# é").into_bytes();
    cut.pop();
    std::fs::write(t.path().join("cut.toml"), &cut).expect("write");
    let run = t.run_args(["validate", "cut.toml"]).expect_code(2);
    assert!(
        run.stderr()
            .starts_with("cut.toml:7:3: error: the file is not valid UTF-8 text"),
        "{}",
        run.stderr()
    );
}
