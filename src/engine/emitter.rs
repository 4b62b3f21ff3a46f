//! The event bus: masks every secret in an event once, stamps it, and hands it to each sink in
//! turn, synchronously, so that a journal sink can make it durable before the engine moves on.
//! The engine knows the bus, never a sink.

use std::borrow::Cow;
use std::sync::{Arc, Mutex};

use chrono::Utc;

use crate::engine::event::{Event, Record};
use crate::record::redact::Masker;

/// Something that consumes a run's events: the journal, the live view, notifications.
pub trait Sink: Send {
    fn event(&mut self, record: &Record);

    /// The engine is about to act (start a command, send a request): what was written so far
    /// must be on disk first.
    fn barrier(&mut self) {}

    /// The last lines (masked) of a step that failed, for people to read.
    fn tail(&mut self, _step: &str, _lines: &[String]) {}

    /// The run is over: flush, clear, summarise.
    fn finish(&mut self) {}
}

/// Fans events out to the sinks of one run.
pub struct Emitter {
    run_id: String,
    masker: Arc<Masker>,
    target: Target,
}

/// Where an emitter's events go.
enum Target {
    Sinks(Mutex<Vec<Box<dyn Sink>>>),
    /// A nested playbook's events go up through its parent, named `prefix/step`.
    Parent {
        parent: Arc<Emitter>,
        prefix: String,
    },
}

impl Emitter {
    #[must_use]
    pub fn new(run_id: String, masker: Arc<Masker>, sinks: Vec<Box<dyn Sink>>) -> Arc<Self> {
        Arc::new(Self {
            run_id,
            masker,
            target: Target::Sinks(Mutex::new(sinks)),
        })
    }

    /// The emitter of a nested playbook run by step `prefix`, masking with `masker` (the
    /// parent's secrets and the nested playbook's).
    #[must_use]
    pub fn nested(self: &Arc<Self>, prefix: &str, masker: Arc<Masker>) -> Arc<Self> {
        Arc::new(Self {
            run_id: self.run_id.clone(),
            masker,
            target: Target::Parent {
                parent: Arc::clone(self),
                prefix: prefix.to_owned(),
            },
        })
    }

    /// Adds a sink to a running bus: the notifier, whose sending task holds the emitter and so
    /// can only be made after it. A nested emitter adds it to its root.
    pub fn add_sink(&self, sink: Box<dyn Sink>) {
        match &self.target {
            Target::Sinks(sinks) => sinks
                .lock()
                .expect("a sink never panics while holding the lock")
                .push(sink),
            Target::Parent { parent, .. } => parent.add_sink(sink),
        }
    }

    #[must_use]
    pub fn masker(&self) -> &Arc<Masker> {
        &self.masker
    }

    #[must_use]
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// Masks, stamps and delivers an event; returns once every sink has it.
    pub fn emit(&self, mut event: Event) {
        if !self.masker.is_empty() {
            event.mask(&|s| match self.masker.mask(s) {
                Cow::Owned(masked) => Some(masked),
                Cow::Borrowed(_) => None,
            });
        }
        match &self.target {
            Target::Parent { parent, prefix } => {
                event.nest(prefix);
                parent.emit(event);
            }
            Target::Sinks(sinks) => {
                let record = Record {
                    ts: Utc::now(),
                    run_id: self.run_id.clone(),
                    event,
                };
                let mut sinks = sinks
                    .lock()
                    .expect("a sink never panics while holding the lock");
                for sink in sinks.iter_mut() {
                    sink.event(&record);
                }
            }
        }
    }

    /// Called right before the engine acts on the world (spawns a command, sends a request):
    /// every event so far is made durable first. One fsync per action, not per event.
    pub fn barrier(&self) {
        match &self.target {
            Target::Parent { parent, .. } => parent.barrier(),
            Target::Sinks(sinks) => {
                let mut sinks = sinks
                    .lock()
                    .expect("a sink never panics while holding the lock");
                for sink in sinks.iter_mut() {
                    sink.barrier();
                }
            }
        }
    }

    /// Shows a failed step's last lines (already masked by the log writer; masked again here).
    pub fn tail(&self, step: &str, lines: &[String]) {
        let masked: Vec<String> = lines
            .iter()
            .map(|l| self.masker.mask(l).into_owned())
            .collect();
        match &self.target {
            Target::Parent { parent, prefix } => parent.tail(&format!("{prefix}/{step}"), &masked),
            Target::Sinks(sinks) => {
                let mut sinks = sinks
                    .lock()
                    .expect("a sink never panics while holding the lock");
                for sink in sinks.iter_mut() {
                    sink.tail(step, &masked);
                }
            }
        }
    }

    /// The run is over (a nested emitter has nothing to finish: its parent does).
    pub fn finish(&self) {
        if let Target::Sinks(sinks) = &self.target {
            let mut sinks = sinks
                .lock()
                .expect("a sink never panics while holding the lock");
            for sink in sinks.iter_mut() {
                sink.finish();
            }
        }
    }
}
