//! The Markdown walk: a page becomes its blocks in order (headings, texts, code), read with
//! pulldown-cmark. A text keeps its source lines too, so that commands whose fences were lost
//! are imported as written, not as Markdown rendered them (`*.dump` is not emphasis).

use std::ops::Range;
use std::sync::LazyLock;

use pulldown_cmark::{CodeBlockKind, Event, Options, Parser, Tag, TagEnd};
use regex::Regex;

/// One block of the page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Block {
    Heading {
        level: usize,
        text: String,
    },
    Text(Text),
    /// A fenced or indented code block: its info string (empty when none) and its lines.
    Code {
        info: String,
        text: String,
    },
}

/// A paragraph, a list item's own text, a quote, a table or HTML.
#[derive(Debug, Clone, PartialEq, Eq)]
#[expect(
    clippy::struct_field_names,
    reason = "a text's `text` is the plainest name for it"
)]
pub(crate) struct Text {
    pub(crate) kind: TextKind,
    /// As rendered: inline code in backticks, line breaks kept.
    pub(crate) text: String,
    /// The source lines, trimmed, without the list marker.
    pub(crate) raw: Vec<String>,
    /// The inline code spans.
    pub(crate) code: Vec<String>,
    /// A task list item (`- [ ] …`).
    pub(crate) task: bool,
    /// An item of a numbered list.
    pub(crate) ordered: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TextKind {
    Paragraph,
    Item,
    Quote,
    Table,
    Html,
    /// Front matter.
    Metadata,
}

/// The blocks of a Markdown page, in order.
pub(crate) fn blocks(page: &str) -> Vec<Block> {
    // Front matter (`---` YAML or `+++` TOML at the top) is a block of its own, not a rule
    // and a heading.
    let options = Options::ENABLE_TABLES
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_YAML_STYLE_METADATA_BLOCKS
        | Options::ENABLE_PLUSES_DELIMITED_METADATA_BLOCKS;
    let mut walk = Walk {
        page,
        out: Vec::new(),
        open: None,
        heading: None,
        code: None,
        lists: Vec::new(),
        items: 0,
        quotes: 0,
    };
    for (event, range) in Parser::new_ext(page, options).into_offset_iter() {
        walk.event(event, range);
    }
    walk.flush(page.len());
    walk.out
}

/// A text being collected.
struct Open {
    kind: TextKind,
    start: usize,
    text: String,
    code: Vec<String>,
    task: bool,
    ordered: bool,
}

struct Walk<'a> {
    page: &'a str,
    out: Vec<Block>,
    open: Option<Open>,
    heading: Option<(usize, String)>,
    code: Option<(String, String)>,
    /// For each open list, whether it is numbered.
    lists: Vec<bool>,
    items: usize,
    quotes: usize,
}

impl Walk<'_> {
    fn event(&mut self, event: Event<'_>, range: Range<usize>) {
        match event {
            Event::Start(tag) => self.start(tag, range),
            Event::End(tag) => self.end(tag, range),
            Event::Code(t) => {
                self.text(&format!("`{t}`"), range.start);
                if let Some(open) = &mut self.open {
                    open.code.push(t.into_string());
                }
            }
            Event::Text(t)
            | Event::Html(t)
            | Event::InlineHtml(t)
            | Event::InlineMath(t)
            | Event::DisplayMath(t)
            | Event::FootnoteReference(t) => self.text(&t, range.start),
            Event::SoftBreak | Event::HardBreak => self.text("\n", range.start),
            Event::TaskListMarker(_) => {
                if let Some(open) = &mut self.open {
                    open.task = true;
                }
            }
            Event::Rule => self.flush(range.start),
        }
    }

    fn start(&mut self, tag: Tag<'_>, range: Range<usize>) {
        match tag {
            Tag::Heading { level, .. } => {
                self.flush(range.start);
                self.heading = Some((level as usize, String::new()));
            }
            Tag::CodeBlock(kind) => {
                self.flush(range.start);
                let info = match kind {
                    CodeBlockKind::Fenced(info) => info.into_string(),
                    CodeBlockKind::Indented => String::new(),
                };
                self.code = Some((info, String::new()));
            }
            Tag::List(first) => {
                self.flush(range.start);
                self.lists.push(first.is_some());
            }
            Tag::Item => {
                self.flush(range.start);
                self.items += 1;
                self.begin(TextKind::Item, range.start);
            }
            Tag::Paragraph => {
                if let Some(open) = &mut self.open {
                    if !open.text.is_empty() {
                        open.text.push_str("\n\n");
                    }
                } else {
                    let kind = if self.quotes > 0 {
                        TextKind::Quote
                    } else if self.items > 0 {
                        TextKind::Item
                    } else {
                        TextKind::Paragraph
                    };
                    self.begin(kind, range.start);
                }
            }
            Tag::BlockQuote(_) => {
                self.flush(range.start);
                self.quotes += 1;
                self.begin(TextKind::Quote, range.start);
            }
            Tag::Table(_) => {
                self.flush(range.start);
                self.begin(TextKind::Table, range.start);
            }
            Tag::HtmlBlock => {
                self.flush(range.start);
                self.begin(TextKind::Html, range.start);
            }
            Tag::MetadataBlock(_) => {
                self.flush(range.start);
                self.begin(TextKind::Metadata, range.start);
            }
            _ => {}
        }
    }

    fn end(&mut self, tag: TagEnd, range: Range<usize>) {
        match tag {
            TagEnd::Heading(_) => {
                if let Some((level, text)) = self.heading.take() {
                    self.out.push(Block::Heading {
                        level,
                        text: text.trim().to_owned(),
                    });
                }
            }
            TagEnd::CodeBlock => {
                if let Some((info, text)) = self.code.take() {
                    self.out.push(Block::Code { info, text });
                }
            }
            TagEnd::List(_) => {
                self.flush(range.end);
                self.lists.pop();
            }
            TagEnd::Item => {
                self.flush(range.end);
                self.items = self.items.saturating_sub(1);
            }
            TagEnd::Paragraph
                if self
                    .open
                    .as_ref()
                    .is_some_and(|o| o.kind == TextKind::Paragraph) =>
            {
                self.flush(range.end);
            }
            TagEnd::BlockQuote(_) => {
                self.flush(range.end);
                self.quotes = self.quotes.saturating_sub(1);
            }
            TagEnd::TableCell => self.text(" | ", range.end),
            TagEnd::TableHead | TagEnd::TableRow => self.text("\n", range.end),
            TagEnd::Table | TagEnd::HtmlBlock | TagEnd::MetadataBlock(_) => self.flush(range.end),
            _ => {}
        }
    }

    fn begin(&mut self, kind: TextKind, start: usize) {
        self.open = Some(Open {
            kind,
            start,
            text: String::new(),
            code: Vec::new(),
            task: false,
            ordered: kind == TextKind::Item && self.lists.last().copied().unwrap_or(false),
        });
    }

    fn text(&mut self, text: &str, at: usize) {
        if let Some((_, code)) = &mut self.code {
            code.push_str(text);
        } else if let Some((_, heading)) = &mut self.heading {
            heading.push_str(text);
        } else {
            if self.open.is_none() {
                let kind = if self.items > 0 {
                    TextKind::Item
                } else {
                    TextKind::Paragraph
                };
                self.begin(kind, at);
            }
            if let Some(open) = &mut self.open {
                open.text.push_str(text);
            }
        }
    }

    /// Ends the text being collected at byte `at` of the page.
    fn flush(&mut self, at: usize) {
        let Some(open) = self.open.take() else { return };
        let source = self.page.get(open.start..at.max(open.start)).unwrap_or("");
        let raw: Vec<String> = source
            .lines()
            .enumerate()
            .map(|(i, line)| {
                let line = line.trim();
                match open.kind {
                    TextKind::Item if i == 0 => MARKER.replace(line, "").into_owned(),
                    TextKind::Quote => line.trim_start_matches(['>', ' ']).to_owned(),
                    _ => line.to_owned(),
                }
            })
            .collect();
        let text = open.text.trim().to_owned();
        if text.is_empty() && open.code.is_empty() {
            return;
        }
        self.out.push(Block::Text(Text {
            kind: open.kind,
            text,
            raw,
            code: open.code,
            task: open.task,
            ordered: open.ordered,
        }));
    }
}

static MARKER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:[-*+]|\d{1,9}[.)])(?:\s+\[[ xX]\])?\s*")
        .expect("the list marker pattern compiles")
});

#[cfg(test)]
mod tests {
    use super::*;

    fn text(kind: TextKind, t: &str) -> Block {
        Block::Text(Text {
            kind,
            text: t.to_owned(),
            raw: t.lines().map(str::to_owned).collect(),
            code: Vec::new(),
            task: false,
            ordered: false,
        })
    }

    #[test]
    fn headings_paragraphs_and_code_in_order() {
        let page = "# Restore\n\nStop writers first.\n\n```bash\npg_restore -d app x.dump\n```\n";
        assert_eq!(
            blocks(page),
            vec![
                Block::Heading {
                    level: 1,
                    text: "Restore".to_owned()
                },
                text(TextKind::Paragraph, "Stop writers first."),
                Block::Code {
                    info: "bash".to_owned(),
                    text: "pg_restore -d app x.dump\n".to_owned()
                },
            ]
        );
    }

    #[test]
    fn items_keep_their_source_lines_and_nested_code() {
        let page = "1. Remove the stale files:\n   rm -rf /tmp/*.tmp\n2. [ ] Notify `#ops`\n\n   ```sh\n   ls\n   ```\n";
        let b = blocks(page);
        let Block::Text(first) = &b[0] else {
            panic!("{b:?}")
        };
        assert_eq!(first.kind, TextKind::Item);
        assert!(first.ordered);
        assert_eq!(first.raw, ["Remove the stale files:", "rm -rf /tmp/*.tmp"]);
        let Block::Text(second) = &b[1] else {
            panic!("{b:?}")
        };
        assert!(second.task);
        assert_eq!(second.code, ["#ops"]);
        assert_eq!(second.text, "Notify `#ops`");
        assert_eq!(
            b[2],
            Block::Code {
                info: "sh".to_owned(),
                text: "ls\n".to_owned()
            }
        );
    }

    #[test]
    fn quotes_tables_and_indented_code() {
        let page =
            "> **Warning**: this deletes data\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n    ls -la\n";
        let b = blocks(page);
        assert!(
            matches!(&b[0], Block::Text(t) if t.kind == TextKind::Quote && t.text == "Warning: this deletes data")
        );
        assert!(
            matches!(&b[1], Block::Text(t) if t.kind == TextKind::Table && t.text.contains("1 | 2"))
        );
        assert_eq!(
            b[2],
            Block::Code {
                info: String::new(),
                text: "ls -la\n".to_owned()
            }
        );
    }

    #[test]
    fn front_matter_is_a_block_of_its_own() {
        let b = blocks("---\ntitle: x\nowner: y\n---\n\n# T\n");
        assert!(
            matches!(&b[0], Block::Text(t) if t.kind == TextKind::Metadata && t.text == "title: x\nowner: y"),
            "{b:?}"
        );
        assert!(matches!(&b[1], Block::Heading { level: 1, .. }), "{b:?}");
    }

    #[test]
    fn not_markdown_is_paragraphs() {
        let b = blocks("\u{0}\u{1b}[31m\r\n***\n\t\t<<<>>>");
        assert!(
            b.iter()
                .all(|b| matches!(b, Block::Text(_) | Block::Code { .. }))
        );
    }
}
