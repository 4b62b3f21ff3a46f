//! The journal: every durable event as one JSON line, written the moment it happens (so a
//! `kill -9` of runbook loses nothing: the kernel has it) and flushed to disk (fsync) before
//! the engine takes its next action (so a power loss loses nothing that was acted on). That is
//! one fsync per action, the physical price of durability, and no more.

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
    /// Lines written since the last fsync.
    dirty: bool,
}

impl Journal {
    /// Opens (creating or appending to) a journal.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Self {
            file,
            line: Vec::with_capacity(512),
            failed: false,
            dirty: false,
        })
    }

    fn write(&mut self, record: &Record) -> std::io::Result<()> {
        self.line.clear();
        serde_json::to_writer(&mut self.line, record).map_err(std::io::Error::other)?;
        self.line.push(b'\n');
        // One write per line: an append of a few hundred bytes lands whole or, on a crash,
        // as a cut-off last line that readers skip.
        self.file.write_all(&self.line)?;
        self.dirty = true;
        Ok(())
    }

    fn sync(&mut self) {
        if !self.dirty {
            return;
        }
        self.dirty = false;
        if let Err(e) = self.file.sync_data() {
            self.report(&e);
        }
    }

    fn report(&mut self, e: &std::io::Error) {
        if !self.failed {
            self.failed = true;
            tracing::error!(error = %e, "failed to write the journal; the run goes on without a complete record");
            eprintln!(
                "error: failed to write the journal: {e}; the run goes on, but its record is incomplete"
            );
        }
    }
}

impl Sink for Journal {
    fn event(&mut self, record: &Record) {
        if !record.event.is_durable() {
            return;
        }
        if let Err(e) = self.write(record) {
            self.report(&e);
        }
    }

    fn barrier(&mut self) {
        self.sync();
    }

    fn finish(&mut self) {
        self.sync();
    }
}
