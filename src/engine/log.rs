//! A step's output: masked into `logs/<step>.log` as it comes (with a separator per attempt),
//! kept raw but bounded for outputs and expectations, and summarised as masked last lines for
//! people. Memory stays flat however much a step prints. A log that cannot be written fails the
//! step and stops the run (the record must not lie).

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::engine::process::OutputSink;
use crate::event::{Bus, Event, StreamMasker, TAIL_LINES, WriteFault};

/// How much raw stdout and stderr is kept for outputs and `expect` (the log has everything).
pub(crate) const CAPTURE_LIMIT: usize = 1024 * 1024;
const LINE_LIMIT: usize = 4096;
/// The most output held back from the log of a step with secret outputs; beyond it, output
/// is left out of the log (and counted there), never written unmasked.
const HOLD_LIMIT: usize = 64 * 1024 * 1024;
/// The live view needs no more than a few updates a second.
const OUTPUT_EVENT_EVERY: Duration = Duration::from_millis(100);

/// What a finished command left.
#[derive(Debug, Default)]
pub(crate) struct Captured {
    /// Raw, up to [`CAPTURE_LIMIT`] bytes.
    pub(crate) stdout: String,
    pub(crate) stderr: String,
    /// Masked, the last [`TAIL_LINES`] lines of stdout and stderr as they interleaved.
    pub(crate) tail: Vec<String>,
    /// The log could not be written (`failed to write PATH: ERROR`): the step failed, whatever
    /// its command did, since its record is incomplete.
    pub(crate) write_error: Option<String>,
    /// A log held back (the step has secret outputs): written by [`HeldLog::release`] once
    /// the bus knows the secrets.
    pub(crate) held: Option<HeldLog>,
}

/// The output of a step with secret outputs, not yet in its log.
pub(crate) struct HeldLog(Box<StepLog>);

impl std::fmt::Debug for HeldLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HeldLog")
    }
}

impl HeldLog {
    /// Writes what was held, masked with what the bus knows now (the step's secret outputs
    /// included): the log's last lines and its write error, as [`StepLog::finish`] gives them.
    pub(crate) fn release(self) -> Captured {
        let mut log = *self.0;
        let chunks = log.hold.take().unwrap_or_default();
        let masker = log.bus.masker();
        log.stdout_mask = masker.stream();
        log.stderr_mask = masker.stream();
        for (stream, chunk) in chunks {
            let text = if stream == 0 {
                log.stdout_mask.push(&chunk).into_owned()
            } else {
                log.stderr_mask.push(&chunk).into_owned()
            };
            log.masked(stream, &text);
        }
        if log.held_dropped > 0 {
            let note = format!(
                "\n[runbook: {} bytes more were left out of this log: a step with secret outputs is held in memory, up to {} MiB]\n",
                log.held_dropped,
                HOLD_LIMIT / (1024 * 1024)
            );
            log.masked(1, note.as_bytes());
        }
        log.finish()
    }
}

/// The sink a step's process writes into.
pub(crate) struct StepLog {
    /// Unbuffered: output is in the log as it comes, so a runner killed mid-step leaves the
    /// log complete up to that moment (chunks are up to 64 KiB, so this is few writes).
    file: File,
    path: PathBuf,
    stdout_mask: StreamMasker,
    stderr_mask: StreamMasker,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    tail: VecDeque<String>,
    /// Masked bytes of the line not yet ended, per stream.
    partial: [Vec<u8>; 2],
    bus: Arc<Bus>,
    step: String,
    last_event: Option<Instant>,
    /// The first write failure; nothing more is written after it, so the log never has a
    /// hole in the middle (it is whole up to the failure).
    write_error: Option<WriteFault>,
    /// For a step with secret outputs: its raw output by stream, in order, until the secrets
    /// are known ([`HeldLog::release`]).
    hold: Option<Vec<(usize, Vec<u8>)>>,
    held_bytes: usize,
    held_dropped: usize,
}

impl StepLog {
    /// Opens the step's log for appending and writes a separator. A log that cannot be
    /// written is a fault of the run's record, told to the bus (which stops the run).
    pub(crate) fn open(
        path: &Path,
        step: &str,
        bus: Arc<Bus>,
        what: &str,
    ) -> std::io::Result<Self> {
        let opened = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|mut file| {
                let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
                writeln!(file, "=== {step}: {what} at {now} ===")?;
                Ok(file)
            });
        let file = match opened {
            Ok(file) => file,
            Err(e) => {
                bus.record_fault(WriteFault::new(path, &e));
                return Err(e);
            }
        };
        let masker = bus.masker().clone();
        Ok(Self {
            file,
            path: path.to_path_buf(),
            stdout_mask: masker.stream(),
            stderr_mask: masker.stream(),
            stdout: Vec::new(),
            stderr: Vec::new(),
            tail: VecDeque::with_capacity(TAIL_LINES + 1),
            partial: [Vec::new(), Vec::new()],
            bus,
            step: step.to_owned(),
            last_event: None,
            write_error: None,
            hold: None,
            held_bytes: 0,
            held_dropped: 0,
        })
    }

    /// [`StepLog::open`] for a step with secret outputs: nothing but the separator is written,
    /// and no output line is shown, until the log is released with the secrets known.
    pub(crate) fn open_held(
        path: &Path,
        step: &str,
        bus: Arc<Bus>,
        what: &str,
    ) -> std::io::Result<Self> {
        let mut log = Self::open(path, step, bus, what)?;
        log.hold = Some(Vec::new());
        Ok(log)
    }

    /// Keeps `chunk` back when the log is held; whether it was.
    fn held(&mut self, stream: usize, chunk: &[u8]) -> bool {
        let Some(hold) = self.hold.as_mut() else {
            return false;
        };
        if self.held_bytes + chunk.len() <= HOLD_LIMIT {
            self.held_bytes += chunk.len();
            hold.push((stream, chunk.to_vec()));
        } else {
            self.held_dropped += chunk.len();
        }
        true
    }

    fn masked(&mut self, stream: usize, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        if self.write_error.is_none()
            && let Err(e) = self.file.write_all(bytes)
        {
            self.failed(&e);
        }
        let mut newest = None;
        for piece in bytes.split_inclusive(|&b| b == b'\n') {
            let partial = &mut self.partial[stream];
            if partial.len() < LINE_LIMIT {
                let room = LINE_LIMIT - partial.len();
                partial.extend_from_slice(&piece[..piece.len().min(room)]);
            }
            if piece.ends_with(b"\n") {
                let line = String::from_utf8_lossy(&partial[..])
                    .trim_end_matches(['\n', '\r'])
                    .to_owned();
                partial.clear();
                newest = Some(line.clone());
                self.tail.push_back(line);
                if self.tail.len() > TAIL_LINES {
                    self.tail.pop_front();
                }
            }
        }
        if let Some(line) = newest {
            let due = self
                .last_event
                .is_none_or(|t| t.elapsed() >= OUTPUT_EVENT_EVERY);
            if due && !line.trim().is_empty() {
                self.last_event = Some(Instant::now());
                self.bus.emit(Event::StepOutput {
                    step: self.step.clone(),
                    line,
                });
            }
        }
    }

    /// Flushes what the maskers held back and returns what was captured. A held log comes back
    /// whole in [`Captured::held`], with no tail yet.
    #[must_use]
    pub(crate) fn finish(mut self) -> Captured {
        if self.hold.is_some() {
            return Captured {
                stdout: String::from_utf8_lossy(&self.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&self.stderr).into_owned(),
                tail: Vec::new(),
                write_error: None,
                held: Some(HeldLog(Box::new(self))),
            };
        }
        let rest_out =
            std::mem::replace(&mut self.stdout_mask, self.bus.masker().stream()).finish();
        self.masked(0, &rest_out);
        let rest_err =
            std::mem::replace(&mut self.stderr_mask, self.bus.masker().stream()).finish();
        self.masked(1, &rest_err);
        for stream in 0..2 {
            if !self.partial[stream].is_empty() {
                let line = String::from_utf8_lossy(&self.partial[stream]).into_owned();
                self.tail.push_back(line);
                if self.tail.len() > TAIL_LINES {
                    self.tail.pop_front();
                }
            }
        }
        if self.write_error.is_none()
            && let Err(e) = self.file.flush()
        {
            self.failed(&e);
        }
        Captured {
            stdout: String::from_utf8_lossy(&self.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&self.stderr).into_owned(),
            tail: self.tail.into_iter().collect(),
            write_error: self.write_error.map(|f| f.to_string()),
            held: None,
        }
    }

    fn failed(&mut self, e: &std::io::Error) {
        let fault = WriteFault::new(&self.path, e);
        self.write_error = Some(fault.clone());
        self.bus.record_fault(fault);
    }
}

fn keep(buffer: &mut Vec<u8>, chunk: &[u8]) {
    let room = CAPTURE_LIMIT.saturating_sub(buffer.len());
    buffer.extend_from_slice(&chunk[..chunk.len().min(room)]);
}

impl OutputSink for StepLog {
    fn spawned(&mut self, pgid: u32) {
        self.bus.emit(Event::ProcessStarted {
            step: self.step.clone(),
            pgid,
        });
    }

    fn stdout(&mut self, chunk: &[u8]) {
        keep(&mut self.stdout, chunk);
        if self.held(0, chunk) {
            return;
        }
        let masked = self.stdout_mask.push(chunk).into_owned();
        self.masked(0, &masked);
    }

    fn stderr(&mut self, chunk: &[u8]) {
        keep(&mut self.stderr, chunk);
        if self.held(1, chunk) {
            return;
        }
        let masked = self.stderr_mask.push(chunk).into_owned();
        self.masked(1, &masked);
    }
}
