//! `emergency-recovery`: three databases restored in parallel as independent chains, one from
//! its fallback backup, one unrecoverable; the partial recovery is announced and fails the run.

use std::path::Path;
use std::time::Duration;

use chrono::Utc;

use crate::support::{HttpStub, Reply};

use super::postgres::{SEEDED, Server};
use super::postgres_backup::files;
use super::postgres_restore::corrupt;
use super::scenario::{Scenario, vars};

#[test]
#[expect(
    clippy::too_many_lines,
    reason = "one scenario, read top to bottom: the setup, the run, then what it left"
)]
fn databases_restore_in_parallel_and_a_partial_recovery_is_announced() {
    let server = Server::shared();
    let names = ["emer_a", "emer_b", "emer_c"];
    let dbs: Vec<_> = names.iter().map(|n| server.database(n)).collect();
    let webhook = HttpStub::start(vec![Reply::ok("ok")]);
    let service = HttpStub::start(vec![Reply::ok("healthy")]);
    let s = Scenario::new().env("DR_WEBHOOK_URL", &webhook.url_for("/dr"));
    let dir = s.path("backups");
    let backup_args = vars(&[
        ("host", "127.0.0.1"),
        ("port", &server.port().to_string()),
        ("databases", r#"["emer_a", "emer_b", "emer_c"]"#),
        ("backup_dir", dir.to_str().expect("utf-8")),
    ]);
    // Two nightly backups, a second apart (names carry the second).
    for _ in 0..2 {
        let into_second = Utc::now().timestamp_subsec_millis();
        std::thread::sleep(Duration::from_millis(u64::from(
            1000 - into_second.min(999),
        )));
        s.run("postgres-backup", &backup_args).expect_code(0);
    }
    // emer_b's newest backup is corrupt; both of emer_c's are.
    let newest = |db: &str| {
        dir.join(db)
            .join(files(&dir.join(db), ".dump").pop().expect("a dump"))
    };
    corrupt(&newest("emer_b"));
    for name in files(&dir.join("emer_c"), ".dump") {
        corrupt(&dir.join("emer_c").join(name));
    }
    // The outage: every database lost its order items.
    for db in &dbs {
        db.sql("truncate order_items");
    }

    let mut args = vars(&[
        ("host", "127.0.0.1"),
        ("port", &server.port().to_string()),
        ("databases", r#"["emer_a", "emer_b", "emer_c"]"#),
        ("backup_dir", dir.to_str().expect("utf-8")),
        (
            "services",
            &format!(
                r#"[{{ name = "shop", url = "{}" }}]"#,
                service.url_for("/health")
            ),
        ),
    ]);
    args.push("--yes".into());
    let run = s.run("emergency-recovery", &args).expect_code(1);

    // a and b are back (b from the backup before its newest); c is untouched, not half-restored.
    assert_eq!(dbs[0].counts(), SEEDED);
    assert_eq!(dbs[1].counts(), SEEDED);
    assert_eq!(dbs[2].counts(), [SEEDED[0], SEEDED[1], 0]);
    assert_eq!(run.status("restore[emer_a]"), "ok");
    assert_eq!(run.status("restore[emer_b]"), "ok");
    assert_eq!(run.status("restore[emer_c]"), "failed");
    assert_eq!(run.output("restore[emer_b]", "fallback"), "yes");
    assert_eq!(
        run.output("restore[emer_a]", "fallback"),
        "no",
        "{}",
        run.log("restore[emer_a].restore-newest")
    );
    assert_eq!(run.status("restore[emer_b]/restore-previous"), "ok");
    assert_eq!(run.finished("restore[emer_c]/restored")["status"], "failed");
    assert!(
        run.log("restore[emer_c].restored")
            .contains("no restore started: emer_c is untouched"),
        "{}",
        run.log("restore[emer_c].restored")
    );
    // Independent chains: every restore started before the first one ended.
    let journal = run.journal();
    let first_end = journal
        .iter()
        .position(|e| {
            e["event"] == "step_finished"
                && e["step"]
                    .as_str()
                    .is_some_and(|s| s.starts_with("restore["))
        })
        .expect("a restore ended");
    for name in names {
        let started = journal
            .iter()
            .position(|e| e["event"] == "step_started" && e["step"] == format!("restore[{name}]"))
            .expect("started");
        assert!(started < first_end, "{name}");
    }

    // The summary and the final message say it all: partial, which, the fallback, the loss.
    eprintln!(
        "DBG {} || {}",
        run.finished("restore"),
        run.finished("restore[emer_a]")
    );
    let text = run.output("summary", "text");
    assert!(
        text.starts_with("PARTIAL RECOVERY: 2 of 3 databases in "),
        "{text}"
    );
    assert!(
        text.contains("emer_b (FALLBACK to the previous backup emer_b-"),
        "{text}"
    );
    assert!(text.contains("not recovered: emer_c"), "{text}");
    assert!(text.contains("data loss "), "{text}");
    assert_eq!(run.status("smoke-test"), "ok");
    assert_eq!(run.status("verdict"), "failed");
    let messages: Vec<serde_json::Value> = webhook.requests().iter().map(|r| r.json()).collect();
    let declare = messages
        .iter()
        .find(|m| m["step"] == "declare")
        .unwrap_or_else(|| panic!("no declaration: {messages:?}"));
    assert_eq!(declare["fields"]["Severity"], "SEV1");
    assert_eq!(declare["fields"]["Status"], "restoring");
    assert!(
        declare["fields"]["Commander"]
            .as_str()
            .is_some_and(|c| !c.is_empty())
    );
    let outcome = messages
        .iter()
        .find(|m| m["step"] == "notify-outcome")
        .unwrap_or_else(|| panic!("no outcome message: {messages:?}"));
    assert!(
        outcome["text"]
            .as_str()
            .expect("text")
            .ends_with(&format!("\n{text}")),
        "{outcome}"
    );
    assert_eq!(outcome["fields"]["Status"], "partial");
    assert_eq!(outcome["fields"]["Not recovered"], "emer_c");
    let report = run.report();
    assert!(report.contains("PARTIAL RECOVERY"), "{report}");
    assert_eq!(run.run_finished()["status"], "failed");
    assert!(
        Path::new(&dir.join("safety/emer_a")).is_dir(),
        "a safety snapshot per database"
    );
}
