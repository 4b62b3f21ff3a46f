//! One message to one URL: HTTP attempts of at most 5 s each, retried with backoff (the first
//! retry within 1 s, then doubling) for up to a minute, honouring `Retry-After` on 429. Errors
//! are described without the URL, which is a secret.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

use crate::event::millis;
use crate::notify::channel::Target;
use crate::playbook::duration::format_human;

/// Each HTTP attempt gives up after this long.
pub(crate) const ATTEMPT_LIMIT: Duration = Duration::from_secs(5);
/// The wait before the first retry; it doubles after each failed attempt.
const FIRST_RETRY: Duration = Duration::from_millis(500);
/// A message is retried for this long at most.
const RETRY_FOR: Duration = Duration::from_secs(60);
/// How much of an error response's body is kept for the reason (Slack says why in it).
const BODY_LIMIT: usize = 200;

/// Why a message was not delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    pub(crate) reason: String,
    pub(crate) http_status: Option<u16>,
    retry: Retry,
}

/// Whether an attempt's failure is worth another attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Retry {
    /// A refusal that would come again (400, 403, 404, …).
    Never,
    /// After the backoff delay.
    Backoff,
    /// After the delay the server asked for (`Retry-After`).
    After(Duration),
}

/// The client every message of a run is posted with: no proxy (like the probes), and the
/// per-attempt limit on connecting and on the whole exchange.
pub(crate) fn client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .no_proxy()
        .connect_timeout(ATTEMPT_LIMIT)
        .timeout(ATTEMPT_LIMIT)
        .user_agent(concat!("runbook/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("failed to set up HTTP: {}", e.without_url()))
}

/// Posts `body` until it is delivered, refused, or the retry window has passed. `last` holds
/// the latest failure, for a caller that stops waiting before this returns.
pub(crate) async fn send(
    client: &reqwest::Client,
    target: &Target,
    body: &[u8],
    last: &mut Option<Failure>,
) -> Result<(), Failure> {
    let started = Instant::now();
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        let failure = match attempt(client, target, body).await {
            Ok(()) => return Ok(()),
            Err(f) => f,
        };
        *last = Some(failure.clone());
        let wait = match next_wait(attempts, &failure, started.elapsed()) {
            Ok(wait) => wait,
            Err(why) => {
                let times = if attempts == 1 {
                    "1 attempt".to_owned()
                } else {
                    format!("{attempts} attempts")
                };
                return Err(Failure {
                    reason: format!("{why} after {times}: {}", failure.reason),
                    ..failure
                });
            }
        };
        tokio::time::sleep(wait).await;
    }
}

/// How long to wait before attempt `attempts + 1`, or why there is none.
fn next_wait(
    attempts: u32,
    failure: &Failure,
    elapsed: Duration,
) -> Result<Duration, &'static str> {
    let wait = match failure.retry {
        Retry::Never => return Err("not retried"),
        Retry::Backoff => {
            FIRST_RETRY.saturating_mul(2u32.saturating_pow(attempts.saturating_sub(1)))
        }
        Retry::After(wait) => wait,
    };
    if elapsed + wait > RETRY_FOR {
        return Err("gave up");
    }
    Ok(wait)
}

/// One POST.
async fn attempt(client: &reqwest::Client, target: &Target, body: &[u8]) -> Result<(), Failure> {
    let mut request = client
        .post(&target.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body.to_vec());
    for (name, value) in &target.headers {
        request = request.header(name, value);
    }
    let mut response = request.send().await.map_err(|e| Failure {
        // Without the URL: it carries the webhook's credentials.
        reason: crate::http::describe_reqwest(&e.without_url(), ATTEMPT_LIMIT),
        http_status: None,
        retry: Retry::Backoff,
    })?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let code = status.as_u16();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| retry_after(v, Utc::now()));
    let retry = match code {
        429 => retry_after.map_or(Retry::Backoff, Retry::After),
        408 | 500..=599 => Retry::Backoff,
        _ => Retry::Never,
    };
    let mut reason = format!("HTTP {code}");
    let said = snippet(&mut response).await;
    if !said.is_empty() {
        reason = format!("{reason}: {said}");
    }
    if let Retry::After(wait) = retry {
        reason = format!("{reason} (Retry-After {})", format_human(millis(wait)));
    }
    Err(Failure {
        reason,
        http_status: Some(code),
        retry,
    })
}

/// The start of an error response's body, on one line.
async fn snippet(response: &mut reqwest::Response) -> String {
    let mut bytes = Vec::new();
    while bytes.len() < BODY_LIMIT * 4 {
        match response.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    let text = String::from_utf8_lossy(&bytes);
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    crate::notify::text::cut(&line, BODY_LIMIT)
}

/// `Retry-After`: a number of seconds or an HTTP date.
fn retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = DateTime::parse_from_rfc2822(value)
        .ok()?
        .with_timezone(&Utc);
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(retry: Retry) -> Failure {
        Failure {
            reason: "HTTP 500".into(),
            http_status: Some(500),
            retry,
        }
    }

    #[test]
    fn backoff_starts_within_a_second_doubles_and_stops_after_a_minute() {
        let f = failure(Retry::Backoff);
        let mut elapsed = Duration::ZERO;
        let mut waits = Vec::new();
        let mut attempts = 1;
        while let Ok(wait) = next_wait(attempts, &f, elapsed) {
            waits.push(wait.as_millis());
            elapsed += wait;
            attempts += 1;
        }
        assert_eq!(waits, [500, 1000, 2000, 4000, 8000, 16_000]);
        assert_eq!(next_wait(attempts, &f, elapsed), Err("gave up"));
    }

    #[test]
    fn retry_after_is_honoured_and_refusals_are_not_retried() {
        let f = failure(Retry::After(Duration::from_secs(3)));
        assert_eq!(next_wait(1, &f, Duration::ZERO), Ok(Duration::from_secs(3)));
        assert_eq!(next_wait(1, &f, Duration::from_secs(58)), Err("gave up"));
        assert_eq!(
            next_wait(1, &failure(Retry::Never), Duration::ZERO),
            Err("not retried")
        );
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = DateTime::parse_from_rfc3339("2026-11-23T02:00:00Z")
            .expect("time")
            .with_timezone(&Utc);
        assert_eq!(retry_after(" 2 ", now), Some(Duration::from_secs(2)));
        assert_eq!(
            retry_after("Mon, 23 Nov 2026 02:00:07 GMT", now),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            retry_after("Mon, 23 Nov 2026 01:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after("soon", now), None);
    }
}
