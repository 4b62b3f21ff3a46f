//! Stopping the servers' threads: a flag that sleeping threads wait on, and the accept loop that
//! checks it. Dropping a server raises the flag and connects once to its own listener, so a thread
//! blocked in `accept` wakes up without polling.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::Duration;

/// How long a server thread may wait for anything (an idle client, a `hang`, a delay) before it
/// gives up on its own. Far longer than any test, so it only matters for a stub that was leaked.
pub(super) const LIFETIME: Duration = Duration::from_secs(600);

/// How many connections one server accepts before it stops listening, so the accept loop is
/// bounded even if something connects in a loop.
pub(super) const MAX_CONNECTIONS: usize = 1024;

/// A one-way flag: once raised, every `wait` returns at once.
#[derive(Debug, Default)]
pub(super) struct StopSignal {
    raised: Mutex<bool>,
    changed: Condvar,
}

impl StopSignal {
    /// Raises the flag, wakes every thread sleeping in `wait`, and connects once to `listener` so a
    /// thread blocked in `accept` there sees the flag. The connection fails harmlessly when nothing
    /// listens any more.
    pub(super) fn raise(&self, listener: SocketAddr) {
        // A panicking test may have poisoned the lock; the flag is still a plain bool, so use it.
        *self.raised.lock().unwrap_or_else(PoisonError::into_inner) = true;
        self.changed.notify_all();
        let _ = TcpStream::connect_timeout(&listener, Duration::from_secs(1));
    }

    pub(super) fn is_raised(&self) -> bool {
        *self.raised.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sleeps for `duration` unless the flag is raised first; returns whether it was raised.
    pub(super) fn wait(&self, duration: Duration) -> bool {
        let raised = self.raised.lock().unwrap_or_else(PoisonError::into_inner);
        let (raised, _) = self
            .changed
            .wait_timeout_while(raised, duration, |raised| !*raised)
            .unwrap_or_else(PoisonError::into_inner);
        *raised
    }
}

/// Hands each accepted connection to `serve` until `stop` is raised or `MAX_CONNECTIONS` were
/// accepted.
pub(super) fn accept_until_stopped(
    listener: &TcpListener,
    stop: &StopSignal,
    mut serve: impl FnMut(TcpStream),
) {
    // Checked before the first `accept` too: `raise` may have connected before the listener was
    // bound (that connection was refused), and then no wake-up connection is coming.
    if stop.is_raised() {
        return;
    }
    for _ in 0..MAX_CONNECTIONS {
        let accepted = listener.accept();
        if stop.is_raised() {
            return;
        }
        match accepted {
            Ok((stream, _)) => serve(stream),
            // Transient failures (a client that gave up, too many open files): back off a little
            // rather than spin through the connection budget.
            Err(_) => {
                if stop.wait(Duration::from_millis(10)) {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, TcpListener};
    use std::sync::Arc;
    use std::thread;
    use std::time::{Duration, Instant};

    use super::{StopSignal, accept_until_stopped};

    #[test]
    fn wait_times_out_when_not_raised() {
        let stop = StopSignal::default();
        assert!(!stop.wait(Duration::from_millis(20)));
        assert!(!stop.is_raised());
    }

    #[test]
    fn raise_wakes_a_long_wait_and_a_blocked_accept() {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let stop = Arc::new(StopSignal::default());

        let sleeper = {
            let stop = Arc::clone(&stop);
            thread::spawn(move || stop.wait(Duration::from_secs(600)))
        };
        let acceptor = {
            let stop = Arc::clone(&stop);
            thread::spawn(move || {
                let mut served = 0;
                accept_until_stopped(&listener, &stop, |_| served += 1);
                served
            })
        };

        // Give both threads a moment to block; the test is correct either way.
        thread::sleep(Duration::from_millis(50));
        let started = Instant::now();
        stop.raise(addr);
        assert!(sleeper.join().expect("sleeper"), "the wait saw the flag");
        assert_eq!(
            acceptor.join().expect("acceptor"),
            0,
            "the wake-up is not served"
        );
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "both woke promptly"
        );
    }
}
