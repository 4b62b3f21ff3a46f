//! The session's stderr carries both the script's stderr and the bootstrap's two report lines
//! (`\x1erunbook-pgid N`, `\x1erunbook-exit N`); this splits them apart as chunks arrive.

use crate::engine::ssh::scripts::MARK;

/// What the bootstrap reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Report {
    /// The script's shell leads this process group (and session) on the host.
    Pgid(u32),
    /// The script's shell exited with this status.
    Exit(i32),
}

/// The longest report line, marker and newline included.
const LONGEST: usize = 40;

/// Holds back a possible report line until its end is seen; passes everything else on.
#[derive(Debug, Default)]
pub(crate) struct Markers {
    held: Vec<u8>,
}

impl Markers {
    /// The script's part of `chunk`; the reports found go to `reports`.
    pub(crate) fn feed(&mut self, mut chunk: &[u8], reports: &mut Vec<Report>) -> Vec<u8> {
        let mut out = Vec::with_capacity(chunk.len());
        while !chunk.is_empty() {
            if self.held.is_empty() {
                let Some(at) = chunk.iter().position(|&b| b == MARK) else {
                    out.extend_from_slice(chunk);
                    break;
                };
                out.extend_from_slice(&chunk[..at]);
                self.held.push(MARK);
                chunk = &chunk[at + 1..];
                continue;
            }
            let b = chunk[0];
            chunk = &chunk[1..];
            self.held.push(b);
            if b == b'\n' {
                match parse(&self.held) {
                    Some(report) => reports.push(report),
                    None => out.extend_from_slice(&self.held),
                }
                self.held.clear();
            } else if self.held.len() >= LONGEST {
                out.append(&mut self.held);
            }
        }
        out
    }

    /// What is still held back once the stream ended: not a report, since it never ended.
    pub(crate) fn finish(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.held)
    }
}

fn parse(line: &[u8]) -> Option<Report> {
    let text = std::str::from_utf8(line.get(1..line.len() - 1)?).ok()?;
    let (kind, number) = text.strip_prefix("runbook-")?.split_once(' ')?;
    match kind {
        "pgid" => number.parse().ok().filter(|&n| n > 1).map(Report::Pgid),
        "exit" => number.parse().ok().map(Report::Exit),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_are_taken_out_wherever_the_chunks_split() {
        let stream =
            b"err one\n\x1erunbook-pgid 4242\npartial\x1erunbook-exit 3\nafter\x1enot a report\n";
        for size in 1..stream.len() {
            let mut m = Markers::default();
            let mut reports = Vec::new();
            let mut out = Vec::new();
            for chunk in stream.chunks(size) {
                out.extend(m.feed(chunk, &mut reports));
            }
            out.extend(m.finish());
            assert_eq!(
                reports,
                [Report::Pgid(4242), Report::Exit(3)],
                "size {size}"
            );
            assert_eq!(
                String::from_utf8_lossy(&out),
                "err one\npartialafter\u{1e}not a report\n",
                "size {size}"
            );
        }
    }

    #[test]
    fn a_long_line_after_the_marker_is_passed_on() {
        let mut m = Markers::default();
        let mut reports = Vec::new();
        let line = format!("\u{1e}{}\n", "x".repeat(100));
        let out = m.feed(line.as_bytes(), &mut reports);
        assert!(reports.is_empty());
        assert_eq!(out, line.as_bytes());
    }
}
