//! A message before it is rendered for a channel: [`Draft`], what it is [`About`], the
//! [`Footer`] every message ends with, and the [`RunFacts`] they are made from.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use indexmap::IndexMap;
use serde_json::{Map, Value};

use crate::event::Mode;
use crate::notify::text::Rich;
use crate::playbook::duration::format_human;

/// How many log lines a message shows: enough to see the error, short enough for a chat.
pub(crate) const MESSAGE_TAIL_LINES: usize = 10;

/// What a run is, for every message: told once at the start, so that a resumed run (which has
/// no `run_started`) says it too.
#[derive(Debug, Clone)]
pub(crate) struct RunFacts {
    pub(crate) run_id: String,
    pub(crate) playbook: String,
    pub(crate) version: String,
    pub(crate) title: String,
    pub(crate) mode: Mode,
    pub(crate) env: Option<String>,
    pub(crate) commander: String,
    /// `--ticket ID`: the incident or change the run belongs to.
    pub(crate) ticket: Option<String>,
    pub(crate) rto_objective_ms: Option<u64>,
    /// When the RTO clock started (the original start, for a resumed run).
    pub(crate) started_at: DateTime<Utc>,
    /// Absolute: the log tails and the report are found there.
    pub(crate) run_dir: PathBuf,
    /// Approvals a flag gives: nobody needs to be asked for them.
    pub(crate) preapproved: Preapproved,
}

/// The approvals given in advance by `--yes` or `--approve ID`.
#[derive(Debug, Clone)]
pub(crate) enum Preapproved {
    /// `--yes`.
    All,
    /// `--approve ID` for these `confirm` steps.
    Steps(BTreeSet<String>),
}

/// What a message is about: the names of `events` in `[notify.*]`, and `notify` for a
/// `notify = "…"` step, which every channel gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum About {
    Started,
    StepFailed,
    ApprovalNeeded,
    RtoWarning,
    Finished,
    StepFinished,
    CheckFailed,
    Rollback,
    Notify,
}

impl About {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Started => "started",
            Self::StepFailed => "step_failed",
            Self::ApprovalNeeded => "approval_needed",
            Self::RtoWarning => "rto_warning",
            Self::Finished => "finished",
            Self::StepFinished => "step_finished",
            Self::CheckFailed => "check_failed",
            Self::Rollback => "rollback",
            Self::Notify => "notify",
        }
    }
}

/// The line every message ends with: which run, of what, where, by whom, how far into the RTO.
#[derive(Debug, Clone)]
pub(crate) struct Footer {
    pub(crate) run_id: String,
    pub(crate) playbook: String,
    pub(crate) version: String,
    pub(crate) mode: Mode,
    pub(crate) env: Option<String>,
    pub(crate) commander: String,
    pub(crate) ticket: Option<String>,
    pub(crate) elapsed_ms: u64,
    pub(crate) rto_objective_ms: Option<u64>,
}

impl Footer {
    pub(crate) fn label(&self) -> String {
        format!("{}@{}", self.playbook, self.version)
    }

    /// `[DRILL]`, `[INCIDENT]`: first in every headline, so a drill is never taken for real.
    pub(crate) fn mode_tag(&self) -> &'static str {
        match self.mode {
            Mode::Drill => "[DRILL]",
            Mode::Incident => "[INCIDENT]",
            Mode::Routine => "[ROUTINE]",
            Mode::DryRun => "[DRY RUN]",
        }
    }

    pub(crate) fn is_drill(&self) -> bool {
        self.mode == Mode::Drill
    }

    pub(crate) fn rich(&self) -> Rich {
        let mut line = Rich::new()
            .code(self.label())
            .text(format!(" · {} · ", self.mode.as_str()));
        line = match &self.env {
            Some(env) => line.text("env ").code(env),
            None => line.text("no env"),
        };
        line = line.text(format!(" · commander {} · ", self.commander));
        if let Some(ticket) = &self.ticket {
            line = line.text("ticket ").code(ticket).text(" · ");
        }
        let elapsed = format_human(self.elapsed_ms);
        line.text(match self.rto_objective_ms {
            Some(rto) => format!("{elapsed} elapsed of RTO {}", format_human(rto)),
            None => format!("{elapsed} elapsed (no RTO objective)"),
        })
    }
}

/// One message, before it is rendered for a channel.
#[derive(Debug, Clone)]
pub(crate) struct Draft {
    pub(crate) about: About,
    pub(crate) ts: DateTime<Utc>,
    /// `[DRILL] db-restore@1.0.0: step restore failed`.
    pub(crate) headline: Rich,
    pub(crate) body: Vec<Rich>,
    /// Label and value pairs (Slack shows them as two columns), in order.
    pub(crate) fields: Vec<(Cow<'static, str>, Rich)>,
    /// A failure or an approval: the channel's `mention` is added.
    pub(crate) urgent: bool,
    /// The logs folder and step whose last lines the sender reads into `tail` before rendering.
    pub(crate) log: Option<(PathBuf, String)>,
    pub(crate) tail: Vec<String>,
    pub(crate) footer: Footer,
    /// The event's own fields, for the generic webhook.
    pub(crate) data: Map<String, Value>,
}

impl Draft {
    /// The plain-text fallback: headline and body. Journaled as `notification_sent.text`.
    pub(crate) fn fallback(&self) -> String {
        std::iter::once(self.headline.plain())
            .chain(self.body.iter().map(Rich::plain))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The fields as plain text, in order.
    pub(crate) fn plain_fields(&self) -> IndexMap<String, String> {
        self.fields
            .iter()
            .map(|(label, value)| (label.to_string(), value.plain()))
            .collect()
    }

    /// The fields journaled with the message: a `notify` step's own. The other messages'
    /// fields are facts that their events journal already.
    pub(crate) fn journaled_fields(&self) -> IndexMap<String, String> {
        if self.about == About::Notify {
            self.plain_fields()
        } else {
            IndexMap::new()
        }
    }

    /// Adds one of the event's own fields, for the generic webhook.
    pub(crate) fn put(&mut self, key: &str, value: impl serde::Serialize) {
        self.data.insert(
            key.to_owned(),
            serde_json::to_value(value).unwrap_or(Value::Null),
        );
    }

    /// Reads the log tail named by `log`, once.
    pub(crate) fn load_tail(&mut self) {
        if let Some((logs, step)) = self.log.take() {
            self.tail = crate::record::log_tail::tail(&logs, &step, MESSAGE_TAIL_LINES).lines;
        }
    }
}
