//! The journal: every durable event as one JSON line, written the moment it happens (so a
//! `kill -9` of runbook loses nothing: the kernel has it) and flushed to disk (fsync) before
//! the engine takes its next action (so a power loss loses nothing that was acted on). That is
//! one fsync per action, the physical price of durability, and no more. A journal that cannot
//! be written is a fault of the record: the bus stops the run (see `WriteFault`).

use std::fs::{File, OpenOptions};
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};

use crate::event::{Record, Sink, WriteFault};

/// Appends events to `journal.jsonl`.
pub(crate) struct Journal {
    file: File,
    path: PathBuf,
    line: Vec<u8>,
    /// A write failed: the bus is told once (it stops the run, since the record would lie),
    /// and later events are still tried, so that as much as possible reaches the disk.
    failed: bool,
    /// The first failure, until the bus takes it.
    fault: Option<WriteFault>,
    /// Lines written since the last fsync.
    dirty: bool,
    /// The file may end in a cut-off line: the next line starts with a newline.
    torn: bool,
}

impl Journal {
    /// Opens (creating or appending to) a journal. A journal whose last line was cut off (a
    /// power cut while it was written) gets its next event on a fresh line, so the cut-off
    /// line stays one unreadable line instead of swallowing the next event.
    pub(crate) fn open(path: &Path) -> std::io::Result<Self> {
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(path)?;
        let torn = ends_torn(&mut file)?;
        Ok(Self {
            file,
            path: path.to_path_buf(),
            line: Vec::with_capacity(512),
            failed: false,
            fault: None,
            dirty: false,
            torn,
        })
    }

    fn write(&mut self, record: &Record) -> std::io::Result<()> {
        self.line.clear();
        if self.torn {
            self.line.push(b'\n');
        }
        serde_json::to_writer(&mut self.line, record).map_err(std::io::Error::other)?;
        self.line.push(b'\n');
        // One write per line: an append of a few hundred bytes lands whole or, on a crash,
        // as a cut-off last line that readers skip. A failed write may have landed in part:
        // the next line starts fresh.
        self.torn = true;
        self.file.write_all(&self.line)?;
        self.torn = false;
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
            self.fault = Some(WriteFault::new(&self.path, e));
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

    fn take_fault(&mut self) -> Option<WriteFault> {
        self.fault.take()
    }
}

/// Whether a non-empty file's last byte is not a newline.
fn ends_torn(file: &mut File) -> std::io::Result<bool> {
    if file.metadata()?.len() == 0 {
        return Ok(false);
    }
    file.seek(SeekFrom::End(-1))?;
    let mut last = [0u8; 1];
    file.read_exact(&mut last)?;
    Ok(last[0] != b'\n')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Event, RunStatus};

    fn record() -> Record {
        Record {
            ts: chrono::Utc::now(),
            run_id: "r".to_owned(),
            item: None,
            event: Event::RunFinished {
                status: RunStatus::Ok,
                duration_ms: 1,
                failures_tolerated: 0,
                rto_objective_ms: None,
                rto_achieved_ms: None,
                rpo_objective_ms: None,
                rpo_achieved_ms: None,
                recovery_point: None,
                recovery_point_error: None,
            },
        }
    }

    #[test]
    fn the_next_writer_after_a_cut_off_line_starts_a_fresh_one() {
        // See: #11
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("journal.jsonl");
        std::fs::write(&path, "{\"ts\":\"2026").expect("write");
        for _ in 0..2 {
            let mut journal = Journal::open(&path).expect("open");
            journal.event(&record());
            journal.finish();
        }
        let text = std::fs::read_to_string(&path).expect("read");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert_eq!(lines[0], "{\"ts\":\"2026");
        for line in &lines[1..] {
            serde_json::from_str::<Record>(line).expect("a whole event");
        }
    }
}
