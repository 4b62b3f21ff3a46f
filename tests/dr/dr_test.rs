//! `dr-test`: the quarterly test composed of nested playbooks: a restore drill per database in
//! parallel, a service recovery, the review's answers in the report, the report published to
//! the bucket.

use super::postgres::{SEEDED, Server};
use super::s3;
use super::scenario::{Scenario, vars};
use super::services::{StopOnDrop, free_ports};
use super::tools;

#[test]
#[expect(
    clippy::too_many_lines,
    reason = "one scenario, read top to bottom: the setup, the run, then what it left"
)]
fn the_quarterly_test_drills_every_database_recovers_services_and_publishes_its_report() {
    tools::require_all(&["python3", "curl"]);
    let server = Server::shared();
    let dbs = [server.database("drt_a"), server.database("drt_b")];
    let storage = s3::Server::shared();
    let bucket = storage.bucket("dr-test");
    let s = Scenario::new();
    let backups = s.var_path("backups");
    let databases = r#"["drt_a", "drt_b"]"#;
    let connection = [
        ("host", "127.0.0.1".to_owned()),
        ("port", server.port().to_string()),
        ("databases", databases.to_owned()),
        ("backup_dir", backups.clone()),
    ];
    let pairs: Vec<(&str, &str)> = connection.iter().map(|(k, v)| (*k, v.as_str())).collect();
    s.run("postgres-backup", &vars(&pairs)).expect_code(0);
    // The off-site copies the drills restore from, in one call.
    storage.aws(&[
        "s3",
        "cp",
        "--recursive",
        "--only-show-errors",
        &backups,
        &format!("s3://{bucket}/postgres/"),
    ]);

    let port = free_ports(1)[0];
    let out = s.path("runs/2-dr-test");
    let _services = StopOnDrop::new(&out.join("services"));
    let tiers = format!(
        r#"[{{ name = "web", start = "", health = "http://127.0.0.1:{port}/health", optional = false }}]"#
    );
    let smoke = format!("http://127.0.0.1:{port}/");
    let endpoint = storage.endpoint();
    let mut all = pairs.clone();
    all.extend([
        ("tiers", tiers.as_str()),
        ("smoke_url", smoke.as_str()),
        ("bucket", bucket.as_str()),
        ("endpoint_url", endpoint.as_str()),
    ]);
    let mut args = vars(&all);
    args.extend(
        [
            "--input",
            "review.issues=drt_b's restore was the slowest",
            "--input",
            "review.recommendations=raise pg_restore --jobs for drt_b",
        ]
        .map(String::from),
    );
    let run = s.run("dr-test", &args).expect_code(0);
    assert_eq!(run.folder(), out);

    for db in ["drt_a", "drt_b"] {
        assert_eq!(run.status(&format!("drill[{db}]")), "ok", "{db}");
        assert_eq!(
            run.status(&format!("drill[{db}]/drop-scratch")),
            "ok",
            "{db}"
        );
        let scratch = run.output(&format!("drill[{db}]/create-scratch"), "database");
        assert!(!server.has_database(&scratch), "{scratch} is left behind");
    }
    for db in &dbs {
        assert_eq!(db.counts(), SEEDED, "the sources were only read");
    }
    assert_eq!(run.status("services"), "ok");
    assert_eq!(run.status("services/smoke-test"), "ok");
    assert_eq!(run.output("summary", "drills_failed"), "0");
    let report = run.report();
    assert!(
        report.contains("drt_b's restore was the slowest"),
        "{report}"
    );
    assert!(
        report.contains("raise pg_restore --jobs for drt_b"),
        "{report}"
    );
    for objective in ["RTO", "RPO"] {
        let row = run.objective_row(objective);
        assert!(row.ends_with("| met |"), "{row}");
    }
    assert!(report.contains("| Drill lead |"), "{report}");
    assert!(
        run.folder().join("work/drt_a/downloads").is_dir(),
        "drilled from the bucket"
    );

    // The report and its JSON are published under dr-reports/.
    let run_id = run.journal()[0]["run_id"]
        .as_str()
        .expect("a run id")
        .to_owned();
    let published: Vec<String> = storage
        .objects(&bucket, "dr-reports/")
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(
        published,
        [
            format!("dr-reports/{run_id}.json"),
            format!("dr-reports/{run_id}.md")
        ]
    );
    assert_eq!(run.events("report_published").len(), 1);
    assert_eq!(run.run_finished()["status"], "ok");
}

#[test]
fn a_drill_that_fails_fails_the_test_leaves_no_scratch_database_and_still_publishes() {
    tools::require_all(&["python3", "curl"]);
    let server = Server::shared();
    let _dbs = [server.database("drf_a"), server.database("drf_b")];
    let storage = s3::Server::shared();
    let bucket = storage.bucket("dr-test-failing");
    let s = Scenario::new();
    let backups = s.var_path("backups");
    let connection = [
        ("host", "127.0.0.1".to_owned()),
        ("port", server.port().to_string()),
        ("databases", r#"["drf_a", "drf_b"]"#.to_owned()),
        ("backup_dir", backups.clone()),
    ];
    let pairs: Vec<(&str, &str)> = connection.iter().map(|(k, v)| (*k, v.as_str())).collect();
    s.run("postgres-backup", &vars(&pairs)).expect_code(0);
    // drf_b's only backup is damaged after its checksum was taken: its drill cannot restore it.
    let dump = std::fs::read_dir(format!("{backups}/drf_b"))
        .expect("drf_b's backups")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "dump"))
        .expect("a dump of drf_b");
    std::fs::write(&dump, b"not a dump").expect("damage the dump");
    storage.aws(&[
        "s3",
        "cp",
        "--recursive",
        "--only-show-errors",
        &backups,
        &format!("s3://{bucket}/postgres/"),
    ]);

    let port = free_ports(1)[0];
    let out = s.path("runs/2-dr-test");
    let _services = StopOnDrop::new(&out.join("services"));
    let tiers = format!(
        r#"[{{ name = "web", start = "", health = "http://127.0.0.1:{port}/health", optional = false }}]"#
    );
    let smoke = format!("http://127.0.0.1:{port}/");
    let endpoint = storage.endpoint();
    let mut all = pairs.clone();
    all.extend([
        ("tiers", tiers.as_str()),
        ("smoke_url", smoke.as_str()),
        ("bucket", bucket.as_str()),
        ("endpoint_url", endpoint.as_str()),
    ]);
    let mut args = vars(&all);
    args.extend(
        [
            "--input",
            "review.issues=drf_b has no usable backup",
            "--input",
            "review.recommendations=check the backups' checksums nightly",
        ]
        .map(String::from),
    );
    let run = s.run("dr-test", &args).expect_code(1);
    assert_eq!(run.status("drill[drf_a]"), "ok");
    assert_eq!(run.status("drill[drf_b]"), "failed");
    for db in ["drf_a", "drf_b"] {
        assert_eq!(
            run.status(&format!("drill[{db}]/drop-scratch")),
            "ok",
            "{db}"
        );
    }
    let scratch = run.output("drill[drf_a]/create-scratch", "database");
    assert!(!server.has_database(&scratch), "{scratch} is left behind");
    assert_eq!(run.output("summary", "drills_failed"), "1");
    assert_eq!(run.status("verdict"), "failed");
    assert!(run.report().contains("drf_b has no usable backup"));
    // The evidence of a failed test is published too.
    assert_eq!(run.events("report_published").len(), 1);
    assert_eq!(run.run_finished()["status"], "failed");
}
