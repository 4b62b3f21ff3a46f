//! The event bus: masks every secret in an event once, stamps it, and hands it to each sink in
//! turn, synchronously, so that a journal sink can make it durable before the engine moves on.
//! The engine knows the bus, never a sink.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use chrono::Utc;

use crate::event::{Event, Masker, Record, RedactError};

/// How many last lines of a step's output its failure shows: in the live view, the plain
/// lines and the report (the log file has everything).
pub(crate) const TAIL_LINES: usize = 20;

/// Something that consumes a run's events: the journal, the live view, notifications.
pub(crate) trait Sink: Send {
    fn event(&mut self, record: &Record);

    /// The engine is about to act (start a command, send a request): what was written so far
    /// must be on disk first.
    fn barrier(&mut self) {}

    /// The last lines (masked) of a step that failed, for people to read.
    fn tail(&mut self, _step: &str, _lines: &[String]) {}

    /// The run is over: flush, clear, summarise.
    fn finish(&mut self) {}

    /// A file of the run's record this sink failed to write, once: the bus then stops the run.
    fn take_fault(&mut self) -> Option<WriteFault> {
        None
    }
}

/// A file of the run's record (the journal, a step log, the report) that could not be written.
/// The record must not lie, so the first one stops the run: no new step starts and it fails.
#[derive(Debug, Clone)]
pub(crate) struct WriteFault {
    pub(crate) path: PathBuf,
    /// The OS error, kept by number where it has one (`No space left on device (os error 28)`).
    pub(crate) raw_os_error: Option<i32>,
    pub(crate) message: String,
}

impl WriteFault {
    #[must_use]
    pub(crate) fn new(path: &Path, error: &std::io::Error) -> Self {
        Self {
            path: path.to_path_buf(),
            raw_os_error: error.raw_os_error(),
            message: error.to_string(),
        }
    }

    /// The error again, as an `io::Error`.
    #[must_use]
    pub(crate) fn io_error(&self) -> std::io::Error {
        self.raw_os_error.map_or_else(
            || std::io::Error::other(self.message.clone()),
            std::io::Error::from_raw_os_error,
        )
    }
}

impl std::fmt::Display for WriteFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "failed to write `{}`: {}",
            self.path.display(),
            self.message
        )
    }
}

/// Fans events out to the sinks of one run.
pub(crate) struct Bus {
    run_id: String,
    /// Replaced, never changed in place, when the run learns a secret ([`Bus::learn_secrets`]).
    masker: RwLock<Arc<Masker>>,
    /// The secrets learned during the run (a root bus's): a nested bus made later masks them too.
    learned: Mutex<Vec<String>>,
    target: Target,
    /// The first write failure of the run's record (kept by the root bus).
    fault: OnceLock<WriteFault>,
    /// The item of each `for_each` instance (`ID[KEY]`, as the root bus names it), masked:
    /// every event of the instance carries it.
    items: Mutex<HashMap<String, serde_json::Value>>,
}

/// Where an bus's events go.
enum Target {
    Sinks(Mutex<Vec<Box<dyn Sink>>>),
    /// A nested playbook's events go up through its parent, named `prefix/step`.
    Parent {
        parent: Arc<Bus>,
        prefix: String,
    },
}

impl Bus {
    #[must_use]
    pub(crate) fn new(run_id: String, masker: Arc<Masker>, sinks: Vec<Box<dyn Sink>>) -> Arc<Self> {
        Arc::new(Self {
            run_id,
            masker: RwLock::new(masker),
            learned: Mutex::new(Vec::new()),
            target: Target::Sinks(Mutex::new(sinks)),
            fault: OnceLock::new(),
            items: Mutex::new(HashMap::new()),
        })
    }

    /// The bus of a nested playbook run by step `prefix`, masking with `masker` (the
    /// parent's secrets and the nested playbook's).
    #[must_use]
    pub(crate) fn nested(self: &Arc<Self>, prefix: &str, masker: Arc<Masker>) -> Arc<Self> {
        let learned = self.learned();
        let masker = if learned.is_empty() {
            masker
        } else {
            match masker.extended(&learned) {
                Ok(m) => Arc::new(m),
                Err(e) => {
                    // Events are masked again by the parent, which knows them; only the
                    // nested steps' logs could miss them.
                    tracing::error!(error = %e, "failed to mask the secrets learned so far in a nested playbook's logs");
                    masker
                }
            }
        };
        Arc::new(Self {
            run_id: self.run_id.clone(),
            masker: RwLock::new(masker),
            learned: Mutex::new(Vec::new()),
            target: Target::Parent {
                parent: Arc::clone(self),
                prefix: prefix.to_owned(),
            },
            fault: OnceLock::new(),
            items: Mutex::new(HashMap::new()),
        })
    }

    /// Adds a sink to a running bus: the notifier, whose sending task holds the bus and so
    /// can only be made after it. A nested bus adds it to its root.
    pub(crate) fn add_sink(&self, sink: Box<dyn Sink>) {
        match &self.target {
            Target::Sinks(sinks) => sinks
                .lock()
                .expect("a sink never panics while holding the lock")
                .push(sink),
            Target::Parent { parent, .. } => parent.add_sink(sink),
        }
    }

    /// What the bus masks with now.
    #[must_use]
    pub(crate) fn masker(&self) -> Arc<Masker> {
        Arc::clone(
            &self
                .masker
                .read()
                .expect("the masker lock is never poisoned"),
        )
    }

    /// Secrets that became known during the run (a secret input's answer): from now on they are
    /// masked in every event, in the logs opened after this, and by every bus above this one.
    pub(crate) fn learn_secrets(&self, values: &[String]) -> Result<(), RedactError> {
        let values: Vec<String> = values.iter().filter(|v| !v.is_empty()).cloned().collect();
        if values.is_empty() {
            return Ok(());
        }
        if let Target::Parent { parent, .. } = &self.target {
            parent.learn_secrets(&values)?;
        } else {
            self.learned
                .lock()
                .expect("never poisoned")
                .extend(values.iter().cloned());
        }
        let mut masker = self
            .masker
            .write()
            .expect("the masker lock is never poisoned");
        *masker = Arc::new(masker.extended(&values)?);
        Ok(())
    }

    /// The secrets learned during the run, from the root bus.
    fn learned(&self) -> Vec<String> {
        match &self.target {
            Target::Parent { parent, .. } => parent.learned(),
            Target::Sinks(_) => self.learned.lock().expect("never poisoned").clone(),
        }
    }

    /// Masks, stamps and delivers an event; returns once every sink has it.
    pub(crate) fn emit(&self, mut event: Event) {
        let mut after = None;
        let current = self.masker();
        if !current.is_empty() {
            self.journal_output_secrets(&current, &event);
            after = Self::var_secrets(&current, &event);
            event.mask(&|s| match current.mask(s) {
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
                let item = self.item_of(&event);
                let record = Record {
                    ts: Utc::now(),
                    run_id: self.run_id.clone(),
                    event,
                    item,
                };
                let mut sinks = sinks
                    .lock()
                    .expect("a sink never panics while holding the lock");
                for sink in sinks.iter_mut() {
                    sink.event(&record);
                }
                let faults = take_faults(&mut sinks);
                drop(sinks);
                self.faults(faults);
            }
        }
        if let Some(after) = after {
            self.emit(after);
        }
    }

    /// Tells the bus the item of instance `step` (`ID[KEY]`): its events carry it from now on.
    pub(crate) fn instance(&self, step: &str, item: &serde_json::Value) {
        let mut item = item.clone();
        let masker = self.masker();
        if !masker.is_empty() {
            super::event::mask_json(&mut item, &mut |s: &mut String| {
                if let Cow::Owned(masked) = masker.mask(s) {
                    *s = masked;
                }
            });
        }
        match &self.target {
            Target::Parent { parent, prefix } => {
                parent.instance(&format!("{prefix}/{step}"), &item);
            }
            Target::Sinks(_) => {
                self.items
                    .lock()
                    .expect("never poisoned")
                    .insert(step.to_owned(), item);
            }
        }
    }

    /// The item of the instance an event is about (directly, or a nested step of it).
    fn item_of(&self, event: &Event) -> Option<serde_json::Value> {
        let step = event.step()?;
        if !step.contains(']') {
            return None;
        }
        let items = self.items.lock().expect("never poisoned");
        if let Some(item) = items.get(step) {
            return Some(item.clone());
        }
        // `ID[KEY]/child`: the innermost instance the step is inside.
        let mut at = step.len();
        while let Some(slash) = step[..at].rfind('/') {
            if let Some(item) = items.get(&step[..slash]) {
                return Some(item.clone());
            }
            at = slash;
        }
        None
    }

    /// After `run_started`: where the secrets of its string vars are, if they hold any.
    fn var_secrets(masker: &Masker, event: &Event) -> Option<Event> {
        let Event::RunStarted { vars, .. } = event else {
            return None;
        };
        let spans: std::collections::BTreeMap<String, Vec<_>> = vars
            .iter()
            .filter_map(|(name, value)| Some((name.clone(), masker.spans(value.as_str()?))))
            .filter(|(_, spans)| !spans.is_empty())
            .collect();
        (!spans.is_empty()).then_some(Event::VarSecrets { vars: spans })
    }

    /// Before a step's outputs are masked: where their secrets are, if they hold any.
    fn journal_output_secrets(&self, masker: &Masker, event: &Event) {
        let Event::StepFinished { step, outputs, .. } = event else {
            return;
        };
        let spans: std::collections::BTreeMap<String, Vec<_>> = outputs
            .iter()
            .map(|(name, value)| (name.clone(), masker.spans(value)))
            .filter(|(_, spans)| !spans.is_empty())
            .collect();
        if !spans.is_empty() {
            self.emit(Event::OutputSecrets {
                step: step.clone(),
                outputs: spans,
            });
        }
    }

    /// A file of the record could not be written: the first such failure is kept, which stops
    /// the run, and journaled (if the journal can still be written) for people to see.
    pub(crate) fn record_fault(&self, fault: WriteFault) {
        if let Target::Parent { parent, .. } = &self.target {
            parent.record_fault(fault);
            return;
        }
        if self.fault.set(fault.clone()).is_ok() {
            tracing::error!(path = %fault.path.display(), error = %fault.message, "failed to write the run's record");
            self.emit(Event::RecordFailed {
                path: fault.path.display().to_string(),
                error: fault.message,
            });
        }
    }

    /// The first write failure of the run's record, if any: once set, nothing new may start.
    #[must_use]
    pub(crate) fn fault(&self) -> Option<WriteFault> {
        match &self.target {
            Target::Parent { parent, .. } => parent.fault(),
            Target::Sinks(_) => self.fault.get().cloned(),
        }
    }

    fn faults(&self, faults: Vec<WriteFault>) {
        for fault in faults {
            self.record_fault(fault);
        }
    }

    /// Called right before the engine acts on the world (spawns a command, sends a request):
    /// every event so far is made durable first. One fsync per action, not per event.
    pub(crate) fn barrier(&self) {
        match &self.target {
            Target::Parent { parent, .. } => parent.barrier(),
            Target::Sinks(sinks) => {
                let mut sinks = sinks
                    .lock()
                    .expect("a sink never panics while holding the lock");
                for sink in sinks.iter_mut() {
                    sink.barrier();
                }
                let faults = take_faults(&mut sinks);
                drop(sinks);
                self.faults(faults);
            }
        }
    }

    /// Shows a failed step's last lines (already masked by the log writer; masked again here).
    pub(crate) fn tail(&self, step: &str, lines: &[String]) {
        let current = self.masker();
        let masked: Vec<String> = lines.iter().map(|l| current.mask(l).into_owned()).collect();
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

    /// The run is over (a nested bus has nothing to finish: its parent does).
    pub(crate) fn finish(&self) {
        if let Target::Sinks(sinks) = &self.target {
            let mut sinks = sinks
                .lock()
                .expect("a sink never panics while holding the lock");
            for sink in sinks.iter_mut() {
                sink.finish();
            }
            let faults = take_faults(&mut sinks);
            drop(sinks);
            // The journal's last fsync failed: kept for the exit code, not journaled (the run
            // is over).
            for fault in faults {
                let _ = self.fault.set(fault);
            }
        }
    }
}

fn take_faults(sinks: &mut [Box<dyn Sink>]) -> Vec<WriteFault> {
    sinks.iter_mut().filter_map(|s| s.take_fault()).collect()
}
