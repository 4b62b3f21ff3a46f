//! Text for people, and the sinks that turn the engine's events into it: the live view on a
//! terminal, plain timestamped lines without one, or the journal's JSON lines for `--json`.

mod json;
mod live;
mod paint;
mod phrase;
mod plain;
mod rto;
#[cfg(test)]
mod script;
mod sink;
mod terminal;

pub(crate) use sink::Objectives;
pub(crate) use terminal::for_terminal;
