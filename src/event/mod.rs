//! The vocabulary between the engine and its sinks: the events of a run, the bus that masks,
//! stamps and hands them to each sink, the masking itself, and the run's clock. It depends on
//! nothing later than the playbook, so the engine, `record`, `notify` and `ui` all speak it.

mod bus;
#[expect(
    clippy::module_inception,
    reason = "the folder is the vocabulary; event.rs holds its main type, Event"
)]
mod event;
mod mask;
mod masked_span;
mod time;

pub(crate) use bus::{Bus, Sink, TAIL_LINES, WriteFault};
pub(crate) use event::{
    ApprovalHow, Approver, CheckPhase, Event, Exit, HistoryFigures, Mode, Record, RunStatus,
    StepStatus,
};
pub(crate) use mask::{MASK, Masker, RedactError, StreamMasker, secrets_in};
pub(crate) use masked_span::{MaskedSpan, SecretAt, unmask};
pub(crate) use time::{Clock, millis};
