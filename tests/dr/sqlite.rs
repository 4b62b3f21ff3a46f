//! `sqlite-backup` and `sqlite-restore` against real `SQLite` files in WAL mode: online backup,
//! `PRAGMA integrity_check`, retention, a restore that keeps the current file aside, and the
//! two ways a restore refuses or undoes itself.

use std::fs::{File, FileTimes};
use std::path::Path;
use std::time::{Duration, SystemTime};

use super::postgres_backup::files;
use super::s3;
use super::scenario::{Outcome, Scenario, vars};
use super::tools;

#[track_caller]
fn sqlite(db: &Path, sql: &str) -> String {
    tools::output(
        &tools::require("sqlite3"),
        &[db.to_str().expect("utf-8"), sql],
        &[],
    )
    .trim()
    .to_owned()
}

/// A WAL-mode database with 2000 notes.
fn app_db(s: &Scenario) -> std::path::PathBuf {
    let dir = s.path("app");
    std::fs::create_dir_all(&dir).expect("mkdir app");
    let db = dir.join("app.db");
    sqlite(
        &db,
        "pragma journal_mode = wal;
         create table notes (id integer primary key, body text not null);
         with recursive n(i) as (select 1 union all select i + 1 from n where i < 2000)
         insert into notes select i, 'note ' || i from n;",
    );
    db
}

fn backup(s: &Scenario, db: &Path, extra: &[(&str, &str)]) -> Outcome {
    let dir = s.var_path("backups");
    let mut pairs = vec![
        ("database", db.to_str().expect("utf-8")),
        ("backup_dir", &dir),
    ];
    pairs.extend_from_slice(extra);
    let mut args = vars(&pairs);
    args.push("--approve".into());
    args.push("retention".into());
    s.run("sqlite-backup", &args)
}

fn restore(s: &Scenario, db: &Path, extra: &[(&str, &str)]) -> Outcome {
    let dir = s.var_path("backups");
    let mut pairs = vec![
        ("database", db.to_str().expect("utf-8")),
        ("backup_dir", &dir),
    ];
    pairs.extend_from_slice(extra);
    let mut args = vars(&pairs);
    args.push("--yes".into());
    s.run("sqlite-restore", &args)
}

/// A fake old backup (with its checksum file), `days` old.
fn old_backup(dir: &Path, name: &str, days: u64) {
    std::fs::create_dir_all(dir).expect("mkdir");
    let when = SystemTime::now() - Duration::from_secs(days * 86_400);
    for file in [name.to_owned(), format!("{name}.sha256")] {
        let path = dir.join(file);
        std::fs::write(&path, "old").expect("write");
        File::options()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_times(FileTimes::new().set_modified(when)))
            .expect("set mtime");
    }
}

#[test]
fn sqlite_backup_is_sound_checksummed_and_keeps_the_last_days() {
    let s = Scenario::new();
    let db = app_db(&s);
    let dir = s.path("backups");
    old_backup(&dir, "app-20250101T020000Z-sqlite-backup-aaaa.db", 10);
    old_backup(&dir, "app-20250102T020000Z-sqlite-backup-bbbb.db", 8);
    old_backup(&dir, "app-20250105T020000Z-sqlite-backup-cccc.db", 2);
    let other = dir.join("unrelated.txt");
    std::fs::write(&other, "not a backup").expect("write");

    let run = backup(&s, &db, &[("keep_days", "7")]).expect_code(0);

    let file = run.output("backup", "file");
    assert_eq!(run.status("integrity-check"), "ok");
    assert_eq!(sqlite(Path::new(&file), "PRAGMA integrity_check;"), "ok");
    assert_eq!(
        sqlite(Path::new(&file), "select count(*) from notes;"),
        "2000"
    );
    // A self-contained file: no WAL mode, so readers leave no -wal/-shm beside it.
    assert_eq!(sqlite(Path::new(&file), "PRAGMA journal_mode;"), "delete");
    let check = std::process::Command::new("sha256sum")
        .args(["-c", &format!("{file}.sha256")])
        .current_dir(&dir)
        .output()
        .expect("sha256sum");
    assert!(check.status.success(), "{check:?}");

    // Older than 7 days: deleted with their checksums. Two days old: kept. Others: untouched.
    let backups = files(&dir, ".db");
    assert_eq!(backups.len(), 2, "{backups:?}");
    assert_eq!(backups[0], "app-20250105T020000Z-sqlite-backup-cccc.db");
    assert!(file.ends_with(&backups[1]));
    assert_eq!(files(&dir, ".sha256").len(), 2);
    assert!(other.is_file());
    assert_eq!(run.output("retention", "deleted"), "2");
    assert_eq!(run.output("retention", "kept"), "2");
    assert_eq!(run.status("fresh"), "ok");
    assert_eq!(
        run.status("upload"),
        "skipped",
        "no bucket: no off-site copy"
    );
    let approval = &run.events("approval_given")[0];
    assert_eq!(
        approval["step"], "retention",
        "deleting backups is approved"
    );
    let rto = run.objective_row("RTO");
    assert!(rto.ends_with("| met |"), "{rto}");
}

#[test]
fn sqlite_restore_brings_rows_back_and_keeps_the_current_file_aside() {
    let s = Scenario::new();
    let db = app_db(&s);
    backup(&s, &db, &[]).expect_code(0);
    sqlite(&db, "delete from notes where id > 100;");

    let run = restore(&s, &db, &[]).expect_code(0);

    assert_eq!(sqlite(&db, "select count(*) from notes;"), "2000");
    assert_eq!(sqlite(&db, "PRAGMA integrity_check;"), "ok");
    assert_eq!(
        sqlite(&db, "PRAGMA journal_mode;"),
        "wal",
        "the live mode is kept"
    );
    let kept = run.output("keep-current", "file");
    assert!(kept.starts_with(db.to_str().expect("utf-8")), "{kept}");
    assert_eq!(
        sqlite(Path::new(&kept), "select count(*) from notes;"),
        "100",
        "the damaged file is kept for inspection"
    );
    assert_eq!(run.output("verify-restore", "check"), "1");
    assert_eq!(run.status("restore"), "ok");
    let approvals: Vec<String> = run
        .events("approval_given")
        .iter()
        .map(|e| e["step"].as_str().expect("step").to_owned())
        .collect();
    assert_eq!(approvals, ["stop-writers", "restore"]);
    let rpo = run.objective_row("RPO");
    assert!(rpo.ends_with("| met |"), "{rpo}");
}

#[test]
fn sqlite_restore_refuses_a_backup_whose_checksum_does_not_match() {
    let s = Scenario::new();
    let db = app_db(&s);
    let file = backup(&s, &db, &[]).expect_code(0).output("backup", "file");
    std::fs::write(
        format!("{file}.sha256"),
        format!(
            "{}  {}\n",
            "0".repeat(64),
            Path::new(&file)
                .file_name()
                .expect("name")
                .to_str()
                .expect("utf-8")
        ),
    )
    .expect("write");
    sqlite(&db, "delete from notes where id > 100;");

    let run = restore(&s, &db, &[]).expect_code(1);

    assert_eq!(run.status("verify-backup"), "failed");
    assert!(!run.started("keep-current"));
    assert!(!run.started("restore"));
    assert_eq!(
        sqlite(&db, "select count(*) from notes;"),
        "100",
        "untouched"
    );
}

#[test]
fn sqlite_restore_puts_the_kept_file_back_when_the_check_fails() {
    let s = Scenario::new();
    let db = app_db(&s);
    backup(&s, &db, &[]).expect_code(0);
    sqlite(&db, "delete from notes where id > 100;");

    let run = restore(
        &s,
        &db,
        &[("check_sql", "select count(*) from missing_table")],
    )
    .expect_code(1);

    assert_eq!(run.status("verify-restore"), "failed");
    assert_eq!(run.status("restore"), "rolled_back");
    assert!(
        run.log("restore").contains("put back"),
        "{}",
        run.log("restore")
    );
    assert_eq!(
        sqlite(&db, "select count(*) from notes;"),
        "100",
        "the file from before the restore is back"
    );
}

#[test]
fn sqlite_backup_goes_off_site_and_restores_from_the_bucket() {
    let s = Scenario::new();
    let db = app_db(&s);
    let storage = s3::Server::shared();
    let bucket = storage.bucket("sqlite-offsite");
    let endpoint = storage.endpoint();
    let remote = [
        ("bucket", bucket.as_str()),
        ("prefix", "sqlite/app/"),
        ("endpoint_url", endpoint.as_str()),
    ];
    let run = backup(&s, &db, &remote).expect_code(0);
    let file = run.output("backup", "file");
    let name = Path::new(&file)
        .file_name()
        .and_then(|n| n.to_str())
        .expect("a name")
        .to_owned();
    assert_eq!(
        run.output("upload", "uri"),
        format!("s3://{bucket}/sqlite/app/{name}")
    );
    let stored = storage.objects(&bucket, "sqlite/app/");
    assert_eq!(
        stored.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
        [
            format!("sqlite/app/{name}"),
            format!("sqlite/app/{name}.sha256")
        ]
    );
    assert_eq!(stored[0].1, std::fs::metadata(&file).expect("backup").len());

    // The machine is lost with its backups; only the bucket is left.
    std::fs::remove_dir_all(s.path("backups")).expect("rm backups");
    sqlite(&db, "delete from notes;");
    let run = restore(&s, &db, &remote).expect_code(0);
    assert_eq!(sqlite(&db, "select count(*) from notes;"), "2000");
    assert!(run.folder().join("downloads").join(&name).is_file());
    assert_eq!(run.output("find-backup", "name"), name);
}

/// Whether `PRAGMA integrity_check` of `db` says `ok` (it exits non-zero on a damaged file).
fn intact(db: &Path) -> bool {
    let out = std::process::Command::new(tools::require("sqlite3"))
        .arg(db)
        .arg("PRAGMA integrity_check;")
        .output()
        .expect("sqlite3 runs");
    out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "ok"
}

/// Overwrites page `page` (1-based, 4 KiB pages) of `db` with 0xff bytes, after checkpointing
/// the WAL into the file.
fn smash_page(db: &Path, page: u64) {
    use std::io::{Seek, SeekFrom, Write};
    sqlite(db, "pragma wal_checkpoint(truncate);");
    let mut file = File::options().write(true).open(db).expect("open");
    file.seek(SeekFrom::Start((page - 1) * 4096)).expect("seek");
    file.write_all(&[0xff; 4096]).expect("write");
}

#[test]
fn a_corrupt_index_is_repaired_in_place_without_touching_the_backup() {
    let s = Scenario::new();
    let db = app_db(&s);
    sqlite(&db, "create index notes_body on notes (body);");
    backup(&s, &db, &[]).expect_code(0);
    // Written after the backup: a repair keeps it, a restore would lose it.
    sqlite(&db, "insert into notes values (2001, 'after the backup');");
    let root: u64 = sqlite(
        &db,
        "select rootpage from sqlite_master where name = 'notes_body';",
    )
    .parse()
    .expect("a page number");
    smash_page(&db, root);
    assert!(!intact(&db), "the index is damaged");

    let run = restore(&s, &db, &[("check_sql", "select count(*) from notes")]).expect_code(0);

    assert_eq!(run.output("check-current", "state"), "corrupt");
    assert_eq!(run.output("choose-method", "method"), "repair");
    assert_eq!(run.status("repair"), "ok");
    assert!(
        run.log("repair").contains("repaired with ."),
        "{}",
        run.log("repair")
    );
    assert_eq!(run.status("restore"), "skipped");
    assert!(!run.started("restore"));
    assert_eq!(run.output("verify-restore", "method"), "repaired");
    assert_eq!(sqlite(&db, "PRAGMA integrity_check;"), "ok");
    assert_eq!(
        sqlite(&db, "select count(*) from notes;"),
        "2001",
        "nothing lost"
    );
    assert_eq!(sqlite(&db, "PRAGMA journal_mode;"), "wal");
    // The damaged file is kept aside for inspection.
    let kept = run.output("keep-current", "file");
    assert!(
        !intact(Path::new(&kept)),
        "the kept file is the damaged one"
    );
    let rpo = run.objective_row("RPO");
    assert!(rpo.ends_with("| met |"), "{rpo}");
    assert_eq!(run.run_finished()["status"], "ok");
}

#[test]
fn an_unrepairable_file_falls_back_to_the_newest_backup() {
    let s = Scenario::new();
    let db = app_db(&s);
    backup(&s, &db, &[]).expect_code(0);
    smash_page(&db, 1);

    let run = restore(&s, &db, &[("check_sql", "select count(*) from notes")]).expect_code(0);

    assert_eq!(run.output("check-current", "state"), "corrupt");
    assert_eq!(run.status("repair"), "failed");
    assert!(
        run.log("repair")
            .contains("could not read the damaged file"),
        "{}",
        run.log("repair")
    );
    assert_eq!(run.status("restore"), "ok");
    assert!(
        run.output("verify-restore", "method")
            .starts_with("restored app-")
    );
    assert_eq!(sqlite(&db, "select count(*) from notes;"), "2000");
    assert_eq!(sqlite(&db, "PRAGMA integrity_check;"), "ok");
    assert!(
        run.report().contains("- `repair` failed"),
        "{}",
        run.report()
    );
    assert_eq!(run.run_finished()["status"], "ok");
}
