//! The notifier: a sink that turns events into drafts and queues them, without waiting, for
//! one background worker per channel; and the courier, which the run awaits at its end for a
//! bounded drain. Sending never blocks or fails the run.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::event::{Bus, Record, Sink};
use crate::notify::channel::{Channel, Render};
use crate::notify::message::{Draft, RunFacts};
use crate::notify::translate::Translator;
use crate::notify::worker::{Dispatch, Dropped, Worker};
use crate::playbook::model::Notify;

/// How long the end of a run waits for messages still queued or being retried.
pub(crate) const DRAIN_LIMIT: Duration = Duration::from_secs(10);
/// Messages waiting per channel; more are dropped (and journaled as such).
const QUEUE_SIZE: usize = 64;
/// How long past the deadline a worker may take to journal what it leaves undelivered.
const GRACE: Duration = Duration::from_secs(1);

/// The sink: translation and `try_send` only, since it runs under the bus's lock (emitting
/// from here would deadlock, waiting here would hold up the run).
pub(crate) struct Notifier {
    translator: Translator,
    queues: Vec<Queue>,
}

struct Queue {
    channel: Channel,
    sender: mpsc::Sender<Draft>,
    dropped: Dropped,
}

/// The run's handle on the workers: [`Courier::drain`] at the end.
pub(crate) struct Courier {
    end: watch::Sender<Option<Instant>>,
    workers: Vec<JoinHandle<()>>,
}

/// Starts a worker per configured channel (their URLs and headers rendered now); `None` when
/// the playbook has no `[notify.*]`. Call inside the run's tokio runtime.
#[must_use]
pub(crate) fn start(
    notify: &Notify,
    render: &Render<'_>,
    facts: RunFacts,
    bus: &Arc<Bus>,
    dispatch: &Dispatch,
) -> Option<(Notifier, Courier)> {
    let channels = Channel::all(notify, render);
    if channels.is_empty() {
        return None;
    }
    Some(spawn(channels, facts, bus, dispatch))
}

/// A worker per channel, and the sink that feeds them.
fn spawn(
    channels: Vec<Channel>,
    facts: RunFacts,
    bus: &Arc<Bus>,
    dispatch: &Dispatch,
) -> (Notifier, Courier) {
    let (end, deadline) = watch::channel(None);
    let mut queues = Vec::new();
    let mut workers = Vec::new();
    for channel in channels {
        let (sender, receiver) = mpsc::channel(QUEUE_SIZE);
        let dropped: Dropped = Arc::new(Mutex::new(Vec::new()));
        let worker = Worker::new(
            channel.clone(),
            receiver,
            Arc::clone(&dropped),
            deadline.clone(),
            Arc::clone(bus),
            dispatch.clone(),
        );
        workers.push(tokio::spawn(worker.run()));
        queues.push(Queue {
            channel,
            sender,
            dropped,
        });
    }
    (
        Notifier {
            translator: Translator::new(facts),
            queues,
        },
        Courier { end, workers },
    )
}

impl Sink for Notifier {
    fn event(&mut self, record: &Record) {
        let Some(draft) = self.translator.translate(record) else {
            return;
        };
        for queue in &self.queues {
            if !queue.channel.wants(draft.about) {
                continue;
            }
            if let Err(mpsc::error::TrySendError::Full(d)) = queue.sender.try_send(draft.clone()) {
                queue
                    .dropped
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(d.about);
            }
            // `Closed`: the drain is over, and nothing is sent after it.
        }
    }
}

impl Courier {
    /// Lets the workers send what is queued or being retried for at most `limit`, then has them
    /// journal every undelivered message as `notification_failed`, and returns.
    pub(crate) async fn drain(self, limit: Duration) {
        let deadline = Instant::now() + limit;
        self.end.send_replace(Some(deadline));
        for worker in self.workers {
            let abort = worker.abort_handle();
            if tokio::time::timeout_at(deadline + GRACE, worker)
                .await
                .is_err()
            {
                // Journaling is all a worker does past the deadline; it cannot hold up the exit.
                abort.abort();
                tracing::warn!("a notification worker did not stop at the end of the run");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    use chrono::Utc;

    use super::*;
    use crate::event::{Event, Masker, Mode};
    use crate::notify::channel::{Kind, Target};
    use crate::notify::message::Preapproved;

    /// Keeps every event it is given.
    struct Collect(Arc<Mutex<Vec<Event>>>);

    impl Sink for Collect {
        fn event(&mut self, record: &Record) {
            self.0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(record.event.clone());
        }
    }

    fn started() -> Event {
        Event::RunStarted {
            playbook: "db".into(),
            path: "/p.toml".into(),
            version: "1.0.0".into(),
            sha256: String::new(),
            mode: Mode::Drill,
            env: None,
            commander: "alice".into(),
            ticket: None,
            vars: BTreeMap::new(),
            incident_start: None,
            dry_run: false,
            host: "h".into(),
            run_dir: "/runs/r1".into(),
            runbook_version: "0".into(),
            max_parallel: Some(1),
            selection: None,
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_full_queue_drops_and_the_drain_journals_everything_undelivered_in_time() {
        // Accepts connections into its backlog and never answers: every attempt hangs.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let bus = Bus::new(
            "r1".into(),
            Arc::new(Masker::default()),
            vec![Box::new(Collect(Arc::clone(&seen)))],
        );
        let channel = Channel::for_test(
            "slack",
            Kind::Webhook,
            &["started"],
            Ok(Target {
                url,
                headers: Vec::new(),
            }),
        );
        let facts = RunFacts {
            run_id: "r1".into(),
            playbook: "db".into(),
            version: "1.0.0".into(),
            title: "db".into(),
            mode: Mode::Drill,
            env: None,
            commander: "alice".into(),
            ticket: None,
            rto_objective_ms: None,
            started_at: Utc::now(),
            run_dir: PathBuf::from("/runs/r1"),
            preapproved: Preapproved::All,
        };
        let (notifier, courier) = spawn(vec![channel], facts, &bus, &Dispatch::Send);
        bus.add_sink(Box::new(notifier));
        let messages = QUEUE_SIZE + 10;
        for _ in 0..messages {
            bus.emit(started());
        }
        let before = Instant::now();
        courier.drain(Duration::from_millis(300)).await;
        assert!(
            before.elapsed() < Duration::from_secs(3),
            "the drain is bounded"
        );
        let seen = seen.lock().unwrap_or_else(PoisonError::into_inner);
        let reasons: Vec<&str> = seen
            .iter()
            .filter_map(|e| match e {
                Event::NotificationFailed { reason, .. } => Some(reason.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(reasons.len(), messages, "every message is journaled once");
        let dropped = reasons
            .iter()
            .filter(|r| r.starts_with("dropped: the notification queue was full"))
            .count();
        let undelivered = reasons
            .iter()
            .filter(|r| r.starts_with("undelivered when the run ended"))
            .count();
        assert!(dropped >= 9, "{reasons:?}");
        assert_eq!(dropped + undelivered, messages, "{reasons:?}");
    }
}
