//! `dr-test`: the quarterly test composed of nested playbooks: a restore drill per database in
//! parallel, a service recovery, the review's answers in the report, the report published to
//! the bucket.

use super::postgres::{SEEDED, Server};
use super::s3;
use super::scenario::{Scenario, vars};
use super::services::{StopOnDrop, free_ports};
use super::tools;

/// Two seeded databases backed up by `postgres-backup` and copied to a bucket, a service tier
/// on a free port, then `dr-test` run with the review's two answers. `damage` names a database
/// whose only backup is made unreadable after its checksum was taken, before the upload.
struct Drill {
    server: std::sync::Arc<Server>,
    storage: std::sync::Arc<s3::Server>,
    dbs: Vec<super::postgres::Database>,
    bucket: String,
    run: super::scenario::Outcome,
    // Dropped last: the services the run started, then the scenario's folder.
    _services: StopOnDrop,
    _scenario: Scenario,
}

fn drill(
    dbs: [&str; 2],
    bucket: &str,
    damage: Option<&str>,
    answers: [&str; 2],
    code: i32,
) -> Drill {
    tools::require_all(&["python3", "curl"]);
    let server = Server::shared();
    let made = dbs.iter().map(|db| server.database(db)).collect();
    let storage = s3::Server::shared();
    let bucket = storage.bucket(bucket);
    let s = Scenario::new();
    let backups = s.var_path("backups");
    let databases = format!(r#"["{}", "{}"]"#, dbs[0], dbs[1]);
    let connection = [
        ("host", "127.0.0.1".to_owned()),
        ("port", server.port().to_string()),
        ("databases", databases),
        ("backup_dir", backups.clone()),
    ];
    let pairs: Vec<(&str, &str)> = connection.iter().map(|(k, v)| (*k, v.as_str())).collect();
    s.run("postgres-backup", &vars(&pairs)).expect_code(0);
    if let Some(db) = damage {
        let dump = std::fs::read_dir(format!("{backups}/{db}"))
            .expect("the database's backups")
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|x| x == "dump"))
            .expect("a dump");
        std::fs::write(&dump, b"not a dump").expect("damage the dump");
    }
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
    let services = StopOnDrop::new(&out.join("services"));
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
    args.extend([
        "--input".to_owned(),
        format!("review.issues={}", answers[0]),
        "--input".to_owned(),
        format!("review.recommendations={}", answers[1]),
    ]);
    let run = s.run("dr-test", &args).expect_code(code);
    assert_eq!(run.folder(), out);
    Drill {
        server,
        storage,
        dbs: made,
        bucket,
        run,
        _services: services,
        _scenario: s,
    }
}

#[test]
fn the_quarterly_test_drills_every_database_recovers_services_and_publishes_its_report() {
    let d = drill(
        ["drt_a", "drt_b"],
        "dr-test",
        None,
        [
            "drt_b's restore was the slowest",
            "raise pg_restore --jobs for drt_b",
        ],
        0,
    );
    let (server, storage, bucket, run, dbs) = (&d.server, &d.storage, &d.bucket, &d.run, &d.dbs);

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
    for db in dbs {
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
        .objects(bucket, "dr-reports/")
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
    let d = drill(
        ["drf_a", "drf_b"],
        "dr-test-failing",
        Some("drf_b"),
        [
            "drf_b has no usable backup",
            "check the backups' checksums nightly",
        ],
        1,
    );
    let (server, run) = (&d.server, &d.run);
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
