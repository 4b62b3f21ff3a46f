//! The draft as TOML text, in a fixed order with its notes as comments. Every string goes
//! through `toml_writer`, which picks a form that reads back as the same string (a script
//! holding `'''` or a control character gets an escaped basic string), so the draft is valid
//! TOML whatever the page held.

use std::fmt::Write as _;

use toml_writer::{ToTomlKey as _, ToTomlValue as _, TomlKeyBuilder, TomlStringBuilder};

use crate::import::draft::{Action, Draft, Note, template_prose};

/// The draft playbook's text.
pub(crate) fn write(draft: &Draft) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Draft playbook imported from {} by `runbook import`.",
        comment(&draft.source)
    );
    out.push_str(
        "# Settle every `# review:` note and delete it, then check the result with\n\
         # `runbook validate` and `runbook plan` before the first drill.\n\n",
    );
    out.push_str("[playbook]\n");
    let _ = writeln!(out, "name = {}", string(&draft.name));
    out.push_str("version = \"0.1.0\"\n");
    let _ = writeln!(out, "title = {}", string(&draft.title));
    if let Some(description) = &draft.description {
        let _ = writeln!(out, "description = {}", string(description));
    }
    if let Some(rto) = &draft.rto {
        let _ = writeln!(out, "rto = {}", string(rto));
    }
    if let Some(rpo) = &draft.rpo {
        let _ = writeln!(out, "rpo = {}", string(rpo));
    }
    if !draft.secrets.is_empty() {
        let list: Vec<String> = draft.secrets.iter().map(|s| string(s)).collect();
        let _ = writeln!(out, "secrets = [{}]", list.join(", "));
    }
    notes(&mut out, &draft.notes);
    if !draft.vars.is_empty() {
        out.push_str("\n[vars]\n");
        for (name, var) in &draft.vars {
            notes(&mut out, &var.notes);
            let _ = writeln!(out, "{} = {}", key(name), string(&var.value));
        }
    }
    if !draft.env.is_empty() {
        out.push_str("\n[env]\n");
        for (name, var) in &draft.env {
            let template = format!("{{{{vars.{var}}}}}");
            let _ = writeln!(out, "{} = {}", key(name), string(&template));
        }
    }
    for (i, step) in draft.steps.iter().enumerate() {
        out.push('\n');
        notes(&mut out, &step.notes);
        out.push_str("[[steps]]\n");
        let _ = writeln!(out, "id = {}", string(&step.id));
        let _ = writeln!(out, "title = {}", string(&template_prose(&step.title)));
        if let Some(previous) = i.checked_sub(1).map(|p| &draft.steps[p].id) {
            let _ = writeln!(out, "needs = [{}]", string(previous));
        }
        if let Some(confirm) = &step.confirm {
            let _ = writeln!(out, "confirm = {}", string(confirm));
        }
        match &step.action {
            Action::Run(script) => {
                let _ = writeln!(out, "run = {}", multi_line(script));
            }
            Action::Manual(text) => {
                let _ = writeln!(out, "manual = {}", multi_line(text));
            }
            Action::Sleep(duration) => {
                let _ = writeln!(out, "sleep = {}", string(duration));
            }
            Action::Check(url) => {
                let _ = writeln!(out, "check = {{ http = {} }}", string(url));
            }
        }
        if !step.outputs.is_empty() {
            let outputs: Vec<String> = step
                .outputs
                .iter()
                .map(|(var, name)| {
                    let regex = format!("(?m)^{var}=(.*)$");
                    format!("{} = {{ stdout_regex = {} }}", key(name), string(&regex))
                })
                .collect();
            let _ = writeln!(out, "outputs = {{ {} }}", outputs.join(", "));
        }
        if !step.env.is_empty() {
            let env: Vec<String> = step
                .env
                .iter()
                .map(|(name, template)| format!("{} = {}", key(name), string(template)))
                .collect();
            let _ = writeln!(out, "env = {{ {} }}", env.join(", "));
        }
    }
    if !draft.trailing.is_empty() {
        out.push('\n');
        notes(&mut out, &draft.trailing);
    }
    out
}

fn notes(out: &mut String, notes: &[Note]) {
    for note in notes {
        let (prefix, text) = match note {
            Note::Text(text) => ("# ", text.as_str()),
            Note::Review(text) => ("# review: ", text.as_str()),
            Note::Verbatim(text) => ("", text.as_str()),
        };
        for line in text.lines().map(str::trim_end) {
            if prefix.is_empty() && line.trim_start().starts_with('#') {
                let _ = writeln!(out, "{}", comment(line.trim_start()));
            } else if line.trim().is_empty() {
                out.push_str("#\n");
            } else {
                let _ = writeln!(out, "{prefix}{}", comment(line));
            }
        }
    }
}

/// Text for a comment: TOML comments hold no control character but the tab.
fn comment(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() && c != '\t' {
                '\u{fffd}'
            } else {
                c
            }
        })
        .collect()
}

/// A one-line string in its plainest safe form.
pub(crate) fn string(text: &str) -> String {
    TomlStringBuilder::new(text).as_default().to_toml_value()
}

/// A script or an instruction: a multi-line literal string when it can read back the same
/// (no `'''`, no control character), else whatever form can.
pub(crate) fn multi_line(text: &str) -> String {
    let builder = TomlStringBuilder::new(text);
    if text.contains('\n') {
        if let Some(literal) = builder.as_ml_literal() {
            return literal.to_toml_value();
        }
    }
    builder.as_default().to_toml_value()
}

fn key(name: &str) -> String {
    TomlKeyBuilder::new(name).as_default().to_toml_key()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(text: &str) -> String {
        let doc = format!("a = {}\nb = {}\n", multi_line(text), string(text));
        let table: toml::Table = toml::from_str(&doc).unwrap_or_else(|e| panic!("{doc}\n{e}"));
        assert_eq!(table["a"].as_str(), Some(text), "{doc}");
        assert_eq!(table["b"].as_str(), Some(text), "{doc}");
        doc
    }

    #[test]
    fn hostile_strings_read_back_the_same() {
        for text in [
            "plain",
            "echo '''",
            "cat <<'EOF'\n'''\n\"\"\"\nEOF",
            "ends with a quote'",
            "ends with two quotes''",
            "ends with three quotes'''",
            "\"\"\"\n\"\"\"\"",
            "back\\slash \\n not a newline",
            "tab\there\u{0}nul\u{1b}[31m esc\r\ncrlf\rcr\u{7f}",
            "\nleading newline",
            "trailing newline\n",
            "é 😀 \u{200b} \u{feff}",
            "",
            "'",
            "''",
        ] {
            round_trip(text);
        }
    }

    #[test]
    fn scripts_are_literal_when_they_can_be() {
        assert_eq!(multi_line("a\nb"), "'''\na\nb'''");
        assert!(round_trip("echo '''\nx").contains("\"\"\""));
    }

    #[test]
    fn comments_hold_no_control_characters() {
        assert_eq!(comment("a\u{0}b\tc\u{1b}"), "a\u{fffd}b\tc\u{fffd}");
    }
}
