//! Validation at scale: generated playbooks of 10,000 steps (a long chain, a wide fan-out, and a
//! chain whose every step names the first one) are validated and planned in-process, on a small
//! stack, at a quarter and a half of the size (to show how the time grows), and through the
//! release binary against a bare `sh -c true` spawn as the baseline.
//!
//! A plain `fn main` (`harness = false`), std only: run `cargo build --release && cargo bench
//! --bench validate`. It panics when a case does not validate, since that means the generator or
//! the validator is wrong; it reports, and does not fail on, cases slower than the target.

use std::fmt::Write as _;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use runbook::plan::Plan;
use runbook::playbook::{SourceFile, validate};

/// Steps in every generated playbook.
const STEPS: u32 = 10_000;
/// "Well under a second": the in-process target for validate + plan.
const TARGET: Duration = Duration::from_millis(250);
/// Time to spend on each in-process measurement (after the warm-up), so the bench stays well
/// under 30 s on a 2-core machine.
const MEASURE_BUDGET: Duration = Duration::from_millis(1500);
const MIN_RUNS: u32 = 5;
const MAX_RUNS: u32 = 51;
/// Runs of the release binary per case, and of the `sh -c true` baseline.
const BINARY_RUNS: u32 = 5;
const SPAWN_RUNS: u32 = 31;
/// Rounds of the scaling table (each validates a quarter, a half and all of [`STEPS`]).
const SCALING_ROUNDS: u32 = 3;
/// A stack far smaller than the main thread's 8 MiB: a validator that recursed once per step
/// of a 10,000-step chain would need more than this.
const SMALL_STACK: usize = 256 * 1024;

/// One generated playbook.
struct Case {
    name: &'static str,
    steps: u32,
    toml: String,
}

/// What was measured for one case.
struct Measured {
    validate: Duration,
    plan: Duration,
    runs: u32,
    waves: usize,
    critical_path: usize,
}

fn main() {
    let started = Instant::now();
    let cases: Vec<Case> = SHAPES.iter().map(|shape| shape.generate(STEPS)).collect();
    println!(
        "runbook validate benchmark: {STEPS} steps per case, {} CPUs, load average {}",
        available_cpus(),
        load_average().as_deref().unwrap_or("unknown")
    );
    for (shape, case) in SHAPES.iter().zip(&cases) {
        println!(
            "  {:<14} {} ({} KiB of TOML)",
            case.name,
            shape.what(),
            case.toml.len() / 1024
        );
    }

    println!(
        "\nstack: each case validated and planned on a thread with a {} KiB stack",
        SMALL_STACK / 1024
    );
    for case in &cases {
        small_stack(case);
    }

    let measured = in_process_table(&cases);
    scaling_table();

    println!(
        "\nend to end: `runbook validate FILE` (median of {BINARY_RUNS} runs) against `sh -c true` (median of {SPAWN_RUNS})"
    );
    end_to_end(&cases);

    let slow: Vec<&str> = cases
        .iter()
        .zip(&measured)
        .filter(|(_, m)| m.validate + m.plan >= TARGET)
        .map(|(c, _)| c.name)
        .collect();
    if slow.is_empty() {
        println!(
            "\nall cases validate and plan in under {} ms in-process",
            TARGET.as_millis()
        );
    } else {
        println!(
            "\nSLOW (validate + plan >= {} ms in-process): {}",
            TARGET.as_millis(),
            slow.join(", ")
        );
    }
    println!(
        "bench finished in {:.1} s (load average now {})",
        started.elapsed().as_secs_f64(),
        load_average().as_deref().unwrap_or("unknown")
    );
}

// ---------------------------------------------------------------------------------------------
// Generators

/// The shared head: identity, an RTO the chain's critical path fits in (10,000 × 1 s < 3 h),
/// vars and an env template.
fn head(name: &str) -> String {
    format!(
        r#"[playbook]
name = "{name}"
version = "1.0.0"
title = "Generated benchmark playbook"
rto = "3h"

[vars]
dir = "/var/backups/bench"
database = "bench"
greeting = "hello"

[env]
PGDATABASE = "{{{{vars.database}}}}"
"#
    )
}

/// Step `s0`: the root every case starts from, with the output the others read.
fn root_step(out: &mut String) {
    out.push_str(
        r#"
[[steps]]
id = "s0"
title = "Root"
run = "echo {{vars.greeting}}"
outputs = { out = "stdout" }
budget = "1s"
"#,
    );
}

/// One step that needs `need` and reads `reads`' output; every 1,000th also uses vars.
fn step(out: &mut String, i: u32, need: u32, reads: u32) {
    let vars = if i % 1000 == 0 {
        " > {{vars.dir}}/{{vars.database}}.out"
    } else {
        ""
    };
    write!(
        out,
        r#"
[[steps]]
id = "s{i}"
needs = ["s{need}"]
run = "echo {{{{quote steps.s{reads}.outputs.out}}}}{vars}"
outputs = {{ out = "stdout" }}
budget = "1s"
"#
    )
    .expect("writing to a String cannot fail");
}

/// The three shapes, each generated at any size.
#[derive(Clone, Copy)]
enum Shape {
    /// (a) Step i needs step i-1 and reads its output: every step is a distinct target of the
    /// ancestor check, and the critical path is every step.
    Chain,
    /// (b) Every other step needs `s0` and reads its output: two waves.
    FanOut,
    /// (c) Step i needs step i-1 and reads `s0`'s output: the worst case for an ancestor check
    /// that walks back up the `needs` (step i is i steps away from the step it names).
    ChainToRoot,
}

const SHAPES: [Shape; 3] = [Shape::Chain, Shape::FanOut, Shape::ChainToRoot];

impl Shape {
    fn name(self) -> &'static str {
        match self {
            Self::Chain => "chain",
            Self::FanOut => "fan-out",
            Self::ChainToRoot => "chain-to-root",
        }
    }

    fn what(self) -> &'static str {
        match self {
            Self::Chain => "step i needs s{i-1} and reads its output",
            Self::FanOut => "all steps but s0 need s0 and read its output",
            Self::ChainToRoot => "step i needs s{i-1} and reads s0's output",
        }
    }

    /// A playbook of `steps` steps of this shape.
    fn generate(self, steps: u32) -> Case {
        let mut toml = head(&format!("bench-{}", self.name()));
        root_step(&mut toml);
        for i in 1..steps {
            let (need, reads) = match self {
                Self::Chain => (i - 1, i - 1),
                Self::FanOut => (0, 0),
                Self::ChainToRoot => (i - 1, 0),
            };
            step(&mut toml, i, need, reads);
        }
        Case {
            name: self.name(),
            steps,
            toml,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Measurements

fn source(case: &Case) -> Arc<SourceFile> {
    SourceFile::new(format!("{}.toml", case.name), case.toml.clone())
}

/// Times every case in-process and prints the table.
fn in_process_table(cases: &[Case]) -> Vec<Measured> {
    println!("\nin-process (median of N runs after one warm-up)");
    println!(
        "  {:<14} {:>6} {:>4} {:>12} {:>12} {:>12} {:>12}  verdict (target < {} ms)",
        "case",
        "steps",
        "N",
        "validate",
        "plan",
        "total",
        "per step",
        TARGET.as_millis()
    );
    let mut measured = Vec::new();
    for case in cases {
        let m = in_process(case);
        let total = m.validate + m.plan;
        let verdict = if total < TARGET {
            "well under a second"
        } else {
            "SLOW: not well under a second"
        };
        println!(
            "  {:<14} {:>6} {:>4} {:>12} {:>12} {:>12} {:>12}  {verdict} ({} waves, critical path of {} steps)",
            case.name,
            case.steps,
            m.runs,
            ms(m.validate),
            ms(m.plan),
            ms(total),
            us(total / case.steps),
            m.waves,
            m.critical_path,
        );
        measured.push(m);
    }
    measured
}

/// Validates each shape at a quarter, a half and all of [`STEPS`], to show how the time grows.
/// The sizes take turns, round after round, and the fastest run of each is compared, so that
/// other work on the machine skews them alike and as little as possible.
fn scaling_table() {
    println!(
        "\nscaling: fastest validate time per size over {SCALING_ROUNDS} interleaved rounds; exponent = log4(t({STEPS}) / t({})): 1 = linear, 2 = quadratic",
        STEPS / 4
    );
    let sizes = [STEPS / 4, STEPS / 2, STEPS];
    println!(
        "  {:<14} {:>12} {:>12} {:>12} {:>9}",
        "case", sizes[0], sizes[1], sizes[2], "exponent"
    );
    for shape in SHAPES {
        let cases = sizes.map(|n| shape.generate(n));
        let files = cases.each_ref().map(source);
        for (case, file) in cases.iter().zip(&files) {
            validate_once(case, file); // warm-up
        }
        let mut fastest = [Duration::MAX; 3];
        for _ in 0..SCALING_ROUNDS {
            for ((case, file), best) in cases.iter().zip(&files).zip(&mut fastest) {
                *best = (*best).min(validate_once(case, file));
            }
        }
        let exponent = (fastest[2].as_secs_f64() / fastest[0].as_secs_f64()).log(4.0);
        println!(
            "  {:<14} {:>12} {:>12} {:>12} {exponent:>9.2}",
            shape.name(),
            ms(fastest[0]),
            ms(fastest[1]),
            ms(fastest[2])
        );
    }
}

/// Validates and plans, panicking with the diagnostics when the case is not valid.
fn validate_and_plan(case: &Case) -> (usize, usize) {
    let validated = validate(&source(case)).unwrap_or_else(|d| invalid(case, &d));
    let plan = Plan::new(&validated.playbook, None);
    let waves = plan.order.wave.iter().max().map_or(0, |w| w + 1);
    (waves, plan.critical_path.len())
}

fn invalid(case: &Case, diagnostics: &impl std::fmt::Debug) -> ! {
    panic!(
        "generated case `{}` does not validate: the generator or the validator is wrong\n{diagnostics:#?}",
        case.name
    )
}

/// Validates and plans the case on a thread with a small stack; a validator that recursed per
/// step would overflow it and abort the bench right after the line naming the case.
fn small_stack(case: &Case) {
    print!("  {:<14} ", case.name);
    flush();
    let started = Instant::now();
    let (waves, path) = std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name(format!("small-stack-{}", case.name))
            .stack_size(SMALL_STACK)
            .spawn_scoped(scope, || validate_and_plan(case))
            .expect("spawning a thread")
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e))
    });
    println!(
        "ok in {} ({waves} waves, critical path of {path} steps)",
        ms(started.elapsed())
    );
}

/// Times `validate` and `Plan::new` separately: one warm-up, then the median of N runs, N
/// fitted to the time budget.
fn in_process(case: &Case) -> Measured {
    let file = source(case);
    // Warm-up, which also gives the time of one run.
    let started = Instant::now();
    let validated = validate(&file).unwrap_or_else(|d| invalid(case, &d));
    let one_validate = started.elapsed();
    let started = Instant::now();
    let plan = Plan::new(&validated.playbook, None);
    let one_plan = started.elapsed();
    let waves = plan.order.wave.iter().max().map_or(0, |w| w + 1);
    let critical_path = plan.critical_path.len();
    drop(plan);

    let runs = runs_within(MEASURE_BUDGET, one_validate + one_plan);
    let validate_median = median(runs, || validate_once(case, &file));
    let plan_median = median(runs, || {
        let started = Instant::now();
        black_box(Plan::new(black_box(&validated.playbook), None));
        started.elapsed()
    });
    Measured {
        validate: validate_median,
        plan: plan_median,
        runs,
        waves,
        critical_path,
    }
}

fn validate_once(case: &Case, file: &Arc<SourceFile>) -> Duration {
    let started = Instant::now();
    let result = black_box(validate(black_box(file)));
    let took = started.elapsed();
    if let Err(d) = result {
        invalid(case, &d);
    }
    took
}

/// How many runs of `one` fit in `budget`, within [`MIN_RUNS`, `MAX_RUNS`], odd for a true median.
fn runs_within(budget: Duration, one: Duration) -> u32 {
    let fit = budget.as_nanos() / one.as_nanos().max(1);
    let runs = u32::try_from(fit)
        .unwrap_or(MAX_RUNS)
        .clamp(MIN_RUNS, MAX_RUNS);
    runs | 1
}

fn median(runs: u32, mut once: impl FnMut() -> Duration) -> Duration {
    let mut times: Vec<Duration> = (0..runs).map(|_| once()).collect();
    times.sort_unstable();
    times[times.len() / 2]
}

/// Runs the release binary on each case written to a temp file, and `sh -c true` as the baseline.
fn end_to_end(cases: &[Case]) {
    let binary = release_binary();
    if !binary.exists() {
        println!(
            "  skipped: {} does not exist; run `cargo build --release` first",
            binary.display()
        );
        return;
    }
    if let Some(note) = staleness(&binary) {
        println!("  note: {note}");
    }
    let spawn = median(SPAWN_RUNS, || {
        let started = Instant::now();
        let status = Command::new("sh")
            .args(["-c", "true"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("spawning `sh -c true`");
        let took = started.elapsed();
        assert!(status.success(), "`sh -c true` failed: {status}");
        took
    });
    println!(
        "  {:<14} {:>12} {:>12}",
        "case", "wall time", "× sh -c true"
    );
    println!("  {:<14} {:>12} {:>12}", "sh -c true", ms(spawn), "1.0×");
    for case in cases {
        let file = TempPlaybook::write(case);
        let run = || {
            let started = Instant::now();
            let output = Command::new(&binary)
                .arg("validate")
                .arg(&file.path)
                .current_dir(std::env::temp_dir())
                .stdin(Stdio::null())
                .output()
                .expect("spawning the release binary");
            let took = started.elapsed();
            assert!(
                output.status.success(),
                "`runbook validate {}` failed for case `{}` ({}): the generator or the validator is wrong\n{}",
                file.path.display(),
                case.name,
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
            took
        };
        run(); // warm-up: page cache and the binary's first load
        let wall = median(BINARY_RUNS, run);
        println!(
            "  {:<14} {:>12} {:>11.1}×",
            case.name,
            ms(wall),
            wall.as_secs_f64() / spawn.as_secs_f64()
        );
    }
}

/// `target/release/runbook` next to this crate (`CARGO_BIN_EXE_*` is not set for benches);
/// `CARGO_TARGET_DIR` is honoured when set at run time.
fn release_binary() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("target"),
        PathBuf::from,
    );
    target
        .join("release")
        .join(format!("runbook{}", std::env::consts::EXE_SUFFIX))
}

/// A note when the binary is older than a file under `src/`, since its figures would then be
/// for old code.
fn staleness(binary: &Path) -> Option<String> {
    let built = modified(binary)?;
    let newest = newest_under(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"))?;
    (newest > built).then(|| {
        format!(
            "{} is older than src/; its figures are for older code (run `cargo build --release`)",
            binary.display()
        )
    })
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn newest_under(dir: &Path) -> Option<SystemTime> {
    let mut newest = None;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).ok()?.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if let Some(t) = modified(&path) {
                newest = newest.max(Some(t));
            }
        }
    }
    newest
}

/// A generated playbook in the temp folder, removed on drop (also when a run panics).
struct TempPlaybook {
    path: PathBuf,
}

impl TempPlaybook {
    fn write(case: &Case) -> Self {
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name = format!(
            "runbook-bench-{}-{nanos}-{}.toml",
            std::process::id(),
            case.name
        );
        let path = std::env::temp_dir().join(name);
        std::fs::write(&path, &case.toml)
            .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        Self { path }
    }
}

impl Drop for TempPlaybook {
    fn drop(&mut self) {
        // Best effort: a leftover file in the temp folder is harmless.
        let _ = std::fs::remove_file(&self.path);
    }
}

// ---------------------------------------------------------------------------------------------
// Output

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn us(d: Duration) -> String {
    format!("{:.2} µs", d.as_secs_f64() * 1e6)
}

fn flush() {
    use std::io::Write as _;
    // Only so that the case's name is on screen if the small stack overflows.
    let _ = std::io::stdout().flush();
}

/// The 1-minute load average (Linux), printed because other work on the machine skews the figures.
fn load_average() -> Option<String> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    text.split_whitespace().next().map(str::to_owned)
}

fn available_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}
