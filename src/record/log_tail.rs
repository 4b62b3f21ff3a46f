//! The last lines of a step's log (`logs/<step>.log`, `logs/<parent>.<child>.log` for a nested
//! step), from its last attempt: the log holds every attempt and rollback behind separator lines
//! (`=== restore: attempt 2 at … ===`). Only the file's end is read, however large the log.

use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::Path;

/// How much of a log's end is read: enough for 20 lines of any sane width.
const READ_LIMIT: u64 = 256 * 1024;
/// A line longer than this is cut: a report is for people.
const LINE_LIMIT: usize = 1000;

/// The last lines of one step's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LogTail {
    pub(crate) step: String,
    /// The file name inside `logs/`.
    pub(crate) file: String,
    /// `attempt 2`, from the separator, when the log has one.
    pub(crate) segment: Option<String>,
    pub(crate) lines: Vec<String>,
    /// Lines before these were left out.
    pub(crate) earlier_omitted: bool,
    /// The log file does not exist (the step printed nothing or never ran a command).
    pub(crate) missing: bool,
}

/// The file name of a step's log.
pub(crate) fn file_name(step: &str) -> String {
    format!("{}.log", step.replace('/', "."))
}

/// Whether a file name can go into a Markdown link target as it is.
pub(crate) fn is_link_safe(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

/// The last `n` lines of the step's last attempt.
pub(crate) fn tail(logs: &Path, step: &str, n: usize) -> LogTail {
    read_segment(logs, step, n, |separators, len, cut| {
        let last_attempt = separators
            .iter()
            .rposition(|(_, what)| what.starts_with("attempt"));
        Some(match (last_attempt, separators.first()) {
            (Some(k), _) => {
                let (i, what) = separators[k];
                let end = separators.get(k + 1).map_or(len, |(j, _)| *j);
                Segment {
                    from: i + 1,
                    to: end,
                    name: Some(what.to_owned()),
                    before_omitted: false,
                }
            }
            // No attempt separator in what was read: the last attempt's lines (if any) come
            // before the first separator, e.g. a rollback's.
            (None, Some((first, _))) => Segment {
                from: 0,
                to: *first,
                name: None,
                before_omitted: cut,
            },
            (None, None) => Segment {
                from: 0,
                to: len,
                name: None,
                before_omitted: cut,
            },
        })
    })
}

/// The last `n` lines of one of the step's rollbacks: the latest when `back` is 0, the one
/// before it when 1 (a resumed run can roll a step back twice). No lines and no segment when
/// the log holds no such rollback (its command never started).
pub(crate) fn rollback_tail(logs: &Path, step: &str, n: usize, back: usize) -> LogTail {
    read_segment(logs, step, n, |separators, len, _cut| {
        let rollbacks: Vec<usize> = (0..separators.len())
            .filter(|&k| separators[k].1 == "rollback")
            .collect();
        let &k = rollbacks
            .len()
            .checked_sub(back + 1)
            .and_then(|i| rollbacks.get(i))?;
        let (i, what) = separators[k];
        let end = separators.get(k + 1).map_or(len, |(j, _)| *j);
        Some(Segment {
            from: i + 1,
            to: end,
            name: Some(what.to_owned()),
            before_omitted: false,
        })
    })
}

/// Which lines of what was read belong to the wanted part of the log.
struct Segment {
    from: usize,
    to: usize,
    /// The separator's `what` (`attempt 2`, `rollback`).
    name: Option<String>,
    /// Lines before `from` that belong to it may not have been read.
    before_omitted: bool,
}

/// Reads the end of a step's log and keeps the last `n` lines of the part `pick` chooses from
/// the separators (index, what) found in the lines read; `pick` also gets the number of lines
/// and whether the file's beginning was left out.
fn read_segment(
    logs: &Path,
    step: &str,
    n: usize,
    pick: impl FnOnce(&[(usize, &str)], usize, bool) -> Option<Segment>,
) -> LogTail {
    let file = file_name(step);
    let mut tail = LogTail {
        step: step.to_owned(),
        file: file.clone(),
        segment: None,
        lines: Vec::new(),
        earlier_omitted: false,
        missing: false,
    };
    let Some((text, cut)) = read_end(&logs.join(&file)) else {
        tail.missing = true;
        return tail;
    };
    let mut lines: Vec<&str> = text.lines().collect();
    if cut && !lines.is_empty() {
        // The first line read is probably the end of a longer one.
        lines.remove(0);
    }
    let separators: Vec<(usize, &str)> = lines
        .iter()
        .enumerate()
        .filter_map(|(i, l)| separator(l).map(|what| (i, what)))
        .collect();
    let Some(chosen) = pick(&separators, lines.len(), cut) else {
        return tail;
    };
    tail.segment = chosen.name;
    let mut segment = &lines[chosen.from..chosen.to];
    while let [rest @ .., last] = segment
        && last.trim().is_empty()
    {
        segment = rest;
    }
    let start = segment.len().saturating_sub(n);
    tail.earlier_omitted = start > 0 || chosen.before_omitted;
    tail.lines = segment[start..].iter().map(|l| clean(l)).collect();
    tail
}

/// The end of a file, and whether its beginning was left out.
fn read_end(path: &Path) -> Option<(String, bool)> {
    let mut f = std::fs::File::open(path).ok()?;
    let len = f.metadata().ok()?.len();
    let cut = len > READ_LIMIT;
    if cut {
        f.seek(SeekFrom::Start(len - READ_LIMIT)).ok()?;
    }
    let mut bytes = Vec::new();
    f.take(READ_LIMIT).read_to_end(&mut bytes).ok()?;
    Some((String::from_utf8_lossy(&bytes).into_owned(), cut))
}

/// `=== <step>: <what> at <ts> ===` → `<what>`. A nested step's log names the step by its own
/// id (without the parent's), so any id is accepted.
fn separator(line: &str) -> Option<&str> {
    let inner = line.strip_prefix("=== ")?.strip_suffix(" ===")?;
    let (id, rest) = inner.split_once(": ")?;
    if id.is_empty() || id.contains(' ') {
        return None;
    }
    let (what, _ts) = rest.rsplit_once(" at ")?;
    Some(what)
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
    if out.chars().count() > LINE_LIMIT {
        let cut: String = out.chars().take(LINE_LIMIT).collect();
        return format!("{cut} …(line cut)");
    }
    out
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;

    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::write(dir.join(name), text).expect("write log");
    }

    #[test]
    fn takes_the_last_attempt_and_not_the_rollback_after_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        write(
            dir.path(),
            "restore.log",
            "=== restore: attempt 1 at 2026-11-23T02:00:00.000Z ===\nfirst\n\
             === restore: attempt 2 at 2026-11-23T02:00:05.000Z ===\nsecond\nboom\n\n\
             === restore: rollback at 2026-11-23T02:00:09.000Z ===\nundo\n",
        );
        let t = tail(dir.path(), "restore", 20);
        assert_eq!(t.segment.as_deref(), Some("attempt 2"));
        assert_eq!(t.lines, ["second", "boom"]);
        assert!(!t.earlier_omitted && !t.missing);
    }

    #[test]
    fn a_rollback_tail_is_its_own_segment_counted_from_the_last() {
        let dir = tempfile::tempdir().expect("temp dir");
        write(
            dir.path(),
            "restore.log",
            "=== restore: attempt 1 at 2026-11-23T02:00:00.000Z ===\nboom\n\
             === restore: rollback at 2026-11-23T02:00:09.000Z ===\nfirst undo\n\
             === restore: attempt 1 at 2026-11-23T03:00:00.000Z ===\nagain\n\
             === restore: rollback at 2026-11-23T03:00:09.000Z ===\nsecond undo\nfailed\n\n",
        );
        let last = rollback_tail(dir.path(), "restore", 20, 0);
        assert_eq!(last.segment.as_deref(), Some("rollback"));
        assert_eq!(last.lines, ["second undo", "failed"]);
        assert_eq!(
            rollback_tail(dir.path(), "restore", 20, 1).lines,
            ["first undo"]
        );
        let none = rollback_tail(dir.path(), "restore", 20, 2);
        assert!(none.lines.is_empty() && none.segment.is_none() && !none.missing);
        assert!(rollback_tail(dir.path(), "other", 20, 0).missing);
    }

    #[test]
    fn keeps_the_last_lines_and_cleans_them() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut text = "=== a: attempt 1 at 2026-11-23T02:00:00.000Z ===\n".to_owned();
        for i in 0..30 {
            let _ = write!(text, "\u{1b}[31mline {i}\u{1b}[0m\tend\r\n");
        }
        write(dir.path(), "a.log", &text);
        let t = tail(dir.path(), "a", 20);
        assert_eq!(t.lines.len(), 20);
        assert_eq!(t.lines[0], "line 10    end");
        assert!(t.earlier_omitted);
    }

    #[test]
    fn nested_steps_use_dotted_file_names_and_missing_logs_say_so() {
        let dir = tempfile::tempdir().expect("temp dir");
        write(dir.path(), "db.restore.log", "no separator\n");
        let t = tail(dir.path(), "db/restore", 20);
        assert_eq!(t.file, "db.restore.log");
        assert_eq!(t.lines, ["no separator"]);
        assert!(tail(dir.path(), "other", 20).missing);
    }

    #[test]
    fn a_huge_log_is_read_from_its_end() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut text = "=== big: attempt 1 at 2026-11-23T02:00:00.000Z ===\n".to_owned();
        let line = "x".repeat(99);
        while text.len() < 600 * 1024 {
            text.push_str(&line);
            text.push('\n');
        }
        text.push_str("last\n");
        write(dir.path(), "big.log", &text);
        let t = tail(dir.path(), "big", 20);
        assert_eq!(t.lines.last().map(String::as_str), Some("last"));
        assert_eq!(t.lines.len(), 20);
        assert!(t.earlier_omitted);
    }
}
