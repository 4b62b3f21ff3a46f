//! The importer in-process on mutated wiki pages: byte flips, truncation, duplicated and
//! deleted lines, Markdown and shell that is easy to get wrong, deep nesting, huge lines and
//! bytes that are not UTF-8, applied to the pages of tests/fixtures/import/. Whatever comes in,
//! nothing panics, the import is deterministic, and the draft validates and plans.
//!
//! 200 cases run with the suite (a few seconds); a longer campaign is
//! `PROPTEST_CASES=20000 cargo test --release --test integration import::fuzz`.

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use runbook::import::import;
use runbook::plan::{Format, Plan, render};
use runbook::playbook::find::from_bytes;
use runbook::playbook::validate;

use crate::util::root;

fn seeds() -> Vec<(PathBuf, Vec<u8>)> {
    let pattern = root().join("tests/fixtures/import/*.md");
    let mut seeds: Vec<(PathBuf, Vec<u8>)> = glob::glob(&pattern.to_string_lossy())
        .expect("a glob")
        .flatten()
        .map(|path| {
            let bytes = std::fs::read(&path).expect("a seed");
            (path, bytes)
        })
        .collect();
    seeds.sort();
    assert!(seeds.len() >= 6, "the seeds are found");
    seeds
}

/// Text that is easy to get wrong, inserted at a line start.
const HOSTILE: &[&str] = &[
    "```\n",
    "```bash\n",
    "```console\n$ ",
    "```sql\nDROP TABLE x;\n",
    "~~~\n",
    "'''\n",
    "\"\"\"\n",
    "{{vars.x}}\n",
    "\\{{x}}\n",
    "echo \\{{x}} {{ y }}\n",
    "{{{{raw}}}}{{/raw}}\n",
    "$ \n",
    "> \n",
    "export A=$(\n",
    "export PGPASSWORD='open\n",
    "X=1 Y=$(date) Z=\"$X\"\n",
    "cat <<'EOF'\n",
    "EOF\n",
    "- [ ] \n",
    "1. \n",
    "* `sudo systemctl restart x`\n",
    "<div>\n",
    "| a | b |\n|---|---|\n",
    "# \n",
    "    \n",
    "\t\t",
    "\r",
    "\u{0}\u{1b}[31m\u{7f}\n",
    "RTO: 999999.999 days\n",
    "RPO < 0 minutes\n",
    "rm -rf /\n",
    "sleep 0\n",
    "curl -fsS http://localhost/healthz\n",
    "curl http://[::1\n",
    "Step 1.\n",
    "é😀\u{200b}\u{feff}\n",
];

#[derive(Debug, Clone)]
enum Mutation {
    FlipByte {
        at: usize,
        xor: u8,
    },
    Truncate {
        at: usize,
    },
    DuplicateLine {
        line: usize,
    },
    DeleteLine {
        line: usize,
    },
    Insert {
        line: usize,
        text: usize,
    },
    /// `depth` nested quotes or list items.
    Deep {
        line: usize,
        depth: usize,
        marker: usize,
    },
    /// One line repeated until it is huge.
    Huge {
        line: usize,
        size: usize,
    },
    NotUtf8 {
        at: usize,
        bytes: Vec<u8>,
    },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let at = any::<prop::sample::Index>();
    prop_oneof![
        (at.clone(), 1..=255u8).prop_map(|(at, xor)| Mutation::FlipByte {
            at: at.index(usize::MAX),
            xor
        }),
        at.prop_map(|at| Mutation::Truncate {
            at: at.index(usize::MAX)
        }),
        any::<usize>().prop_map(|line| Mutation::DuplicateLine { line }),
        any::<usize>().prop_map(|line| Mutation::DeleteLine { line }),
        (any::<usize>(), 0..HOSTILE.len()).prop_map(|(line, text)| Mutation::Insert { line, text }),
        (any::<usize>(), 1..2_000usize, 0..4usize).prop_map(|(line, depth, marker)| {
            Mutation::Deep {
                line,
                depth,
                marker,
            }
        }),
        (any::<usize>(), prop_oneof![Just(1_000usize), Just(70_000)])
            .prop_map(|(line, size)| Mutation::Huge { line, size }),
        (
            any::<usize>(),
            prop::collection::vec(
                prop_oneof![Just(0xffu8), Just(0xc3), Just(0xe2), Just(0x80)],
                1..4
            )
        )
            .prop_map(|(at, bytes)| Mutation::NotUtf8 { at, bytes }),
    ]
}

/// Byte offsets where lines start.
fn line_starts(bytes: &[u8]) -> Vec<usize> {
    std::iter::once(0)
        .chain(
            bytes
                .iter()
                .enumerate()
                .filter(|&(_, &b)| b == b'\n')
                .map(|(i, _)| i + 1),
        )
        .filter(|&i| i < bytes.len())
        .collect()
}

fn line_at(bytes: &[u8], line: usize) -> std::ops::Range<usize> {
    let starts = line_starts(bytes);
    if starts.is_empty() {
        return 0..0;
    }
    let start = starts[line % starts.len()];
    let end = bytes[start..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(bytes.len(), |p| start + p + 1);
    start..end
}

fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    let len = bytes.len().max(1);
    match m {
        Mutation::FlipByte { at, xor } => {
            if let Some(b) = bytes.get_mut(at % len) {
                *b ^= xor;
            }
        }
        Mutation::Truncate { at } => bytes.truncate(at % len),
        Mutation::DuplicateLine { line } => {
            let r = line_at(bytes, *line);
            let copy = bytes[r.clone()].to_vec();
            bytes.splice(r.end..r.end, copy);
        }
        Mutation::DeleteLine { line } => {
            let r = line_at(bytes, *line);
            bytes.drain(r);
        }
        Mutation::Insert { line, text } => {
            let at = line_at(bytes, *line).start;
            bytes.splice(at..at, HOSTILE[*text].bytes());
        }
        Mutation::Deep {
            line,
            depth,
            marker,
        } => {
            let unit = ["> ", "- ", "1. ", "  "][*marker];
            let text = format!("{}rm -rf x\n", unit.repeat(*depth));
            let at = line_at(bytes, *line).start;
            bytes.splice(at..at, text.into_bytes());
        }
        Mutation::Huge { line, size } => {
            let r = line_at(bytes, *line);
            let mut unit = bytes[r.clone()].to_vec();
            unit.retain(|&b| b != b'\n');
            if unit.is_empty() {
                unit.push(b'x');
            }
            let huge: Vec<u8> = unit.iter().copied().cycle().take(*size).collect();
            bytes.splice(r.start..r.start, huge);
        }
        Mutation::NotUtf8 { at, bytes: bad } => {
            let at = at % (bytes.len() + 1);
            bytes.splice(at..at, bad.iter().copied());
        }
    }
}

/// Imports one page as `runbook import` does, and checks the draft as `validate` and `plan` would.
fn check(bytes: &[u8]) -> Result<(), TestCaseError> {
    let page = String::from_utf8_lossy(bytes);
    let source = Path::new("page.md");
    let first = import(&page, source, None);
    let again = import(&page, source, None);
    prop_assert_eq!(&first.toml, &again.toml, "the import is deterministic");
    let draft = Path::new("draft.toml");
    let file = from_bytes(draft, first.toml.clone().into_bytes())
        .map_err(|d| TestCaseError::fail(format!("{d}\n{}", first.toml)))?;
    match validate(&file) {
        Ok(validated) => {
            prop_assert_eq!(validated.playbook.steps.len(), first.summary.steps);
            let plan = Plan::new(&validated.playbook, None);
            prop_assert!(!render(&plan, Format::Text).is_empty());
            Ok(())
        }
        Err(diagnostics) => Err(TestCaseError::fail(format!(
            "the draft does not validate:\n{diagnostics}\n--- draft\n{}\n--- page\n{page}",
            first.toml
        ))),
    }
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(200)
}

// See: #19
#[test]
fn mutated_pages_never_panic_and_always_give_a_draft_that_validates() {
    for (path, bytes) in seeds() {
        check(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
    let seeds = seeds();
    let config = Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    };
    let input = (0..seeds.len(), prop::collection::vec(mutation(), 1..5));
    TestRunner::new(config)
        .run(&input, |(seed, mutations)| {
            let mut bytes = seeds[seed].1.clone();
            for m in &mutations {
                apply(&mut bytes, m);
            }
            check(&bytes)
        })
        .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn hostile_text_alone_gives_a_draft_that_validates() {
    for text in HOSTILE {
        check(text.as_bytes()).unwrap_or_else(|e| panic!("{text:?}: {e}"));
        let fenced = format!("```bash\n{text}\n```\n");
        check(fenced.as_bytes()).unwrap_or_else(|e| panic!("{fenced:?}: {e}"));
    }
}
