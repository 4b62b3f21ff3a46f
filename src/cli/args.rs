//! Command-line arguments (clap derive; the doc comments are the help text).

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Disaster-recovery procedures as versioned, executable TOML playbooks.
#[derive(Debug, Parser)]
#[command(
    name = "runbook",
    version,
    about,
    propagate_version = true,
    max_term_width = 100,
    after_help = "Documentation: docs/ in the runbook repository, starting at docs/README.md"
)]
pub(crate) struct Cli {
    /// Folder searched first for playbooks named by NAME (then `$RUNBOOK_PATH`, then `./playbooks`)
    #[arg(long, global = true, value_name = "DIR")]
    pub(crate) dir: Option<PathBuf>,

    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Check playbooks and report every problem at once
    Validate(crate::cli::validate::Args),
    /// List the playbooks found: name, version, title, rto, tags, next due time
    List(crate::cli::list::Args),
    /// Show a playbook: steps, checks, vars, secrets (names only), objectives
    Show(crate::cli::show::Args),
    /// Plan a playbook without running anything: waves, critical path, planned RTO
    Plan(crate::cli::plan::Args),
    /// Run a playbook
    Run(crate::cli::run::Args),
    /// Show what changed between two versions of a playbook, for reviewers
    Diff(crate::cli::diff::Args),
    /// Continue an interrupted or crashed run from its journal
    Resume(crate::cli::resume::Args),
    /// Approve a `confirm` or manual step a live run waits for (from another terminal or process)
    Approve(crate::cli::approve::ApproveArgs),
    /// Decline a `confirm` or manual step a live run waits for: the step fails
    Decline(crate::cli::approve::DeclineArgs),
    /// Follow a run from its journal until it ends, and exit with its exit code
    Watch(crate::cli::watch::Args),
    /// Past runs, newest first: id, playbook@version, mode, status, RTO achieved; a summary per playbook
    Runs(crate::cli::runs::Args),
    /// Print scheduled playbooks for cron, systemd or Kubernetes, as routine runs
    Schedule(crate::cli::schedule::Args),
    /// Write a run's report again from its journal, and print it
    Report(crate::cli::report::Args),
    /// Turn a Markdown runbook (a wiki page) into a draft playbook to review
    Import(crate::cli::import::Args),
    /// Print the JSON Schema of the playbook format
    Schema,
    /// Print shell completions
    Completions(crate::cli::completions::Args),
}
