//! The background task of one channel: takes drafts from the channel's bounded queue in order,
//! renders, masks and posts them, and journals each as `notification_sent` or
//! `notification_failed` through the bus. When the run ends it keeps going until the drain
//! deadline, then journals whatever is left as undelivered and stops.

use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::event::{Bus, Event, Masker};
use crate::notify::channel::Channel;
use crate::notify::delivery::{self, Failure};
use crate::notify::message::{About, Draft};

/// What happens to a run's messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Dispatch {
    /// Post them.
    Send,
    /// Journal each as not sent, with this reason (`skipped: --no-notify`).
    Skip(String),
    /// A dry run: show each as `notification_previewed`, masked, and send nothing.
    Preview,
}

/// Drafts the queue had no room for, journaled by the worker (never by the sink, which runs
/// under the bus's lock).
pub(crate) type Dropped = Arc<Mutex<Vec<About>>>;

/// When the drain ends: `None` while the run goes on.
pub(crate) type Deadline = watch::Receiver<Option<Instant>>;

pub(crate) struct Worker {
    pub(crate) channel: Channel,
    pub(crate) queue: mpsc::Receiver<Draft>,
    pub(crate) dropped: Dropped,
    pub(crate) end: Deadline,
    pub(crate) bus: Arc<Bus>,
    pub(crate) dispatch: Dispatch,
    client: Option<Result<reqwest::Client, String>>,
    /// A channel whose URL did not render says so once, not for every message.
    broken_reported: bool,
}

/// What the worker waits for next.
enum Next {
    Draft(Box<Draft>),
    DrainStarted,
    Done,
}

impl Worker {
    pub(crate) fn new(
        channel: Channel,
        queue: mpsc::Receiver<Draft>,
        dropped: Dropped,
        end: Deadline,
        bus: Arc<Bus>,
        dispatch: Dispatch,
    ) -> Self {
        Self {
            channel,
            queue,
            dropped,
            end,
            bus,
            dispatch,
            client: None,
            broken_reported: false,
        }
    }

    pub(crate) async fn run(mut self) {
        let mut draining = false;
        loop {
            self.journal_dropped();
            if self.past_deadline() {
                break;
            }
            let next = tokio::select! {
                biased;
                () = drain_started(&mut self.end), if !draining => Next::DrainStarted,
                draft = self.queue.recv() => draft.map_or(Next::Done, |d| Next::Draft(Box::new(d))),
            };
            match next {
                // No more messages will come: what is queued is still sent, then recv ends.
                Next::DrainStarted => {
                    draining = true;
                    self.queue.close();
                }
                Next::Draft(draft) => self.handle(*draft).await,
                Next::Done => break,
            }
        }
        self.queue.close();
        while let Ok(draft) = self.queue.try_recv() {
            self.undelivered(draft.about, None);
        }
        self.journal_dropped();
    }

    async fn handle(&mut self, mut draft: Draft) {
        match &self.dispatch {
            Dispatch::Send => {}
            Dispatch::Skip(reason) => {
                let reason = reason.clone();
                self.failed(draft.about, reason, None);
                return;
            }
            Dispatch::Preview => {
                draft.load_tail();
                // The bus masks the event like every other.
                self.bus.emit(Event::NotificationPreviewed {
                    channel: self.channel.name.clone(),
                    about: draft.about.as_str().to_owned(),
                    text: draft.fallback(),
                    fields: draft.plain_fields(),
                });
                return;
            }
        }
        let target = match &self.channel.target {
            Ok(target) => target.clone(),
            Err(reason) => {
                if !self.broken_reported {
                    self.broken_reported = true;
                    let reason = format!("{reason}; no message is sent to this channel");
                    self.failed(draft.about, reason, None);
                }
                return;
            }
        };
        let client = match self.client.get_or_insert_with(delivery::client) {
            Ok(client) => client.clone(),
            Err(reason) => {
                let reason = reason.clone();
                self.failed(draft.about, reason, None);
                return;
            }
        };
        draft.load_tail();
        let mut body = self.channel.body(&draft);
        mask_json(&mut body, &self.bus.masker());
        let bytes = serde_json::to_vec(&body).expect("a JSON value always serializes");
        let mut last = None;
        let result = tokio::select! {
            result = delivery::send(&client, &target, &bytes, &mut last) => Some(result),
            () = deadline(self.end.clone()) => None,
        };
        match result {
            Some(Ok(())) => self.bus.emit(Event::NotificationSent {
                channel: self.channel.name.clone(),
                about: draft.about.as_str().to_owned(),
                text: draft.fallback(),
                fields: draft.journaled_fields(),
            }),
            Some(Err(failure)) => self.failed(draft.about, failure.reason, failure.http_status),
            None => self.undelivered(draft.about, last),
        }
    }

    /// The run ended before the message could be delivered.
    fn undelivered(&self, about: About, last: Option<Failure>) {
        match last {
            Some(f) => self.failed(
                about,
                format!(
                    "undelivered when the run ended (last attempt: {})",
                    f.reason
                ),
                f.http_status,
            ),
            None => self.failed(about, "undelivered when the run ended".to_owned(), None),
        }
    }

    fn journal_dropped(&self) {
        let dropped =
            std::mem::take(&mut *self.dropped.lock().unwrap_or_else(PoisonError::into_inner));
        for about in dropped {
            self.failed(
                about,
                "dropped: the notification queue was full".to_owned(),
                None,
            );
        }
    }

    fn failed(&self, about: About, reason: String, http_status: Option<u16>) {
        let masked = self.bus.masker().mask(&reason).into_owned();
        tracing::warn!(channel = %self.channel.name, about = about.as_str(), reason = %masked, "notification not delivered");
        self.bus.emit(Event::NotificationFailed {
            channel: self.channel.name.clone(),
            about: about.as_str().to_owned(),
            reason,
            http_status,
        });
    }

    fn past_deadline(&self) -> bool {
        match *self.end.borrow() {
            Some(at) => Instant::now() >= at,
            // The courier is gone without draining: nobody waits for these messages.
            None => self.end.has_changed().is_err(),
        }
    }
}

/// Resolves when the drain starts, or at once when the run's courier is gone.
async fn drain_started(end: &mut Deadline) {
    while end.borrow_and_update().is_none() {
        if end.changed().await.is_err() {
            return;
        }
    }
}

/// Resolves when the drain's deadline passes, or at once when the run's courier is gone
/// without draining.
async fn deadline(mut end: Deadline) {
    loop {
        let at = *end.borrow_and_update();
        if let Some(at) = at {
            tokio::time::sleep_until(at).await;
            return;
        }
        if end.changed().await.is_err() {
            return;
        }
    }
}

/// Masks every string in a message body: a message combines strings, and a secret could
/// appear only in the combination.
fn mask_json(value: &mut serde_json::Value, masker: &Masker) {
    match value {
        serde_json::Value::String(s) => {
            if let std::borrow::Cow::Owned(masked) = masker.mask(s) {
                *s = masked;
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(|v| mask_json(v, masker)),
        serde_json::Value::Object(map) => map.values_mut().for_each(|v| mask_json(v, masker)),
        _ => {}
    }
}
