//! The new keys as `show`, `plan` and `diff` tell them (their mistakes are fixtures in
//! tests/fixtures/invalid, their valid forms in tests/fixtures/valid/team-approvals.toml).

use crate::util::{Test, root};

const FIXTURE: &str = "tests/fixtures/valid/team-approvals.toml";

#[test]
fn show_and_plan_name_the_two_person_rule_and_the_timeout() {
    let t = Test::new().in_repo();
    let show = t.run_args(["show", FIXTURE]).expect_code(0);
    assert!(
        show.stdout()
            .contains("confirm: Take a snapshot of {{vars.db}}? (declined after 15m unanswered)"),
        "{}",
        show.stdout()
    );
    assert!(
        show.stdout().contains(
            "confirm: Drop the old replica of {{vars.db}}? (2 approvers, not the commander)"
        ),
        "{}",
        show.stdout()
    );
    let plan = t.run_args(["plan", FIXTURE]).expect_code(0);
    assert!(
        plan.stdout()
            .contains("confirm (2 approvers, not the commander)"),
        "{}",
        plan.stdout()
    );
}

#[test]
fn diff_shows_a_confirm_becoming_a_two_person_rule() {
    let v1 = std::fs::read_to_string(root().join(FIXTURE)).expect("fixture");
    let v2 = v1
        .replace("version = \"1.0.0\"", "version = \"1.1.0\"")
        .replace(
            "confirm = \"Take a snapshot of {{vars.db}}?\"",
            "confirm = { text = \"Take a snapshot of {{vars.db}}?\", approvers = 3 }",
        )
        .replace("confirm_timeout = \"15m\"", "confirm_timeout = \"30m\"");
    let t = Test::new().file("v1.toml", &v1).file("v2.toml", &v2);
    let diff = t.run_args(["diff", "v1.toml", "v2.toml"]).expect_code(0);
    let out = diff.stdout();
    assert!(out.contains("confirm.approvers"), "{out}");
    assert!(out.contains("confirm_timeout"), "{out}");
    assert!(out.contains('3') && out.contains("30m"), "{out}");
}
