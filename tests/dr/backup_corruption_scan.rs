//! `backup-corruption-scan`: one instance per backup of the newest `count`, a dynamic `for_each`
//! over the listing; a corrupt newest backup fails the run and names the newest good one.

use std::process::Command;

use super::postgres::{Database, Server};
use super::postgres_restore::{corrupt, plain_backup};
use super::scenario::{Scenario, vars};
use super::tools;

/// A custom-format dump of `db` as `dir/name`, with its sha256.
fn custom_backup(db: &Database, dir: &std::path::Path, name: &str) {
    std::fs::create_dir_all(dir).expect("mkdir");
    let script = format!(
        "set -eu; pg_dump --format=custom -h 127.0.0.1 -U postgres -p {} -f {name} {}; sha256sum {name} > {name}.sha256",
        db.port(),
        db.name()
    );
    let out = Command::new("sh")
        .args(["-c", &script])
        .env("PATH", tools::path_for_playbooks())
        .current_dir(dir)
        .output()
        .expect("sh runs");
    assert!(out.status.success(), "custom backup: {out:?}");
}

#[test]
fn each_backup_is_scanned_and_a_corrupt_newest_names_the_newest_good() {
    let db = Server::shared().database("scan_backups");
    let s = Scenario::new();
    let dir = s.path("backups");
    // Oldest to newest by the time in their names; the oldest is beyond `count`.
    plain_backup(&db, &dir, "shop-20261128T020000Z.sql.gz", "");
    plain_backup(&db, &dir, "shop-20261129T020000Z.sql.gz", "");
    custom_backup(&db, &dir, "shop-20261130T020000Z.dump");
    custom_backup(&db, &dir, "shop-20261201T020000Z.dump");
    let args = vars(&[
        ("backup_dir", dir.to_str().expect("utf-8")),
        ("count", "3"),
        ("database", "shop"),
    ]);

    let run = s.run("backup-corruption-scan", &args).expect_code(0);
    for name in [
        "shop-20261201T020000Z.dump",
        "shop-20261130T020000Z.dump",
        "shop-20261129T020000Z.sql.gz",
    ] {
        assert_eq!(run.status(&format!("scan[{name}]")), "ok", "{name}");
    }
    assert!(
        !run.started("scan[shop-20261128T020000Z.sql.gz]"),
        "beyond count"
    );
    assert!(
        run.log("scan[shop-20261129T020000Z.sql.gz]")
            .contains("gzip stream intact")
    );
    assert_eq!(
        run.output("verdict", "newest_good"),
        "shop-20261201T020000Z.dump"
    );

    // The newest rots: the run fails and names the one before it.
    corrupt(&dir.join("shop-20261201T020000Z.dump"));
    let run = s.run("backup-corruption-scan", &args).expect_code(1);
    assert_eq!(run.status("scan[shop-20261201T020000Z.dump]"), "failed");
    assert!(
        run.log("scan[shop-20261201T020000Z.dump]")
            .contains("FAILED")
    );
    assert_eq!(run.status("scan[shop-20261130T020000Z.dump]"), "ok");
    assert_eq!(run.status("verdict"), "failed");
    let log = run.log("verdict");
    assert!(
        log.contains("the newest backup shop-20261201T020000Z.dump is corrupt; the newest good one is shop-20261130T020000Z.dump"),
        "{log}"
    );
    assert!(
        log.contains("3 backups, newest first: 2 good, 1 corrupt"),
        "{log}"
    );
    let report = run.report();
    assert!(
        report.contains("scan[shop-20261130T020000Z.dump]"),
        "{report}"
    );
    assert_eq!(run.run_finished()["status"], "failed");
}
