//! Blocks of a page → a draft: headings title the steps under them, shell blocks become `run`
//! steps (or `[vars]`, a `sleep`, an `http` check), SQL a `psql` step, instructions `manual`
//! steps, other code and prose comments; the heuristics come from `rules`.

use crate::import::draft::{Action, Draft, Note, Step, Var, template_prose, template_text};
use crate::import::page::{Block, Text, TextKind};
use crate::import::rules::{self, Language, Objective};
use crate::import::shell::{self, Line, Value};
use crate::text::List;

/// The longest title taken from the page; longer text stays whole in a note.
const TITLE_CHARS: usize = 72;

/// Walks the blocks in order and collects the draft's parts.
#[derive(Default)]
pub(crate) struct Builder {
    pub(crate) draft: Draft,
    /// The text of the heading the next steps are under.
    section: Option<String>,
    /// A title for the next code block, from the text just before it, and that text when
    /// it is not a note already (it becomes one if no step takes the title).
    hint: Option<(String, Option<String>)>,
    /// Whether a step under the current heading has its text as title already.
    section_used: bool,
    /// Notes for the next step (prose, code kept as comments).
    pending: Vec<Note>,
}

impl Builder {
    pub(crate) fn blocks(&mut self, blocks: &[Block]) {
        for (i, block) in blocks.iter().enumerate() {
            match block {
                Block::Heading { level, text } => self.heading(*level, text),
                Block::Text(text) => self.text(text, blocks.get(i + 1)),
                Block::Code { info, text } => self.code(info, text),
            }
        }
        self.draft.trailing.append(&mut self.pending);
    }

    fn heading(&mut self, level: usize, text: &str) {
        self.objectives(text);
        self.drop_hint();
        self.section_used = false;
        if level == 1 && self.draft.title.is_empty() && self.draft.steps.is_empty() {
            self.draft.title = one_line(text);
            self.section = None;
        } else {
            self.section = Some(one_line(text)).filter(|t| !t.is_empty());
        }
    }

    fn objectives(&mut self, text: &str) -> bool {
        let found = rules::objectives(text);
        for (which, duration) in &found {
            let (slot, key) = match which {
                Objective::Rto => (&mut self.draft.rto, "rto"),
                Objective::Rpo => (&mut self.draft.rpo, "rpo"),
            };
            match slot {
                None => *slot = Some(duration.clone()),
                Some(first) if first != duration => self.draft.notes.push(Note::Review(format!(
                    "the page also states {key} {duration}; the draft keeps the first, {first}"
                ))),
                Some(_) => {}
            }
        }
        !found.is_empty()
    }

    fn text(&mut self, text: &Text, next: Option<&Block>) {
        let states_objectives = self.objectives(&text.text);
        let prose_kind = matches!(text.kind, TextKind::Paragraph | TextKind::Item);
        if prose_kind && text.raw.iter().any(|l| rules::looks_like_command(l)) {
            self.unfenced(text);
            return;
        }
        let inline: Vec<&str> = text
            .code
            .iter()
            .map(String::as_str)
            .filter(|c| is_inline_command(c))
            .collect();
        if prose_kind && !inline.is_empty() && rules::is_instruction(&text.text) {
            let script = inline.join("\n");
            let title = self.title_from(&text.text);
            self.pending.push(Note::Text(text.text.clone()));
            let before = self.draft.steps.len();
            self.shell(&script, false, Some(title));
            if let Some(step) = self.draft.steps.get_mut(before) {
                step.notes.push(Note::Review(
                    "these commands were inline code in the text: check that they are the whole of it"
                        .to_owned(),
                ));
            }
            return;
        }
        if prose_kind && next.is_some_and(is_command_block) {
            // A numbered step's text, or a paragraph under a heading that titled a step
            // already, titles the code; else the heading does and the paragraph is a note.
            let titles = text.kind == TextKind::Item || self.section.is_none() || self.section_used;
            let title = self.title_from(&text.text);
            let noted = !titles || text.text.trim().lines().count() > 1 || title.ends_with('…');
            if noted {
                self.pending.push(Note::Text(text.text.clone()));
            }
            if titles {
                self.hint = Some((title, (!noted).then(|| text.text.clone())));
            }
            return;
        }
        let instruction = match text.kind {
            TextKind::Item => text.task || text.ordered || rules::is_instruction(&text.text),
            TextKind::Paragraph => rules::is_instruction(&text.text),
            TextKind::Quote | TextKind::Table | TextKind::Html | TextKind::Metadata => false,
        };
        if instruction && !states_objectives {
            let title = self.title_from(&text.text);
            self.push(Step::new(title, Action::Manual(template_prose(&text.text))));
        } else if text.kind == TextKind::Paragraph
            && self.draft.description.is_none()
            && self.draft.steps.is_empty()
            && self.section.is_none()
        {
            self.draft.description =
                Some(text.text.split_whitespace().collect::<Vec<_>>().join(" "));
        } else {
            self.pending.push(Note::Text(text.text.clone()));
        }
    }

    /// A text whose lines include commands: the code lost its fences.
    fn unfenced(&mut self, text: &Text) {
        let mut title: Option<String> = None;
        let mut lines: Vec<&str> = Vec::new();
        let mut continued = false;
        let flush = |me: &mut Self, lines: &mut Vec<&str>, title: &mut Option<String>| {
            if lines.is_empty() {
                return;
            }
            let title = title
                .take()
                .map(|t| me.title_from(&t))
                .or_else(|| me.hint.take().map(|(title, _)| title));
            let before = me.draft.steps.len();
            me.shell(&lines.join("\n"), false, title);
            if let Some(step) = me.draft.steps.get_mut(before) {
                step.notes.push(Note::Review(
                    "the page had no code fence here: the lines that look like commands became this step; check that none is missing or extra"
                        .to_owned(),
                ));
            }
            lines.clear();
        };
        for line in &text.raw {
            if continued || rules::looks_like_command(line) {
                continued = line.ends_with('\\');
                lines.push(line);
            } else if !line.is_empty() {
                flush(self, &mut lines, &mut title);
                if let Some(previous) = title.replace(line.clone()) {
                    self.prose_line(previous);
                }
            }
        }
        flush(self, &mut lines, &mut title);
        if let Some(rest) = title {
            self.prose_line(rest);
        }
    }

    /// A line of prose among unfenced commands that titles none: an instruction or a note.
    fn prose_line(&mut self, line: String) {
        if rules::is_instruction(&line) {
            let title = self.title_from(&line);
            self.push(Step::new(title, Action::Manual(template_prose(&line))));
        } else {
            self.pending.push(Note::Text(line));
        }
    }

    fn code(&mut self, info: &str, text: &str) {
        if text.trim().is_empty() {
            return;
        }
        match rules::language(info) {
            Language::Shell => self.shell(text, false, None),
            Language::Session => self.shell(text, true, None),
            Language::Unknown if looks_like_commands(text) => self.shell(text, false, None),
            Language::Sql => self.sql(text),
            Language::Unknown => self.comment_block(
                text,
                "a block without a language that does not look like commands, kept as a comment",
            ),
            Language::Other => {
                let lang = info.split_whitespace().next().unwrap_or(info);
                self.comment_block(
                    text,
                    &format!(
                        "a `{lang}` block, kept as a comment: put it where the procedure needs it"
                    ),
                );
            }
        }
    }

    fn comment_block(&mut self, text: &str, why: &str) {
        self.drop_hint();
        self.pending.push(Note::Review(why.to_owned()));
        self.pending.extend(
            text.lines()
                .map(|l| Note::Text(l.trim_end_matches('\r').to_owned())),
        );
    }

    /// A shell block: `[vars]` when it only sets constants, else a step.
    fn shell(&mut self, text: &str, session: bool, title: Option<String>) {
        let lines = shell::lines(text, session);
        let mut notes = Vec::new();
        let mut script: Vec<String> = Vec::new();
        let mut output = false;
        for line in lines {
            match line {
                Line::Comment(c) if script.iter().all(|l| l.trim().is_empty()) => {
                    notes.push(Note::Verbatim(c));
                }
                Line::Comment(c) | Line::Command(c) => script.push(c),
                Line::Output(o) => {
                    output = true;
                    notes.push(Note::Text(format!("output: {o}")));
                }
            }
        }
        if output {
            notes.push(Note::Review(
                "lines of this block without a prompt are taken as output and kept as comments"
                    .to_owned(),
            ));
        }
        while script.last().is_some_and(|l| l.trim().is_empty()) {
            script.pop();
        }
        let start = script.iter().take_while(|l| l.trim().is_empty()).count();
        let script = script[start..].join("\n");
        if script.trim().is_empty() {
            self.pending.extend(title.map(Note::Text));
            self.drop_hint();
            self.pending.extend(notes);
            return;
        }
        let commands: Vec<&str> = script
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect();
        if self.vars_only(&commands, &script, notes.clone()) {
            self.pending.extend(title.map(Note::Text));
            self.drop_hint();
            return;
        }
        let title = title
            .or_else(|| self.hint.take().map(|(title, _)| title))
            .or_else(|| self.section.clone());
        if let [only] = commands.as_slice() {
            if let Some(duration) = rules::sleep_duration(only) {
                notes.push(Note::Text((*only).to_owned()));
                return self.step(
                    Step::new(title_or(title, "Wait"), Action::Sleep(duration)),
                    notes,
                );
            }
            if let Some(url) = rules::health_url(only) {
                notes.push(Note::Text((*only).to_owned()));
                notes.push(Note::Review(
                    "a health `curl` became an `http` check, polled until it answers 2xx (60s at most); make it a `run` step again if its output mattered"
                        .to_owned(),
                ));
                return self.step(
                    Step::new(title_or(title, "Health check"), Action::Check(url)),
                    notes,
                );
            }
        }
        for url in commands.iter().filter_map(|c| rules::health_url(c)) {
            notes.push(Note::Review(format!(
                "`curl` of a health URL: a step `check = {{ http = \"{url}\" }}` would poll it until it answers"
            )));
        }
        // A script of comments only (`$ # note`) has no first command to name it after.
        let first = commands.first().copied().unwrap_or(script.trim());
        let title = title.unwrap_or_else(|| self.title_from(first));
        let mut step = if let Some(run) = template_text(&script) {
            Step::new(title.clone(), Action::Run(run))
        } else {
            notes.extend(script.lines().map(|l| Note::Text(l.to_owned())));
            notes.push(Note::Review(
                "these commands have a backslash before `{{` (or are too large for a template), which a `run` cannot hold as written: run them by hand or rewrite them"
                    .to_owned(),
            ));
            Step::new(
                title,
                Action::Manual("Run the commands shown above this step by hand.".to_owned()),
            )
        };
        step.confirm = confirm(&commands);
        if matches!(step.action, Action::Run(_)) {
            step.sets = commands
                .iter()
                .flat_map(|c| shell::assignments(c))
                .collect();
            step.reads = shell::references(&script);
        }
        self.step(step, notes);
    }

    /// Constants only (`export PGHOST=db1`): they become `[vars]` and `[env]`, and secrets go to
    /// `[playbook] secrets` instead. Returns whether the block was that.
    fn vars_only(&mut self, commands: &[&str], script: &str, notes: Vec<Note>) -> bool {
        let sets: Vec<Vec<shell::Assignment>> =
            commands.iter().map(|c| shell::assignments(c)).collect();
        let constant = !commands.is_empty()
            && sets.iter().zip(commands).all(|(a, c)| {
                !a.is_empty()
                    && !c.contains([';', '&', '|', '`'])
                    && a.iter().all(|a| matches!(a.value, Value::Literal(_)))
            });
        if !constant {
            return false;
        }
        self.pending.extend(notes);
        let mut lines: Vec<String> = script.lines().map(str::to_owned).collect();
        let mut vars = Vec::new();
        for assignment in sets.into_iter().flatten() {
            let Value::Literal(value) = assignment.value else {
                continue;
            };
            let name = assignment.name;
            if rules::is_secret(&name) {
                self.secret(&name);
                for line in &mut lines {
                    *line = shell::mask_value(line, &name);
                }
                self.draft.notes.push(Note::Review(format!(
                    "the page sets the secret `{name}`: its value is left out of the playbook (`***` below); give it to the run in the environment"
                )));
            } else {
                vars.push((name, value));
            }
        }
        let mut page_lines: Vec<Note> = lines.into_iter().map(Note::Text).collect();
        for (name, value) in vars {
            self.constant(&name, value, &mut page_lines);
        }
        self.draft.notes.append(&mut page_lines);
        true
    }

    /// A var for a constant the page sets, and the `[env]` entry that hands it to commands.
    pub(crate) fn constant(&mut self, name: &str, value: String, notes: &mut Vec<Note>) {
        if let Some(key) = self.draft.env.get(name) {
            if let Some(var) = self.draft.vars.get_mut(key) {
                if var.value != value {
                    var.notes.push(Note::Review(format!(
                        "the page also sets `{name}` to `{value}`; the first value is the default"
                    )));
                }
            }
            return;
        }
        let lower = name.to_ascii_lowercase();
        // `Db` and `DB` are two variables: the second keeps its case.
        let key = if self.draft.vars.contains_key(&lower) {
            name.to_owned()
        } else {
            lower
        };
        self.draft.env.insert(name.to_owned(), key.clone());
        self.draft.vars.insert(
            key,
            Var {
                value,
                notes: std::mem::take(notes),
            },
        );
    }

    pub(crate) fn secret(&mut self, name: &str) {
        self.draft.secrets.insert(name.to_owned());
    }

    fn sql(&mut self, text: &str) {
        let body = text.trim_end_matches(['\n', '\r']);
        let mut delimiter = "SQL".to_owned();
        while body.lines().any(|l| l.trim() == delimiter) {
            delimiter.push_str("_END");
        }
        let script = format!("psql -v ON_ERROR_STOP=1 <<'{delimiter}'\n{body}\n{delimiter}");
        let title = self
            .hint
            .take()
            .map(|(title, _)| title)
            .or_else(|| self.section.clone());
        let notes = vec![Note::Review(
            "a SQL block, run by `psql` as a here-document: check which database it connects to (PGHOST, PGDATABASE, PGUSER in [env] or the environment of the run)"
                .to_owned(),
        )];
        let lines: Vec<&str> = body.lines().collect();
        let mut step = if let Some(run) = template_text(&script) {
            Step::new(title_or(title, "SQL"), Action::Run(run))
        } else {
            self.comment_block(
                body,
                "a SQL block with `\\{{`, which a `run` cannot hold: run it by hand",
            );
            return;
        };
        step.confirm = confirm(&lines);
        self.step(step, notes);
    }

    /// The text that was to title a block that titles no step stays as a note.
    fn drop_hint(&mut self) {
        if let Some((_, Some(text))) = self.hint.take() {
            self.pending.push(Note::Text(text));
        }
    }

    fn step(&mut self, mut step: Step, notes: Vec<Note>) {
        step.notes.extend(notes);
        self.push(step);
    }

    fn push(&mut self, mut step: Step) {
        let mut notes = std::mem::take(&mut self.pending);
        notes.append(&mut step.notes);
        step.notes = notes;
        self.hint = None;
        if self.section.as_ref() == Some(&step.title) {
            self.section_used = true;
        }
        self.draft.steps.push(step);
    }

    /// A title from text: its first line, without Markdown's backticks, cut at a word.
    fn title_from(&self, text: &str) -> String {
        let line = one_line(text.lines().next().unwrap_or(""))
            .replace('`', "")
            .replace("**", "")
            .replace("__", "")
            .trim_end_matches([':', '.', ' '])
            .to_owned();
        let line = if line.chars().count() > TITLE_CHARS {
            let cut: String = line.chars().take(TITLE_CHARS).collect();
            match cut.rfind(' ') {
                Some(at) if at > TITLE_CHARS / 2 => format!("{}…", &cut[..at]),
                _ => format!("{cut}…"),
            }
        } else {
            line
        };
        if line.is_empty() {
            self.section.clone().unwrap_or_else(|| "Step".to_owned())
        } else {
            line
        }
    }
}

fn title_or(title: Option<String>, default: &str) -> String {
    title.unwrap_or_else(|| default.to_owned())
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The `confirm` of a step whose commands destroy or overwrite.
fn confirm(commands: &[&str]) -> Option<String> {
    let found = rules::destructive(commands);
    (!found.is_empty()).then(|| {
        format!(
            "This step runs {}, which destroys or overwrites data. Continue?",
            List::ticked(found)
        )
    })
}

/// Inline code that is a whole command line (`systemctl restart api`), not a name or a path.
fn is_inline_command(code: &str) -> bool {
    let first = code.split_whitespace().next().unwrap_or("");
    let first = if first == "sudo" {
        code.split_whitespace().nth(1).unwrap_or("")
    } else {
        first
    };
    code.split_whitespace().count() >= 2
        && !code.contains('\n')
        && (rules::COMMANDS.contains(&first) || rules::strip_prompt(code, false).is_some())
}

/// Whether most lines of a block without a language are commands.
fn looks_like_commands(text: &str) -> bool {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let commands = lines
        .iter()
        .filter(|l| rules::looks_like_command(l))
        .count();
    !lines.is_empty() && commands * 2 >= lines.len()
}

/// A code block that becomes a step, so the text before it is its title.
fn is_command_block(block: &Block) -> bool {
    match block {
        Block::Code { info, text } => match rules::language(info) {
            Language::Shell | Language::Session | Language::Sql => !text.trim().is_empty(),
            Language::Unknown => looks_like_commands(text),
            Language::Other => false,
        },
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::import::import;

    fn draft(page: &str) -> String {
        import(page, Path::new("p.md"), None).toml
    }

    #[test]
    fn the_heading_titles_its_first_block_and_the_text_before_a_later_one_titles_that() {
        let toml = draft(
            "## Restore\n\nFirst stop it.\n\n```sh\nstop\n```\n\nThen start it:\n\n```sh\nstart\n```\n",
        );
        assert!(
            toml.contains("# First stop it.\n[[steps]]\nid = \"restore\"\ntitle = \"Restore\"\n"),
            "{toml}"
        );
        assert!(
            toml.contains("id = \"then-start-it\"\ntitle = \"Then start it\"\n"),
            "{toml}"
        );
    }

    #[test]
    fn instructions_are_manual_steps_and_other_prose_is_a_note() {
        let toml = draft(
            "# T\n\nAbout this page.\n\n- Notify the team\n- The team is #ops\n\nSchedule a window.\n\nThe window is short.\n",
        );
        assert!(
            toml.contains("description = \"About this page.\""),
            "{toml}"
        );
        assert_eq!(toml.matches("manual = ").count(), 2, "{toml}");
        assert!(toml.contains("manual = \"Notify the team\""), "{toml}");
        assert!(toml.contains("manual = \"Schedule a window.\""), "{toml}");
        assert!(toml.contains("# The team is #ops\n"), "{toml}");
        assert!(toml.contains("# The window is short.\n"), "{toml}");
    }

    #[test]
    fn a_block_of_only_constants_is_vars_and_a_secret_among_them_is_masked() {
        let toml = draft("```sh\nexport A=1 DB_PASSWORD='x y'\n```\n");
        assert!(
            toml.contains("# export A=1 DB_PASSWORD=***\na = \"1\"\n"),
            "{toml}"
        );
        assert!(toml.contains("secrets = [\"DB_PASSWORD\"]"), "{toml}");
        assert!(!toml.contains("x y"), "{toml}");
    }

    #[test]
    fn a_block_with_a_backslash_before_braces_is_a_manual_step_with_its_lines_as_comments() {
        let toml = draft("```sh\necho \\{{x}}\n```\n");
        assert!(toml.contains("# echo \\{{x}}\n"), "{toml}");
        assert!(
            toml.contains("manual = \"Run the commands shown above this step by hand.\""),
            "{toml}"
        );
    }

    // See: #19 (found by import::fuzz)
    #[test]
    fn a_prompted_block_of_comments_only_is_a_step_named_after_its_text() {
        let toml = draft("```console\n$ # nothing to run\n```\n");
        assert!(toml.contains("title = \"# nothing to run\""), "{toml}");
    }

    #[test]
    fn the_first_statement_of_an_objective_wins_and_a_second_is_noted() {
        let toml = draft("RTO: 1 hour.\n\nRTO: 2 hours.\n");
        assert!(toml.contains("rto = \"1h\""), "{toml}");
        assert!(
            toml.contains("# review: the page also states rto 2h; the draft keeps the first, 1h"),
            "{toml}"
        );
    }
}
