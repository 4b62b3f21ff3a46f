//! A bounded copy of a command's output: the head of stdout and stderr (for `outputs` and
//! `expect`) and the last lines of both (for failure reports). Used by `command` probes; steps
//! use `log::StepLog`, which also writes the masked log.

use std::collections::VecDeque;

use crate::engine::process::OutputSink;
use crate::event::TAIL_LINES;

/// An [`OutputSink`] that keeps a bounded copy of the output: the head of stdout and of stderr
/// (for `outputs` and `expect`) up to a cap each, and the last [`TAIL_LINES`] lines of the
/// combined output (for failure reports), each line cut at [`MAX_LINE`] bytes.
#[derive(Debug, Clone)]
pub(crate) struct Capture {
    cap: usize,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    stdout_total: u64,
    stderr_total: u64,
    tail: VecDeque<Vec<u8>>,
    /// The unfinished last line of stdout and of stderr.
    partial: [Vec<u8>; 2],
}

/// Longest line [`Capture`] keeps in its tail; the rest of a longer line is dropped.
pub(crate) const MAX_LINE: usize = 4096;
/// Default cap of [`Capture`] on each of stdout and stderr.
pub(crate) const DEFAULT_CAPTURE_CAP: usize = 1024 * 1024;

impl Default for Capture {
    fn default() -> Self {
        Self::new(DEFAULT_CAPTURE_CAP)
    }
}

impl Capture {
    /// Keeps up to `cap` bytes of the head of stdout and of stderr.
    #[must_use]
    pub(crate) fn new(cap: usize) -> Self {
        Self {
            cap,
            stdout: Vec::new(),
            stderr: Vec::new(),
            stdout_total: 0,
            stderr_total: 0,
            tail: VecDeque::with_capacity(TAIL_LINES + 1),
            partial: [Vec::new(), Vec::new()],
        }
    }

    /// The first `cap` bytes of stdout.
    #[must_use]
    pub(crate) fn stdout_head(&self) -> &[u8] {
        &self.stdout
    }

    /// The first `cap` bytes of stderr.
    #[cfg(test)]
    #[must_use]
    pub(crate) fn stderr_head(&self) -> &[u8] {
        &self.stderr
    }

    /// How many bytes stdout had in all.
    #[cfg(test)]
    #[must_use]
    pub(crate) fn stdout_total(&self) -> u64 {
        self.stdout_total
    }

    /// How many bytes stderr had in all.
    #[cfg(test)]
    #[must_use]
    pub(crate) fn stderr_total(&self) -> u64 {
        self.stderr_total
    }

    /// Whether stdout was longer than the cap.
    #[cfg(test)]
    #[must_use]
    pub(crate) fn stdout_truncated(&self) -> bool {
        self.stdout_total > self.stdout.len() as u64
    }

    /// The last [`TAIL_LINES`] lines of stdout and stderr as they came, invalid UTF-8 replaced.
    #[must_use]
    pub(crate) fn tail_lines(&self) -> Vec<String> {
        let lines: Vec<&Vec<u8>> = self
            .tail
            .iter()
            .chain(self.partial.iter().filter(|line| !line.is_empty()))
            .collect();
        lines[lines.len().saturating_sub(TAIL_LINES)..]
            .iter()
            .map(|line| String::from_utf8_lossy(line).into_owned())
            .collect()
    }

    /// Bytes of memory held for output, to check that capture stays bounded.
    #[cfg(test)]
    #[must_use]
    pub(crate) fn retained_bytes(&self) -> usize {
        self.stdout.capacity()
            + self.stderr.capacity()
            + self.tail.iter().map(Vec::capacity).sum::<usize>()
            + self.partial.iter().map(Vec::capacity).sum::<usize>()
    }

    fn keep(cap: usize, head: &mut Vec<u8>, chunk: &[u8]) {
        let room = cap.saturating_sub(head.len()).min(chunk.len());
        if room > 0 {
            head.reserve_exact(room);
            head.extend_from_slice(&chunk[..room]);
        }
    }

    fn keep_lines(&mut self, stream: usize, chunk: &[u8]) {
        let mut pieces = chunk.split(|&byte| byte == b'\n');
        let first = pieces.next().expect("split yields at least one piece");
        Self::extend_line(&mut self.partial[stream], first);
        for piece in pieces {
            let line = std::mem::take(&mut self.partial[stream]);
            self.tail.push_back(line);
            if self.tail.len() > TAIL_LINES {
                self.tail.pop_front();
            }
            Self::extend_line(&mut self.partial[stream], piece);
        }
    }

    fn extend_line(line: &mut Vec<u8>, piece: &[u8]) {
        let room = MAX_LINE.saturating_sub(line.len()).min(piece.len());
        line.extend_from_slice(&piece[..room]);
    }
}

impl OutputSink for Capture {
    fn stdout(&mut self, chunk: &[u8]) {
        self.stdout_total += chunk.len() as u64;
        Self::keep(self.cap, &mut self.stdout, chunk);
        self.keep_lines(0, chunk);
    }

    fn stderr(&mut self, chunk: &[u8]) {
        self.stderr_total += chunk.len() as u64;
        Self::keep(self.cap, &mut self.stderr, chunk);
        self.keep_lines(1, chunk);
    }
}
