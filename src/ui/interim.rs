//! A plain-lines view of a run, until the live view lands.

use std::io::Write as _;

use crate::engine::emitter::Sink;
use crate::engine::event::{Event, Record};

struct Lines {
    json: bool,
}

impl Sink for Lines {
    fn event(&mut self, record: &Record) {
        if self.json {
            if record.event.is_durable() {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{}", serde_json::to_string(record).unwrap_or_default());
            }
            return;
        }
        let time = record.ts.format("%H:%M:%S");
        let line = match &record.event {
            Event::StepStarted { step, .. } => format!("{step} started"),
            Event::StepFinished {
                step,
                status,
                reason,
                would_run,
                ..
            } => match (reason, would_run) {
                (_, Some(w)) => format!("{step} would run: {w}"),
                (Some(r), None) => format!("{step} {status}: {r}"),
                (None, None) => format!("{step} {status}"),
            },
            Event::RunFinished { status, .. } => format!("run {}", status.as_str()),
            _ => return,
        };
        eprintln!("{time} {line}");
    }

    fn tail(&mut self, step: &str, lines: &[String]) {
        if !self.json {
            for l in lines {
                eprintln!("  {step} | {l}");
            }
        }
    }
}

pub(crate) fn for_terminal(json: bool, _verbose: bool) -> Box<dyn Sink> {
    Box::new(Lines { json })
}
