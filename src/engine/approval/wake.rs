//! Waking up when a folder changes, without polling: the `notify` crate (inotify on Linux)
//! calls back on every change in the folders watched, and the waiter looks again. A waiter
//! still looks now and then ([`RESCAN`]) in case the kernel's event queue overflowed.

use std::path::Path;
use std::time::Duration;

use notify::{RecursiveMode, Watcher as _};

/// How often a waiter looks again without being woken: a safety net, not the mechanism.
pub(crate) const RESCAN: Duration = Duration::from_secs(2);

/// Watches folders for as long as it lives.
pub(crate) struct Wake {
    _watcher: notify::RecommendedWatcher,
}

impl Wake {
    /// Calls `woken` after every change in any of `dirs` (not their subfolders).
    pub(crate) fn new(
        dirs: &[&Path],
        woken: impl Fn() + Send + 'static,
    ) -> Result<Self, notify::Error> {
        let mut watcher = notify::recommended_watcher(move |e: notify::Result<notify::Event>| {
            // Opening and reading (the waiter's own looks) change nothing: woken by them, a
            // waiter would look again for ever.
            if !e.is_ok_and(|e| e.kind.is_access()) {
                woken();
            }
        })?;
        for dir in dirs {
            watcher.watch(dir, RecursiveMode::NonRecursive)?;
        }
        Ok(Self { _watcher: watcher })
    }

    /// A wake-up for an async waiter: the receiver gets `()` after each change.
    pub(crate) fn channel(
        dirs: &[&Path],
    ) -> Result<(Self, tokio::sync::mpsc::UnboundedReceiver<()>), notify::Error> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let wake = Self::new(dirs, move || {
            let _ = tx.send(());
        })?;
        Ok((wake, rx))
    }

    /// A wake-up for a blocking waiter.
    pub(crate) fn blocking(
        dirs: &[&Path],
    ) -> Result<(Self, std::sync::mpsc::Receiver<()>), notify::Error> {
        let (tx, rx) = std::sync::mpsc::channel();
        let wake = Self::new(dirs, move || {
            let _ = tx.send(());
        })?;
        Ok((wake, rx))
    }
}

/// Waits for a wake-up from `rx` or `limit`, whichever comes first, then takes every wake-up
/// already queued (one look answers them all).
pub(crate) fn wait_blocking(rx: Option<&std::sync::mpsc::Receiver<()>>, limit: Duration) {
    match rx {
        Some(rx) => {
            let _ = rx.recv_timeout(limit);
            while rx.try_recv().is_ok() {}
        }
        // No watcher (the kernel's limit of watches reached): look again after a short while.
        None => std::thread::sleep(limit.min(Duration::from_millis(100))),
    }
}
