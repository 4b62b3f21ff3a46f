//! One attempt of a health-check probe: `http`, `tcp`, `command`, `file` or `history`. Polling,
//! events and timeouts around it are `check.rs`'s. The past runs a `history` probe reads come
//! through [`History`], which the session implements over the runs root: the engine reads no
//! run folder itself.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use tokio_util::sync::CancellationToken;

use crate::engine::capture::Capture;
use crate::engine::context::Context;
use crate::engine::process::{CommandSpec, Exit};
use crate::engine::ssh::Place;
use crate::event::HistoryFigures;
use crate::playbook::duration::format_human;
use crate::playbook::model::{CommandProbe, FileProbe, HistoryProbe, HttpBody, HttpProbe, Probe};
use crate::playbook::template::Template;

/// What a probe needs from the run.
pub(crate) struct ProbeEnv<'a> {
    pub(crate) context: &'a Context,
    pub(crate) http: &'a HttpClients,
    pub(crate) cwd: &'a Path,
    pub(crate) env: &'a [(String, String)],
    pub(crate) cancel: &'a CancellationToken,
    pub(crate) groups: &'a crate::engine::process::Registry,
    pub(crate) history: &'a Arc<dyn History>,
    /// For a `command` probe with `on`.
    pub(crate) inventory: crate::engine::ssh::Inventory<'a>,
}

/// The past runs of a playbook, as a `history` probe sees them.
pub(crate) trait History: Send + Sync {
    /// The ended real runs of `playbook` that started within `since` before now.
    fn figures(&self, playbook: &str, since: Duration) -> Result<HistoryFigures, String>;
}

/// The run's HTTP clients: one that checks certificates, one that does not (`insecure_tls`).
/// Built on first use: loading TLS roots costs milliseconds that a run without HTTP should not pay.
#[derive(Default)]
pub(crate) struct HttpClients {
    strict: OnceLock<Result<reqwest::Client, String>>,
    insecure: OnceLock<Result<reqwest::Client, String>>,
}

impl HttpClients {
    fn get(&self, insecure: bool) -> Result<&reqwest::Client, Attempt> {
        let cell = if insecure {
            &self.insecure
        } else {
            &self.strict
        };
        cell.get_or_init(|| {
            // No proxy: health checks talk to the service itself.
            reqwest::Client::builder()
                .no_proxy()
                .user_agent(concat!("runbook/", env!("CARGO_PKG_VERSION")))
                .danger_accept_invalid_certs(insecure)
                .build()
                .map_err(|e| format!("failed to set up HTTP: {e}"))
        })
        .as_ref()
        .map_err(|e| Attempt::fail(e.clone()))
    }
}

/// One attempt's result.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Attempt {
    pub(crate) passed: bool,
    /// What was seen, in words: `HTTP 503 (expected 2xx)`, `connection refused`, `exit code 1`.
    pub(crate) detail: String,
    /// What a `history` probe counted.
    pub(crate) history: Option<HistoryFigures>,
}

impl Attempt {
    fn pass(detail: impl Into<String>) -> Self {
        Self {
            passed: true,
            detail: detail.into(),
            history: None,
        }
    }

    fn fail(detail: impl Into<String>) -> Self {
        Self {
            passed: false,
            detail: detail.into(),
            history: None,
        }
    }
}

/// The probe's target with its template rendered; as written when it has none or it fails.
pub(crate) fn target(probe: &Probe, context: &Context) -> String {
    probe
        .target_template()
        .and_then(|t| context.render(t).ok())
        .unwrap_or_else(|| probe.target().to_owned())
}

fn render(env: &ProbeEnv<'_>, t: &Template, what: &str) -> Result<String, Attempt> {
    env.context
        .render(t)
        .map_err(|e| Attempt::fail(format!("template error in {what}: {e}")))
}

/// Runs one attempt within `limit`.
pub(crate) async fn attempt(probe: &Probe, env: &ProbeEnv<'_>, limit: Duration) -> Attempt {
    let result = match probe {
        Probe::Http(h) => http(h, env, limit).await.map(|(a, _)| a),
        Probe::Tcp(t) => tcp(t, env, limit).await,
        Probe::Command(c) => command(c, env, limit).await,
        Probe::File(f) => file(f, env),
        Probe::History(h) => history(h, env, limit).await,
    };
    result.unwrap_or_else(|failed| failed)
}

/// Sends the request and checks the response; also returns the body, for `http` steps' outputs.
pub(crate) async fn http(
    h: &HttpProbe,
    env: &ProbeEnv<'_>,
    limit: Duration,
) -> Result<(Attempt, String), Attempt> {
    let url = render(env, &h.url, "`url`")?;
    let method = reqwest::Method::from_bytes(h.method.as_bytes())
        .map_err(|_| Attempt::fail(format!("invalid method {}", h.method)))?;
    let mut request = env
        .http
        .get(h.insecure_tls)?
        .request(method, &url)
        .timeout(limit);
    for (name, value) in &h.headers {
        request = request.header(
            name.as_str(),
            render(env, value, &format!("header `{name}`"))?,
        );
    }
    match &h.body {
        Some(HttpBody::Text(t)) => request = request.body(render(env, t, "`body`")?),
        Some(HttpBody::Json(j)) => {
            request = request.json(&j.render(&mut |t| render(env, t, "`json`"))?);
        }
        None => {}
    }
    let response = tokio::select! {
        r = request.send() => r,
        () = env.cancel.cancelled() => return Err(Attempt::fail("cancelled")),
    };
    let response = response.map_err(|e| Attempt::fail(crate::http::describe_reqwest(&e, limit)))?;
    let status = response.status().as_u16();
    let body = response.text().await.map_err(|e| {
        Attempt::fail(format!(
            "HTTP {status}, failed to read the body: {}",
            crate::http::describe_reqwest(&e, limit)
        ))
    })?;
    let status_ok = h
        .status
        .map_or((200..300).contains(&status), |s| s == status);
    if !status_ok {
        let expected = h.status.map_or_else(|| "2xx".to_owned(), |s| s.to_string());
        return Ok((
            Attempt::fail(format!("HTTP {status} (expected {expected})")),
            body,
        ));
    }
    if let Some(t) = &h.body_contains {
        let needle = render(env, t, "`body_contains`")?;
        if !body.contains(&needle) {
            return Ok((
                Attempt::fail(format!("HTTP {status}, body does not contain {needle:?}")),
                body,
            ));
        }
    }
    if let Some(re) = &h.body_matches
        && !re.is_match(body.trim())
    {
        return Ok((
            Attempt::fail(format!("HTTP {status}, body does not match /{re}/")),
            body,
        ));
    }
    if let Some(pointer) = &h.json_pointer {
        let Ok(doc) = serde_json::from_str::<serde_json::Value>(&body) else {
            return Ok((
                Attempt::fail(format!("HTTP {status}, body is not JSON")),
                body,
            ));
        };
        let Some(found) = doc.pointer(pointer) else {
            return Ok((
                Attempt::fail(format!("HTTP {status}, no value at {pointer}")),
                body,
            ));
        };
        if let Some(expected) = &h.equals
            && !json_equal(found, expected)
        {
            return Ok((
                Attempt::fail(format!(
                    "HTTP {status}, {pointer} is {found}, expected {expected}"
                )),
                body,
            ));
        }
    }
    Ok((Attempt::pass(format!("HTTP {status}")), body))
}

/// Equal as JSON, or as text when one side is a string and the other a scalar ("1" and 1).
fn json_equal(found: &serde_json::Value, expected: &serde_json::Value) -> bool {
    use serde_json::Value;
    if found == expected {
        return true;
    }
    match (found, expected) {
        (Value::String(s), Value::Number(_) | Value::Bool(_)) => {
            s.as_str() == expected.to_string().as_str()
        }
        (Value::Number(_) | Value::Bool(_), Value::String(s)) => {
            found.to_string().as_str() == s.as_str()
        }
        _ => false,
    }
}

async fn tcp(t: &Template, env: &ProbeEnv<'_>, limit: Duration) -> Result<Attempt, Attempt> {
    let address = render(env, t, "`tcp`")?;
    let connect = tokio::time::timeout(limit, tokio::net::TcpStream::connect(address.as_str()));
    let result = tokio::select! {
        r = connect => r,
        () = env.cancel.cancelled() => return Err(Attempt::fail("cancelled")),
    };
    Ok(match result {
        Ok(Ok(_)) => Attempt::pass(format!("connected to {address}")),
        Ok(Err(e)) => Attempt::fail(format!(
            "cannot connect to {address}: {}",
            crate::text::os_error(&e)
        )),
        Err(_) => Attempt::fail(format!(
            "no connection to {address} within {}",
            format_human(crate::event::millis(limit))
        )),
    })
}

async fn command(
    c: &CommandProbe,
    env: &ProbeEnv<'_>,
    limit: Duration,
) -> Result<Attempt, Attempt> {
    let script = render(env, &c.command, "`command`")?;
    let mut spec = CommandSpec::new(script, env.cwd);
    spec.env = env.env.to_vec();
    spec.timeout = Some(limit);
    let mut capture = Capture::default();
    let place =
        Place::of(c.on.as_ref(), env.inventory, env.context, None).map_err(Attempt::fail)?;
    let finished = crate::engine::ssh::run(&place, &spec, &mut capture, env.cancel, env.groups)
        .await
        .map_err(|e| Attempt::fail(e.to_string()))?;
    let stdout = String::from_utf8_lossy(capture.stdout_head())
        .trim()
        .to_owned();
    match finished.exit {
        Exit::Success => {}
        other => {
            let last = capture
                .tail_lines()
                .last()
                .cloned()
                .map_or_else(String::new, |l| format!(": {l}"));
            return Ok(Attempt::fail(format!("{other}{last}")));
        }
    }
    if let Some(t) = &c.stdout_contains {
        let needle = render(env, t, "`stdout_contains`")?;
        if !stdout.contains(&needle) {
            return Ok(Attempt::fail(format!("stdout does not contain {needle:?}")));
        }
    }
    if let Some(re) = &c.stdout_matches
        && !re.is_match(&stdout)
    {
        return Ok(Attempt::fail(format!(
            "stdout {:?} does not match /{re}/",
            shorten(&stdout)
        )));
    }
    Ok(Attempt::pass("exit code 0"))
}

fn shorten(s: &str) -> String {
    if s.chars().count() <= 80 {
        s.to_owned()
    } else {
        format!("{}…", s.chars().take(80).collect::<String>())
    }
}

fn file(f: &FileProbe, env: &ProbeEnv<'_>) -> Result<Attempt, Attempt> {
    let pattern = render(env, &f.glob, "`file`")?;
    let absolute = if Path::new(&pattern).is_absolute() {
        PathBuf::from(&pattern)
    } else {
        env.cwd.join(&pattern)
    };
    let matches = glob::glob(&absolute.to_string_lossy())
        .map_err(|e| Attempt::fail(format!("invalid glob {pattern:?}: {e}")))?;
    let newest = matches
        .filter_map(Result::ok)
        .filter_map(|p| {
            std::fs::metadata(&p)
                .ok()
                .filter(std::fs::Metadata::is_file)
                .map(|m| (p, m))
        })
        .max_by_key(|(_, m)| m.modified().unwrap_or(SystemTime::UNIX_EPOCH));
    let Some((path, meta)) = newest else {
        return Ok(Attempt::fail(format!("no file matches {pattern:?}")));
    };
    let shown = path
        .strip_prefix(env.cwd)
        .unwrap_or(&path)
        .display()
        .to_string();
    let age = meta
        .modified()
        .ok()
        .and_then(|m| SystemTime::now().duration_since(m).ok())
        .unwrap_or_default();
    let age_ms = crate::event::millis(age);
    if let Some(max) = f.max_age
        && age > max.get()
    {
        return Ok(Attempt::fail(format!(
            "newest {shown} is {} old (max_age {})",
            format_human(age_ms),
            format_human(max.as_millis())
        )));
    }
    if let Some(min) = f.min_size
        && meta.len() < min.0
    {
        return Ok(Attempt::fail(format!(
            "newest {shown} is {}B (min_size {min})",
            meta.len()
        )));
    }
    Ok(Attempt::pass(format!(
        "newest {shown}: {}B, {} old",
        meta.len(),
        format_human(age_ms)
    )))
}

/// Passes when the playbook's runs in the window are enough and succeeded often enough. The
/// run folders are read on a blocking thread, within the attempt's limit.
async fn history(
    h: &HistoryProbe,
    env: &ProbeEnv<'_>,
    limit: Duration,
) -> Result<Attempt, Attempt> {
    let source = Arc::clone(env.history);
    let (playbook, since) = (h.playbook.clone(), h.since.get());
    let lookup = tokio::task::spawn_blocking(move || source.figures(&playbook, since));
    let answer = tokio::select! {
        r = tokio::time::timeout(limit, lookup) => r,
        () = env.cancel.cancelled() => return Err(Attempt::fail("cancelled")),
    };
    let figures = match answer {
        Ok(Ok(Ok(f))) => f,
        Ok(Ok(Err(e))) => {
            return Err(Attempt::fail(format!(
                "cannot read the runs of `{}`: {e}",
                h.playbook
            )));
        }
        Ok(Err(e)) => return Err(Attempt::fail(format!("reading past runs stopped: {e}"))),
        Err(_) => {
            return Err(Attempt::fail(format!(
                "past runs not read within {}",
                format_human(crate::event::millis(limit))
            )));
        }
    };
    let window = format_human(h.since.as_millis());
    let seen = format!(
        "{} of `{}` in {window}, {} ok, success {}",
        crate::text::count(figures.runs, "run"),
        h.playbook,
        figures.ok,
        crate::text::percent(figures.success_rate)
    );
    let short = if figures.runs < h.min_runs as usize {
        Some(format!("min_runs {}", h.min_runs))
    } else if figures.success_rate < h.min_success_rate {
        Some(format!(
            "min_success_rate {}",
            crate::text::percent(h.min_success_rate)
        ))
    } else {
        None
    };
    let mut attempt = match short {
        None => Attempt::pass(seen),
        Some(rule) => Attempt::fail(format!("{seen} (below {rule})")),
    };
    attempt.history = Some(figures);
    Ok(attempt)
}
