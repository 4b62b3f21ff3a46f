//! Events → Slack and generic webhooks. A [`Notifier`] sink turns events into messages and
//! queues them; a background worker per channel posts them with retries and journals each as
//! sent or failed; the run ends with a bounded [`Courier::drain`]. A notification never fails
//! or delays the run by more than [`DRAIN_LIMIT`].

mod channel;
mod delivery;
mod message;
mod notifier;
mod slack;
mod text;
mod translate;
mod webhook;
mod worker;

pub(crate) use message::{Preapproved, RunFacts};
pub(crate) use notifier::{Courier, DRAIN_LIMIT, start};
pub(crate) use worker::Dispatch;
