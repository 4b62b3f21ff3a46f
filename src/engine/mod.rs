//! Plan → Events: runs a playbook's [`Plan`](crate::plan::Plan) as a DAG of steps on tokio,
//! with health checks, process groups, retries, approvals and rollbacks; every state change an
//! [`Event`](crate::event::Event) on the [`Bus`](crate::event::Bus).
//!
//! The surface is [`execute`]`(`[`RunRequest`]`, Bus, `[`SignalHandling`]`) -> `[`Outcome`](run::Outcome);
//! the session (`crate::session`) builds the request, owns the lock, the run folder, the
//! journal, notifications and the report, and is the only caller.
//!
//! # Events
//!
//! The engine emits; it never writes a record itself (step logs aside, `log.rs`, masked by the
//! bus's `StreamMasker`). The bus masks every event, then hands it to each sink in order: the
//! journal first, then the terminal view, then the notifier. Before the engine acts (starts a
//! command, sends a request, runs a rollback) it calls `bus.barrier()`: the journal fsyncs what
//! it holds, so the record of "about to run X" is on disk before X can change anything. A sink
//! that fails to write reports a fault; the scheduler then starts nothing new.
//!
//! # Signals
//!
//! The first SIGINT, SIGTERM or SIGHUP cancels the run's token: running process groups get
//! TERM, then KILL after their grace period; prompts stop waiting; nothing new starts, rollbacks
//! included. A second signal kills every registered process group at once (`signal.rs`,
//! `group.rs`).
//!
//! # The nested-playbook recursion
//!
//! `step.rs` runs a `playbook = "name@req"` step through `nested.rs`, which runs the nested
//! plan through `phases.rs`, whose `scheduler.rs` runs steps through `step.rs` again. That cycle
//! (step → nested → phases → scheduler → step) is the one import cycle among these files, and
//! it is deliberate: `nested::run` boxes its future so the compiler can name the type, and a
//! playbook that nests itself is refused before it runs.

mod approval;
mod capture;
mod check;
mod context;
mod group;
mod inputs;
mod limits;
mod log;
mod nested;
mod phases;
mod probe;
mod process;
mod prompt;
mod publish;
mod request;
mod rto;
mod run;
mod scheduler;
mod scope;
mod signal;
mod ssh;
mod step;
mod tree;

pub(crate) use approval::{Approvals, Remote, answer, wake};
pub(crate) use context::{Context, RunInfo};
pub(crate) use inputs::GivenInputs;
pub(crate) use limits::raise_open_files;
pub(crate) use probe::History;
pub(crate) use process::{Registry, group_alive_since};
pub(crate) use publish::publish;
pub(crate) use request::{Locker, RunRequest};
pub(crate) use run::execute;
pub(crate) use signal::SignalHandling;
