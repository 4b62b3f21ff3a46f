//! The raw playbook: the TOML's shape with a span on every value and nothing checked beyond
//! types. Each table is declared once (`toml_table!`), which gives both its decoder and its part
//! of the JSON Schema, so the two cannot drift.

use std::borrow::Cow;

use indexmap::IndexMap;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde_json::json;
use toml::Spanned;
use toml::de::DeValue;

use crate::playbook::decode::{Cx, Decode, Sp, integer, toml_table};
use crate::playbook::raw_input::RawInput;

toml_table! {
    /// A runbook playbook: one disaster-recovery procedure.
    RawPlaybook {
        /// Identity and objectives.
        #[schemars(required)]
        playbook: RawMeta,
        /// Defaults for `{{vars.*}}`; `--var key=value` overrides them.
        vars: IndexMap<String, Sp<RawVar>>,
        /// Environment (templates) for every command step and check.
        env: IndexMap<String, Sp<String>>,
        /// Notification channels.
        notify: RawNotify,
        /// Report settings.
        report: RawReport,
        /// What the playbook gives a parent that runs it as a step: templates rendered when it
        /// ends, seen as `steps.ID.outputs.NAME`.
        outputs: IndexMap<String, Sp<String>>,
        /// Steady-state health checks, run before the steps (assessment) and after (validation).
        checks: Vec<Sp<RawCheck>>,
        /// The procedure; at least one step.
        #[schemars(required)]
        steps: Vec<Sp<RawStep>>,
    }
}

toml_table! {
    /// `[playbook]`: identity and objectives.
    RawMeta {
        /// `[a-z0-9][a-z0-9-]*`, what `runbook run NAME` finds.
        #[schemars(required, regex(pattern = r"^[a-z0-9][a-z0-9-]*$"))]
        name: String,
        /// Semantic version of the procedure; bump it on every change.
        #[schemars(required)]
        version: String,
        /// Human title.
        title: String,
        description: String,
        owner: String,
        tags: Vec<Sp<String>>,
        /// Allowed values of `--env`, as names or as a table of environments with their own
        /// var values; running outside them is refused.
        environments: RawEnvironments,
        /// Names of env vars whose values are masked everywhere.
        secrets: Vec<Sp<String>>,
        /// Recovery time objective, e.g. "30m".
        rto: DurationStr,
        /// Recovery point objective, e.g. "5m".
        rpo: DurationStr,
        /// Which part of the run the RTO measures.
        rto_clock: RawRtoClock,
        /// Template giving an RFC 3339 time: the moment the restored data is from.
        recovery_point: String,
        /// Warn when no run is recorded within this duration, e.g. "90d".
        drill_every: DurationStr,
        /// When routine runs are due: five-field cron (minute hour day-of-month month
        /// day-of-week) in UTC, e.g. "0 2 * * *"; `runbook schedule` writes it for cron,
        /// systemd or Kubernetes.
        #[schemars(regex(pattern = r"^\s*\S+(\s+\S+){4}\s*$"))]
        schedule: String,
        /// "fail" (default), "wait" or "skip": what a second concurrent run does.
        #[schemars(extend("enum" = ["fail", "wait", "skip"]))]
        lock: String,
        /// Names of the resources a run holds (templates of vars), e.g. "pg:{{vars.host}}"; runs
        /// of any playbooks naming the same lock exclude each other. Default: the playbook's name.
        locks: Vec<Sp<String>>,
        /// How long `always` steps may take after an interrupt (default "2m").
        cleanup_timeout: DurationStr,
        /// At most this many steps at once (default: no limit); `--max-parallel` overrides it.
        max_parallel: i64,
        /// The mode of a run without `--mode`: "incident", "drill" (default) or "routine".
        #[schemars(extend("enum" = ["incident", "drill", "routine"]))]
        mode: String,
    }
}

toml_table! {
    /// `[playbook.rto_clock]`: the clock starts when `start` starts and stops when `stop` ends.
    RawRtoClock {
        #[schemars(required)]
        start: String,
        #[schemars(required)]
        stop: String,
    }
}

toml_table! {
    /// `[notify]`: one table per channel kind.
    RawNotify {
        /// Slack incoming webhook.
        slack: RawSlack,
        /// Generic JSON POST of the same events.
        webhook: RawWebhook,
    }
}

toml_table! {
    /// `[notify.slack]`.
    RawSlack {
        /// Template, normally `"{{env.SLACK_WEBHOOK_URL}}"`; always masked.
        #[schemars(required)]
        webhook: String,
        /// Channel override, where the webhook allows it.
        channel: String,
        /// Which events are sent.
        events: Vec<Sp<String>>,
        /// Added to failure and approval messages, e.g. "<!subteam^ID>".
        mention: String,
    }
}

toml_table! {
    /// `[notify.webhook]`: a JSON POST of every selected event.
    RawWebhook {
        /// Template giving the URL; always masked.
        #[schemars(required)]
        url: String,
        /// Which events are sent.
        events: Vec<Sp<String>>,
        /// Extra request headers (templates).
        headers: IndexMap<String, Sp<String>>,
    }
}

toml_table! {
    /// `[report]`.
    RawReport {
        /// Role names, each given a sign-off row.
        signoff: Vec<Sp<String>>,
        /// Template; default the playbook title and run date.
        title: String,
        /// "failures" (default), "all" or "none".
        #[schemars(extend("enum" = ["failures", "all", "none"]))]
        include_logs: String,
        /// Command (template) run after report.md and report.json are written; it also sees
        /// `report.path` and `report.json_path`. Its failure is a warning, never the run's.
        publish: String,
    }
}

toml_table! {
    /// A health check: exactly one probe key (`http`, `tcp`, `command`, `file`, `history`) and
    /// polling keys.
    RawCheck {
        /// Name in the journal and report.
        id: String,
        title: String,
        /// Passes on the expected status (default 2xx) and body expectations.
        http: RawHttp,
        /// "host:port": passes when a TCP connection opens.
        tcp: String,
        /// Shell command: passes on exit code 0 (and the stdout expectations).
        command: String,
        /// Glob: passes when the newest match exists, is younger than `max_age` and at least `min_size`.
        file: String,
        /// Past runs: passes when a playbook's recent runs are enough and succeeded often enough.
        history: RawHistory,
        /// For `command`: trimmed stdout contains this text.
        stdout_contains: String,
        /// For `command`: trimmed stdout matches this regex.
        stdout_matches: String,
        /// For `file`: the newest match is younger than this.
        max_age: DurationStr,
        /// For `file`: the newest match is at least this big.
        min_size: RawSize,
        /// Time between attempts (default "2s").
        interval: DurationStr,
        /// Give up after this long (default "60s").
        timeout: DurationStr,
        /// One attempt's limit (default the smaller of interval and 10s).
        attempt_timeout: DurationStr,
    }
}

toml_table! {
    /// `history = { playbook = "…", since = "7d" }`: the runs root's recent runs of a playbook.
    RawHistory {
        /// The `name` of the playbook whose runs are counted.
        #[schemars(required, regex(pattern = r"^[a-z0-9][a-z0-9-]*$"))]
        playbook: String,
        /// The window: runs that started within this long before the check.
        #[schemars(required)]
        since: DurationStr,
        /// The share of those runs that ended ok, from 0 to 1 (default 1: all of them).
        #[schemars(range(min = 0.0, max = 1.0))]
        min_success_rate: f64,
        /// At least this many ended runs in the window (default 1).
        #[schemars(range(min = 0))]
        min_runs: i64,
    }
}

toml_table! {
    /// The table form of an HTTP probe or request.
    RawHttpTable {
        /// Template giving the URL.
        #[schemars(required)]
        url: String,
        /// Request method (steps only; default GET).
        method: String,
        /// Request headers (templates).
        headers: IndexMap<String, Sp<String>>,
        /// Request body (template; steps only).
        body: String,
        /// JSON request body (steps only); every string in it, at any depth, is a template.
        json: RawJson,
        /// Expected status (default any 2xx).
        status: i64,
        /// The body contains this text.
        body_contains: String,
        /// The body matches this regex.
        body_matches: String,
        /// JSON pointer into the response body, compared with `equals`.
        json_pointer: String,
        /// The value at `json_pointer`.
        equals: serde_json::Value,
        /// Accept any TLS certificate.
        insecure_tls: bool,
    }
}

toml_table! {
    /// A step: an `id` and exactly one action key (`run`, `http`, `check`, `manual`, `sleep`,
    /// `notify`, `playbook`).
    RawStep {
        /// `[A-Za-z][A-Za-z0-9_-]*`, unique.
        #[schemars(required, regex(pattern = r"^[A-Za-z][A-Za-z0-9_-]*$"))]
        id: String,
        title: String,
        /// Steps that must finish `ok` first.
        needs: Vec<Sp<String>>,
        /// Steps that must have ended first, in any status (ok, failed, skipped).
        after: Vec<Sp<String>>,
        /// Cleanup: runs once its `needs` and `after` have ended in any status, also when the
        /// run fails, aborts, rolls back or is interrupted.
        always: bool,
        /// One instance `ID[KEY]` per item: a TOML array, or a template giving a JSON array or
        /// one item per line. Templates see `{{item}}` and `{{item_index}}`.
        for_each: RawForEach,
        /// For `for_each`: at most this many instances at once.
        #[schemars(range(min = 1))]
        max_parallel: i64,
        /// Template rendering to true or false; false skips the step.
        when: String,
        /// Shell command (`sh -c`) in its own process group.
        run: String,
        /// One HTTP request with expectations.
        http: RawHttp,
        /// A health check polled until it passes or times out.
        check: RawCheck,
        /// An instruction for a person; the run waits for confirmation.
        manual: String,
        /// For `manual`: answers the person gives, each `steps.ID.outputs.NAME` afterwards:
        /// a type (`"time"`) or `{ type = "string", pattern = '^INC-[0-9]+$' }`.
        inputs: IndexMap<String, Sp<RawInput>>,
        /// Waits this long.
        sleep: DurationStr,
        /// Sends this text to the configured channels.
        notify: String,
        /// For `notify`: labelled values (templates), in order, shown as the message's fields.
        #[schemars(extend("maxProperties" = 10))]
        fields: IndexMap<String, Sp<String>>,
        /// Runs another playbook as one step: "name" or "name@semver-requirement".
        playbook: String,
        /// Kill the whole process group after this long (default "10m" for `run`).
        timeout: DurationStr,
        /// Attempts after the first failure.
        retries: i64,
        /// Delay before the first retry (default "1s").
        retry_delay: DurationStr,
        /// Factor applied to the delay after each retry (default 1.0).
        backoff: f64,
        /// Expected duration, for the planned RTO and overrun warnings.
        budget: DurationStr,
        /// "abort" (default), "continue" or "rollback".
        #[schemars(extend("enum" = ["abort", "continue", "rollback"]))]
        on_failure: String,
        /// Shell command that undoes this step.
        rollback: String,
        /// Template text; a person must approve before the step starts.
        confirm: String,
        /// Extra environment (templates) for this step.
        env: IndexMap<String, Sp<String>>,
        /// Working directory (template; default the run folder).
        cwd: String,
        /// Values captured from the step's output: `"stdout"`, `{ stdout_regex = '…' }` or `{ json_pointer = "/a" }`.
        outputs: IndexMap<String, Sp<RawOutput>>,
        /// A `playbook` step's values for the nested playbook's vars (templates).
        vars: IndexMap<String, Sp<String>>,
        /// What success looks like (default exit code 0).
        expect: RawExpect,
        /// Checks that must pass after the step succeeds.
        verify: Vec<Sp<RawCheck>>,
        /// The step only runs in these environments, else it is skipped.
        environments: Vec<Sp<String>>,
        /// Safe to run twice: `resume` reruns it without asking.
        idempotent: bool,
        /// Changes nothing: `--dry-run` really executes it.
        read_only: bool,
    }
}

toml_table! {
    /// What a successful step looks like.
    RawExpect {
        /// Required exit code (default 0).
        exit_code: i64,
        /// Trimmed stdout contains this text.
        stdout_contains: String,
        /// Trimmed stdout matches this regex.
        stdout_matches: String,
        /// Trimmed stderr matches this regex.
        stderr_matches: String,
    }
}

toml_table! {
    /// The table form of an output source.
    RawOutputTable {
        /// First capture group of this regex applied to stdout.
        stdout_regex: String,
        /// JSON pointer into stdout parsed as JSON.
        json_pointer: String,
        /// "stdout": the trimmed stdout (the table form of `"stdout"`, to add `secret`).
        from: String,
        /// The value is masked everywhere, its own step's log included.
        secret: bool,
    }
}

/// A duration string in the playbook grammar, checked during validation.
#[derive(Debug, Clone, Default)]
pub(crate) struct DurationStr(pub(crate) String);

impl Decode for DurationStr {
    const EXPECTED: &'static str = "a duration string such as \"30s\" or \"1h 30m\"";

    fn decode(v: &Spanned<DeValue<'_>>, cx: &mut Cx<'_>) -> Option<Self> {
        if let DeValue::String(s) = v.get_ref() {
            return Some(Self(s.to_string()));
        }
        let (what, _) = cx.describe();
        let key = what.trim_matches('`');
        let hint = integer(v.get_ref())
            .map(|n| format!("durations are strings with a unit: write {key} = \"{n}s\""));
        cx.wrong_type(v, Self::EXPECTED, hint);
        None
    }
}

impl JsonSchema for DurationStr {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "One or more <integer><unit> groups, largest unit first: ms, s, m, h, d (\"500ms\", \"90s\", \"1h 30m\").",
            "pattern": r"^[0-9]+(ms|s|m|h|d)( ?[0-9]+(ms|s|m|h|d))*$"
        })
    }
}

/// A var's default: a string, number or boolean, an array, or a table. How deep they nest
/// (a table of scalars, an array of scalars or of such tables) is the validator's check.
#[derive(Debug, Clone)]
pub(crate) enum RawVar {
    String(String),
    Integer(i64),
    Float(f64),
    Bool(bool),
    List(Vec<Sp<RawVar>>),
    Table(IndexMap<String, Sp<RawVar>>),
}

impl Decode for RawVar {
    const EXPECTED: &'static str = "a string, number, boolean, array or table";

    fn decode(v: &Spanned<DeValue<'_>>, cx: &mut Cx<'_>) -> Option<Self> {
        match v.get_ref() {
            DeValue::String(s) => Some(Self::String(s.to_string())),
            DeValue::Integer(_) => integer(v.get_ref()).map(Self::Integer),
            DeValue::Float(x) => x.as_str().parse().ok().map(Self::Float),
            DeValue::Boolean(b) => Some(Self::Bool(*b)),
            DeValue::Array(_) => Vec::<Sp<Self>>::decode(v, cx).map(Self::List),
            DeValue::Table(_) => IndexMap::<String, Sp<Self>>::decode(v, cx).map(Self::Table),
            DeValue::Datetime(_) => {
                cx.wrong_type(
                    v,
                    Self::EXPECTED,
                    Some("write a time as a string: \"2026-11-23T02:00:00Z\"".to_owned()),
                );
                None
            }
        }
    }
}

impl JsonSchema for RawVar {
    fn schema_name() -> Cow<'static, str> {
        "Var".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let scalar = json!({ "type": ["string", "number", "boolean"] });
        let table = json!({ "type": "object", "additionalProperties": scalar });
        json_schema!({
            "anyOf": [
                scalar,
                table,
                { "type": "array", "items": { "anyOf": [scalar, table] } }
            ]
        })
    }
}

/// `for_each`: the items written out, or a template that gives them.
#[derive(Debug, Clone)]
pub(crate) enum RawForEach {
    Items(Vec<Sp<RawVar>>),
    Template(String),
}

impl Decode for RawForEach {
    const EXPECTED: &'static str = "an array of items or a template string";

    fn decode(v: &Spanned<DeValue<'_>>, cx: &mut Cx<'_>) -> Option<Self> {
        match v.get_ref() {
            DeValue::Array(_) => Vec::<Sp<RawVar>>::decode(v, cx).map(Self::Items),
            DeValue::String(s) => Some(Self::Template(s.to_string())),
            _ => {
                cx.wrong_type(
                    v,
                    Self::EXPECTED,
                    Some("write the items as an array, for_each = [\"a\", \"b\"], or as a template, for_each = \"{{vars.databases}}\"".to_owned()),
                );
                None
            }
        }
    }
}

impl JsonSchema for RawForEach {
    fn schema_name() -> Cow<'static, str> {
        "ForEach".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let item = generator.subschema_for::<RawVar>();
        json_schema!({
            "anyOf": [
                { "type": "string" },
                { "type": "array", "items": item, "maxItems": 1000 }
            ]
        })
    }
}

/// `environments = ["staging", "production"]`, or `[playbook.environments.NAME]` tables.
#[derive(Debug, Clone)]
pub(crate) enum RawEnvironments {
    Names(Vec<Sp<String>>),
    Table(IndexMap<String, Sp<RawEnvironment>>),
}

impl Default for RawEnvironments {
    fn default() -> Self {
        Self::Names(Vec::new())
    }
}

impl Decode for RawEnvironments {
    const EXPECTED: &'static str = "an array of names or a table of environments";

    fn decode(v: &Spanned<DeValue<'_>>, cx: &mut Cx<'_>) -> Option<Self> {
        match v.get_ref() {
            DeValue::Array(_) => Vec::<Sp<String>>::decode(v, cx).map(Self::Names),
            DeValue::Table(_) => {
                IndexMap::<String, Sp<RawEnvironment>>::decode(v, cx).map(Self::Table)
            }
            _ => {
                cx.wrong_type(v, Self::EXPECTED, Some("write environments = [\"staging\", \"production\"], or [playbook.environments.staging] tables".to_owned()));
                None
            }
        }
    }
}

impl JsonSchema for RawEnvironments {
    fn schema_name() -> Cow<'static, str> {
        "Environments".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        json_schema!({ "oneOf": [
            { "type": "array", "items": { "type": "string" } },
            { "type": "object", "additionalProperties": generator.subschema_for::<RawEnvironment>() }
        ]})
    }
}

toml_table! {
    /// `[playbook.environments.NAME]`: one environment.
    RawEnvironment {
        /// Values of declared vars in this environment, over `[vars]`.
        vars: IndexMap<String, Sp<RawVar>>,
    }
}

/// `http = "URL"` or `http = { url = … }`.
#[derive(Debug, Clone)]
pub(crate) enum RawHttp {
    Url(String),
    Table(Box<RawHttpTable>),
}

impl Default for RawHttp {
    fn default() -> Self {
        Self::Url(String::new())
    }
}

impl Decode for RawHttp {
    const EXPECTED: &'static str = "a URL string or a table with `url`";

    fn decode(v: &Spanned<DeValue<'_>>, cx: &mut Cx<'_>) -> Option<Self> {
        match v.get_ref() {
            DeValue::String(s) => Some(Self::Url(s.to_string())),
            DeValue::Table(_) => RawHttpTable::decode(v, cx).map(|t| Self::Table(Box::new(t))),
            _ => {
                cx.wrong_type(v, Self::EXPECTED, None);
                None
            }
        }
    }
}

impl JsonSchema for RawHttp {
    fn schema_name() -> Cow<'static, str> {
        "Http".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        json_schema!({ "oneOf": [
            { "type": "string", "description": "URL (template)" },
            generator.subschema_for::<RawHttpTable>()
        ]})
    }
}

/// `"stdout"` or `{ stdout_regex = … }` / `{ json_pointer = … }`.
#[derive(Debug, Clone)]
pub(crate) enum RawOutput {
    Source(String),
    Table(RawOutputTable),
}

impl Decode for RawOutput {
    const EXPECTED: &'static str = "\"stdout\" or a table with `stdout_regex` or `json_pointer`";

    fn decode(v: &Spanned<DeValue<'_>>, cx: &mut Cx<'_>) -> Option<Self> {
        match v.get_ref() {
            DeValue::String(s) => Some(Self::Source(s.to_string())),
            DeValue::Table(_) => RawOutputTable::decode(v, cx).map(Self::Table),
            _ => {
                cx.wrong_type(v, Self::EXPECTED, None);
                None
            }
        }
    }
}

impl JsonSchema for RawOutput {
    fn schema_name() -> Cow<'static, str> {
        "Output".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        json_schema!({ "oneOf": [
            { "const": "stdout", "description": "the trimmed stdout" },
            generator.subschema_for::<RawOutputTable>()
        ]})
    }
}

/// A size: integer bytes or a string with a unit.
#[derive(Debug, Clone)]
pub(crate) enum RawSize {
    Bytes(i64),
    Text(String),
}

impl Decode for RawSize {
    const EXPECTED: &'static str = "a number of bytes or a size string such as \"10MB\"";

    fn decode(v: &Spanned<DeValue<'_>>, cx: &mut Cx<'_>) -> Option<Self> {
        match v.get_ref() {
            DeValue::String(s) => Some(Self::Text(s.to_string())),
            DeValue::Integer(_) => integer(v.get_ref()).map(Self::Bytes),
            _ => {
                cx.wrong_type(v, Self::EXPECTED, None);
                None
            }
        }
    }
}

impl JsonSchema for RawSize {
    fn schema_name() -> Cow<'static, str> {
        "Size".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "oneOf": [
            { "type": "integer", "minimum": 0, "description": "bytes" },
            { "type": "string", "pattern": r"^[0-9]+ ?(B|KB|MB|GB|KiB|MiB|GiB)$" }
        ]})
    }
}

/// A JSON request body as written: every string keeps its span, since each is a template.
#[derive(Debug, Clone)]
pub(crate) enum RawJson {
    String(Sp<String>),
    Array(Vec<RawJson>),
    Table(IndexMap<String, RawJson>),
    /// A number, boolean or datetime, sent as it is.
    Value(serde_json::Value),
}

impl Decode for RawJson {
    const EXPECTED: &'static str = "a value";

    fn decode(v: &Spanned<DeValue<'_>>, _: &mut Cx<'_>) -> Option<Self> {
        Some(Self::read(v))
    }
}

impl RawJson {
    /// Any TOML value reads as JSON, so nothing here is an error.
    fn read(v: &Spanned<DeValue<'_>>) -> Self {
        match v.get_ref() {
            DeValue::String(s) => Self::String(Sp::new(s.to_string(), v.span())),
            DeValue::Array(items) => Self::Array(items.iter().map(Self::read).collect()),
            DeValue::Table(t) => Self::Table(
                t.iter()
                    .map(|(k, item)| (k.get_ref().to_string(), Self::read(item)))
                    .collect(),
            ),
            other => Self::Value(crate::playbook::decode::to_json(other)),
        }
    }
}

impl JsonSchema for RawJson {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "Json".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        // Any value: a table, an array, a string (a template), a number or a boolean.
        json_schema!({})
    }
}
