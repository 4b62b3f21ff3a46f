//! Lines typed at the terminal, read so that an interrupt can stop the read at once: the reader
//! polls stdin together with a wake-up pipe, and dropping the [`Waker`] closes the pipe. A thread
//! blocked in `read(2)` instead would keep the run alive (the runtime waits for it on shutdown)
//! until someone pressed Enter.

use std::io;
use std::os::fd::{AsFd as _, OwnedFd};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

/// Dropping it stops the [`Stop`] it was made with.
pub(crate) struct Waker {
    _write: OwnedFd,
}

/// The reading side's view of a [`Waker`].
pub(crate) struct Stop {
    read: OwnedFd,
}

/// A waker and the stop it controls.
pub(crate) fn wake_pair() -> io::Result<(Waker, Stop)> {
    let (read, write) = nix::unistd::pipe().map_err(io::Error::from)?;
    Ok((Waker { _write: write }, Stop { read }))
}

/// One read from the terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Line {
    /// A line, trimmed.
    Text(String),
    /// End of input (Ctrl-D, or stdin closed).
    Closed,
    /// The terminal hung up (a dropped SSH session): SIGHUP is on its way.
    HungUp,
    /// The waker was dropped: nobody waits for the answer any more.
    Stopped,
}

/// Stdin as lines; bytes read past a newline are kept for the next line.
#[derive(Debug, Default)]
pub(crate) struct Lines {
    pending: Vec<u8>,
}

impl Lines {
    /// The next line, or why there is none. Blocks until a line, the end of input, or `stop`.
    pub(crate) fn read(&mut self, stop: &Stop) -> io::Result<Line> {
        // Bounded by the input: every turn either returns or reads at least one byte, except
        // for interrupted system calls.
        loop {
            if let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.pending.drain(..=end).collect();
                return Ok(Line::Text(String::from_utf8_lossy(&line).trim().to_owned()));
            }
            let stdin = io::stdin();
            let input = stdin.as_fd();
            let mut fds = [
                PollFd::new(input, PollFlags::POLLIN),
                PollFd::new(stop.read.as_fd(), PollFlags::POLLIN),
            ];
            match poll(&mut fds, PollTimeout::NONE) {
                Ok(_) => {}
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
            if fds[1].any().unwrap_or(true) {
                return Ok(Line::Stopped);
            }
            let ready = fds[0].revents().unwrap_or(PollFlags::POLLERR);
            if ready.contains(PollFlags::POLLNVAL) {
                return Err(io::Error::other("stdin is not open"));
            }
            if ready.is_empty() {
                continue;
            }
            let mut buf = [0u8; 1024];
            match nix::unistd::read(input, &mut buf) {
                Ok(0) if ready.contains(PollFlags::POLLHUP) => return Ok(Line::HungUp),
                Ok(0) if self.pending.is_empty() => return Ok(Line::Closed),
                Ok(0) => {
                    let rest = std::mem::take(&mut self.pending);
                    return Ok(Line::Text(String::from_utf8_lossy(&rest).trim().to_owned()));
                }
                Ok(n) => self.pending.extend_from_slice(&buf[..n]),
                Err(Errno::EINTR | Errno::EAGAIN) => {}
                // A terminal that hung up.
                Err(Errno::EIO) => return Ok(Line::HungUp),
                Err(e) => return Err(e.into()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Line, Lines, wake_pair};

    #[test]
    fn pending_bytes_give_one_line_at_a_time() {
        let (_waker, stop) = wake_pair().expect("pipe");
        let mut lines = Lines {
            pending: b"y\r\nalice\n".to_vec(),
        };
        assert_eq!(lines.read(&stop).expect("read"), Line::Text("y".to_owned()));
        assert_eq!(
            lines.read(&stop).expect("read"),
            Line::Text("alice".to_owned())
        );
    }
}
