//! Text for people: plurals and lists, so that no message says "1 steps".

pub(crate) mod count;
