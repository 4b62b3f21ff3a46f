//! `runbook watch RUN`: follow a run from its journal, through the same terminal view a live run
//! has (the live view on a terminal, plain lines otherwise), until it ends; exit with the run's
//! exit code. A finished run gets its summary at once. A run whose process is gone without a
//! `run_finished` is said to have crashed, never waited for.

use std::io::Read as _;
use std::process::ExitCode;
use std::time::Duration;

use crate::cli::resume::find_run;
use crate::engine::wake::{Wake, wait_blocking};
use crate::error::Error;
use crate::event::{Event, Record, RunStatus};
use crate::playbook::find::Library;
use crate::record::folder::RunFolder;
use crate::session::{Liveness, liveness};

/// How often watch looks at the run's process without being woken.
const LOOK_AGAIN: Duration = Duration::from_secs(1);

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Run id (looked up in the runs root) or run folder
    #[arg(value_name = "RUN")]
    run: String,
}

/// The journal, read as it grows: whole lines only.
struct Follow {
    file: std::fs::File,
    /// Bytes of a line not yet ended.
    partial: Vec<u8>,
}

impl Follow {
    fn open(folder: &RunFolder) -> Result<Self, Error> {
        let file = std::fs::File::open(folder.journal()).map_err(|e| {
            Error::Usage(format!(
                "failed to read `{}`: {e}",
                folder.journal().display()
            ))
        })?;
        Ok(Self {
            file,
            partial: Vec::new(),
        })
    }

    /// The records written since the last call.
    fn records(&mut self) -> Vec<Record> {
        let mut bytes = Vec::new();
        let _ = self.file.read_to_end(&mut bytes);
        self.partial.extend_from_slice(&bytes);
        let mut out = Vec::new();
        while let Some(end) = self.partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=end).collect();
            // A line that does not parse (cut off by a crash) is the replay's business: the
            // view skips it.
            if let Ok(r) = serde_json::from_slice::<Record>(&line) {
                out.push(r);
            }
        }
        out
    }
}

/// How the run stands, from the records seen so far.
#[derive(Default)]
struct Seen {
    finished: Option<RunStatus>,
    record_failed: bool,
}

impl Seen {
    fn see(&mut self, event: &Event) {
        match event {
            Event::RunFinished { status, .. } => self.finished = Some(*status),
            Event::RunResumed { .. } => self.finished = None,
            Event::RecordFailed { .. } => self.record_failed = true,
            _ => {}
        }
    }

    fn exit(&self) -> Result<ExitCode, Error> {
        match self.finished {
            Some(RunStatus::Ok) if !self.record_failed => Ok(ExitCode::SUCCESS),
            Some(RunStatus::Interrupted) => Err(Error::Interrupted),
            _ => Err(Error::RunFailed),
        }
    }
}

pub(crate) fn run(args: &Args, library: &Library) -> Result<ExitCode, Error> {
    let folder = find_run(&args.run, library)?;
    let objectives = objectives(&folder);
    let mut follow = Follow::open(&folder)?;
    let mut seen = Seen::default();
    let first = follow.records();
    for r in &first {
        seen.see(&r.event);
    }
    let mut sink = crate::ui::for_terminal(false, false, objectives);
    // Over already, and no process left to add to it: the summary only.
    if seen.finished.is_some() && liveness(&folder.dir) != Liveness::Live {
        for r in first.iter().filter(|r| summary(&r.event)) {
            sink.event(r);
        }
        sink.finish();
        return seen.exit();
    }
    let (_wake, woken) = match Wake::blocking(&[&folder.dir]) {
        Ok((wake, rx)) => (Some(wake), Some(rx)),
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch the run folder; looking every 100 ms");
            (None, None)
        }
    };
    let mut records = first;
    loop {
        for r in &records {
            seen.see(&r.event);
            sink.event(r);
        }
        if seen.finished.is_some() {
            sink.finish();
            return seen.exit();
        }
        if liveness(&folder.dir) != Liveness::Live {
            // What it wrote before it went.
            let last = follow.records();
            for r in &last {
                seen.see(&r.event);
                sink.event(r);
            }
            sink.finish();
            if seen.finished.is_some() {
                return seen.exit();
            }
            return Err(Error::Run(format!(
                "run `{}` stopped without finishing: its process is gone (it crashed or was killed); continue it with `runbook resume {}`",
                args.run, args.run
            )));
        }
        wait_blocking(woken.as_ref(), LOOK_AGAIN);
        records = follow.records();
    }
}

/// The events a finished run's summary shows: how it started, how each step and approval
/// ended, and how the run did.
fn summary(event: &Event) -> bool {
    matches!(
        event,
        Event::RunStarted { .. }
            | Event::RunResumed { .. }
            | Event::StepFinished { .. }
            | Event::ApprovalGiven { .. }
            | Event::ApprovalDeclined { .. }
            | Event::RollbackFinished { .. }
            | Event::RunFinished { .. }
    )
}

/// The objectives of the playbook that ran (the copy in the run folder), for the live view;
/// none when that copy cannot be read.
fn objectives(folder: &RunFolder) -> crate::ui::Objectives {
    crate::playbook::find::read(&folder.playbook())
        .ok()
        .and_then(|file| crate::playbook::validate(&file).ok())
        .map(|v| crate::session::objectives(&v.playbook))
        .unwrap_or_default()
}
