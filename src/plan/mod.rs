//! Playbook → Plan: the order of steps in parallel waves, the critical path by `budget`, and
//! the planned RTO against the objective; rendered as text, JSON or a Mermaid flowchart.

mod critical_path;
mod diff;
mod expand;
mod limit;
mod render;
mod select;

pub use critical_path::{Plan, PlanStep, Skip};
pub use diff::{
    Changed, Changes, CheckEntry, FieldChange, LineEdit, LineOp, PlannedRto, PlaybookDiff, Side,
    StepEntry, Warning, WarningKind,
};
pub use expand::{instances, items_of, problems as for_each_problems};
pub use render::{Format, render, render_to};
pub(crate) use select::{Preset, Selection};
