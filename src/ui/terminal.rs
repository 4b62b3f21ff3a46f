//! The choice of sink for this process: JSON lines for `--json`, the live view on a terminal,
//! plain lines otherwise.

use std::io::IsTerminal as _;

use super::json::Json;
use super::live::Live;
use super::plain::Plain;
use super::sink::{Objectives, Sink};

/// The sink for this process: [`Json`] on stdout for `--json`; else [`Live`] when stderr is a
/// terminal that is not `TERM=dumb`; else [`Plain`] on stderr.
///
/// With `verbose`, the human sinks also print every output line of every step.
pub(crate) fn for_terminal(json: bool, verbose: bool, objectives: Objectives) -> Box<dyn Sink> {
    if json {
        return Box::new(Json::new(std::io::stdout()));
    }
    let dumb = std::env::var_os("TERM").is_some_and(|t| t == "dumb");
    if std::io::stderr().is_terminal() && !dumb {
        Box::new(Live::stderr(verbose, objectives))
    } else {
        Box::new(Plain::stderr(verbose, &objectives))
    }
}
