//! Plan → Events: runs a playbook as a DAG of steps on tokio, with health checks, process
//! groups, retries, approvals, rollbacks and masking; every state change an [`Event`](crate::event::Event).

pub(crate) mod approval;
pub(crate) mod capture;
pub(crate) mod check;
pub(crate) mod context;
pub(crate) mod group;
pub(crate) mod log;
pub(crate) mod nested;
mod phases;
pub(crate) mod probe;
pub(crate) mod process;
pub(crate) mod prompt;
mod rto;
pub(crate) mod run;
pub(crate) mod scheduler;
pub(crate) mod scope;
pub(crate) mod signal;
pub(crate) mod step;
pub(crate) mod tree;
