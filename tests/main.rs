//! Integration tests: the real `runbook` binary, driven like a user would, one module per feature.

mod support;
mod util;

mod approvals;
mod cli;
mod diff;
mod docs;
mod dr;
mod evidence;
mod flow;
mod for_each;
mod history;
mod import;
mod inputs;
mod layering;
mod locks;
mod nested;
mod notify;
mod parallel;
mod plan;
mod probes;
mod processes;
mod publish;
mod record;
mod report;
mod resume;
mod robustness;
mod run;
mod schedule;
mod secret_outputs;
mod templates;
mod timeouts;
mod validate;
mod vars;
