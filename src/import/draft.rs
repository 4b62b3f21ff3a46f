//! The draft playbook the importer builds before writing it: the few shapes of `[playbook]`,
//! `[vars]`, `[env]` and `[[steps]]` an import produces, with the notes that go above each.

use indexmap::{IndexMap, IndexSet};

use crate::import::shell::Assignment;
use crate::playbook::template::{MAX_EXPRESSIONS, MAX_TEMPLATE_BYTES};

/// A draft playbook.
#[derive(Debug, Clone, Default)]
pub(crate) struct Draft {
    /// The page's file name, for the header.
    pub(crate) source: String,
    pub(crate) name: String,
    pub(crate) title: String,
    pub(crate) description: Option<String>,
    pub(crate) rto: Option<String>,
    pub(crate) rpo: Option<String>,
    pub(crate) secrets: IndexSet<String>,
    /// Notes on the playbook as a whole, written in `[playbook]`.
    pub(crate) notes: Vec<Note>,
    /// `[vars]`: name → value.
    pub(crate) vars: IndexMap<String, Var>,
    /// `[env]`: environment name → the var that gives its value.
    pub(crate) env: IndexMap<String, String>,
    pub(crate) steps: Vec<Step>,
    /// Notes after the last step (prose at the end of the page).
    pub(crate) trailing: Vec<Note>,
}

/// A comment line of the draft.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Note {
    /// Text from the page, written after `# `.
    Text(String),
    /// A `#` comment line of the page, written as it is.
    Verbatim(String),
    /// A decision the importer left to a person: `# review: …`.
    Review(String),
}

/// A `[vars]` entry's value and the notes above it.
#[derive(Debug, Clone)]
pub(crate) struct Var {
    pub(crate) value: String,
    pub(crate) notes: Vec<Note>,
}

/// A step.
#[derive(Debug, Clone)]
pub(crate) struct Step {
    /// Empty until the draft is finished; then unique.
    pub(crate) id: String,
    pub(crate) title: String,
    pub(crate) notes: Vec<Note>,
    pub(crate) action: Action,
    pub(crate) confirm: Option<String>,
    /// The shell variable → the output that captures it.
    pub(crate) outputs: IndexMap<String, String>,
    /// Environment name → template.
    pub(crate) env: Vec<(String, String)>,
    /// The variables the script sets and reads, for lifting them into vars and outputs.
    pub(crate) sets: Vec<Assignment>,
    pub(crate) reads: Vec<String>,
}

/// What a step does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    /// A shell script, already escaped for the template language.
    Run(String),
    /// An instruction for a person, already escaped.
    Manual(String),
    /// A duration in the playbook grammar.
    Sleep(String),
    /// A health URL, polled by an `http` check.
    Check(String),
}

impl Step {
    pub(crate) fn new(title: String, action: Action) -> Self {
        Self {
            id: String::new(),
            title,
            notes: Vec::new(),
            action,
            confirm: None,
            outputs: IndexMap::new(),
            env: Vec::new(),
            sets: Vec::new(),
            reads: Vec::new(),
        }
    }
}

impl Draft {
    /// Every review note, wherever it is.
    pub(crate) fn reviews(&self) -> usize {
        let count = |notes: &[Note]| {
            notes
                .iter()
                .filter(|n| matches!(n, Note::Review(_)))
                .count()
        };
        count(&self.notes)
            + self.vars.values().map(|v| count(&v.notes)).sum::<usize>()
            + self.steps.iter().map(|s| count(&s.notes)).sum::<usize>()
            + count(&self.trailing)
    }
}

/// `text` as a template that renders to exactly `text`: each `{{` escaped as `\{{`. `None` when
/// no template can: a backslash right before `{{` (the template language reads `\\{{` as a
/// backslash and an expression), or more `{{` or bytes than a template may have.
pub(crate) fn template_text(text: &str) -> Option<String> {
    let opens = text.matches("{{").count();
    if opens == 0 {
        return Some(text.to_owned());
    }
    if text.contains("\\{{") || opens > MAX_EXPRESSIONS || text.len() + opens > MAX_TEMPLATE_BYTES {
        return None;
    }
    Some(text.replace("{{", "\\{{"))
}

/// Prose as a template, made safe when it cannot be kept exactly (`{{` becomes `{ {`).
pub(crate) fn template_prose(text: &str) -> String {
    template_text(text).unwrap_or_else(|| {
        let mut safe = text.to_owned();
        while safe.contains("{{") {
            safe = safe.replace("{{", "{ {");
        }
        safe
    })
}

/// A lowercase id of letters, digits and `-`, at most `max` bytes, starting with a letter
/// (`prefix-` is put in front otherwise); `None` when `text` has no letter or digit.
pub(crate) fn slug(text: &str, max: usize, prefix: &str) -> Option<String> {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
        if out.len() > max {
            // Cut at the last word that fits.
            let cut = out[..max]
                .rfind('-')
                .filter(|&at| at > max / 2)
                .unwrap_or(max);
            out.truncate(cut);
            break;
        }
    }
    let out = out.trim_end_matches('-');
    if out.is_empty() {
        return None;
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        return Some(format!("{prefix}-{out}"));
    }
    Some(out.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_keep_braces() {
        assert_eq!(template_text("ls").as_deref(), Some("ls"));
        assert_eq!(
            template_text("docker inspect -f '{{.State}}'").as_deref(),
            Some("docker inspect -f '\\{{.State}}'")
        );
        assert_eq!(template_text("{{{{x}}}}").as_deref(), Some("\\{{\\{{x}}}}"));
        assert_eq!(template_text("echo \\{{x}}"), None);
        assert_eq!(template_text(&"{{".repeat(MAX_EXPRESSIONS + 1)), None);
        assert_eq!(template_prose("a {{{{ b"), "a \\{{\\{{ b");
        assert_eq!(template_prose("a \\{{{{ b"), "a \\{ { { { b");
        assert_eq!(template_prose("\\{{x"), "\\{ {x");
    }

    #[test]
    fn slugs() {
        assert_eq!(
            slug("Restore the DB!", 40, "step").as_deref(),
            Some("restore-the-db")
        );
        assert_eq!(
            slug("2. Restart", 40, "step").as_deref(),
            Some("step-2-restart")
        );
        assert_eq!(slug("   ", 40, "step"), None);
        assert_eq!(slug("ééé", 40, "step"), None);
        assert_eq!(
            slug("a very long title indeed", 10, "s").as_deref(),
            Some("a-very")
        );
        assert_eq!(
            slug("abcdefghijklmnop", 10, "s").as_deref(),
            Some("abcdefghij")
        );
    }
}
