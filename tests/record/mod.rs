//! The record never lies and resume keeps what the record says (issue #11, rules 2, 6 and 7):
//! interrupted runs resume, write failures fail the run, torn journal lines are survived,
//! outputs holding a secret come back whole without the secret touching the disk, and `runs`
//! tells a live run from a crashed one. Shared helpers live here.

mod crashes;
mod secrets;
mod write_failures;

use std::path::Path;
use std::process::{Child, Command};
use std::time::Duration;

use crate::support::wait_until;
use crate::util::{count_lines, spawn_with_env};

/// Waits until `file` contains `text`, or fails the test naming what it waited for.
fn wait_for_text(file: &Path, text: &str) {
    assert!(
        wait_until(Duration::from_secs(30), || std::fs::read_to_string(file)
            .is_ok_and(|t| t.contains(text))),
        "`{}` never contained {text:?}",
        file.display()
    );
}

/// Waits for a child to exit (bounded), returning its output.
fn wait_exit(child: Child) -> std::process::Output {
    let pid = child.id();
    let (send, receive) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = send.send(child.wait_with_output());
    });
    receive
        .recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|_| panic!("runbook (pid {pid}) did not exit within 60s"))
        .expect("runbook output")
}

/// Resumes until the crashed step's process group is gone (bounded): `resume` refuses while it runs.
fn resume(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut all = vec!["resume"];
    all.extend_from_slice(args);
    for _ in 0..300 {
        let out = wait_exit(spawn_with_env(dir, &all, env));
        if !String::from_utf8_lossy(&out.stderr).contains("is still running") {
            return out;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the crashed run's step kept running for 15s");
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Three steps; the middle one waits for `go` to exist.
const THREE: &str = r#"[[steps]]
id = "one"
run = "echo run >> ../one.count; echo first"
outputs = { v = "stdout" }
[[steps]]
id = "two"
needs = ["one"]
run = "echo run >> ../two.count; echo waiting-for-go; while [ ! -e ../go ]; do sleep 0.05; done; echo went"
[[steps]]
id = "three"
needs = ["two"]
run = "echo run >> ../three.count; echo {{steps.one.outputs.v}} > ../three.value"
"#;

/// Runs `pb.toml` into `run` and kills the runner (-9) once step `two` waits for `go`.
fn crash_under_two(dir: &Path, args: &[&str], times: usize) {
    let child = spawn_with_env(dir, args, &[]);
    let log = dir.join("run/logs/two.log");
    assert!(
        wait_until(Duration::from_secs(30), || std::fs::read_to_string(&log)
            .is_ok_and(|t| t.matches("waiting-for-go").count() >= times)),
        "step two never started (attempt {times})"
    );
    kill_9(child);
}

fn kill_9(mut child: Child) {
    child.kill().expect("kill -9");
    let _ = child.wait();
}

/// A 1 MiB tmpfs, unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
            .arg(dir.path())
            .output()
            .expect("mount runs");
        assert!(
            out.status.success(),
            "this test needs to mount a 1 MiB tmpfs (run it as root, as CI does): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

const SECRET: &str = "hunter2-Secret-42";

/// `make` outputs a value holding a secret; `three` writes a sha256 of the value it gets.
const SECRET_OUTPUT: &str = r#"secrets = ["DB_PASSWORD"]
[[steps]]
id = "make"
run = "echo run >> ../make.count; echo \"postgres://app:$DB_PASSWORD@db/x\""
outputs = { dsn = "stdout" }
[[steps]]
id = "two"
needs = ["make"]
run = "echo run >> ../two.count; echo waiting-for-go; while [ ! -e ../go ]; do sleep 0.05; done"
[[steps]]
id = "three"
needs = ["two"]
run = "printf %s '{{steps.make.outputs.dsn}}' | sha256sum | cut -d ' ' -f 1 > ../three.sha"
"#;

fn sha256_hex(text: &str) -> String {
    use sha2::Digest as _;
    format!("{:x}", sha2::Sha256::digest(text.as_bytes()))
}

/// Every file under `dir` that contains `needle`.
fn files_containing(dir: &Path, needle: &str) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if std::fs::read(&path)
                .is_ok_and(|b| String::from_utf8_lossy(&b).contains(needle))
            {
                found.push(path);
            }
        }
    }
    found
}
