//! One host's multiplexed connection: an `ssh -M -N` master that runbook starts, supervises as
//! its child and ends with `ssh -O exit`. Every command for that host is a session over its
//! control socket, so a run authenticates once per host.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::AsyncReadExt as _;
use tokio::process::{Child, Command};
use tokio_util::sync::CancellationToken;

use crate::engine::ssh::target::Target;
use crate::text::os_error;

/// How often a starting master is checked for its socket.
const POLL: Duration = Duration::from_millis(5);
/// How long a master may take to authenticate (`ConnectTimeout` bounds the TCP part).
const START_LIMIT: Duration = Duration::from_secs(60);
/// How long `ssh -O exit` and the master's own exit may take before it is killed.
const EXIT_LIMIT: Duration = Duration::from_secs(5);
/// How much of the master's stderr is kept for a message.
const STDERR_CAP: usize = 8 * 1024;

/// Why a host could not be reached.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum ConnectError {
    #[error(
        "host `{name}` (`{written}`) presented a host key that is not in `{known_hosts}`, and unknown hosts are refused; check its fingerprint with the host's owner, then pin it: `{pin}`"
    )]
    UnknownKey {
        name: String,
        written: String,
        known_hosts: String,
        pin: String,
    },
    #[error(
        "the host key of host `{name}` (`{written}`) is not the one pinned in `{known_hosts}`: the host was reinstalled or someone is in between; if the new key is right, remove the old one with `{remove}` and pin the new one: `{pin}`"
    )]
    ChangedKey {
        name: String,
        written: String,
        known_hosts: String,
        remove: String,
        pin: String,
    },
    #[error("cannot connect to host `{name}` (`{written}`): {reason}")]
    Failed {
        name: String,
        written: String,
        reason: String,
    },
    #[error("the connection to host `{name}` was not made: the run was interrupted")]
    Cancelled { name: String },
}

/// A running master and the socket its sessions use.
pub(crate) struct Master {
    child: Child,
    socket: PathBuf,
    target: Target,
}

impl Master {
    /// Starts the master and waits until it has authenticated (its socket exists), it fails,
    /// or `cancel` fires.
    pub(crate) async fn start(
        target: &Target,
        socket: PathBuf,
        cancel: &CancellationToken,
    ) -> Result<Self, ConnectError> {
        let failed = |reason: String| ConnectError::Failed {
            name: target.name.clone(),
            written: target.written.clone(),
            reason,
        };
        let mut child = Command::new("ssh")
            .arg("-M")
            .arg("-N")
            .arg("-S")
            .arg(&socket)
            .args(["-o", "ControlPersist=no"])
            .args(target.options())
            .arg("--")
            .arg(&target.destination)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            // Not in runbook's process group: a Ctrl-C at the terminal is runbook's to handle,
            // and the steps' teardown still needs this connection.
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| failed(format!("failed to start `ssh`: {}", os_error(&e))))?;
        let stderr = Arc::new(Mutex::new(Vec::new()));
        if let Some(mut pipe) = child.stderr.take() {
            let kept = Arc::clone(&stderr);
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                while let Ok(n) = pipe.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    let mut kept = kept.lock().expect("never poisoned");
                    if kept.len() < STDERR_CAP {
                        kept.extend_from_slice(&buf[..n]);
                    }
                }
            });
        }
        let deadline = tokio::time::Instant::now() + START_LIMIT;
        loop {
            if socket_ready(&socket) {
                return Ok(Self {
                    child,
                    socket,
                    target: target.clone(),
                });
            }
            if let Ok(Some(_)) = child.try_wait() {
                // Let the reader take the last of stderr.
                tokio::time::sleep(Duration::from_millis(20)).await;
                let text =
                    String::from_utf8_lossy(&stderr.lock().expect("never poisoned")).into_owned();
                return Err(classify(target, &text).await);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(failed(format!(
                    "no connection within {}s",
                    START_LIMIT.as_secs()
                )));
            }
            tokio::select! {
                () = tokio::time::sleep(POLL) => {}
                () = cancel.cancelled() => {
                    return Err(ConnectError::Cancelled { name: target.name.clone() });
                }
            }
        }
    }

    /// Whether the master still runs: a dropped connection ends it.
    pub(crate) fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub(crate) fn socket(&self) -> &Path {
        &self.socket
    }

    /// Ends the connection: `ssh -O exit`, then the master's exit (KILL if it lingers).
    pub(crate) async fn exit(mut self) {
        if self.alive() {
            let asked = Command::new("ssh")
                .arg("-S")
                .arg(&self.socket)
                .args(["-O", "exit"])
                .args(self.target.options())
                .arg("--")
                .arg(&self.target.destination)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .status();
            let _ = tokio::time::timeout(EXIT_LIMIT, asked).await;
        }
        if tokio::time::timeout(EXIT_LIMIT, self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
        let _ = std::fs::remove_file(&self.socket);
    }
}

fn socket_ready(socket: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt as _;
    std::fs::symlink_metadata(socket).is_ok_and(|m| m.file_type().is_socket())
}

/// The master's last words, in ours: an unknown or changed host key says how to pin it.
async fn classify(target: &Target, stderr: &str) -> ConnectError {
    let known_hosts = target.known_hosts_shown();
    if stderr.contains("REMOTE HOST IDENTIFICATION HAS CHANGED") {
        let (host, port) = resolved(target).await;
        let entry = match port {
            22 => host.clone(),
            port => format!("[{host}]:{port}"),
        };
        return ConnectError::ChangedKey {
            name: target.name.clone(),
            written: target.written.clone(),
            remove: format!("ssh-keygen -R '{entry}' -f {known_hosts}"),
            pin: format!("ssh-keyscan -p {port} {host} >> {known_hosts}"),
            known_hosts,
        };
    }
    if stderr.contains("Host key verification failed") || stderr.contains("host key is known") {
        let (host, port) = resolved(target).await;
        return ConnectError::UnknownKey {
            name: target.name.clone(),
            written: target.written.clone(),
            pin: format!("ssh-keyscan -p {port} {host} >> {known_hosts}"),
            known_hosts,
        };
    }
    let reason = stderr
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .map_or_else(
            || "`ssh` ended without saying why".to_owned(),
            str::to_owned,
        );
    ConnectError::Failed {
        name: target.name.clone(),
        written: target.written.clone(),
        reason,
    }
}

/// The host name and port ssh really connects to (an alias resolved by `ssh -G`).
async fn resolved(target: &Target) -> (String, u16) {
    let fallback = (target.host().to_owned(), target.port.unwrap_or(22));
    let Ok(out) = Command::new("ssh")
        .arg("-G")
        .args(target.options())
        .arg("--")
        .arg(&target.destination)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
    else {
        return fallback;
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(' ').map(str::to_owned))
    };
    (
        field("hostname").unwrap_or(fallback.0),
        field("port")
            .and_then(|p| p.parse().ok())
            .unwrap_or(fallback.1),
    )
}
