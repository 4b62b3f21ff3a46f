//! The helpers runbook adds to Handlebars' own: `quote` (POSIX shell quoting), `now`,
//! `default`, and the value helpers `contains`, `json` and `len`, usable inline, as blocks and
//! as subexpressions.

use handlebars::{
    Context, Handlebars, Helper, HelperDef, HelperResult, JsonTruthy, Output, RenderContext,
    RenderError, RenderErrorReason, Renderable, ScopedJson,
};
use serde_json::Value;

/// Registers our helpers: `quote`, `now`, `default`, `contains`, `json` and `len`.
pub(super) fn register(registry: &mut Handlebars<'static>) {
    registry.register_helper("quote", Box::new(quote_helper));
    registry.register_helper("now", Box::new(now_helper));
    registry.register_helper("default", Box::new(default_helper));
    registry.register_helper("contains", Box::new(ValueHelper(contains)));
    registry.register_helper("json", Box::new(ValueHelper(json)));
    registry.register_helper("len", Box::new(ValueHelper(len)));
}

/// POSIX shell quoting: safe words stay as they are, anything else is single-quoted.
#[must_use]
pub fn shell_quote(s: &str) -> String {
    let safe = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_@%+=:,./-".contains(&b));
    if safe {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Parameter `index` of helper `name`; a missing value is an error, as in strict mode anywhere.
fn param<'a>(
    h: &'a Helper<'_>,
    index: usize,
    name: &'static str,
) -> Result<&'a Value, RenderError> {
    let param = h
        .param(index)
        .ok_or_else(|| RenderError::from(RenderErrorReason::ParamNotFoundForIndex(name, index)))?;
    if param.is_value_missing() {
        return Err(RenderError::strict_error(param.relative_path()));
    }
    Ok(param.value())
}

fn param_text(h: &Helper<'_>, index: usize, name: &'static str) -> Result<String, RenderError> {
    Ok(text(param(h, index, name)?))
}

/// A value as template text: strings as they are, `null` as nothing, the rest as JSON.
fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A helper that computes a value: rendered where it is written, and handed on as that value
/// (a boolean, a number) when it is a subexpression, as in `{{#if (contains vars.a "x")}}`.
struct ValueHelper(fn(&Helper<'_>) -> Result<Value, RenderError>);

impl HelperDef for ValueHelper {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        (self.0)(h).map(ScopedJson::Derived)
    }

    /// Inline, the value as text; as a block (`{{#contains a "x"}}…{{else}}…{{/contains}}`),
    /// the first part when the value is true, like Handlebars' own `eq`.
    fn call<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        r: &'reg Handlebars<'reg>,
        ctx: &'rc Context,
        rc: &mut RenderContext<'reg, 'rc>,
        out: &mut dyn Output,
    ) -> HelperResult {
        let value = (self.0)(h)?;
        if !h.is_block() {
            out.write(&text(&value))?;
            return Ok(());
        }
        let part = if value.is_truthy(false) {
            h.template()
        } else {
            h.inverse()
        };
        part.map_or(Ok(()), |t| t.render(r, ctx, rc, out))
    }
}

fn helper_error(message: String) -> RenderError {
    RenderError::from(RenderErrorReason::Other(message))
}

/// What a value is, for "takes a string or an array, not …".
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "a table",
    }
}

/// `contains HAYSTACK NEEDLE`: a substring of a string, an element of an array (a number and
/// its text are the same element, as `--var` gives text), a key of a table. Nothing is in `null`,
/// and `null` is in nothing.
fn contains(h: &Helper<'_>) -> Result<Value, RenderError> {
    let haystack = param(h, 0, "contains")?;
    let needle = param(h, 1, "contains")?;
    let scalar = |v: &Value| !matches!(v, Value::Array(_) | Value::Object(_));
    let found = match haystack {
        // Nothing is in `null`, and `null` (an unset `run.env`) is in nothing.
        _ if haystack.is_null() || needle.is_null() => false,
        Value::String(s) if scalar(needle) => s.contains(&text(needle)),
        Value::Array(items) => items.iter().any(|item| {
            item == needle
                || (scalar(item) && scalar(needle) && text(item) == text(needle) && !item.is_null())
        }),
        Value::Object(map) if scalar(needle) => map.contains_key(&text(needle)),
        Value::String(_) | Value::Object(_) => {
            return Err(helper_error(format!(
                "`contains` looks for a string or a number in {}, not for {}",
                kind(haystack),
                kind(needle)
            )));
        }
        other => {
            return Err(helper_error(format!(
                "`contains` looks in a string or an array, not in {}",
                kind(other)
            )));
        }
    };
    Ok(Value::Bool(found))
}

/// `json VALUE`: the value as JSON text (`"a"`, `3`, `["x","y"]`).
fn json(h: &Helper<'_>) -> Result<Value, RenderError> {
    let value = param(h, 0, "json")?;
    Ok(Value::String(value.to_string()))
}

/// `len VALUE`: the characters of a string, the elements of an array, the keys of a table.
fn len(h: &Helper<'_>) -> Result<Value, RenderError> {
    let count = match param(h, 0, "len")? {
        Value::String(s) => s.chars().count(),
        Value::Array(items) => items.len(),
        Value::Object(map) => map.len(),
        Value::Null => 0,
        other => {
            return Err(helper_error(format!(
                "`len` counts a string or an array, not {}",
                kind(other)
            )));
        }
    };
    Ok(Value::from(count))
}

fn quote_helper(
    h: &Helper<'_>,
    _: &Handlebars<'_>,
    _: &Context,
    _: &mut RenderContext<'_, '_>,
    out: &mut dyn Output,
) -> HelperResult {
    let text = param_text(h, 0, "quote")?;
    out.write(&shell_quote(&text))?;
    Ok(())
}

fn now_helper(
    h: &Helper<'_>,
    _: &Handlebars<'_>,
    _: &Context,
    _: &mut RenderContext<'_, '_>,
    out: &mut dyn Output,
) -> HelperResult {
    let now = chrono::Utc::now();
    let text = match h
        .param(0)
        .and_then(|p| p.value().as_str().map(str::to_owned))
    {
        Some(format) => {
            check_time_format(&format)
                .map_err(|e| RenderError::from(RenderErrorReason::Other(e)))?;
            now.format(&format).to_string()
        }
        None => now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    };
    out.write(&text)?;
    Ok(())
}

/// Checks a chrono format string, so that a bad one is a validation error, not a panic.
pub fn check_time_format(format: &str) -> Result<(), String> {
    use chrono::format::{Item, StrftimeItems};
    if StrftimeItems::new(format).any(|item| matches!(item, Item::Error)) {
        Err(format!("invalid time format {format:?} for `now`"))
    } else {
        Ok(())
    }
}

fn default_helper(
    h: &Helper<'_>,
    _: &Handlebars<'_>,
    _: &Context,
    _: &mut RenderContext<'_, '_>,
    out: &mut dyn Output,
) -> HelperResult {
    let value = h
        .param(0)
        .filter(|p| !p.is_value_missing())
        .map(|p| p.value().clone());
    let text = match value {
        Some(serde_json::Value::String(s)) if !s.is_empty() => s,
        Some(serde_json::Value::Null | serde_json::Value::String(_)) | None => {
            param_text(h, 1, "default")?
        }
        Some(other) => other.to_string(),
    };
    out.write(&text)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{check_time_format, shell_quote};
    use crate::playbook::template::{RenderFailure, Renderer, Template};

    fn render(src: &str, ctx: &serde_json::Value) -> Result<String, RenderFailure> {
        Renderer::new().render(&Template::parse(src).expect("compiles").0, ctx)
    }

    fn helper_ctx() -> serde_json::Value {
        json!({"vars": {
            "env": "prod", "n": 3, "ok": true, "off": false, "empty": "",
            "regions": "eu-west,us-east", "list": ["a", "b", 2], "table": {"k": 1},
            "name": "café", "none": null,
        }})
    }

    #[test]
    fn eq_and_ne_compare_values_inline_in_if_and_as_subexpressions() {
        let ctx = helper_ctx();
        assert_eq!(render("{{eq vars.env \"prod\"}}", &ctx), Ok("true".into()));
        assert_eq!(render("{{eq vars.n 4}}", &ctx), Ok("false".into()));
        assert_eq!(render("{{ne vars.env \"dev\"}}", &ctx), Ok("true".into()));
        assert_eq!(
            render("{{#if (eq vars.env \"prod\")}}P{{else}}D{{/if}}", &ctx),
            Ok("P".into())
        );
        assert_eq!(
            render("{{#if (ne vars.n 3)}}x{{else}}y{{/if}}", &ctx),
            Ok("y".into())
        );
        assert!(render("{{eq vars.missing 1}}", &ctx).is_err(), "strict");
    }

    #[test]
    fn lt_and_gt_order_numbers_and_strings() {
        let ctx = helper_ctx();
        assert_eq!(render("{{lt vars.n 4}}", &ctx), Ok("true".into()));
        assert_eq!(render("{{gt vars.n 4}}", &ctx), Ok("false".into()));
        assert_eq!(render("{{gt \"b\" \"a\"}}", &ctx), Ok("true".into()));
        assert_eq!(
            render("{{#if (gt (len vars.list) 2)}}many{{/if}}", &ctx),
            Ok("many".into())
        );
    }

    #[test]
    fn and_or_not_combine_truth() {
        let ctx = helper_ctx();
        assert_eq!(render("{{and vars.ok vars.off}}", &ctx), Ok("false".into()));
        assert_eq!(render("{{or vars.off vars.ok}}", &ctx), Ok("true".into()));
        assert_eq!(render("{{not vars.empty}}", &ctx), Ok("true".into()));
        assert_eq!(render("{{not vars.ok}}", &ctx), Ok("false".into()));
        assert_eq!(
            render(
                "{{#if (and (eq vars.env \"prod\") (not vars.off))}}go{{/if}}",
                &ctx
            ),
            Ok("go".into())
        );
    }

    #[test]
    fn contains_finds_substrings_elements_and_keys() {
        let ctx = helper_ctx();
        assert_eq!(
            render("{{contains vars.regions \"eu\"}}", &ctx),
            Ok("true".into())
        );
        assert_eq!(
            render("{{contains vars.regions \"ap\"}}", &ctx),
            Ok("false".into())
        );
        assert_eq!(
            render("{{contains vars.list \"b\"}}", &ctx),
            Ok("true".into())
        );
        assert_eq!(
            render("{{contains vars.list \"2\"}}", &ctx),
            Ok("true".into())
        );
        assert_eq!(
            render("{{contains vars.list \"c\"}}", &ctx),
            Ok("false".into())
        );
        assert_eq!(
            render("{{contains vars.table \"k\"}}", &ctx),
            Ok("true".into())
        );
        assert_eq!(
            render("{{contains vars.none \"x\"}}", &ctx),
            Ok("false".into())
        );
        assert_eq!(
            render("{{contains vars.env vars.none}}", &ctx),
            Ok("false".into())
        );
        assert_eq!(
            render("{{#if (contains vars.list \"a\")}}A{{else}}-{{/if}}", &ctx),
            Ok("A".into())
        );
        assert_eq!(
            render("{{contains vars.n \"3\"}}", &ctx),
            Err(RenderFailure(
                "`contains` looks in a string or an array, not in a number".into()
            ))
        );
        assert!(
            render("{{contains vars.missing \"x\"}}", &ctx).is_err(),
            "strict"
        );
        assert_eq!(
            render("{{#contains vars.list \"b\"}}B{{else}}-{{/contains}}", &ctx),
            Ok("B".into())
        );
        assert_eq!(
            render("{{#contains vars.list \"z\"}}Z{{else}}-{{/contains}}", &ctx),
            Ok("-".into())
        );
    }

    #[test]
    fn json_renders_a_value_as_json() {
        let ctx = helper_ctx();
        assert_eq!(
            render("{{json vars.list}}", &ctx),
            Ok(r#"["a","b",2]"#.into())
        );
        assert_eq!(render("{{json vars.env}}", &ctx), Ok(r#""prod""#.into()));
        assert_eq!(render("{{json vars.n}}", &ctx), Ok("3".into()));
        assert_eq!(render("{{json vars.table}}", &ctx), Ok(r#"{"k":1}"#.into()));
        assert!(render("{{json vars.missing}}", &ctx).is_err(), "strict");
    }

    #[test]
    fn len_counts_characters_and_elements() {
        let ctx = helper_ctx();
        assert_eq!(
            render("{{len vars.name}}", &ctx),
            Ok("4".into()),
            "not bytes"
        );
        assert_eq!(render("{{len vars.list}}", &ctx), Ok("3".into()));
        assert_eq!(render("{{len vars.empty}}", &ctx), Ok("0".into()));
        assert_eq!(
            render("{{len vars.ok}}", &ctx),
            Err(RenderFailure(
                "`len` counts a string or an array, not a boolean".into()
            ))
        );
    }

    #[test]
    fn quotes_for_posix_shells() {
        assert_eq!(shell_quote("/backups/a.dump"), "/backups/a.dump");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("$(rm -rf /)"), "'$(rm -rf /)'");
    }

    #[test]
    fn rejects_bad_time_formats() {
        assert!(check_time_format("%Y-%m-%d").is_ok());
        assert!(check_time_format("%Q").is_err());
    }
}
