//! `postgres-backup`: to a local folder, to an S3-compatible bucket with the stored object
//! verified, and a clear failure when the storage cannot be reached.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::TcpGate;

use super::postgres::{SEEDED, Server};
use super::s3;
use super::scenario::{Scenario, vars};

/// The files of `dir` whose names end with `suffix`, sorted.
pub(crate) fn files(dir: &Path, suffix: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.ends_with(suffix))
        .collect();
    names.sort();
    names
}

#[test]
fn backup_to_a_local_folder_writes_a_verified_dump_with_checksum_and_manifest() {
    let db = Server::shared().database("backup_local");
    let at = |step: &str| format!("{step}[{}]", db.name());
    let s = Scenario::new();
    let dir = s.var_path("backups");
    let mut args = db.vars();
    args.extend(vars(&[("backup_dir", &dir)]));
    let run = s.run("postgres-backup", &args).expect_code(0);

    let dumps = files(Path::new(&dir), ".dump");
    assert_eq!(dumps.len(), 1, "one dump: {dumps:?}");
    let dump = format!("{dir}/{}", dumps[0]);
    assert!(
        dumps[0].starts_with("backup_local-") && dumps[0].contains("-postgres-backup-"),
        "named after the database and the run: {}",
        dumps[0]
    );
    assert_eq!(run.output(&at("dump"), "file"), dump);

    // The sha256 file checks out where it lies, and names the dump relatively.
    let check = Command::new("sha256sum")
        .args(["-c", &format!("{}.sha256", dumps[0])])
        .current_dir(&dir)
        .output()
        .expect("sha256sum");
    assert!(check.status.success(), "{check:?}");
    assert_eq!(
        run.output(&at("checksum"), "size"),
        std::fs::metadata(&dump).expect("dump").len().to_string()
    );

    // The manifest holds the row counts of the dump, read back from the archive itself.
    let manifest = std::fs::read_to_string(format!("{dump}.counts")).expect("manifest");
    assert_eq!(
        manifest,
        format!(
            "public.customers {}\npublic.order_items {}\npublic.orders {}\n",
            SEEDED[0], SEEDED[2], SEEDED[1]
        )
    );
    assert_eq!(run.output(&at("manifest"), "tables"), "3");

    // It is a real custom-format archive with the three tables' data.
    let list = Command::new("pg_restore")
        .args(["--list", &dump])
        .env("PATH", super::tools::path_for_playbooks())
        .output()
        .expect("pg_restore --list");
    let toc = String::from_utf8_lossy(&list.stdout);
    assert_eq!(toc.matches(" TABLE DATA public ").count(), 3, "{toc}");

    // No bucket: the S3 branch is skipped by its `when`, the local freshness check passes.
    assert_eq!(run.status("upload"), "skipped");
    assert_eq!(run.finished(&at("upload"))["reason"], "`when` is false");
    assert_eq!(run.status("verify-upload"), "skipped");
    assert_eq!(run.status("fresh-local"), "ok");
    assert!(
        run.events("check_finished")
            .iter()
            .any(|e| e["step"] == at("fresh-local") && e["passed"] == true),
        "the freshness check passed"
    );
    assert_eq!(run.run_finished()["status"], "ok");
    let rto = run.objective_row("RTO");
    assert!(rto.contains("| 1h |") && rto.ends_with("| met |"), "{rto}");
    assert!(run.report().contains("| Backup owner |"), "sign-off rows");
}

#[test]
fn backup_to_s3_uploads_and_verifies_the_stored_object() {
    let db = Server::shared().database("backup_s3");
    let at = |step: &str| format!("{step}[{}]", db.name());
    let storage = s3::Server::shared();
    let bucket = storage.bucket("backup-s3");
    let s = Scenario::new();
    let dir = s.var_path("staging");
    let mut args = db.vars();
    args.extend(vars(&[
        ("backup_dir", &dir),
        ("bucket", &bucket),
        ("prefix", "nightly/shop/"),
        ("endpoint_url", &storage.endpoint()),
    ]));
    let run = s.run("postgres-backup", &args).expect_code(0);

    let name = files(Path::new(&dir), ".dump").pop().expect("a local dump");
    let local_size = std::fs::metadata(format!("{dir}/{name}"))
        .expect("dump")
        .len();
    let stored = storage.objects(&bucket, "nightly/shop/");
    let keys: Vec<&str> = stored.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        [
            format!("nightly/shop/{name}"),
            format!("nightly/shop/{name}.counts"),
            format!("nightly/shop/{name}.sha256"),
        ],
        "the dump, its manifest and its checksum are stored"
    );
    assert_eq!(
        stored[0].1, local_size,
        "the stored dump has the dump's size"
    );
    assert_eq!(
        run.output(&at("upload"), "uri"),
        format!("s3://{bucket}/nightly/shop/{name}")
    );

    // verify-upload read the object back: same size and sha256 as the local dump.
    let log = run.log(&at("verify-upload"));
    let sha = run.output(&at("checksum"), "sha256");
    assert!(
        log.contains(&format!("stored size={local_size} sha256={sha}")),
        "{log}"
    );
    assert!(log.contains("upload verified"), "{log}");
    assert_eq!(run.status("verify-upload"), "ok");
    assert_eq!(run.status("fresh-remote"), "ok");
    assert_eq!(run.status("fresh-local"), "ok");

    // The secret key never reaches the record.
    let journal = std::fs::read_to_string(run.folder().join("journal.jsonl")).expect("journal");
    assert!(!journal.contains("testing-secret-key"));
}

#[test]
fn unreachable_storage_fails_the_backup_with_a_clear_message_before_dumping() {
    let db = Server::shared().database("backup_unreachable");
    let closed = TcpGate::closed();
    let s = Scenario::new();
    let dir = s.var_path("staging");
    let mut args = db.vars();
    args.extend(vars(&[
        ("backup_dir", &dir),
        ("bucket", "backups"),
        ("endpoint_url", &format!("http://{}", closed.addr())),
    ]));
    let run = s.run("postgres-backup", &args).expect_code(1);

    let message = format!(
        "storage unreachable: cannot reach bucket backups at http://{}",
        closed.addr()
    );
    assert!(run.stderr().contains(&message), "{}", run.stderr());
    assert!(run.report().contains(&message), "the report shows why");
    assert_eq!(run.status("check-storage"), "failed");
    assert_eq!(run.status("dump"), "skipped");
    assert_eq!(
        run.finished("dump")["reason"],
        "needs failed step `check-storage`"
    );
    assert!(!run.started("dump"), "nothing was dumped");
    assert!(files(Path::new(&dir), ".dump").is_empty());
    assert_eq!(run.run_finished()["status"], "failed");
}

#[test]
fn a_dry_run_checks_the_database_and_prints_the_real_commands() {
    let db = Server::shared().database("backup_dry");
    let s = Scenario::new();
    let dir = s.var_path("backups");
    let mut args = db.vars();
    args.extend(vars(&[("backup_dir", &dir)]));
    args.push("--dry-run".into());
    let run = s.run("postgres-backup", &args).expect_code(0);
    let out = format!("{}{}", run.stdout(), run.stderr());
    assert!(
        out.contains("pg_dump --format=custom --compress=6") && out.contains(&dir),
        "the dump command with the real folder: {out}"
    );
    // read_only steps really ran: the database and the storage were looked at.
    assert_eq!(run.status("check-database"), "ok");
    assert_eq!(run.status("check-storage"), "ok");
    assert!(files(Path::new(&dir), ".dump").is_empty(), "nothing dumped");
}

/// Sets the modification time of `path` to `days` ago.
fn age(path: &Path, days: u64) {
    let when = std::time::SystemTime::now() - std::time::Duration::from_secs(days * 86_400);
    std::fs::File::options()
        .write(true)
        .open(path)
        .and_then(|f| f.set_times(std::fs::FileTimes::new().set_modified(when)))
        .expect("set mtime");
}

#[test]
fn every_database_is_backed_up_in_parallel_into_its_own_folder_and_old_ones_expire() {
    let server = Server::shared();
    let names = ["multi_a", "multi_b", "multi_c"];
    let _dbs: Vec<_> = names.iter().map(|n| server.database(n)).collect();
    let s = Scenario::new();
    let dir = s.path("backups");
    // A backup of multi_b taken in 2020, one taken two days ago, and files retention must not
    // touch (made by hand, or another database's whose name starts with multi_b's). All have
    // a month-old modification time: what a backup's name says it was taken decides.
    let old = dir.join("multi_b/multi_b-20201101T020000Z-postgres-backup-0000.dump");
    let taken = (chrono::Utc::now() - chrono::Duration::days(2)).format("%Y%m%dT%H%M%SZ");
    let recent = dir.join(format!("multi_b/multi_b-{taken}-postgres-backup-0001.dump"));
    let foreign = [
        dir.join("multi_b/by-hand.dump"),
        dir.join("multi_b/multi_b-before-upgrade.dump"),
        dir.join("multi_b/multi_b-eu-20201101T020000Z-postgres-backup-0002.dump"),
    ];
    std::fs::create_dir_all(old.parent().expect("a folder")).expect("mkdir");
    for file in [
        old.clone(),
        old.with_extension("dump.sha256"),
        recent.clone(),
    ]
    .iter()
    .chain(&foreign)
    {
        std::fs::write(file, "old").expect("write");
        age(file, 30);
    }
    let before: Vec<&Path> = foreign
        .iter()
        .map(PathBuf::as_path)
        .chain([recent.as_path()])
        .collect();
    let mut args = vars(&[
        ("host", "127.0.0.1"),
        ("port", &server.port().to_string()),
        ("user", "postgres"),
        ("databases", r#"["multi_a", "multi_b", "multi_c"]"#),
        ("backup_dir", dir.to_str().expect("utf-8")),
        ("keep_days", "7"),
    ]);
    args.push("--max-parallel".into());
    args.push("10".into());
    let run = s.run("postgres-backup", &args).expect_code(0);

    for name in names {
        let folder = dir.join(name);
        let dumps: Vec<String> = files(&folder, ".dump")
            .into_iter()
            .filter(|f| !before.iter().any(|b| b.ends_with(f)))
            .collect();
        assert_eq!(dumps.len(), 1, "{name}: {dumps:?}");
        let dump = folder.join(&dumps[0]);
        assert_eq!(
            run.output(&format!("dump[{name}]"), "file"),
            dump.to_str().expect("utf-8")
        );
        assert!(folder.join(format!("{}.sha256", dumps[0])).is_file());
        let manifest =
            std::fs::read_to_string(folder.join(format!("{}.counts", dumps[0]))).expect("manifest");
        assert!(
            manifest.contains(&format!("public.orders {}", SEEDED[1])),
            "{manifest}"
        );
        assert_eq!(run.status(&format!("fresh-local[{name}]")), "ok");
    }
    // In parallel: every dump started before the first one finished.
    let journal = run.journal();
    let starts: Vec<usize> = names
        .iter()
        .map(|n| {
            journal
                .iter()
                .position(|e| e["event"] == "step_started" && e["step"] == format!("dump[{n}]"))
                .expect("started")
        })
        .collect();
    let first_end = journal
        .iter()
        .position(|e| {
            e["event"] == "step_finished"
                && e["step"].as_str().is_some_and(|s| s.starts_with("dump["))
        })
        .expect("a dump finished");
    assert!(
        starts.iter().all(|&s| s < first_end),
        "{starts:?} vs {first_end}"
    );
    // Retention deleted the backup of multi_b taken in 2020 and kept the recent one and the
    // files it did not make.
    assert!(!old.exists(), "the old backup is gone");
    assert!(!old.with_extension("dump.sha256").exists());
    assert!(recent.exists(), "taken two days ago, whatever its mtime");
    for file in &foreign {
        assert!(file.exists(), "{}", file.display());
    }
    assert_eq!(run.output("retention[multi_b]", "deleted"), "1");
    assert_eq!(run.output("retention[multi_a]", "deleted"), "0");
    assert_eq!(run.status("dump"), "ok");
    assert_eq!(run.run_finished()["status"], "ok");
    assert!(run.report().contains("dump[multi_c]"), "{}", run.report());
}

#[test]
fn retention_deletes_the_bucket_backups_taken_before_keep_days_and_nothing_else() {
    // See: #14 (retention goes by when a backup was taken, the UTC time of the run id in its
    // name, not by the object's LastModified: every object here was uploaded a moment ago)
    let db = Server::shared().database("backup_retention");
    let name = db.name().to_owned();
    let at = |step: &str| format!("{step}[{name}]");
    let storage = s3::Server::shared();
    let bucket = storage.bucket("backup-retention");
    let s = Scenario::new();
    let prefix = "nightly/";
    let stamp = |days: i64| {
        (chrono::Utc::now() - chrono::Duration::days(days))
            .format("%Y%m%dT%H%M%SZ")
            .to_string()
    };
    let old = format!("{name}-{}-postgres-backup-0a0a.dump", stamp(30));
    let recent = format!("{name}-{}-postgres-backup-0b0b.dump", stamp(6));
    // Not this database's own backups, however old: another database whose name starts with
    // this one's, a dump made by hand, and a backup in a deeper "folder" of the prefix.
    let foreign = [
        format!("{name}-eu-{}-postgres-backup-0c0c.dump", stamp(30)),
        format!("{name}-before-upgrade.dump"),
        format!("archive/{old}"),
    ];
    let file = s.path("object");
    std::fs::write(&file, "an old backup").expect("write");
    let put = |key: &str| {
        storage.aws(&[
            "s3",
            "cp",
            "--only-show-errors",
            file.to_str().expect("utf-8"),
            &format!("s3://{bucket}/{prefix}{key}"),
        ]);
    };
    for backup in [&old, &recent] {
        for suffix in ["", ".sha256", ".counts"] {
            put(&format!("{backup}{suffix}"));
        }
    }
    for key in &foreign {
        put(key);
    }

    let dir = s.var_path("staging");
    let mut args = db.vars();
    args.extend(vars(&[
        ("backup_dir", &dir),
        ("bucket", &bucket),
        ("prefix", prefix),
        ("endpoint_url", &storage.endpoint()),
        ("keep_days", "7"),
    ]));
    let run = s.run("postgres-backup", &args).expect_code(0);

    let new = files(Path::new(&dir), ".dump").pop().expect("a local dump");
    let mut expected: Vec<String> = [&new, &recent]
        .iter()
        .flat_map(|b| ["", ".sha256", ".counts"].map(|suffix| format!("{prefix}{b}{suffix}")))
        .chain(foreign.iter().map(|k| format!("{prefix}{k}")))
        .collect();
    expected.sort();
    let left: Vec<String> = storage
        .objects(&bucket, prefix)
        .into_iter()
        .map(|(key, _)| key)
        .collect();
    assert_eq!(
        left, expected,
        "the backup taken 30 days ago is gone with its sha256 and manifest; the one taken 6 days \
         ago, the new one and what is not this database's own backup stay"
    );

    assert_eq!(run.status(&at("retention")), "ok");
    assert_eq!(run.output(&at("retention"), "deleted"), "1");
    let log = run.log(&at("retention"));
    assert!(
        log.contains(&format!("deleted s3://{bucket}/{prefix}{old}\n")),
        "{log}"
    );
    assert!(
        log.contains(&format!("taken before {}", &stamp(7)[..9])),
        "the cutoff is said: {log}"
    );
    assert_eq!(log.matches("deleted s3://").count(), 1, "{log}");
    // The journal has the step's output, and the report the step and its outcome.
    let finished = run.finished(&at("retention"));
    assert_eq!(finished["status"], "ok");
    assert_eq!(finished["outputs"]["deleted"], "1", "{finished}");
    let report = run.report();
    let row = report
        .lines()
        .find(|l| l.contains(&at("retention")) && l.starts_with('|'))
        .unwrap_or_else(|| panic!("a row of the retention step in\n{report}"));
    assert!(row.contains("ok"), "{row}");
    assert_eq!(run.run_finished()["status"], "ok");

    // The next night, keep_days 0 keeps everything: the step does not run.
    let mut keep_all = args.clone();
    keep_all.extend(vars(&[("keep_days", "0")]));
    let again = s.run("postgres-backup", &keep_all).expect_code(0);
    assert_eq!(again.status(&at("retention")), "skipped");
    assert_eq!(
        storage.objects(&bucket, prefix).len(),
        expected.len() + 3,
        "one more backup, nothing deleted"
    );
}
