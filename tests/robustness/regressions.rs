//! The inputs that once crashed, hung or took quadratic time, kept in
//! `tests/fixtures/regressions/`: each is validated and planned by the real binary, and in
//! process, with no panic and either success or diagnostics at `FILE:LINE:COL`.

use std::time::Duration;

use super::{assert_located, finish_within, spawn};
use crate::util::root;

// See: #11
#[test]
fn regression_fixtures_validate_and_plan_without_panicking() {
    let mut seen = 0;
    insta::glob!("../fixtures/regressions", "*.toml", |path| {
        seen += 1;
        let relative = path
            .strip_prefix(root())
            .expect("inside the repo")
            .to_string_lossy()
            .into_owned();
        for command in ["validate", "plan"] {
            let out = finish_within(
                spawn(root(), &[command, relative.as_str()]),
                Duration::from_secs(120),
                &format!("{command} {relative}"),
            );
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(!stderr.contains("panicked"), "{relative}: {stderr}");
            match out.status.code() {
                Some(0) => {}
                Some(2) => assert_located(&stderr, &relative),
                other => panic!("{command} {relative}: exit {other:?}\n{stderr}"),
            }
        }
        let bytes = std::fs::read(path).expect("a fixture");
        super::fuzz::check(Path::new(&relative), bytes)
            .unwrap_or_else(|e| panic!("{relative}: {e}"));
    });
    assert!(seen >= 5, "the regression fixtures are found");
}
