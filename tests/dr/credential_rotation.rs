//! `credential-rotation`: a new login role with a generated password, proven by a real
//! password login, handed to each consumer, the old login dropped; the password is written
//! nowhere in the run folder.

use std::process::Command;

use super::postgres::Server;
use super::scenario::{Scenario, vars};
use super::tools;

/// Logs in as `role` with `password` over TCP (scram-sha-256) and runs `sql`.
fn login(
    db_port: u16,
    database: &str,
    role: &str,
    password: &str,
    sql: &str,
) -> Result<String, String> {
    let out = Command::new(tools::require("psql"))
        .args(["--no-psqlrc", "--no-password", "-tA", "-h", "127.0.0.1"])
        .args([
            "-p",
            &db_port.to_string(),
            "-U",
            role,
            "-d",
            database,
            "-c",
            sql,
        ])
        .env("PGPASSWORD", password)
        .env("PGCONNECT_TIMEOUT", "10")
        .output()
        .expect("psql runs");
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[test]
fn rotation_creates_a_working_login_updates_consumers_and_drops_the_old_one() {
    let server = Server::shared();
    let db = server.database("rotation");
    db.sql(
        "drop role if exists rot_app_old; drop role if exists rot_rw;
         create role rot_rw;
         grant select on customers to rot_rw;
         create role rot_app_old login password 'old-password-1234' in role rot_rw;",
    );
    assert_eq!(
        login(
            db.port(),
            db.name(),
            "rot_app_old",
            "old-password-1234",
            "select count(*) from customers"
        ),
        Ok("1000".to_owned())
    );
    let s = Scenario::new();
    let app = s.path("app");
    std::fs::create_dir_all(&app).expect("mkdir app");
    let consumers = format!(
        r#"[{{ name = "api", command = "printf 'user=%s\\npassword=%s\\n' \"$NEW_ROLE\" \"$NEW_PASSWORD\" > {dir}/api.env" }}, {{ name = "worker", command = "printf '%s' \"$NEW_PASSWORD\" > {dir}/worker.secret" }}]"#,
        dir = app.display()
    );
    let mut args = db.vars();
    args.extend(vars(&[
        ("member_of", "rot_rw"),
        ("role_prefix", "rot_app"),
        ("verify_sql", "select count(*) from customers"),
        ("consumers", &consumers),
    ]));
    let run = s.run("credential-rotation", &args).expect_code(0);

    // The consumers got the new login; it works with its password and only with it.
    let env = std::fs::read_to_string(app.join("api.env")).expect("api.env");
    let role = env
        .lines()
        .find_map(|l| l.strip_prefix("user="))
        .expect("user=")
        .to_owned();
    let password = env
        .lines()
        .find_map(|l| l.strip_prefix("password="))
        .expect("password=")
        .to_owned();
    assert_eq!(role, run.output("generate-password", "role"));
    assert!(role.starts_with("rot_app_"), "{role}");
    assert_eq!(password.len(), 32);
    assert_eq!(
        std::fs::read_to_string(app.join("worker.secret")).expect("worker.secret"),
        password
    );
    assert_eq!(
        login(
            db.port(),
            db.name(),
            &role,
            &password,
            "select count(*) from customers"
        ),
        Ok("1000".to_owned())
    );
    let refused = login(db.port(), db.name(), &role, "not-the-password", "select 1");
    assert!(
        refused
            .as_ref()
            .is_err_and(|e| e.contains("password authentication failed")),
        "{refused:?}"
    );
    // The old login is gone.
    assert_eq!(
        db.sql("select count(*) from pg_roles where rolname = 'rot_app_old'"),
        "0"
    );
    assert_eq!(run.output("drop-old-roles", "dropped"), "1");
    assert!(run.log("drop-old-roles").contains("dropped rot_app_old"));

    // The password appears nowhere in the run folder (logs, journal, report) and is masked in
    // the journal's outputs.
    let leaks = Scenario::files_in_containing(run.folder(), &password);
    assert!(leaks.is_empty(), "the password leaked into {leaks:?}");
    assert_eq!(run.output("generate-password", "password"), "***");
    assert!(run.log("generate-password").contains("password=***"));
    assert!(run.log("update-consumers").contains("consumers updated: 2"));
    assert_eq!(run.run_finished()["status"], "ok");
    db.sql(&format!(
        "drop role \"{role}\"; drop owned by rot_rw; drop role rot_rw;"
    ));
}
