//! Diagnostics: one problem in a playbook file, with its position, the offending text, and a
//! suggestion; rendered as `FILE:LINE:COL: error: …` followed by the source line and a caret.

use std::fmt::{self, Write as _};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

/// How bad a problem is: errors make a playbook invalid, warnings do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
}

/// The text of one playbook file, shared by every diagnostic about it.
#[derive(Debug)]
pub struct SourceFile {
    /// The path as the user gave it or as it was found in a folder.
    pub path: PathBuf,
    pub text: String,
    /// Where lines start and how many characters come before each checkpoint, built on the
    /// first position asked: each position is then found in O(log n), not by scanning the file
    /// (which made many diagnostics quadratic).
    index: OnceLock<LineIndex>,
}

/// Byte offsets of line starts, and character counts at every [`CHECKPOINT`] bytes (empty when
/// the text is ASCII, where bytes are characters).
#[derive(Debug)]
struct LineIndex {
    starts: Vec<usize>,
    /// `(byte offset, characters before it)`, each offset a char boundary.
    checkpoints: Vec<(usize, usize)>,
}

/// Bytes between two character-count checkpoints.
const CHECKPOINT: usize = 256;

impl LineIndex {
    fn new(text: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        let mut checkpoints = Vec::new();
        if !text.is_ascii() {
            let mut chars = 0;
            let mut last = 0;
            let mut next = 0;
            while next <= text.len() {
                let at = floor_char_boundary(text, next);
                chars += text[last..at].chars().count();
                checkpoints.push((at, chars));
                last = at;
                next += CHECKPOINT;
            }
        }
        Self {
            starts,
            checkpoints,
        }
    }

    /// Characters in `text[..offset]` (`offset` a char boundary), in O(log n + CHECKPOINT).
    fn chars_before(&self, text: &str, offset: usize) -> usize {
        if self.checkpoints.is_empty() {
            return offset;
        }
        let i = self.checkpoints.partition_point(|&(at, _)| at <= offset);
        let (at, chars) = self.checkpoints[i.saturating_sub(1)];
        chars + text[at..offset].chars().count()
    }
}

impl SourceFile {
    #[must_use]
    pub fn new(path: impl Into<PathBuf>, text: impl Into<String>) -> Arc<Self> {
        Arc::new(Self {
            path: path.into(),
            text: text.into(),
            index: OnceLock::new(),
        })
    }

    fn index(&self) -> &LineIndex {
        self.index.get_or_init(|| LineIndex::new(&self.text))
    }

    /// 1-based line and column (in characters) of a byte offset.
    #[must_use]
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = floor_char_boundary(&self.text, offset.min(self.text.len()));
        let index = self.index();
        let line = index.starts.partition_point(|&s| s <= offset);
        let line_start = index.starts[line - 1];
        let col =
            index.chars_before(&self.text, offset) - index.chars_before(&self.text, line_start) + 1;
        (line, col)
    }

    /// The `FILE:LINE:COL` of a byte offset.
    #[must_use]
    pub fn position(&self, offset: usize) -> String {
        let (line, col) = self.line_col(offset);
        format!("{}:{line}:{col}", self.path.display())
    }

    /// The byte range of a 1-based line, without its line break.
    fn line_range(&self, line: usize) -> Range<usize> {
        let starts = &self.index().starts;
        let start = starts.get(line - 1).copied().unwrap_or(self.text.len());
        let end = starts.get(line).map_or(self.text.len(), |&next| next - 1);
        let end = if self.text[start..end].ends_with('\r') {
            end - 1
        } else {
            end
        };
        start..end.max(start)
    }
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// Characters of a long line shown on each side of the caret: a diagnostic on a line of
/// megabytes shows a window of it, not all of it once per problem.
const SNIPPET_SIDE: usize = 120;

/// The part of `line` (text from `line_start`) shown around the byte offset `at`: its byte
/// range, and whether it was cut at the start and at the end.
fn window(line: &str, at: usize) -> (Range<usize>, bool, bool) {
    let at = floor_char_boundary(line, at.min(line.len()));
    let start = line[..at]
        .char_indices()
        .rev()
        .nth(SNIPPET_SIDE - 1)
        .map_or(0, |(i, _)| i);
    let end = line[at..]
        .char_indices()
        .nth(SNIPPET_SIDE)
        .map_or(line.len(), |(i, _)| at + i);
    (start..end, start > 0, end < line.len())
}

/// One problem found in a playbook.
#[derive(Debug, Clone)]
pub struct Diagnostic {
    pub severity: Severity,
    pub file: Arc<SourceFile>,
    /// Byte range of the offending text; `None` for problems with no place in the file.
    pub span: Option<Range<usize>>,
    pub message: String,
    /// How to fix it.
    pub help: Option<String>,
}

impl Diagnostic {
    #[must_use]
    pub fn error(file: &Arc<SourceFile>, span: Range<usize>, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Error,
            file: Arc::clone(file),
            span: Some(span),
            message: message.into(),
            help: None,
        }
    }

    #[must_use]
    pub fn warning(file: &Arc<SourceFile>, span: Range<usize>, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Warning,
            ..Self::error(file, span, message)
        }
    }

    #[must_use]
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// The path of the file this diagnostic is about.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.file.path
    }

    /// The 1-based line and column where the diagnostic points, if it points anywhere.
    #[must_use]
    pub fn line_col(&self) -> Option<(usize, usize)> {
        self.span.as_ref().map(|s| self.file.line_col(s.start))
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let label = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let Some(span) = &self.span else {
            writeln!(f, "{}: {label}: {}", self.file.path.display(), self.message)?;
            if let Some(help) = &self.help {
                writeln!(f, "  = help: {help}")?;
            }
            return Ok(());
        };
        let (line, col) = self.file.line_col(span.start);
        writeln!(
            f,
            "{}:{line}:{col}: {label}: {}",
            self.file.path.display(),
            self.message
        )?;
        let range = self.file.line_range(line);
        let full = &self.file.text[range.clone()];
        let at = span.start.clamp(range.start, range.end) - range.start;
        let (shown, cut_start, cut_end) = window(full, at);
        let before = &full[shown.start..floor_char_boundary(full, at)];
        // Underline the span's part of the shown line, at least one caret.
        let at = floor_char_boundary(full, at);
        let span_end = span.end.max(span.start).min(range.end) - range.start;
        let underlined = &full[at..floor_char_boundary(full, span_end.clamp(at, shown.end))];
        let carets = underlined.chars().count().max(1);
        let text = format!(
            "{}{}{}",
            if cut_start { "…" } else { "" },
            &full[shown.clone()],
            if cut_end { "…" } else { "" }
        );
        let number = line.to_string();
        let gutter = " ".repeat(number.len());
        let mut underline = String::new();
        if cut_start {
            underline.push(' ');
        }
        for c in before.chars() {
            underline.push(if c == '\t' { '\t' } else { ' ' });
        }
        underline.push_str(&"^".repeat(carets));
        writeln!(f, "{gutter} |")?;
        writeln!(f, "{number} | {text}")?;
        writeln!(f, "{gutter} | {underline}")?;
        if let Some(help) = &self.help {
            let mut lines = help.lines();
            if let Some(first) = lines.next() {
                write!(f, "{gutter} = help: {first}")?;
                for more in lines {
                    write!(f, "\n{gutter}         {more}")?;
                }
                f.write_char('\n')?;
            }
        }
        Ok(())
    }
}

/// Every problem found while reading one or more playbooks, in file and position order.
#[derive(Debug, Clone, Default)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    #[must_use]
    pub fn has_errors(&self) -> bool {
        self.0.iter().any(|d| d.severity == Severity::Error)
    }

    #[must_use]
    pub fn errors(&self) -> usize {
        self.0
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count()
    }

    #[must_use]
    pub fn warnings(&self) -> usize {
        self.0
            .iter()
            .filter(|d| d.severity == Severity::Warning)
            .count()
    }

    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }

    pub fn extend(&mut self, other: Diagnostics) {
        self.0.extend(other.0);
    }

    /// Sorts by file, then position, keeping the order of problems found at one position.
    pub fn sort(&mut self) {
        self.0.sort_by(|a, b| {
            a.file.path.cmp(&b.file.path).then_with(|| {
                a.span
                    .as_ref()
                    .map(|s| s.start)
                    .cmp(&b.span.as_ref().map(|s| s.start))
            })
        });
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_char('\n')?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

/// The closest candidate within edit distance 2, for "did you mean".
///
/// Linear in the length of the strings: a candidate whose length differs by 3 or more is never
/// within 2 edits, and the distance of the others is computed only along the diagonal band
/// where it can be at most 2 (full Levenshtein is quadratic: 120k-character ids took 17 s).
/// For names the playbook declares, whose number grows with the file, use a [`Suggester`].
#[must_use]
pub fn did_you_mean<'a>(
    given: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let mut unlimited = usize::MAX;
    closest(given, candidates, &mut unlimited)
}

/// [`did_you_mean`] within a budget of work (characters compared, and one per candidate seen),
/// spent as it goes; `None` once the budget runs out.
fn closest<'a>(
    given: &str,
    candidates: impl IntoIterator<Item = &'a str>,
    budget: &mut usize,
) -> Option<&'a str> {
    let lower: Vec<char> = given.chars().map(|c| c.to_ascii_lowercase()).collect();
    let mut candidate: Vec<char> = Vec::new();
    let mut best: Option<(usize, &str)> = None;
    for c in candidates {
        // Byte lengths bound character counts within a factor of 4: skip the far ones before
        // looking at their characters.
        let far =
            c.len() > 4 * (lower.len() + MAX_EDITS) || lower.len() > 4 * (c.len() + MAX_EDITS);
        let cost = if far { 1 } else { 1 + c.len() + given.len() };
        *budget = budget.checked_sub(cost)?;
        if far {
            continue;
        }
        candidate.clear();
        candidate.extend(c.chars().map(|ch| ch.to_ascii_lowercase()));
        let Some(d) = edits_within(&lower, &candidate, MAX_EDITS) else {
            continue;
        };
        // Close, and not a different word: at most half of the longer name may change.
        if d * 2 <= candidate.len().max(lower.len()) && best.is_none_or(|(b, _)| d < b) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

/// "Did you mean" over the names a playbook declares (step ids, vars, outputs, environments),
/// whose number grows with the file. Each comparison is linear, but thousands of unknown names
/// among thousands of ids would compare every pair; past a budget of work for one validation,
/// no further suggestion is made (the diagnostics themselves stay), so validation stays linear.
#[derive(Debug)]
pub(crate) struct Suggester {
    left: usize,
}

/// Characters compared by one [`Suggester`]: a few milliseconds, far above what any real
/// playbook's typos need (two 120,000-character names cost 240,000).
const SUGGESTION_BUDGET: usize = 1_000_000;

impl Default for Suggester {
    fn default() -> Self {
        Self {
            left: SUGGESTION_BUDGET,
        }
    }
}

impl Suggester {
    /// The closest candidate, as [`did_you_mean`], while the budget lasts.
    pub(crate) fn closest<'a>(
        &mut self,
        given: &str,
        candidates: impl IntoIterator<Item = &'a str>,
    ) -> Option<&'a str> {
        closest(given, candidates, &mut self.left)
    }
}

/// At most ten of `total` names, backticked, then how many more: a help that lists a
/// playbook's names stays short however many it has (and costs ten, not `total`).
pub(crate) fn some_names<'a>(names: impl IntoIterator<Item = &'a str>, total: usize) -> String {
    some_of(names.into_iter().map(|n| format!("`{n}`")), total)
}

/// At most ten of `total` items as written, joined with commas, then how many more.
pub(crate) fn some_of(items: impl IntoIterator<Item = String>, total: usize) -> String {
    const SHOWN: usize = 10;
    let shown: Vec<String> = items.into_iter().take(SHOWN).collect();
    let more = total.saturating_sub(shown.len());
    let mut text = shown.join(", ");
    if more > 0 {
        let _ = write!(text, " and {more} more");
    }
    text
}

/// The most edits a "did you mean" suggestion may be away from what was written.
const MAX_EDITS: usize = 2;

/// The Levenshtein distance of `a` and `b` when it is at most `max`, else `None`, in
/// O((a + b) × max) time: only the cells within `max` of the diagonal can be within `max`.
fn edits_within(a: &[char], b: &[char], max: usize) -> Option<usize> {
    if a.len().abs_diff(b.len()) > max {
        return None;
    }
    let over = max + 1;
    // `row[j]` is the distance between a[..i] and b[..j], capped at `over`; only the band is
    // written, so each row costs O(max), not O(b).
    let mut row: Vec<usize> = (0..=b.len()).map(|j| j.min(over)).collect();
    let mut next = vec![over; b.len() + 1];
    for (i, &ca) in a.iter().enumerate() {
        let i = i + 1;
        let from = i.saturating_sub(max).max(1);
        let to = (i + max).min(b.len());
        // The cell left of the band; the band's other neighbours were never written, or were
        // written two rows ago further left, so they hold `over` or a value this row never reads.
        let edge = from - 1;
        next[edge] = if edge == 0 { i.min(over) } else { over };
        let mut best = next[edge];
        for j in from..=to {
            let substitute = row[j - 1] + usize::from(ca != b[j - 1]);
            let cell = substitute.min(row[j] + 1).min(next[j - 1] + 1).min(over);
            next[j] = cell;
            best = best.min(cell);
        }
        if best > max {
            return None;
        }
        std::mem::swap(&mut row, &mut next);
    }
    let d = row[b.len()];
    (d <= max).then_some(d)
}

/// `, did you mean `x`?` or nothing.
#[must_use]
pub fn did_you_mean_suffix<'a>(
    given: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> String {
    did_you_mean(given, candidates).map_or_else(String::new, |c| format!(", did you mean `{c}`?"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_position_line_and_caret() {
        let file = SourceFile::new("p.toml", "[playbook]\nneds = 1\n");
        let d = Diagnostic::error(&file, 11..15, "unknown key `neds`").with_help("remove it");
        assert_eq!(
            d.to_string(),
            "p.toml:2:1: error: unknown key `neds`\n  |\n2 | neds = 1\n  | ^^^^\n  = help: remove it\n"
        );
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        let file = SourceFile::new("p.toml", "title = \"é\" x\n");
        assert_eq!(file.line_col(13), (1, 13));
    }

    // See: #11
    #[test]
    fn positions_from_the_index_agree_with_counting() {
        let text = format!(
            "{}\nx = 1\r\n\n{}z\n{}",
            "é".repeat(1000),
            "aé😀".repeat(300),
            "tail"
        );
        let file = SourceFile::new("p.toml", text.clone());
        for offset in (0..=text.len()).filter(|&o| text.is_char_boundary(o)) {
            let before = &text[..offset];
            let line = before.matches('\n').count() + 1;
            let start = before.rfind('\n').map_or(0, |i| i + 1);
            let col = text[start..offset].chars().count() + 1;
            assert_eq!(file.line_col(offset), (line, col), "offset {offset}");
        }
    }

    // See: #11
    #[test]
    fn a_long_line_shows_a_window_around_the_caret() {
        let text = format!("id = \"{}\"\n", "a".repeat(100_000));
        let file = SourceFile::new("p.toml", text);
        let d = Diagnostic::error(&file, 50_000..50_003, "here");
        let shown = d.to_string();
        assert!(
            shown.starts_with("p.toml:1:50001: error: here\n"),
            "{shown}"
        );
        let lines: Vec<&str> = shown.lines().collect();
        let window = format!("1 | …{}…", "a".repeat(240));
        assert_eq!(lines[2], window);
        assert_eq!(lines[3], format!("  |  {}^^^", " ".repeat(120)));
        assert!(shown.len() < 1000, "{} bytes", shown.len());
    }

    #[test]
    fn did_you_mean_picks_the_closest() {
        assert_eq!(
            did_you_mean("neds", ["needs", "name", "when"]),
            Some("needs")
        );
        assert_eq!(did_you_mean("zzzzzz", ["needs"]), None);
    }

    // See: #11
    #[test]
    fn banded_distance_agrees_with_levenshtein() {
        let words = [
            "", "a", "ab", "ba", "abc", "acb", "needs", "neds", "nedds", "name", "restore",
            "restroe", "rest", "résumé", "resume", "ééé", "kitten", "sitting", "flaw", "lawn",
        ];
        for a in words {
            for b in words {
                let (ca, cb): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
                let full = strsim::levenshtein(a, b);
                for max in 0..4 {
                    assert_eq!(
                        edits_within(&ca, &cb, max),
                        (full <= max).then_some(full),
                        "{a:?} {b:?} max {max}"
                    );
                }
            }
        }
    }

    // See: #11
    #[test]
    fn a_suggester_stops_suggesting_when_its_budget_is_spent() {
        let ids: Vec<String> = (0..10_000).map(|i| format!("step-{i:05}")).collect();
        let mut suggest = Suggester::default();
        let mut suggested = 0;
        for i in 0..10_000 {
            if suggest
                .closest(&format!("stap-{i:05}"), ids.iter().map(String::as_str))
                .is_some()
            {
                suggested += 1;
            }
        }
        // Each query costs 10,000 × 21; the budget covers the first four.
        assert_eq!(suggested, 4);
        assert_eq!(
            Suggester::default().closest("stap-00042", ids.iter().map(String::as_str)),
            Some("step-00042")
        );
        assert_eq!(some_names(["a", "b"], 2), "`a`, `b`");
        assert_eq!(
            some_names(ids.iter().map(String::as_str), ids.len()),
            format!(
                "{} and 9990 more",
                ids[..10]
                    .iter()
                    .map(|i| format!("`{i}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        );
    }

    // See: #11
    #[test]
    fn long_names_are_compared_along_the_band() {
        let id = "a".repeat(200_000);
        let typo = format!("{}b", "a".repeat(199_999));
        assert_eq!(did_you_mean(&typo, [id.as_str()]), Some(id.as_str()));
        assert_eq!(did_you_mean(&"b".repeat(200_000), [id.as_str()]), None);
    }
}
