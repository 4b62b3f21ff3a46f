//! Approvals: a step's `confirm` and a manual step's "done". One request, several answerers:
//! flags given in advance (`--yes`, `--approve`, `--input`), the terminal, and other processes
//! (`runbook approve` / `runbook decline`) through the run folder's `answers/`.

pub(crate) mod answer;
mod ask;
mod decision;
mod remote;
pub(crate) mod wake;

pub(crate) use ask::{Approvals, Ask, Gate};
pub(crate) use decision::Decision;
pub(crate) use remote::Remote;
