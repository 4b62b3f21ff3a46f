//! Mutated playbooks through `validate` and `plan` in-process: byte flips, truncation,
//! duplicated and deleted lines, huge and deeply nested values, bytes that are not UTF-8 and
//! odd templates, applied to the real playbooks of the repository. Whatever comes in, nothing
//! panics, and every problem is a diagnostic at `FILE:LINE:COL`.
//!
//! A bounded number of cases runs with the suite (300, a few seconds); a longer campaign is
//! `PROPTEST_CASES=20000 cargo test --release --test integration robustness::fuzz`.

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use runbook::plan::{Format, Plan, render};
use runbook::playbook::find::from_bytes;
use runbook::playbook::{Diagnostics, validate};

use crate::util::root;

/// The playbooks mutated: every valid fixture, the shipped playbooks, and the inputs that once
/// crashed.
fn seeds() -> Vec<(PathBuf, Vec<u8>)> {
    let mut seeds = Vec::new();
    for pattern in [
        "tests/fixtures/valid/*.toml",
        "playbooks/*.toml",
        "tests/fixtures/regressions/*.toml",
    ] {
        let pattern = root().join(pattern);
        for path in glob::glob(&pattern.to_string_lossy())
            .expect("a glob")
            .flatten()
        {
            let bytes = std::fs::read(&path).expect("a seed");
            seeds.push((path, bytes));
        }
    }
    seeds.sort();
    assert!(seeds.len() >= 10, "the seeds are found");
    seeds
}

/// Template text that once panicked or is easy to get wrong.
const ODD_TEMPLATES: &[&str] = &[
    "{{this}}",
    "{{@root}}",
    "{{@index}}",
    "{{this.vars.x}}",
    "{{../x}}",
    "{{../../vars.a}}",
    "{{@root.steps.a.outputs.b}}",
    "{{#each}}{{/each}}",
    "{{#each vars}}{{this}}{{@key}}{{../x}}{{/each}}",
    "{{#with}}x{{/with}}",
    "{{#if}}{{else}}{{/if}}",
    "{{{{raw}}}}{{x}}{{{{/raw}}}}",
    "{{",
    "}}",
    "{{{",
    "{{}}",
    "{{ }}",
    "{{#if vars.x}}",
    "{{/if}}",
    "{{> partial}}",
    "{{#> layout}}x{{/layout}}",
    "{{*inline}}",
    "{{quote}}",
    "{{quote vars.a vars.b vars.c}}",
    "{{default}}",
    "{{default vars.x}}",
    "{{now \"%Q\"}}",
    "{{now 1 2 3}}",
    "{{now (now)}}",
    "{{lookup steps \"a\"}}",
    "{{len 1}}",
    "{{eq}}",
    "{{vars.[a b]}}",
    "{{vars.}}",
    "{{.}}",
    "{{steps}}",
    "{{steps.}}",
    "{{steps.a.outputs}}",
    "{{steps.a.outputs.b.c.d}}",
    "{{vars/x}}",
    "{{!-- comment --}}",
    "{{~vars.x~}}",
    "{{#unless vars.x}}{{else if vars.y}}{{/unless}}",
    "{{x.[0]}}",
    "\\u0000",
    "é😀\u{200b}",
];

/// One change to a playbook's bytes.
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
    /// The text between the `n`th pair of double quotes becomes an odd template.
    Template {
        string: usize,
        template: usize,
    },
    /// The text between the `n`th pair of double quotes, repeated until it is huge.
    Huge {
        string: usize,
        size: usize,
    },
    /// A value nested `depth` deep, as a new line.
    Deep {
        line: usize,
        depth: usize,
        table: bool,
    },
    /// Bytes that are not UTF-8.
    NotUtf8 {
        at: usize,
        bytes: Vec<u8>,
    },
    /// A line copied from elsewhere in the file (a key moved into another table).
    MoveLine {
        from: usize,
        to: usize,
    },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let at = any::<prop::sample::Index>();
    prop_oneof![
        (at.clone(), 1..=255u8).prop_map(|(at, xor)| Mutation::FlipByte {
            at: at.index(usize::MAX),
            xor
        }),
        at.clone().prop_map(|at| Mutation::Truncate {
            at: at.index(usize::MAX)
        }),
        any::<usize>().prop_map(|line| Mutation::DuplicateLine { line }),
        any::<usize>().prop_map(|line| Mutation::DeleteLine { line }),
        (any::<usize>(), 0..ODD_TEMPLATES.len())
            .prop_map(|(string, template)| Mutation::Template { string, template }),
        (
            any::<usize>(),
            prop_oneof![Just(1_000usize), Just(70_000), Just(300_000)]
        )
            .prop_map(|(string, size)| Mutation::Huge { string, size }),
        (any::<usize>(), 1..3_000usize, any::<bool>())
            .prop_map(|(line, depth, table)| Mutation::Deep { line, depth, table }),
        (
            any::<usize>(),
            prop::collection::vec(
                prop_oneof![Just(0xffu8), Just(0xc3), Just(0xe2), Just(0x80), Just(0xf0)],
                1..4
            )
        )
            .prop_map(|(at, bytes)| Mutation::NotUtf8 { at, bytes }),
        (any::<usize>(), any::<usize>()).prop_map(|(from, to)| Mutation::MoveLine { from, to }),
    ]
}

/// Byte ranges of the lines of `bytes`, each with its line break.
fn lines(bytes: &[u8]) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'\n' {
            out.push(start..i + 1);
            start = i + 1;
        }
    }
    if start < bytes.len() {
        out.push(start..bytes.len());
    }
    out
}

/// Byte ranges inside each pair of double quotes on one line.
fn strings(bytes: &[u8]) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    for line in lines(bytes) {
        let quotes: Vec<usize> = bytes[line.clone()]
            .iter()
            .enumerate()
            .filter(|&(_, &b)| b == b'"')
            .map(|(i, _)| line.start + i)
            .collect();
        for pair in quotes.chunks_exact(2) {
            out.push(pair[0] + 1..pair[1]);
        }
    }
    out
}

fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    let len = bytes.len().max(1);
    let ls = lines(bytes);
    match m {
        Mutation::FlipByte { at, xor } => {
            if let Some(b) = bytes.get_mut(at % len) {
                *b ^= xor;
            }
        }
        Mutation::Truncate { at } => bytes.truncate(at % len),
        Mutation::DuplicateLine { line } if !ls.is_empty() => {
            let r = ls[line % ls.len()].clone();
            let copy = bytes[r.clone()].to_vec();
            bytes.splice(r.end..r.end, copy);
        }
        Mutation::DeleteLine { line } if !ls.is_empty() => {
            let r = ls[line % ls.len()].clone();
            bytes.drain(r);
        }
        Mutation::MoveLine { from, to } if !ls.is_empty() => {
            let copy = bytes[ls[from % ls.len()].clone()].to_vec();
            let at = ls[to % ls.len()].start;
            bytes.splice(at..at, copy);
        }
        Mutation::Template { string, template } => {
            let ss = strings(bytes);
            if !ss.is_empty() {
                let r = ss[string % ss.len()].clone();
                let text = ODD_TEMPLATES[*template].replace('"', "\\\"");
                bytes.splice(r, text.into_bytes());
            }
        }
        Mutation::Huge { string, size } => {
            let ss = strings(bytes);
            if !ss.is_empty() {
                let r = ss[string % ss.len()].clone();
                let mut unit = bytes[r.clone()].to_vec();
                if unit.is_empty() {
                    unit.push(b'a');
                }
                let huge: Vec<u8> = unit.iter().copied().cycle().take(*size).collect();
                bytes.splice(r, huge);
            }
        }
        Mutation::Deep { line, depth, table } => {
            let (open, close) = if *table { ("{a = ", "}") } else { ("[", "]") };
            let text = format!("deep = {}1{}\n", open.repeat(*depth), close.repeat(*depth));
            let at = ls.get(line % ls.len().max(1)).map_or(0, |r| r.start);
            bytes.splice(at..at, text.into_bytes());
        }
        Mutation::NotUtf8 { at, bytes: bad } => {
            let at = at % (bytes.len() + 1);
            bytes.splice(at..at, bad.iter().copied());
        }
        Mutation::DuplicateLine { .. }
        | Mutation::DeleteLine { .. }
        | Mutation::MoveLine { .. } => {}
    }
}

/// Every diagnostic points somewhere in the file and renders as `FILE:LINE:COL: …`.
fn located(diagnostics: &Diagnostics, path: &Path) -> Result<(), TestCaseError> {
    for d in &diagnostics.0 {
        prop_assert!(d.span.is_some(), "a diagnostic without a position: {d}");
        let text = d.to_string();
        let (line, col) = d.line_col().expect("a span");
        let head = format!("{}:{line}:{col}: ", path.display());
        prop_assert!(text.starts_with(&head), "not at FILE:LINE:COL: {text}");
    }
    Ok(())
}

/// Validates and plans one input as `runbook validate` and `runbook plan` would.
pub(super) fn check(path: &Path, bytes: Vec<u8>) -> Result<(), TestCaseError> {
    let file = match from_bytes(path, bytes) {
        Ok(file) => file,
        Err(d) => return located(&Diagnostics(vec![*d]), path),
    };
    match validate(&file) {
        Ok(validated) => {
            located(&validated.warnings, path)?;
            let plan = Plan::new(&validated.playbook, None);
            for format in [Format::Text, Format::Json, Format::Mermaid] {
                prop_assert!(!render(&plan, format).is_empty());
            }
            Ok(())
        }
        Err(diagnostics) => {
            prop_assert!(diagnostics.has_errors(), "an invalid playbook has an error");
            located(&diagnostics, path)
        }
    }
}

/// How many cases: 300 with the suite, more for a campaign (`PROPTEST_CASES`).
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(300)
}

/// During a campaign, a failing input is written to `$RUNBOOK_FUZZ_KEEP/` (to become a
/// regression fixture).
fn keep(bytes: &[u8]) {
    if let Some(dir) = std::env::var_os("RUNBOOK_FUZZ_KEEP") {
        let name = format!("failing-{:016x}.toml", fnv1a(bytes));
        let _ = std::fs::create_dir_all(&dir);
        let _ = std::fs::write(Path::new(&dir).join(name), bytes);
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

// See: #11
#[test]
fn mutated_playbooks_never_panic_and_every_problem_is_located() {
    let seeds = seeds();
    let config = Config {
        cases: cases(),
        // The crash inputs found are kept by hand as fixtures in tests/fixtures/regressions/.
        failure_persistence: None,
        ..Config::default()
    };
    let input = (0..seeds.len(), prop::collection::vec(mutation(), 1..4));
    TestRunner::new(config)
        .run(&input, |(seed, mutations)| {
            let (path, original) = &seeds[seed];
            let mut bytes = original.clone();
            for m in &mutations {
                apply(&mut bytes, m);
            }
            let name = Path::new(path.file_name().expect("a file name"));
            let dump = bytes.clone();
            let outcome = std::panic::catch_unwind(|| check(name, bytes));
            if !matches!(outcome, Ok(Ok(()))) {
                keep(&dump);
            }
            outcome.unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
        .unwrap_or_else(|e| panic!("{e}"));
}
