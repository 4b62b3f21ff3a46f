//! Playbook files → validated [`Playbook`]s: decoding with spans, validation that collects every
//! problem, templates, and finding playbooks by name.

mod chunks;
mod decode;
pub mod diagnostic;
pub mod duration;
pub mod find;
pub mod graph;
pub mod input;
pub mod model;
mod raw;
mod raw_input;
mod references;
pub mod schedule;
pub mod schema;
pub mod size;
pub mod template;
mod validate;

pub use diagnostic::{Diagnostic, Diagnostics, Severity, SourceFile};
pub use model::Playbook;
pub use references::{PLAYBOOK_FIELDS, RUN_FIELDS};
pub use validate::{NestedKind, NestedUse, Validated, validate};
