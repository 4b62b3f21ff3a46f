//! One import: the page's blocks through the builder, ids and the chain, the lifted
//! variables, and the TOML with a summary of what the importer decided.

use std::collections::HashSet;
use std::fmt;
use std::path::Path;

use crate::import::build::Builder;
use crate::import::draft::{Action, Note, Step, slug};
use crate::import::{lift, page, writer};
use crate::text::count;

/// The longest step id taken from a title.
const ID_BYTES: usize = 40;

/// A draft playbook and what went into it.
#[derive(Debug, Clone)]
pub struct Imported {
    /// The draft, as TOML.
    pub toml: String,
    pub summary: Summary,
}

/// What the importer made, for the line on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub steps: usize,
    pub manual: usize,
    pub confirms: usize,
    pub secrets: usize,
    pub reviews: usize,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({} manual), {}, {}, {}",
            count(self.steps, "step"),
            self.manual,
            count(self.confirms, "confirm"),
            count(self.secrets, "secret"),
            count(self.reviews, "review note"),
        )
    }
}

/// Imports the Markdown `page`, read from the file `source` (named in the header; its stem is
/// the title when the page has no `# heading`). `name` overrides the playbook name, which is
/// otherwise made from the title. Deterministic; never fails.
#[must_use]
pub fn import(page: &str, source: &Path, name: Option<&str>) -> Imported {
    let mut builder = Builder::default();
    builder.blocks(&page::blocks(page));
    let draft = &mut builder.draft;
    let file = source.file_name().map_or_else(
        || source.display().to_string(),
        |f| f.to_string_lossy().into_owned(),
    );
    let file_stem = source
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    draft.source = format!("`{file}`");
    if draft.title.is_empty() {
        draft.title = if file_stem.is_empty() {
            "Imported runbook".to_owned()
        } else {
            file_stem.clone()
        };
    }
    draft.name = name
        .map(str::to_owned)
        .or_else(|| slug(&draft.title, 48, "runbook"))
        .or_else(|| slug(&file_stem, 48, "runbook"))
        .unwrap_or_else(|| "imported-runbook".to_owned());
    if draft.steps.is_empty() {
        let mut step = Step::new(
            "Write the procedure".to_owned(),
            Action::Manual("Write the steps of this procedure.".to_owned()),
        );
        step.notes.push(Note::Review(
            "the page has no commands or instructions that the import recognised".to_owned(),
        ));
        draft.steps.push(step);
    }
    let mut used: HashSet<String> = HashSet::with_capacity(draft.steps.len());
    for step in &mut draft.steps {
        let base =
            slug(numbering(&step.title), ID_BYTES, "step").unwrap_or_else(|| "step".to_owned());
        let mut id = base.clone();
        let mut n = 1;
        while used.contains(&id) {
            n += 1;
            id = format!("{base}-{n}");
        }
        used.insert(id.clone());
        step.id = id;
    }
    lift::lift(&mut builder);
    let draft = &builder.draft;
    Imported {
        toml: writer::write(draft),
        summary: Summary {
            steps: draft.steps.len(),
            manual: draft
                .steps
                .iter()
                .filter(|s| matches!(s.action, Action::Manual(_)))
                .count(),
            confirms: draft.steps.iter().filter(|s| s.confirm.is_some()).count(),
            secrets: draft.secrets.len(),
            reviews: draft.reviews(),
        },
    }
}

/// A title without its numbering (`1. Restore`, `Step 2:` → `Restore`), for its id.
fn numbering(title: &str) -> &str {
    let rest = title.trim_start();
    let rest = rest
        .strip_prefix("Step ")
        .or_else(|| rest.strip_prefix("step "))
        .unwrap_or(rest);
    let digits = rest.trim_start_matches(|c: char| c.is_ascii_digit());
    if digits.len() == rest.len() {
        return title;
    }
    let stripped = digits.trim_start_matches(['.', ')', ':', '-']).trim_start();
    if stripped.is_empty() { title } else { stripped }
}
