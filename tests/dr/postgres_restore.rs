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
        run.log("restore-newest").contains("sessions ended: 1"),
        "{}",
        run.log("restore-newest")
    );

    // A safety snapshot of the damaged database was taken first.
    let snapshot = run.output("safety-snapshot", "file");
    assert!(Path::new(&snapshot).is_file(), "{snapshot}");
    assert!(snapshot.starts_with(&s.var_path("safety")));

    // The approval came from the flag, the counts were verified against the manifest.
    let approvals = run.events("approval_given");
    assert!(
        approvals.iter().any(|e| e["step"] == "restore-newest"),
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
    let name = run.output("find-backup", "newest");
    let downloaded = run.folder().join("work/restore_s3/downloads").join(&name);
    assert!(downloaded.is_file(), "downloaded into the run folder");
    assert_eq!(
        run.output("fetch-backups", "newest_file"),
        downloaded.to_str().expect("utf-8")
    );
    assert_eq!(run.output("fetch-backups", "previous_file"), "none");
    assert!(run.log("verify-newest").contains(&format!("{name}: OK")));
    assert_eq!(run.output("restored", "fallback"), "no");
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

    assert_eq!(run.status("verify-newest"), "failed");
    assert!(
        run.log("verify-newest")
            .contains(&format!("{name}: FAILED")),
        "{}",
        run.log("verify-newest")
    );
    // The only backup is bad and there is no fallback: no restore ever starts.
    assert_eq!(run.output("find-backup", "previous"), "none");
    assert_eq!(run.status("verify-previous"), "skipped");
    for step in ["restore-newest", "restore-previous"] {
        assert!(!run.started(step), "{step} never started");
        assert_eq!(run.status(step), "skipped");
    }
    assert!(
        run.events("approval_given").is_empty(),
        "no approval was even asked"
    );
    assert_eq!(run.finished("restored")["status"], "failed");
    assert!(
        run.log("restored")
            .contains("no restore started: restore_corrupt is untouched, nothing to put back"),
        "{}",
        run.log("restored")
    );
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

    assert_eq!(run.status("restore-newest"), "ok");
    assert_eq!(run.status("restored"), "rolled_back");
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
    assert_eq!(rollbacks, ["\"restored\":true"]);
    assert!(run.log("restored").contains("put back the safety snapshot"));
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
    let name = run.output("find-backup", "newest");
    let out = format!("{}{}", run.stdout(), run.stderr());
    assert!(
        out.contains("pg_restore --clean --if-exists --exit-on-error --jobs=2")
            && out.contains(&name),
        "the restore command names the real backup: {out}"
    );
    assert_eq!(run.status("verify-newest"), "ok");
    assert_eq!(db.count("order_items"), 10, "nothing was restored");
    assert!(
        files(&s.path("safety"), ".dump").is_empty(),
        "no snapshot in a dry run"
    );
}

/// Flips one byte in the middle of `path`: its sha256 no longer matches.
pub(crate) fn corrupt(path: &Path) {
    let mut bytes = std::fs::read(path).expect("a backup");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(path, bytes).expect("corrupt");
}

/// A plain SQL backup of `db`, gzipped, as `dir/name` with its sha256 beside it (a relative
/// name inside, as postgres-backup writes it); `tail` is SQL appended to the dump.
pub(crate) fn plain_backup(db: &Database, dir: &Path, name: &str, tail: &str) {
    std::fs::create_dir_all(dir).expect("mkdir");
    let script = format!(
        "set -eu; {{ pg_dump --format=plain -h 127.0.0.1 -U postgres -p {port} {db}; \
         printf '%s\\n' \"$TAIL\"; }} | gzip > {name}; sha256sum {name} > {name}.sha256",
        port = db.port(),
        db = db.name(),
    );
    let out = Command::new("sh")
        .args(["-c", &script])
        .env("TAIL", tail)
        .env("PATH", tools::path_for_playbooks())
        .current_dir(dir)
        .output()
        .expect("sh runs");
    assert!(out.status.success(), "plain backup: {out:?}");
}

/// Sets the modification time of `path` to `seconds` from now.
pub(crate) fn touch(path: &Path, seconds: i64) {
    let when = (Utc::now() + chrono::Duration::seconds(seconds)).to_rfc3339();
    let status = Command::new("touch")
        .args(["-d", &when])
        .arg(path)
        .status()
        .expect("touch runs");
    assert!(status.success());
}

#[test]
fn a_corrupt_newest_backup_falls_back_to_the_one_before_it() {
    let db = Server::shared().database("restore_fallback");
    let s = Scenario::new();
    let older = backup(&s, &db).output(&format!("dump[{}]", db.name()), "file");
    // Only in the newest backup, which is about to be corrupted.
    db.sql("insert into customers values (9001, 'late@example.com', 'Late', now())");
    let newest = backup(&s, &db).output(&format!("dump[{}]", db.name()), "file");
    corrupt(Path::new(&newest));
    db.sql("truncate customers, orders, order_items");

    let run = restore(&s, &db, &[]).expect_code(0);

    // The older backup is what the database now holds: the late row is not there.
    assert_eq!(db.counts(), SEEDED);
    let older_name = Path::new(&older)
        .file_name()
        .expect("a name")
        .to_str()
        .expect("utf-8");
    let newest_name = Path::new(&newest)
        .file_name()
        .expect("a name")
        .to_str()
        .expect("utf-8");
    assert_eq!(run.output("find-backup", "newest"), newest_name);
    assert_eq!(run.output("find-backup", "previous"), older_name);
    assert_eq!(run.status("verify-newest"), "failed");
    assert!(
        run.log("verify-newest")
            .contains(&format!("{newest_name}: FAILED"))
    );
    assert!(
        !run.started("restore-newest"),
        "a corrupt backup is never restored"
    );
    assert_eq!(run.status("restore-previous"), "ok");
    assert_eq!(run.output("restored", "name"), older_name);
    assert_eq!(run.output("restored", "fallback"), "yes");
    assert!(
        run.log("restored").contains(&format!(
            "FALLBACK: the newest backup {newest_name} was not restored (it failed its checksum or could not be read)"
        )),
        "{}",
        run.log("restored")
    );
    assert_eq!(run.status("verify-counts"), "ok");
    // The journal and the report say the newest failed and the fallback was used; the
    // recovery point is the older backup's.
    let finished = run.run_finished();
    assert_eq!(finished["status"], "ok");
    let report = run.report();
    assert!(
        report.contains(&format!(
            "FALLBACK: the newest backup {newest_name} was not restored"
        )),
        "{report}"
    );
    assert!(
        report.contains("- `verify-newest` failed: exit code 1."),
        "{report}"
    );
    let taken = run.output("find-backup", "previous_taken_at");
    assert!(
        report.contains(&taken),
        "the recovery point is the fallback's: {report}"
    );
    assert!(run.events("rollback_started").is_empty());
}

#[test]
fn a_newest_backup_whose_restore_fails_falls_back_whatever_the_names() {
    let db = Server::shared().database("restore_plain_fails");
    let s = Scenario::new();
    let older = backup(&s, &db).output(&format!("dump[{}]", db.name()), "file");
    let dir = s.path("backups");
    // Named by hand, with no time in its name: its file time says it is the newest. Its
    // checksum is right; its SQL fails at the end, so the restore of it fails.
    plain_backup(&db, &dir, "manual-export.sql.gz", "select 1/0;");
    touch(&dir.join("manual-export.sql.gz"), 60);
    std::fs::write(dir.join("README.txt"), "not a backup").expect("write");
    db.sql("delete from order_items where id > 100");

    let run = restore(&s, &db, &[]).expect_code(0);

    assert_eq!(run.output("find-backup", "newest"), "manual-export.sql.gz");
    assert!(older.ends_with(&run.output("find-backup", "previous")));
    let listing =
        std::fs::read_to_string(run.folder().join("work/restore_plain_fails/backups.list"))
            .expect("backups.list");
    assert_eq!(
        listing.lines().count(),
        2,
        "README.txt is no backup: {listing}"
    );
    assert_eq!(run.status("verify-newest"), "ok");
    assert!(run.log("verify-newest").contains("gzip stream intact"));
    assert_eq!(run.status("restore-newest"), "failed");
    assert!(
        run.log("restore-newest").contains("division by zero"),
        "{}",
        run.log("restore-newest")
    );
    assert_eq!(run.status("restore-previous"), "ok");
    assert!(run.log("restored").contains("(its restore failed)"));
    assert_eq!(db.counts(), SEEDED);
    assert_eq!(run.run_finished()["status"], "ok");
    let approvals: Vec<_> = run
        .events("approval_given")
        .iter()
        .map(|e| e["step"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(approvals, ["restore-newest", "restore-previous"]);
}

#[test]
fn an_empty_bucket_says_no_backup_found() {
    let db = Server::shared().database("restore_empty_bucket");
    let storage = s3::Server::shared();
    let bucket = storage.bucket("restore-empty");
    let s = Scenario::new();
    let mut args = db.vars();
    args.extend(vars(&[
        ("backup_dir", &s.var_path("staging")),
        ("bucket", &bucket),
        ("endpoint_url", &storage.endpoint()),
        ("snapshot_dir", &s.var_path("safety")),
    ]));
    args.push("--yes".into());
    let run = s.run("postgres-restore", &args).expect_code(1);

    assert_eq!(run.status("find-backup"), "failed");
    let log = run.log("find-backup");
    assert!(
        log.contains(&format!(
            "no backup found in s3://{bucket}/postgres/ (no *.dump or *.sql.gz)"
        )),
        "{log}"
    );
    assert!(!log.contains("None"), "{log}");
    assert!(!run.started("fetch-backups"));
    assert!(!run.started("restore-newest"));
    assert_eq!(run.run_finished()["status"], "failed");
    assert_eq!(db.counts(), SEEDED);
}
