//! `[report] publish`: after the report is final, one command publishes it (a copy to an
//! archive, an upload). It sees `report.path` and `report.json_path`, runs with the run's
//! environment for at most [`PUBLISH_TIMEOUT`], and is journaled (`report_published` /
//! `report_publish_failed`) after `run_finished`; the report never mentions it, so `runbook
//! report` rebuilds the bytes that were published. Its failure is a warning, never the run's.

use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use crate::engine::Context;
use crate::event::{Bus, Event, Masker, Record, RunStatus, Sink as _};
use crate::playbook::template::Template;
use crate::record::folder::RunFolder;
use crate::record::journal::Journal;
use crate::session::start::absolute;

/// How long `[report] publish` may take before its process group is stopped.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// What `[report] publish` needs once the run is over.
pub(crate) struct Publishing {
    /// `[report] publish`, if the playbook has one, and the run's values it renders with:
    /// without a publish command the context is not kept past the run (at 10,000 steps it is
    /// a fifth of the peak, alive while the report is built).
    pub(crate) template: Option<(Template, Arc<Context>)>,
    /// A dry run prints the command instead of running it.
    pub(crate) dry_run: bool,
    /// `--json`: stdout is for events, and the success line is not printed.
    pub(crate) json: bool,
    pub(crate) env: Vec<(String, String)>,
    /// The run's interrupt, the second signal, and the process groups a second signal kills.
    pub(crate) stops: (
        tokio_util::sync::CancellationToken,
        tokio_util::sync::CancellationToken,
        Arc<crate::engine::Registry>,
    ),
}

impl Publishing {
    /// Runs `[report] publish`, if there is one, and journals how it went: a failure is a
    /// warning on stderr and in the journal, never a change of the run's exit status.
    pub(crate) async fn publish(
        self,
        folder: &RunFolder,
        run_id: &str,
        bus: &Bus,
        status: RunStatus,
    ) {
        let Some((template, context)) = &self.template else {
            return;
        };
        let masker = bus.masker();
        let paths = serde_json::json!({
            "path": absolute(&folder.report()),
            "json_path": absolute(&folder.report_json()),
        });
        let command = match context.render_with(template, "report", paths) {
            Ok(c) => c,
            Err(e) => {
                let reason = format!("template error in `publish` of [report]: {e}");
                warn_unpublished(&masker, &reason);
                journal_after(
                    folder,
                    run_id,
                    &masker,
                    self.json,
                    Event::ReportPublishFailed {
                        command: template.source().to_owned(),
                        reason,
                        duration_ms: 0,
                        output: Vec::new(),
                    },
                );
                return;
            }
        };
        if self.dry_run {
            if !self.json {
                eprintln!(
                    "dry run: the report would be published with: {}",
                    masker.mask(&command)
                );
            }
            return;
        }
        let (first, second, groups) = &self.stops;
        // After an interrupt the first signal has come: the next one is the second.
        let cancel = if status == RunStatus::Interrupted {
            second
        } else {
            first
        };
        let published = crate::engine::publish(
            &command,
            &self.env,
            &folder.dir,
            PUBLISH_TIMEOUT,
            &masker,
            (cancel, groups),
        )
        .await;
        let duration_ms = crate::event::millis(published.duration);
        let event = match published.failure {
            None => {
                if !self.json {
                    eprintln!("report published: {}", masker.mask(&command));
                }
                Event::ReportPublished {
                    command,
                    duration_ms,
                    output: published.output,
                }
            }
            Some(reason) => {
                warn_unpublished(&masker, &reason);
                for line in &published.output {
                    eprintln!("  {line}");
                }
                Event::ReportPublishFailed {
                    command,
                    reason,
                    duration_ms,
                    output: published.output,
                }
            }
        };
        journal_after(folder, run_id, &masker, self.json, event);
    }
}

fn warn_unpublished(masker: &Masker, reason: &str) {
    tracing::warn!(reason = %masker.mask(reason), "the report was not published");
    eprintln!(
        "warning: the report was not published: {}",
        masker.mask(reason)
    );
}

/// Appends one event, masked, to the journal of a run that is over (its bus has finished),
/// and with `--json` prints the same line on stdout, as the bus's JSON sink would have.
fn journal_after(folder: &RunFolder, run_id: &str, masker: &Masker, json: bool, mut event: Event) {
    event.mask(&|s| match masker.mask(s) {
        std::borrow::Cow::Owned(hidden) => Some(hidden),
        std::borrow::Cow::Borrowed(_) => None,
    });
    let record = Record {
        ts: Utc::now(),
        run_id: run_id.to_owned(),
        item: None,
        event,
        host: None,
    };
    match Journal::open(&folder.journal()) {
        Ok(mut journal) => {
            journal.event(&record);
            journal.finish();
        }
        Err(e) => eprintln!(
            "warning: failed to journal how publishing the report went: {}",
            crate::text::os_error(&e)
        ),
    }
    if json && let Ok(line) = serde_json::to_string(&record) {
        let mut out = std::io::stdout().lock();
        // A reader that went away loses the line; the journal has it.
        let _ = writeln!(out, "{line}").and_then(|()| out.flush());
    }
}
