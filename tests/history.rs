//! Past runs as data: `runs` with its filters, summaries and `--format json`, and the
//! `history` probe around its threshold. Every run here is a real run of a real playbook; the
//! only journals changed by hand are moved back in time by [`backdate`].

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::util::{Test, journal, json_lines, run_folders};

/// `db`: three steps of clearly different lengths; `--var fail=yes` fails the last one.
const DB: &str = r#"[playbook]
name = "db"
version = "1.2.0"
rto = "1m"

[vars]
fail = "no"

[[steps]]
id = "slow"
run = "sleep 0.4"

[[steps]]
id = "mid"
run = "sleep 0.2"
needs = ["slow"]

[[steps]]
id = "last"
run = 'test "{{vars.fail}}" = no'
needs = ["mid"]
"#;

/// `web`: one quick step that fails with `--var fail=yes`.
const WEB: &str = r#"[playbook]
name = "web"
version = "0.3.0"

[vars]
fail = "no"

[[steps]]
id = "probe"
run = 'test "{{vars.fail}}" = no'
"#;

/// Moves every `ts` of a real run's journal back by `days`, so that the run looks as old as a
/// test needs (`--since`, a missed schedule). The events themselves stay as the run wrote them.
pub(crate) fn backdate(run_dir: &Path, days: i64) {
    let path = run_dir.join("journal.jsonl");
    let text = std::fs::read_to_string(&path).expect("a journal");
    let mut out = String::new();
    for mut event in json_lines(&text) {
        let ts = event["ts"].as_str().expect("every event has ts");
        let moved = chrono::DateTime::parse_from_rfc3339(ts).expect("an RFC 3339 ts")
            - chrono::Duration::days(days);
        event["ts"] = Value::String(
            moved
                .with_timezone(&chrono::Utc)
                .format("%Y-%m-%dT%H:%M:%S%.3fZ")
                .to_string(),
        );
        out.push_str(&event.to_string());
        out.push('\n');
    }
    std::fs::write(&path, out).expect("write the journal");
}

/// Runs `args` and returns the new run's folder.
fn run(t: &Test, args: &[&str], code: i32) -> PathBuf {
    let before = run_folders(&t.path().join("runs"));
    t.run_args(args.iter().copied()).expect_code(code);
    let mut new: Vec<PathBuf> = run_folders(&t.path().join("runs"))
        .into_iter()
        .filter(|d| !before.contains(d))
        .collect();
    assert_eq!(new.len(), 1, "one new run folder for {args:?}");
    new.remove(0)
}

/// The history of these tests: db has 4 ok runs (3 drills, 1 routine), 1 failed drill and a
/// dry run; web has a routine run of each outcome.
fn history() -> (Test, Vec<PathBuf>) {
    let t = Test::new()
        .file("playbooks/db.toml", DB)
        .file("playbooks/web.toml", WEB);
    let mut db = Vec::new();
    for _ in 0..3 {
        db.push(run(&t, &["run", "db"], 0));
    }
    db.push(run(&t, &["run", "db", "--var", "fail=yes"], 1));
    db.push(run(&t, &["run", "db", "--mode", "routine"], 0));
    run(&t, &["run", "db", "--dry-run"], 0);
    run(&t, &["run", "web", "--mode", "routine"], 0);
    run(
        &t,
        &["run", "web", "--mode", "routine", "--var", "fail=yes"],
        1,
    );
    (t, db)
}

/// The `p`th percentile by nearest rank, computed here independently of runbook.
fn nearest_rank(values: &[u64], p: usize) -> u64 {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    sorted[(p * sorted.len()).div_ceil(100) - 1]
}

fn summary<'a>(doc: &'a Value, playbook: &str) -> &'a Value {
    doc["summaries"]
        .as_array()
        .expect("summaries")
        .iter()
        .find(|s| s["playbook"] == playbook)
        .unwrap_or_else(|| panic!("a summary of {playbook}: {doc:#}"))
}

fn json(t: &Test, args: &[&str]) -> Value {
    let mut all = vec!["runs", "--format", "json"];
    all.extend_from_slice(args);
    let out = t.run_args(all).expect_code(0);
    serde_json::from_str(&out.stdout()).expect("runs --format json is one JSON document")
}

/// The ok durations of a step in the given runs' journals, newest run first.
fn step_durations(dirs: &[PathBuf], step: &str) -> Vec<u64> {
    dirs.iter()
        .rev()
        .filter_map(|d| {
            journal(d)
                .into_iter()
                .find(|e| e["event"] == "step_finished" && e["step"] == step && e["status"] == "ok")
        })
        .map(|e| e["duration_ms"].as_u64().expect("duration_ms"))
        .collect()
}

#[test]
fn runs_summarises_each_playbook_exactly_and_leaves_dry_runs_out() {
    let (t, db) = history();
    let doc = json(&t, &[]);
    let runs = doc["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), 8, "every run is listed, the dry run too");
    assert_eq!(
        runs.iter().filter(|r| r["mode"] == "dry-run").count(),
        1,
        "{doc:#}"
    );
    let started: Vec<&str> = runs
        .iter()
        .map(|r| r["started_at"].as_str().expect("started_at"))
        .collect();
    let mut newest_first = started.clone();
    newest_first.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(started, newest_first, "newest first");

    let s = summary(&doc, "db");
    assert_eq!(
        (&s["runs"], &s["ok"], &s["failed"], &s["interrupted"]),
        (
            &Value::from(5),
            &Value::from(4),
            &Value::from(1),
            &Value::from(0)
        ),
        "{s:#}"
    );
    assert_eq!(s["success_rate"], 0.8);
    // The RTO achieved of the ok runs, as each journal's run_finished recorded it.
    let rto: Vec<u64> = runs
        .iter()
        .filter(|r| r["playbook"] == "db" && r["status"] == "ok" && r["mode"] != "dry-run")
        .map(|r| {
            r["rto_achieved_ms"]
                .as_u64()
                .expect("an ok run achieved an RTO")
        })
        .collect();
    assert_eq!(rto.len(), 4);
    let spread = &s["rto_achieved"];
    assert_eq!(spread["runs"], 4);
    assert_eq!(spread["median_ms"], nearest_rank(&rto, 50));
    assert_eq!(spread["p95_ms"], nearest_rank(&rto, 95));
    assert_eq!(spread["max_ms"], *rto.iter().max().expect("values"));
    // The slowest steps by median of their ok durations, with the newest run's duration.
    let steps = s["slowest_steps"].as_array().expect("slowest_steps");
    let names: Vec<&str> = steps
        .iter()
        .map(|x| x["step"].as_str().expect("step"))
        .collect();
    assert_eq!(names, ["slow", "mid", "last"], "{s:#}");
    for step in steps {
        let durations = step_durations(&db, step["step"].as_str().expect("step"));
        assert_eq!(step["runs"], durations.len());
        assert_eq!(step["median_ms"], nearest_rank(&durations, 50));
        assert_eq!(step["last_ms"], durations[0]);
    }
    assert_eq!(
        steps[2]["runs"], 4,
        "the failed `last` is not an ok duration"
    );

    let w = summary(&doc, "web");
    assert_eq!(
        (&w["runs"], &w["ok"], &w["failed"]),
        (&Value::from(2), &Value::from(1), &Value::from(1))
    );
    assert_eq!(w["success_rate"], 0.5);

    // The text form says the same.
    let text = t.run_args(["runs"]).expect_code(0).stdout();
    assert!(
        text.contains("db: 5 runs, 4 ok, 1 failed, success 80.0%\n"),
        "{text}"
    );
    assert!(
        text.contains("web: 2 runs, 1 ok, 1 failed, success 50.0%\n"),
        "{text}"
    );
    let fmt = runbook_human;
    let line = format!(
        "  RTO achieved: median {}, p95 {}, max {} (over 4 runs)\n",
        fmt(nearest_rank(&rto, 50)),
        fmt(nearest_rank(&rto, 95)),
        fmt(*rto.iter().max().expect("values"))
    );
    assert!(text.contains(&line), "{line:?} in\n{text}");
    assert!(text.contains("  slowest steps: slow median "), "{text}");
    assert!(
        text.contains(" routine "),
        "routine runs are listed as such: {text}"
    );
}

/// The spelling `runs` uses for a duration (the playbook grammar, one decimal on seconds).
fn runbook_human(ms: u64) -> String {
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let tenths = (ms + 50) / 100;
    if tenths % 10 == 0 {
        format!("{}s", tenths / 10)
    } else {
        format!("{}.{}s", tenths / 10, tenths % 10)
    }
}

#[test]
fn runs_filters_by_mode_and_by_since() {
    let (t, db) = history();
    let routine = json(&t, &["--mode", "routine"]);
    assert_eq!(routine["runs"].as_array().expect("runs").len(), 3);
    assert_eq!(summary(&routine, "db")["runs"], 1);
    assert_eq!(summary(&routine, "web")["runs"], 2);
    let drills = json(&t, &["--mode", "drill", "--playbook", "db"]);
    assert_eq!(summary(&drills, "db")["runs"], 4);
    assert_eq!(summary(&drills, "db")["failed"], 1);
    assert_eq!(drills["summaries"].as_array().expect("summaries").len(), 1);

    // Two of db's ok drills ran ten days ago.
    backdate(&db[0], 10);
    backdate(&db[1], 10);
    let week = json(&t, &["--since", "7d", "--playbook", "db"]);
    let s = summary(&week, "db");
    assert_eq!(
        (&s["runs"], &s["ok"], &s["failed"]),
        (&Value::from(3), &Value::from(2), &Value::from(1))
    );
    let all = json(&t, &["--since", "11d", "--playbook", "db"]);
    assert_eq!(summary(&all, "db")["runs"], 5);

    let none = t
        .run_args(["runs", "--since", "1ms", "--mode", "incident"])
        .expect_code(0);
    assert!(
        none.stderr().contains("within 1ms, in mode `incident`"),
        "{}",
        none.stderr()
    );
    let bad = t.run_args(["runs", "--since", "7 days"]).expect_code(2);
    assert!(
        bad.stderr().contains("did you mean `7d`?"),
        "{}",
        bad.stderr()
    );
}

/// `gate` passes when db's week has at least two runs and 80% of them ok.
const GATE: &str = r#"[playbook]
name = "gate"
version = "1.0.0"

[[checks]]
id = "db-history"
history = { playbook = "db", since = "7d", min_success_rate = 0.8, min_runs = 2 }
timeout = "1s"
interval = "200ms"

[[steps]]
id = "noop"
run = "true"
"#;

fn gate_attempt(run_dir: &Path) -> Value {
    journal(run_dir)
        .into_iter()
        .rfind(|e| e["event"] == "check_attempt" && e["check"] == "db-history")
        .expect("a check_attempt of db-history")
}

#[test]
fn the_history_probe_passes_at_its_threshold_and_fails_below_it() {
    let (t, _) = history();
    let t = t.file("playbooks/gate.toml", GATE);
    // db: 5 runs, 4 ok: exactly 80%.
    let pass = run(&t, &["run", "gate"], 0);
    let attempt = gate_attempt(&pass);
    assert_eq!(attempt["passed"], true);
    assert_eq!(
        attempt["history"],
        serde_json::json!({"runs": 5, "ok": 4, "success_rate": 0.8})
    );
    let report = std::fs::read_to_string(pass.join("report.md")).expect("report.md");
    assert!(
        report.contains("passed: 5 runs, 4 ok, success 80.0%"),
        "{report}"
    );
    let json_report: Value = serde_json::from_str(
        &t.run_args(["report", pass.to_str().expect("utf-8"), "--format", "json"])
            .expect_code(0)
            .stdout(),
    )
    .expect("JSON report");
    assert_eq!(
        json_report["checks"][1]["history"]["runs"], 5,
        "{json_report:#}"
    );

    // One more failure: 4 of 6 is under 80%, and the validation check fails the run.
    run(&t, &["run", "db", "--var", "fail=yes"], 1);
    let fail = run(&t, &["run", "gate"], 1);
    let attempt = gate_attempt(&fail);
    assert_eq!(attempt["passed"], false);
    assert_eq!(attempt["history"]["runs"], 6);
    assert_eq!(attempt["history"]["ok"], 4);
    let detail = attempt["detail"].as_str().expect("detail");
    assert_eq!(
        detail,
        "6 runs of `db` in 7d, 4 ok, success 66.7% (below min_success_rate 80.0%)"
    );
    let report = std::fs::read_to_string(fail.join("report.md")).expect("report.md");
    assert!(
        report.contains("**failed**: 6 runs of `db` in 7d, 4 ok, success 66.7% (below min\\_success\\_rate 80.0%)"),
        "{report}"
    );
}

#[test]
fn the_history_probe_counts_only_the_window_and_needs_min_runs() {
    let (t, db) = history();
    // Every db run but the failed one and the routine one is ten days old: 2 runs, 1 ok.
    for dir in &db[..3] {
        backdate(dir, 10);
    }
    let t = t.file("playbooks/gate.toml", GATE);
    let fail = run(&t, &["run", "gate"], 1);
    assert_eq!(
        gate_attempt(&fail)["detail"],
        "2 runs of `db` in 7d, 1 ok, success 50.0% (below min_success_rate 80.0%)"
    );
    let lonely = GATE.replace("playbook = \"db\"", "playbook = \"never-run\"");
    let t = t.file("playbooks/gate.toml", &lonely);
    let fail = run(&t, &["run", "gate"], 1);
    assert_eq!(
        gate_attempt(&fail)["detail"],
        "0 runs of `never-run` in 7d, 0 ok, success 0.0% (below min_runs 2)"
    );
}

#[test]
fn history_probe_keys_are_validated_with_their_location() {
    let bad = r#"[playbook]
name = "bad"
version = "1.0.0"

[[checks]]
id = "h"
history = { playbook = "Db", since = "7 days", min_success_rate = 95, min_runs = -1 }

[[checks]]
id = "h2"
history = { since = "1d", min_sucess_rate = 0.5 }

[[steps]]
id = "a"
run = "true"
"#;
    let out = Test::new()
        .file("bad.toml", bad)
        .args(["validate", "bad.toml"])
        .run()
        .expect_code(2);
    let err = out.stderr();
    for expected in [
        "bad.toml:7:24: error: invalid playbook name \"Db\" in `history` in check `h`",
        "bad.toml:7:38: error: invalid duration \"7 days\" for `since` in `history` in check `h`",
        "help: write `since = \"7d\"`",
        "bad.toml:7:67: error: `min_success_rate` in `history` in check `h` is 95, outside 0 to 1",
        "help: a rate is a fraction from 0 to 1: write 0.95",
        "`min_runs` in `history` in check `h` is -1, not a count of runs",
        "bad.toml:11:11: error: missing `playbook` in `history` in check `h2`",
        "min_sucess_rate",
        "min_success_rate",
    ] {
        assert!(err.contains(expected), "{expected:?} in\n{err}");
    }
}

#[test]
fn the_runs_root_index_is_rebuilt_when_missing_or_broken_and_follows_changed_journals() {
    let (t, db) = history();
    let index = t.path().join("runs/.history-index.json");
    let first = json(&t, &[]);
    assert!(index.is_file(), "`runs` indexes the runs root");
    std::fs::write(&index, "{ not the index").expect("write");
    assert_eq!(json(&t, &[]), first, "a broken index is rebuilt");
    std::fs::remove_file(&index).expect("rm");
    assert_eq!(json(&t, &[]), first, "a missing one too");
    // A journal changed after it was indexed is read again.
    backdate(&db[4], 30);
    let moved = json(
        &t,
        &["--since", "7d", "--mode", "routine", "--playbook", "db"],
    );
    assert!(
        moved["summaries"].as_array().expect("summaries").is_empty(),
        "{moved:#}"
    );
    // A read-only index costs speed, not correctness.
    std::fs::remove_file(&index).expect("rm");
    std::fs::create_dir(&index).expect("a folder where the index would go");
    assert_eq!(json(&t, &["--playbook", "web"])["summaries"][0]["runs"], 2);
}

/// The comparison section of `report RUN --format json`.
fn comparison(t: &Test, run: &Path) -> Value {
    let out = t
        .run_args([
            "report",
            run.to_str().expect("a UTF-8 path"),
            "--format",
            "json",
        ])
        .expect_code(0)
        .stdout();
    serde_json::from_str::<Value>(&out).expect("a JSON report")["comparison"].clone()
}

#[test]
fn the_comparison_with_the_previous_run_is_the_same_with_a_missing_torn_or_stale_index() {
    // See: #18 (the comparison reads the index's run digests alone and never writes it)
    let (t, db) = history();
    let index = t.path().join("runs/.history-index.json");
    json(&t, &[]);
    assert!(index.is_file(), "`runs` indexes the runs root");
    let indexed = comparison(&t, &db[4]);
    let previous = db[2].file_name().expect("a name").to_string_lossy();
    assert!(
        indexed.to_string().contains(previous.as_ref()),
        "compared with the newest earlier ok run: {indexed:#}"
    );
    let text = std::fs::read_to_string(&index).expect("the index");
    std::fs::write(&index, &text[..text.len() / 2]).expect("a torn index");
    assert_eq!(
        comparison(&t, &db[4]),
        indexed,
        "a torn index is not trusted"
    );
    std::fs::remove_file(&index).expect("rm");
    assert_eq!(comparison(&t, &db[4]), indexed, "nor needed");
    assert!(!index.exists(), "the comparison does not write the index");

    // Stale: the compared run's journal is now a failed run's, after it was indexed.
    json(&t, &[]);
    let failed = std::fs::read_to_string(db[3].join("journal.jsonl")).expect("journal");
    std::fs::write(db[2].join("journal.jsonl"), failed).expect("write");
    let stale = comparison(&t, &db[4]);
    assert_ne!(stale, indexed, "the changed journal is read again");
    std::fs::remove_file(&index).expect("rm");
    assert_eq!(comparison(&t, &db[4]), stale, "as without the index");
    let earlier = db[1].file_name().expect("a name").to_string_lossy();
    assert!(stale.to_string().contains(earlier.as_ref()), "{stale:#}");
    // `runs` agrees with and without the index, too.
    let runs = json(&t, &[]);
    assert_eq!(json(&t, &[]), runs);
}

/// The run id a run folder's journal records.
fn run_id(dir: &Path) -> String {
    journal(dir)[0]["run_id"]
        .as_str()
        .expect("run_started has a run_id")
        .to_owned()
}

#[test]
fn a_run_saved_with_out_inside_the_runs_root_is_a_run_of_it_whatever_its_folder_is_called() {
    // See: #15 (runs, the `history` probe and the comparison went by the folder's name)
    let (t, _) = history();
    let runs = t.path().join("runs");
    // Two more db runs in folders of the operator's choosing: one ok, and one failed in a
    // folder named like a run id of `web`. The index is written first, so the scans below
    // meet folders it does not know.
    json(&t, &[]);
    let ok = runs.join("nightly db");
    let failed = runs.join("20260101T000000Z-web-0000");
    for (dir, extra, code) in [(&ok, None, 0), (&failed, Some("fail=yes"), 1)] {
        let mut args = vec!["run", "db", "--out", dir.to_str().expect("utf-8")];
        if let Some(var) = extra {
            args.extend(["--var", var]);
        }
        t.run_args(args).expect_code(code);
    }

    // `runs`, with and without the playbook filter, from the journals and then the index.
    for _ in 0..2 {
        let doc = json(&t, &[]);
        let s = summary(&doc, "db");
        assert_eq!(
            (&s["runs"], &s["ok"]),
            (&Value::from(7), &Value::from(5)),
            "{s:#}"
        );
        assert_eq!(
            summary(&doc, "web")["runs"],
            2,
            "the `web`-named folder is not web's"
        );
        let listed: Vec<&str> = doc["runs"]
            .as_array()
            .expect("runs")
            .iter()
            .filter_map(|r| r["dir"].as_str())
            .collect();
        assert!(
            listed.contains(&ok.to_str().expect("utf-8"))
                && listed.contains(&failed.to_str().expect("utf-8")),
            "{listed:?}"
        );
        let db_only = json(&t, &["--playbook", "db"]);
        assert_eq!(
            db_only["runs"].as_array().expect("runs").len(),
            8,
            "and the dry run"
        );
        assert_eq!(summary(&db_only, "db")["runs"], 7);
        assert!(
            json(&t, &["--playbook", "web"])["runs"]
                .as_array()
                .expect("runs")
                .len()
                == 2
        );
    }
    let text = t
        .run_args(["runs", "--playbook", "db"])
        .expect_code(0)
        .stdout();
    assert!(
        text.contains("db: 7 runs, 5 ok, 2 failed, success 71.4%\n"),
        "{text}"
    );

    // The `history` probe: 7 runs, 5 ok is below 80%; with the index gone, the same.
    let t = t.file("playbooks/gate.toml", GATE);
    for _ in 0..2 {
        let gate = run(&t, &["run", "gate"], 1);
        let attempt = gate_attempt(&gate);
        assert_eq!(
            attempt["history"],
            serde_json::json!({"runs": 7, "ok": 5, "success_rate": 5.0 / 7.0}),
            "{attempt:#}"
        );
        std::fs::remove_file(runs.join(".history-index.json")).ok();
    }

    // The comparison: the next run of db is compared with the newest earlier ok run, the one
    // in `nightly db`, whether or not the index knows it.
    let next = run(&t, &["run", "db"], 0);
    let compared = comparison(&t, &next);
    assert_eq!(compared["previous_run_id"], run_id(&ok), "{compared:#}");
    let report = std::fs::read_to_string(next.join("report.md")).expect("report.md");
    assert!(report.contains(&run_id(&ok)), "{report}");
    json(&t, &[]);
    assert_eq!(comparison(&t, &next), compared, "from the index too");

    // `report ID` and `resume ID` find such a run by its id.
    let id = run_id(&failed);
    let shown = t.run_args(["report", &id]).expect_code(0).stdout();
    assert!(shown.contains(&id) && shown.contains("failed"), "{shown}");
    let resumed = t.run_args(["resume", &id]).expect_code(2).stderr();
    assert!(
        resumed.contains(&format!("run `{id}` already finished (failed)")),
        "found, and refused for what it is: {resumed}"
    );
    let missing = t
        .run_args(["report", "20260101T000000Z-db-ffff"])
        .expect_code(2);
    assert!(
        missing.stderr().contains(
            "no run `20260101T000000Z-db-ffff`: not a run folder, and no run of that id in"
        ),
        "{}",
        missing.stderr()
    );
}

#[test]
fn a_copy_of_a_run_folder_in_the_runs_root_counts_once() {
    // See: #15 (a run is known by the run id in its journal, not by its folder)
    let (t, db) = history();
    let copy = t.path().join("runs/copy of a run");
    std::fs::create_dir(&copy).expect("mkdir");
    for file in ["journal.jsonl", "playbook.toml"] {
        std::fs::copy(db[0].join(file), copy.join(file)).expect("copy");
    }
    let doc = json(&t, &[]);
    assert_eq!(summary(&doc, "db")["runs"], 5, "{doc:#}");
    let dirs: Vec<&str> = doc["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .filter(|r| r["run_id"] == run_id(&db[0]))
        .filter_map(|r| r["dir"].as_str())
        .collect();
    assert_eq!(
        dirs,
        [db[0].to_str().expect("utf-8")],
        "the folder named by its id"
    );
    let t = t.file("playbooks/gate.toml", GATE);
    let gate = run(&t, &["run", "gate"], 0);
    assert_eq!(gate_attempt(&gate)["history"]["runs"], 5);
}

#[test]
fn a_journal_without_a_readable_start_is_reported_unless_its_folder_names_another_playbook() {
    // See: #15 (which playbook a broken journal belongs to is unknown: a history must not
    // quietly leave out what might be a failed run)
    let (t, _) = history();
    let t = t.file("playbooks/gate.toml", GATE);
    let runs = t.path().join("runs");
    let foreign = runs.join("20260101T000000Z-web-0001");
    std::fs::create_dir(&foreign).expect("mkdir");
    std::fs::write(foreign.join("journal.jsonl"), "{\"ts\":").expect("a cut-off journal");
    let gate = run(&t, &["run", "gate"], 0);
    assert_eq!(gate_attempt(&gate)["history"]["runs"], 5, "web's, not db's");

    let unnamed = runs.join("somebody's run");
    std::fs::create_dir(&unnamed).expect("mkdir");
    std::fs::write(unnamed.join("journal.jsonl"), "").expect("an empty journal");
    let gate = run(&t, &["run", "gate"], 1);
    let detail = gate_attempt(&gate)["detail"]
        .as_str()
        .expect("detail")
        .to_owned();
    assert!(
        detail.contains("skipping") && detail.contains("somebody's run"),
        "{detail}"
    );
    let listed = t.run_args(["runs", "--playbook", "db"]).expect_code(0);
    assert!(
        listed.stderr().contains("somebody's run"),
        "{}",
        listed.stderr()
    );
}
