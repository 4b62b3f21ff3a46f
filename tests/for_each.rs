//! `for_each`: one step, many items. Instances `ID[KEY]` with `item` and `item_index`, lists
//! from vars, written out or from a step's output, item-wise chains that do not wait on each
//! other, `max_parallel` per step, outputs of instances, the 1,000-item bound, and what `plan`,
//! the journal, the logs and the report say. Through the real binary; concurrency is shown by
//! markers, not by timings.

use std::fmt::Write as _;

use serde_json::Value;

use crate::util::{Test, finished, journal_or_empty, playbook, runbook};

fn started<'a>(events: &'a [Value], step: &str) -> &'a Value {
    events
        .iter()
        .find(|e| e["event"] == "step_started" && e["step"] == step)
        .unwrap_or_else(|| panic!("no step_started for {step}"))
}

fn read(t: &Test, file: &str) -> String {
    std::fs::read_to_string(t.path().join(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

#[test]
fn a_list_var_runs_one_instance_per_item_with_its_own_log_events_and_report_rows() {
    let text = playbook(
        "each",
        r#"[vars]
databases = ["control-plane", "n8n", "veritas"]

[[steps]]
id = "restore"
for_each = "{{vars.databases}}"
run = "echo restoring {{item}} as number {{item_index}}; echo {{item}} > restored.{{item_index}}"
outputs = { line = "stdout" }
budget = "1m"

[[steps]]
id = "summary"
needs = ["restore"]
run = "echo '{{steps.restore.outputs.line}}' > summary; echo {{steps.restore.status}} >> summary"
"#,
    );
    let t = Test::new().file("p.toml", &text);
    t.run_args(["validate", "p.toml"]).expect_code(0);
    let run = t
        .run_args(["run", "p.toml", "--out", "out", "--json"])
        .expect_code(0);
    for (i, db) in ["control-plane", "n8n", "veritas"].iter().enumerate() {
        assert_eq!(read(&t, &format!("out/restored.{i}")), format!("{db}\n"));
    }
    let events = run.events();
    let first = started(&events, "restore[control-plane]");
    assert_eq!(
        first["item"], "control-plane",
        "every event of an instance carries its item"
    );
    assert_eq!(
        finished(&events, "restore[veritas]")["outputs"]["line"],
        "restoring veritas as number 2"
    );
    let group = finished(&events, "restore");
    assert_eq!(group["status"], "ok");
    assert_eq!(group["reason"], "3 instances: 3 ok");
    assert!(group.get("item").is_none(), "the step itself has no item");
    // Elsewhere, an instance output is the JSON array of every instance's value in item order.
    assert_eq!(
        read(&t, "out/summary"),
        "[\"restoring control-plane as number 0\",\"restoring n8n as number 1\",\"restoring veritas as number 2\"]\nok\n"
    );
    let log = read(&t, "out/logs/restore[n8n].log");
    assert!(log.contains("restoring n8n as number 1"), "{log}");
    let report = read(&t, "out/report.md");
    for row in [
        "| `restore[control-plane]` | ok |",
        "| `restore[n8n]` | ok |",
        "| `restore` | ok |",
    ] {
        assert!(report.contains(row), "{row} in\n{report}");
    }
    assert!(
        report.contains("restore_n8n_ (ok)"),
        "one gantt bar per instance\n{report}"
    );
    assert!(!report.contains("never started): `restore`"), "{report}");
    let json: Value = serde_json::from_str(&read(&t, "out/report.json")).expect("report.json");
    let rows = json["steps"].as_array().expect("steps");
    let instance = rows
        .iter()
        .find(|r| r["id"] == "restore[n8n]")
        .expect("an instance row");
    assert_eq!(instance["instance_of"], "restore");
    let step = rows
        .iter()
        .find(|r| r["id"] == "restore")
        .expect("the step's row");
    assert_eq!(step["for_each"], true);
}

#[test]
fn items_written_out_may_be_tables_whose_instances_are_named_by_index() {
    let text = playbook(
        "tables",
        r#"[[steps]]
id = "start"
for_each = [{ name = "api", port = 8080 }, { name = "worker", port = 9090 }]
run = "echo {{item.name}}:{{item.port}} > started.{{item.name}}; echo '{{item}}' > item.{{item_index}}"
"#,
    );
    let t = Test::new().file("p.toml", &text);
    let run = t
        .run_args(["run", "p.toml", "--out", "out", "--json"])
        .expect_code(0);
    assert_eq!(read(&t, "out/started.api"), "api:8080\n");
    assert_eq!(read(&t, "out/started.worker"), "worker:9090\n");
    // A table item renders as JSON.
    assert_eq!(
        read(&t, "out/item.1"),
        "{\"name\":\"worker\",\"port\":9090}\n"
    );
    let events = run.events();
    assert_eq!(
        started(&events, "start[1]")["item"],
        serde_json::json!({"name": "worker", "port": 9090})
    );
}

#[test]
fn item_wise_chains_go_on_without_each_other_and_see_their_own_item_outputs() {
    // `dump[c]` can only succeed once `check[a]` has run: `check[a]` must not wait for the
    // other dumps. `dump[b]` fails: only `check[b]` is skipped.
    let text = playbook(
        "chains",
        r#"[[steps]]
id = "dump"
for_each = ["a", "b", "c"]
on_failure = "continue"
run = """
case {{item}} in
  b) echo broken >&2; exit 3 ;;
  c) for i in $(seq 400); do [ -e checked.a ] && break; sleep 0.05; done; [ -e checked.a ] || exit 9 ;;
esac
echo {{item}}.dump
"""
outputs = { file = "stdout" }

[[steps]]
id = "check"
needs = ["dump"]
for_each = ["a", "b", "c"]
run = "echo checked {{steps.dump.outputs.file}} > checked.{{item}}"

[[steps]]
id = "files"
needs = ["dump"]
run = "echo '{{steps.dump.outputs.file}}' > files"

[[steps]]
id = "after-all"
after = ["check"]
run = "echo 'check was {{steps.check.status}}' > after"
"#,
    );
    let t = Test::new().file("p.toml", &text);
    let run = t.run_args(["run", "p.toml", "--out", "out", "--json"]);
    let events = run.events();
    assert_eq!(
        finished(&events, "dump[c]")["status"],
        "ok",
        "check[a] ran while dump[c] waited"
    );
    assert_eq!(read(&t, "out/checked.a"), "checked a.dump\n");
    assert_eq!(read(&t, "out/checked.c"), "checked c.dump\n");
    let skipped = finished(&events, "check[b]");
    assert_eq!(skipped["status"], "skipped");
    assert_eq!(skipped["reason"], "needs failed step `dump[b]`");
    assert_eq!(finished(&events, "dump")["status"], "failed");
    assert_eq!(
        finished(&events, "dump")["reason"],
        "3 instances: 2 ok, 1 failed"
    );
    // Not item-wise: it waits for every instance, and a failed one makes it skip.
    assert_eq!(finished(&events, "files")["status"], "skipped");
    assert_eq!(read(&t, "out/after"), "check was skipped\n");
    assert_eq!(run.code(), 0, "the failure was tolerated: {}", run.stderr());
}

#[test]
fn a_dependent_after_every_instance_sees_null_for_an_instance_that_gave_no_output() {
    let text = playbook(
        "nulls",
        r#"[[steps]]
id = "probe"
for_each = ["x", "y"]
when = "{{eq item 'x'}}"
run = "echo up-{{item}}"
outputs = { state = "stdout" }

[[steps]]
id = "collect"
after = ["probe"]
run = "echo '{{steps.probe.outputs.state}}' > states"
"#,
    );
    let t = Test::new().file("p.toml", &text);
    t.run_args(["run", "p.toml", "--out", "out", "--json"]);
    assert_eq!(read(&t, "out/states"), "[\"up-x\",null]\n");
}

#[test]
fn max_parallel_limits_how_many_instances_run_at_once() {
    let text = playbook(
        "limited",
        r#"[[steps]]
id = "copy"
for_each = ["a", "b", "c", "d", "e"]
max_parallel = 2
run = "touch running.{{item}}; ls running.* | wc -l >> seen; sleep 0.2; rm running.{{item}}"
"#,
    );
    let t = Test::new().file("p.toml", &text);
    t.run_args(["run", "p.toml", "--out", "out", "--json"])
        .expect_code(0);
    let seen: Vec<usize> = read(&t, "out/seen")
        .lines()
        .map(|l| l.trim().parse().expect("a count"))
        .collect();
    assert_eq!(seen.len(), 5);
    assert!(
        seen.iter().all(|&n| n <= 2),
        "at most two at once: {seen:?}"
    );
}

#[test]
fn a_list_from_a_steps_output_is_made_when_the_step_is_ready() {
    let text = playbook(
        "dynamic",
        r#"[[steps]]
id = "list"
run = "printf 'base.dump\n\nwal.tar\n'"
outputs = { files = "stdout" }

[[steps]]
id = "json"
run = "echo '[\"j1\", \"j2\", \"j3\"]'"
outputs = { names = "stdout" }

[[steps]]
id = "scan"
needs = ["list"]
for_each = "{{steps.list.outputs.files}}"
run = "echo scanned {{item}} > scanned.{{item_index}}"

[[steps]]
id = "each-json"
needs = ["json"]
for_each = "{{steps.json.outputs.names}}"
run = "touch got.{{item}}"
"#,
    );
    let t = Test::new().file("p.toml", &text);
    let plan = t.run_args(["plan", "p.toml"]).expect_code(0).stdout();
    assert!(plan.contains("scan[*]"), "{plan}");
    let run = t
        .run_args(["run", "p.toml", "--out", "out", "--json"])
        .expect_code(0);
    assert_eq!(read(&t, "out/scanned.0"), "scanned base.dump\n");
    assert_eq!(read(&t, "out/scanned.1"), "scanned wal.tar\n");
    for j in ["j1", "j2", "j3"] {
        assert!(t.path().join(format!("out/got.{j}")).exists(), "{j}");
    }
    let events = run.events();
    assert_eq!(started(&events, "scan[wal.tar]")["item"], "wal.tar");
    assert_eq!(
        finished(&events, "each-json")["reason"],
        "3 instances: 3 ok"
    );
}

#[test]
fn an_empty_list_is_ok_with_no_items() {
    let text = playbook(
        "empty",
        r#"[[steps]]
id = "list"
run = "true"
outputs = { files = "stdout" }

[[steps]]
id = "scan"
needs = ["list"]
for_each = "{{steps.list.outputs.files}}"
run = "exit 1"

[[steps]]
id = "none-written"
for_each = []
run = "exit 1"

[[steps]]
id = "next"
needs = ["scan", "none-written"]
run = "touch next-ran"
"#,
    );
    let t = Test::new().file("p.toml", &text);
    let run = t
        .run_args(["run", "p.toml", "--out", "out", "--json"])
        .expect_code(0);
    let events = run.events();
    for id in ["scan", "none-written"] {
        assert_eq!(finished(&events, id)["status"], "ok");
        assert_eq!(finished(&events, id)["reason"], "no items");
    }
    assert!(t.path().join("out/next-ran").exists());
}

#[test]
fn an_instance_failure_under_abort_stops_the_run_and_rollbacks_undo_each_item() {
    let text = playbook(
        "undo",
        r#"[[steps]]
id = "apply"
for_each = ["a", "b", "c"]
max_parallel = 1
on_failure = "rollback"
run = "echo {{item}} >> applied; [ {{item}} != c ]"
rollback = "echo {{item}} >> undone"

[[steps]]
id = "never"
needs = ["apply"]
run = "touch never-ran"
"#,
    );
    let t = Test::new().file("p.toml", &text);
    let run = t
        .run_args(["run", "p.toml", "--out", "out", "--json"])
        .expect_code(1);
    // The failed instance's own rollback first (it began), then the others newest first.
    assert_eq!(read(&t, "out/undone"), "c\nb\na\n");
    let events = run.events();
    assert_eq!(finished(&events, "apply")["status"], "failed");
    assert!(!t.path().join("out/never-ran").exists());
}

#[test]
fn nested_playbooks_run_once_per_item_with_the_item_as_a_var() {
    let child = playbook(
        "pg-restore",
        r#"[vars]
database = "app"

[outputs]
restored = "{{steps.restore.outputs.line}}"

[[steps]]
id = "restore"
run = "echo restored-{{vars.database}}"
outputs = { line = "stdout" }
"#,
    );
    let parent = playbook(
        "parent",
        r#"[vars]
databases = ["billing", "auth"]

[[steps]]
id = "restore"
for_each = "{{vars.databases}}"
playbook = "pg-restore"
vars = { database = "{{item}}" }

[[steps]]
id = "report"
needs = ["restore"]
run = "echo '{{steps.restore.outputs.restored}}' > restored"
"#,
    );
    let t = Test::new()
        .file("pg-restore.toml", &child)
        .file("p.toml", &parent);
    t.run_args(["validate", "p.toml"]).expect_code(0);
    let run = t
        .run_args(["run", "p.toml", "--out", "out", "--json"])
        .expect_code(0);
    assert_eq!(
        read(&t, "out/restored"),
        "[\"restored-billing\",\"restored-auth\"]\n"
    );
    let events = run.events();
    let nested = finished(&events, "restore[auth]/restore");
    assert_eq!(nested["outputs"]["line"], "restored-auth");
    assert_eq!(
        nested["item"], "auth",
        "a nested step of an instance carries its item"
    );
}

#[test]
fn plan_shows_every_instance_in_its_wave_and_the_rto_under_each_limit() {
    let text = playbook(
        "planned",
        r#"[vars]
databases = ["a", "b", "c"]

[[steps]]
id = "restore"
for_each = "{{vars.databases}}"
run = "true"
budget = "10m"

[[steps]]
id = "verify"
needs = ["restore"]
for_each = "{{vars.databases}}"
run = "true"
budget = "1m"
"#,
    );
    let t = Test::new().file("p.toml", &text);
    let plan = t.run_args(["plan", "p.toml"]).expect_code(0).stdout();
    let wave1 = plan.split("wave 2").next().expect("wave 1");
    for id in ["restore[a]", "restore[b]", "restore[c]"] {
        assert!(wave1.contains(id), "{id} in wave 1:\n{plan}");
    }
    let wave2 = plan.split("wave 2").nth(1).expect("wave 2");
    assert!(wave2.contains("verify[b]"), "{plan}");
    assert!(plan.contains("needs restore[b]"), "item-wise:\n{plan}");
    assert!(plan.contains("ends with its 3 instances"), "{plan}");
    let json = |extra: &[&str]| -> Value {
        let mut args = vec!["plan", "p.toml", "--format", "json"];
        args.extend_from_slice(extra);
        serde_json::from_str(&t.run_args(args).expect_code(0).stdout()).expect("plan json")
    };
    let unbounded = json(&[]);
    assert_eq!(
        unbounded["planned_rto_ms"], 660_000,
        "the critical path: 10m + 1m"
    );
    let one = json(&["--max-parallel", "1"]);
    assert_eq!(
        one["planned_rto_ms"], 1_980_000,
        "the sum of the budgets: 3 × 10m + 3 × 1m"
    );
    let steps = one["steps"].as_array().expect("steps");
    let instance = steps
        .iter()
        .find(|s| s["id"] == "verify[c]")
        .expect("verify[c]");
    assert_eq!(instance["for_each"]["of"], "verify");
    assert_eq!(instance["for_each"]["item"], "c");
    // Another value of the list var makes other instances.
    let other = t
        .run_args(["plan", "p.toml", "--var", "databases=[\"x\"]"])
        .expect_code(0)
        .stdout();
    assert!(
        other.contains("restore[x]") && !other.contains("restore[a]"),
        "{other}"
    );
}

#[test]
fn invalid_for_each_keys_are_each_located_with_a_fix() {
    let mut many = String::from("[");
    for i in 0..1001 {
        let _ = write!(many, "{i}, ");
    }
    many.push(']');
    let text = playbook(
        "bad",
        &format!(
            r#"[[steps]]
id = "list"
run = "ls"
outputs = {{ files = "stdout" }}

[[steps]]
id = "no-loop"
run = "echo {{{{item}}}}"
max_parallel = 2

[[steps]]
id = "twice"
for_each = ["a", "b", "a"]
run = "true"

[[steps]]
id = "too-many"
for_each = {many}
run = "true"

[[steps]]
id = "self"
for_each = "{{{{item}}}}"
run = "true"

[[steps]]
id = "cleanup"
needs = ["list"]
always = true
for_each = "{{{{steps.list.outputs.files}}}}"
run = "rm {{{{item}}}}"

[[steps]]
id = "wrong"
for_each = 3
run = "true"

[[steps]]
id = "zero"
for_each = ["a"]
max_parallel = 0
run = "true"
"#
        ),
    );
    let run = Test::new()
        .file("p.toml", &text)
        .args(["validate", "p.toml"])
        .run()
        .expect_code(2);
    insta::assert_snapshot!(run.stderr());
}

#[test]
fn a_list_past_the_bound_is_refused_before_the_run_or_fails_its_step_during_it() {
    let text = playbook(
        "bounds",
        r#"[vars]
items = ["a"]

[[steps]]
id = "each"
for_each = "{{vars.items}}"
run = "true"

[[steps]]
id = "make"
run = "seq 1001"
outputs = { n = "stdout" }

[[steps]]
id = "dynamic"
needs = ["make"]
for_each = "{{steps.make.outputs.n}}"
run = "true"
"#,
    );
    let t = Test::new().file("p.toml", &text);
    let many: Vec<String> = (0..1001).map(|i| format!("\"i{i}\"")).collect();
    let var = format!("items=[{}]", many.join(","));
    let refused = t
        .run_args(["run", "p.toml", "--out", "refused", "--var", &var])
        .expect_code(2);
    assert!(
        refused.stderr().contains(
            "`for_each` of step `each` has 1001 items, more than the 1000 a step may have"
        ),
        "{}",
        refused.stderr()
    );
    assert!(!t.path().join("refused").exists(), "nothing ran");
    let run = t
        .run_args(["run", "p.toml", "--out", "out", "--json"])
        .expect_code(1);
    let events = run.events();
    let failed = finished(&events, "dynamic");
    assert_eq!(failed["status"], "failed");
    assert_eq!(
        failed["reason"],
        "`for_each` has 1001 items, more than the 1000 a step may have"
    );
}

#[test]
fn a_thousand_items_run_under_a_hard_limit_of_1024_open_files() {
    // One instance per item, every one ready at once: the run must fit them into the slots the
    // descriptors allow, not fail with EMFILE.
    let text = playbook(
        "thousand",
        r#"[[steps]]
id = "list"
run = "seq 1000"
outputs = { n = "stdout" }

[[steps]]
id = "touch"
needs = ["list"]
for_each = "{{steps.list.outputs.n}}"
run = "echo {{item}}"
"#,
    );
    let t = Test::new().file("p.toml", &text);
    let out = crate::util::run_limited(
        &t,
        "ulimit -Sn 1024 && ulimit -Hn 1024",
        "run p.toml --out out --json",
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let events = crate::util::json_lines(&String::from_utf8_lossy(&out.stdout));
    let ok = events
        .iter()
        .filter(|e| {
            e["event"] == "step_finished"
                && e["status"] == "ok"
                && e["step"].as_str().is_some_and(|s| s.starts_with("touch["))
        })
        .count();
    assert_eq!(ok, 1000);
    assert_eq!(
        finished(&events, "touch")["reason"],
        "1000 instances: 1000 ok"
    );
    let logs = std::fs::read_dir(t.path().join("out/logs"))
        .expect("logs")
        .count();
    assert_eq!(logs, 1001, "one log per instance, and the list's");
}

/// Far longer than any of these runs takes; a bound, not a timing.
const LIMIT: std::time::Duration = std::time::Duration::from_secs(60);

fn has_started(dir: &std::path::Path, step: &str) -> bool {
    journal_or_empty(dir)
        .iter()
        .any(|e| e["event"] == "step_started" && e["step"] == step)
}

#[test]
fn ctrl_c_stops_every_running_instance_and_the_cleanup_runs_once_per_item() {
    let sleep = crate::support::marker();
    let text = playbook(
        "interrupted",
        &format!(
            r#"[[steps]]
id = "restore"
for_each = ["a", "b"]
run = "sleep {sleep}"

[[steps]]
id = "drop-scratch"
after = ["restore"]
always = true
for_each = ["a", "b"]
run = "touch dropped.{{{{item}}}}"
"#
        ),
    );
    let t = Test::new().file("p.toml", &text);
    let mut child = crate::util::spawn(t.path(), &["run", "p.toml", "--out", "out", "--json"]);
    let out = t.path().join("out");
    assert!(
        crate::support::wait_until(LIMIT, || has_started(&out, "restore[a]")
            && has_started(&out, "restore[b]")),
        "the instances never started"
    );
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("a pid"));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).expect("runbook is alive");
    assert_eq!(crate::support::exit_code(&mut child, LIMIT), 130);
    let events = crate::util::journal(&out);
    assert_eq!(finished(&events, "restore[a]")["status"], "cancelled");
    assert_eq!(finished(&events, "restore")["status"], "cancelled");
    assert!(out.join("dropped.a").exists() && out.join("dropped.b").exists());
    assert_eq!(
        crate::support::running_with(&sleep),
        Vec::<i32>::new(),
        "an instance's process survived the interrupt"
    );
}

#[test]
fn resume_keeps_the_instances_that_ended_and_runs_the_rest() {
    let text = playbook(
        "resumed",
        r#"[[steps]]
id = "list"
run = "printf 'a\nb\nc\n'"
outputs = { items = "stdout" }

[[steps]]
id = "copy"
needs = ["list"]
for_each = "{{steps.list.outputs.items}}"
run = "echo run >> ../{{item}}.count; [ {{item}} != c ] || { echo waiting-for-go >&2; while [ ! -e ../go ]; do sleep 0.05; done; }; echo copied-{{item}}"
outputs = { done = "stdout" }

[[steps]]
id = "summary"
needs = ["copy"]
run = "echo '{{steps.copy.outputs.done}}' > ../summary"
"#,
    );
    let t = Test::new().file("pb.toml", &text);
    let mut child = crate::util::spawn(t.path(), &["run", "pb.toml", "--out", "run"]);
    let log = t.path().join("run/logs/copy[c].log");
    let waiting = || {
        std::fs::read_to_string(&log).is_ok_and(|l| l.contains("waiting-for-go"))
            && crate::util::count_lines(&t.path().join("a.count")) == 1
            && crate::util::count_lines(&t.path().join("b.count")) == 1
            && journal_or_empty(&t.path().join("run"))
                .iter()
                .filter(|e| e["event"] == "step_finished" && e["status"] == "ok")
                .count()
                >= 3
    };
    assert!(
        crate::support::wait_until(LIMIT, waiting),
        "copy[c] never waited"
    );
    child.kill().expect("kill -9");
    let _ = child.wait();
    std::fs::write(t.path().join("go"), "").expect("go");
    // The crashed instance's shell still runs until it sees `go`: resume waits for it.
    let mut resumed = None;
    let gone = crate::support::wait_until(LIMIT, || {
        let out = runbook()
            .args(["resume", "run", "--yes"])
            .current_dir(t.path())
            .stdin(std::process::Stdio::null())
            .output()
            .expect("runbook runs");
        let still = String::from_utf8_lossy(&out.stderr).contains("still running");
        resumed = Some(out);
        !still
    });
    assert!(gone, "the crashed instance never ended");
    let out = resumed.expect("resumed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        crate::util::count_lines(&t.path().join("a.count")),
        1,
        "copy[a] was kept"
    );
    assert_eq!(
        crate::util::count_lines(&t.path().join("b.count")),
        1,
        "copy[b] was kept"
    );
    assert_eq!(
        crate::util::count_lines(&t.path().join("c.count")),
        2,
        "copy[c] ran again"
    );
    assert_eq!(
        read(&t, "summary"),
        "[\"copied-a\",\"copied-b\",\"copied-c\"]\n",
        "the kept instances' outputs are there"
    );
}

#[test]
fn show_and_diff_say_what_a_step_loops_over() {
    let old = playbook(
        "loop",
        r#"[vars]
databases = ["a"]

[[steps]]
id = "restore"
for_each = "{{vars.databases}}"
run = "true"
"#,
    );
    let new = old
        .replace("run = \"true\"", "max_parallel = 2\nrun = \"true\"")
        .replace(
            "for_each = \"{{vars.databases}}\"",
            "for_each = [\"a\", \"b\"]",
        );
    let t = Test::new().file("old.toml", &old).file("new.toml", &new);
    let show = t.run_args(["show", "new.toml"]).expect_code(0).stdout();
    assert!(
        show.contains(r#"for each item of ["a","b"] (at most 2 at once)"#),
        "{show}"
    );
    let diff = t.run_args(["diff", "old.toml", "new.toml"]).stdout();
    assert!(diff.contains("for_each"), "{diff}");
    assert!(diff.contains("max_parallel"), "{diff}");
}

#[test]
fn confirm_is_asked_per_instance_and_approve_by_the_steps_id_approves_them_all() {
    let text = playbook(
        "confirmed",
        r#"[[steps]]
id = "drop"
for_each = ["a", "b"]
confirm = "Drop scratch database {{item}}?"
run = "touch dropped.{{item}}"
"#,
    );
    let t = Test::new().file("p.toml", &text);
    let run = t
        .run_args([
            "run",
            "p.toml",
            "--out",
            "all",
            "--json",
            "--approve",
            "drop",
        ])
        .expect_code(0);
    let all = run.events();
    let asked: Vec<&Value> = run_events_of(&all, "approval_requested");
    let mut questions: Vec<&str> = asked
        .iter()
        .filter_map(|e| e["question"].as_str())
        .collect();
    questions.sort_unstable();
    assert_eq!(
        questions,
        ["Drop scratch database a?", "Drop scratch database b?"],
        "one question per instance"
    );
    assert!(t.path().join("all/dropped.a").exists() && t.path().join("all/dropped.b").exists());
    // One instance only: the other has nobody to ask and fails.
    let one = t
        .run_args([
            "run",
            "p.toml",
            "--out",
            "one",
            "--json",
            "--approve",
            "drop[a]",
        ])
        .expect_code(1);
    let events = one.events();
    assert_eq!(finished(&events, "drop[a]")["status"], "ok");
    assert_eq!(finished(&events, "drop[b]")["status"], "failed");
    assert!(!t.path().join("one/dropped.b").exists());
}

fn run_events_of<'a>(events: &'a [Value], name: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["event"] == name).collect()
}

#[test]
fn item_wise_chains_over_a_steps_output_go_on_without_each_other() {
    let text = playbook(
        "dynamic-chains",
        r#"[[steps]]
id = "list"
run = "printf 'a\nb\nc\n'"
outputs = { backups = "stdout" }

[[steps]]
id = "checksum"
needs = ["list"]
for_each = "{{steps.list.outputs.backups}}"
on_failure = "continue"
run = """
case {{item}} in
  b) exit 3 ;;
  c) for i in $(seq 400); do [ -e listed.a ] && break; sleep 0.05; done; [ -e listed.a ] || exit 9 ;;
esac
echo sum-{{item}}
"""
outputs = { sum = "stdout" }

[[steps]]
id = "list-contents"
needs = ["checksum"]
for_each = "{{steps.list.outputs.backups}}"
run = "echo {{steps.checksum.outputs.sum}} > listed.{{item}}"
"#,
    );
    let t = Test::new().file("p.toml", &text);
    let run = t
        .run_args(["run", "p.toml", "--out", "out", "--json"])
        .expect_code(0);
    let events = run.events();
    assert_eq!(
        finished(&events, "checksum[c]")["status"],
        "ok",
        "list-contents[a] did not wait for checksum[c]"
    );
    assert_eq!(read(&t, "out/listed.a"), "sum-a\n");
    assert_eq!(read(&t, "out/listed.c"), "sum-c\n");
    assert_eq!(
        finished(&events, "list-contents[b]")["reason"],
        "needs failed step `checksum[b]`"
    );
}

#[test]
fn a_misspelt_item_is_found_with_the_name_it_meant() {
    let text = playbook(
        "misspelt",
        "[[steps]]\nid = \"r\"\nfor_each = [\"a\"]\nrun = \"echo {{itme}}\"\n",
    );
    let run = Test::new()
        .file("p.toml", &text)
        .args(["validate", "p.toml"])
        .run()
        .expect_code(2);
    let err = run.stderr();
    assert!(err.contains("p.toml:7:15: error: unknown template value `itme` in `run` in step `r`, did you mean `item`?"), "{err}");
    assert!(err.contains("`item`, `item_index`"), "{err}");
}
