//! `postgres-restore`: the incident path, from a folder and from a bucket, and its two safety
//! nets: a backup whose checksum does not match stops everything before the first drop, and a
//! failed verification puts the safety snapshot back.

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use chrono::{SecondsFormat, Utc};

use crate::support::wait_until;

use super::postgres::{Database, SEEDED, Server};
use super::postgres_backup::files;
use super::s3;
use super::scenario::{Outcome, Scenario, vars};
use super::tools;

/// Backs `db` up into `<scratch>/backups` with `postgres-backup`. Backup names carry the run's
/// start to the second, and two backups of one second sort in no particular order: each backup
/// here starts in a second of its own, as backups do outside tests.
pub(crate) fn backup(s: &Scenario, db: &Database) -> Outcome {
    let into_second = Utc::now().timestamp_subsec_millis();
    std::thread::sleep(Duration::from_millis(u64::from(
        1000 - into_second.min(999),
    )));
    let mut args = db.vars();
    args.extend(vars(&[("backup_dir", &s.var_path("backups"))]));
    s.run("postgres-backup", &args).expect_code(0)
}

/// `postgres-restore` of `db` from `<scratch>/backups`, approved with `--yes`.
fn restore(s: &Scenario, db: &Database, extra: &[String]) -> Outcome {
    let mut args = db.vars();
    args.extend(vars(&[
        ("backup_dir", &s.var_path("backups")),
        ("snapshot_dir", &s.var_path("safety")),
    ]));
    args.push("--yes".into());
    args.extend(extra.iter().cloned());
    s.run("postgres-restore", &args)
}

/// A session that reads `orders` in an open transaction and then sleeps: it holds a lock that
/// blocks `DROP TABLE orders` until the session is ended.
fn lock_holder(db: &Database) -> Child {
    let child = Command::new(tools::require("psql"))
        .args(["--no-psqlrc", "-h", "127.0.0.1", "-U", "postgres"])
        .args(["-p", &db.port().to_string(), "-d", db.name()])
        .args([
            "-c",
            "begin; select count(*) from orders; select pg_sleep(600);",
        ])
        .arg("-c")
        .arg("commit")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("psql starts");
    let holding = wait_until(Duration::from_secs(30), || {
        db.sql(
            "select count(*) from pg_stat_activity where datname = current_database() \
             and state = 'active' and query like '%pg_sleep(600)%' and pid <> pg_backend_pid()",
        ) == "1"
    });
    assert!(holding, "the lock holder never got its lock");
    child
}

#[test]
fn restore_brings_dropped_and_deleted_rows_back_and_ends_other_sessions() {
    let db = Server::shared().database("restore_local");
    let s = Scenario::new();
    backup(&s, &db);

    // The incident: a table dropped, most orders deleted, and a session holding a lock.
    db.sql("drop table order_items; delete from orders where id > 1000;");
    assert_eq!(db.count("orders"), 1000);
    let mut holder = lock_holder(&db);

    // Declared now, after the backup: the achieved RPO is the time between the two.
    let incident_start = Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true);
    let run = restore(
        &s,
        &db,
        &[
            "--mode".into(),
            "incident".into(),
            "--incident-start".into(),
            incident_start,
        ],
    )
    .expect_code(0);

    assert_eq!(db.counts(), SEEDED, "every row is back");
    assert_eq!(
        db.sql("select count(*) from order_items i left join orders o on o.id = i.order_id where o.id is null"),
        "0"
    );
    // The session that held a lock on `orders` was ended, not waited for.
    let ended = wait_until(Duration::from_secs(30), || {
        holder.try_wait().is_ok_and(|s| s.is_some())
    });
    assert!(ended, "the other session was terminated");
    let mut stderr = String::new();
    holder
        .stderr
        .take()
        .expect("piped")
        .read_to_string(&mut stderr)
        .expect("stderr");
    assert!(stderr.contains("terminat"), "{stderr}");
    assert!(
        run.log("restore").contains("sessions ended: 1"),
        "{}",
        run.log("restore")
    );

    // A safety snapshot of the damaged database was taken first.
    let snapshot = run.output("safety-snapshot", "file");
    assert!(Path::new(&snapshot).is_file(), "{snapshot}");
    assert!(snapshot.starts_with(&s.var_path("safety")));

    // The approval came from the flag, the counts were verified against the manifest.
    let approvals = run.events("approval_given");
    assert!(
        approvals.iter().any(|e| e["step"] == "restore"),
        "{approvals:?}"
    );
    assert_eq!(run.output("verify-counts", "tables"), "3");
    assert!(
        run.log("verify-counts")
            .contains("public.order_items: 9000 rows, as in the backup")
    );
    assert!(
        run.events("rollback_started").is_empty(),
        "nothing rolled back"
    );

    // The report's RTO is measured from the incident's start, and met; so is the RPO.
    let rto = run.objective_row("RTO");
    assert!(rto.starts_with("| RTO | 30m |"), "{rto}");
    assert!(rto.ends_with("| met |"), "{rto}");
    let rpo = run.objective_row("RPO");
    assert!(rpo.starts_with("| RPO | 1d |"), "{rpo}");
    assert!(rpo.ends_with("| met |"), "{rpo}");
    let finished = run.run_finished();
    assert_eq!(finished["status"], "ok");
    assert!(finished["rto_achieved_ms"].as_u64().is_some(), "{finished}");
    assert!(finished["rpo_achieved_ms"].as_u64().is_some(), "{finished}");
    assert!(run.report().contains("- **Mode:** incident"));
}

#[test]
fn restore_from_s3_downloads_verifies_and_restores() {
    let db = Server::shared().database("restore_s3");
    let storage = s3::Server::shared();
    let bucket = storage.bucket("restore-s3");
    let s = Scenario::new();
    let staging = s.var_path("staging");
    let mut args = db.vars();
    args.extend(vars(&[
        ("backup_dir", &staging),
        ("bucket", &bucket),
        ("endpoint_url", &storage.endpoint()),
    ]));
    s.run("postgres-backup", &args).expect_code(0);
    // The local copy is gone with the machine: only the bucket has the backup.
    std::fs::remove_dir_all(&staging).expect("rm staging");
    db.sql("truncate customers, orders, order_items;");

    let mut args = db.vars();
    args.extend(vars(&[
        ("backup_dir", &staging),
        ("bucket", &bucket),
        ("endpoint_url", &storage.endpoint()),
        ("snapshot_dir", &s.var_path("safety")),
    ]));
    args.push("--yes".into());
    let run = s.run("postgres-restore", &args).expect_code(0);

    assert_eq!(db.counts(), SEEDED);
    let name = run.output("find-backup", "name");
    let downloaded = run.folder().join("downloads").join(&name);
    assert!(downloaded.is_file(), "downloaded into the run folder");
    assert_eq!(
        run.output("fetch-backup", "file"),
        downloaded.to_str().expect("utf-8")
    );
    assert!(run.log("verify-backup").contains(&format!("{name}: OK")));
    assert_eq!(run.status("verify-counts"), "ok");
}

#[test]
fn restore_recreates_a_database_that_was_dropped() {
    let db = Server::shared().database("restore_dropped");
    let s = Scenario::new();
    backup(&s, &db);
    db.server()
        .psql("postgres", "drop database restore_dropped with (force)");
    assert!(!db.server().has_database("restore_dropped"));

    let run = restore(&s, &db, &[]).expect_code(0);

    assert_eq!(run.output("safety-snapshot", "file"), "none");
    assert!(
        run.log("safety-snapshot")
            .contains("does not exist: nothing to snapshot, it will be created")
    );
    assert_eq!(db.counts(), SEEDED);
    assert_eq!(run.status("verify-counts"), "ok");
}

#[test]
fn a_corrupted_backup_stops_the_restore_before_anything_is_dropped() {
    let db = Server::shared().database("restore_corrupt");
    let s = Scenario::new();
    backup(&s, &db);
    let dir = s.path("backups");
    let name = files(&dir, ".dump").pop().expect("a dump");
    // One flipped byte in the middle of the archive.
    let path = dir.join(&name);
    let mut bytes = std::fs::read(&path).expect("dump");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&path, bytes).expect("corrupt");
    db.sql("insert into customers values (9001, 'late@example.com', 'Late', now())");

    let run = restore(&s, &db, &[]).expect_code(1);

    assert_eq!(run.status("verify-backup"), "failed");
    assert!(
        run.log("verify-backup")
            .contains(&format!("{name}: FAILED")),
        "{}",
        run.log("verify-backup")
    );
    assert!(!run.started("restore"), "the restore never started");
    assert_eq!(run.status("restore"), "skipped");
    assert!(
        run.events("approval_given").is_empty(),
        "no approval was even asked"
    );
    assert!(run.events("rollback_started").is_empty());
    // The database is exactly as it was, including the row written after the backup.
    assert_eq!(db.counts(), [SEEDED[0] + 1, SEEDED[1], SEEDED[2]]);
    assert!(run.stderr().contains("FAILED"), "{}", run.stderr());
}

#[test]
fn a_failing_verification_puts_the_safety_snapshot_back() {
    let db = Server::shared().database("restore_rollback");
    let s = Scenario::new();
    backup(&s, &db);
    // Written after the backup: only the safety snapshot has it.
    db.sql("insert into customers values (9001, 'late@example.com', 'Late', now())");

    let run = restore(
        &s,
        &db,
        &vars(&[("critical_tables", "customers orders order_items audit_log")]),
    )
    .expect_code(1);

    assert_eq!(run.status("restore"), "rolled_back");
    assert_eq!(run.status("verify-counts"), "failed");
    assert!(
        run.log("verify-counts")
            .contains("public.audit_log: missing"),
        "{}",
        run.log("verify-counts")
    );
    let rollbacks: Vec<String> = run
        .events("rollback_finished")
        .iter()
        .map(|e| format!("{}:{}", e["step"], e["ok"]))
        .collect();
    assert_eq!(rollbacks, ["\"restore\":true"]);
    assert!(run.log("restore").contains("put back the safety snapshot"));
    assert_eq!(run.status("analyze"), "skipped");
    // The database is as it was before the restore: the late row is there again.
    assert_eq!(db.counts(), [SEEDED[0] + 1, SEEDED[1], SEEDED[2]]);
    assert_eq!(
        db.sql("select email from customers where id = 9001"),
        "late@example.com"
    );
    assert_eq!(run.run_finished()["status"], "failed");
}

#[test]
fn a_dry_run_finds_and_verifies_the_backup_but_restores_nothing() {
    let db = Server::shared().database("restore_dry");
    let s = Scenario::new();
    backup(&s, &db);
    db.sql("delete from order_items where id > 10");

    let run = restore(&s, &db, &["--dry-run".into()]).expect_code(0);
    let name = run.output("find-backup", "name");
    let out = format!("{}{}", run.stdout(), run.stderr());
    assert!(
        out.contains("pg_restore --clean --if-exists --exit-on-error --jobs=2")
            && out.contains(&name),
        "the restore command names the real backup: {out}"
    );
    assert_eq!(run.status("verify-backup"), "ok");
    assert_eq!(db.count("order_items"), 10, "nothing was restored");
    assert!(
        files(&s.path("safety"), ".dump").is_empty(),
        "no snapshot in a dry run"
    );
}
