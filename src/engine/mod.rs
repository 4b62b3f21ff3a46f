//! Plan → Events: runs a playbook as a DAG of steps on tokio, with health checks, process
//! groups, retries, approvals, rollbacks and masking; every state change an [`Event`](crate::event::Event).

pub mod approval;
pub mod capture;
pub mod check;
pub mod context;
pub mod group;
pub mod log;
pub mod nested;
pub mod probe;
pub mod process;
pub(crate) mod prompt;
pub mod run;
pub mod scheduler;
pub mod shared;
pub mod signal;
pub mod step;
pub mod tree;
