//! `runbook watch RUN`: a live run followed to its end (exit 0 and 1, as the run), a finished
//! run's summary at once, and a crashed run that must not make it hang.

use std::process::{Child, Stdio};

use super::{cli, expect, finish, gated, out, start, text, wait_for_request};
use crate::util::{Test, runbook};

fn watch(t: &Test) -> Child {
    runbook()
        .args(["watch", "out"])
        .current_dir(t.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("watch starts")
}

#[test]
fn watch_follows_a_live_run_to_its_end_and_exits_with_its_code() {
    for (answer, code, last) in [("approve", 0, "run ok in"), ("decline", 1, "run failed")] {
        let t = Test::new().file("p.toml", &gated("", "\"Go on?\""));
        let run = start(&t, &["--wait-for-approval"]);
        wait_for_request(&out(&t), "gate");
        let follower = watch(&t);
        expect(&cli(t.path(), &[answer, "out", "gate"]), 0);
        expect(&finish(run), code);
        let watched = finish(follower);
        expect(&watched, code);
        let lines = text(&watched.stderr);
        assert!(lines.contains("gate waits for `runbook approve"), "{lines}");
        assert!(lines.contains(last), "{lines}");

        // Over: the summary at once, with the same exit code.
        let again = finish(watch(&t));
        expect(&again, code);
        let summary = text(&again.stderr);
        assert!(summary.contains(last), "{summary}");
        assert!(
            !summary.contains("waits for"),
            "a summary, not the whole story: {summary}"
        );
    }
}

#[test]
fn watch_says_a_crashed_run_stopped_instead_of_waiting_for_it() {
    let t = Test::new().file("p.toml", &gated("", "\"Go on?\""));
    let mut run = start(&t, &["--wait-for-approval"]);
    wait_for_request(&out(&t), "gate");
    let follower = watch(&t);
    run.kill().expect("kill -9");
    run.wait().expect("reaped");
    let watched = finish(follower);
    expect(&watched, 1);
    assert!(
        text(&watched.stderr).contains(
            "run `out` stopped without finishing: its process is gone (it crashed or was killed); continue it with `runbook resume out`"
        ),
        "{}",
        text(&watched.stderr)
    );
    // And a second look at it says the same at once.
    expect(&finish(watch(&t)), 1);
}
