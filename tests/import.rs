//! `runbook import` through the real binary, on wiki pages in the styles teams write them
//! (tests/fixtures/import/): each draft validates and plans, chains its steps in the page's
//! order, confirms its destructive steps, declares its secrets and keeps every shell line of
//! the page; one draft runs for real. Also the flags, the errors, a hostile round trip, and a
//! bounded fuzz of the importer (import/fuzz.rs).

mod fuzz;

use std::path::{Path, PathBuf};

use crate::util::{Test, root};

fn fixture(name: &str) -> String {
    let path = root().join(format!("tests/fixtures/import/{name}.md"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A page imported with `-o draft.toml`, the draft's text and its steps.
struct Draft {
    test: Test,
    text: String,
    toml: toml::Table,
}

impl Draft {
    /// Imports the fixture `name`, then checks what holds for every draft: it is TOML, it
    /// validates, it plans, and its steps are one chain in the page's order.
    fn of(name: &str) -> Self {
        let test = Test::new().file(&format!("{name}.md"), &fixture(name));
        let run = test
            .run_args(["import", &format!("{name}.md"), "-o", "draft.toml"])
            .expect_code(0);
        assert!(run.stdout().is_empty(), "{}", run.stdout());
        assert!(
            run.stderr().contains("review note"),
            "a summary: {}",
            run.stderr()
        );
        let written = std::fs::read_to_string(test.path().join("draft.toml")).expect("a draft");
        let toml: toml::Table =
            toml::from_str(&written).unwrap_or_else(|e| panic!("not TOML: {e}\n{written}"));
        let draft = Self {
            test,
            text: written,
            toml,
        };
        let validate = draft
            .test
            .run_args(["validate", "draft.toml"])
            .expect_code(0);
        assert!(
            validate.stdout().starts_with("ok  draft.toml"),
            "{}",
            validate.stdout()
        );
        let plan = draft.test.run_args(["plan", "draft.toml"]).expect_code(0);
        let ids = draft.ids();
        for id in &ids {
            assert!(
                plan.stdout().contains(id.as_str()),
                "plan lacks `{id}`:\n{}",
                plan.stdout()
            );
        }
        for (i, step) in draft.steps().iter().enumerate() {
            let needs = step.get("needs").and_then(toml::Value::as_array);
            match i {
                0 => assert!(needs.is_none(), "the first step needs nothing: {step:?}"),
                _ => assert_eq!(
                    needs.map(|n| n.iter().filter_map(toml::Value::as_str).collect::<Vec<_>>()),
                    Some(vec![ids[i - 1].as_str()]),
                    "step {i} needs the one before it"
                ),
            }
        }
        draft
    }

    fn steps(&self) -> Vec<&toml::Table> {
        self.toml["steps"]
            .as_array()
            .expect("steps")
            .iter()
            .map(|s| s.as_table().expect("a step table"))
            .collect()
    }

    fn ids(&self) -> Vec<String> {
        self.steps()
            .iter()
            .map(|s| s["id"].as_str().expect("an id").to_owned())
            .collect()
    }

    fn step(&self, id: &str) -> &toml::Table {
        self.steps()
            .into_iter()
            .find(|s| s["id"].as_str() == Some(id))
            .unwrap_or_else(|| panic!("no step `{id}` in\n{}", self.text))
    }

    fn secrets(&self) -> Vec<&str> {
        self.toml["playbook"]
            .get("secrets")
            .and_then(toml::Value::as_array)
            .map(|s| s.iter().filter_map(toml::Value::as_str).collect())
            .unwrap_or_default()
    }

    /// The steps that have a `confirm`.
    fn confirmed(&self) -> Vec<&str> {
        self.steps()
            .into_iter()
            .filter(|s| s.contains_key("confirm"))
            .map(|s| s["id"].as_str().expect("an id"))
            .collect()
    }

    /// Every line the draft keeps: each line of a `run` (as it runs, so `\{{` is `{{`), and
    /// each comment line without its `# ` or `# output: `.
    fn kept_lines(&self) -> Vec<String> {
        let mut kept = Vec::new();
        for step in self.steps() {
            if let Some(run) = step.get("run").and_then(toml::Value::as_str) {
                kept.extend(
                    run.replace("\\{{", "{{")
                        .lines()
                        .map(|l| l.trim().to_owned()),
                );
            }
        }
        for line in self.text.lines().map(str::trim) {
            if let Some(comment) = line.strip_prefix('#') {
                let comment = comment.strip_prefix(' ').unwrap_or(comment);
                kept.push(
                    comment
                        .strip_prefix("output: ")
                        .unwrap_or(comment)
                        .trim()
                        .to_owned(),
                );
                kept.push(line.to_owned());
            }
        }
        kept
    }

    /// Asserts that each line is in the draft; a line that sets one of `secrets` to a value
    /// may be there with the value masked (`NAME=***`).
    #[track_caller]
    fn keeps(&self, lines: &[String], secrets: &[&str]) {
        let kept = self.kept_lines();
        assert!(!lines.is_empty(), "lines to look for");
        for line in lines {
            let masked = secrets.iter().fold(line.clone(), |l, name| {
                regex::Regex::new(&format!(r"\b{name}=\S*"))
                    .expect("a regex")
                    .replace_all(&l, format!("{name}=***"))
                    .into_owned()
            });
            assert!(
                kept.contains(line) || kept.contains(&masked),
                "the draft lost the page's line\n  {line}\n--- draft\n{}",
                self.text
            );
        }
    }

    /// Every step whose command destroys or overwrites has a confirm, and no other step does.
    #[track_caller]
    fn confirms(&self, expected: &[&str]) {
        assert_eq!(self.confirmed(), expected, "\n{}", self.text);
        let destructive = regex::Regex::new(
            r"(?i)\brm\s|\bdrop\s+table|\btruncate\b|\bdelete\s+from|pg_restore --clean|pg_terminate_backend|--force\b|\bdropdb\b|\.restore\b|\bmv\s+\S+\s+/var/lib/",
        )
        .expect("a regex");
        for step in self.steps() {
            if let Some(run) = step.get("run").and_then(toml::Value::as_str) {
                assert_eq!(
                    destructive.is_match(run),
                    step.contains_key("confirm"),
                    "confirm on step {:?}",
                    step["id"]
                );
            }
        }
    }
}

/// The lines of the page's fenced shell blocks, a prompt (`$ `, `> `) stripped.
fn fenced_shell_lines(page: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut inside: Option<bool> = None;
    for line in page.lines() {
        let trimmed = line.trim();
        match inside {
            None if trimmed.starts_with("```") => {
                let lang = trimmed.trim_start_matches('`');
                inside = Some(matches!(lang, "sh" | "bash" | "shell" | "console"));
            }
            Some(_) if trimmed == "```" => inside = None,
            Some(true) if !trimmed.is_empty() => {
                let command = trimmed
                    .strip_prefix("$ ")
                    .or_else(|| trimmed.strip_prefix("> "))
                    .unwrap_or(trimmed);
                lines.push(command.trim().to_owned());
            }
            _ => {}
        }
    }
    lines
}

fn owned(lines: &[&str]) -> Vec<String> {
    lines.iter().map(|l| (*l).to_owned()).collect()
}

#[test]
fn a_postgres_page_with_prompts_keeps_every_line_and_confirms_the_restore() {
    let draft = Draft::of("postgres-backup-restore");
    let page = fixture("postgres-backup-restore");
    draft.keeps(&fenced_shell_lines(&page), &[]);
    draft.confirms(&["stop-the-application", "restore"]);
    assert_eq!(draft.secrets(), ["PGPASSWORD"]);
    let playbook = &draft.toml["playbook"];
    assert_eq!(playbook["rto"].as_str(), Some("2h"));
    assert_eq!(playbook["rpo"].as_str(), Some("15m"));
    // The settings block became vars, handed to every command by [env].
    assert_eq!(
        draft.toml["vars"]["backup_dir"].as_str(),
        Some("/srv/backups/orders")
    );
    assert_eq!(
        draft.toml["env"]["PGHOST"].as_str(),
        Some("{{vars.pghost}}")
    );
    // $LATEST, computed by one block and read by another, is an output and a template.
    let find = draft.step("find-the-newest-nightly-dump");
    assert!(find["outputs"]["latest"]["stdout_regex"].is_str());
    assert_eq!(
        draft.step("restore")["env"]["LATEST"].as_str(),
        Some("{{steps.find-the-newest-nightly-dump.outputs.latest}}")
    );
    // The prompt's output is a comment, not a command.
    let dump = draft.step("take-a-safety-dump-of-what-is-there")["run"]
        .as_str()
        .expect("a run");
    assert!(!dump.contains("-rw-r--r--"), "{dump}");
    assert!(
        draft.text.contains("# output: -rw-r--r--"),
        "{}",
        draft.text
    );
    // Prerequisites are prose, not steps.
    assert!(
        draft
            .text
            .contains("# The password of the `restore` role in the vault")
    );
    assert!(
        draft
            .text
            .contains("# Access to the bastion (`ssh bastion.internal`)")
    );
    insta::assert_snapshot!(draft.text);
}

#[test]
fn a_service_recovery_page_with_numbered_steps_turns_health_curls_into_checks() {
    let draft = Draft::of("service-recovery");
    draft.keeps(&fenced_shell_lines(&fixture("service-recovery")), &[]);
    draft.confirms(&["if-it-still-fails-fail-over-to-the"]);
    assert!(draft.secrets().is_empty());
    assert_eq!(draft.toml["playbook"]["rto"].as_str(), Some("30m"));
    let titles: Vec<&str> = draft
        .steps()
        .iter()
        .map(|s| s["title"].as_str().expect("a title"))
        .collect();
    assert_eq!(
        titles,
        [
            "Confirm the outage on the status dashboard",
            "Check the health endpoints of both tiers",
            "Restart the API",
            "Wait for the load balancer to notice",
            "Check the API answers again",
            "If it still fails, fail over to the standby region",
            "Post an update in #checkout-incidents",
        ]
    );
    let check = draft.step("check-the-api-answers-again");
    assert_eq!(
        check["check"]["http"].as_str(),
        Some("http://localhost:8080/healthz")
    );
    assert_eq!(
        draft.step("wait-for-the-load-balancer-to-notice")["sleep"].as_str(),
        Some("30s")
    );
    assert!(draft.step("confirm-the-outage-on-the-status")["manual"].is_str());
    insta::assert_snapshot!(draft.text);
}

#[test]
fn a_page_of_prose_checklists_becomes_manual_steps() {
    let draft = Draft::of("prose-checklist");
    draft.confirms(&[]);
    assert!(draft.secrets().is_empty());
    let manual: Vec<&str> = draft
        .steps()
        .iter()
        .map(|s| s["manual"].as_str().expect("every step is manual"))
        .collect();
    assert_eq!(
        manual,
        [
            "Notify stakeholders two days ahead",
            "Schedule a maintenance window with the change board",
            "Freeze deployments",
            "Make sure the on-call engineer has read this page",
            "Declare the evacuation in #ops.",
            "Drain the load balancers of the primary site.",
            "Verify that the standby site serves all traffic.",
            "Keep the incident channel updated every 30 minutes.",
            "Write the post-mortem.",
            "Unfreeze deployments.",
        ]
    );
    assert_eq!(draft.toml["playbook"]["rto"].as_str(), Some("4h"));
    // Prose that is no step is kept where a reviewer sees it.
    assert!(
        draft
            .text
            .contains("# Ask the database team before touching the replicas.")
    );
    insta::assert_snapshot!(draft.text);
}

#[test]
fn a_page_whose_code_lost_its_fences_is_imported_line_by_line() {
    let draft = Draft::of("lost-fences");
    draft.keeps(
        &owned(&[
            "sudo systemctl stop redis-server",
            "sudo mv /var/lib/redis/dump.rdb /var/lib/redis/dump.rdb.broken",
            "LATEST=$(ls -1t /srv/backups/redis/*.rdb | head -n 1)",
            "sudo cp \"$LATEST\" /var/lib/redis/dump.rdb",
            "sudo chown redis:redis /var/lib/redis/dump.rdb",
            "sudo systemctl start redis-server",
            "redis-cli -a \"$REDIS_PASSWORD\" ping",
            "redis-cli -a \"$REDIS_PASSWORD\" info keyspace",
        ]),
        &[],
    );
    draft.confirms(&["keep-the-broken-data-aside"]);
    assert_eq!(draft.secrets(), ["REDIS_PASSWORD"]);
    assert_eq!(draft.toml["playbook"]["rto"].as_str(), Some("20m"));
    assert_eq!(
        draft.step("stop-the-cache")["run"].as_str(),
        Some("sudo systemctl stop redis-server")
    );
    assert!(draft.step("tell-the-team-in-cache-that-the-cache")["manual"].is_str());
    assert!(
        draft
            .text
            .contains("# review: the page had no code fence here")
    );
    insta::assert_snapshot!(draft.text);
}

#[test]
fn a_page_with_sql_and_exports_runs_sql_through_psql_and_lifts_the_exports() {
    let draft = Draft::of("sql-and-exports");
    let page = fixture("sql-and-exports");
    draft.keeps(&fenced_shell_lines(&page), &["ETL_API_TOKEN"]);
    // Every SQL line is in a psql step.
    let sql: Vec<String> = page
        .split("```sql\n")
        .skip(1)
        .flat_map(|b| {
            b.split("```")
                .next()
                .unwrap_or("")
                .lines()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(sql.len(), 6);
    draft.keeps(&sql, &[]);
    draft.confirms(&["drop-the-broken-tables"]);
    assert_eq!(draft.secrets(), ["ETL_API_TOKEN"]);
    assert!(
        !draft.text.contains("replace-me"),
        "a secret's value stays out of the draft"
    );
    assert!(draft.toml["vars"].get("etl_api_token").is_none());
    assert_eq!(draft.toml["vars"]["pgdatabase"].as_str(), Some("warehouse"));
    let playbook = &draft.toml["playbook"];
    assert_eq!(playbook["rto"].as_str(), Some("45m"));
    assert_eq!(playbook["rpo"].as_str(), Some("1d"));
    let drop = draft.step("drop-the-broken-tables")["run"]
        .as_str()
        .expect("a run");
    assert!(
        drop.starts_with("psql -v ON_ERROR_STOP=1 <<'SQL'\n"),
        "{drop}"
    );
    assert_eq!(
        draft.step("re-run-the-etl")["env"]["LAST_LOAD"].as_str(),
        Some("{{steps.find-the-last-complete-load.outputs.last_load}}")
    );
    assert!(
        draft
            .text
            .contains("# review: a `yaml` block, kept as a comment")
    );
    assert!(draft.text.contains("# job: reporting"));
    insta::assert_snapshot!(draft.text);
}

fn sqlite3() -> bool {
    std::process::Command::new("sqlite3")
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn sqlite(db: &Path, sql: &str) -> String {
    let out = std::process::Command::new("sqlite3")
        .arg(db)
        .arg(sql)
        .output()
        .expect("sqlite3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn an_imported_sqlite_backup_and_restore_runs_for_real_unchanged() {
    if !sqlite3() {
        eprintln!("skipped: `sqlite3` is not installed (apt-get install sqlite3)");
        return;
    }
    let draft = Draft::of("sqlite-backup-restore");
    draft.keeps(&fenced_shell_lines(&fixture("sqlite-backup-restore")), &[]);
    draft.confirms(&["lose-some-data", "restore"]);
    let dir = draft.test.path();
    let db = dir.join("app.db");
    sqlite(
        &db,
        "CREATE TABLE orders (id INTEGER PRIMARY KEY, item TEXT); INSERT INTO orders (item) VALUES ('a'), ('b'), ('c');",
    );
    let backups: PathBuf = dir.join("backups");
    let run = draft
        .test
        .run_args([
            "run",
            "draft.toml",
            "--yes",
            "--var",
            &format!("db={}", db.display()),
            "--var",
            &format!("backup_dir={}", backups.display()),
        ])
        .expect_code(0);
    assert!(run.stderr().contains("ok"), "{}", run.stderr());
    assert_eq!(sqlite(&db, "SELECT count(*) FROM orders;"), "3");
    assert!(backups.join("app.db.bak").is_file());
    // The count computed by one step reached the last one through an output.
    let log = std::fs::read_dir(draft.test.runs_root())
        .expect("a runs root")
        .flatten()
        .map(|e| e.path().join("logs/check-the-rows-are-back.log"))
        .find(|p| p.is_file())
        .expect("the last step's log");
    let log = std::fs::read_to_string(log).expect("a log");
    assert!(log.contains("rows after: 3"), "{log}");
    insta::assert_snapshot!(draft.text);
}

#[test]
fn hostile_shell_lines_round_trip_through_the_draft_and_the_shell() {
    let script = "cat <<'EOF'\n\
        three singles ''' and three doubles \"\"\" and four ''''\n\
        a backslash \\ and \\n and \\t and a tab:\tend\n\
        braces {{ .State.Status }} and {{{{raw}}}} and }} and {{\n\
        an escape \u{1b}[31m and unicode é 😀\n\
        a quote at the end'\n\
        EOF";
    let page = format!("# Hostile\n\n## Print\n\n```bash\n{script}\n```\n");
    let test = Test::new().file("hostile.md", &page);
    test.run_args(["import", "hostile.md", "-o", "draft.toml"])
        .expect_code(0);
    let written = std::fs::read_to_string(test.path().join("draft.toml")).expect("a draft");
    let toml: toml::Table = toml::from_str(&written).expect("the draft is TOML");
    let run = toml["steps"][0]["run"].as_str().expect("a run");
    assert_eq!(run.replace("\\{{", "{{"), script, "\n{written}");
    test.run_args(["validate", "draft.toml"]).expect_code(0);
    test.run_args(["run", "draft.toml", "--yes"]).expect_code(0);
    let log = std::fs::read_dir(test.runs_root())
        .expect("a runs root")
        .flatten()
        .map(|e| e.path().join("logs/print.log"))
        .find(|p| p.is_file())
        .expect("the step's log");
    let log = std::fs::read_to_string(log).expect("a log");
    let heredoc: Vec<&str> = script.lines().skip(1).take_while(|l| *l != "EOF").collect();
    assert!(log.contains(&heredoc.join("\n")), "{log}");
}

#[test]
fn the_draft_goes_to_stdout_and_the_summary_to_stderr() {
    let test = Test::new().file("page.md", &fixture("service-recovery"));
    let run = test.run_args(["import", "page.md"]).expect_code(0);
    assert!(
        run.stdout()
            .starts_with("# Draft playbook imported from `page.md`")
    );
    assert_eq!(
        run.stderr(),
        "imported `page.md`: 7 steps (2 manual), 1 confirm, 0 secrets, 3 review notes; settle each `# review:` note in the draft\n"
    );
    // Deterministic: the same page gives the same draft.
    assert_eq!(test.run_args(["import", "page.md"]).stdout(), run.stdout());
}

#[test]
fn name_sets_the_playbook_name_and_a_bad_one_is_refused_with_a_suggestion() {
    let test = Test::new().file("page.md", &fixture("prose-checklist"));
    let run = test
        .run_args(["import", "page.md", "--name", "dc-evacuation"])
        .expect_code(0);
    let toml: toml::Table = toml::from_str(&run.stdout()).expect("TOML");
    assert_eq!(toml["playbook"]["name"].as_str(), Some("dc-evacuation"));
    let bad = test
        .run_args(["import", "page.md", "--name", "DC_Evacuation"])
        .expect_code(2);
    assert_eq!(
        bad.stderr(),
        "error: invalid playbook name `DC_Evacuation` for `--name`: a name is lowercase letters, digits and `-`, e.g. `dc-evacuation`\n"
    );
}

#[test]
fn an_existing_output_is_kept_unless_force() {
    let test = Test::new()
        .file("page.md", &fixture("prose-checklist"))
        .file("draft.toml", "mine\n");
    let run = test
        .run_args(["import", "page.md", "-o", "draft.toml"])
        .expect_code(2);
    assert_eq!(
        run.stderr(),
        "error: `draft.toml` already exists: pass `--force` to overwrite it, or name another file with `-o`\n"
    );
    let draft = test.path().join("draft.toml");
    assert_eq!(std::fs::read_to_string(&draft).expect("kept"), "mine\n");
    let run = test
        .run_args(["import", "page.md", "--output", "draft.toml", "--force"])
        .expect_code(0);
    assert!(
        run.stderr()
            .starts_with("imported `page.md` into `draft.toml`: 10 steps"),
        "{}",
        run.stderr()
    );
    assert!(
        std::fs::read_to_string(&draft)
            .expect("written")
            .starts_with("# Draft playbook")
    );
    // --force without -o has nothing to overwrite.
    test.run_args(["import", "page.md", "--force"])
        .expect_code(2);
}

#[test]
fn a_missing_or_unreadable_page_is_a_clear_error() {
    let test = Test::new().file("folder/x.md", "# x\n");
    let missing = test.run_args(["import", "nope.md"]).expect_code(2);
    assert_eq!(
        missing.stderr(),
        "error: cannot read `nope.md`: No such file or directory; name the Markdown page to import\n"
    );
    let folder = test.run_args(["import", "folder"]).expect_code(2);
    assert_eq!(
        folder.stderr(),
        "error: cannot import `folder`: it is a folder, not a Markdown file\n"
    );
    nix::unistd::mkfifo(&test.path().join("fifo.md"), nix::sys::stat::Mode::S_IRWXU)
        .expect("a FIFO");
    std::fs::File::create(test.path().join("big.md"))
        .and_then(|f| f.set_len(17 * 1024 * 1024))
        .expect("a sparse file");
    let big = test.run_args(["import", "big.md"]).expect_code(2);
    assert_eq!(
        big.stderr(),
        "error: cannot import `big.md`: it is 17825792 bytes, and a page may have at most 16 MiB\n"
    );
    let fifo = test.run_args(["import", "fifo.md"]).expect_code(2);
    assert!(
        fifo.stderr().contains("it is a FIFO (named pipe)"),
        "{}",
        fifo.stderr()
    );
}

#[test]
fn bytes_that_are_not_utf8_are_imported_with_a_warning() {
    let test = Test::new();
    let mut page = b"# Odd\n\n```bash\necho caf\xe9\n```\n".to_vec();
    page.extend_from_slice(b"\xff\xfe\n");
    std::fs::write(test.path().join("odd.md"), page).expect("write");
    let run = test
        .run_args(["import", "odd.md", "-o", "odd.toml"])
        .expect_code(0);
    assert!(
        run.stderr()
            .starts_with("warning: `odd.md` is not UTF-8 text from byte 23 on"),
        "{}",
        run.stderr()
    );
    test.run_args(["validate", "odd.toml"]).expect_code(0);
}

#[test]
fn an_empty_page_still_gives_a_draft_that_validates() {
    let test = Test::new().file("empty.md", "");
    test.run_args(["import", "empty.md", "-o", "empty.toml"])
        .expect_code(0);
    let written = std::fs::read_to_string(test.path().join("empty.toml")).expect("a draft");
    assert!(written.contains("name = \"empty\""), "{written}");
    assert!(
        written.contains("# review: the page has no commands or instructions"),
        "{written}"
    );
    test.run_args(["validate", "empty.toml"]).expect_code(0);
}

/// The text between the line `open` and the next line `close` of a page.
fn block_after<'a>(page: &'a str, open: &str, close: &str) -> &'a str {
    let start = page.find(&format!("{open}\n")).expect("the block opens") + open.len() + 1;
    let end = page[start..]
        .find(&format!("\n{close}\n"))
        .expect("the block closes")
        + start
        + 1;
    &page[start..end]
}

#[test]
fn the_before_and_after_of_docs_import_md_is_what_the_binary_does() {
    let docs = std::fs::read_to_string(root().join("docs/import.md")).expect("docs/import.md");
    let before = block_after(&docs, "````markdown", "````");
    let after = block_after(&docs, "```toml", "```");
    let at = docs
        .find("```text\nimported")
        .expect("the summary in the docs");
    let summary = block_after(&docs[at..], "```text", "```");
    let test = Test::new().file("orders-restore.md", before);
    let run = test
        .run_args(["import", "orders-restore.md", "-o", "orders-restore.toml"])
        .expect_code(0);
    let written =
        std::fs::read_to_string(test.path().join("orders-restore.toml")).expect("a draft");
    assert_eq!(
        written, after,
        "docs/import.md shows another draft than the binary writes"
    );
    assert_eq!(run.stderr(), summary);
}
