//! History cost as it grows: `runbook runs` (text and `--format json`, which read every run
//! folder of the runs root) and `runbook report RUN` (whose "compared with the previous
//! successful run" section reads the history of the run's playbook), over runs roots of 10,
//! 100 and 1,000 past runs, against `runbook --version` (start-up alone) in the same run. Each
//! is timed with the runs root's index in place (the usual case) and, for `runs`, without it
//! (`cold`: every journal parsed, and the index written again).
//!
//! The runs are one real run of a three-step playbook, copied with their own run ids and
//! start times spread over the past (one per hour), so every journal is one runbook wrote.
//! Timings are printed, never asserted. Run: `cargo bench --bench history`; see bench/README.md.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const RUNBOOK: &str = env!("CARGO_BIN_EXE_runbook");

const PLAYBOOK: &str = r#"[playbook]
name = "db"
version = "1.0.0"
rto = "1m"

[[steps]]
id = "dump"
run = "true"

[[steps]]
id = "restore"
run = "true"
needs = ["dump"]

[[steps]]
id = "verify"
run = "true"
needs = ["restore"]
"#;

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

/// Median wall time of `runbook ARGS` in `dir` over `n` runs after one warm-up.
fn time(dir: &Path, args: &[&str], n: usize) -> Duration {
    time_after(dir, args, n, || {})
}

/// [`time`], with `before` done (untimed) before each run.
fn time_after(dir: &Path, args: &[&str], n: usize, before: impl Fn()) -> Duration {
    let once = || {
        before();
        let t = Instant::now();
        let status = Command::new(RUNBOOK)
            .args(args)
            .current_dir(dir)
            .env_remove("RUNBOOK_RUNS")
            .env_remove("RUNBOOK_PATH")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("runbook runs");
        assert!(status.success(), "runbook {args:?} failed");
        t.elapsed()
    };
    once();
    median((0..n).map(|_| once()).collect())
}

/// A scratch folder with `playbooks/db.toml` and a runs root holding one real run of it.
fn scratch() -> (PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(format!("runbook-bench-history-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("playbooks")).expect("mkdir");
    std::fs::write(dir.join("playbooks/db.toml"), PLAYBOOK).expect("write");
    let status = Command::new(RUNBOOK)
        .args(["run", "db"])
        .current_dir(&dir)
        .env_remove("RUNBOOK_RUNS")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("runbook runs");
    assert!(status.success(), "the template run failed");
    let run = std::fs::read_dir(dir.join("runs"))
        .expect("runs/")
        .map(|e| e.expect("an entry").path())
        .find(|p| p.join("journal.jsonl").is_file())
        .expect("the template run folder");
    (dir, run)
}

/// Fills `root` with `n` copies of the template run, the `i`th started `i` hours before it.
fn fill(root: &Path, template: &Path, n: usize) {
    let _ = std::fs::remove_dir_all(root);
    std::fs::create_dir_all(root).expect("mkdir");
    let text = std::fs::read_to_string(template.join("journal.jsonl")).expect("journal");
    let events: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("a journal line"))
        .collect();
    for i in 0..n {
        let hours = i64::try_from(i).expect("small");
        let mut ids = None;
        let mut out = String::new();
        for e in &events {
            let mut e = e.clone();
            let ts = chrono::DateTime::parse_from_rfc3339(e["ts"].as_str().expect("ts"))
                .expect("RFC 3339")
                .with_timezone(&chrono::Utc)
                - chrono::Duration::hours(hours);
            let id =
                ids.get_or_insert_with(|| format!("{}-db-{i:04x}", ts.format("%Y%m%dT%H%M%SZ")));
            e["ts"] = ts.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string().into();
            e["run_id"] = id.clone().into();
            out.push_str(&e.to_string());
            out.push('\n');
        }
        let folder = root.join(ids.expect("a journal has events"));
        std::fs::create_dir_all(&folder).expect("mkdir");
        std::fs::write(folder.join("journal.jsonl"), out).expect("write");
        std::fs::copy(template.join("playbook.toml"), folder.join("playbook.toml"))
            .expect("copy playbook.toml");
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let (dir, template) = scratch();
    let saved = dir.join("template");
    std::fs::rename(&template, &saved).expect("keep the template");
    let root = dir.join("runs");
    let start_up = time(&dir, &["--version"], 21);
    println!("history: `runs` and `report RUN` over growing runs roots");
    println!(
        "baseline `runbook --version`: {:.1} ms (median of 21)\n",
        ms(start_up)
    );
    println!(
        "{:>6}  {:>12}  {:>12}  {:>12}  {:>12}",
        "runs", "runs (ms)", "json (ms)", "report (ms)", "cold (ms)"
    );
    let mut rows = Vec::new();
    for n in [10, 100, 1000] {
        fill(&root, &saved, n);
        let newest = std::fs::read_dir(&root)
            .expect("runs/")
            .map(|e| e.expect("an entry").path())
            .max()
            .expect("a run");
        let newest = newest.to_string_lossy().into_owned();
        let text = time(&dir, &["runs"], 11);
        let json = time(&dir, &["runs", "--format", "json"], 11);
        let report = time(&dir, &["report", &newest], 11);
        let index = root.join(".history-index.json");
        let cold = time_after(&dir, &["runs"], 11, || {
            let _ = std::fs::remove_file(&index);
        });
        println!(
            "{n:>6}  {:>12.1}  {:>12.1}  {:>12.1}  {:>12.1}",
            ms(text),
            ms(json),
            ms(report),
            ms(cold)
        );
        rows.push((n, text, json, report, cold));
    }
    let (_, t10, j10, r10, c10) = rows[0];
    let (_, t1k, j1k, r1k, c1k) = rows[2];
    println!(
        "\n1,000 runs / 10 runs: runs {:.1}x, json {:.1}x, report {:.1}x, cold {:.1}x",
        ms(t1k) / ms(t10),
        ms(j1k) / ms(j10),
        ms(r1k) / ms(r10),
        ms(c1k) / ms(c10)
    );
    println!(
        "cost per past run: runs {:.3} ms, report {:.3} ms, cold runs {:.3} ms",
        (ms(t1k) - ms(t10)) / 990.0,
        (ms(r1k) - ms(r10)) / 990.0,
        (ms(c1k) - ms(c10)) / 990.0
    );
    let _ = std::fs::remove_dir_all(&dir);
}
