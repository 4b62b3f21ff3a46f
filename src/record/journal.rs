//! The journal: every durable event as one JSON line, appended and flushed to disk (fsync)
//! before the engine takes its next action, so that a `kill -9` at any moment loses nothing
//! that happened before it.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::Path;

use crate::engine::emitter::Sink;
use crate::engine::event::Record;

/// Appends events to `journal.jsonl`.
pub struct Journal {
    file: File,
    line: Vec<u8>,
    /// The first write error: reported once, then the run goes on (a journal that cannot be
    /// written is loud, not fatal to a restore in progress).
    failed: bool,
}

impl Journal {
    /// Opens (creating or appending to) a journal.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Self {
            file,
            line: Vec::with_capacity(512),
            failed: false,
        })
    }

    fn write(&mut self, record: &Record) -> std::io::Result<()> {
        self.line.clear();
        serde_json::to_writer(&mut self.line, record).map_err(std::io::Error::other)?;
        self.line.push(b'\n');
        // One write per line: an append of a few hundred bytes lands whole or, on a crash,
        // as a cut-off last line that readers skip.
        self.file.write_all(&self.line)?;
        self.file.sync_data()
    }
}

impl Sink for Journal {
    fn event(&mut self, record: &Record) {
        if !record.event.is_durable() {
            return;
        }
        if let Err(e) = self.write(record)
            && !self.failed
        {
            self.failed = true;
            tracing::error!(error = %e, "failed to write the journal; the run goes on without a complete record");
            eprintln!(
                "error: failed to write the journal: {e}; the run goes on, but its record is incomplete"
            );
        }
    }
}
