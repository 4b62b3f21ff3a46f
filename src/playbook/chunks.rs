//! Decoding a playbook one `[[steps]]` table at a time (#18). The document is cut at its
//! top-level table headers (found with the TOML crate's own lexer); the text outside the steps
//! and each step's text are parsed alone, and each step's spanned tree is gone before the next
//! is parsed, so the whole document's token list and tree never exist at once. Only a document
//! of the plain shape takes this path, and only when nothing in it is wrong: on any syntax or
//! decode problem the caller decodes the whole document instead, so every diagnostic is the one
//! that path gives.

use std::ops::Range;
use std::sync::Arc;

use toml::Spanned;
use toml::de::{DeTable, DeValue};
use toml_parser::lexer::TokenKind;

use crate::playbook::decode::{Cx, Decode, Sp};
use crate::playbook::diagnostic::SourceFile;
use crate::playbook::raw::{RawPlaybook, RawStep};

/// Where a document's `[[steps]]` tables are, and the rest.
#[derive(Debug, Default, PartialEq, Eq)]
struct Cut {
    /// Each `[[steps]]` table with its subtables (`[steps.retry]`, `[[steps.verify]]`), from its
    /// header to the next top-level header that is not one of its subtables.
    steps: Vec<Range<usize>>,
    /// Everything else, in order.
    rest: Vec<Range<usize>>,
}

/// What a top-level header opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Header {
    /// `[[steps]]`
    Step,
    /// `[steps.KEY…]` or `[[steps.KEY…]]`: part of the step above it.
    StepPart,
    Other,
}

/// The raw playbook decoded chunk by chunk, or `None` when the document is not of the plain
/// shape or anything in it is wrong (the caller then decodes the whole document).
pub(crate) fn decode(file: &Arc<SourceFile>) -> Option<(RawPlaybook, Cx<'_>)> {
    let text = file.text.as_str();
    let cut = cut(text)?;
    let first = cut.steps.first()?.start;
    let mut cx = Cx::new(file);
    let mut raw = {
        // The text outside the steps, each part at its own offset (blanks between), so its
        // spans are the whole document's.
        let end = cut.rest.last().map_or(0, |r| r.end);
        let mut skeleton = String::with_capacity(end);
        for r in &cut.rest {
            skeleton.extend(std::iter::repeat_n(' ', r.start - skeleton.len()));
            skeleton.push_str(&text[r.clone()]);
        }
        let root = DeTable::parse(&skeleton).ok()?;
        if root.get_ref().contains_key("steps") {
            return None;
        }
        let root = Spanned::new(root.span(), DeValue::Table(root.into_inner()));
        RawPlaybook::decode(&root, &mut cx)?
    };
    if !cx.diagnostics.is_empty() || raw.steps.is_some() {
        return None;
    }
    let mut steps = Vec::with_capacity(cut.steps.len());
    let mut span = None;
    cx.enter_table(0);
    for (i, r) in cut.steps.iter().enumerate() {
        let root = DeTable::parse(&text[r.clone()]).ok()?.into_inner();
        let mut entries = root.into_iter();
        let (key, list) = entries.next()?;
        if entries.next().is_some() || key.get_ref() != "steps" {
            return None;
        }
        let list_span = list.span();
        let DeValue::Array(items) = list.into_inner() else {
            return None;
        };
        let mut items = items.into_iter();
        let (Some(item), None) = (items.next(), items.next()) else {
            return None;
        };
        span.get_or_insert(first + list_span.start..first + list_span.end);
        let item = shift(item, r.start);
        steps.push(cx.element::<RawStep>("steps", i, &item)?);
    }
    cx.leave_table();
    if !cx.diagnostics.is_empty() {
        return None;
    }
    raw.steps = Some(Box::new(Sp::new(steps, span?)));
    Some((raw, cx))
}

/// The value with every span moved `base` bytes on: a chunk's spans become the document's.
fn shift(v: Spanned<DeValue<'_>>, base: usize) -> Spanned<DeValue<'_>> {
    let span = v.span();
    let value = match v.into_inner() {
        DeValue::Table(t) => DeValue::Table(
            t.into_iter()
                .map(|(k, x)| {
                    let s = k.span();
                    (
                        Spanned::new(s.start + base..s.end + base, k.into_inner()),
                        shift(x, base),
                    )
                })
                .collect(),
        ),
        DeValue::Array(a) => DeValue::Array(a.into_iter().map(|x| shift(x, base)).collect()),
        other => other,
    };
    Spanned::new(span.start + base..span.end + base, value)
}

/// Cuts the document at its top-level headers, or `None` when it is not of the plain shape: a
/// byte-order mark, a header over several lines, `[steps.KEY]` outside a step, brackets that do
/// not balance.
fn cut(text: &str) -> Option<Cut> {
    if text.starts_with('\u{feff}') {
        return None;
    }
    let mut headers: Vec<(usize, Header)> = Vec::new();
    let mut tokens = toml_parser::Source::new(text).lex().peekable();
    let mut depth = 0usize;
    let mut line_start = true;
    while let Some(token) = tokens.next() {
        let span = token.span();
        match token.kind() {
            TokenKind::Newline => {
                line_start = true;
                continue;
            }
            TokenKind::Whitespace => continue,
            TokenKind::LeftSquareBracket if depth == 0 && line_start => {
                let array = tokens
                    .next_if(|t| t.kind() == TokenKind::LeftSquareBracket)
                    .is_some();
                let mut key = String::new();
                let mut plain = true;
                loop {
                    let t = tokens.next()?;
                    match t.kind() {
                        TokenKind::Atom | TokenKind::Dot => {
                            key.push_str(&text[t.span().start()..t.span().end()]);
                        }
                        TokenKind::Whitespace => {}
                        TokenKind::BasicString | TokenKind::LiteralString => plain = false,
                        TokenKind::RightSquareBracket => break,
                        _ => return None,
                    }
                }
                if array {
                    tokens.next_if(|t| t.kind() == TokenKind::RightSquareBracket)?;
                }
                let header = if !plain {
                    Header::Other
                } else if array && key == "steps" {
                    Header::Step
                } else if key.starts_with("steps.") {
                    Header::StepPart
                } else {
                    Header::Other
                };
                headers.push((span.start(), header));
            }
            TokenKind::LeftSquareBracket | TokenKind::LeftCurlyBracket => depth += 1,
            TokenKind::RightSquareBracket | TokenKind::RightCurlyBracket => {
                depth = depth.checked_sub(1)?;
            }
            TokenKind::Eof => break,
            _ => {}
        }
        line_start = false;
    }
    if depth != 0 {
        return None;
    }
    let mut cut = Cut::default();
    let mut open = 0..0;
    let mut in_step = false;
    for (at, header) in headers {
        match header {
            Header::StepPart if in_step => continue,
            Header::StepPart => return None,
            Header::Step | Header::Other => {}
        }
        open.end = at;
        if in_step {
            cut.steps.push(open);
        } else if !open.is_empty() {
            cut.rest.push(open);
        }
        open = at..at;
        in_step = header == Header::Step;
    }
    open.end = text.len();
    if in_step {
        cut.steps.push(open);
    } else if !open.is_empty() {
        cut.rest.push(open);
    }
    Some(cut)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::playbook::validate::decode_whole;

    const HEAD: &str = "[playbook]\nname = \"p\"\nversion = \"1.0.0\"\n\n[vars]\ndir = \"/tmp\"\n";

    /// The raw tree of the chunked path, if it took the document, and of the whole-document
    /// path with whether it found any problem.
    fn both(text: &str) -> (Option<String>, String, bool) {
        let file = SourceFile::new("p.toml", text);
        let chunked = decode(&file).map(|(raw, _)| format!("{raw:?}"));
        let (whole, clean) = match decode_whole(&file) {
            Ok((raw, cx)) => (format!("{raw:?}"), cx.diagnostics.is_empty()),
            Err(_) => (String::new(), false),
        };
        (chunked, whole, clean)
    }

    /// Taken only for a clean document, and then the same tree as the whole document's.
    fn agrees(text: &str) -> bool {
        let (chunked, whole, clean) = both(text);
        if let Some(chunked) = &chunked {
            assert!(clean, "chunked path took a document with problems:\n{text}");
            assert_eq!(chunked, &whole, "different trees for:\n{text}");
        }
        chunked.is_some()
    }

    fn step(i: usize) -> String {
        format!("\n[[steps]]\nid = \"s{i}\"\nrun = \"echo {i}\"\nneeds = [\"s0\"]\n")
    }

    #[test]
    fn cuts_at_top_level_headers() {
        let text = format!("{HEAD}{}{}", step(0), step(1));
        let cut = cut(&text).expect("plain");
        let second = text.rfind("[[steps]]").expect("two steps");
        let first = text.find("[[steps]]").expect("two steps");
        assert_eq!(cut.steps, vec![first..second, second..text.len()]);
        let vars = text.find("[vars]").expect("vars");
        assert_eq!(cut.rest, vec![0..vars, vars..first]);
        assert_eq!(cut.rest.first().map(|r| r.start), Some(0));
        assert_eq!(cut.rest.last().map(|r| r.end), Some(first));
    }

    // See: #18
    #[test]
    fn a_plain_document_is_decoded_step_by_step_into_the_same_tree() {
        let text = format!("{HEAD}{}{}{}", step(0), step(1), step(2));
        assert!(agrees(&text));
    }

    #[test]
    fn tricky_but_plain_documents_take_the_chunked_path() {
        let cases = [
            // A header inside a multi-line string, and in a comment.
            format!("{HEAD}{}run2 = 1\n", step(0)).replace("run2 = 1\n", ""),
            format!(
                "{HEAD}\n[[steps]]\nid = \"a\"\nrun = \"\"\"\n[[steps]]\nid = \"b\"\n\"\"\"\n# [[steps]]\n{}",
                step(1)
            ),
            format!(
                "{HEAD}\n[[steps]]\nid = \"a\"\nrun = '''\n[notify]\n'''\n{}",
                step(1)
            ),
            // An array over several lines with `[` first on a line.
            format!(
                "{HEAD}\n[[steps]]\nid = \"a\"\n[steps.http]\nurl = \"x\"\njson = [\n[1, \"a\"],\n]\n{}",
                step(1)
            ),
            format!(
                "{HEAD}\n[[steps]]\nid = \"a\"\nrun = \"x\"\nneeds = [\n  \"s0\",\n  \"s1\"\n]\n{}",
                step(1)
            ),
            // Subtables of a step.
            format!(
                "{HEAD}\n[[steps]]\nid = \"a\"\nrun = \"x\"\n[steps.env]\nA = \"1\"\n[[steps.verify]]\ncommand = \"true\"\n[[steps.verify]]\ncommand = \"false\"\n{}",
                step(1)
            ),
            format!(
                "{HEAD}\n[[steps]]\nid = \"a\"\nrun = \"x\"\n  [ steps . outputs ]\n  out = \"stdout\"\n{}",
                step(1)
            ),
            // Another table between and after the steps.
            format!(
                "{HEAD}{}\n[env]\nA = \"1\"\n{}\n[report]\n",
                step(0),
                step(1)
            ),
            // Inline tables, CRLF line ends, no final newline.
            format!(
                "{HEAD}\n[[steps]]\nid = \"a\"\nrun = \"x\"\noutputs = {{ out = \"stdout\" }}\n"
            )
            .replace('\n', "\r\n"),
            format!("{HEAD}{}", step(0)).trim_end().to_owned(),
        ];
        for text in &cases {
            assert!(agrees(text), "not taken:\n{text}");
        }
    }

    #[test]
    fn anything_unusual_or_wrong_is_left_to_the_whole_document() {
        let cases = [
            // `steps` outside `[[steps]]` tables.
            format!("steps = []\n{HEAD}"),
            format!("{HEAD}{}\n[env]\n[steps.env]\nA = \"1\"\n", step(0)),
            format!("{HEAD}\n[steps]\n{}", step(0)),
            format!("{HEAD}{}\n[\"steps\".env]\nA = \"1\"\n", step(0)),
            format!("{HEAD}\n[[\"steps\"]]\nid = \"a\"\nrun = \"x\"\n"),
            // Wrong TOML, wrong keys, wrong types, a table twice.
            format!("{HEAD}{}\n[[steps]]\nid = \"a\nrun = \"x\"\n", step(0)),
            format!(
                "{HEAD}{}\n[[steps]]\nid = \"a\"\nrun = \"x\"\nrnu = \"y\"\n",
                step(0)
            ),
            format!("{HEAD}{}\n[[steps]]\nid = 1\nrun = \"x\"\n", step(0)),
            format!("{HEAD}{}\n[vars]\nx = \"1\"\n", step(0)),
            format!("{HEAD}{}\n[[steps]]\nid = \"a\"\nid = \"b\"\n", step(0)),
            format!(
                "{HEAD}{}\n[[steps]]\nid = \"a\"\n[steps.env]\n[steps.env]\n",
                step(0)
            ),
            format!("{HEAD}\nx = [\n{}", step(0)),
            format!("{HEAD}\nx = ]\n{}", step(0)),
            format!("\u{feff}{HEAD}{}", step(0)),
            HEAD.to_owned(),
        ];
        for text in &cases {
            assert!(!agrees(text), "taken:\n{text}");
        }
    }

    /// Pieces a generated document is made of: the plain ones, and some that are not.
    const PIECES: &[&str] = &[
        "\n[[steps]]\nid = \"a\"\nrun = \"x\"\n",
        "\n[[steps]]\nid = \"b\"\nrun = \"\"\"\n[[steps]]\n[notify]\n\"\"\"\n",
        "\n[[steps]]\nid = \"c\"\n[steps.http]\nurl = 'y'\njson = [\n[1, \"a\"], # [[steps]]\n\"b\",\n]\n",
        "[steps.env]\nA = \"1\"\n",
        "[[steps.verify]]\ncommand = \"true\"\n",
        "  [steps.outputs]\nout = \"stdout\"\n",
        "# [[steps]]\n",
        "\n[env]\nB = \"2\"\n",
        "\n[report]\n",
        "\n[notify]\n",
        "\n[steps]\n",
        "steps = []\n",
        "x = 1\n",
        "rnu = \"z\"\n",
        "id = \"d\"\n",
        "\n[[steps]]\nid = \"e\nrun = \"x\"\n",
        "retries = \"3\"\n",
        "\n[[steps]]\nid = \"f\"\nrun = \"x\"\nenv = { C = \"3\" }\n",
        "\r\n",
        "\n[vars]\n",
        "v = \"\"\"\n",
        "\"\"\"\n",
        "\n[[checks]]\nid = \"h\"\ncommand = \"true\"\n",
    ];

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

        /// Whatever the document, the chunked path either leaves it to the whole-document path
        /// or gives the very tree that path gives, spans included.
        #[test]
        fn the_chunked_path_agrees_with_the_whole_document(
            picks in proptest::collection::vec(0..PIECES.len(), 0..12)
        ) {
            let mut text = HEAD.to_owned();
            for i in picks {
                text.push_str(PIECES[i]);
            }
            agrees(&text);
        }

        /// A document of plain steps and tables is always taken.
        #[test]
        fn plain_documents_are_taken(picks in proptest::collection::vec(0..9_usize, 0..12)) {
            let mut text = format!("{HEAD}{}", PIECES[0]);
            let mut after_table = false;
            let mut parts: Vec<usize> = Vec::new();
            for (n, i) in picks.into_iter().enumerate() {
                match i {
                    // A subtable belongs to a step, once per step.
                    3..=5 if after_table || parts.contains(&i) => continue,
                    0..=2 => {
                        after_table = false;
                        parts.clear();
                    }
                    // `[env]` and the like at most once.
                    7.. if text.contains(PIECES[i]) => continue,
                    7.. => after_table = true,
                    _ => {}
                }
                parts.push(i);
                text.push_str(&PIECES[i].replace("id = \"", &format!("id = \"{n}")));
            }
            proptest::prop_assert!(agrees(&text), "not taken:\n{}", text);
        }
    }
}
