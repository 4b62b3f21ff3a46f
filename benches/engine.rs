//! Engine overhead, as ratios to baselines measured in the same run (never timed assertions):
//!
//! - 1,000 `true` steps in a chain and 1,000 independent ones, against a tiny loop spawning
//!   `sh -c true` 1,000 times (plain), and against a loop doing what the contract requires per
//!   step (own process group, stdin null, output piped into a log file, one JSON line appended
//!   and fsync'd);
//! - startup plus one `true` step, against one plain spawn and against a process doing the least
//!   a one-step run must do by the contract (the contract floor of start-up, [`contract_one`]);
//! - a 100-wide fan-out of `sleep 0.05` with `--max-parallel 100`, against 50 ms plus spawn cost;
//! - peak memory of `runbook` while a step prints 1 GB.
//!
//! Run: `cargo bench --bench engine` (release build). Figures go to stdout; see bench/README.md.

use std::fmt::Write as _;
use std::fs::OpenOptions;
use std::io::Write as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const RUNBOOK: &str = env!("CARGO_BIN_EXE_runbook");

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

/// Median wall time of `f` over `n` runs after one warm-up.
fn measure(n: usize, mut f: impl FnMut()) -> Duration {
    let [t] = measure_alternating(n, [&mut f]);
    t
}

/// Median wall times of each of `fs` over `n` rounds after one warm-up, taking turns within a
/// round, so that a machine slowing down meanwhile slows all of them alike.
fn measure_alternating<const N: usize>(n: usize, mut fs: [&mut dyn FnMut(); N]) -> [Duration; N] {
    let mut times: [Vec<Duration>; N] = std::array::from_fn(|_| Vec::with_capacity(n));
    for round in 0..=n {
        for (f, times) in fs.iter_mut().zip(&mut times) {
            let t = Instant::now();
            f();
            if round > 0 {
                times.push(t.elapsed());
            }
        }
    }
    times.map(median)
}

fn plain_spawns(n: usize) {
    for _ in 0..n {
        let status = Command::new("sh")
            .args(["-c", "true"])
            .status()
            .expect("sh runs");
        assert!(status.success());
    }
}

/// One `true` step as the contract runs it: in its own group, stdin null, output into `log`.
fn contract_step(log: std::fs::File) {
    let status = Command::new("sh")
        .args(["-c", "true"])
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("dup"))
        .stderr(log)
        .status()
        .expect("sh runs");
    assert!(status.success());
}

/// What the contract requires per step, done by hand: own group, null stdin, output to the
/// step's own log file, one JSON line appended and fsync'd. Each round gets a fresh folder, as
/// each run does.
fn contract_spawns(n: usize, dir: &Path) {
    let dir = fresh(dir);
    std::fs::create_dir_all(dir.join("logs")).expect("logs");
    let mut journal = OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("journal.jsonl"))
        .expect("journal");
    for i in 0..n {
        let log = std::fs::File::create(dir.join("logs").join(format!("s{i}.log"))).expect("log");
        contract_step(log);
        writeln!(journal, r#"{{"ts":"2026-11-23T00:00:00.000Z","event":"step_finished","step":"s{i}","status":"ok"}}"#).expect("append");
        journal.sync_data().expect("fsync");
    }
}

/// The contract floor of start-up: what a run of one `true` step must do, done by hand in a
/// process of its own (this benchmark's binary, started again with `--contract-one DIR`): take
/// the playbook's lock, make the run folder with the playbook's copy, append the start to the
/// journal and `fdatasync` it before the step, run the step into its log file in its own group
/// with stdin null, append the end and `fdatasync` it, write both reports (each to a partial
/// file, `fdatasync`'d, renamed), release the lock. No validation, plan or rendering.
fn contract_one(runs: &Path) {
    let locks = runs.join(".locks");
    std::fs::create_dir_all(&locks).expect("locks");
    let lock = locks.join("one.lock");
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&lock)
        .expect("lock");
    let run = runs.join("run");
    std::fs::create_dir(&run).expect("run folder");
    std::fs::create_dir(run.join("logs")).expect("logs");
    std::fs::write(run.join("playbook.toml"), "[playbook]\nname = \"one\"\n").expect("copy");
    let mut journal = OpenOptions::new()
        .create(true)
        .append(true)
        .open(run.join("journal.jsonl"))
        .expect("journal");
    journal
        .write_all(b"{\"event\":\"run_started\"}\n{\"event\":\"step_started\"}\n")
        .expect("append");
    journal.sync_data().expect("fdatasync");
    let log = std::fs::File::create(run.join("logs").join("s0.log")).expect("log");
    contract_step(log);
    journal
        .write_all(b"{\"event\":\"step_finished\"}\n{\"event\":\"run_finished\"}\n")
        .expect("append");
    journal.sync_data().expect("fdatasync");
    for name in ["report.md", "report.json"] {
        let partial = run.join(format!(".{name}.partial"));
        let mut file = std::fs::File::create(&partial).expect("report");
        file.write_all(b"the report\n").expect("write");
        file.sync_data().expect("fdatasync");
        std::fs::rename(&partial, run.join(name)).expect("rename");
    }
    std::fs::remove_file(lock).expect("unlock");
}

/// Starts this binary again to do [`contract_one`] in a fresh folder under `dir`.
fn contract_one_process(dir: &Path) {
    let status = Command::new(std::env::current_exe().expect("own path"))
        .arg("--contract-one")
        .arg(fresh(dir))
        .stdin(Stdio::null())
        .status()
        .expect("the floor runs");
    assert!(status.success());
}

fn write_playbook(dir: &Path, name: &str, steps: &str) -> PathBuf {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(
        &path,
        format!("[playbook]\nname = \"{name}\"\nversion = \"1.0.0\"\n{steps}"),
    )
    .expect("write playbook");
    path
}

fn chain(n: usize) -> String {
    let mut s = String::new();
    for i in 0..n {
        let _ = write!(s, "[[steps]]\nid = \"s{i}\"\nrun = \"true\"\n");
        if i > 0 {
            let _ = writeln!(s, "needs = [\"s{}\"]", i - 1);
        }
    }
    s
}

fn independent(n: usize, command: &str) -> String {
    (0..n).fold(String::new(), |mut s, i| {
        let _ = write!(s, "[[steps]]\nid = \"s{i}\"\nrun = \"{command}\"\n");
        s
    })
}

/// A folder that did not exist, under `dir`: deleting and recreating thousands of files in one
/// place makes ext4 scan its recently deleted inodes, which a real run never meets.
fn fresh(dir: &Path) -> PathBuf {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    dir.join(format!(
        "round-{}",
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ))
}

/// Runs `runbook run` into a fresh run folder under `out`; panics unless it succeeds.
fn run(playbook: &Path, out: &Path, extra: &[&str]) {
    let output = Command::new(RUNBOOK)
        .arg("run")
        .arg(playbook)
        .arg("--out")
        .arg(fresh(out))
        .args(extra)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("runbook runs");
    assert!(
        output.status.success(),
        "runbook failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[expect(
    clippy::too_many_lines,
    reason = "the measurements, then the table, top to bottom"
)]
fn main() {
    let mut args = std::env::args_os().skip_while(|a| a != "--contract-one");
    if args.next().is_some() {
        contract_one(Path::new(&args.next().expect("--contract-one DIR")));
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    let out = d.join("out");
    let cpus = std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .to_string();
    let rounds = 5;

    let plain = measure(rounds, || plain_spawns(1000));
    let contract = measure(rounds, || contract_spawns(1000, d));
    let contract_200 = measure(rounds, || contract_spawns(200, d));
    let chain_200_pb = write_playbook(d, "chain200", &chain(200));
    let chain_200_t = measure(rounds, || run(&chain_200_pb, &out, &["--json"]));
    let chain_pb = write_playbook(d, "chain", &chain(1000));
    let wide_pb = write_playbook(d, "wide", &independent(1000, "true"));
    let chain_t = measure(rounds, || run(&chain_pb, &out, &["--json"]));
    let wide_t = measure(rounds, || {
        run(&wide_pb, &out, &["--json", "--max-parallel", &cpus]);
    });

    let one_pb = write_playbook(d, "one", &independent(1, "true"));
    let [one_spawn, one_floor, one_t] = measure_alternating(
        41,
        [
            &mut || plain_spawns(1),
            &mut || contract_one_process(d),
            &mut || run(&one_pb, &out, &["--json"]),
        ],
    );

    let fan_pb = write_playbook(d, "fan", &independent(100, "sleep 0.05"));
    let fan_base = measure(rounds, || {
        let mut children: Vec<_> = (0..100)
            .map(|_| {
                Command::new("sh")
                    .args(["-c", "sleep 0.05"])
                    .spawn()
                    .expect("sh runs")
            })
            .collect();
        for c in &mut children {
            assert!(c.wait().expect("wait").success());
        }
    });
    let fan_t = measure(rounds, || {
        run(&fan_pb, &out, &["--json", "--max-parallel", "100"]);
    });

    let big_pb = write_playbook(d, "big", &independent(1, "head -c 1000000000 /dev/zero"));
    let before = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)
        .expect("getrusage");
    let big_t = measure(1, || run(&big_pb, &out, &["--json"]));
    let after = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)
        .expect("getrusage");
    // ru_maxrss of children is the largest child ever waited for: runbook itself here (head and
    // sh are tiny), unless an earlier child was larger, which the before/after pair shows.
    let peak_mib = |kib: i64| {
        format!(
            "{:.1}",
            Duration::from_secs(u64::try_from(kib).unwrap_or(0)).as_secs_f64() / 1024.0
        )
    };
    let peak = peak_mib(after.max_rss());

    println!("runbook engine benchmark ({cpus} CPUs, medians of {rounds} rounds)\n");
    println!("| what | time | ratio |");
    println!("|---|---|---|");
    println!(
        "| baseline: 1,000 × `sh -c true` (tiny loop) | {:.0} ms | 1.00 |",
        ms(plain)
    );
    println!(
        "| baseline: same + own group, log file, fsync'd JSON line | {:.0} ms | {:.2} |",
        ms(contract),
        ms(contract) / ms(plain)
    );
    println!(
        "| baseline: 200 × contract loop | {:.0} ms | - |",
        ms(contract_200)
    );
    println!(
        "| `runbook run`: 200 `true` in a chain | {:.0} ms | {:.2} vs the 200-step contract loop |",
        ms(chain_200_t),
        ms(chain_200_t) / ms(contract_200)
    );
    println!(
        "| `runbook run`: 1,000 `true` in a chain | {:.0} ms | {:.2} (vs contract loop {:.2}) |",
        ms(chain_t),
        ms(chain_t) / ms(plain),
        ms(chain_t) / ms(contract)
    );
    println!(
        "| `runbook run`: 1,000 independent `true`, --max-parallel {cpus} | {:.0} ms | {:.2} (vs contract loop {:.2}) |",
        ms(wide_t),
        ms(wide_t) / ms(plain),
        ms(wide_t) / ms(contract)
    );
    println!(
        "| baseline: one `sh -c true` | {:.2} ms | 1.00 |",
        ms(one_spawn)
    );
    println!(
        "| baseline: a process doing what a one-step run must (the contract floor) | {:.2} ms | {:.2} |",
        ms(one_floor),
        ms(one_floor) / ms(one_spawn)
    );
    println!(
        "| `runbook run`: startup + one `true` step | {:.2} ms | {:.2} ({:.2} vs the contract floor) |",
        ms(one_t),
        ms(one_t) / ms(one_spawn),
        ms(one_t) / ms(one_floor)
    );
    println!(
        "| baseline: 100 × `sleep 0.05` in parallel | {:.0} ms | 1.00 |",
        ms(fan_base)
    );
    println!(
        "| `runbook run`: 100-wide fan-out of `sleep 0.05`, --max-parallel 100 | {:.0} ms | {:.2} |",
        ms(fan_t),
        ms(fan_t) / ms(fan_base)
    );
    println!(
        "| `runbook run`: one step printing 1 GB | {:.0} ms | peak RSS {peak} MiB (largest child before it: {} MiB) |",
        ms(big_t),
        peak_mib(before.max_rss())
    );
}
