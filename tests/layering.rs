//! The house's rules, checked on the source: which stage may import which, and no import cycle
//! between the files of one folder except the nested-playbook recursion that
//! `src/engine/mod.rs` documents.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::util::root;

/// The code of a file without comment lines and without its `#[cfg(test)] mod tests`.
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let text = text
        .find("#[cfg(test)]\nmod tests")
        .map_or(text.as_str(), |at| &text[..at]);
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every `.rs` file under `dir`, recursively.
fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read src").flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The names that follow `prefix` in `code` (`crate::engine::` → `scope`, `step`, …), including
/// those inside `prefix{a, b::c}`.
fn names_after(code: &str, prefix: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    for (at, _) in code.match_indices(prefix) {
        let rest = &code[at + prefix.len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let group = &group[..group.find('}').unwrap_or(group.len())];
            out.extend(group.split(',').map(|g| ident(g.trim())));
        } else {
            out.insert(ident(rest));
        }
    }
    out.retain(|n| !n.is_empty());
    out
}

#[test]
fn stages_import_only_what_the_house_allows() {
    let src = root().join("src");
    let rules: [(&str, &[&str]); 6] = [
        ("engine", &["record", "notify", "ui", "session", "cli"]),
        (
            "plan",
            &["record", "notify", "ui", "session", "cli", "engine"],
        ),
        (
            "playbook",
            &["record", "notify", "ui", "session", "cli", "engine"],
        ),
        ("record", &["engine", "session", "cli", "ui", "notify"]),
        ("notify", &["engine", "session", "cli", "ui"]),
        ("ui", &["engine", "session", "cli", "notify"]),
    ];
    let mut wrong = Vec::new();
    for (stage, forbidden) in rules {
        for file in files(&src.join(stage)) {
            let code = code(&file);
            for other in forbidden {
                if code.contains(&format!("crate::{other}::"))
                    || code.contains(&format!("crate::{other};"))
                {
                    wrong.push(format!("{} imports `{other}`", file.display()));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

/// Strongly connected components of more than one node (Tarjan, iterative enough for a folder).
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<BTreeSet<String>> {
    struct Walk<'g> {
        graph: &'g BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        on_stack: BTreeSet<&'g str>,
        out: Vec<BTreeSet<String>>,
    }
    impl<'g> Walk<'g> {
        fn visit(&mut self, n: &'g str) {
            let i = self.index.len();
            self.index.insert(n, i);
            self.low.insert(n, i);
            self.stack.push(n);
            self.on_stack.insert(n);
            for m in &self.graph[n] {
                let Some((m, _)) = self.graph.get_key_value(m) else {
                    continue;
                };
                if !self.index.contains_key(m.as_str()) {
                    self.visit(m);
                    let low = self.low[n].min(self.low[m.as_str()]);
                    self.low.insert(n, low);
                } else if self.on_stack.contains(m.as_str()) {
                    let low = self.low[n].min(self.index[m.as_str()]);
                    self.low.insert(n, low);
                }
            }
            if self.low[n] == self.index[n] {
                let mut component = BTreeSet::new();
                while let Some(x) = self.stack.pop() {
                    self.on_stack.remove(x);
                    component.insert(x.to_owned());
                    if x == n {
                        break;
                    }
                }
                if component.len() > 1 {
                    self.out.push(component);
                }
            }
        }
    }
    let mut walk = Walk {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        out: Vec::new(),
    };
    for n in graph.keys() {
        if !walk.index.contains_key(n.as_str()) {
            walk.visit(n);
        }
    }
    walk.out
}

#[test]
fn no_folder_has_an_import_cycle_but_the_nested_recursion() {
    let src = root().join("src");
    let mut folders: Vec<std::path::PathBuf> = files(&src)
        .iter()
        .filter_map(|f| f.parent().map(Path::to_path_buf))
        .collect();
    folders.sort();
    folders.dedup();
    let allowed: BTreeSet<String> = ["nested", "phases", "scheduler", "step"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    let mut found = Vec::new();
    for folder in folders.iter().filter(|f| **f != src) {
        let module = folder
            .strip_prefix(&src)
            .expect("under src")
            .to_string_lossy()
            .replace('/', "::");
        let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for entry in std::fs::read_dir(folder).expect("read folder").flatten() {
            let path = entry.path();
            let (name, sources) = if path.is_dir() {
                (
                    entry.file_name().to_string_lossy().into_owned(),
                    files(&path),
                )
            } else if path.extension().is_some_and(|e| e == "rs") && !path.ends_with("mod.rs") {
                let stem = path
                    .file_stem()
                    .expect("a name")
                    .to_string_lossy()
                    .into_owned();
                (stem, vec![path.clone()])
            } else {
                continue;
            };
            let mut deps = BTreeSet::new();
            for file in &sources {
                let code = code(file);
                deps.extend(names_after(&code, &format!("crate::{module}::")));
                if sources.len() == 1 {
                    deps.extend(names_after(&code, "super::"));
                }
            }
            deps.remove(&name);
            graph.insert(name, deps);
        }
        for cycle in cycles(&graph) {
            if !(module == "engine" && cycle == allowed) {
                found.push(format!("src/{module}: {cycle:?}"));
            }
        }
    }
    assert!(found.is_empty(), "import cycles: {found:#?}");
    let note = std::fs::read_to_string(src.join("engine/mod.rs")).expect("engine/mod.rs");
    assert!(
        note.contains("step → nested → phases → scheduler → step"),
        "the recursion is documented where it is"
    );
}
