//! `[report] publish`: one command run after the report is written, through the same process
//! machinery as a step (its own process group, the script on a descriptor, TERM then KILL at
//! its timeout), its output masked and kept as its last lines. Its failure is the caller's
//! warning, never a failed run.

use std::path::Path;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::engine::process::{self, CommandSpec, OutputSink, Registry};
use crate::event::{Exit, Masker, StreamMasker, TAIL_LINES};
use crate::playbook::duration::format_human;

/// How much of the output (masked) is kept for its last lines.
const KEEP: usize = 64 * 1024;

/// How the publishing went.
#[derive(Debug)]
pub(crate) struct Published {
    /// Why it failed, in words.
    pub(crate) failure: Option<String>,
    pub(crate) duration: Duration,
    /// The last lines of stdout and stderr as they interleaved, masked.
    pub(crate) output: Vec<String>,
}

/// Output masked as it comes, only the end of it kept.
struct Tail {
    stdout: StreamMasker,
    stderr: StreamMasker,
    kept: Vec<u8>,
}

impl Tail {
    fn keep(&mut self, bytes: &[u8]) {
        keep(&mut self.kept, bytes);
    }

    fn lines(self) -> Vec<String> {
        let Self {
            stdout,
            stderr,
            mut kept,
        } = self;
        keep(&mut kept, &stdout.finish());
        keep(&mut kept, &stderr.finish());
        let text = String::from_utf8_lossy(&kept);
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        let from = lines.len().saturating_sub(TAIL_LINES);
        lines[from..].iter().map(|l| (*l).to_owned()).collect()
    }
}

fn keep(kept: &mut Vec<u8>, bytes: &[u8]) {
    kept.extend_from_slice(bytes);
    if kept.len() > KEEP {
        let cut = kept.len() - KEEP;
        kept.drain(..cut);
    }
}

impl OutputSink for Tail {
    fn stdout(&mut self, chunk: &[u8]) {
        let masked = self.stdout.push(chunk).into_owned();
        self.keep(&masked);
    }

    fn stderr(&mut self, chunk: &[u8]) {
        let masked = self.stderr.push(chunk).into_owned();
        self.keep(&masked);
    }
}

/// Runs `script` in `cwd` with `env` added to the inherited environment, for at most
/// `timeout`; `cancel` (an interrupt) stops it as it stops a step, and `registry` is where a
/// second signal finds its process group.
pub(crate) async fn publish(
    script: &str,
    env: &[(String, String)],
    cwd: &Path,
    timeout: Duration,
    masker: &Masker,
    stop: (&CancellationToken, &Registry),
) -> Published {
    let (cancel, registry) = stop;
    let mut spec = CommandSpec::new(script, cwd);
    spec.env = env.to_vec();
    spec.timeout = Some(timeout);
    let mut tail = Tail {
        stdout: masker.stream(),
        stderr: masker.stream(),
        kept: Vec::new(),
    };
    let started = Instant::now();
    let finished = process::run(&spec, &mut tail, cancel, registry).await;
    let duration = started.elapsed();
    let failure = match finished {
        Ok(f) => match f.exit {
            Exit::Success => None,
            Exit::Code(c) => Some(format!("exit code {c}")),
            Exit::TimedOut => Some(format!(
                "timed out after {}",
                format_human(u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX))
            )),
            Exit::Cancelled => Some("interrupted".to_owned()),
            exit @ Exit::Signal(_) => Some(exit.to_string()),
        },
        Err(e) => Some(e.to_string()),
    };
    Published {
        failure,
        duration,
        output: tail.lines(),
    }
}
