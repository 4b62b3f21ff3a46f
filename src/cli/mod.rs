//! The command line: clap arguments and one file per subcommand.

mod args;
mod completions;
mod list;
mod main;
mod plan;
mod run;
mod schema;
mod show;
mod validate;
mod vars;

pub(crate) use main::main;
