//! `backup-health`: passes on steady backups, flags one that shrank by more than half, a
//! missing backup and a full disk.

use super::postgres::Server;
use super::postgres_restore::backup;
use super::scenario::{Scenario, vars};

fn health(s: &Scenario, database: &str, extra: &[(&str, &str)]) -> super::scenario::Outcome {
    let dir = s.var_path("backups");
    let mut pairs = vec![
        ("database", database),
        ("backup_dir", dir.as_str()),
        ("min_free_mb", "1"),
    ];
    pairs.extend_from_slice(extra);
    s.run("backup-health", &vars(&pairs))
}

#[test]
fn backup_health_passes_on_steady_backups_and_flags_one_that_shrank_by_half() {
    let db = Server::shared().database("health_shrink");
    let s = Scenario::new();
    backup(&s, &db);
    backup(&s, &db);

    let run = health(&s, db.name(), &[]).expect_code(0);
    assert_eq!(run.output("list-backups", "count"), "2");
    assert!(run.log("size-trend").contains("(0% smaller, limit 50%)"));
    for step in ["list-backups", "size-trend", "fresh-local", "storage-room"] {
        assert_eq!(run.status(step), "ok", "{step}");
    }
    assert_eq!(run.status("fresh-remote"), "skipped");

    // Most orders vanish (an application bug, a bad migration): the next backup is far smaller.
    db.sql("delete from orders where id > 300;");
    let small = backup(&s, &db).output(&format!("dump[{}]", db.name()), "file");

    let run = health(&s, db.name(), &[]).expect_code(1);
    assert_eq!(run.status("size-trend"), "failed");
    let name = std::path::Path::new(&small)
        .file_name()
        .and_then(|n| n.to_str())
        .expect("a name")
        .to_owned();
    let message = format!("newest backup {name} (");
    assert!(run.stderr().contains(&message), "{}", run.stderr());
    assert!(
        run.stderr().contains("smaller than the previous one")
            && run.stderr().contains("more than 50%"),
        "{}",
        run.stderr()
    );
    assert!(run.report().contains("smaller than the previous one"));
    assert_eq!(run.run_finished()["status"], "failed");
}

#[test]
fn backup_health_fails_without_a_backup_and_on_a_full_disk() {
    let s = Scenario::new();
    std::fs::create_dir_all(s.path("backups")).expect("mkdir");
    let run = health(&s, "shop", &[]).expect_code(1);
    assert_eq!(run.status("list-backups"), "failed");
    assert!(
        run.stderr().contains("no backup of shop in"),
        "{}",
        run.stderr()
    );

    // A plausible backup, but the disk keeps less than the (absurd) 1000 TiB asked for.
    std::fs::write(
        s.path("backups/shop-20261123T020000Z-postgres-backup-abcd.dump"),
        vec![b'x'; 4096],
    )
    .expect("write");
    let run = health(&s, "shop", &[("min_free_mb", "1073741824")]).expect_code(1);
    assert_eq!(run.status("storage-room"), "failed");
    assert!(run.stderr().contains("is nearly full"), "{}", run.stderr());
}
