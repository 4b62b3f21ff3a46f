//! `pitr-restore`: a base backup and the WAL archive of a server of its own, recovered into a
//! new cluster on a free port up to a moment between two writes; a target before the base
//! backup is refused before anything is written.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::support::wait_until;

use super::postgres::Server;
use super::scenario::{Scenario, vars};
use super::tools;

/// Stops the recovered cluster when the test ends, whatever happened.
struct StopCluster<'a> {
    server: &'a Server,
    data: PathBuf,
}

impl Drop for StopCluster<'_> {
    fn drop(&mut self) {
        if self.data.join("postmaster.pid").exists() {
            self.server.stop_cluster(&self.data);
        }
    }
}

/// `pg_basebackup --format=tar --gzip --wal-method=fetch` into `dir`.
fn base_backup(server: &Server, dir: &Path) {
    tools::output(
        &tools::require("pg_basebackup"),
        &[
            "-h",
            "127.0.0.1",
            "-p",
            &server.port().to_string(),
            "-U",
            "postgres",
            "-D",
            dir.to_str().expect("utf-8"),
            "--format=tar",
            "--gzip",
            "--wal-method=fetch",
            "--checkpoint=fast",
        ],
        &[],
    );
}

fn pitr_vars(s: &Scenario, server: &Server, data: &Path) -> Vec<String> {
    vars(&[
        ("base_backup_dir", &s.var_path("base")),
        ("wal_archive", server.wal_archive().to_str().expect("utf-8")),
        ("new_data_dir", data.to_str().expect("utf-8")),
        ("os_user", server.run_as().unwrap_or("")),
        ("database", "pitr"),
    ])
}

#[test]
fn recovery_replays_the_archive_up_to_the_target_into_a_new_cluster() {
    let server = Server::archiving();
    server.psql("postgres", "create database pitr");
    server.psql(
        "pitr",
        "create table marks (label text primary key, at timestamptz default clock_timestamp())",
    );
    let s = Scenario::new();
    base_backup(&server, &s.path("base/base-1"));
    server.psql("pitr", "insert into marks (label) values ('before')");
    let target = server.psql(
        "pitr",
        "select to_char(clock_timestamp() at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')",
    );
    server.psql("pitr", "insert into marks (label) values ('after')");
    // The segment holding both writes goes to the archive.
    let segment = server.psql("pitr", "select pg_walfile_name(pg_switch_wal())");
    let archived = wait_until(Duration::from_secs(60), || {
        server.wal_archive().join(&segment).is_file()
    });
    assert!(archived, "{segment} never reached the archive");

    let data = server.scratch().join("recovered");
    let _stop = StopCluster {
        server: &server,
        data: data.clone(),
    };
    let mut args = pitr_vars(&s, &server, &data);
    args.extend(vars(&[
        ("target_time", &target),
        (
            "verify_sql",
            "select count(*) = 1 from marks where label = 'before';\nselect count(*) = 0 from marks where label = 'after';",
        ),
    ]));
    let run = s.run("pitr-restore", &args).expect_code(0);

    // A new cluster on its own port, promoted, holding the row before the target only.
    let port = run.output("prepare-cluster", "port");
    assert_ne!(port, server.port().to_string());
    let psql = |sql: &str| {
        tools::output(
            &tools::require("psql"),
            &[
                "--no-psqlrc",
                "-tA",
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-U",
                "postgres",
                "-d",
                "pitr",
                "-c",
                sql,
            ],
            &[],
        )
        .trim()
        .to_owned()
    };
    assert_eq!(
        psql("select string_agg(label, ',' order by label) from marks"),
        "before"
    );
    assert_eq!(psql("select pg_is_in_recovery()"), "f");
    // The source is untouched and still has both rows.
    assert_eq!(
        server.psql(
            "pitr",
            "select string_agg(label, ',' order by label) from marks"
        ),
        "after,before"
    );
    assert!(
        run.log("start-cluster")
            .contains("recovery stopping before commit"),
        "{}",
        run.log("start-cluster")
    );
    assert!(
        run.log("verify")
            .contains(&format!("recovered to {target}: verified"))
    );
    assert_eq!(run.output("find-base-backup", "target"), target);
    assert!(
        run.report()
            .contains(&format!("**Recovery point:** {}", &target[..19])),
        "{}",
        run.report()
    );
    assert_eq!(run.run_finished()["status"], "ok");
}

#[test]
fn a_target_before_the_base_backup_is_refused_before_anything_is_written() {
    let server = Server::archiving();
    let s = Scenario::new();
    base_backup(&server, &s.path("base/base-1"));
    let data = server.scratch().join("refused");
    let mut args = pitr_vars(&s, &server, &data);
    // The target comes from the manual step's input, as an operator would give it.
    args.extend([
        "--input".into(),
        "choose-target.target_time=2020-01-01T00:00:00Z".into(),
    ]);
    let run = s.run("pitr-restore", &args).expect_code(1);

    assert_eq!(run.status("choose-target"), "ok");
    assert_eq!(run.status("find-base-backup"), "failed");
    let log = run.log("find-base-backup");
    assert!(
        log.contains(
            "refused: target_time 2020-01-01T00:00:00Z is before the oldest base backup (started "
        ),
        "{log}"
    );
    assert!(
        run.stderr().contains("refused: target_time"),
        "{}",
        run.stderr()
    );
    assert!(!run.started("prepare-cluster"));
    assert!(!data.exists(), "nothing was written");
    assert_eq!(run.run_finished()["status"], "failed");
}
