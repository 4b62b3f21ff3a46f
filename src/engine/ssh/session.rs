//! One command on a remote host: an `ssh` session over the host's master, whose remote command
//! is the fixed bootstrap (`scripts.rs`) and whose stdin carries the script and its environment.
//! Output streams to an [`OutputSink`] as it comes, as for a local command. On timeout or
//! cancel the remote group gets TERM, then KILL after the grace period, through a second
//! session, which also says whether the group is empty; a second signal makes it KILL at once.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::process::Command;
use tokio::sync::oneshot;
use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;

use crate::engine::process::{CommandSpec, Exit, Finished, OutputSink, Registry, Teardown};
use crate::engine::ssh::connections::Link;
use crate::engine::ssh::scripts;
use crate::engine::ssh::stream::{Markers, Report};
use crate::engine::tree::Tag;
use crate::text::os_error;

const READ_CHUNK: usize = 64 * 1024;
/// How long the client may take to end once its group was dealt with, before it is killed.
const CLOSE_WAIT: Duration = Duration::from_secs(5);
/// How long a teardown may take beyond its grace period (a slow or dead connection).
const TEARDOWN_SLACK: Duration = Duration::from_secs(15);
/// How much of the session's last stderr is kept to say why a connection was lost.
const LAST_WORDS: usize = 512;

/// runbook cannot go on with this remote command (a failing command is an [`Exit`]).
#[derive(Debug, thiserror::Error)]
pub(crate) enum RemoteError {
    #[error("failed to start `ssh` for host `{host}`: {}", os_error(.error))]
    Spawn { host: String, error: std::io::Error },
    #[error("failed to read the output of `ssh` for host `{host}`: {}", os_error(.error))]
    Read { host: String, error: std::io::Error },
    #[error("lost the connection to host `{host}` while the command ran{detail}")]
    Lost { host: String, detail: String },
}

/// What a teardown on the host found and did.
#[derive(Debug, Clone, Copy, Default)]
struct Swept {
    found: u32,
    killed: bool,
    empty: bool,
}

/// Runs `spec` on the host of `link` (its `cwd` is ignored: `cwd` is the remote working
/// directory, `None` for the login directory), streaming its output to `sink`.
///
/// # Errors
///
/// [`RemoteError::Spawn`] when `ssh` cannot be started, [`RemoteError::Lost`] when the session
/// ended without the script's exit status (the connection was refused or dropped).
#[expect(
    clippy::too_many_lines,
    reason = "one select loop over output, exit, deadline, cancel and the linger, as in process.rs"
)]
pub(crate) async fn run<S: OutputSink + ?Sized>(
    link: &Link,
    spec: &CommandSpec,
    cwd: Option<&str>,
    sink: &mut S,
    cancel: &CancellationToken,
    second: Option<&CancellationToken>,
    registry: &Registry,
) -> Result<Finished, RemoteError> {
    let host = link.target.name.clone();
    let started = Instant::now();
    let payload = scripts::payload(&spec.env, cwd, &spec.script);
    let mut child = session(link, &scripts::bootstrap_command())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|error| RemoteError::Spawn {
            host: host.clone(),
            error,
        })?;
    let pid = child.id().expect("a child not yet waited for has a pid");
    let tag = Tag::next();
    // A second signal kills this client; its end of stdin closing makes the host kill the group.
    let _registered = registry.register(pid, &tag);
    sink.spawned(pid);
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let (close, closed) = oneshot::channel::<()>();
    // The payload goes in, then stdin stays open until the command is over: its end tells
    // the host that runbook is gone. Dropping `close` (also when this future is dropped) ends it.
    tokio::spawn(async move {
        if stdin.write_all(&payload).await.is_ok() {
            let _ = stdin.flush().await;
            let _ = closed.await;
        }
        drop(stdin);
    });
    let mut close = Some(close);
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let mut stdout_buf = Vec::with_capacity(READ_CHUNK);
    let mut stderr_buf = Vec::with_capacity(READ_CHUNK);
    let (mut stdout_open, mut stderr_open) = (true, true);
    let mut markers = Markers::default();
    let mut reports = Vec::new();
    let mut last_words: Vec<u8> = Vec::new();
    let mut group: Option<u32> = None;
    let mut code: Option<i32> = None;
    let mut status = None;
    let mut stopped: Option<Exit> = None;
    let mut swept: Option<Swept> = None;
    let mut teardown = Teardown::NotNeeded;
    let mut stragglers_killed = false;
    let deadline = spec.timeout.map(|t| started + t);
    let mut linger_until: Option<Instant> = None;
    let mut close_by: Option<Instant> = None;

    loop {
        if status.is_some() && !stdout_open && !stderr_open {
            break;
        }
        let mut stop = None;
        let mut straggle = false;
        let running = stopped.is_none() && code.is_none();
        tokio::select! {
            read = stdout.read_buf(&mut stdout_buf), if stdout_open => match read {
                Ok(0) => stdout_open = false,
                Ok(_) => {
                    sink.stdout(&stdout_buf);
                    stdout_buf.clear();
                }
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
                Err(error) => return Err(RemoteError::Read { host, error }),
            },
            read = stderr.read_buf(&mut stderr_buf), if stderr_open => match read {
                Ok(0) => {
                    stderr_open = false;
                    let rest = markers.finish();
                    if !rest.is_empty() {
                        sink.stderr(&rest);
                    }
                }
                Ok(_) => {
                    let text = markers.feed(&stderr_buf, &mut reports);
                    stderr_buf.clear();
                    if !text.is_empty() {
                        keep_last(&mut last_words, &text);
                        sink.stderr(&text);
                    }
                    for report in reports.drain(..) {
                        match report {
                            Report::Pgid(g) => group = Some(g),
                            Report::Exit(c) => {
                                code = Some(c);
                                linger_until = Some(Instant::now() + spec.linger);
                            }
                        }
                    }
                }
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
                Err(error) => return Err(RemoteError::Read { host, error }),
            },
            exited = child.wait(), if status.is_none() => {
                status = Some(exited.ok());
                close.take();
            }
            () = sleep_until_some(deadline), if running => stop = Some(Exit::TimedOut),
            () = cancel.cancelled(), if running => stop = Some(Exit::Cancelled),
            () = sleep_until_some(linger_until), if status.is_none() && stopped.is_none() => {
                straggle = true;
            }
            () = sleep_until_some(close_by), if status.is_none() => {
                let _ = child.start_kill();
                close_by = None;
            }
        }
        if let Some(reason) = stop {
            stopped = Some(reason);
            if let Some(g) = group {
                let found = sweep(link, g, spec.grace, second).await;
                teardown = if found.killed {
                    Teardown::Kill
                } else {
                    Teardown::Term
                };
                swept = Some(found);
            }
            // End of stdin: the bootstrap's watchdog ends a group whose number was not yet
            // known; either way the session now closes.
            close.take();
            close_by = Some(Instant::now() + spec.grace + CLOSE_WAIT);
        }
        if straggle {
            // The script ended, but members of its group still hold the output open.
            linger_until = None;
            if let Some(g) = group {
                let found = sweep(link, g, spec.grace, second).await;
                teardown = if found.killed {
                    Teardown::Kill
                } else {
                    Teardown::Term
                };
                stragglers_killed = found.found > 0;
            }
            close.take();
            close_by = Some(Instant::now() + spec.grace + CLOSE_WAIT);
        }
    }

    let exit = match (stopped, code) {
        (Some(stopped), _) => stopped,
        (None, Some(0)) => Exit::Success,
        (None, Some(c)) => Exit::Code(c),
        (None, None) => {
            let words = String::from_utf8_lossy(&last_words);
            let detail = words
                .lines()
                .map(str::trim)
                .rfind(|l| !l.is_empty())
                .map_or_else(String::new, |l| format!(": {l}"));
            return Err(RemoteError::Lost { host, detail });
        }
    };
    Ok(Finished {
        exit,
        duration: started.elapsed(),
        pid,
        pgid: group.unwrap_or(0),
        teardown,
        // After a normal end the host is not asked again (it would cost a round trip per
        // step); the session closed, so nothing of the group holds its output.
        group_empty: swept.map_or(stopped.is_none(), |s| s.empty),
        killed: swept.map_or(0, |s| s.found),
        detached: 0,
        stragglers_killed,
    })
}

/// An `ssh` session over the master with `remote` as its remote command.
pub(crate) fn session(link: &Link, remote: &str) -> Command {
    let mut command = Command::new("ssh");
    command
        .arg("-S")
        .arg(&link.socket)
        .args(["-o", "ControlMaster=no"])
        .args(link.target.options())
        .arg("--")
        .arg(&link.target.destination)
        .arg(remote);
    command
}

/// TERM, grace, KILL to group `pgid` on the host, through a session of its own; KILL at once
/// when `second` fires meanwhile. A teardown that cannot report claims nothing: not empty.
async fn sweep(
    link: &Link,
    pgid: u32,
    grace: Duration,
    second: Option<&CancellationToken>,
) -> Swept {
    let gentle = teardown(link, pgid, grace);
    let Some(second) = second else {
        return gentle.await;
    };
    tokio::select! {
        swept = gentle => swept,
        () = second.cancelled() => teardown(link, pgid, Duration::ZERO).await,
    }
}

async fn teardown(link: &Link, pgid: u32, grace: Duration) -> Swept {
    let out = session(link, &scripts::teardown_command(pgid, grace))
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .output();
    let Ok(Ok(out)) = tokio::time::timeout(grace + TEARDOWN_SLACK, out).await else {
        tracing::warn!(host = %link.target.name, pgid, "the teardown on the host did not report");
        return Swept::default();
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let report = text
        .lines()
        .find_map(|l| l.strip_prefix("runbook-teardown "));
    let Some(words) = report else {
        let why = text
            .lines()
            .find_map(|l| l.strip_prefix("runbook-teardown-error "));
        tracing::warn!(host = %link.target.name, pgid, reason = why.unwrap_or("no report"), "the teardown on the host failed");
        return Swept::default();
    };
    let numbers: Vec<u32> = words
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    match numbers.as_slice() {
        [found, killed, empty] => Swept {
            found: *found,
            killed: *killed == 1,
            empty: *empty == 1,
        },
        _ => Swept::default(),
    }
}

fn keep_last(kept: &mut Vec<u8>, text: &[u8]) {
    kept.extend_from_slice(text);
    if kept.len() > LAST_WORDS {
        kept.drain(..kept.len() - LAST_WORDS);
    }
}

async fn sleep_until_some(wake: Option<Instant>) {
    match wake {
        Some(at) => sleep_until(at).await,
        None => std::future::pending().await,
    }
}
