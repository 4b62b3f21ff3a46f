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
                log.stdout_mask.push(&chunk)
            } else {
                log.stderr_mask.push(&chunk)
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
    /// The last [`TAIL_LINES`] ended lines, masked, each up to [`LINE_LIMIT`] bytes with its
    /// newline: bytes, made text only when shown.
    tail: VecDeque<Vec<u8>>,
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
                // One write (`writeln!` on a `File` makes one per piece of the format).
                file.write_all(format!("=== {step}: {what} at {now} ===\n").as_bytes())?;
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

    /// Writes masked `bytes` of `stream` to the log in one write, and keeps the last lines.
    ///
    /// Only the last [`TAIL_LINES`] lines are kept, so only the lines that can still be among
    /// them are looked at: the newlines of `bytes` are found from its end (at most
    /// `TAIL_LINES + 1` of them), and nothing is allocated per line: a line's bytes go into a
    /// buffer recycled from the line that fell out of the tail. Text is made of them only for
    /// the (rate-limited) output event and at [`StepLog::finish`].
    fn masked(&mut self, stream: usize, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        if self.write_error.is_none()
            && let Err(e) = self.file.write_all(bytes)
        {
            self.failed(&e);
        }
        let mut ends = [0_usize; TAIL_LINES + 1];
        let mut found = 0;
        for end in memchr::memrchr_iter(b'\n', bytes).take(TAIL_LINES + 1) {
            ends[found] = end;
            found += 1;
        }
        let ends = &mut ends[..found];
        ends.reverse();
        // With more newlines than the tail holds, the oldest one found only marks where the
        // first line that matters starts: the line held from earlier chunks falls out anyway.
        let mut start = 0;
        let mut ends: &[usize] = ends;
        if found == TAIL_LINES + 1 {
            start = ends[0] + 1;
            ends = &ends[1..];
            self.partial[stream].clear();
        }
        for &end in ends {
            extend_line(&mut self.partial[stream], &bytes[start..=end]);
            let recycled = if self.tail.len() == TAIL_LINES {
                self.tail.pop_front()
            } else {
                None
            };
            let mut line = recycled.unwrap_or_default();
            line.clear();
            std::mem::swap(&mut line, &mut self.partial[stream]);
            self.tail.push_back(line);
            start = end + 1;
        }
        extend_line(&mut self.partial[stream], &bytes[start..]);
        if ends.is_empty() {
            return;
        }
        let due = self
            .last_event
            .is_none_or(|t| t.elapsed() >= OUTPUT_EVENT_EVERY);
        if !due {
            return;
        }
        let newest = self.tail.back().map(|line| ended_line(line));
        if let Some(line) = newest
            && !line.trim().is_empty()
        {
            self.last_event = Some(Instant::now());
            self.bus.emit(Event::StepOutput {
                step: self.step.clone(),
                line,
            });
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
        let mut tail: VecDeque<String> = self.tail.iter().map(|line| ended_line(line)).collect();
        for partial in &self.partial {
            if !partial.is_empty() {
                tail.push_back(String::from_utf8_lossy(partial).into_owned());
                if tail.len() > TAIL_LINES {
                    tail.pop_front();
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
            tail: tail.into(),
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

/// Adds `piece` to the line being put together, up to [`LINE_LIMIT`] bytes (the rest of a
/// longer line is in the log only).
fn extend_line(line: &mut Vec<u8>, piece: &[u8]) {
    let room = LINE_LIMIT.saturating_sub(line.len());
    line.extend_from_slice(&piece[..piece.len().min(room)]);
}

/// A kept line as text: its newline (and any carriage return before it) left out.
fn ended_line(line: &[u8]) -> String {
    String::from_utf8_lossy(line)
        .trim_end_matches(['\n', '\r'])
        .to_owned()
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
        let masked = self.stdout_mask.push(chunk);
        self.masked(0, &masked);
    }

    fn stderr(&mut self, chunk: &[u8]) {
        keep(&mut self.stderr, chunk);
        if self.held(1, chunk) {
            return;
        }
        let masked = self.stderr_mask.push(chunk);
        self.masked(1, &masked);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::Arc;

    use proptest::prelude::{ProptestConfig, prop, proptest};

    use super::{LINE_LIMIT, StepLog};
    use crate::engine::process::OutputSink as _;
    use crate::event::{Bus, Masker, TAIL_LINES};

    const SECRET: &str = "hunter2-secret";

    /// Bytes of one stream (0 stdout, 1 stderr).
    type Piece = (usize, Vec<u8>);

    /// The tail as it was kept before the log path stopped making a `String` per line (a
    /// `String` for every line, the oldest dropped past [`TAIL_LINES`]): the oracle.
    fn oracle_tail(pieces: &[(usize, Vec<u8>)]) -> Vec<String> {
        let mut tail: VecDeque<String> = VecDeque::new();
        let mut partial: [Vec<u8>; 2] = [Vec::new(), Vec::new()];
        for (stream, bytes) in pieces {
            for piece in bytes.split_inclusive(|&b| b == b'\n') {
                let partial = &mut partial[*stream];
                if partial.len() < LINE_LIMIT {
                    let room = LINE_LIMIT - partial.len();
                    partial.extend_from_slice(&piece[..piece.len().min(room)]);
                }
                if piece.ends_with(b"\n") {
                    let line = String::from_utf8_lossy(&partial[..])
                        .trim_end_matches(['\n', '\r'])
                        .to_owned();
                    partial.clear();
                    tail.push_back(line);
                    if tail.len() > TAIL_LINES {
                        tail.pop_front();
                    }
                }
            }
        }
        for partial in &partial {
            if !partial.is_empty() {
                tail.push_back(String::from_utf8_lossy(partial).into_owned());
                if tail.len() > TAIL_LINES {
                    tail.pop_front();
                }
            }
        }
        tail.into()
    }

    /// Feeds `chunks` (stream, bytes) to a step log masking [`SECRET`]; returns the log's
    /// bytes after its separator line, the tail, and the masked pieces as a second pair of
    /// stream maskers gives them (what the oracle sees).
    fn feed(chunks: &[Piece]) -> (Vec<u8>, Vec<String>, Vec<Piece>) {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("s.log");
        let masker = Arc::new(Masker::new([SECRET]).expect("one secret"));
        let bus = Bus::new("run".into(), Arc::clone(&masker), Vec::new());
        let mut log = StepLog::open(&path, "s", bus, "attempt 1").expect("log opens");
        let mut masks = [masker.stream(), masker.stream()];
        let mut pieces = Vec::new();
        for (stream, chunk) in chunks {
            if *stream == 0 {
                log.stdout(chunk);
            } else {
                log.stderr(chunk);
            }
            pieces.push((*stream, masks[*stream].push(chunk).into_owned()));
        }
        let [out, err] = masks;
        pieces.push((0, out.finish()));
        pieces.push((1, err.finish()));
        let captured = log.finish();
        assert_eq!(captured.write_error, None);
        let written = std::fs::read(&path).expect("log readable");
        let body = written
            .iter()
            .position(|&b| b == b'\n')
            .map_or(&written[..], |nl| &written[nl + 1..])
            .to_vec();
        (body, captured.tail, pieces)
    }

    /// Splits `text` into chunks at `cuts` (offsets, any order, out of range ignored).
    fn chunked(stream: usize, text: &[u8], cuts: &[usize]) -> Vec<(usize, Vec<u8>)> {
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (text.len() + 1)).collect();
        cuts.push(text.len());
        cuts.sort_unstable();
        cuts.dedup();
        let mut at = 0;
        let mut chunks = Vec::new();
        for cut in cuts {
            chunks.push((stream, text[at..cut].to_vec()));
            at = cut;
        }
        chunks
    }

    /// Long lines, CR, CRLF, blank lines, invalid UTF-8, no trailing newline, and the secret
    /// in several places (whole, at line ends, twice touching).
    fn tricky() -> Vec<u8> {
        let mut text = Vec::new();
        for i in 0..60 {
            text.extend_from_slice(format!("line {i} with {SECRET} inside\r\n").as_bytes());
        }
        text.extend_from_slice(&vec![b'x'; LINE_LIMIT * 3]);
        text.extend_from_slice(b"\n\n\r\r\n\xff\xfe broken utf-8 \xe2\x82\n");
        text.extend_from_slice(format!("{SECRET}{SECRET}\n").as_bytes());
        text.extend_from_slice("é".repeat(LINE_LIMIT).as_bytes());
        text.extend_from_slice(b"\nno newline at the end ");
        text.extend_from_slice(SECRET.as_bytes());
        text
    }

    fn masked_tricky() -> Vec<u8> {
        let text = tricky();
        Masker::new([SECRET])
            .expect("one secret")
            .mask_bytes(&text)
            .into_owned()
    }

    // See: #18
    #[test]
    fn the_log_and_tail_of_tricky_output_are_what_they_were_for_any_chunking() {
        let text = tricky();
        let secret_at = text
            .windows(SECRET.len())
            .position(|w| w == SECRET.as_bytes())
            .expect("the secret is there");
        // One chunk; byte by byte around the secret; the secret split in its middle.
        for cuts in [
            vec![],
            (secret_at..secret_at + SECRET.len()).collect(),
            vec![secret_at + 3, secret_at + 9, LINE_LIMIT],
        ] {
            let chunks = chunked(0, &text, &cuts);
            let (body, tail, pieces) = feed(&chunks);
            assert_eq!(body, masked_tricky(), "cuts {cuts:?}");
            assert_eq!(tail, oracle_tail(&pieces), "cuts {cuts:?}");
            assert!(!String::from_utf8_lossy(&body).contains(SECRET));
            assert!(tail.iter().all(|l| !l.contains(SECRET)));
        }
    }

    #[test]
    fn twenty_one_lines_in_one_chunk_push_out_the_line_held_from_before() {
        let mut chunks = vec![(0, b"held from before ".to_vec()), (1, b"err\n".to_vec())];
        let many: Vec<u8> = (0..=TAIL_LINES)
            .flat_map(|i| format!("l{i}\n").into_bytes())
            .collect();
        chunks.push((0, many));
        chunks.push((0, b"end".to_vec()));
        let (_, tail, pieces) = feed(&chunks);
        assert_eq!(tail, oracle_tail(&pieces));
        assert_eq!(tail.len(), TAIL_LINES);
        assert_eq!(tail.last().map(String::as_str), Some("end"));
        assert_eq!(tail.first().map(String::as_str), Some("l2"));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn the_tail_is_the_oracles_for_interleaved_streams(
            parts in prop::collection::vec(
                (0_usize..2, prop::collection::vec(
                    prop::sample::select(vec![b'a', b'\n', b'\r', b'h', b'2', 0xff]), 0..80)),
                0..60),
            secret_every in 0_usize..5,
        ) {
            let chunks: Vec<(usize, Vec<u8>)> = parts
                .into_iter()
                .enumerate()
                .map(|(i, (stream, mut bytes))| {
                    if secret_every > 0 && i % secret_every == 0 {
                        bytes.extend_from_slice(SECRET.as_bytes());
                    }
                    (stream, bytes)
                })
                .collect();
            let (body, tail, pieces) = feed(&chunks);
            assert_eq!(tail, oracle_tail(&pieces));
            let expected: Vec<u8> = pieces.iter().flat_map(|(_, b)| b.clone()).collect();
            assert_eq!(body, expected);
        }
    }
}
