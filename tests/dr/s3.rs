//! A local S3-compatible server for the tests: `moto_server` on a free port of 127.0.0.1, driven
//! with the real `aws` CLI and test credentials. One server is shared by the tests that run at
//! the same time (each uses its own bucket) and stopped, with its whole process group, when the
//! last of them lets go of it.

use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use super::tools;
use crate::support::wait_until;

static SHARED: Mutex<Weak<Server>> = Mutex::new(Weak::new());

/// The environment every `aws` call (the tests' and the playbooks') gets: test credentials,
/// and nothing read from the developer's own `~/.aws`.
pub(crate) const AWS_ENV: [(&str, &str); 6] = [
    ("AWS_ACCESS_KEY_ID", "testing"),
    ("AWS_SECRET_ACCESS_KEY", "testing-secret-key"),
    ("AWS_DEFAULT_REGION", "us-east-1"),
    ("AWS_CONFIG_FILE", "/nonexistent/runbook-tests/aws-config"),
    (
        "AWS_SHARED_CREDENTIALS_FILE",
        "/nonexistent/runbook-tests/aws-credentials",
    ),
    ("AWS_EC2_METADATA_DISABLED", "true"),
];

/// A running `moto_server`.
pub(crate) struct Server {
    child: Child,
    port: u16,
    aws: PathBuf,
}

impl Server {
    pub(crate) fn shared() -> Arc<Self> {
        let mut slot = SHARED.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(server) = slot.upgrade() {
            return server;
        }
        let server = Arc::new(Self::start());
        *slot = Arc::downgrade(&server);
        server
    }

    fn start() -> Self {
        tools::require_all(&["moto_server", "aws"]);
        let moto = tools::require("moto_server");
        let aws = tools::require("aws");
        for _ in 0..5 {
            let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port();
            let mut child = Command::new(&moto)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                // Its own process group, so that stopping it stops whatever it spawned.
                .process_group(0)
                .spawn()
                .expect("moto_server starts");
            let up = wait_until(Duration::from_secs(60), || {
                TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok()
                    || child.try_wait().is_ok_and(|s| s.is_some())
            });
            if up && child.try_wait().is_ok_and(|s| s.is_none()) {
                return Self { child, port, aws };
            }
            stop(&mut child);
        }
        panic!("moto_server did not start listening within 60 s, five times");
    }

    /// `http://127.0.0.1:PORT`, for `--endpoint-url`.
    pub(crate) fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Runs `aws --endpoint-url … ARGS` and returns its stdout.
    #[track_caller]
    pub(crate) fn aws(&self, args: &[&str]) -> String {
        let endpoint = self.endpoint();
        let mut all = vec!["--endpoint-url", endpoint.as_str()];
        all.extend_from_slice(args);
        tools::output(&self.aws, &all, &AWS_ENV)
    }

    /// Creates a bucket (names are unique per test).
    #[track_caller]
    pub(crate) fn bucket(&self, name: &str) -> String {
        self.aws(&["s3api", "create-bucket", "--bucket", name]);
        name.to_owned()
    }

    /// `key size` of every object under `prefix`, sorted.
    #[track_caller]
    pub(crate) fn objects(&self, bucket: &str, prefix: &str) -> Vec<(String, u64)> {
        let text = self.aws(&[
            "s3api",
            "list-objects-v2",
            "--bucket",
            bucket,
            "--prefix",
            prefix,
            "--query",
            "Contents[].[Key, Size]",
            "--output",
            "text",
        ]);
        let mut objects: Vec<(String, u64)> = text
            .lines()
            .filter(|l| !l.trim().is_empty() && l.trim() != "None")
            .map(|l| {
                let (key, size) = l.split_once('\t').expect("key<TAB>size");
                (key.to_owned(), size.trim().parse().expect("a size"))
            })
            .collect();
        objects.sort();
        objects
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// TERM to the group, then KILL after a bounded wait.
fn stop(child: &mut Child) {
    let group = Pid::from_raw(i32::try_from(child.id()).expect("a pid fits in i32"));
    let _ = killpg(group, Signal::SIGTERM);
    let exited = wait_until(Duration::from_secs(5), || {
        child.try_wait().is_ok_and(|s| s.is_some())
    });
    if !exited {
        let _ = killpg(group, Signal::SIGKILL);
        let _ = child.wait();
    }
}
