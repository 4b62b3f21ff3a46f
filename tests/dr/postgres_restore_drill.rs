//! `postgres-restore-drill`: restores into a throw-away database, proves it, records how long the
//! restore took and drops the throw-away database, also when a verification fails.

use nix::sys::signal::Signal;

use super::postgres::{SEEDED, Server};
use super::postgres_restore::{backup, plain_backup};
use super::scenario::{Outcome, Scenario, vars};

/// `drop-scratch` ran as a cleanup step and ended ok, and the scratch database is gone.
#[track_caller]
fn assert_cleaned_up(run: &Outcome, scratch: &str) {
    let started = run
        .events("step_started")
        .into_iter()
        .find(|e| e["step"] == "drop-scratch")
        .expect("drop-scratch started");
    assert_eq!(started["always"], true, "{started}");
    assert_eq!(run.status("drop-scratch"), "ok");
    assert!(
        !Server::shared().has_database(scratch),
        "{scratch} is left behind"
    );
}

#[test]
fn the_drill_restores_into_a_scratch_database_proves_it_and_drops_it() {
    let server = Server::shared();
    let db = server.database("drill_ok");
    let s = Scenario::new();
    let older = backup(&s, &db).output(&format!("dump[{}]", db.name()), "file");
    let newest = backup(&s, &db).output(&format!("dump[{}]", db.name()), "file");
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
    assert_cleaned_up(&run, &scratch);
    assert_eq!(run.status("verify-sql"), "skipped", "no verify_sql given");

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
        std::fs::read_to_string(run.folder().join("work/drill_ok/drill-result.txt"))
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
    // The cleanup step dropped the throw-away database, though the drill failed.
    let scratch = run.output("create-scratch", "database");
    assert_eq!(run.status("summary"), "skipped");
    assert_cleaned_up(&run, &scratch);
    assert_eq!(run.run_finished()["status"], "failed");
}

#[test]
fn a_plain_sql_backup_is_drilled_with_the_teams_own_checks() {
    let server = Server::shared();
    let db = server.database("drill_plain");
    let s = Scenario::new();
    let dir = s.path("backups");
    plain_backup(&db, &dir, "nightly.sql.gz", "");
    let checks = s.path("checks.sql");
    std::fs::write(
        &checks,
        "select count(*) = 3000 from orders;\nselect count(*) > 0 from customers;\n",
    )
    .expect("write checks");
    let mut args = db.vars();
    args.extend(vars(&[
        ("backup_dir", &s.var_path("backups")),
        ("verify_sql", &s.var_path("checks.sql")),
    ]));
    let run = s.run("postgres-restore-drill", &args).expect_code(0);

    assert_eq!(run.output("pick-backup", "name"), "nightly.sql.gz");
    assert!(run.log("verify-backup").contains("gzip stream intact"));
    assert_eq!(run.status("verify-counts"), "ok");
    assert_eq!(run.status("verify-sql"), "ok");
    assert!(run.log("verify-sql").contains("verify_sql passed"));
    let scratch = run.output("create-scratch", "database");
    assert_cleaned_up(&run, &scratch);

    // One false check fails the drill, and the scratch database still goes.
    std::fs::write(
        &checks,
        "select count(*) = 3000 from orders;\nselect count(*) = 1 from customers;\n",
    )
    .expect("write checks");
    let run = s.run("postgres-restore-drill", &args).expect_code(1);
    assert_eq!(run.status("verify-sql"), "failed");
    assert!(
        run.log("verify-sql").contains("1 check(s) of"),
        "{}",
        run.log("verify-sql")
    );
    assert_eq!(run.status("summary"), "skipped");
    let scratch = run.output("create-scratch", "database");
    assert_cleaned_up(&run, &scratch);
    assert_eq!(run.run_finished()["status"], "failed");
    assert_eq!(db.counts(), SEEDED);
}

#[test]
fn ctrl_c_during_a_drill_drops_the_scratch_database_and_exits_130() {
    let server = Server::shared();
    let db = server.database("drill_interrupted");
    let s = Scenario::new();
    backup(&s, &db);
    // A check that takes a minute: the drill is interrupted while it runs.
    std::fs::write(s.path("slow.sql"), "select pg_sleep(60);\n").expect("write");
    let mut args = db.vars();
    args.extend(vars(&[
        ("backup_dir", &s.var_path("backups")),
        ("verify_sql", &s.var_path("slow.sql")),
    ]));
    let running = s.spawn("postgres-restore-drill", &args);
    running.wait_for_step("verify-sql");
    running.signal(Signal::SIGINT);
    let run = running.finish().expect_code(130);

    assert_eq!(run.status("verify-sql"), "cancelled");
    assert_eq!(run.status("summary"), "skipped");
    let scratch = run.output("create-scratch", "database");
    assert_cleaned_up(&run, &scratch);
    assert_eq!(run.run_finished()["status"], "interrupted");
    assert!(
        run.report().contains("cleanup (`always`)"),
        "{}",
        run.report()
    );
    // No psql of the interrupted check is left on the server.
    assert_eq!(
        server.psql(
            "postgres",
            "select count(*) from pg_stat_activity where query like '%pg_sleep(60)%' and pid <> pg_backend_pid()"
        ),
        "0"
    );
}
