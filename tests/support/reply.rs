//! `Reply`: what an `HttpStub` does with one request. Answer with a status, headers and body
//! (optionally after a delay), hold the connection open without answering, or close it unanswered.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::time::Duration;

/// One scripted answer, built like `Reply::status(429).header("Retry-After", "1")`.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub(super) action: Action,
    pub(super) status: u16,
    pub(super) headers: Vec<(String, String)>,
    pub(super) body: String,
    pub(super) delay: Duration,
}

/// What the stub does once the request is read (and the delay has passed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Action {
    Answer,
    /// Keep the connection open and silent until the stub is dropped: a server that hangs.
    Hang,
    /// Close the connection without a response: a server that crashes mid-request.
    Close,
}

impl Reply {
    /// An empty answer with this status code.
    pub(crate) fn status(status: u16) -> Self {
        Self {
            action: Action::Answer,
            status,
            headers: Vec::new(),
            body: String::new(),
            delay: Duration::ZERO,
        }
    }

    /// `200 OK` with this body.
    pub(crate) fn ok(body: impl Into<String>) -> Self {
        Self::status(200).body(body)
    }

    /// This status with `value` as an `application/json` body.
    #[expect(
        clippy::needless_pass_by_value,
        reason = "callers pass a `json!` literal, which reads better without a `&`"
    )]
    pub(crate) fn json(status: u16, value: serde_json::Value) -> Self {
        Self::status(status)
            .header("Content-Type", "application/json")
            .body(value.to_string())
    }

    /// Never answers: the connection stays open until the stub is dropped, so client timeouts fire.
    pub(crate) fn hang() -> Self {
        Self {
            action: Action::Hang,
            ..Self::status(200)
        }
    }

    /// Reads the request, then closes the connection without answering.
    pub(crate) fn close() -> Self {
        Self {
            action: Action::Close,
            ..Self::status(200)
        }
    }

    /// Adds a header. `Content-Length` is computed unless set here, and `Connection: close` set
    /// here makes the stub close the connection after this answer.
    pub(crate) fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub(crate) fn body(mut self, body: impl Into<String>) -> Self {
        self.body = body.into();
        self
    }

    /// Waits this long after reading the request before acting (answering or closing). Dropping
    /// the stub cuts the wait short.
    pub(crate) fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// The value of a header set on this reply, by case-insensitive name.
    fn header_value(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether this reply asks for the connection to be closed after it.
    pub(super) fn closes_connection(&self) -> bool {
        self.header_value("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
    }

    /// Writes the response. `head_only` answers a `HEAD`: the same headers, including the length
    /// of the body a `GET` would get, but no body.
    pub(super) fn write_to(
        &self,
        out: &mut impl Write,
        head_only: bool,
        keep_alive: bool,
    ) -> io::Result<()> {
        // 1xx, 204 and 304 never carry a body, and a length on them confuses strict clients.
        let bodiless = matches!(self.status, 100..=199 | 204 | 304);
        let mut head = format!("HTTP/1.1 {} {}\r\n", self.status, reason(self.status));
        for (name, value) in &self.headers {
            let _ = write!(head, "{name}: {value}\r\n");
        }
        if !bodiless && self.header_value("content-length").is_none() {
            let _ = write!(head, "Content-Length: {}\r\n", self.body.len());
        }
        if !keep_alive && self.header_value("connection").is_none() {
            head.push_str("Connection: close\r\n");
        }
        head.push_str("\r\n");
        out.write_all(head.as_bytes())?;
        if !head_only && !bodiless {
            out.write_all(self.body.as_bytes())?;
        }
        out.flush()
    }
}

/// The reason phrase for common codes. Clients ignore it, but it makes captured traffic readable.
fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{Action, Reply};

    fn written(reply: &Reply, head_only: bool, keep_alive: bool) -> String {
        let mut out = Vec::new();
        reply
            .write_to(&mut out, head_only, keep_alive)
            .expect("writing to a Vec succeeds");
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn ok_has_status_length_and_body() {
        assert_eq!(
            written(&Reply::ok("hello"), false, true),
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
        );
    }

    #[test]
    fn headers_keep_their_order_and_spelling() {
        let reply = Reply::status(429)
            .header("Retry-After", "1")
            .header("X-Trace", "a");
        assert_eq!(
            written(&reply, false, true),
            "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\nX-Trace: a\r\nContent-Length: 0\r\n\r\n"
        );
    }

    #[test]
    fn json_sets_the_content_type() {
        let text = written(
            &Reply::json(201, serde_json::json!({"ok": true})),
            false,
            true,
        );
        assert!(text.starts_with("HTTP/1.1 201 Created\r\n"), "{text}");
        assert!(
            text.contains("Content-Type: application/json\r\n"),
            "{text}"
        );
        assert!(text.ends_with("\r\n\r\n{\"ok\":true}"), "{text}");
    }

    #[test]
    fn head_gets_the_length_but_no_body() {
        assert_eq!(
            written(&Reply::ok("hello"), true, true),
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"
        );
    }

    #[test]
    fn no_content_has_no_length() {
        assert_eq!(
            written(&Reply::status(204), false, true),
            "HTTP/1.1 204 No Content\r\n\r\n"
        );
    }

    #[test]
    fn closing_connections_say_so_once() {
        assert_eq!(
            written(&Reply::status(503), false, false),
            "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        let explicit = Reply::status(200).header("connection", "Close");
        assert!(explicit.closes_connection());
        assert_eq!(
            written(&explicit, false, false)
                .matches("onnection")
                .count(),
            1
        );
        assert!(!Reply::ok("").closes_connection());
    }

    #[test]
    fn builders_set_action_and_delay() {
        assert_eq!(Reply::hang().action, Action::Hang);
        assert_eq!(Reply::close().action, Action::Close);
        let reply = Reply::status(200).body("x").delay(Duration::from_millis(5));
        assert_eq!(
            (reply.action, reply.body.as_str(), reply.delay),
            (Action::Answer, "x", Duration::from_millis(5))
        );
    }
}
