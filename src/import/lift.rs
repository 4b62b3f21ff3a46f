//! Shell variables → vars, outputs and secrets, once every step is known. A constant that one
//! step sets and a later step reads becomes a var (handed to every command by `[env]`); a
//! value computed by an earlier step becomes that step's output, handed to the reader by its
//! `env`; secret names go to `[playbook] secrets`; names read but never set are listed for
//! the reviewer.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use indexmap::IndexSet;

use crate::import::build::Builder;
use crate::import::draft::{Action, Note};
use crate::import::rules;
use crate::import::shell::Value;
use crate::text::List;

/// Lifts the variables of every step; the steps have their ids.
pub(crate) fn lift(builder: &mut Builder) {
    let mut unset: IndexSet<String> = IndexSet::new();
    // The last step before the current one that sets each name.
    let mut setters: HashMap<String, usize> = HashMap::new();
    // The output names each step has given out.
    let mut outputs: HashMap<usize, HashSet<String>> = HashMap::new();
    for i in 0..builder.draft.steps.len() {
        let own: HashSet<String> = builder.draft.steps[i]
            .sets
            .iter()
            .map(|a| a.name.clone())
            .collect();
        for name in builder.draft.steps[i].reads.clone() {
            if own.contains(&name) {
                continue;
            }
            let setter = setters.get(&name).copied();
            if rules::is_secret(&name) {
                builder.secret(&name);
                if let Some(j) = setter {
                    let by = builder.draft.steps[j].id.clone();
                    builder.draft.steps[i].notes.push(Note::Review(format!(
                        "`{name}` is set by step `{by}`, but a secret is not handed between steps (its value would be journaled): give it to the run in the environment"
                    )));
                }
                continue;
            }
            if builder.draft.env.contains_key(&name) {
                continue;
            }
            match setter {
                Some(j) => hand_on(builder, &mut outputs, &name, j, i),
                None if !rules::is_ambient(&name) => {
                    unset.insert(name);
                }
                None => {}
            }
        }
        for a in &builder.draft.steps[i].sets {
            setters.insert(a.name.clone(), i);
        }
        let secrets: Vec<(String, bool)> = builder.draft.steps[i]
            .sets
            .iter()
            .filter(|a| rules::is_secret(&a.name))
            .map(|a| (a.name.clone(), matches!(a.value, Value::Literal(_))))
            .collect();
        for (name, literal) in secrets {
            builder.secret(&name);
            let note = if literal {
                format!(
                    "this step sets the secret `{name}` to a value written on the page: delete the value and give `{name}` to the run in the environment"
                )
            } else {
                format!(
                    "this step sets the secret `{name}`, which later steps do not see (each step is its own shell) and runbook cannot mask: give `{name}` to the run in the environment instead"
                )
            };
            builder.draft.steps[i].notes.push(Note::Review(note));
        }
    }
    if !unset.is_empty() {
        builder.draft.notes.push(Note::Review(format!(
            "read from the environment of the run, never set on the page: {}; export them before `runbook run`, or declare them in [vars] and [env]",
            List::ticked(&unset)
        )));
    }
}

/// Hands `name`, set by step `from`, to step `to`: a var when the value is a constant, else
/// an output of `from` and an `env` entry of `to`.
fn hand_on(
    builder: &mut Builder,
    outputs: &mut HashMap<usize, HashSet<String>>,
    name: &str,
    from: usize,
    to: usize,
) {
    let value = builder.draft.steps[from]
        .sets
        .iter()
        .rev()
        .find(|a| a.name == name)
        .map(|a| a.value.clone());
    let from_id = builder.draft.steps[from].id.clone();
    if let Some(Value::Literal(value)) = value {
        let mut notes = vec![Note::Review(format!(
            "step `{from_id}` sets `{name}` to this constant and later steps read it"
        ))];
        builder.constant(name, value, &mut notes);
        return;
    }
    let taken = outputs.entry(from).or_default();
    let source = &mut builder.draft.steps[from];
    let output = if let Some(output) = source.outputs.get(name) {
        output.clone()
    } else {
        let lower = name.to_ascii_lowercase();
        // `Count` and `COUNT` are two variables: the second keeps its case.
        let output = if taken.contains(&lower) {
            name.to_owned()
        } else {
            lower
        };
        if let Action::Run(script) = &mut source.action {
            let _ = write!(
                script,
                "\n# runbook import: hands ${name} to later steps as steps.{from_id}.outputs.{output}\nprintf '{name}=%s\\n' \"${name}\""
            );
        }
        taken.insert(output.clone());
        source.outputs.insert(name.to_owned(), output.clone());
        source.notes.push(Note::Review(format!(
            "later steps read `${name}`: its last line prints it for `outputs.{output}` (the first line of the value); check that the value is still set there"
        )));
        output
    };
    builder.draft.steps[to].env.push((
        name.to_owned(),
        format!("{{{{steps.{from_id}.outputs.{output}}}}}"),
    ));
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::import::import;

    fn draft(page: &str) -> String {
        import(page, Path::new("p.md"), None).toml
    }

    #[test]
    fn a_constant_set_by_a_step_and_read_later_becomes_a_var() {
        let toml = draft(
            "## A\n```sh\nexport DIR=/srv\nls \"$DIR\"\n```\n## B\n```sh\ncd \"$DIR\"\n```\n",
        );
        assert!(toml.contains("[vars]\n# review: step `a` sets `DIR` to this constant and later steps read it\ndir = \"/srv\"\n"), "{toml}");
        assert!(toml.contains("[env]\nDIR = \"{{vars.dir}}\"\n"), "{toml}");
        assert!(!toml.contains("outputs"), "{toml}");
    }

    #[test]
    fn a_computed_value_is_an_output_of_the_step_that_computes_it() {
        let toml = draft(
            "## A\n```sh\nN=$(wc -l < f)\n```\n## B\n```sh\necho $N\n```\n## C\n```sh\necho $N\n```\n",
        );
        assert_eq!(toml.matches("printf 'N=%s\\n' \"$N\"").count(), 1, "{toml}");
        assert!(
            toml.contains("outputs = { n = { stdout_regex = \"(?m)^N=(.*)$\" } }"),
            "{toml}"
        );
        assert_eq!(
            toml.matches("env = { N = \"{{steps.a.outputs.n}}\" }")
                .count(),
            2,
            "{toml}"
        );
    }

    #[test]
    fn two_names_that_differ_in_case_are_two_outputs() {
        let toml = draft("## A\n```sh\nn=$(x)\nN=$(y)\n```\n## B\n```sh\necho $n $N\n```\n");
        assert!(toml.contains("outputs = { n = { stdout_regex = \"(?m)^n=(.*)$\" }, N = { stdout_regex = \"(?m)^N=(.*)$\" } }"), "{toml}");
    }

    #[test]
    fn secrets_are_declared_and_never_handed_on() {
        let toml = draft(
            "## A\n```sh\nexport API_TOKEN=$(vault read x)\n```\n## B\n```sh\ncurl -H \"$API_TOKEN\" $HOST/x\n```\n",
        );
        assert!(toml.contains("secrets = [\"API_TOKEN\"]"), "{toml}");
        assert!(
            toml.contains("# review: this step sets the secret `API_TOKEN`"),
            "{toml}"
        );
        assert!(
            toml.contains("# review: `API_TOKEN` is set by step `a`"),
            "{toml}"
        );
        assert!(!toml.contains("outputs"), "{toml}");
        assert!(
            toml.contains(
                "# review: read from the environment of the run, never set on the page: `HOST`;"
            ),
            "{toml}"
        );
    }
}
