//! `Rich`: a line of a notification with its few marks (code, bold) kept apart from the text, so
//! it renders as Slack `mrkdwn` with every value escaped, and as plain text for the fallback, the
//! journal and the generic webhook.

/// A line of text with marks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Rich(Vec<Piece>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Code(String),
    Bold(String),
    /// A whole line quoted: someone else's words (an approval's question).
    Quote(String),
}

impl Rich {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    pub(crate) fn text(mut self, text: impl Into<String>) -> Self {
        self.0.push(Piece::Text(text.into()));
        self
    }

    /// A name or value shown as code: a step id, a path.
    pub(crate) fn code(mut self, text: impl Into<String>) -> Self {
        self.0.push(Piece::Code(text.into()));
        self
    }

    pub(crate) fn bold(mut self, text: impl Into<String>) -> Self {
        self.0.push(Piece::Bold(text.into()));
        self
    }

    /// A line of its own, quoted.
    pub(crate) fn quote(text: impl Into<String>) -> Self {
        Self(vec![Piece::Quote(text.into())])
    }

    /// Plain text with code in backticks: the fallback, the journal, the webhook.
    pub(crate) fn plain(&self) -> String {
        self.0
            .iter()
            .map(|p| match p {
                Piece::Text(t) | Piece::Bold(t) => t.clone(),
                Piece::Code(t) => format!("`{t}`"),
                Piece::Quote(t) => format!("> {t}"),
            })
            .collect()
    }

    /// Without any mark: Slack's `plain_text` header.
    pub(crate) fn bare(&self) -> String {
        self.0
            .iter()
            .map(|p| match p {
                Piece::Text(t) | Piece::Bold(t) | Piece::Code(t) | Piece::Quote(t) => t.as_str(),
            })
            .collect()
    }

    /// Slack `mrkdwn`, every value escaped: a `<!channel>` in a log line or a reason pings nobody.
    pub(crate) fn mrkdwn(&self) -> String {
        self.0
            .iter()
            .map(|p| match p {
                Piece::Text(t) => escape(t),
                Piece::Code(t) => format!("`{}`", escape(&t.replace('`', "'"))),
                Piece::Bold(t) => format!("*{}*", escape(&t.replace('*', ""))),
                // Every line of the quote gets its own `>`, so a newline cannot end it early.
                Piece::Quote(t) => t
                    .lines()
                    .map(|l| format!(">{}", escape(l)))
                    .collect::<Vec<_>>()
                    .join("\n"),
            })
            .collect()
    }
}

/// Escapes the three characters Slack treats as markup (links, mentions, entities).
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// At most `max` characters, ending in `…` when cut.
pub(crate) fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_render_per_target_and_values_are_escaped_for_slack() {
        let line = Rich::new()
            .text("step ")
            .code("re`store")
            .text(" failed: <!channel> & ")
            .bold("now");
        assert_eq!(line.plain(), "step `re`store` failed: <!channel> & now");
        assert_eq!(line.bare(), "step re`store failed: <!channel> & now");
        assert_eq!(
            line.mrkdwn(),
            "step `re'store` failed: &lt;!channel&gt; &amp; *now*"
        );
    }

    #[test]
    fn a_quote_quotes_every_line_and_escapes_it() {
        let q = Rich::quote("Restore <db>?\nReally?");
        assert_eq!(q.mrkdwn(), ">Restore &lt;db&gt;?\n>Really?");
        assert_eq!(q.plain(), "> Restore <db>?\nReally?");
    }

    #[test]
    fn cut_keeps_short_text_and_marks_a_cut() {
        assert_eq!(cut("abc", 3), "abc");
        assert_eq!(cut("abcdef", 4), "abc…");
    }
}
