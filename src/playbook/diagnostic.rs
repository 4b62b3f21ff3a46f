//! Diagnostics: one problem in a playbook file, with its position, the offending text, and a
//! suggestion; rendered as `FILE:LINE:COL: error: …` followed by the source line and a caret.

use std::fmt::{self, Write as _};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

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
}

impl SourceFile {
    #[must_use]
    pub fn new(path: impl Into<PathBuf>, text: impl Into<String>) -> Arc<Self> {
        Arc::new(Self {
            path: path.into(),
            text: text.into(),
        })
    }

    /// 1-based line and column (in characters) of a byte offset.
    #[must_use]
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = floor_char_boundary(&self.text, offset.min(self.text.len()));
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let col = self.text[line_start..offset].chars().count() + 1;
        (line, col)
    }

    /// The `FILE:LINE:COL` of a byte offset.
    #[must_use]
    pub fn position(&self, offset: usize) -> String {
        let (line, col) = self.line_col(offset);
        format!("{}:{line}:{col}", self.path.display())
    }

    fn line_text(&self, line: usize) -> &str {
        self.text.lines().nth(line - 1).unwrap_or("")
    }
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
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
        let text = self.file.line_text(line);
        let number = line.to_string();
        let gutter = " ".repeat(number.len());
        // Underline the span's part of its first line, at least one caret.
        let (end_line, end_col) = self.file.line_col(span.end.max(span.start));
        let line_chars = text.chars().count();
        let carets = if end_line == line {
            end_col.saturating_sub(col)
        } else {
            line_chars + 1 - col
        };
        let carets = carets.max(1);
        let mut underline = String::new();
        for c in text.chars().take(col - 1) {
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
#[must_use]
pub fn did_you_mean<'a>(
    given: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let lower = given.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|c| (strsim::levenshtein(&lower, &c.to_ascii_lowercase()), c))
        // Close, and not a different word: at most half of the longer name may change.
        .filter(|(d, c)| *d < 3 && *d * 2 <= c.len().max(lower.len()))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
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

    #[test]
    fn did_you_mean_picks_the_closest() {
        assert_eq!(
            did_you_mean("neds", ["needs", "name", "when"]),
            Some("needs")
        );
        assert_eq!(did_you_mean("zzzzzz", ["needs"]), None);
    }
}
