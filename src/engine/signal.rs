//! SIGINT, SIGTERM and SIGHUP: the first cancels the run (running process groups get TERM, then
//! KILL after the grace period; nothing new starts; a prompt stops waiting); a second kills every
//! process group at once and cancels the cleanup (`always` steps) that the first one let run.
//! SIGHUP is an interrupt like the others: a dropped SSH session must not
//! leave a restore running with nobody watching it.

use std::sync::{Arc, Mutex};

use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

use crate::engine::process::Registry;

/// Which signal interrupted the run, once one has.
#[derive(Debug, Default)]
pub(crate) struct Interrupt {
    signal: Mutex<Option<&'static str>>,
}

impl Interrupt {
    #[must_use]
    pub(crate) fn signal(&self) -> Option<&'static str> {
        *self.signal.lock().expect("never poisoned")
    }
}

/// How a run is stopped, chosen by whoever starts it: the cancel token its steps watch, the
/// process groups a second signal kills, and which signal came first.
pub(crate) struct SignalHandling {
    pub(crate) cancel: CancellationToken,
    /// Cancelled by the second signal.
    pub(crate) second: CancellationToken,
    pub(crate) groups: Arc<Registry>,
    pub(crate) interrupt: Arc<Interrupt>,
}

impl SignalHandling {
    /// Listens for SIGINT, SIGTERM and SIGHUP for the rest of the process. Call inside the
    /// run's tokio runtime.
    pub(crate) fn listen() -> std::io::Result<Self> {
        let cancel = CancellationToken::new();
        let second = CancellationToken::new();
        let groups = Arc::new(Registry::default());
        let interrupt = listen(cancel.clone(), second.clone(), Arc::clone(&groups))?;
        Ok(Self {
            cancel,
            second,
            groups,
            interrupt,
        })
    }
}

fn listen(
    cancel: CancellationToken,
    second: CancellationToken,
    groups: Arc<Registry>,
) -> std::io::Result<Arc<Interrupt>> {
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    let mut hup = signal(SignalKind::hangup())?;
    let interrupt = Arc::new(Interrupt::default());
    let seen = Arc::clone(&interrupt);
    tokio::spawn(async move {
        let mut count = 0;
        loop {
            let name = tokio::select! {
                Some(()) = int.recv() => "SIGINT",
                Some(()) = term.recv() => "SIGTERM",
                Some(()) = hup.recv() => "SIGHUP",
                else => break,
            };
            count += 1;
            if count == 1 {
                seen.signal
                    .lock()
                    .expect("never poisoned")
                    .get_or_insert(name);
                cancel.cancel();
            } else {
                second.cancel();
                groups.kill_all();
            }
        }
    });
    Ok(interrupt)
}
