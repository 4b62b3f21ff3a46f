//! What a run settles before its first step: the steps `--only`/`--from` leave out, and the
//! steps a resumed run keeps from its journal. The scheduler reads the result as presets.

use std::collections::BTreeMap;

use crate::event::StepStatus;
use crate::plan::Plan;
use crate::playbook::diagnostic::did_you_mean_suffix;

/// A step's state before scheduling starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Preset {
    /// Outside the `--only`/`--from` selection: skipped with this reason, and its dependents
    /// treat it as done.
    Unselected(String),
    /// Finished in an earlier segment of a resumed run: keeps its status and outputs, and is
    /// not run again (nor journaled again).
    Done {
        status: StepStatus,
        exit_code: Option<i32>,
        outputs: BTreeMap<String, String>,
    },
}

/// Part of a playbook to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Selection<'a> {
    /// The step and everything it needs, transitively.
    Only(&'a str),
    /// The step and everything after it (through `needs` and `after`).
    From(&'a str),
}

impl Selection<'_> {
    fn flag(self) -> &'static str {
        match self {
            Self::Only(_) => "--only",
            Self::From(_) => "--from",
        }
    }

    /// `--only ID` / `--from ID`, as the journal records it.
    pub(crate) fn label(self) -> String {
        let (Self::Only(id) | Self::From(id)) = self;
        format!("{} {id}", self.flag())
    }
}

impl Plan {
    /// Leaves out the steps outside `selection`; an unknown step id is an error that suggests
    /// the nearest one.
    pub(crate) fn select(mut self, selection: Option<Selection<'_>>) -> Result<Self, String> {
        let Some(selection) = selection else {
            return Ok(self);
        };
        let (Selection::Only(id) | Selection::From(id)) = selection;
        let steps = &self.playbook.steps;
        let Some(target) = self.playbook.step_index(id) else {
            let hint = did_you_mean_suffix(id, steps.iter().map(|s| s.id.as_str()));
            return Err(format!(
                "unknown step `{id}` in `{}`{hint}",
                selection.label()
            ));
        };
        let mut selected = vec![false; steps.len()];
        selected[target] = true;
        let mut stack = vec![target];
        while let Some(i) = stack.pop() {
            // A `for_each` step is its instances: selecting it selects them.
            let members = steps[i]
                .after
                .iter()
                .copied()
                .filter(|&d| steps[d].instance().is_some_and(|x| x.of == steps[i].id));
            let next: Vec<usize> = match selection {
                Selection::Only(_) => steps[i].needs.iter().copied().chain(members).collect(),
                Selection::From(_) => (self
                    .dependents
                    .of(i)
                    .iter()
                    .chain(self.after_dependents.of(i))
                    .copied())
                .chain(
                    if i == target { Some(members) } else { None }
                        .into_iter()
                        .flatten(),
                )
                .collect(),
            };
            for d in next {
                if !selected[d] {
                    selected[d] = true;
                    stack.push(d);
                }
            }
        }
        let reason = format!("not selected by `{}`", selection.label());
        self.preset.resize(steps.len(), None);
        for (preset, selected) in self.preset.iter_mut().zip(selected) {
            if !selected {
                *preset = Some(Preset::Unselected(reason.clone()));
            }
        }
        Ok(self)
    }

    /// Takes what a resumed run's journal settles, by step index.
    pub(crate) fn settle(mut self, preset: Vec<Option<Preset>>) -> Self {
        debug_assert_eq!(preset.len(), self.steps.len());
        self.preset = preset;
        self
    }

    /// Takes what a resumed run's journal settles about instances made during the run (a
    /// `for_each` over step outputs), by id: they are settled when their group expands again.
    pub(crate) fn settle_made(mut self, made: BTreeMap<String, Preset>) -> Self {
        self.made = made;
        self
    }

    /// What is settled about the instance `id` made during the run.
    pub(crate) fn made_preset(&self, id: &str) -> Option<&Preset> {
        self.made.get(id)
    }

    /// What is settled about step `i` before scheduling starts.
    pub(crate) fn preset(&self, i: usize) -> Option<&Preset> {
        self.preset.get(i).and_then(Option::as_ref)
    }
}
