//! `HttpStub`: a scripted HTTP/1.1 server on `127.0.0.1` for tests. The n-th request gets the
//! n-th `Reply` and the last one repeats, so `[503, 503, 200]` fails twice and then passes for
//! good. Every request is recorded, and each connection has its own thread, so a reply that hangs
//! on one connection does not hold up the others.

use std::io::{self, BufReader, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};

use super::reply::{Action, Reply};
use super::request::Request;
use super::stop::{self, LIFETIME, StopSignal};

/// Requests served on one keep-alive connection before the stub closes it.
const MAX_REQUESTS_PER_CONNECTION: usize = 1024;

/// A running stub; it stops listening and closes every connection when dropped.
pub(crate) struct HttpStub {
    addr: SocketAddr,
    state: Arc<State>,
    acceptor: Option<JoinHandle<()>>,
}

/// What the test and the server threads share.
struct State {
    replies: Vec<Reply>,
    requests: Mutex<Vec<Request>>,
    stop: StopSignal,
}

impl HttpStub {
    /// Starts listening on a free port of 127.0.0.1, answering with `replies` in order.
    pub(crate) fn start(replies: Vec<Reply>) -> Self {
        assert!(!replies.is_empty(), "an HttpStub needs at least one reply");
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
        let addr = listener
            .local_addr()
            .expect("a bound listener has an address");
        let state = Arc::new(State {
            replies,
            requests: Mutex::default(),
            stop: StopSignal::default(),
        });
        let acceptor = {
            let state = Arc::clone(&state);
            thread::Builder::new()
                .name(format!("http-stub-{}", addr.port()))
                .spawn(move || accept(listener, &state))
                .expect("spawn the stub's accept thread")
        };
        Self {
            addr,
            state,
            acceptor: Some(acceptor),
        }
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The URL of `path`, which starts with `/`: `stub.url_for("/health")`.
    pub(crate) fn url_for(&self, path: &str) -> String {
        assert!(path.starts_with('/'), "`{path}` should start with `/`");
        format!("{}{path}", self.url())
    }

    pub(crate) fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Every request received so far, in arrival order, including ones whose reply is still
    /// delayed or hanging.
    pub(crate) fn requests(&self) -> Vec<Request> {
        self.state.requests().clone()
    }
}

impl Drop for HttpStub {
    fn drop(&mut self) {
        self.state.stop.raise(self.addr);
        if let Some(acceptor) = self.acceptor.take() {
            // The accept thread joins the connection threads; a panic there was already printed.
            let _ = acceptor.join();
        }
    }
}

impl State {
    fn requests(&self) -> MutexGuard<'_, Vec<Request>> {
        // A panicking test thread may poison the lock; the recorded requests are still whole.
        self.requests.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records `request` and picks its reply under one lock, so that the n-th recorded request
    /// gets the n-th reply even when connections race.
    fn record(&self, request: Request) -> Reply {
        let mut requests = self.requests();
        let index = requests.len().min(self.replies.len() - 1);
        requests.push(request);
        self.replies[index].clone()
    }
}

/// Accepts connections until the stub is dropped, then closes them and joins their threads.
fn accept(listener: TcpListener, state: &Arc<State>) {
    let mut connections: Vec<(TcpStream, JoinHandle<()>)> = Vec::new();
    stop::accept_until_stopped(&listener, &state.stop, |stream| {
        // Keeping a clone of each socket lets the drop below wake a thread blocked reading it.
        connections.retain(|(_, thread)| !thread.is_finished());
        let Ok(clone) = stream.try_clone() else {
            return;
        };
        let state = Arc::clone(state);
        let spawned = thread::Builder::new()
            .name("http-stub-connection".to_owned())
            .spawn(move || serve(&stream, &state));
        if let Ok(thread) = spawned {
            connections.push((clone, thread));
        }
    });
    // From here on connections are refused rather than left waiting in the backlog.
    drop(listener);
    state.stop.wait(LIFETIME);
    for (stream, thread) in connections {
        let _ = stream.shutdown(Shutdown::Both);
        let _ = thread.join();
    }
}

/// Serves one connection, then closes it. `shutdown` rather than drop: the accept thread holds a
/// clone of the socket, and the peer sees the close only once every handle is gone.
fn serve(stream: &TcpStream, state: &State) {
    serve_requests(stream, state);
    let _ = stream.shutdown(Shutdown::Both);
}

fn serve_requests(stream: &TcpStream, state: &State) {
    // Dropping the stub wakes a blocked read; this timeout only bounds a stub that was leaked.
    let _ = stream.set_read_timeout(Some(LIFETIME));
    let mut reader = BufReader::new(stream);
    let mut writer = stream;
    for _ in 0..MAX_REQUESTS_PER_CONNECTION {
        // A clean close, a broken connection and a malformed request all end the connection.
        let mut request = match Request::read_head(&mut reader) {
            Ok(Some(request)) => request,
            Ok(None) => return,
            Err(error) => return report_malformed(&error),
        };
        if request.expects_continue() && writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").is_err()
        {
            return;
        }
        if let Err(error) = request.read_body(&mut reader) {
            return report_malformed(&error);
        }
        let head_only = request.method == "HEAD";
        let keep_alive = request.keep_alive();
        let reply = state.record(request);
        if state.stop.wait(reply.delay) {
            return;
        }
        match reply.action {
            Action::Answer => {}
            Action::Hang => {
                state.stop.wait(LIFETIME);
                return;
            }
            Action::Close => return,
        }
        let keep_alive = keep_alive && !reply.closes_connection();
        if reply.write_to(&mut writer, head_only, keep_alive).is_err() || !keep_alive {
            return;
        }
    }
}

/// Says why a connection was dropped when the client sent something the stub cannot parse, so a
/// test that fails because of the stub is not a mystery. Broken connections are not worth a line.
fn report_malformed(error: &io::Error) {
    if error.kind() == io::ErrorKind::InvalidData {
        eprintln!("HttpStub: closing a connection after a malformed request: {error}");
    }
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
    use std::net::{Ipv4Addr, TcpStream};
    use std::thread;
    use std::time::{Duration, Instant};

    use crate::support::{HttpStub, Reply, Request, wait_until};

    /// Every bound in these tests is far above what an idle machine needs.
    const PATIENCE: Duration = Duration::from_secs(10);

    /// A bare HTTP/1.1 client: raw requests out, parsed responses in.
    struct Client {
        reader: BufReader<TcpStream>,
        writer: TcpStream,
    }

    #[derive(Debug)]
    struct Response {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    }

    impl Response {
        fn header(&self, name: &str) -> Option<&str> {
            self.headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        }
    }

    impl Client {
        fn connect(stub: &HttpStub) -> Self {
            let stream = TcpStream::connect((Ipv4Addr::LOCALHOST, stub.port())).expect("connect");
            stream.set_read_timeout(Some(PATIENCE)).expect("timeout");
            Self {
                reader: BufReader::new(stream.try_clone().expect("clone")),
                writer: stream,
            }
        }

        fn send(&mut self, raw: &str) {
            self.writer.write_all(raw.as_bytes()).expect("send");
        }

        fn get(&mut self, path: &str) -> Response {
            self.send(&format!("GET {path} HTTP/1.1\r\nHost: stub\r\n\r\n"));
            self.response(false).expect("a response")
        }

        /// Reads one response; `head_only` for the answer to a `HEAD`, which has no body.
        fn response(&mut self, head_only: bool) -> std::io::Result<Response> {
            let status_line = self.line()?;
            let status = status_line
                .split(' ')
                .nth(1)
                .and_then(|code| code.parse().ok())
                .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
            let mut headers = Vec::new();
            loop {
                let line = self.line()?;
                if line.is_empty() {
                    break;
                }
                let (name, value) = line.split_once(':').expect("a header");
                headers.push((name.to_owned(), value.trim().to_owned()));
            }
            let mut response = Response {
                status,
                headers,
                body: String::new(),
            };
            if !head_only {
                let length = response.header("content-length").map_or(0, |length| {
                    length.parse().expect("a numeric content-length")
                });
                let mut body = vec![0; length];
                self.reader.read_exact(&mut body)?;
                response.body = String::from_utf8(body).expect("utf-8");
            }
            Ok(response)
        }

        fn line(&mut self) -> std::io::Result<String> {
            let mut line = String::new();
            if self.reader.read_line(&mut line)? == 0 {
                return Err(ErrorKind::UnexpectedEof.into());
            }
            Ok(line.trim_end_matches(['\r', '\n']).to_owned())
        }

        /// Whether the server closed the connection (end of input or reset) without sending more.
        fn closed(&mut self) -> bool {
            let mut byte = [0];
            match self.reader.read(&mut byte) {
                Ok(0) => true,
                Ok(_) => false,
                Err(e) => matches!(
                    e.kind(),
                    ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted
                ),
            }
        }
    }

    fn statuses(stub: &HttpStub, count: usize) -> Vec<u16> {
        (0..count)
            .map(|_| Client::connect(stub).get("/").status)
            .collect()
    }

    fn paths(requests: &[Request]) -> Vec<&str> {
        requests.iter().map(|r| r.path.as_str()).collect()
    }

    #[test]
    fn answers_and_records_a_get() {
        let stub = HttpStub::start(vec![Reply::ok("up")]);
        let mut client = Client::connect(&stub);
        let response = client.get("/health");
        assert_eq!((response.status, response.body.as_str()), (200, "up"));
        assert_eq!(response.header("content-length"), Some("2"));

        let requests = stub.requests();
        assert_eq!(requests.len(), 1);
        assert_eq!(requests[0].method, "GET");
        assert_eq!(requests[0].path, "/health");
        assert_eq!(requests[0].header("host"), Some("stub"));
    }

    #[test]
    fn urls_point_at_the_stub() {
        let stub = HttpStub::start(vec![Reply::ok("")]);
        let port = stub.port();
        assert_eq!(stub.url(), format!("http://127.0.0.1:{port}"));
        assert_eq!(
            stub.url_for("/health?x=1"),
            format!("http://127.0.0.1:{port}/health?x=1")
        );
    }

    #[test]
    fn serves_two_requests_on_one_keep_alive_connection() {
        let stub = HttpStub::start(vec![Reply::ok("first"), Reply::ok("second")]);
        let mut client = Client::connect(&stub);
        assert_eq!(client.get("/a").body, "first");
        assert_eq!(client.get("/b").body, "second");
        assert_eq!(paths(&stub.requests()), ["/a", "/b"]);
    }

    #[test]
    fn answers_pipelined_requests_in_order() {
        let stub = HttpStub::start(vec![Reply::ok("1"), Reply::ok("2")]);
        let mut client = Client::connect(&stub);
        client.send("GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n");
        assert_eq!(client.response(false).expect("first").body, "1");
        assert_eq!(client.response(false).expect("second").body, "2");
    }

    #[test]
    fn replies_in_order_then_repeats_the_last() {
        let stub = HttpStub::start(vec![
            Reply::status(503),
            Reply::status(503),
            Reply::status(200),
        ]);
        assert_eq!(statuses(&stub, 5), [503, 503, 200, 200, 200]);
        // The count is per stub, not per connection.
        let mut client = Client::connect(&stub);
        assert_eq!(client.get("/").status, 200);
    }

    #[test]
    fn client_connection_close_is_honoured() {
        let stub = HttpStub::start(vec![Reply::ok("bye")]);
        let mut client = Client::connect(&stub);
        client.send("GET / HTTP/1.1\r\nConnection: close\r\n\r\n");
        let response = client.response(false).expect("a response");
        assert_eq!(response.header("connection"), Some("close"));
        assert!(client.closed(), "the stub closed after answering");
    }

    #[test]
    fn reply_connection_close_is_honoured() {
        let stub = HttpStub::start(vec![Reply::ok("bye").header("Connection", "close")]);
        let mut client = Client::connect(&stub);
        assert_eq!(client.get("/").body, "bye");
        assert!(client.closed(), "the stub closed after answering");
    }

    #[test]
    fn http_1_0_closes_unless_asked_to_keep_alive() {
        let stub = HttpStub::start(vec![Reply::ok("old")]);
        let mut client = Client::connect(&stub);
        client.send("GET / HTTP/1.0\r\n\r\n");
        assert_eq!(client.response(false).expect("a response").body, "old");
        assert!(client.closed());
    }

    #[test]
    fn hang_never_answers_until_the_stub_is_dropped() {
        let stub = HttpStub::start(vec![Reply::hang()]);
        let mut client = Client::connect(&stub);
        client.send("GET /slow HTTP/1.1\r\n\r\n");
        client
            .writer
            .set_read_timeout(Some(Duration::from_millis(200)))
            .expect("timeout");
        let mut byte = [0];
        let error = client.reader.read(&mut byte).expect_err("no answer");
        assert!(
            matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
            "{error}"
        );
        assert!(wait_until(PATIENCE, || stub.requests().len() == 1));

        client
            .writer
            .set_read_timeout(Some(PATIENCE))
            .expect("timeout");
        let started = Instant::now();
        drop(stub);
        assert!(
            started.elapsed() < PATIENCE,
            "drop did not wait for the hang"
        );
        assert!(client.closed(), "dropping the stub closed the connection");
    }

    #[test]
    fn a_hanging_connection_does_not_block_others() {
        let stub = HttpStub::start(vec![Reply::hang(), Reply::ok("other")]);
        let mut hanging = Client::connect(&stub);
        hanging.send("GET /hang HTTP/1.1\r\n\r\n");
        assert!(wait_until(PATIENCE, || stub.requests().len() == 1));
        assert_eq!(Client::connect(&stub).get("/other").body, "other");
    }

    #[test]
    fn close_drops_the_connection_without_an_answer() {
        let stub = HttpStub::start(vec![Reply::close(), Reply::ok("after")]);
        let mut client = Client::connect(&stub);
        client.send("GET /crash HTTP/1.1\r\n\r\n");
        assert!(client.closed());
        assert_eq!(paths(&stub.requests()), ["/crash"]);
        assert_eq!(Client::connect(&stub).get("/").body, "after");
    }

    #[test]
    fn delay_holds_the_answer_back() {
        let delay = Duration::from_millis(300);
        let stub = HttpStub::start(vec![Reply::status(200).body("slow").delay(delay)]);
        let started = Instant::now();
        assert_eq!(Client::connect(&stub).get("/").body, "slow");
        // Only a lower bound: a loaded machine makes it later, never earlier.
        assert!(started.elapsed() >= delay);
    }

    #[test]
    fn dropping_the_stub_cuts_a_long_delay_short() {
        let stub = HttpStub::start(vec![Reply::ok("late").delay(Duration::from_secs(600))]);
        let mut client = Client::connect(&stub);
        client.send("GET / HTTP/1.1\r\n\r\n");
        assert!(wait_until(PATIENCE, || stub.requests().len() == 1));
        let started = Instant::now();
        drop(stub);
        assert!(started.elapsed() < PATIENCE);
        assert!(client.closed(), "closed without the delayed answer");
    }

    #[test]
    fn records_method_path_headers_body_and_arrival() {
        let stub = HttpStub::start(vec![Reply::status(202)]);
        let before = Instant::now();
        let mut client = Client::connect(&stub);
        let body = r#"{"text":"restore started"}"#;
        client.send(&format!(
            "POST /hooks/T1?x=y HTTP/1.1\r\nContent-Type: application/json\r\n\
             X-Request-ID: 42\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ));
        assert_eq!(client.response(false).expect("first").status, 202);
        client.send("DELETE /second HTTP/1.1\r\n\r\n");
        assert_eq!(client.response(false).expect("second").status, 202);

        let requests = stub.requests();
        let [first, second] = requests.as_slice() else {
            panic!("two requests, got {requests:?}");
        };
        assert_eq!(first.method, "POST");
        assert_eq!(first.path, "/hooks/T1?x=y");
        assert_eq!(
            first.headers,
            [
                ("content-type".into(), "application/json".into()),
                ("x-request-id".into(), "42".into()),
                ("content-length".into(), body.len().to_string()),
            ]
        );
        assert_eq!(first.body, body);
        assert_eq!(first.json()["text"], "restore started");
        assert_eq!(
            (second.method.as_str(), second.body.as_str()),
            ("DELETE", "")
        );
        assert!(before <= first.arrived && first.arrived <= second.arrived);
    }

    #[test]
    fn decodes_a_chunked_request_body() {
        let stub = HttpStub::start(vec![Reply::ok("")]);
        let mut client = Client::connect(&stub);
        client.send(
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nrest\r\n3\r\nore\r\n0\r\n\r\n",
        );
        assert_eq!(client.response(false).expect("a response").status, 200);
        assert_eq!(stub.requests()[0].body, "restore");
    }

    #[test]
    fn answers_100_continue_before_the_body() {
        let stub = HttpStub::start(vec![Reply::ok("got it")]);
        let mut client = Client::connect(&stub);
        client.send("PUT /f HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n");
        assert_eq!(client.response(false).expect("interim").status, 100);
        client.send("data");
        assert_eq!(client.response(false).expect("final").body, "got it");
        assert_eq!(stub.requests()[0].body, "data");
    }

    #[test]
    fn head_gets_headers_only_and_the_connection_stays_usable() {
        let stub = HttpStub::start(vec![Reply::ok("twelve bytes")]);
        let mut client = Client::connect(&stub);
        client.send("HEAD / HTTP/1.1\r\n\r\n");
        let head = client.response(true).expect("a response");
        assert_eq!(
            (head.status, head.header("content-length")),
            (200, Some("12"))
        );
        // Had the stub sent a body, it would be read here as a broken status line.
        assert_eq!(client.get("/").body, "twelve bytes");
    }

    #[test]
    fn retry_after_and_json_reach_the_client() {
        let stub = HttpStub::start(vec![
            Reply::status(429).header("Retry-After", "1"),
            Reply::json(200, serde_json::json!({"ok": true, "ts": "1.2"})),
        ]);
        let mut client = Client::connect(&stub);
        let limited = client.get("/");
        assert_eq!(
            (limited.status, limited.header("retry-after")),
            (429, Some("1"))
        );
        let json = client.get("/");
        assert_eq!(json.header("content-type"), Some("application/json"));
        let value: serde_json::Value = serde_json::from_str(&json.body).expect("json");
        assert_eq!(value, serde_json::json!({"ok": true, "ts": "1.2"}));
    }

    #[test]
    fn serves_concurrent_clients() {
        let stub = HttpStub::start(vec![Reply::ok("hi").delay(Duration::from_millis(50))]);
        thread::scope(|scope| {
            let clients: Vec<_> = (0..8)
                .map(|_| scope.spawn(|| Client::connect(&stub).get("/").body))
                .collect();
            for client in clients {
                assert_eq!(client.join().expect("client thread"), "hi");
            }
        });
        assert_eq!(stub.requests().len(), 8);
    }

    #[test]
    fn a_malformed_request_closes_the_connection_unrecorded() {
        let stub = HttpStub::start(vec![Reply::ok("")]);
        let mut client = Client::connect(&stub);
        client.send("NONSENSE\r\n\r\n");
        assert!(client.closed());
        assert!(stub.requests().is_empty());
    }

    #[test]
    fn stops_listening_when_dropped() {
        let stub = HttpStub::start(vec![Reply::ok("")]);
        let port = stub.port();
        drop(stub);
        let error = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).expect_err("nothing listens");
        assert_eq!(error.kind(), ErrorKind::ConnectionRefused);
    }

    #[test]
    #[should_panic(expected = "at least one reply")]
    fn needs_a_reply() {
        let _ = HttpStub::start(Vec::new());
    }
}
