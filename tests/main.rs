//! Integration tests: the real `runbook` binary, driven like a user would, one module per feature.

mod util;

mod cli;
mod plan;
mod run;
mod timeouts;
mod validate;
