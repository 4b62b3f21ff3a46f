//! Reading hostile input in linear time (#11, rule 11): playbooks whose names, keys and values
//! are 1,000, 10,000 and 100,000 characters long, and playbooks with 1,000 to 100,000 unknown
//! names, validated (and planned when valid) in-process. The "did you mean" suggestion is the
//! path that was quadratic; the full Levenshtein distance (`strsim`, what it used before) is
//! timed beside it as the reference.
//!
//! A plain `fn main` (`harness = false`): `cargo bench --bench input`. It prints the fastest
//! of several runs per size and the growth exponent per tenfold size, log10(t(10n) / t(n)):
//! about 1 is linear, about 2 quadratic. It reports, and never fails on, timings.

use std::fmt::Write as _;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use runbook::plan::Plan;
use runbook::playbook::{SourceFile, validate};

/// The lengths (characters) or counts of every case.
const SIZES: [usize; 3] = [1_000, 10_000, 100_000];
/// Time spent on each measurement; the fastest run is kept.
const BUDGET: Duration = Duration::from_millis(1500);
const MIN_RUNS: u32 = 3;
const MAX_RUNS: u32 = 31;

/// One kind of hostile input, generated at a size.
struct Shape {
    name: &'static str,
    what: &'static str,
    generate: fn(usize) -> String,
}

const SHAPES: &[Shape] = &[
    Shape {
        name: "typo-env",
        what: "an environment named by N characters and a step naming it with its last one changed: did you mean over two N-character names",
        generate: typo_var,
    },
    Shape {
        name: "long-need",
        what: "a step id of N characters (too long: a diagnostic) and a step that needs it with one typo",
        generate: long_need,
    },
    Shape {
        name: "unknown-key",
        what: "a step key of N characters: an unknown key, compared with the known ones",
        generate: unknown_key,
    },
    Shape {
        name: "long-run",
        what: "a step whose `run` template is N characters (past 64 KiB a diagnostic), planned when valid",
        generate: long_run,
    },
    Shape {
        name: "unknown-needs",
        what: "N steps, each needing an unknown step one edit from a real id: N × N comparisons without a budget",
        generate: unknown_needs,
    },
];

fn head() -> String {
    "[playbook]\nname = \"bench\"\nversion = \"1.0.0\"\n".to_owned()
}

fn typo_var(n: usize) -> String {
    let name = "v".repeat(n);
    let typo = format!("{}w", "v".repeat(n - 1));
    format!(
        "{}environments = [\"{name}\"]\n[[steps]]\nid = \"a\"\nenvironments = [\"{typo}\"]\nrun = \"true\"\n",
        head()
    )
}

fn long_need(n: usize) -> String {
    let id = "s".repeat(n);
    let typo = format!("{}t", "s".repeat(n - 1));
    format!(
        "{}[[steps]]\nid = \"{id}\"\nrun = \"true\"\n[[steps]]\nid = \"b\"\nneeds = [\"{typo}\"]\nrun = \"true\"\n",
        head()
    )
}

fn unknown_key(n: usize) -> String {
    format!(
        "{}[[steps]]\nid = \"a\"\nrun = \"true\"\n{} = 1\n",
        head(),
        "k".repeat(n)
    )
}

fn long_run(n: usize) -> String {
    let mut run = String::from("echo {{vars.x}} ");
    while run.len() < n {
        run.push_str("word {{quote vars.x}} ");
    }
    format!(
        "{}[vars]\nx = \"y\"\n[[steps]]\nid = \"a\"\nrun = \"{run}\"\n",
        head()
    )
}

fn unknown_needs(n: usize) -> String {
    let mut out = head();
    for i in 0..n {
        let _ = write!(
            out,
            "[[steps]]\nid = \"step-{i:06}\"\nneeds = [\"stap-{:06}\"]\nrun = \"true\"\n",
            (i * 7919) % n
        );
    }
    out
}

/// Validates, and plans when valid; the number of diagnostics (0 when valid).
fn validate_and_plan(file: &Arc<SourceFile>) -> usize {
    match validate(file) {
        Ok(v) => {
            black_box(Plan::new(&v.playbook, None));
            0
        }
        Err(d) => {
            // Rendering is part of what `runbook validate` does.
            black_box(d.to_string());
            d.0.len()
        }
    }
}

/// The fastest of as many runs as fit in [`BUDGET`] (at least [`MIN_RUNS`]).
fn fastest(mut once: impl FnMut() -> Duration) -> (Duration, u32) {
    let first = once();
    let mut best = first;
    let mut runs = 1;
    let started = Instant::now();
    while runs < MAX_RUNS && (runs < MIN_RUNS || started.elapsed() + best < BUDGET) {
        best = best.min(once());
        runs += 1;
    }
    (best, runs)
}

fn exponents(times: &[Duration]) -> String {
    times
        .windows(2)
        .map(|w| format!("{:.2}", (w[1].as_secs_f64() / w[0].as_secs_f64()).log10()))
        .collect::<Vec<_>>()
        .join(" / ")
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

fn main() {
    let started = Instant::now();
    println!(
        "runbook input benchmark: sizes {SIZES:?}, fastest of up to {MAX_RUNS} runs in {} ms each; load average {}",
        BUDGET.as_millis(),
        std::fs::read_to_string("/proc/loadavg")
            .ok()
            .and_then(|t| t.split_whitespace().next().map(str::to_owned))
            .unwrap_or_else(|| "unknown".to_owned())
    );
    for shape in SHAPES {
        println!("  {:<14} {}", shape.name, shape.what);
    }
    println!(
        "\n  {:<14} {:>14} {:>14} {:>14}  {:>13}  diagnostics",
        "case", SIZES[0], SIZES[1], SIZES[2], "exponents"
    );
    for shape in SHAPES {
        let mut times = Vec::new();
        let mut found = Vec::new();
        for n in SIZES {
            let file = SourceFile::new(format!("{}.toml", shape.name), (shape.generate)(n));
            let mut diagnostics = 0;
            let (best, _) = fastest(|| {
                let t = Instant::now();
                diagnostics = validate_and_plan(&file);
                t.elapsed()
            });
            times.push(best);
            found.push(diagnostics.to_string());
        }
        println!(
            "  {:<14} {:>14} {:>14} {:>14}  {:>13}  {}",
            shape.name,
            ms(times[0]),
            ms(times[1]),
            ms(times[2]),
            exponents(&times),
            found.join(" / ")
        );
    }

    // The reference: the full Levenshtein distance of two N-character names, as the suggestion
    // used to compute it. 100,000 characters would take minutes, so it stops at 10,000 and
    // 30,000.
    let reference: [u32; 3] = [1_000, 10_000, 30_000];
    let times: Vec<Duration> = reference
        .iter()
        .map(|&n| {
            let a = "v".repeat(n as usize);
            let b = format!("{}w", "v".repeat(n as usize - 1));
            fastest(|| {
                let t = Instant::now();
                black_box(strsim::levenshtein(black_box(&a), black_box(&b)));
                t.elapsed()
            })
            .0
        })
        .collect();
    let growth = |i: usize| {
        (times[i + 1].as_secs_f64() / times[i].as_secs_f64()).log10()
            / (f64::from(reference[i + 1]) / f64::from(reference[i])).log10()
    };
    println!(
        "\n  reference: strsim::levenshtein of two names of {:?} characters: {} / {} / {}; exponents {:.2} / {:.2}",
        reference,
        ms(times[0]),
        ms(times[1]),
        ms(times[2]),
        growth(0),
        growth(1)
    );
    println!(
        "\nbench finished in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
