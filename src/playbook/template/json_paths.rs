//! `{{PATH}}` of an array or a table written `{{json PATH}}` before a template is rendered.
//!
//! A scan, not a regular expression: compiling the one this replaced (Unicode classes) was a
//! tenth of the CPU time of a run of one step (#18). It rewrites each match of
//! `\{\{\s*([A-Za-z_][A-Za-z0-9_.-]*)\s*\}\}` that does not follow a `{` (a triple-stash
//! `{{{PATH}}}` is left alone), which a property test holds it to. The regex it replaced took the
//! character before `{{` into its match, so a path right after another (`{{a}}{{list}}`) was
//! never rewritten and rendered as `[x, y]`.

use std::borrow::Cow;

use serde_json::Value;

/// The source with each `{{PATH}}` whose value in `context` is an array or a table written
/// `{{json PATH}}`: such a value renders as JSON (`["n8n","veritas"]`), where Handlebars
/// would write `[n8n, veritas]` or `[object]`.
pub(super) fn json_paths<'s>(source: &'s str, context: &Value) -> Cow<'s, str> {
    let mut out: Option<String> = None;
    // Where the text not yet copied to `out` starts, and where to look for `{{` next.
    let mut copied = 0;
    let mut from = 0;
    while let Some(found) = source[from..].find("{{") {
        let open = from + found;
        from = open + 1;
        if source[..open].ends_with('{') {
            continue;
        }
        let Some((path, end)) = path_in_braces(source, open) else {
            continue;
        };
        from = end;
        if structured(context, path) {
            let out = out.get_or_insert_with(|| String::with_capacity(source.len() + 16));
            out.push_str(&source[copied..open]);
            out.push_str("{{json ");
            out.push_str(path);
            out.push_str("}}");
            copied = end;
        }
    }
    match out {
        None => Cow::Borrowed(source),
        Some(mut out) => {
            out.push_str(&source[copied..]);
            Cow::Owned(out)
        }
    }
}

/// For `{{` at `open`: the path of `{{ PATH }}` (spaces optional) and where the match ends.
fn path_in_braces(source: &str, open: usize) -> Option<(&str, usize)> {
    let rest = &source[open + 2..];
    let inner = rest.trim_start_matches(char::is_whitespace);
    let mut chars = inner.char_indices();
    match chars.next() {
        Some((_, c)) if c.is_ascii_alphabetic() || c == '_' => {}
        _ => return None,
    }
    let len = chars
        .find(|&(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
        .map_or(inner.len(), |(i, _)| i);
    let path = &inner[..len];
    let after = inner[len..].trim_start_matches(char::is_whitespace);
    after
        .starts_with("}}")
        .then(|| (path, source.len() - after.len() + 2))
}

/// Whether `path` names an array or a table in `context`.
fn structured(context: &Value, path: &str) -> bool {
    let mut at = context;
    for segment in path.split('.') {
        let next = match at {
            Value::Object(map) => map.get(segment),
            Value::Array(items) => segment.parse::<usize>().ok().and_then(|i| items.get(i)),
            _ => None,
        };
        let Some(next) = next else { return false };
        at = next;
    }
    matches!(at, Value::Array(_) | Value::Object(_))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The rewrite as a regex says it, the reference the scan is held to.
    fn by_regex<'s>(source: &'s str, context: &Value) -> Cow<'s, str> {
        let re =
            regex::Regex::new(r"\{\{\s*([A-Za-z_][A-Za-z0-9_.-]*)\s*\}\}").expect("a valid regex");
        re.replace_all(source, |c: &regex::Captures<'_>| {
            let whole = c.get(0).expect("the match");
            let path = &c[1];
            if !source[..whole.start()].ends_with('{') && structured(context, path) {
                format!("{{{{json {path}}}}}")
            } else {
                whole.as_str().to_owned()
            }
        })
    }

    fn context() -> Value {
        json!({
            "vars": { "dbs": ["a", "b"], "name": "x", "t": { "k": 1 }, "db-list": ["c"] },
            "steps": { "s": { "outputs": { "list": [1, 2], "v": "1" } } },
            "_t": { "k": 2 },
        })
    }

    #[test]
    fn a_list_or_a_table_is_written_as_json_and_the_rest_is_kept() {
        let c = context();
        for (source, expected) in [
            ("{{vars.dbs}}", "{{json vars.dbs}}"),
            ("for {{ vars.dbs }}!", "for {{json vars.dbs}}!"),
            ("{{vars.name}} {{vars.t}}", "{{vars.name}} {{json vars.t}}"),
            ("{{{vars.dbs}}}", "{{{vars.dbs}}}"),
            ("{{quote vars.dbs}}", "{{quote vars.dbs}}"),
            (
                "é{{steps.s.outputs.list}}",
                "é{{json steps.s.outputs.list}}",
            ),
            ("{{vars.dbs}}{{vars.t}}", "{{json vars.dbs}}{{json vars.t}}"),
            (
                "{{vars.name}}{{vars.dbs}}",
                "{{vars.name}}{{json vars.dbs}}",
            ),
            ("{{vars.db-list}}", "{{json vars.db-list}}"),
            ("{{vars.dbs", "{{vars.dbs"),
            ("", ""),
        ] {
            assert_eq!(json_paths(source, &c), expected, "{source}");
            assert_eq!(by_regex(source, &c), expected, "the regex, {source}");
        }
        assert!(matches!(json_paths("{{vars.name}}", &c), Cow::Borrowed(_)));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

        #[test]
        fn the_scan_rewrites_what_the_regex_did(
            source in r"([{} \t\u{a0}é._\-a-z0-9]|vars\.dbs|vars\.db-list|_t|vars\.t|vars\.name|steps\.s\.outputs\.list|\{\{|\}\}){0,40}"
        ) {
            let c = context();
            proptest::prop_assert_eq!(json_paths(&source, &c), by_regex(&source, &c));
        }
    }
}
