//! `postgres-restore-drill`: restores into a throw-away database, proves it, records how long the
//! restore took and drops the throw-away database, also when a verification fails.

use super::postgres::{SEEDED, Server};
use super::postgres_restore::backup;
use super::scenario::{Scenario, vars};

#[test]
fn the_drill_restores_into_a_scratch_database_proves_it_and_drops_it() {
    let server = Server::shared();
    let db = server.database("drill_ok");
    let s = Scenario::new();
    let older = backup(&s, &db).output("dump", "file");
    let newest = backup(&s, &db).output("dump", "file");
    assert_ne!(older, newest);

    let mut args = db.vars();
    args.extend(vars(&[
        ("backup_dir", &s.var_path("backups")),
        ("pick", "random"),
    ]));
    args.extend(["--mode".into(), "drill".into()]);
    let run = s.run("postgres-restore-drill", &args).expect_code(0);

    // Random but never the newest: with two backups, the older one.
    let picked = run.output("pick-backup", "name");
    assert!(older.ends_with(&picked), "{picked} is not {older}");

    let scratch = run.output("create-scratch", "database");
    assert!(scratch.starts_with("restore_drill_"), "{scratch}");
    assert!(
        !server.has_database(&scratch),
        "the scratch database is dropped"
    );
    assert_eq!(run.status("drop-scratch"), "ok");

    for step in ["verify-counts", "verify-orphans", "verify-times"] {
        assert_eq!(run.status(step), "ok", "{step}");
    }
    let counts = run.log("verify-counts");
    assert!(
        counts.contains(&format!(
            "public.order_items: {} rows restored, source has {}",
            SEEDED[2], SEEDED[2]
        )),
        "{counts}"
    );
    assert!(
        run.log("verify-orphans")
            .contains("checked 2 foreign keys: 0 orphaned rows")
    );
    assert!(
        run.log("verify-times")
            .contains("checked 2 timestamp columns: 0 rows in the future")
    );

    // The restore's duration is an output, carried into the summary.
    let restore_ms: u64 = run
        .output("restore-scratch", "restore_ms")
        .parse()
        .expect("a number of milliseconds");
    assert_eq!(run.output("summary", "restore_ms"), restore_ms.to_string());
    assert!(
        std::fs::read_to_string(run.folder().join("drill-result.txt"))
            .expect("drill-result.txt")
            .contains(&format!("restore: {restore_ms} ms into {scratch}"))
    );

    // The report is a drill's, with the RTO measured and met.
    let report = run.report();
    assert!(report.contains("**DRILL**"), "{report}");
    let rto = run.objective_row("RTO");
    assert!(
        rto.starts_with("| RTO | 30m |") && rto.ends_with("| met |"),
        "{rto}"
    );
    assert_eq!(run.journal()[0]["mode"], "drill");
    // The source was only read.
    assert_eq!(db.counts(), SEEDED);
}

#[test]
fn orphaned_rows_fail_the_drill_and_the_scratch_database_is_still_dropped() {
    let server = Server::shared();
    let db = server.database("drill_orphans");
    // Ten orders deleted behind a foreign key that is no longer enforced: 30 orphaned items.
    db.sql(
        "alter table order_items drop constraint order_items_order_id_fkey;
         delete from orders where id <= 10;
         alter table order_items add constraint order_items_order_id_fkey
           foreign key (order_id) references orders (id) not valid;",
    );
    let s = Scenario::new();
    backup(&s, &db);

    let mut args = db.vars();
    args.extend(vars(&[("backup_dir", &s.var_path("backups"))]));
    let run = s.run("postgres-restore-drill", &args).expect_code(1);

    assert_eq!(run.status("verify-orphans"), "failed");
    assert!(
        run.log("verify-orphans")
            .contains("foreign key order_items_order_id_fkey: 30 orphaned rows"),
        "{}",
        run.log("verify-orphans")
    );
    // The rollback of create-scratch dropped the throw-away database; drop-scratch never ran.
    let scratch = run.output("create-scratch", "database");
    assert_eq!(run.status("create-scratch"), "rolled_back");
    assert!(!run.started("drop-scratch"));
    assert!(!server.has_database(&scratch), "{scratch} is left behind");
    assert_eq!(run.run_finished()["status"], "failed");
}
