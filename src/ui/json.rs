//! `--json`: every durable event as one journal-shaped JSON object a line on stdout, flushed per
//! line so a consumer sees each as it happens. Nothing else is written: no human output.

use std::io::Write;

use crate::event::Record;

use super::sink::Sink;

/// Writes the journal's lines to `out`.
pub(crate) struct Json<W: Write + Send> {
    out: W,
    /// Set once `out` refused a write (a closed pipe): later events are dropped, not retried.
    closed: bool,
}

impl<W: Write + Send> Json<W> {
    pub(crate) fn new(out: W) -> Self {
        Self { out, closed: false }
    }
}

impl<W: Write + Send> Sink for Json<W> {
    fn event(&mut self, record: &Record) {
        if self.closed || !record.event.is_durable() {
            return;
        }
        let Ok(mut line) = serde_json::to_vec(record) else {
            // Every durable event serializes (the journal writes the same records); a failure
            // here would be a bug in `Event`, and the journal still has the record.
            return;
        };
        line.push(b'\n');
        // One write per line, so a line is never split; a reader that went away ends the output
        // (the run goes on: the journal is the record).
        if self
            .out
            .write_all(&line)
            .and_then(|()| self.out.flush())
            .is_err()
        {
            self.closed = true;
        }
    }

    fn finish(&mut self) {
        if !self.closed {
            let _ = self.out.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ui::script::{Play, full_run};

    #[test]
    fn writes_exactly_the_durable_events_as_json_lines() {
        let mut json = Json::new(Vec::new());
        let script = full_run();
        for step in &script {
            step.play(&mut json);
        }
        json.finish();
        let text = String::from_utf8(json.out).expect("utf-8");
        let durable: Vec<&Record> = script
            .iter()
            .filter_map(|p| match p {
                Play::Event(r) if r.event.is_durable() => Some(&**r),
                _ => None,
            })
            .collect();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), durable.len());
        for (line, record) in lines.iter().zip(durable) {
            let back: Record = serde_json::from_str(line).expect("each line is a whole record");
            assert_eq!(&back, record);
            let value: serde_json::Value = serde_json::from_str(line).expect("valid JSON");
            assert!(
                value["event"].is_string() && value["ts"].is_string() && value["run_id"] == "r1"
            );
        }
        assert!(!text.contains("step_output") && !text.contains("restoring table"));
        assert!(text.ends_with('\n'));
    }

    /// A writer that fails like a closed pipe.
    struct Closed;

    impl Write for Closed {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::ErrorKind::BrokenPipe.into())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_closed_stdout_stops_the_output_not_the_run() {
        let mut json = Json::new(Closed);
        for step in full_run() {
            step.play(&mut json);
        }
        json.finish();
        assert!(json.closed);
    }
}
