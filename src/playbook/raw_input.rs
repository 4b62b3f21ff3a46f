//! The raw form of a manual step's `inputs`: `name = "time"` or `name = { type = "string", … }`.
//! Written out rather than declared with `toml_table!`, whose keys are Rust identifiers and so
//! cannot be `type`.

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use toml::Spanned;
use toml::de::DeValue;

use crate::playbook::decode::{Cx, Decode, Sp, Span, integer};

/// `"time"` or a table with `type` and its constraints.
#[derive(Debug, Clone)]
pub(crate) enum RawInput {
    Type(String),
    Table(Box<RawInputTable>),
}

/// The table form of an input.
#[derive(Debug, Clone, Default)]
pub(crate) struct RawInputTable {
    pub(crate) span: Span,
    pub(crate) kind: Option<Sp<String>>,
    pub(crate) pattern: Option<Sp<String>>,
    pub(crate) choices: Option<Sp<Vec<Sp<RawAnswer>>>>,
    pub(crate) default: Option<Sp<RawAnswer>>,
    pub(crate) description: Option<Sp<String>>,
    pub(crate) secret: Option<Sp<bool>>,
}

impl RawInputTable {
    /// Every key the table accepts, in the order the format documents them.
    pub(crate) const KEYS: &'static [&'static str] = &[
        "type",
        "pattern",
        "choices",
        "default",
        "description",
        "secret",
    ];
}

/// A choice or a default: one string, number or boolean, as the answer it stands for.
#[derive(Debug, Clone)]
pub(crate) struct RawAnswer(pub(crate) String);

impl Decode for RawAnswer {
    const EXPECTED: &'static str = "a string, number or boolean";

    fn decode(v: &Spanned<DeValue<'_>>, cx: &mut Cx<'_>) -> Option<Self> {
        match v.get_ref() {
            DeValue::String(s) => Some(Self(s.to_string())),
            DeValue::Integer(_) => integer(v.get_ref()).map(|n| Self(n.to_string())),
            DeValue::Float(x) => Some(Self(x.as_str().to_owned())),
            DeValue::Boolean(b) => Some(Self(b.to_string())),
            _ => {
                cx.wrong_type(
                    v,
                    Self::EXPECTED,
                    Some("an answer is one value, as it would be typed".to_owned()),
                );
                None
            }
        }
    }
}

impl Decode for RawInput {
    const EXPECTED: &'static str =
        "a type (\"string\", \"number\", \"bool\", \"time\") or a table with `type`";

    fn decode(v: &Spanned<DeValue<'_>>, cx: &mut Cx<'_>) -> Option<Self> {
        let table = match v.get_ref() {
            DeValue::String(s) => return Some(Self::Type(s.to_string())),
            DeValue::Table(table) => table,
            _ => {
                cx.wrong_type(v, Self::EXPECTED, None);
                return None;
            }
        };
        let mut out = RawInputTable {
            span: v.span(),
            ..RawInputTable::default()
        };
        cx.enter_table(v.span().start);
        for (key, value) in table {
            match key.get_ref().as_ref() {
                "type" => out.kind = cx.field("type", value),
                "pattern" => out.pattern = cx.field("pattern", value),
                "choices" => out.choices = cx.field("choices", value),
                "default" => out.default = cx.field("default", value),
                "description" => out.description = cx.field("description", value),
                "secret" => out.secret = cx.field("secret", value),
                other => cx.unknown_key(key.span(), other, RawInputTable::KEYS),
            }
        }
        cx.leave_table();
        Some(Self::Table(Box::new(out)))
    }
}

impl JsonSchema for RawInput {
    fn schema_name() -> Cow<'static, str> {
        "Input".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let kinds = json_schema!({
            "type": "string",
            "enum": ["string", "number", "bool", "time"],
            "description": "string, number, bool or time (RFC 3339)"
        });
        let value = json_schema!({ "type": ["string", "number", "boolean"] });
        json_schema!({ "oneOf": [
            kinds,
            {
                "type": "object",
                "description": "An input with constraints.",
                "additionalProperties": false,
                "required": ["type"],
                "properties": {
                    "type": kinds,
                    "pattern": { "type": "string", "description": "Regex the whole answer must match (anchor it with ^…$)." },
                    "choices": { "type": "array", "items": value, "description": "The answers allowed." },
                    "default": value,
                    "description": { "type": "string", "description": "Shown when the input is asked." },
                    "secret": { "type": "boolean", "description": "Masked everywhere and not echoed when typed." }
                }
            }
        ]})
    }
}
