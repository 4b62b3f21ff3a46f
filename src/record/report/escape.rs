//! Markdown that renders as written: text with its punctuation escaped (so a `<tag>` in a reason
//! never becomes HTML, a `*` never emphasis), code spans whose fence outgrows the backticks inside,
//! `|` escaped in table cells, and fenced blocks that no line of a log can close.

/// Where the text goes: a table cell needs its `|` escaped, code spans included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Flow,
    Cell,
}

/// Text for a paragraph or list item. Code spans the text already has (the engine's messages
/// put user values in backticks) are kept; everything else is escaped.
pub(super) fn text(s: &str) -> String {
    escape(s, Place::Flow)
}

/// Text for a table cell.
pub(super) fn cell(s: &str) -> String {
    escape(s, Place::Cell)
}

/// `s` as one inline code span, outside tables.
pub(super) fn code(s: &str) -> String {
    span(s, Place::Flow)
}

/// `s` as one inline code span in a table cell.
pub(super) fn cell_code(s: &str) -> String {
    span(s, Place::Cell)
}

/// Whether `s` fits in an inline code span in a table without hurting it.
pub(super) fn is_short(s: &str) -> bool {
    !s.contains('\n') && s.chars().count() <= 100
}

/// A fenced code block holding `lines` as they are.
pub(super) fn fence(lines: &[String], info: &str) -> String {
    let longest = lines.iter().map(|l| longest_run(l, '`')).max().unwrap_or(0);
    let marks = "`".repeat((longest + 1).max(3));
    let mut out = format!("{marks}{info}\n");
    for line in lines {
        out.push_str(line);
        out.push('\n');
    }
    out.push_str(&marks);
    out.push('\n');
    out
}

fn longest_run(s: &str, c: char) -> usize {
    let (mut best, mut run) = (0, 0);
    for ch in s.chars() {
        if ch == c {
            run += 1;
            best = best.max(run);
        } else {
            run = 0;
        }
    }
    best
}

fn one_line(s: &str) -> String {
    s.trim_end_matches(['\n', '\r'])
        .replace("\r\n", "\n")
        .replace(['\n', '\r'], " ↵ ")
}

fn span(s: &str, place: Place) -> String {
    let s = one_line(s);
    if s.is_empty() {
        return "*(empty)*".to_owned();
    }
    let marks = "`".repeat(longest_run(&s, '`') + 1);
    // A space keeps a backtick at either end from joining the fence; CommonMark strips one
    // space on each side when both are there.
    let pad = if s.starts_with('`') || s.ends_with('`') || (s.starts_with(' ') && s.ends_with(' '))
    {
        " "
    } else {
        ""
    };
    let body = if place == Place::Cell {
        s.replace('|', "\\|")
    } else {
        s
    };
    format!("{marks}{pad}{body}{pad}{marks}")
}

fn escape(s: &str, place: Place) -> String {
    let s = one_line(s);
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len() + 8);
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '`' {
            let n = run_at(&chars, i);
            if let Some(close) = closing_run(&chars, i + n, n) {
                // A code span, kept as written.
                for &ch in &chars[i..close + n] {
                    if ch == '|' && place == Place::Cell {
                        out.push('\\');
                    }
                    out.push(ch);
                }
                i = close + n;
            } else {
                for _ in 0..n {
                    out.push_str("\\`");
                }
                i += n;
            }
            continue;
        }
        if matches!(
            c,
            '\\' | '*' | '_' | '[' | ']' | '<' | '>' | '~' | '&' | '|' | '#'
        ) {
            out.push('\\');
        }
        out.push(c);
        i += 1;
    }
    out
}

fn run_at(chars: &[char], i: usize) -> usize {
    chars[i..].iter().take_while(|&&c| c == '`').count()
}

/// The start of the next run of exactly `n` backticks from `from`.
fn closing_run(chars: &[char], from: usize, n: usize) -> Option<usize> {
    let mut j = from;
    while j < chars.len() {
        if chars[j] == '`' {
            let m = run_at(chars, j);
            if m == n {
                return Some(j);
            }
            j += m;
        } else {
            j += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_escapes_markup_but_keeps_code_spans() {
        assert_eq!(
            text("needs failed step `restore` <b>*now*</b>"),
            "needs failed step `restore` \\<b\\>\\*now\\*\\</b\\>"
        );
        assert_eq!(text("a ` b"), "a \\` b");
        assert_eq!(cell("x | y `a|b`"), "x \\| y `a\\|b`");
        assert_eq!(text("two\nlines\n"), "two ↵ lines");
    }

    #[test]
    fn code_spans_outgrow_their_backticks() {
        assert_eq!(code("ls"), "`ls`");
        assert_eq!(code("echo `date`"), "`` echo `date` ``");
        assert_eq!(code("`x`"), "`` `x` ``");
        assert_eq!(cell_code("a | b"), "`a \\| b`");
        assert_eq!(code(""), "*(empty)*");
    }

    #[test]
    fn fences_outgrow_the_lines_inside() {
        let lines = vec!["```".to_owned(), "ok".to_owned()];
        assert_eq!(fence(&lines, "text"), "````text\n```\nok\n````\n");
    }
}
