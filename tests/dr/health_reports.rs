//! `verification-report` and `morning-health-check` over the real runs of a restore drill in
//! one runs root: both pass after a good week, both fail (and say why) once a drill failed.

use crate::support::{HttpStub, Reply};

use super::postgres::Server;
use super::s3;
use super::scenario::{Outcome, Scenario, vars};

/// The detail of the history check that `step` ran, as the journal recorded it.
fn history_detail(run: &Outcome, step: &str) -> String {
    let attempts = run.events("check_attempt");
    let attempt = attempts
        .iter()
        .rev()
        .find(|e| e["step"] == step || e["check"] == step)
        .unwrap_or_else(|| panic!("no check_attempt of `{step}`: {attempts:?}"));
    attempt["detail"].as_str().unwrap_or_default().to_owned()
}

#[test]
#[expect(
    clippy::too_many_lines,
    reason = "one scenario, read top to bottom: the setup, the run, then what it left"
)]
fn reports_pass_on_a_good_week_and_name_what_failed_after_a_failed_drill() {
    let db = Server::shared().database("health_reports");
    let storage = s3::Server::shared();
    let bucket = storage.bucket("health-reports");
    let s = Scenario::new();
    let backups = s.var_path("backups");
    let mut backup_args = db.vars();
    backup_args.extend(vars(&[("backup_dir", &backups)]));
    s.run("postgres-backup", &backup_args).expect_code(0);
    // The off-site copy, in one call (postgres-backup's own upload is tested elsewhere).
    storage.aws(&[
        "s3",
        "cp",
        "--recursive",
        "--only-show-errors",
        &backups,
        &format!("s3://{bucket}/postgres/"),
    ]);
    let mut drill_args = db.vars();
    drill_args.extend(vars(&[("backup_dir", &backups)]));
    s.run("postgres-restore-drill", &drill_args).expect_code(0);

    let report_args = vars(&[("bucket", &bucket), ("endpoint_url", &storage.endpoint())]);
    let good = s.run("verification-report", &report_args).expect_code(0);
    assert_eq!(good.output("restore-durations", "drills"), "1");
    assert!(
        good.output("restore-durations", "restores")
            .starts_with("restores=1 fastest="),
        "{}",
        good.output("restore-durations", "restores")
    );
    assert_eq!(
        good.output("storage-used", "objects"),
        "3",
        "dump, sha256, manifest"
    );
    assert_eq!(good.status("drill-success-rate"), "ok");
    assert!(
        good.report().contains("1 ok, success 100.0%"),
        "{}",
        good.report()
    );

    let api = HttpStub::start(vec![Reply::ok("ok")]);
    let check_args = |api: &HttpStub| {
        vars(&[
            ("backup_dir", &backups),
            ("disk_path", &backups),
            ("min_free_pct", "1"),
            (
                "services",
                &format!(
                    r#"[{{ name = "api", url = "{}" }}]"#,
                    api.url_for("/health")
                ),
            ),
        ])
    };
    let morning = s
        .run("morning-health-check", &check_args(&api))
        .expect_code(0);
    assert!(morning.log("verdict").contains("all healthy"));
    assert!(
        morning
            .log("backups-fresh")
            .contains("newest backup: health_reports-")
    );
    assert!(morning.log("services").contains("api: healthy (200)"));
    assert_eq!(api.requests().len(), 1);

    // A drill fails: the week's rate drops to 50%, and the morning check says so, with the
    // service that went down.
    drill_args.extend(vars(&[("pick", "oldest")]));
    s.run("postgres-restore-drill", &drill_args).expect_code(1);

    let bad = s.run("verification-report", &report_args).expect_code(1);
    assert_eq!(bad.status("drill-success-rate"), "failed");
    let detail = history_detail(&bad, "drill-success-rate");
    assert!(
        detail.contains("2 runs of `postgres-restore-drill` in 7d, 1 ok, success 50.0% (below min_success_rate 95.0%)"),
        "{detail}"
    );
    // The summaries were gathered before the verdict, so the failing report has them too.
    assert_eq!(bad.output("restore-durations", "drills"), "2");
    assert!(
        bad.report().contains("restores=1 fastest="),
        "{}",
        bad.report()
    );
    assert_eq!(bad.run_finished()["status"], "failed");

    let down = HttpStub::start(vec![Reply::status(503)]);
    let morning = s
        .run("morning-health-check", &check_args(&down))
        .expect_code(1);
    assert_eq!(morning.status("backups-fresh"), "ok");
    assert_eq!(morning.status("disk-free"), "ok");
    assert_eq!(morning.status("last-drill"), "failed");
    assert!(
        morning.log("services").contains("api: UNHEALTHY"),
        "{}",
        morning.log("services")
    );
    assert!(
        morning
            .stderr()
            .contains("not healthy: last-drill services")
            || morning
                .log("verdict")
                .contains("not healthy: last-drill services"),
        "{}",
        morning.log("verdict")
    );
    assert_eq!(morning.run_finished()["status"], "failed");
}

#[test]
fn a_backup_copied_today_is_as_old_as_the_time_it_was_taken() {
    // See: #14 (newest and fresh by the time a backup was taken, the UTC time in its name, as
    // postgres-restore reads it; the copy's modification time is today)
    let s = Scenario::new();
    let backups = s.path("backups");
    std::fs::create_dir_all(&backups).expect("mkdir");
    let taken = (chrono::Utc::now() - chrono::Duration::days(30)).format("%Y%m%dT%H%M%SZ");
    let name = format!("shop-{taken}-postgres-backup-0a0a.dump");
    std::fs::write(backups.join(&name), "a backup copied back from the archive").expect("write");
    let api = HttpStub::start(vec![Reply::ok("ok")]);
    let dir = backups.to_str().expect("utf-8");
    let run = s
        .run(
            "morning-health-check",
            &vars(&[
                ("backup_dir", dir),
                ("disk_path", dir),
                ("min_free_pct", "1"),
                (
                    "services",
                    &format!(
                        r#"[{{ name = "api", url = "{}" }}]"#,
                        api.url_for("/health")
                    ),
                ),
            ]),
        )
        .expect_code(1);
    assert_eq!(run.status("backups-fresh"), "failed");
    let log = run.log("backups-fresh");
    assert!(
        log.contains(&format!(
            "the newest backup {name} is 720h old, more than 26h"
        )),
        "{log}"
    );
    assert_eq!(run.status("services"), "ok", "the other checks still ran");
}
