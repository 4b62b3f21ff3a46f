//! Integration tests: the real `runbook` binary, driven like a user would, one module per feature.

mod support;
mod util;

mod cli;
mod diff;
mod dr;
mod notify;
mod plan;
mod probes;
mod report;
mod resume;
mod robustness;
mod run;
mod timeouts;
mod validate;
