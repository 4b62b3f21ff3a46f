//! `Request`: one request as an `HttpStub` received it, and the HTTP/1.1 parsing that produces it.
//! The parser covers what real clients send (reqwest, curl): `Content-Length` and chunked bodies,
//! `Expect: 100-continue`, keep-alive. It is bounded, and anything malformed or oversized is an
//! error, on which the stub closes the connection.

use std::io::{self, BufRead, Read};
use std::time::Instant;

/// Longest request line, header line or chunk-size line accepted.
const MAX_LINE: u64 = 16 * 1024;
/// Most header (or trailer) lines in one request.
const MAX_HEADERS: usize = 256;
/// Largest body accepted, and the most chunks it may come in.
const MAX_BODY: usize = 16 * 1024 * 1024;
const MAX_CHUNKS: usize = 64 * 1024;
/// Empty lines tolerated before a request line (RFC 9112 §2.2 asks servers to skip at least one).
const MAX_LEADING_EMPTY_LINES: usize = 8;

/// A request the stub received, in the order it arrived.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub(crate) method: String,
    /// The request target as sent: path and query, such as `/health?deep=1`.
    pub(crate) path: String,
    /// `HTTP/1.1` or `HTTP/1.0`.
    pub(crate) version: String,
    /// Header names lowercased and values trimmed, in arrival order, repeats kept.
    pub(crate) headers: Vec<(String, String)>,
    /// The body, with chunked encoding removed; invalid UTF-8 is replaced, not an error.
    pub(crate) body: String,
    /// When the request line arrived: the gap between two of these shows a client's backoff.
    pub(crate) arrived: Instant,
}

impl Request {
    /// The first value of a header, by case-insensitive name.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON, for asserting on webhook payloads.
    #[track_caller]
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| {
            panic!(
                "{} {} has no JSON body ({e}):\n{}",
                self.method, self.path, self.body
            )
        })
    }

    /// Whether the client wants the connection kept open after the response: the HTTP/1.1
    /// default unless it says `Connection: close`, and HTTP/1.0 only if it asks.
    pub(super) fn keep_alive(&self) -> bool {
        let has_token = |token: &str| {
            self.headers
                .iter()
                .filter(|(n, _)| n == "connection")
                .flat_map(|(_, v)| v.split(','))
                .any(|t| t.trim().eq_ignore_ascii_case(token))
        };
        if self.version == "HTTP/1.0" {
            has_token("keep-alive")
        } else {
            !has_token("close")
        }
    }

    /// Whether the client waits for `100 Continue` before sending the body (curl does for large
    /// bodies; without the interim response it stalls for a second).
    pub(super) fn expects_continue(&self) -> bool {
        self.header("expect")
            .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
    }

    /// Reads a request line and headers, leaving the body unread. `None` means the client closed
    /// the connection cleanly between requests.
    pub(super) fn read_head(reader: &mut impl BufRead) -> io::Result<Option<Self>> {
        let mut line = None;
        for _ in 0..=MAX_LEADING_EMPTY_LINES {
            match read_line(reader)? {
                None => return Ok(None),
                Some(l) if l.is_empty() => {}
                Some(l) => {
                    line = Some(l);
                    break;
                }
            }
        }
        let line = line.ok_or_else(|| invalid("only empty lines"))?;
        let arrived = Instant::now();
        let mut parts = line.split(' ');
        let (Some(method), Some(path), Some(version), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid(&format!("malformed request line `{line}`")));
        };
        if !version.starts_with("HTTP/1.") {
            return Err(invalid(&format!("unsupported version `{version}`")));
        }
        Ok(Some(Self {
            method: method.to_owned(),
            path: path.to_owned(),
            version: version.to_owned(),
            headers: read_fields(reader)?,
            body: String::new(),
            arrived,
        }))
    }

    /// Reads the body announced by the headers: chunked, `Content-Length`, or none.
    pub(super) fn read_body(&mut self, reader: &mut impl BufRead) -> io::Result<()> {
        // Transfer-Encoding wins over Content-Length (RFC 9112 §6.3).
        let chunked = self
            .header("transfer-encoding")
            .and_then(|v| v.rsplit(',').next())
            .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"));
        let bytes = if chunked {
            read_chunked(reader)?
        } else if let Some(length) = self.header("content-length") {
            let length: usize = length
                .parse()
                .map_err(|_| invalid(&format!("bad content-length `{length}`")))?;
            if length > MAX_BODY {
                return Err(invalid("body too large"));
            }
            let mut bytes = vec![0; length];
            reader.read_exact(&mut bytes)?;
            bytes
        } else {
            Vec::new()
        };
        self.body = String::from_utf8_lossy(&bytes).into_owned();
        Ok(())
    }
}

/// Header or trailer lines up to the empty line that ends them.
fn read_fields(reader: &mut impl BufRead) -> io::Result<Vec<(String, String)>> {
    let mut fields = Vec::new();
    for _ in 0..=MAX_HEADERS {
        let line = read_line(reader)?.ok_or_else(truncated)?;
        if line.is_empty() {
            return Ok(fields);
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| invalid(&format!("malformed header `{line}`")))?;
        fields.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    Err(invalid("too many headers"))
}

/// A chunked body: hex size lines (extensions ignored), data, and trailers after the last chunk.
fn read_chunked(reader: &mut impl BufRead) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    for _ in 0..MAX_CHUNKS {
        let line = read_line(reader)?.ok_or_else(truncated)?;
        let size = line.split_once(';').map_or(line.as_str(), |(size, _)| size);
        let size = usize::from_str_radix(size.trim(), 16)
            .map_err(|_| invalid(&format!("bad chunk size `{line}`")))?;
        if size == 0 {
            read_fields(reader)?;
            return Ok(body);
        }
        if body.len() + size > MAX_BODY {
            return Err(invalid("body too large"));
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..])?;
        let mut end = [0; 2];
        reader.read_exact(&mut end)?;
        if &end != b"\r\n" {
            return Err(invalid("chunk data not followed by CRLF"));
        }
    }
    Err(invalid("too many chunks"))
}

/// One line without its line ending; `None` at end of input. Bounded by `MAX_LINE`.
fn read_line(reader: &mut impl BufRead) -> io::Result<Option<String>> {
    let mut line = String::new();
    if reader.take(MAX_LINE).read_line(&mut line)? == 0 {
        return Ok(None);
    }
    // Without the newline, the line was cut by the limit or by the end of input.
    let Some(line) = line.strip_suffix('\n') else {
        return Err(invalid("line too long or truncated"));
    };
    Ok(Some(line.strip_suffix('\r').unwrap_or(line).to_owned()))
}

fn invalid(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.to_owned())
}

fn truncated() -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, "request ended early")
}

#[cfg(test)]
mod tests {
    use std::io::{Cursor, ErrorKind};

    use super::Request;

    /// Parses one full request (head and body) from `raw`.
    fn parse(raw: &str) -> Request {
        let mut reader = Cursor::new(raw.as_bytes());
        let mut request = Request::read_head(&mut reader)
            .expect("a valid head")
            .expect("a request, not end of input");
        request.read_body(&mut reader).expect("a valid body");
        assert_eq!(
            reader.position(),
            raw.len() as u64,
            "the whole request was consumed"
        );
        request
    }

    #[test]
    fn get_with_lowercased_headers() {
        let request = parse("GET /health?deep=1 HTTP/1.1\r\nHost: x\r\nX-Token:  abc \r\n\r\n");
        assert_eq!(request.method, "GET");
        assert_eq!(request.path, "/health?deep=1");
        assert_eq!(
            request.headers,
            [
                ("host".into(), "x".into()),
                ("x-token".into(), "abc".into())
            ]
        );
        assert_eq!(request.header("X-TOKEN"), Some("abc"));
        assert_eq!(request.header("missing"), None);
        assert_eq!(request.body, "");
    }

    #[test]
    fn content_length_body_and_json() {
        let request = parse("POST /hook HTTP/1.1\r\nContent-Length: 12\r\n\r\n{\"text\":\"a\"}");
        assert_eq!(request.body, r#"{"text":"a"}"#);
        assert_eq!(request.json()["text"], "a");
    }

    #[test]
    fn chunked_body_with_extension_and_trailer() {
        let request = parse(
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\
             5;name=x\r\nhello\r\nB\r\n, chunked!!\r\n0\r\nX-Sum: 1\r\n\r\n",
        );
        assert_eq!(request.body, "hello, chunked!!");
    }

    #[test]
    fn leading_empty_lines_are_skipped_and_end_of_input_is_none() {
        assert_eq!(parse("\r\nHEAD / HTTP/1.1\r\n\r\n").method, "HEAD");
        let mut empty = Cursor::new(&b""[..]);
        assert!(Request::read_head(&mut empty).expect("clean end").is_none());
    }

    #[test]
    fn keep_alive_follows_version_and_connection_header() {
        let alive = |raw: &str| parse(raw).keep_alive();
        assert!(alive("GET / HTTP/1.1\r\n\r\n"));
        assert!(!alive("GET / HTTP/1.1\r\nConnection: close\r\n\r\n"));
        assert!(!alive("GET / HTTP/1.1\r\nConnection: TE, Close\r\n\r\n"));
        assert!(!alive("GET / HTTP/1.0\r\n\r\n"));
        assert!(alive("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    }

    #[test]
    fn expect_continue_is_noticed() {
        assert!(parse("PUT / HTTP/1.1\r\nExpect: 100-continue\r\n\r\n").expects_continue());
        assert!(!parse("PUT / HTTP/1.1\r\n\r\n").expects_continue());
    }

    #[test]
    fn malformed_requests_are_errors() {
        for raw in [
            "GET /\r\n\r\n",
            "GET / HTTP/2\r\n\r\n",
            "GET / HTTP/1.1\r\nno colon\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: x\r\n",
        ] {
            let result = Request::read_head(&mut Cursor::new(raw.as_bytes()));
            assert!(result.is_err(), "{raw:?} parsed as {result:?}");
        }
        let long = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(20_000));
        let error = Request::read_head(&mut Cursor::new(long.as_bytes())).expect_err("too long");
        assert_eq!(error.kind(), ErrorKind::InvalidData);
    }

    #[test]
    fn bad_bodies_are_errors() {
        for raw in [
            "POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nshort",
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n",
        ] {
            let mut reader = Cursor::new(raw.as_bytes());
            let mut request = Request::read_head(&mut reader)
                .expect("a valid head")
                .expect("a request");
            assert!(request.read_body(&mut reader).is_err(), "{raw:?}");
        }
    }
}
