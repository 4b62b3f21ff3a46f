//! Templates: Handlebars with HTML escaping off and strict mode on, the helpers `quote`, `now`,
//! `default`, `contains`, `json` and `len` beside Handlebars' own (`if`, `eq`, `and`, …), and an
//! analysis of what a template refers to, so that validation can check every `vars.*` and
//! `steps.*` before anything runs.

use std::borrow::Cow;
use std::fmt;

use handlebars::template::{HelperTemplate, Parameter, TemplateElement};
use handlebars::{Handlebars, PathSeg, RenderError, RenderErrorReason};
use serde_json::Value;

mod helpers;
mod json_paths;
pub use helpers::{check_time_format, shell_quote};
use json_paths::json_paths;

/// A template string that compiles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    /// Never grown once parsed, so a `Box<str>`: 16 bytes where a `String` takes 24, in every
    /// step's command, `when` and `rollback` (#18).
    source: Box<str>,
}

impl Template {
    /// Compiles `source` and lists what it uses.
    pub fn parse(source: &str) -> Result<(Self, Vec<Usage>), TemplateSyntaxError> {
        // Handlebars' parser finds the line and column of every element by counting from the
        // start of the template, so its time grows with the square of the template's size: a
        // 100 kB `run` took 0.8 s, and one of megabytes would take hours. A template is bounded
        // instead, far above any real command.
        let too_large = |reason: String| TemplateSyntaxError {
            line_col: None,
            reason,
        };
        let expressions = source.matches("{{").count();
        // Plain text (no `{{`) is one raw element that uses nothing: it needs no parser (most
        // titles and many commands are plain text, and compiling them was a quarter of
        // `validate`'s time at 10,000 steps).
        if expressions == 0 {
            return Ok((
                Self {
                    source: source.into(),
                },
                Vec::new(),
            ));
        }
        if source.len() > MAX_TEMPLATE_BYTES {
            return Err(too_large(format!(
                "it is {} bytes, and a template with `{{{{` may have at most {MAX_TEMPLATE_BYTES} (64 KiB)",
                source.len()
            )));
        }
        if expressions > MAX_EXPRESSIONS {
            return Err(too_large(format!(
                "it has {expressions} `{{{{`, and a template may have at most {MAX_EXPRESSIONS}"
            )));
        }
        let compiled = handlebars::Template::compile(source).map_err(|e| TemplateSyntaxError {
            line_col: e.pos(),
            reason: e.reason().to_string(),
        })?;
        let mut uses = Vec::new();
        walk(&compiled.elements, false, &mut uses);
        Ok((
            Self {
                source: source.into(),
            },
            uses,
        ))
    }

    #[must_use]
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether the template is plain text with nothing to render.
    #[must_use]
    pub fn is_literal(&self) -> bool {
        !self.source.contains("{{")
    }

    /// Which steps' values (`steps.ID`) a render of this template can reach.
    #[must_use]
    pub fn steps_named(&self) -> StepsNamed {
        if self.is_literal() {
            return StepsNamed::Ids(Vec::new());
        }
        let Ok((_, usages)) = Self::parse(&self.source) else {
            return StepsNamed::All;
        };
        let mut ids = Vec::new();
        for usage in &usages {
            match usage {
                Usage::Path(p) => match (p.get(0), p.get(1)) {
                    (Some("steps"), Some(id)) => ids.push(id.to_owned()),
                    (
                        Some(
                            "vars" | "env" | "run" | "playbook" | "item" | "item_index" | "report",
                        ),
                        _,
                    ) => {}
                    _ => return StepsNamed::All,
                },
                Usage::Helper(h) if SCOPING_HELPERS.contains(&&**h) || h == "lookup" => {
                    return StepsNamed::All;
                }
                Usage::Context(_) => return StepsNamed::All,
                Usage::Helper(_) | Usage::Arguments { .. } => {}
            }
        }
        StepsNamed::Ids(ids)
    }
}

/// The steps whose values a template can reach (see [`Template::steps_named`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepsNamed {
    /// Those its paths name: none for a template that names no step.
    Ids(Vec<String>),
    /// Any: it reads `steps` as a whole, looks a value up by a computed name (`lookup`), or has
    /// a block (`each`, `with`) whose paths are relative to what the block gives, or reach the
    /// root (`@root.steps.…`).
    All,
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// A JSON document whose strings are templates (an `http` step's `json` body). Keys are sent as
/// written; numbers and booleans too.
#[derive(Debug, Clone, PartialEq)]
pub enum JsonTemplate {
    String(Template),
    Array(Vec<JsonTemplate>),
    Object(indexmap::IndexMap<String, JsonTemplate>),
    Value(Value),
}

impl JsonTemplate {
    /// The document with each string rendered by `render`; the first failure stops it.
    pub fn render<E>(
        &self,
        render: &mut impl FnMut(&Template) -> Result<String, E>,
    ) -> Result<Value, E> {
        Ok(match self {
            Self::String(t) => Value::String(render(t)?),
            Self::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|item| item.render(render))
                    .collect::<Result<_, _>>()?,
            ),
            Self::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| v.render(render).map(|v| (k.clone(), v)))
                    .collect::<Result<_, _>>()?,
            ),
            Self::Value(v) => v.clone(),
        })
    }

    /// The document as written, templates unrendered.
    #[must_use]
    pub fn source(&self) -> Value {
        self.render(&mut |t| Ok::<_, std::convert::Infallible>(t.source().to_owned()))
            .unwrap_or_else(|never| match never {})
    }
}

impl fmt::Display for JsonTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.source())
    }
}

/// The longest template with a `{{`, in bytes.
pub const MAX_TEMPLATE_BYTES: usize = 64 * 1024;
/// The most `{{` in one template.
pub const MAX_EXPRESSIONS: usize = 1_000;

/// A template that does not compile.
#[derive(Debug, Clone)]
pub struct TemplateSyntaxError {
    /// 1-based line and column inside the template text.
    pub line_col: Option<(usize, usize)>,
    pub reason: String,
}

/// Something a template uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Usage {
    /// A value path such as `steps.backup.outputs.file`; never empty.
    Path(ValuePath),
    /// A helper call: one of [`HELPERS`] without a copy of its name.
    Helper(Cow<'static, str>),
    /// A value that only a block such as `{{#each}}` gives (`this`, `@index`, `@root` alone),
    /// used where no block gives it: as written.
    Context(String),
    /// A helper given a number of values it does not take: its name, how many it was given,
    /// and what it takes ("2 values").
    Arguments {
        helper: String,
        given: usize,
        takes: &'static str,
    },
}

/// A value path such as `steps.backup.outputs.file`: its segments in one string, joined with
/// `.`, and where each ends only when a segment has a `.` of its own (`{{vars.[a.b]}}`). The
/// uses of every template wait for the reference check, and a string per segment was a tenth of
/// `validate`'s memory (#18).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValuePath {
    /// Most paths (`steps.restore.outputs.file`) fit in the string itself, without an
    /// allocation of their own.
    text: compact_str::CompactString,
    /// Empty: the segments are what is between the dots.
    ends: Box<[usize]>,
}

impl ValuePath {
    /// The path of these segments.
    pub fn new<S: AsRef<str>>(segments: impl IntoIterator<Item = S>) -> Self {
        let mut text = compact_str::CompactString::default();
        let mut ends = Vec::new();
        let mut dotted = false;
        for segment in segments {
            let segment = segment.as_ref();
            if !ends.is_empty() {
                text.push('.');
            }
            dotted |= segment.contains('.');
            text.push_str(segment);
            ends.push(text.len());
        }
        if !dotted {
            ends = Vec::new();
        }
        Self {
            text,
            ends: ends.into_boxed_slice(),
        }
    }

    /// The segments, in order.
    #[must_use]
    pub fn segments(&self) -> Vec<&str> {
        if self.ends.is_empty() {
            return self.text.split('.').collect();
        }
        let mut start = 0;
        self.ends
            .iter()
            .map(|&end| {
                let segment = self.text.get(start..end).unwrap_or_default();
                start = end + 1;
                segment
            })
            .collect()
    }

    /// Segment `i`.
    #[must_use]
    pub fn get(&self, i: usize) -> Option<&str> {
        if self.ends.is_empty() {
            return self.text.split('.').nth(i);
        }
        let end = *self.ends.get(i)?;
        let start = match i.checked_sub(1) {
            Some(before) => self.ends.get(before)? + 1,
            None => 0,
        };
        self.text.get(start..end)
    }

    /// The segments joined with `.`, as written without brackets.
    #[must_use]
    pub fn joined(&self) -> &str {
        &self.text
    }
}

/// How many values a helper takes, where that is fixed: `(fewest, most)`.
fn arity(helper: &str) -> Option<(usize, Option<usize>, &'static str)> {
    Some(match helper {
        "eq" | "ne" | "gt" | "gte" | "lt" | "lte" | "contains" | "default" => {
            (2, Some(2), "2 values")
        }
        "not" | "json" | "len" | "quote" => (1, Some(1), "1 value"),
        "and" | "or" => (1, None, "at least 1 value"),
        "now" => (0, Some(1), "at most 1 value (a time format)"),
        _ => return None,
    })
}

/// The helpers every template may call: ours, then Handlebars' built-ins (`len` is ours: it
/// counts characters, where the built-in counts bytes).
pub const HELPERS: [&str; 22] = [
    "quote", "now", "default", "contains", "json", "len", "if", "unless", "each", "with", "lookup",
    "raw", "log", "eq", "ne", "gt", "gte", "lt", "lte", "and", "or", "not",
];

/// Helpers whose block changes the context, so that paths inside are relative to something
/// validation cannot see.
const SCOPING_HELPERS: [&str; 2] = ["each", "with"];

fn walk(elements: &[TemplateElement], scoped: bool, out: &mut Vec<Usage>) {
    for element in elements {
        match element {
            TemplateElement::Expression(h)
            | TemplateElement::HtmlExpression(h)
            | TemplateElement::HelperBlock(h) => {
                helper(h, scoped, out);
            }
            TemplateElement::DecoratorExpression(d)
            | TemplateElement::DecoratorBlock(d)
            | TemplateElement::PartialExpression(d)
            | TemplateElement::PartialBlock(d) => {
                for p in &d.params {
                    parameter(p, scoped, out);
                }
                if let Some(t) = &d.template {
                    walk(&t.elements, scoped, out);
                }
            }
            _ => {}
        }
    }
}

fn helper(h: &HelperTemplate, scoped: bool, out: &mut Vec<Usage>) {
    let takes_arguments = !h.params.is_empty() || !h.hash.is_empty() || h.block;
    // `{{now}}` parses as a one-segment path; Handlebars calls a helper of that name if one exists.
    let simple_name = match &h.name {
        Parameter::Name(name) => Some(name.clone()),
        Parameter::Path(handlebars::Path::Relative((segments, _))) => match segments.as_slice() {
            [PathSeg::Named(name)] => Some(name.clone()),
            _ => None,
        },
        _ => None,
    };
    let mut name_scopes = false;
    match simple_name {
        Some(name) if takes_arguments || HELPERS.contains(&name.as_str()) => {
            name_scopes = SCOPING_HELPERS.contains(&name.as_str());
            let given = h.params.len();
            if let Some((fewest, most, takes)) = arity(&name)
                && (given < fewest || most.is_some_and(|m| given > m))
            {
                out.push(Usage::Arguments {
                    helper: name.clone(),
                    given,
                    takes,
                });
            }
            // A helper of ours is named by its entry in HELPERS, not a copy.
            let named = HELPERS
                .iter()
                .find(|h| **h == name)
                .map_or(Cow::Owned(name), |h| Cow::Borrowed(*h));
            out.push(Usage::Helper(named));
        }
        _ => parameter(&h.name, scoped, out),
    }
    for p in h.params.iter().chain(h.hash.values()) {
        parameter(p, scoped, out);
    }
    let inner_scoped = scoped || name_scopes;
    if let Some(t) = &h.template {
        walk(&t.elements, inner_scoped, out);
    }
    if let Some(t) = &h.inverse {
        walk(&t.elements, scoped, out);
    }
}

fn parameter(p: &Parameter, scoped: bool, out: &mut Vec<Usage>) {
    match p {
        Parameter::Path(handlebars::Path::Relative((segments, written))) if !scoped => {
            // Outside a block the context is the root, so a leading `@root` or `../` names the
            // root too: `{{../vars.x}}` is `vars.x`, and `{{this}}` or `{{@root}}` is the whole
            // context, which names no value.
            let named: Option<Vec<&str>> = segments
                .iter()
                .skip_while(|s| matches!(s, PathSeg::Ruled(_)))
                .map(|s| match s {
                    PathSeg::Named(n) => Some(n.as_str()),
                    _ => None,
                })
                .collect();
            match named {
                Some(named) if named.is_empty() => out.push(Usage::Context(written.clone())),
                Some(named) => out.push(Usage::Path(ValuePath::new(named))),
                None => {}
            }
        }
        Parameter::Path(handlebars::Path::Local((_, _, written))) if !scoped => {
            out.push(Usage::Context(written.clone()));
        }
        Parameter::Name(n) if !scoped => out.push(Usage::Path(ValuePath::new([n]))),
        Parameter::Subexpression(sub) => walk(std::slice::from_ref(&sub.element), scoped, out),
        _ => {}
    }
}

/// Renders templates with the playbook's rules: strict, unescaped, our helpers.
pub struct Renderer {
    registry: Handlebars<'static>,
}

impl Default for Renderer {
    fn default() -> Self {
        Self::new()
    }
}

impl Renderer {
    #[must_use]
    pub fn new() -> Self {
        let mut registry = Handlebars::new();
        registry.set_strict_mode(true);
        registry.register_escape_fn(handlebars::no_escape);
        helpers::register(&mut registry);
        Self { registry }
    }

    /// Renders a template against a context (`vars`, `env`, `steps`, `run`, `playbook`).
    pub fn render(
        &self,
        template: &Template,
        context: &serde_json::Value,
    ) -> Result<String, RenderFailure> {
        if template.is_literal() {
            return Ok(template.source().to_owned());
        }
        self.registry
            .render_template(&json_paths(&template.source, context), context)
            .map_err(|e| RenderFailure::from_error(&e))
    }
}

/// Why a template could not be rendered, in words for the person running the playbook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderFailure(pub String);

impl RenderFailure {
    fn from_error(e: &RenderError) -> Self {
        Self(match e.reason() {
            RenderErrorReason::MissingVariable(Some(path)) if path.starts_with("env.") => format!(
                "`{path}` has no value: `{}` is not set in the environment runbook runs in \
                 (for an optional one, write {{{{default {path} \"...\"}}}})",
                &path[4..]
            ),
            RenderErrorReason::MissingVariable(Some(path)) => format!("`{path}` has no value"),
            RenderErrorReason::MissingVariable(None) => {
                "a value the template names is missing".to_owned()
            }
            RenderErrorReason::HelperNotFound(name) => format!("unknown helper `{name}`"),
            other => other.to_string(),
        })
    }
}

impl fmt::Display for RenderFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn uses(src: &str) -> Vec<Usage> {
        Template::parse(src)
            .map(|(_, u)| u)
            .expect("template compiles")
    }

    fn path(p: &str) -> Usage {
        Usage::Path(ValuePath::new(p.split('.')))
    }

    #[test]
    fn a_path_keeps_its_segments_even_with_dots_in_them() {
        let p = ValuePath::new(["steps", "a.b", "outputs", "x"]);
        assert_eq!(p.segments(), ["steps", "a.b", "outputs", "x"]);
        assert_eq!(
            (p.get(0), p.get(1), p.get(3), p.get(4)),
            (Some("steps"), Some("a.b"), Some("x"), None)
        );
        assert_eq!(p.joined(), "steps.a.b.outputs.x");
        let one = ValuePath::new(["vars"]);
        assert_eq!(
            (one.segments(), one.get(0), one.get(1)),
            (vec!["vars"], Some("vars"), None)
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// Text without `{{` takes the short way (no parser): Handlebars would accept it too,
        /// find nothing it uses, and render it unchanged.
        #[test]
        fn plain_text_is_what_handlebars_makes_of_it(text in "[a-z}{\\\\ \n\"'$|&;()<>*?!#~=%@^`.-]{0,40}") {
            proptest::prop_assume!(!text.contains("{{"));
            let (template, found) = Template::parse(&text).expect("plain text parses");
            proptest::prop_assert!(found.is_empty());
            let compiled = handlebars::Template::compile(&text).expect("handlebars accepts it");
            let mut compiled_uses = Vec::new();
            walk(&compiled.elements, false, &mut compiled_uses);
            proptest::prop_assert!(compiled_uses.is_empty());
            let mut hb = handlebars::Handlebars::new();
            hb.register_escape_fn(handlebars::no_escape);
            let rendered = hb.render_template(template.source(), &json!({})).expect("renders");
            proptest::prop_assert_eq!(rendered, text);
        }
    }

    #[test]
    fn finds_paths_and_helpers() {
        assert_eq!(
            uses("x {{quote steps.latest-backup.outputs.file}} {{vars.db}}"),
            vec![
                Usage::Helper("quote".into()),
                path("steps.latest-backup.outputs.file"),
                path("vars.db")
            ]
        );
        assert_eq!(
            uses("{{#if vars.a}}{{vars.b}}{{else}}{{vars.c}}{{/if}}").len(),
            4
        );
        assert_eq!(
            uses("{{#each vars.list}}{{this.name}}{{/each}}"),
            vec![Usage::Helper("each".into()), path("vars.list")]
        );
        assert_eq!(uses("{{now}}"), vec![Usage::Helper("now".into())]);
    }

    // See: #11
    #[test]
    fn paths_relative_to_the_context_outside_a_block() {
        assert_eq!(uses("{{this}}"), vec![Usage::Context("this".into())]);
        assert_eq!(uses("{{@root}}"), vec![Usage::Context("@root".into())]);
        assert_eq!(uses("{{@index}}"), vec![Usage::Context("@index".into())]);
        assert_eq!(uses("{{../vars.x}}"), vec![path("vars.x")]);
        assert_eq!(uses("{{@root.vars.x}}"), vec![path("vars.x")]);
        assert_eq!(uses("{{this.vars.x}}"), vec![path("vars.x")]);
        assert_eq!(
            uses("{{#each vars.l}}{{this}}{{@index}}{{/each}}"),
            vec![Usage::Helper("each".into()), path("vars.l")]
        );
    }

    #[test]
    fn renders_strictly_without_escaping() {
        let r = Renderer::new();
        let ctx =
            json!({"vars": {"db": "a&b <c>"}, "steps": {"x": {"outputs": {"f": "it's here"}}}});
        let t = |s: &str| Template::parse(s).expect("compiles").0;
        assert_eq!(r.render(&t("{{vars.db}}"), &ctx), Ok("a&b <c>".to_owned()));
        assert_eq!(
            r.render(&t("cat {{quote steps.x.outputs.f}}"), &ctx),
            Ok(r"cat 'it'\''s here'".to_owned())
        );
        assert_eq!(
            r.render(&t("{{vars.nope}}"), &ctx),
            Err(RenderFailure("`vars.nope` has no value".to_owned()))
        );
        assert!(r.render(&t("{{quote vars.nope}}"), &ctx).is_err());
        assert_eq!(
            r.render(&t("{{default vars.nope \"x\"}}"), &ctx),
            Ok("x".to_owned())
        );
        assert_eq!(
            r.render(&t("{{default vars.db \"x\"}}"), &ctx),
            Ok("a&b <c>".to_owned())
        );
    }

    #[test]
    fn a_json_body_renders_every_string_and_keeps_the_rest() {
        let t = |s: &str| JsonTemplate::String(Template::parse(s).expect("compiles").0);
        let body = JsonTemplate::Object(
            [
                ("db".to_owned(), t("{{vars.env}}")),
                (
                    "list".to_owned(),
                    JsonTemplate::Array(vec![t("x-{{vars.n}}"), JsonTemplate::Value(json!(3))]),
                ),
            ]
            .into_iter()
            .collect(),
        );
        let r = Renderer::new();
        let ctx = json!({"vars": {"env": "prod", "n": 3}});
        assert_eq!(
            body.render(&mut |tpl| r.render(tpl, &ctx)),
            Ok(json!({"db": "prod", "list": ["x-3", 3]}))
        );
        assert_eq!(
            body.to_string(),
            r#"{"db":"{{vars.env}}","list":["x-{{vars.n}}",3]}"#
        );
        let broken = JsonTemplate::Array(vec![t("{{vars.missing}}")]);
        assert!(broken.render(&mut |tpl| r.render(tpl, &ctx)).is_err());
    }

    #[test]
    fn a_helper_given_the_wrong_number_of_values_is_found() {
        let wrong = |src: &str| {
            uses(src).into_iter().find_map(|u| match u {
                Usage::Arguments {
                    helper,
                    given,
                    takes,
                } => Some((helper, given, takes)),
                _ => None,
            })
        };
        assert_eq!(
            wrong("{{#if (eq vars.a)}}x{{/if}}"),
            Some(("eq".to_owned(), 1, "2 values"))
        );
        assert_eq!(
            wrong("{{len vars.a vars.b}}"),
            Some(("len".to_owned(), 2, "1 value"))
        );
        assert_eq!(
            wrong("{{and}}"),
            Some(("and".to_owned(), 0, "at least 1 value"))
        );
        assert_eq!(wrong("{{and vars.a vars.b vars.c}}"), None);
        assert_eq!(wrong("{{now}}"), None);
        assert_eq!(wrong("{{contains vars.a \"x\"}}"), None);
    }

    #[test]
    fn the_checker_sees_every_helper_and_the_paths_inside_them() {
        for helper in HELPERS {
            let src = format!("{{{{{helper} vars.a vars.b}}}}");
            assert!(
                uses(&src).contains(&Usage::Helper(helper.to_owned().into())),
                "{src}"
            );
        }
        assert_eq!(
            uses("{{#if (contains vars.list (json vars.x))}}y{{/if}}"),
            vec![
                Usage::Helper("if".into()),
                Usage::Helper("contains".into()),
                path("vars.list"),
                Usage::Helper("json".into()),
                path("vars.x"),
            ]
        );
    }

    // See: #11
    #[test]
    fn templates_past_the_bounds_are_refused_before_handlebars_parses_them() {
        assert!(Template::parse(&"{{vars.x}}".repeat(MAX_EXPRESSIONS)).is_ok());
        let many = Template::parse(&"{{vars.x}}".repeat(MAX_EXPRESSIONS + 1)).expect_err("many");
        assert_eq!(
            many.reason,
            "it has 1001 `{{`, and a template may have at most 1000"
        );
        let text = format!("{{{{vars.x}}}}{}", "x".repeat(MAX_TEMPLATE_BYTES));
        let long = Template::parse(&text).expect_err("long");
        assert!(
            long.reason.starts_with("it is 65546 bytes"),
            "{}",
            long.reason
        );
        assert!(Template::parse(&"x".repeat(10 * MAX_TEMPLATE_BYTES)).is_ok());
    }

    #[test]
    fn reports_syntax_errors_with_position() {
        let err = Template::parse("ok {{vars.x").expect_err("unclosed");
        assert!(err.line_col.is_some());
    }
}
