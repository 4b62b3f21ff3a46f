//! `TcpGate`: a port on 127.0.0.1 that refuses connections until the test opens it, for checks
//! that wait for a service to come up. Once open, it accepts each connection and closes it at once.
//!
//! The port is found by binding `127.0.0.1:0` and letting go, so between `closed()` and `open()`
//! nothing holds it and another socket could take it. The kernel hands out free ports in rotation,
//! which makes that rare; opening retries the bind for about a second, then reports the port.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use super::stop::{self, StopSignal};

/// Bind attempts when opening, and the pause between them: about a second in all.
const BIND_ATTEMPTS: usize = 20;
const BIND_PAUSE: Duration = Duration::from_millis(50);

/// A port that is closed until `open`, and closed again when dropped.
pub(crate) struct TcpGate {
    addr: SocketAddr,
    stop: Arc<StopSignal>,
    keeper: Option<JoinHandle<()>>,
}

impl TcpGate {
    /// A free port of 127.0.0.1 that nothing listens on, so connecting is refused.
    pub(crate) fn closed() -> Self {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
        let addr = listener
            .local_addr()
            .expect("a bound listener has an address");
        drop(listener);
        Self {
            addr,
            stop: Arc::default(),
            keeper: None,
        }
    }

    pub(crate) fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `127.0.0.1:PORT` (as its `Display`), for a playbook's TCP check.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Starts accepting; when this returns, connections succeed.
    pub(crate) fn open(&mut self) {
        let port = self.port();
        match self.spawn_keeper(Duration::ZERO).recv() {
            Ok(Ok(())) => {}
            Ok(Err(error)) => panic!("cannot open the gate on 127.0.0.1:{port}: {error}"),
            Err(mpsc::RecvError) => {
                panic!("the gate thread for 127.0.0.1:{port} ended before binding")
            }
        }
    }

    /// Opens after `delay` from a background thread and returns at once, so the test can start a
    /// check that finds the port closed at first. Dropping the gate before then cancels it.
    pub(crate) fn open_after(&mut self, delay: Duration) {
        // Nobody waits for the outcome here; a failure to bind is printed by the thread.
        let _ = self.spawn_keeper(delay);
    }

    /// Starts the thread that binds the port after `delay` and keeps accepting until the drop;
    /// the receiver reports whether the bind worked.
    fn spawn_keeper(&mut self, delay: Duration) -> Receiver<io::Result<()>> {
        assert!(
            self.keeper.is_none(),
            "the gate on 127.0.0.1:{} is already open",
            self.port()
        );
        let (bound, outcome) = mpsc::channel();
        let addr = self.addr;
        let stop = Arc::clone(&self.stop);
        let keeper = thread::Builder::new()
            .name(format!("tcp-gate-{}", addr.port()))
            .spawn(move || {
                if stop.wait(delay) {
                    return;
                }
                match bind(addr, &stop) {
                    Ok(listener) => {
                        let _ = bound.send(Ok(()));
                        // Accepting and dropping at once: the client sees a successful connect.
                        stop::accept_until_stopped(&listener, &stop, drop);
                    }
                    Err(error) => {
                        if !stop.is_raised() {
                            // Printed because with `open_after` nobody reads the channel, and a
                            // test's stderr is shown when it fails.
                            eprintln!("TcpGate: cannot open {addr}: {error}");
                        }
                        let _ = bound.send(Err(error));
                    }
                }
            })
            .expect("spawn the gate thread");
        self.keeper = Some(keeper);
        outcome
    }
}

impl Drop for TcpGate {
    fn drop(&mut self) {
        if let Some(keeper) = self.keeper.take() {
            self.stop.raise(self.addr);
            let _ = keeper.join();
        }
    }
}

/// Binds `addr`, retrying while another socket briefly holds the port.
fn bind(addr: SocketAddr, stop: &StopSignal) -> io::Result<TcpListener> {
    let mut last_error = None;
    for _ in 0..BIND_ATTEMPTS {
        match TcpListener::bind(addr) {
            Ok(listener) => return Ok(listener),
            Err(error) => last_error = Some(error),
        }
        if stop.wait(BIND_PAUSE) {
            break;
        }
    }
    Err(last_error.unwrap_or_else(|| io::Error::other("the gate was dropped while opening")))
}

#[cfg(test)]
mod tests {
    use std::io::{ErrorKind, Read};
    use std::net::{Ipv4Addr, TcpStream};
    use std::time::{Duration, Instant};

    use crate::support::{TcpGate, wait_until};

    const PATIENCE: Duration = Duration::from_secs(10);

    fn connect(port: u16) -> std::io::Result<TcpStream> {
        TcpStream::connect((Ipv4Addr::LOCALHOST, port))
    }

    fn refused(port: u16) -> bool {
        connect(port).is_err_and(|e| e.kind() == ErrorKind::ConnectionRefused)
    }

    #[test]
    fn closed_refuses_then_open_accepts_and_hangs_up() {
        let mut gate = TcpGate::closed();
        assert_eq!(
            gate.addr().to_string(),
            format!("127.0.0.1:{}", gate.port())
        );
        assert!(refused(gate.port()));

        gate.open();
        for _ in 0..3 {
            let mut stream = connect(gate.port()).expect("the gate is open");
            stream.set_read_timeout(Some(PATIENCE)).expect("timeout");
            let mut byte = [0];
            match stream.read(&mut byte) {
                Ok(0) => {}
                Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
                other => panic!("expected the gate to hang up, got {other:?}"),
            }
        }
    }

    #[test]
    fn open_after_opens_later() {
        let mut gate = TcpGate::closed();
        let delay = Duration::from_millis(500);
        let started = Instant::now();
        gate.open_after(delay);
        let early = refused(gate.port());
        // Only meaningful if the attempt was surely before the delay ran out; a loaded machine
        // may get there late, and then the check is skipped rather than flaky.
        if started.elapsed() < delay {
            assert!(early, "refused before the delay");
        }
        assert!(wait_until(PATIENCE, || connect(gate.port()).is_ok()));
        assert!(started.elapsed() >= delay);
    }

    #[test]
    fn dropping_closes_the_port() {
        let mut gate = TcpGate::closed();
        gate.open();
        let port = gate.port();
        drop(gate);
        assert!(refused(port));
    }

    #[test]
    fn dropping_before_the_delay_never_opens() {
        let mut gate = TcpGate::closed();
        gate.open_after(Duration::from_secs(600));
        let port = gate.port();
        let started = Instant::now();
        drop(gate);
        assert!(started.elapsed() < PATIENCE, "the drop cut the delay short");
        assert!(refused(port));
    }

    #[test]
    #[should_panic(expected = "already open")]
    fn opening_twice_is_a_mistake() {
        let mut gate = TcpGate::closed();
        gate.open();
        gate.open();
    }
}
