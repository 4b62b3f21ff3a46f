//! Decoding the spanned TOML tree into the raw types of `raw.rs`, recording every unknown key
//! and wrong type as a diagnostic instead of stopping at the first one (serde derive would).

use std::collections::HashSet;
use std::fmt::Write as _;
use std::ops::Range;
use std::sync::Arc;

use indexmap::IndexMap;
use toml::Spanned;
use toml::de::DeValue;

use crate::playbook::diagnostic::{Diagnostic, SourceFile, Suggester, did_you_mean};
use crate::text::List;

pub(crate) type Span = Range<usize>;

/// A value and where it was written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Sp<T> {
    pub(crate) value: T,
    pub(crate) span: Span,
}

impl<T> Sp<T> {
    pub(crate) fn new(value: T, span: Span) -> Self {
        Self { value, span }
    }
}

/// One step of the path from the document root to the value being decoded.
#[derive(Debug, Clone)]
enum Segment {
    Key(String),
    /// An array element: its 0-based index and, for tables, the `id` it declares.
    Element(usize, Option<String>),
}

/// The decoding context: the file, the diagnostics found so far, and where we are.
pub(crate) struct Cx<'f> {
    file: &'f Arc<SourceFile>,
    pub(crate) diagnostics: Vec<Diagnostic>,
    path: Vec<Segment>,
    /// `(table span start, key)` of keys that were present but did not decode, so that
    /// validation does not also call them missing.
    broken: HashSet<(usize, String)>,
    tables: Vec<usize>,
    /// "Did you mean" over the playbook's own names, within one budget for the whole file.
    pub(crate) suggest: Suggester,
}

impl<'f> Cx<'f> {
    pub(crate) fn new(file: &'f Arc<SourceFile>) -> Self {
        Self {
            file,
            diagnostics: Vec::new(),
            path: Vec::new(),
            broken: HashSet::new(),
            tables: Vec::new(),
            suggest: Suggester::default(),
        }
    }

    pub(crate) fn file(&self) -> &'f Arc<SourceFile> {
        self.file
    }

    /// Whether `key` of the table starting at `table_start` was written but failed to decode.
    pub(crate) fn was_broken(&self, table_start: usize, key: &str) -> bool {
        self.broken.contains(&(table_start, key.to_owned()))
    }

    /// Decodes the value of `key` in the current table.
    pub(crate) fn field<T: Decode>(
        &mut self,
        key: &str,
        v: &Spanned<DeValue<'_>>,
    ) -> Option<Sp<T>> {
        self.path.push(Segment::Key(key.to_owned()));
        let out = T::decode(v, self).map(|value| Sp::new(value, v.span()));
        self.path.pop();
        if out.is_none()
            && let Some(&table) = self.tables.last()
        {
            self.broken.insert((table, key.to_owned()));
        }
        out
    }

    /// Decodes element `i` of the array `key` of the current table, alone: what decoding the
    /// whole array does for that element (the chunked path of `chunks.rs` decodes one
    /// `[[steps]]` table at a time).
    pub(crate) fn element<T: Decode>(
        &mut self,
        key: &str,
        i: usize,
        item: &Spanned<DeValue<'_>>,
    ) -> Option<Sp<T>> {
        self.path.push(Segment::Key(key.to_owned()));
        self.path.push(Segment::Element(i, id_of(item)));
        let out = T::decode(item, self).map(|value| Sp::new(value, item.span()));
        self.path.pop();
        self.path.pop();
        out
    }

    pub(crate) fn enter_table(&mut self, start: usize) {
        self.tables.push(start);
    }

    pub(crate) fn leave_table(&mut self) {
        self.tables.pop();
    }

    pub(crate) fn unknown_key(&mut self, span: Span, key: &str, allowed: &[&str]) {
        let location = self.location(&self.path);
        let mut message = if location.is_empty() {
            format!("unknown top-level key `{key}`")
        } else {
            format!("unknown key `{key}` {location}")
        };
        let help = match did_you_mean(key, allowed.iter().copied()) {
            Some(close) => {
                let _ = write!(message, ", did you mean `{close}`?");
                format!("rename it to `{close}`")
            }
            None => format!(
                "remove it; the keys allowed here are {}",
                List::ticked(allowed)
            ),
        };
        self.diagnostics
            .push(Diagnostic::error(self.file, span, message).with_help(help));
    }

    /// Reports a value of the wrong type at the current path.
    pub(crate) fn wrong_type(
        &mut self,
        v: &Spanned<DeValue<'_>>,
        expected: &str,
        hint: Option<String>,
    ) {
        let (what, location) = self.describe();
        let message = format!(
            "wrong type for {what}{location}: expected {expected}, found {}",
            found(v.get_ref())
        );
        let help = hint.unwrap_or_else(|| format!("write {expected}"));
        self.diagnostics
            .push(Diagnostic::error(self.file, v.span(), message).with_help(help));
    }

    /// What is being decoded and where, e.g. ("`timeout`", " in step `restore`").
    pub(crate) fn describe(&self) -> (String, String) {
        let mut path = self.path.clone();
        let what = match path.pop() {
            Some(Segment::Key(k)) => format!("`{k}`"),
            Some(Segment::Element(i, _)) => {
                let parent = match path.last() {
                    Some(Segment::Key(k)) => k.clone(),
                    _ => "array".to_owned(),
                };
                path.pop();
                format!("element {} of `{parent}`", i + 1)
            }
            None => "the document".to_owned(),
        };
        let location = self.location(&path);
        (
            what,
            if location.is_empty() {
                String::new()
            } else {
                format!(" {location}")
            },
        )
    }

    /// Where a path points, in words ("in step \`restore\`", "in [notify.slack]"), or nothing
    /// at the top level.
    fn location(&self, path: &[Segment]) -> String {
        let _ = self;
        let keys = |segments: &[Segment]| {
            segments
                .iter()
                .map(|s| match s {
                    Segment::Key(k) => k.clone(),
                    Segment::Element(i, _) => format!("#{}", i + 1),
                })
                .collect::<Vec<_>>()
                .join(".")
        };
        match path {
            [] => String::new(),
            [Segment::Key(list), Segment::Element(i, id), rest @ ..]
                if list == "steps" || list == "checks" =>
            {
                let noun = if list == "steps" { "step" } else { "check" };
                let name = id
                    .as_ref()
                    .map_or_else(|| format!("#{}", i + 1), |id| format!("`{id}`"));
                if rest.is_empty() {
                    format!("in {noun} {name}")
                } else {
                    format!("in `{}` of {noun} {name}", keys(rest))
                }
            }
            _ if path.iter().all(|s| matches!(s, Segment::Key(_))) => {
                format!("in [{}]", keys(path))
            }
            _ => format!("in `{}`", keys(path)),
        }
    }
}

/// The `id` an array's table declares, which names it in messages.
fn id_of(item: &Spanned<DeValue<'_>>) -> Option<String> {
    match item.get_ref() {
        DeValue::Table(t) => t
            .get("id")
            .and_then(|id| id.get_ref().as_str())
            .map(str::to_owned),
        _ => None,
    }
}

/// How a found value is named in "expected X, found Y".
fn found(v: &DeValue<'_>) -> String {
    match v {
        DeValue::String(s) => format!("string {s:?}"),
        DeValue::Integer(i) => format!("integer `{}`", i.as_str()),
        DeValue::Float(x) => format!("float `{}`", x.as_str()),
        DeValue::Boolean(b) => format!("boolean `{b}`"),
        DeValue::Datetime(d) => format!("datetime `{d}`"),
        DeValue::Array(_) => "an array".to_owned(),
        DeValue::Table(_) => "a table".to_owned(),
    }
}

/// A type that can be read out of the spanned TOML tree.
pub(crate) trait Decode: Sized {
    /// What a value of this type looks like, for "expected …".
    const EXPECTED: &'static str;

    fn decode(v: &Spanned<DeValue<'_>>, cx: &mut Cx<'_>) -> Option<Self>;
}

impl Decode for String {
    const EXPECTED: &'static str = "a string";

    fn decode(v: &Spanned<DeValue<'_>>, cx: &mut Cx<'_>) -> Option<Self> {
        if let DeValue::String(s) = v.get_ref() {
            return Some(s.to_string());
        }
        let hint = match v.get_ref() {
            DeValue::Integer(i) => Some(format!("quote it: \"{}\"", i.as_str())),
            DeValue::Float(x) => Some(format!("quote it: \"{}\"", x.as_str())),
            DeValue::Boolean(b) => Some(format!("quote it: \"{b}\"")),
            _ => None,
        };
        cx.wrong_type(v, Self::EXPECTED, hint);
        None
    }
}

impl Decode for bool {
    const EXPECTED: &'static str = "a boolean (`true` or `false`)";

    fn decode(v: &Spanned<DeValue<'_>>, cx: &mut Cx<'_>) -> Option<Self> {
        if let DeValue::Boolean(b) = v.get_ref() {
            return Some(*b);
        }
        let hint = match v.get_ref() {
            DeValue::String(s) if s == "true" || s == "false" => {
                Some(format!("remove the quotes: {s}"))
            }
            _ => None,
        };
        cx.wrong_type(v, Self::EXPECTED, hint);
        None
    }
}

pub(crate) fn integer(v: &DeValue<'_>) -> Option<i64> {
    let DeValue::Integer(i) = v else { return None };
    i64::from_str_radix(&i.as_str().replace('_', ""), i.radix()).ok()
}

impl Decode for i64 {
    const EXPECTED: &'static str = "an integer";

    fn decode(v: &Spanned<DeValue<'_>>, cx: &mut Cx<'_>) -> Option<Self> {
        if let Some(n) = integer(v.get_ref()) {
            return Some(n);
        }
        let hint = match v.get_ref() {
            DeValue::String(s) if s.trim().parse::<i64>().is_ok() => {
                Some(format!("remove the quotes: {}", s.trim()))
            }
            _ => None,
        };
        cx.wrong_type(v, Self::EXPECTED, hint);
        None
    }
}

impl Decode for f64 {
    const EXPECTED: &'static str = "a number";

    fn decode(v: &Spanned<DeValue<'_>>, cx: &mut Cx<'_>) -> Option<Self> {
        match v.get_ref() {
            DeValue::Float(x) => x.as_str().replace('_', "").parse().ok(),
            #[expect(clippy::cast_precision_loss, reason = "a backoff factor")]
            d @ DeValue::Integer(_) => integer(d).map(|n| n as f64),
            _ => {
                cx.wrong_type(v, Self::EXPECTED, None);
                None
            }
        }
    }
}

impl<T: Decode> Decode for Vec<Sp<T>> {
    const EXPECTED: &'static str = "an array";

    fn decode(v: &Spanned<DeValue<'_>>, cx: &mut Cx<'_>) -> Option<Self> {
        let DeValue::Array(items) = v.get_ref() else {
            let (what, _) = cx.describe();
            let key = what.trim_matches('`');
            let header = cx
                .file()
                .text
                .get(v.span())
                .is_some_and(|t| t.starts_with('['));
            let hint = match v.get_ref() {
                DeValue::String(s) => Some(format!("put it in brackets: [{s:?}]")),
                // `[steps]` for `[[steps]]`: the commonest slip with arrays of tables.
                DeValue::Table(_) if header => Some(format!(
                    "an array of tables takes double brackets: write [[{key}]], once per entry"
                )),
                DeValue::Table(_) => {
                    Some(format!("put the table in brackets: {key} = [{{ ... }}]"))
                }
                _ => None,
            };
            cx.wrong_type(v, Self::EXPECTED, hint);
            return None;
        };
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            cx.path.push(Segment::Element(i, id_of(item)));
            if let Some(value) = T::decode(item, cx) {
                out.push(Sp::new(value, item.span()));
            }
            cx.path.pop();
        }
        Some(out)
    }
}

impl<T: Decode> Decode for IndexMap<String, Sp<T>> {
    const EXPECTED: &'static str = "a table";

    fn decode(v: &Spanned<DeValue<'_>>, cx: &mut Cx<'_>) -> Option<Self> {
        let DeValue::Table(t) = v.get_ref() else {
            cx.wrong_type(v, Self::EXPECTED, None);
            return None;
        };
        let mut out = IndexMap::with_capacity(t.len());
        for (k, item) in t {
            cx.path.push(Segment::Key(k.get_ref().to_string()));
            if let Some(value) = T::decode(item, cx) {
                out.insert(k.get_ref().to_string(), Sp::new(value, item.span()));
            }
            cx.path.pop();
        }
        Some(out)
    }
}

/// Any TOML value, as JSON (for `equals` and `json` bodies).
impl Decode for serde_json::Value {
    const EXPECTED: &'static str = "a value";

    fn decode(v: &Spanned<DeValue<'_>>, _cx: &mut Cx<'_>) -> Option<Self> {
        Some(to_json(v.get_ref()))
    }
}

pub(crate) fn to_json(v: &DeValue<'_>) -> serde_json::Value {
    use serde_json::Value;
    match v {
        DeValue::String(s) => Value::String(s.to_string()),
        DeValue::Integer(_) => integer(v).map_or(Value::Null, Value::from),
        DeValue::Float(x) => x.as_str().parse::<f64>().map_or(Value::Null, Value::from),
        DeValue::Boolean(b) => Value::Bool(*b),
        DeValue::Datetime(d) => Value::String(d.to_string()),
        DeValue::Array(a) => Value::Array(a.iter().map(|x| to_json(x.get_ref())).collect()),
        DeValue::Table(t) => Value::Object(
            t.iter()
                .map(|(k, x)| (k.get_ref().to_string(), to_json(x.get_ref())))
                .collect(),
        ),
    }
}

/// Declares a TOML table once: the raw struct (whose doc comments become the JSON Schema's
/// descriptions), its list of keys, and a decoder that reports unknown keys with "did you mean".
macro_rules! toml_table {
    (
        $(#[$meta:meta])*
        $name:ident {
            $( $(#[$fmeta:meta])* $field:ident : $ty:ty ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, schemars::JsonSchema)]
        #[schemars(deny_unknown_fields)]
        pub(crate) struct $name {
            /// Where the table is written: its `[header]` or its opening `{`.
            #[schemars(skip)]
            #[allow(dead_code, reason = "read for some tables only, all declared by this macro")]
            pub(crate) span: $crate::playbook::decode::Span,
            $( $(#[$fmeta])* pub(crate) $field: Option<Box<$crate::playbook::decode::Sp<$ty>>>, )*
        }

        impl $name {
            /// Every key this table accepts, in the order the format documents them.
            pub(crate) const KEYS: &'static [&'static str] = &[$(stringify!($field)),*];
        }

        impl $crate::playbook::decode::Decode for $name {
            const EXPECTED: &'static str = "a table";

            fn decode(
                v: &toml::Spanned<toml::de::DeValue<'_>>,
                cx: &mut $crate::playbook::decode::Cx<'_>,
            ) -> Option<Self> {
                let toml::de::DeValue::Table(table) = v.get_ref() else {
                    cx.wrong_type(v, Self::EXPECTED, None);
                    return None;
                };
                let mut out = Self { span: v.span(), ..Self::default() };
                cx.enter_table(v.span().start);
                for (key, value) in table {
                    match key.get_ref().as_ref() {
                        $( stringify!($field) => out.$field = cx.field(stringify!($field), value).map(Box::new), )*
                        other => cx.unknown_key(key.span(), other, Self::KEYS),
                    }
                }
                cx.leave_table();
                Some(out)
            }
        }
    };
}

pub(crate) use toml_table;

/// A schema that delegates to `T`: the span is not part of the format.
impl<T: schemars::JsonSchema> schemars::JsonSchema for Sp<T> {
    fn inline_schema() -> bool {
        T::inline_schema()
    }

    fn schema_name() -> std::borrow::Cow<'static, str> {
        T::schema_name()
    }

    fn schema_id() -> std::borrow::Cow<'static, str> {
        T::schema_id()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        T::json_schema(generator)
    }
}
