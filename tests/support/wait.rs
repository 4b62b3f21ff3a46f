//! Bounded waiting for tests that need something observable to happen first, such as a request
//! reaching a stub or a port opening.

use std::thread;
use std::time::{Duration, Instant};

/// How often the condition is checked.
const POLL: Duration = Duration::from_millis(10);

/// Checks `condition` every 10 ms until it holds (true) or `timeout` has passed (false). It is
/// checked once more at the deadline, so even a zero timeout checks once. Pick a generous timeout:
/// a passing test returns as soon as the condition holds, so only failures wait it out.
pub(crate) fn wait_until(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        thread::sleep(POLL.min(deadline - now));
    }
}

/// Waits (bounded by `limit`) for a child process to exit; its exit code. A child still running
/// at the limit is killed and the test fails.
pub(crate) fn exit_code(child: &mut std::process::Child, limit: Duration) -> i32 {
    let mut status = None;
    let exited = wait_until(limit, || {
        status = child.try_wait().expect("wait for the child");
        status.is_some()
    });
    if !exited {
        let _ = child.kill();
        let _ = child.wait();
        panic!("the child did not exit within {limit:?}");
    }
    status.and_then(|s| s.code()).expect("an exit code")
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::thread;
    use std::time::{Duration, Instant};

    use crate::support::wait_until;

    #[test]
    fn true_at_once_checks_once() {
        let mut checks = 0;
        assert!(wait_until(Duration::ZERO, || {
            checks += 1;
            true
        }));
        assert_eq!(checks, 1);
    }

    #[test]
    fn false_after_the_timeout() {
        let timeout = Duration::from_millis(50);
        let started = Instant::now();
        let mut checks = 0;
        assert!(!wait_until(timeout, || {
            checks += 1;
            false
        }));
        assert!(started.elapsed() >= timeout);
        assert!(checks >= 2, "checked at the start and at the deadline");
    }

    #[test]
    fn sees_a_change_made_by_another_thread() {
        let flag = Arc::new(AtomicBool::new(false));
        let setter = {
            let flag = Arc::clone(&flag);
            thread::spawn(move || {
                thread::sleep(Duration::from_millis(50));
                flag.store(true, Ordering::SeqCst);
            })
        };
        assert!(wait_until(Duration::from_secs(10), || flag.load(Ordering::SeqCst)));
        setter.join().expect("setter");
    }
}
