//! The user documentation stays true to the binary: every playbook example in `docs/` validates.

use crate::util::{Test, root};

/// The fenced `toml` blocks of a Markdown page, in order.
fn toml_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match (&mut current, line.trim_end()) {
            (None, "```toml") => current = Some(String::new()),
            (Some(_), "```") => blocks.extend(current.take()),
            (Some(block), text) => {
                block.push_str(text);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

#[test]
fn every_playbook_example_in_the_docs_validates() {
    let docs = root().join("docs");
    let mut test = Test::new();
    let mut count = 0;
    let mut pages: Vec<_> = std::fs::read_dir(&docs)
        .expect("docs/ exists")
        .map(|e| e.expect("a docs entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    pages.sort();
    for page in &pages {
        let markdown = std::fs::read_to_string(page).expect("a readable page");
        let stem = page
            .file_stem()
            .expect("a name")
            .to_string_lossy()
            .into_owned();
        for (n, block) in toml_blocks(&markdown).into_iter().enumerate() {
            // One folder, so that nested examples find each other by name.
            test = test.file(&format!("examples/{stem}-{:02}.toml", n + 1), &block);
            count += 1;
        }
    }
    assert!(
        count >= 10,
        "expected the docs to show playbooks, found {count} examples"
    );
    let run = test.run_args(["validate", "examples"]);
    assert_eq!(
        run.code(),
        0,
        "a docs example does not validate:\n{}",
        run.stderr()
    );
}

#[test]
fn nothing_points_users_at_the_contract_folder_they_do_not_have() {
    let mut offenders = Vec::new();
    let mut files = vec![root().join("README.md")];
    for dir in ["docs", "src/cli"] {
        for entry in std::fs::read_dir(root().join(dir)).expect("a folder") {
            files.push(entry.expect("an entry").path());
        }
    }
    for file in files.iter().filter(|f| f.is_file()) {
        let text = std::fs::read_to_string(file).expect("readable");
        if text.contains("../shared") {
            offenders.push(file.display().to_string());
        }
    }
    assert!(
        offenders.is_empty(),
        "these mention ../shared: {offenders:?}"
    );
}

#[test]
fn help_points_at_the_docs() {
    let run = Test::new().args(["--help"]).run();
    assert_eq!(run.code(), 0);
    assert!(run.stdout().contains("docs/"), "{}", run.stdout());
}
