//! Events → the run's record: the run folder, the durable journal, replay of a journal into a
//! run state, and the lock that keeps two runs of one playbook apart.

pub mod folder;
pub mod history;
pub mod journal;
pub mod lock;
pub mod log_tail;
pub mod replay;
pub mod report;
pub mod written;
