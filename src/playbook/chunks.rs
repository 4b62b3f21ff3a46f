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

use crate::playbook::decode::{Cx, Decode, Sp, Span};
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
    /// By step: its `id`, where the lexer's tokens show a plain `id = "…"` line before the
    /// step's subtables (its span is the string's, quotes included).
    ids: Vec<Option<Sp<String>>>,
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

/// A plain document's `[[steps]]` tables, not decoded yet: the lean path of `validate` decodes
/// each one when it builds its model step, so that the raw steps never all exist at once (#18).
pub(crate) struct StepChunks {
    ranges: Vec<Range<usize>>,
    /// By step: its `id` as the lexer saw it (see [`Cut`]), which its decoding must confirm.
    pub(crate) ids: Vec<Option<Sp<String>>>,
    /// Where [`StepChunks::take_ids`] took them from: what is left of `ids` for the decoding
    /// to confirm.
    spans: Vec<Option<Span>>,
}

impl StepChunks {
    /// The ids read off the steps' lines, by step, for the first pass to own: the steps keep
    /// only where each was read, which [`StepChunks::confirms`] checks. Three copies of every
    /// id (here, the first pass's, the model's) were at validation's peak (#18).
    pub(crate) fn take_ids(&mut self) -> Vec<Option<String>> {
        let ids = std::mem::take(&mut self.ids);
        let mut names = Vec::with_capacity(ids.len());
        self.spans = Vec::with_capacity(ids.len());
        for id in ids {
            let (name, span) = id.map(|Sp { value, span }| (value, span)).unzip();
            names.push(name);
            self.spans.push(span);
        }
        names
    }

    /// Whether step `i` decoded with the id its line showed: `name`, taken by
    /// [`StepChunks::take_ids`], where the lexer read it.
    pub(crate) fn confirms(
        &self,
        i: usize,
        decoded: Option<&Sp<String>>,
        name: Option<&str>,
    ) -> bool {
        match (decoded, self.spans.get(i).cloned().flatten(), name) {
            (Some(d), Some(span), Some(name)) => d.span == span && d.value == name,
            _ => false,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.ranges.len()
    }

    /// Step `i` decoded as element `i` of the whole `steps` array decodes, with the span of
    /// that array; `None` when its chunk is not one plain step table or anything in it is
    /// wrong (a diagnostic, which stays in `cx`).
    pub(crate) fn decode(&self, i: usize, cx: &mut Cx<'_>) -> Option<(Sp<RawStep>, Range<usize>)> {
        let r = self.ranges.get(i)?.clone();
        let text = cx.file().text.as_str();
        let before = cx.diagnostics.len();
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
        let item = shift(item, r.start);
        cx.enter_table(0);
        let step = cx.element::<RawStep>("steps", i, &item);
        cx.leave_table();
        let first = self.ranges.first()?.start;
        step.filter(|_| cx.diagnostics.len() == before)
            .map(|step| (step, first + list_span.start..first + list_span.end))
    }
}

/// The text outside the steps decoded, and the steps cut but not decoded, or `None` when the
/// document is not of the plain shape or anything outside the steps is wrong (the caller then
/// decodes the whole document).
pub(crate) fn open(file: &Arc<SourceFile>) -> Option<(RawPlaybook, Cx<'_>, StepChunks)> {
    let text = file.text.as_str();
    let cut = cut(text)?;
    cut.steps.first()?;
    let mut cx = Cx::new(file);
    let raw = {
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
    let chunks = StepChunks {
        ranges: cut.steps,
        ids: cut.ids,
        spans: Vec::new(),
    };
    Some((raw, cx, chunks))
}

/// The raw playbook decoded chunk by chunk, or `None` when the document is not of the plain
/// shape or anything in it is wrong (the caller then decodes the whole document). What the
/// lean path does step by step, whole: the tests hold it to the whole document's tree.
#[cfg(test)]
pub(crate) fn decode(file: &Arc<SourceFile>) -> Option<(RawPlaybook, Cx<'_>)> {
    let (mut raw, mut cx, chunks) = open(file)?;
    decode_all(&mut raw, &mut cx, &chunks)?;
    Some((raw, cx))
}

/// Every step of `chunks` decoded into `raw.steps`; `None` if any is not.
pub(crate) fn decode_all(
    raw: &mut RawPlaybook,
    cx: &mut Cx<'_>,
    chunks: &StepChunks,
) -> Option<()> {
    let mut steps = Vec::with_capacity(chunks.len());
    let mut span = None;
    for i in 0..chunks.len() {
        let (step, list_span) = chunks.decode(i, cx)?;
        span.get_or_insert(list_span);
        steps.push(step);
    }
    raw.steps = Some(Box::new(Sp::new(steps, span?)));
    Some(())
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

/// After a top-level `[`, the rest of its header: what it opens; `None` for a header that is not
/// on one line or does not close.
fn header(
    tokens: &mut std::iter::Peekable<impl Iterator<Item = toml_parser::lexer::Token>>,
    text: &str,
) -> Option<Header> {
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
    Some(if !plain {
        Header::Other
    } else if array && key == "steps" {
        Header::Step
    } else if key.starts_with("steps.") {
        Header::StepPart
    } else {
        Header::Other
    })
}

/// After a step's `id` key, the rest of an `id = "…"` or `id = '…'` line with no escape: the id
/// as written, its span the string's. Anything else is left to the step's decoding (a second
/// `id` is a TOML error there).
fn plain_id(
    tokens: &mut std::iter::Peekable<impl Iterator<Item = toml_parser::lexer::Token>>,
    text: &str,
) -> Option<Sp<String>> {
    while tokens
        .next_if(|t| t.kind() == TokenKind::Whitespace)
        .is_some()
    {}
    tokens.next_if(|t| t.kind() == TokenKind::Equals)?;
    while tokens
        .next_if(|t| t.kind() == TokenKind::Whitespace)
        .is_some()
    {}
    let t = tokens
        .next_if(|t| matches!(t.kind(), TokenKind::BasicString | TokenKind::LiteralString))?;
    let (start, end) = (t.span().start(), t.span().end());
    let written = &text[start..end];
    let quote = written.get(..1)?;
    let inner = written.get(1..written.len().saturating_sub(1))?;
    (written.len() >= 2 && written.ends_with(quote) && !inner.contains(['\\', '"', '\'']))
        .then(|| Sp::new(inner.to_owned(), start..end))
}

/// Cuts the document at its top-level headers, or `None` when it is not of the plain shape: a
/// byte-order mark, a header over several lines, `[steps.KEY]` outside a step, brackets that do
/// not balance.
fn cut(text: &str) -> Option<Cut> {
    if text.starts_with('\u{feff}') {
        return None;
    }
    let mut headers: Vec<(usize, Header)> = Vec::new();
    let mut ids: Vec<Option<Sp<String>>> = Vec::new();
    // In a `[[steps]]` table, before any of its subtables: where its `id` line is.
    let mut step_top = false;
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
            TokenKind::Atom
                if depth == 0
                    && line_start
                    && step_top
                    && &text[span.start()..span.end()] == "id" =>
            {
                let value = plain_id(&mut tokens, text);
                if let Some(last) = ids.last_mut() {
                    *last = if last.is_none() { value } else { None };
                }
                line_start = false;
                continue;
            }
            TokenKind::LeftSquareBracket if depth == 0 && line_start => {
                let header = header(&mut tokens, text)?;
                step_top = header == Header::Step;
                if step_top {
                    ids.push(None);
                }
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
    let mut cut = Cut {
        ids,
        ..Cut::default()
    };
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

    /// Taken only for a clean document, and then the same tree as the whole document's; and
    /// each id read off a step's line is the one its table decodes to.
    fn agrees(text: &str) -> bool {
        let file = SourceFile::new("p.toml", text);
        if let (Some(cut), Some((raw, _))) = (cut(text), decode(&file)) {
            let decoded = raw.steps.as_ref().map(|s| &s.value[..]).unwrap_or_default();
            for (lexed, step) in cut.ids.iter().zip(decoded) {
                if let Some(lexed) = lexed {
                    assert_eq!(step.value.id.as_deref(), Some(lexed), "{text}");
                }
            }
        }
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
        let ids: Vec<_> = cut
            .ids
            .iter()
            .map(|i| {
                i.as_ref()
                    .map(|s| (s.value.as_str(), &text[s.span.clone()]))
            })
            .collect();
        assert_eq!(ids, [Some(("s0", "\"s0\"")), Some(("s1", "\"s1\""))]);
    }

    // See: #18
    #[test]
    fn a_steps_id_is_read_off_its_line_only_when_it_is_plain() {
        let ids = |body: &str| {
            let text = format!("{HEAD}\n[[steps]]\n{body}\nrun = \"x\"\n");
            let cut = cut(&text).expect("plain");
            cut.ids[0]
                .as_ref()
                .map(|s| (s.value.clone(), text[s.span.clone()].to_owned()))
        };
        let plain = |id: &str, written: &str| Some((id.to_owned(), written.to_owned()));
        assert_eq!(ids("id = \"a\""), plain("a", "\"a\""));
        assert_eq!(ids("id='b'"), plain("b", "'b'"));
        assert_eq!(ids("  id  =  \"c\" # the id"), plain("c", "\"c\""));
        assert_eq!(ids("title = \"t\"\nid = \"d\""), plain("d", "\"d\""));
        // Left to the step's decoding: a quoted or dotted key, an escape, a multi-line string,
        // a second `id`, an `id` in a subtable.
        assert_eq!(ids("\"id\" = \"e\""), None);
        assert_eq!(ids("id.x = \"f\""), None);
        assert_eq!(ids("id = \"g\\u0041\""), None);
        assert_eq!(ids("id = \"\"\"h\"\"\""), None);
        assert_eq!(ids("id = \"i\"\nid = \"j\""), None);
        assert_eq!(ids("[steps.http]\nid = \"k\""), None);
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
