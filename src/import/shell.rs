//! The lines of a shell block: which are commands (a prompt stripped, continuations and
//! here-documents kept whole), which are output and which are comments; and the variables a
//! script sets and reads.

use std::sync::LazyLock;

use indexmap::IndexSet;
use regex::Regex;

use crate::import::rules::strip_prompt;

/// One line of a shell block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Line {
    /// Part of the script, as it will run.
    Command(String),
    /// A line without a prompt in a block that has prompts: what a command printed.
    Output(String),
    /// A `#` comment (outside a session block).
    Comment(String),
}

static HEREDOC: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"<<-?\s*(?:'([^']+)'|"([^"]+)"|\\?([A-Za-z_][A-Za-z0-9_]*))"#)
        .expect("the here-document pattern compiles")
});

/// Splits a block into lines. With prompts (always in a session block), only the prompted
/// lines and what continues them are commands.
pub(crate) fn lines(text: &str, session: bool) -> Vec<Line> {
    let raw: Vec<&str> = text.lines().map(|l| l.trim_end_matches('\r')).collect();
    let prompted = session || raw.iter().any(|l| strip_prompt(l, false).is_some());
    let mut out = Vec::with_capacity(raw.len());
    let mut continued = false;
    let mut heredoc: Option<String> = None;
    for line in raw {
        if let Some(end) = &heredoc {
            let body = if prompted {
                line.strip_prefix("> ").unwrap_or(line)
            } else {
                line
            };
            if body.trim() == end {
                heredoc = None;
            }
            out.push(Line::Command(body.to_owned()));
            continue;
        }
        let command = if continued {
            Some(if prompted {
                line.strip_prefix("> ").unwrap_or(line)
            } else {
                line
            })
        } else if prompted && (session || !line.trim_start().starts_with('#')) {
            strip_prompt(line, session)
        } else if line.trim_start().starts_with('#') {
            out.push(Line::Comment(line.to_owned()));
            continue;
        } else {
            Some(line)
        };
        match command {
            Some(command) => {
                continued = command.ends_with('\\');
                heredoc = HEREDOC.captures(command).and_then(|c| {
                    c.iter()
                        .skip(1)
                        .flatten()
                        .next()
                        .map(|m| m.as_str().to_owned())
                });
                out.push(Line::Command(command.to_owned()));
            }
            None if line.trim().is_empty() => out.push(Line::Command(String::new())),
            None => out.push(Line::Output(line.to_owned())),
        }
    }
    out
}

/// A variable a script sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Assignment {
    pub(crate) name: String,
    pub(crate) value: Value,
}

/// What a variable is set to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value {
    /// A constant (quotes removed): it can be a var.
    Literal(String),
    /// Computed when the script runs (`$(…)`, another variable, a loop).
    Computed,
}

static DECLARATION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\s*(?:export|readonly|local|declare|typeset)(?:\s+-[A-Za-z]+)*\s+(.*)$")
        .expect("the declaration pattern compiles")
});
static ASSIGNMENT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\s*([A-Za-z_][A-Za-z0-9_]*)=(.*)$").expect("the assignment pattern compiles")
});
static BINDING: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b(?:for\s+([A-Za-z_][A-Za-z0-9_]*)\s+in\b|read\s+(?:-[A-Za-z]+\s+)*([A-Za-z_][A-Za-z0-9_]*))")
        .expect("the binding pattern compiles")
});
static NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Za-z_][A-Za-z0-9_]*$").expect("the name pattern compiles"));

/// The variables one command line sets: `export A=1 B=2`, `X=$(…)`, `for X in`, `read X`.
/// `X=1 cmd` sets `X` for `cmd` only, so it sets nothing.
pub(crate) fn assignments(command: &str) -> Vec<Assignment> {
    let mut out = Vec::new();
    if let Some(c) = DECLARATION.captures(command) {
        match shlex::split(&c[1]) {
            Some(words) => {
                for word in words {
                    match word.split_once('=') {
                        Some((name, value)) if NAME.is_match(name) => out.push(Assignment {
                            name: name.to_owned(),
                            value: literal(value),
                        }),
                        None if NAME.is_match(&word) => out.push(Assignment {
                            name: word,
                            value: Value::Computed,
                        }),
                        _ => {}
                    }
                }
            }
            None => out.extend(computed_names(&c[1])),
        }
    } else if let Some(c) = ASSIGNMENT.captures(command) {
        let raw = c[2].trim();
        let value = if raw.starts_with("$(") || raw.starts_with("\"$(") || raw.starts_with('`') {
            Some(Value::Computed)
        } else {
            match shlex::split(raw).as_deref() {
                Some([]) => Some(Value::Literal(String::new())),
                Some([one]) => Some(literal(one)),
                // `X=1 cmd`: an environment for one command.
                Some(_) => None,
                None => Some(Value::Computed),
            }
        };
        if let Some(value) = value {
            out.push(Assignment {
                name: c[1].to_owned(),
                value,
            });
        }
    }
    for c in BINDING.captures_iter(command) {
        if let Some(name) = c.get(1).or_else(|| c.get(2)) {
            out.push(Assignment {
                name: name.as_str().to_owned(),
                value: Value::Computed,
            });
        }
    }
    out
}

/// The names of `A=… B=…` words when the words do not split (an open quote).
fn computed_names(text: &str) -> Vec<Assignment> {
    text.split_whitespace()
        .filter_map(|w| w.split_once('=').map(|(name, _)| name))
        .filter(|name| NAME.is_match(name))
        .map(|name| Assignment {
            name: name.to_owned(),
            value: Value::Computed,
        })
        .collect()
}

fn literal(value: &str) -> Value {
    if value.contains(['$', '`']) {
        Value::Computed
    } else {
        Value::Literal(value.to_owned())
    }
}

/// `line` with the value that it assigns to `name` replaced by `***`.
pub(crate) fn mask_value(line: &str, name: &str) -> String {
    let pattern = format!(r#"\b{}=(?:"[^"]*"|'[^']*'|\S*)"#, regex::escape(name));
    match Regex::new(&pattern) {
        Ok(re) => re.replace_all(line, format!("{name}=***")).into_owned(),
        Err(_) => line.to_owned(),
    }
}

static REFERENCE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)").expect("the reference pattern compiles")
});

/// The variables a script reads (`$X`, `${X}`, `${X:-default}`), each once, in order.
pub(crate) fn references(script: &str) -> Vec<String> {
    let mut out: IndexSet<String> = IndexSet::new();
    for c in REFERENCE.captures_iter(script) {
        if !out.contains(&c[1]) {
            out.insert(c[1].to_owned());
        }
    }
    out.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(s: &str) -> Line {
        Line::Command(s.to_owned())
    }

    #[test]
    fn a_plain_block_is_commands_and_comments() {
        assert_eq!(
            lines("# stop writers\nsystemctl stop api\n\nls", false),
            vec![
                Line::Comment("# stop writers".to_owned()),
                cmd("systemctl stop api"),
                cmd(""),
                cmd("ls")
            ]
        );
    }

    #[test]
    fn prompts_are_stripped_and_the_rest_is_output() {
        assert_eq!(
            lines("$ pg_dump \\\n>   -Fc app\n$ ls\nbackup.dump\n", false),
            vec![
                cmd("pg_dump \\"),
                cmd("  -Fc app"),
                cmd("ls"),
                Line::Output("backup.dump".to_owned())
            ]
        );
        assert_eq!(
            lines("# whoami\nroot", true),
            vec![cmd("whoami"), Line::Output("root".to_owned())]
        );
    }

    #[test]
    fn a_here_document_is_kept_whole() {
        assert_eq!(
            lines(
                "$ psql <<'SQL'\n> # not a prompt\nSELECT 1;\nSQL\nout",
                false
            ),
            vec![
                cmd("psql <<'SQL'"),
                cmd("# not a prompt"),
                cmd("SELECT 1;"),
                cmd("SQL"),
                Line::Output("out".to_owned())
            ]
        );
    }

    #[test]
    fn assignments_of_each_form() {
        let lit = |n: &str, v: &str| Assignment {
            name: n.to_owned(),
            value: Value::Literal(v.to_owned()),
        };
        let comp = |n: &str| Assignment {
            name: n.to_owned(),
            value: Value::Computed,
        };
        assert_eq!(
            assignments("export PGHOST=db1 PGPORT=\"5432\""),
            vec![lit("PGHOST", "db1"), lit("PGPORT", "5432")]
        );
        assert_eq!(
            assignments("BACKUP_DIR='/srv/backups'"),
            vec![lit("BACKUP_DIR", "/srv/backups")]
        );
        assert_eq!(
            assignments("LATEST=$(ls -1t | head -n 1)"),
            vec![comp("LATEST")]
        );
        assert_eq!(assignments("FILE=\"$DIR/x.dump\""), vec![comp("FILE")]);
        assert_eq!(assignments("export TOKEN"), vec![comp("TOKEN")]);
        assert_eq!(assignments("PGOPTIONS=-c cmd"), vec![]);
        assert_eq!(
            assignments("for f in *.dump; do echo $f; done"),
            vec![comp("f")]
        );
        assert_eq!(assignments("read -r ANSWER"), vec![comp("ANSWER")]);
        assert_eq!(assignments("export A=\"open"), vec![comp("A")]);
        assert_eq!(assignments("echo x=1"), vec![]);
    }

    #[test]
    fn secret_values_are_masked() {
        assert_eq!(
            mask_value("export A=1 PGPASSWORD='s e' B=2", "PGPASSWORD"),
            "export A=1 PGPASSWORD=*** B=2"
        );
        assert_eq!(
            mask_value("MY_PGPASSWORD=x", "PGPASSWORD"),
            "MY_PGPASSWORD=x"
        );
    }

    #[test]
    fn references_in_order_once() {
        assert_eq!(
            references("pg_dump \"$DB\" > ${DIR}/x-${DB:-app}.dump; echo $1"),
            vec!["DB".to_owned(), "DIR".to_owned()]
        );
    }
}
