//! Remote hosts over OpenSSH (v2 section 3), against real `sshd` servers on 127.0.0.1: output
//! and exit codes, `command` probes, the secret that never reaches an argv or the run folder,
//! timeouts and Ctrl-C that leave nothing on the host, host keys, refused connections, and
//! one connection per host per run.

mod fleet;

use std::fmt::Write as _;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use fleet::Fleet;

use crate::support::{command_lines, marker, running_with, wait_until};
use crate::util::{Test, finished, journal, playbook, run_folders, runbook};

/// The only run folder under the test's runs root, and its journal.
fn the_run(t: &Test) -> (std::path::PathBuf, Vec<serde_json::Value>) {
    let folders = run_folders(&t.runs_root());
    assert_eq!(folders.len(), 1, "{folders:?}");
    let events = journal(&folders[0]);
    (folders[0].clone(), events)
}

/// Every event of `step`, which must all name `host`.
fn assert_host_on_every_event(events: &[serde_json::Value], step: &str, host: &str) {
    let of_step: Vec<_> = events.iter().filter(|e| e["step"] == step).collect();
    assert!(!of_step.is_empty(), "no events of {step}");
    for e in of_step {
        assert_eq!(e["host"], host, "an event of {step} without its host: {e}");
    }
}

#[test]
fn a_remote_step_streams_its_output_and_gives_its_exit_code() {
    let fleet = Fleet::start(1, 1);
    let text = playbook(
        "remote",
        &format!(
            "{}\n[[steps]]\nid = \"hello\"\non = \"db\"\non_failure = \"continue\"\nrun = \"\"\"\necho \"out from $0 in $(pwd)\"\necho err >&2\nexit 3\n\"\"\"\n\n[[steps]]\nid = \"local\"\nrun = \"echo here\"\n",
            fleet.host("db", 0)
        ),
    );
    let t = Test::new().file("p.toml", &text);
    let run = t.run_args(["run", "p.toml"]).expect_code(0);
    let (folder, events) = the_run(&t);
    let hello = finished(&events, "hello");
    assert_eq!(hello["status"], "failed");
    assert_eq!(hello["exit_code"], 3);
    assert_eq!(hello["reason"], "exit code 3");
    assert_host_on_every_event(&events, "hello", "db");
    assert!(
        events
            .iter()
            .filter(|e| e["step"] == "local")
            .all(|e| e.get("host").is_none()),
        "a local step names no host"
    );
    // The runner's own host name on run_started is kept apart from the steps' hosts.
    let started = &events[0];
    assert_eq!(started["event"], "run_started");
    assert!(started["host"].is_string());
    let log = std::fs::read_to_string(folder.join("logs/hello.log")).expect("a log");
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".to_owned());
    assert!(log.contains(&format!("out from sh in {home}")), "{log}");
    assert!(log.contains("err"), "{log}");
    // The plain lines name the host of a remote step.
    let stderr = run.stderr();
    assert!(stderr.contains("hello started on db"), "{stderr}");
    // So do the report's timeline and its JSON, rebuilt from the journal.
    let md = std::fs::read_to_string(folder.join("report.md")).expect("a report");
    let row = md
        .lines()
        .find(|l| l.starts_with("| `hello`"))
        .unwrap_or_else(|| panic!("no timeline row: {md}"));
    assert!(row.contains("on `db`"), "{row}");
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(folder.join("report.json")).expect("report.json"),
    )
    .expect("json");
    let row = |id: &str| {
        json["steps"]
            .as_array()
            .expect("steps")
            .iter()
            .find(|s| s["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("no step {id} in report.json"))
    };
    assert_eq!(row("hello")["host"], "db");
    assert!(row("local").get("host").is_none(), "{}", row("local"));
}

#[test]
fn a_remote_command_check_passes_and_fails_on_the_host() {
    let fleet = Fleet::start(1, 1);
    let dir = tempfile::tempdir().expect("temp dir");
    let flag = dir.path().join("flag");
    std::fs::write(&flag, "ready\n").expect("flag");
    let text = playbook(
        "probe",
        &format!(
            "{}\n[[checks]]\nid = \"flag\"\ncommand = \"cat {}\"\nstdout_contains = \"ready\"\non = \"db\"\n\n[[steps]]\nid = \"missing\"\ncheck = {{ command = \"test -e {}/missing\", on = \"db\", timeout = \"3s\", interval = \"500ms\", attempt_timeout = \"5s\" }}\n",
            fleet.host("db", 0),
            flag.display(),
            dir.path().display()
        ),
    );
    let t = Test::new().file("p.toml", &text);
    t.run_args(["run", "p.toml"]).expect_code(1);
    let (_, events) = the_run(&t);
    let flag_checks: Vec<_> = events
        .iter()
        .filter(|e| e["check"] == "flag" && e["event"] == "check_finished")
        .collect();
    assert!(!flag_checks.is_empty());
    for c in &flag_checks {
        assert_eq!(c["passed"], true, "{c}");
        assert_eq!(c["host"], "db");
    }
    let missing = finished(&events, "missing");
    assert_eq!(missing["status"], "failed");
    // The first attempt ran on the host and failed there (the last one may be cut short by
    // the check's own timeout).
    let first = events
        .iter()
        .find(|e| e["event"] == "check_attempt" && e["step"] == "missing")
        .expect("an attempt");
    assert_eq!(first["detail"], "exit code 1", "{first}");
    assert_host_on_every_event(&events, "missing", "db");
}

#[test]
fn a_secret_reaches_the_remote_command_but_no_argv_and_no_file_of_the_run() {
    let fleet = Fleet::start(1, 1);
    let secret = format!("s3cret-{}", std::process::id());
    let dir = tempfile::tempdir().expect("temp dir");
    let (ready, go, got) = (
        dir.path().join("ready"),
        dir.path().join("go"),
        dir.path().join("got"),
    );
    let text = playbook(
        "secret",
        &format!(
            "secrets = [\"RB_TEST_SECRET\"]\n\n[env]\nTOKEN = \"{{{{env.RB_TEST_SECRET}}}}\"\n\n{}\n[[steps]]\nid = \"use\"\non = \"db\"\nenv = {{ ALSO = \"x-{{{{env.RB_TEST_SECRET}}}}\" }}\nrun = \"\"\"\nprintf '%s %s' \"$TOKEN\" \"$ALSO\" > {got}\ntouch {ready}\nwhile [ ! -e {go} ]; do sleep 0.05; done\necho \"token is $TOKEN\"\n\"\"\"\n",
            fleet.host("db", 0),
            got = got.display(),
            ready = ready.display(),
            go = go.display(),
        ),
    );
    let t = Test::new().file("p.toml", &text);
    let child = runbook()
        .args(["run", "p.toml"])
        .env("RB_TEST_SECRET", &secret)
        .current_dir(t.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("runbook starts");
    assert!(
        wait_until(Duration::from_secs(60), || ready.exists()),
        "the remote step never started"
    );
    // While the step runs on the host: no process on this machine (runbook, its ssh client
    // and master, sshd, the remote shells) has the secret in an argument.
    let carriers: Vec<_> = command_lines()
        .into_iter()
        .filter(|(_, args)| args.iter().any(|a| a.contains(&secret)))
        .collect();
    std::fs::write(&go, "").expect("go");
    let output = child.wait_with_output().expect("runbook ends");
    assert!(carriers.is_empty(), "the secret is in argv: {carriers:?}");
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(&got).expect("the remote wrote it"),
        format!("{secret} x-{secret}")
    );
    let (folder, events) = the_run(&t);
    assert_eq!(finished(&events, "use")["status"], "ok");
    for file in walk(&folder) {
        let bytes = std::fs::read(&file).expect("readable");
        assert!(
            !String::from_utf8_lossy(&bytes).contains(&secret),
            "the secret is in {}",
            file.display()
        );
    }
    let log = std::fs::read_to_string(folder.join("logs/use.log")).expect("log");
    assert!(log.contains("token is ***"), "{log}");
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("a folder").flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// A remote shell that ignores TERM, with a grandchild `sleep MARKER` that ignores it too.
fn stubborn(mark: &str) -> String {
    format!("sh -c 'trap \"\" TERM; sleep {mark}' &\ntrap '' TERM\nsleep {mark}\n")
}

#[test]
fn a_timeout_kills_the_remote_group_grandchildren_that_ignore_term_included() {
    let fleet = Fleet::start(1, 1);
    let mark = marker();
    let text = playbook(
        "timeout",
        &format!(
            "{}\n[[steps]]\nid = \"hang\"\non = \"db\"\ntimeout = \"1s\"\nrun = \"\"\"\n{}\"\"\"\n",
            fleet.host("db", 0),
            stubborn(&mark)
        ),
    );
    let t = Test::new().file("p.toml", &text);
    t.run_args(["run", "p.toml"]).expect_code(1);
    let (_, events) = the_run(&t);
    let hang = finished(&events, "hang");
    assert_eq!(hang["reason"], "timed out after 1s");
    let checked = events
        .iter()
        .find(|e| e["event"] == "process_group_checked")
        .expect("the remote group is checked");
    assert_eq!(checked["host"], "db");
    assert_eq!(checked["empty"], true, "{checked}");
    assert!(checked["killed"].as_u64() >= Some(3), "{checked}");
    assert!(checked["pgid"].as_i64() > Some(1), "{checked}");
    let left = running_with(&mark);
    assert!(left.is_empty(), "remote processes survived: {left:?}");
}

#[test]
fn ctrl_c_during_a_remote_step_leaves_no_remote_process_and_no_connection() {
    let fleet = Fleet::start(1, 1);
    let mark = marker();
    let text = playbook(
        "interrupt",
        &format!(
            "{}\n[[steps]]\nid = \"hang\"\non = \"db\"\nrun = \"\"\"\n{}\"\"\"\n",
            fleet.host("db", 0),
            stubborn(&mark)
        ),
    );
    let t = Test::new().file("p.toml", &text);
    let child = runbook()
        .args(["run", "p.toml", "--json"])
        .current_dir(t.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("runbook starts");
    assert!(
        wait_until(Duration::from_secs(60), || running_with(&mark).len() >= 2),
        "the remote step never started"
    );
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let output = child.wait_with_output().expect("runbook ends");
    assert_eq!(
        output.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let left = running_with(&mark);
    assert!(left.is_empty(), "remote processes survived: {left:?}");
    let (_, events) = the_run(&t);
    assert_eq!(finished(&events, "hang")["status"], "cancelled");
    let checked = events
        .iter()
        .find(|e| e["event"] == "process_group_checked")
        .expect("the remote group is checked");
    assert_eq!(
        (&checked["empty"], &checked["host"]),
        (&true.into(), &"db".into())
    );
    // The run's master connection is closed too.
    let port = fleet.servers[0].port.to_string();
    let masters: Vec<_> = command_lines()
        .into_iter()
        .filter(|(_, args)| {
            args.first().is_some_and(|a| a == "ssh") && args.iter().any(|a| a == &port)
        })
        .collect();
    assert!(masters.is_empty(), "ssh processes left: {masters:?}");
}

#[test]
fn an_unknown_host_key_is_refused_with_the_line_that_pins_it() {
    // Server 1 is not in known_hosts.
    let fleet = Fleet::start(2, 1);
    let text = playbook(
        "unpinned",
        &format!(
            "{}\n[[steps]]\nid = \"touch\"\non = \"new\"\nrun = \"touch {}/ran\"\n",
            fleet.host("new", 1),
            fleet.known_hosts().parent().expect("dir").display()
        ),
    );
    let t = Test::new().file("p.toml", &text);
    let run = t.run_args(["run", "p.toml"]).expect_code(1);
    let (_, events) = the_run(&t);
    let touch = finished(&events, "touch");
    let reason = touch["reason"].as_str().expect("a reason");
    let port = fleet.servers[1].port;
    let known = fleet.known_hosts().display().to_string();
    assert!(reason.starts_with("host `new` (`"), "{reason}");
    assert!(reason.contains("is not in"), "{reason}");
    assert!(
        reason.contains(&format!("`ssh-keyscan -p {port} 127.0.0.1 >> {known}`")),
        "{reason}"
    );
    assert_eq!(touch["host"], "new");
    assert!(
        !fleet
            .known_hosts()
            .parent()
            .expect("dir")
            .join("ran")
            .exists()
    );
    assert!(run.stderr().contains("ssh-keyscan"), "{}", run.stderr());
    assert_eq!(fleet.servers[1].logins(), 0);
}

#[test]
fn a_refused_connection_fails_the_step_naming_the_host() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a port")
        .port();
    let text = playbook(
        "refused",
        &format!(
            "[hosts.gone]\nssh = \"nobody@127.0.0.1:{closed}\"\n\n[[steps]]\nid = \"stop\"\non = \"gone\"\nrun = \"true\"\n\n[[steps]]\nid = \"after\"\nneeds = [\"stop\"]\nrun = \"true\"\n"
        ),
    );
    let t = Test::new().file("p.toml", &text);
    t.run_args(["run", "p.toml"]).expect_code(1);
    let (_, events) = the_run(&t);
    let stop = finished(&events, "stop");
    assert_eq!(stop["status"], "failed");
    let reason = stop["reason"].as_str().expect("a reason");
    assert!(
        reason.starts_with(&format!(
            "cannot connect to host `gone` (`nobody@127.0.0.1:{closed}`): "
        )),
        "{reason}"
    );
    assert!(reason.contains("Connection refused"), "{reason}");
    assert_eq!(stop["host"], "gone");
    // Nothing ran there, so there is nothing to undo, and what needs it does not run.
    assert!(!events.iter().any(|e| e["event"] == "process_started"));
    assert_eq!(finished(&events, "after")["status"], "skipped");
}

#[test]
fn five_steps_on_one_host_share_one_connection_which_the_run_closes() {
    let fleet = Fleet::start(3, 3);
    let mut body = fleet.host("db", 0);
    for n in 1..=5 {
        let needs = if n > 1 {
            format!("needs = [\"s{}\"]\n", n - 1)
        } else {
            String::new()
        };
        let _ = write!(
            body,
            "\n[[steps]]\nid = \"s{n}\"\non = \"db\"\n{needs}run = \"echo step {n}\"\n"
        );
    }
    let t = Test::new().file("p.toml", &playbook("five", &body));
    t.run_args(["run", "p.toml"]).expect_code(0);
    let (_, events) = the_run(&t);
    for n in 1..=5 {
        assert_eq!(finished(&events, &format!("s{n}"))["status"], "ok");
    }
    assert_eq!(fleet.servers[0].logins(), 1, "{}", fleet.servers[0].log());
    assert_eq!(fleet.servers[1].logins(), 0);
    let closed = wait_until(Duration::from_secs(10), || {
        fleet.servers[0].log().contains("Disconnected from user")
    });
    assert!(
        closed,
        "the master was not closed: {}",
        fleet.servers[0].log()
    );
}

#[test]
fn a_list_of_hosts_fans_out_into_instances_that_run_at_the_same_time() {
    let fleet = Fleet::start(2, 2);
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path().display();
    // Each instance waits for the other to have started: one after the other, both would
    // wait out their timeout and fail. A start marker appears whole (`mv`), never empty.
    let body = format!(
        "{}{}\n[[steps]]\nid = \"stop\"\non = [\"app-1\", \"app-2\"]\ntimeout = \"60s\"\nrun = \"\"\"\n\
         date +%s%N > {d}/{{{{item}}}}.tmp && mv {d}/{{{{item}}}}.tmp {d}/{{{{item}}}}.start\n\
         other={{{{#if (eq item \"app-1\")}}}}app-2{{{{else}}}}app-1{{{{/if}}}}\n\
         while [ ! -e {d}/$other.start ]; do sleep 0.02; done\n\
         date +%s%N > {d}/{{{{item}}}}.end\n\"\"\"\n\
         \n[[steps]]\nid = \"after\"\nneeds = [\"stop\"]\nrun = \"echo all stopped\"\n",
        fleet.host("app-1", 0),
        fleet.host("app-2", 1),
    );
    let t = Test::new().file("p.toml", &playbook("fanout", &body));
    t.run_args(["run", "p.toml"]).expect_code(0);
    let read = |name: &str| -> u128 {
        std::fs::read_to_string(dir.path().join(name))
            .expect("a marker")
            .trim()
            .parse()
            .expect("nanoseconds")
    };
    // Both started before either ended.
    assert!(read("app-1.start") < read("app-2.end"));
    assert!(read("app-2.start") < read("app-1.end"));
    let (_, events) = the_run(&t);
    assert_host_on_every_event(&events, "stop[app-1]", "app-1");
    assert_host_on_every_event(&events, "stop[app-2]", "app-2");
    assert_eq!(finished(&events, "stop")["status"], "ok");
    assert_eq!(finished(&events, "after")["status"], "ok");
    assert_eq!(fleet.servers[0].logins(), 1);
    assert_eq!(fleet.servers[1].logins(), 1);
}

#[test]
fn relative_key_paths_are_read_from_the_playbook_folder_and_rollback_runs_on_the_host() {
    use std::os::unix::fs::PermissionsExt as _;
    let fleet = Fleet::start(1, 1);
    let dir = tempfile::tempdir().expect("temp dir");
    let undone = dir.path().join("undone");
    let t = Test::new();
    let keys = t.path().join("ops/keys");
    std::fs::create_dir_all(&keys).expect("mkdir");
    std::fs::copy(fleet.client_key(), keys.join("dr")).expect("key");
    std::fs::set_permissions(keys.join("dr"), std::fs::Permissions::from_mode(0o600))
        .expect("chmod");
    std::fs::copy(fleet.known_hosts(), t.path().join("ops/known_hosts")).expect("known_hosts");
    let text = playbook(
        "relative",
        &format!(
            "[vars]\nuser = \"{}\"\n\n[hosts.db]\nssh = \"{{{{vars.user}}}}@127.0.0.1:{}\"\nidentity = \"keys/dr\"\nknown_hosts = \"known_hosts\"\n\n[[steps]]\nid = \"change\"\non = \"db\"\nrun = \"exit 4\"\nrollback = \"echo $RUNBOOK_STEP > {}\"\non_failure = \"rollback\"\n",
            fleet::user(),
            fleet.servers[0].port,
            undone.display()
        ),
    );
    let t = t.file("ops/p.toml", &text);
    t.run_args(["run", "ops/p.toml"]).expect_code(1);
    assert_eq!(
        std::fs::read_to_string(&undone).expect("the rollback ran on the host"),
        "change\n"
    );
    let folders = run_folders(&t.path().join("runs"));
    let events = journal(&folders[0]);
    let rolled = events
        .iter()
        .find(|e| e["event"] == "rollback_finished")
        .expect("a rollback");
    assert_eq!(
        (&rolled["ok"], &rolled["host"]),
        (&true.into(), &"db".into())
    );
}

#[test]
fn plan_show_and_diff_name_the_hosts() {
    let old = playbook(
        "hosts",
        "[hosts.db]\nssh = \"postgres@10.0.4.12\"\n\n[hosts.app-1]\nssh = \"10.0.4.21\"\n\n[hosts.app-2]\nssh = \"10.0.4.22\"\n\n[[steps]]\nid = \"stop\"\non = [\"app-1\", \"app-2\"]\nrun = \"systemctl stop app\"\n\n[[steps]]\nid = \"checkpoint\"\nneeds = [\"stop\"]\non = \"db\"\nrun = \"psql -c checkpoint\"\n",
    );
    let new = old
        .replace("version = \"1.0.0\"", "version = \"1.1.0\"")
        .replace("postgres@10.0.4.12", "postgres@10.0.4.13:2222")
        .replace("on = \"db\"", "on = \"app-1\"");
    let t = Test::new().file("old.toml", &old).file("new.toml", &new);
    let plan = t.run_args(["plan", "old.toml"]).expect_code(0).stdout();
    assert!(
        plan.contains("stop[app-1]") && plan.contains("on app-1"),
        "{plan}"
    );
    assert!(
        plan.contains("stop[app-2]") && plan.contains("on app-2"),
        "{plan}"
    );
    assert!(plan.contains("on db; needs stop"), "{plan}");
    let json = t
        .run_args(["plan", "old.toml", "--format", "json"])
        .expect_code(0)
        .stdout();
    let json: serde_json::Value = serde_json::from_str(&json).expect("json");
    let host = |id: &str| {
        json["steps"]
            .as_array()
            .expect("steps")
            .iter()
            .find(|s| s["id"] == id)
            .map(|s| s["host"].clone())
    };
    assert_eq!(host("stop[app-2]"), Some("app-2".into()));
    assert_eq!(host("checkpoint"), Some("db".into()));
    let show = t.run_args(["show", "old.toml"]).expect_code(0).stdout();
    assert!(
        show.contains("hosts (reached with ssh):\n  db = postgres@10.0.4.12\n"),
        "{show}"
    );
    assert!(show.contains("on app-1, app-2"), "{show}");
    let diff = t
        .run_args(["diff", "old.toml", "new.toml"])
        .expect_code(0)
        .stdout();
    assert!(diff.contains("db.ssh"), "{diff}");
    assert!(diff.contains("postgres@10.0.4.13:2222"), "{diff}");
    assert!(diff.contains("also changed: hosts"), "{diff}");
    assert!(diff.contains("on"), "{diff}");
}

#[test]
fn a_remote_step_retries_and_gives_outputs_to_the_next_step() {
    let fleet = Fleet::start(1, 1);
    let dir = tempfile::tempdir().expect("temp dir");
    let tried = dir.path().join("tried");
    let text = playbook(
        "outputs",
        &format!(
            "{}\n[[steps]]\nid = \"find\"\non = \"db\"\nretries = 1\nretry_delay = \"100ms\"\noutputs = {{ lsn = {{ stdout_regex = 'lsn=(\\S+)' }} }}\nrun = \"\"\"\nif [ ! -e {tried} ]; then touch {tried}; exit 7; fi\necho lsn=0/16B3748\n\"\"\"\n\n[[steps]]\nid = \"use\"\nneeds = [\"find\"]\nrun = \"echo restoring to {{{{steps.find.outputs.lsn}}}}\"\noutputs = {{ said = \"stdout\" }}\n",
            fleet.host("db", 0),
            tried = tried.display()
        ),
    );
    let t = Test::new().file("p.toml", &text);
    t.run_args(["run", "p.toml"]).expect_code(0);
    let (_, events) = the_run(&t);
    let find = finished(&events, "find");
    assert_eq!(find["attempts"], 2);
    assert_eq!(find["outputs"]["lsn"], "0/16B3748");
    let first = events
        .iter()
        .find(|e| e["event"] == "step_attempt_finished" && e["step"] == "find")
        .expect("an attempt");
    assert_eq!(
        (&first["exit_code"], &first["host"]),
        (&7.into(), &"db".into())
    );
    assert_eq!(
        finished(&events, "use")["outputs"]["said"],
        "restoring to 0/16B3748"
    );
    assert_eq!(fleet.servers[0].logins(), 1);
}
