//! Named locks: `[playbook] locks` names the resources a run holds; runs of any playbooks that
//! name the same lock exclude each other, a run takes all its locks or none, and a playbook
//! that names locks no longer excludes its own runs on other resources.

use std::path::Path;
use std::process::Child;
use std::time::Duration;

use crate::support::wait_until;
use crate::util::{Test, playbook, spawn_with_env};

const LIMIT: Duration = Duration::from_secs(60);

/// A playbook whose one step waits (bounded) until `release` exists in `dir`.
fn holder(name: &str, locks: &str, dir: &Path) -> String {
    let dir = dir.display();
    playbook(
        name,
        &format!(
            r#"locks = {locks}
[vars]
host = "db1"
database = "app"

[[steps]]
id = "hold"
run = "touch {dir}/started-{name}; for i in $(seq 1200); do [ -e {dir}/release ] && exit 0; sleep 0.05; done; exit 1"
"#
        ),
    )
}

struct Running {
    child: Child,
}

impl Running {
    fn start(t: &Test, file: &str, name: &str, extra: &[&str]) -> Self {
        let root = t.runs_root();
        let root = root.to_str().expect("utf-8 path");
        let mut args = vec!["run", file, "--json"];
        args.extend_from_slice(extra);
        let child = spawn_with_env(t.path(), &args, &[("RUNBOOK_RUNS", root)]);
        let started = t.path().join(format!("started-{name}"));
        let up = wait_until(LIMIT, || started.exists());
        let mut running = Self { child };
        if !up {
            running.stop();
            panic!("{name} never started");
        }
        running
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Lets the step end and waits for the run's exit code.
    fn release(mut self, dir: &Path) -> Option<i32> {
        std::fs::write(dir.join("release"), "").expect("release");
        let mut code = None;
        let exited = wait_until(LIMIT, || {
            code = self.child.try_wait().ok().flatten().map(|s| s.code());
            code.is_some()
        });
        if !exited {
            self.stop();
        }
        code.flatten()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            self.stop();
        }
    }
}

#[test]
fn two_playbooks_naming_one_lock_exclude_each_other() {
    let t = Test::new();
    let dir = t.path().to_path_buf();
    let t = t
        .file(
            "restore.toml",
            &holder("restore", r#"["pg:{{vars.host}}"]"#, &dir),
        )
        .file(
            "vacuum.toml",
            &holder("vacuum", r#"["pg:{{vars.host}}"]"#, &dir),
        );
    let first = Running::start(&t, "restore.toml", "restore", &[]);
    let second = t.run_args(["run", "vacuum.toml", "--json"]).expect_code(3);
    let err = second.stderr();
    assert!(err.contains("the lock `pg:db1` is held: run "), "{err}");
    assert!(err.contains("restore"), "names the holder's run: {err}");

    // Another host is another resource: it runs while the first still holds pg:db1.
    let other = Running::start(&t, "vacuum.toml", "vacuum", &["--var", "host=db2"]);
    assert_eq!(other.release(t.path()), Some(0));
    assert_eq!(first.release(t.path()), Some(0));
}

#[test]
fn runs_of_one_playbook_on_different_resources_do_not_exclude_each_other() {
    let t = Test::new();
    let dir = t.path().to_path_buf();
    let t = t.file(
        "p.toml",
        &holder("per-db", r#"["db:{{vars.database}}"]"#, &dir),
    );
    let first = Running::start(&t, "p.toml", "per-db", &[]);
    // The playbook's own lock is not taken when it names locks: a second database may go.
    let same = t.run_args(["run", "p.toml", "--json"]).expect_code(3);
    assert!(
        same.stderr().contains("the lock `db:app` is held"),
        "{}",
        same.stderr()
    );
    let listed = t.run_args(["runs"]).expect_code(0).stdout();
    assert!(
        listed.contains("running"),
        "runs sees the live run by its named lock: {listed}"
    );
    std::fs::write(t.path().join("release"), "").expect("release");
    t.run_args(["run", "p.toml", "--json", "--var", "database=billing"])
        .expect_code(0);
    assert_eq!(first.release(t.path()), Some(0));
}

#[test]
fn a_run_takes_all_its_locks_or_none() {
    let t = Test::new();
    let dir = t.path().to_path_buf();
    let t = t
        .file("b.toml", &holder("holds-b", r#"["b"]"#, &dir))
        .file("ab.toml", &holder("wants-ab", r#"["a", "b"]"#, &dir))
        .file("a.toml", &holder("wants-a", r#"["a"]"#, &dir));
    let b = Running::start(&t, "b.toml", "holds-b", &[]);
    t.run_args(["run", "ab.toml", "--json"]).expect_code(3);
    // `a` was not kept by the refused run: a run that needs only `a` goes at once.
    let named = t.runs_root().join(".locks/named");
    let files: Vec<String> = std::fs::read_dir(&named)
        .expect("named locks")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(files.len(), 1, "only b's lock is held: {files:?}");
    assert!(files[0].starts_with("b-"), "{files:?}");
    std::fs::write(t.path().join("release"), "").expect("release");
    t.run_args(["run", "a.toml", "--json"]).expect_code(0);
    assert_eq!(b.release(t.path()), Some(0));
}

#[test]
fn locks_are_validated_as_templates_of_vars() {
    let run = Test::new()
        .file(
            "p.toml",
            &playbook(
                "bad-locks",
                "locks = [\"pg:{{vars.hots}}\", \"{{steps.a.outputs.x}}\"]\n[vars]\nhost = \"h\"\n[[steps]]\nid = \"a\"\nrun = \"true\"\n",
            ),
        )
        .args(["validate", "p.toml"])
        .run()
        .expect_code(2);
    let err = run.stderr();
    assert!(err.contains("p.toml:4:"), "{err}");
    assert!(err.contains("hots"), "{err}");
    assert!(err.contains("did you mean `host`?"), "{err}");
    assert!(
        err.contains("`locks` of [playbook] cannot use `steps.a`"),
        "{err}"
    );
}

#[test]
fn a_nested_playbook_takes_the_locks_it_names_and_its_parents_are_no_conflict() {
    let t = Test::new();
    let dir = t.path().to_path_buf();
    let child = |locks: &str| {
        playbook(
            "child",
            &format!("locks = {locks}\n[[steps]]\nid = \"work\"\nrun = \"true\"\n"),
        )
    };
    let parent = playbook(
        "parent",
        "locks = [\"db:app\"]\n[[steps]]\nid = \"nested\"\nplaybook = \"child\"\n",
    );
    // The parent holds db:app; the child naming it too is the same run, not a conflict.
    let t = t
        .file("parent.toml", &parent)
        .file("child.toml", &child(r#"["db:app"]"#))
        .file("holder.toml", &holder("holder", r#"["cache"]"#, &dir));
    t.run_args(["run", "parent.toml", "--json"]).expect_code(0);

    // A lock the child names that another run holds fails the nested step, naming it.
    std::fs::write(t.path().join("child.toml"), child(r#"["db:app", "cache"]"#)).expect("write");
    let other = Running::start(&t, "holder.toml", "holder", &[]);
    let run = t.run_args(["run", "parent.toml", "--json"]).expect_code(1);
    let nested = crate::util::finished(&run.events(), "nested").clone();
    assert_eq!(nested["status"], "failed");
    let reason = nested["reason"].as_str().unwrap_or_default().to_owned();
    assert!(reason.contains("the lock `cache` is held"), "{reason}");
    assert_eq!(other.release(t.path()), Some(0));
    // Nothing of the failed attempt stays held: the child runs once the holder is gone.
    t.run_args(["run", "parent.toml", "--json"]).expect_code(0);
}
