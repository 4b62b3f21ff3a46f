//! One run of a playbook from its lock to its report: the run folder, the journal, masking,
//! notifications, the terminal view and the exit status around the engine. The only module
//! that knows the engine, the record, notifications and the terminal view together.

mod history;
mod lock;
mod presence;
mod publish;
mod resume;
mod secrets;
#[expect(
    clippy::module_inception,
    reason = "the session is what its folder is about"
)]
mod session;
mod start;

pub(crate) use crate::engine::GivenInputs;
pub(crate) use lock::{Holder, held_by};
pub(crate) use presence::{Liveness, liveness};
pub(crate) use resume::{Resume, confirm_reruns, presets, reruns, vars};
pub(crate) use session::{Request, Session, Start, objectives};
pub(crate) use start::{host, max_parallel, runs_root, runs_roots, user};
