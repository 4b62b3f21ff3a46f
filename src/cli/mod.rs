//! The command line: clap arguments and one file per subcommand.

mod approve;
mod args;
mod completions;
mod diff;
mod import;
mod io;
mod list;
mod load;
mod main;
mod plan;
mod report;
mod resume;
mod run;
mod runs;
mod schedule;
mod schema;
mod show;
mod step_flags;
mod validate;
mod vars;
mod watch;

pub(crate) use main::main;
