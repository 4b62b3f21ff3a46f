//! Events → the run's record: the run folder, the durable journal and replay of a
//! journal into a run state.

pub(crate) mod folder;
pub(crate) mod head;
pub(crate) mod history;
pub(crate) mod index;
pub(crate) mod journal;
pub(crate) mod log_tail;
pub(crate) mod past_run;
pub(crate) mod replay;
pub(crate) mod report;
pub(crate) mod summary;
pub(crate) mod written;
