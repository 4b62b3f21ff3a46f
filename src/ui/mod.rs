//! Text for people: plurals and lists, and the sinks that show a run (live view, plain lines,
//! JSON events).

pub(crate) mod count;
mod interim;

pub(crate) use interim::for_terminal;
