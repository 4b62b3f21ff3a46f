//! `runbook import`: a Markdown runbook (the wiki page a team has today) → a draft playbook that
//! validates. `page` walks the Markdown, `rules` holds the heuristics as data, `build` and
//! `lift` make the draft, `writer` writes it as TOML: text in, text out. `source` reads the page.

mod build;
mod draft;
mod imported;
mod lift;
mod page;
mod rules;
mod shell;
mod source;
mod writer;

pub use imported::{Imported, Summary, import};
pub use source::ImportError;
pub(crate) use source::read;
