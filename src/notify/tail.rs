//! The last lines of a failed step's log (`logs/<step>.log`, masked as it was written), from
//! its last attempt, for a step-failed message. Only the file's end is read.

use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::{Path, PathBuf};

/// How many lines a message shows: enough to see the error, short enough for a chat.
pub(crate) const TAIL_LINES: usize = 10;
/// How much of the log's end is read.
const READ_LIMIT: u64 = 64 * 1024;
/// A longer line is cut.
const LINE_LIMIT: usize = 300;

/// Where the log of `step` is: a nested step `parent/child` writes `logs/parent.child.log`.
pub(crate) fn log_path(run_dir: &Path, step: &str) -> PathBuf {
    run_dir
        .join("logs")
        .join(format!("{}.log", step.replace('/', ".")))
}

/// The last `n` lines of the last attempt in the log at `path`; empty when there is no log.
pub(crate) fn read(path: &Path, n: usize) -> Vec<String> {
    let Some(text) = read_end(path) else {
        return Vec::new();
    };
    let lines: Vec<&str> = text.lines().collect();
    // The log holds every attempt and rollback behind `=== step: attempt 2 at … ===` lines.
    let separators: Vec<(usize, &str)> = lines
        .iter()
        .enumerate()
        .filter_map(|(i, l)| separator(l).map(|what| (i, what)))
        .collect();
    let (from, to) = match separators
        .iter()
        .rposition(|(_, what)| what.starts_with("attempt"))
    {
        Some(k) => (
            separators[k].0 + 1,
            separators.get(k + 1).map_or(lines.len(), |(j, _)| *j),
        ),
        None => (0, separators.first().map_or(lines.len(), |(j, _)| *j)),
    };
    let mut segment = &lines[from..to];
    while let [rest @ .., last] = segment
        && last.trim().is_empty()
    {
        segment = rest;
    }
    segment[segment.len().saturating_sub(n)..]
        .iter()
        .map(|l| clean(l))
        .collect()
}

fn read_end(path: &Path) -> Option<String> {
    let mut file = std::fs::File::open(path).ok()?;
    let len = file.metadata().ok()?.len();
    if len > READ_LIMIT {
        file.seek(SeekFrom::Start(len - READ_LIMIT)).ok()?;
    }
    let mut bytes = Vec::new();
    file.take(READ_LIMIT).read_to_end(&mut bytes).ok()?;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    // A cut read starts inside a line: drop that partial line.
    Some(if len > READ_LIMIT {
        text.split_once('\n')
            .map_or_else(String::new, |(_, rest)| rest.to_owned())
    } else {
        text
    })
}

/// `=== <step>: <what> at <ts> ===` → `<what>`.
fn separator(line: &str) -> Option<&str> {
    let inner = line.strip_prefix("=== ")?.strip_suffix(" ===")?;
    let (id, rest) = inner.split_once(": ")?;
    if id.is_empty() || id.contains(' ') {
        return None;
    }
    rest.rsplit_once(" at ").map(|(what, _)| what)
}

/// Without terminal escapes and control characters, and cut when very long.
fn clean(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => {
                // CSI: ESC [ parameters… final byte in @..~; other escapes: ESC + one char.
                if chars.next_if_eq(&'[').is_some() {
                    for p in chars.by_ref() {
                        if ('@'..='~').contains(&p) {
                            break;
                        }
                    }
                } else {
                    chars.next();
                }
            }
            '\t' => out.push_str("    "),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    super::text::cut(&out, LINE_LIMIT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_attempt_s_last_lines_without_escapes() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = log_path(dir.path(), "parent/restore");
        std::fs::create_dir_all(path.parent().expect("logs")).expect("mkdir");
        std::fs::write(
            &path,
            "=== restore: attempt 1 at 2026-01-01T00:00:00.000Z ===\nold\n\
             === restore: attempt 2 at 2026-01-01T00:00:01.000Z ===\none\n\x1b[31mtwo\x1b[0m\nthree\n\n\
             === restore: rollback at 2026-01-01T00:00:02.000Z ===\nundo\n",
        )
        .expect("write");
        assert!(path.ends_with("logs/parent.restore.log"));
        assert_eq!(read(&path, 2), ["two", "three"]);
        assert_eq!(read(&path, 10), ["one", "two", "three"]);
        assert!(read(&dir.path().join("missing.log"), 10).is_empty());
    }
}
