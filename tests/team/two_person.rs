//! The two-person rule with real OS users: throwaway users and a group made with `useradd` and
//! `groupadd` (so only as root; the tests say so and stop otherwise), each approving with
//! `runuser -u USER -- runbook approve …` through a run folder their group may write; and two
//! approvals at the same moment, 50 times over, each counted once in a journal that stays whole.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use super::{cli, events, expect, finish, gated, id_un, of, out, start, text, wait_for_request};
use crate::util::{Test, finished, playbook};

/// `approvers = 2, not_commander = true` on the gate.
const TWO_PEOPLE: &str =
    r#"{ text = "Drop the old replica?", approvers = 2, not_commander = true }"#;

/// Throwaway OS users in a throwaway group, removed when dropped.
struct Team {
    group: String,
    users: Vec<String>,
    /// A copy of the binary they may run (the build folder may be private to root).
    bin: PathBuf,
    bin_dir: tempfile::TempDir,
}

impl Team {
    /// `None` (after saying why) when this process cannot make users.
    fn new(n: usize) -> Option<Self> {
        if !nix::unistd::Uid::effective().is_root() {
            eprintln!("skipped: making throwaway OS users needs root (CI runs as root)");
            return None;
        }
        let tag = format!("{:x}", std::process::id() ^ rand_tag());
        let group = format!("rbk{tag}g");
        assert!(
            Command::new("groupadd")
                .arg(&group)
                .status()
                .expect("groupadd")
                .success(),
            "groupadd {group}"
        );
        let mut team = Self {
            group: group.clone(),
            users: Vec::new(),
            bin: PathBuf::new(),
            bin_dir: tempfile::tempdir().expect("tempdir"),
        };
        for i in 0..n {
            let user = format!("rbk{tag}u{i}");
            let made = Command::new("useradd")
                .args(["-M", "-N", "-g", &group, "-s", "/usr/sbin/nologin", &user])
                .status()
                .expect("useradd");
            assert!(made.success(), "useradd {user}");
            team.users.push(user);
        }
        let dir = team.bin_dir.path();
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        team.bin = dir.join("runbook");
        std::fs::copy(assert_cmd::cargo::cargo_bin("runbook"), &team.bin).expect("copy");
        std::fs::set_permissions(&team.bin, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        Some(team)
    }

    /// `runbook ARGS` as OS user `user`, in `dir`.
    fn command(&self, user: &str, dir: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", user, "--"])
            .arg(&self.bin)
            .args(args)
            .current_dir(dir)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    fn approve(&self, user: &str, dir: &Path, args: &[&str]) -> Output {
        let mut all = vec!["approve"];
        all.extend_from_slice(args);
        self.command(user, dir, &all)
            .output()
            .expect("runuser runs")
    }

    /// A test folder the users can reach, and `name` in it a run folder their group may write
    /// (group-owned, setgid, 2770), as the shared-ops-group setup in docs/safety.md says.
    fn shared_folder(&self, t: &Test, name: &str) -> PathBuf {
        for d in [t.path().parent().expect("parent"), t.path()] {
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        }
        let dir = t.path().join(name);
        std::fs::create_dir(&dir).expect("mkdir");
        let gid = nix::unistd::Group::from_name(&self.group)
            .expect("getgrnam")
            .expect("the group exists")
            .gid;
        nix::unistd::chown(&dir, None, Some(gid)).expect("chgrp");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o2770)).expect("chmod");
        dir
    }
}

impl Drop for Team {
    fn drop(&mut self) {
        for user in &self.users {
            let _ = Command::new("userdel").arg(user).status();
        }
        let _ = Command::new("groupdel").arg(&self.group).status();
    }
}

/// A little variety between test binaries run at once.
fn rand_tag() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos())
        & 0xfff
}

#[test]
fn two_different_os_users_approve_and_the_commander_and_yes_cannot() {
    let Some(team) = Team::new(2) else { return };
    let t = Test::new().file("p.toml", &gated("", TWO_PEOPLE));
    let folder = team.shared_folder(&t, "out");
    // `--yes` does not satisfy the rule: the run waits all the same.
    let run = start(&t, &["--yes", "--wait-for-approval"]);
    wait_for_request(&folder, "gate");
    let run_arg = folder.display().to_string();
    assert!(of(&events(&folder), "approval_given").is_empty());
    let answers = folder.join("answers");
    let mode = std::fs::metadata(&answers)
        .expect("answers/")
        .permissions()
        .mode();
    assert_eq!(
        mode & 0o3070,
        0o3070,
        "group-writable, setgid, sticky: {mode:o}"
    );

    let own = cli(t.path(), &["approve", &run_arg, "gate"]);
    expect(&own, 3);
    assert!(
        text(&own.stderr).contains(&format!(
            "OS user `{}` started this run, and step `gate` needs the approval of someone else (`not_commander`)",
            id_un()
        )),
        "{}",
        text(&own.stderr)
    );
    let (a, b) = (&team.users[0], &team.users[1]);
    let first = team.approve(a, t.path(), &[&run_arg, "gate", "--as", "Ann"]);
    expect(&first, 0);
    assert_eq!(
        text(&first.stdout),
        "approval 1 of 2 recorded for step `gate`: it waits for 1 more approval\n"
    );
    let again = team.approve(a, t.path(), &[&run_arg, "gate", "--as", "Ann again"]);
    expect(&again, 3);
    assert!(text(&again.stderr).contains(&format!("OS user `{a}` approved step `gate` already")));
    let second = team.approve(b, t.path(), &[&run_arg, "gate"]);
    expect(&second, 0);
    assert_eq!(text(&second.stdout), "approved step `gate`\n");
    expect(&finish(run), 0);

    let ev = events(&folder);
    let refused: Vec<&str> = of(&ev, "approval_refused")
        .iter()
        .map(|e| e["os_user"].as_str().expect("os_user"))
        .collect();
    assert_eq!(refused, [id_un().as_str(), a.as_str()]);
    let received = of(&ev, "approval_received");
    assert_eq!(received.len(), 1);
    assert_eq!(received[0]["os_user"], a.as_str());
    assert_eq!(received[0]["by"], "Ann");
    assert_eq!(received[0]["count"], 1);
    assert_eq!(received[0]["needed"], 2);
    let given = of(&ev, "approval_given");
    assert_eq!(given.len(), 1);
    assert_eq!(given[0]["how"], "remote");
    let approvers: Vec<(&str, &str)> = given[0]["approvers"]
        .as_array()
        .expect("approvers")
        .iter()
        .map(|p| {
            (
                p["by"].as_str().expect("by"),
                p["os_user"].as_str().expect("os"),
            )
        })
        .collect();
    assert_eq!(approvers, [("Ann", a.as_str()), (b.as_str(), b.as_str())]);
    assert_eq!(finished(&ev, "gate")["status"], "ok");
    let report = std::fs::read_to_string(folder.join("report.md")).expect("report");
    assert!(
        report.contains(&format!("Ann (OS user {a}), {b} (OS user {b})")),
        "{report}"
    );
    assert!(report.contains("Approvals the run refused"), "{report}");
}

#[test]
fn two_approvals_at_the_same_moment_are_each_counted_once() {
    let Some(team) = Team::new(2) else { return };
    let body = playbook(
        "together",
        r#"
[[steps]]
id = "gate"
confirm = { text = "Fail over?", approvers = 2 }
run = "echo failing over"
"#,
    );
    let t = Test::new().file("p.toml", &body);
    // Bounded: 50 runs, each answered by both users at once.
    for attempt in 0..50 {
        let name = format!("out-{attempt}");
        let folder = team.shared_folder(&t, &name);
        let run = crate::util::spawn(
            t.path(),
            &["run", "p.toml", "--out", &name, "--wait-for-approval"],
        );
        wait_for_request(&folder, "gate");
        let run_arg = folder.display().to_string();
        let both: Vec<_> = team
            .users
            .iter()
            .map(|u| {
                team.command(u, t.path(), &["approve", &run_arg, "gate"])
                    .spawn()
                    .expect("runuser starts")
            })
            .collect();
        for approve in both {
            expect(&approve.wait_with_output().expect("approve ends"), 0);
        }
        expect(&finish(run), 0);
        // Every line parses (`journal` panics on one that does not).
        let ev = events(&folder);
        assert_eq!(of(&ev, "approval_received").len(), 1, "attempt {attempt}");
        let given = of(&ev, "approval_given");
        assert_eq!(given.len(), 1, "attempt {attempt}");
        let mut users: Vec<&str> = given[0]["approvers"]
            .as_array()
            .expect("approvers")
            .iter()
            .map(|p| p["os_user"].as_str().expect("os_user"))
            .collect();
        users.sort_unstable();
        let mut expected: Vec<&str> = team.users.iter().map(String::as_str).collect();
        expected.sort_unstable();
        assert_eq!(users, expected, "attempt {attempt}");
    }
}

#[test]
fn without_leave_to_wait_yes_cannot_pass_a_two_person_rule() {
    let t = Test::new().file("p.toml", &gated("", TWO_PEOPLE));
    expect(&finish(start(&t, &["--yes"])), 1);
    let ev = events(&out(&t));
    let reason = finished(&ev, "gate")["reason"]
        .as_str()
        .expect("reason")
        .to_owned();
    assert!(
        reason.contains("needs the approval of 2 different OS users")
            && reason.contains("(`--yes` and `--approve` cannot give it)")
            && reason.contains("--wait-for-approval"),
        "{reason}"
    );
    assert!(of(&ev, "approval_given").is_empty());

    let flag = t
        .run_args(["run", "p.toml", "--approve", "gate"])
        .expect_code(2);
    assert!(
        flag.stderr()
            .contains("`--approve gate` cannot approve step `gate`")
    );
}
