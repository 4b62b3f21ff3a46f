//! `config-backup`: command outputs and an HTTP API's JSON, archived, encrypted with gpg,
//! uploaded to moto with server-side encryption and proven by decrypting the stored copy; a
//! wrong passphrase stops the run before anything is exported or uploaded.

use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::json;

use crate::support::{HttpStub, Reply, running_with};

use super::s3;
use super::scenario::{Scenario, vars};
use super::tools;

const PASSPHRASE: &str = "correct horse battery staple 7f3a";

/// Runs gpg with its own home in `home` and `passphrase` on stdin, then stops the agent it
/// started.
#[track_caller]
fn gpg(home: &Path, passphrase: &str, args: &[&str]) {
    std::fs::create_dir_all(home).expect("mkdir gnupg");
    let mut child = Command::new(tools::require("gpg"))
        .args(["--batch", "--quiet", "--yes", "--pinentry-mode", "loopback"])
        .args(["--passphrase-fd", "0"])
        .args(args)
        .env("GNUPGHOME", home)
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("gpg starts");
    {
        use std::io::Write;
        child
            .stdin
            .take()
            .expect("piped")
            .write_all(passphrase.as_bytes())
            .expect("write the passphrase");
    }
    let out = child.wait_with_output().expect("gpg runs");
    let _ = Command::new("gpgconf")
        .args(["--kill", "gpg-agent"])
        .env("GNUPGHOME", home)
        .status();
    assert!(
        out.status.success(),
        "gpg {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn scenario_with(passphrase: &str) -> Scenario {
    let s = Scenario::new().env("CONFIG_BACKUP_PASSPHRASE", passphrase);
    std::fs::write(s.path("router.conf"), "interface eth0\n  mtu 9000\n").expect("write");
    // The team's check file, encrypted once with the real passphrase.
    std::fs::write(s.path("check.txt"), "ok\n").expect("write");
    gpg(
        &s.path("gnupg-setup"),
        PASSPHRASE,
        &[
            "--symmetric",
            "--output",
            &s.var_path("check.gpg"),
            &s.var_path("check.txt"),
        ],
    );
    s
}

fn args(s: &Scenario, api: &HttpStub, bucket: &str, endpoint: &str) -> Vec<String> {
    let exports = format!(
        r#"[{{ name = "router", command = "cat {}" }}, {{ name = "greeting", command = "printf 'hello\\n'" }}]"#,
        s.var_path("router.conf")
    );
    vars(&[
        ("exports", &exports),
        ("api_url", &api.url_for("/api/export")),
        ("backup_dir", &s.var_path("backups")),
        ("bucket", bucket),
        ("endpoint_url", endpoint),
        ("prefix", "config/"),
        ("passphrase_check", &s.var_path("check.gpg")),
    ])
}

#[test]
#[expect(
    clippy::too_many_lines,
    reason = "one scenario, read top to bottom: the setup, the run, then what it left"
)]
fn the_stored_copy_is_encrypted_twice_and_decrypts_to_the_export() {
    let storage = s3::Server::shared();
    let bucket = storage.bucket("config-backup");
    let settings = json!({ "vlans": [10, 20], "dns": { "primary": "10.0.0.2" } });
    let api = HttpStub::start(vec![Reply::json(200, settings.clone())]);
    let s = scenario_with(PASSPHRASE);

    let run = s
        .run(
            "config-backup",
            &args(&s, &api, &bucket, &storage.endpoint()),
        )
        .expect_code(0);

    // Stored: the encrypted archive and its checksum, both with server-side encryption.
    let objects = storage.objects(&bucket, "config/");
    let keys: Vec<&str> = objects.iter().map(|(k, _)| k.as_str()).collect();
    let name = Path::new(&run.output("encrypt", "file"))
        .file_name()
        .expect("a name")
        .to_str()
        .expect("utf-8")
        .to_owned();
    assert!(
        name.starts_with("config-") && name.ends_with(".tar.gz.gpg"),
        "{name}"
    );
    assert_eq!(
        keys,
        [format!("config/{name}"), format!("config/{name}.sha256")]
    );
    let key = format!("config/{name}");
    let sse = storage.aws(&[
        "s3api",
        "head-object",
        "--bucket",
        &bucket,
        "--key",
        &key,
        "--query",
        "ServerSideEncryption",
        "--output",
        "text",
    ]);
    assert_eq!(sse.trim(), "AES256");
    assert!(
        run.log("verify-copy")
            .contains("stored with server-side encryption: AES256")
    );
    assert!(
        run.log("verify-copy")
            .contains("stored copy decrypts to the archive")
    );

    // Downloaded and decrypted here, it holds exactly what was exported.
    let copy = s.path("copy.gpg");
    storage.aws(&[
        "s3",
        "cp",
        &format!("s3://{bucket}/{key}"),
        copy.to_str().expect("utf-8"),
    ]);
    let archive = s.path("copy.tar.gz");
    gpg(
        &s.path("gnupg-check"),
        PASSPHRASE,
        &[
            "--decrypt",
            "--output",
            archive.to_str().expect("utf-8"),
            copy.to_str().expect("utf-8"),
        ],
    );
    let unpacked = s.path("unpacked");
    std::fs::create_dir_all(&unpacked).expect("mkdir");
    let status = Command::new("tar")
        .arg("-xzf")
        .arg(&archive)
        .arg("-C")
        .arg(&unpacked)
        .status()
        .expect("tar");
    assert!(status.success());
    assert_eq!(
        std::fs::read_to_string(unpacked.join("router.txt")).expect("router.txt"),
        std::fs::read_to_string(s.path("router.conf")).expect("router.conf")
    );
    assert_eq!(
        std::fs::read_to_string(unpacked.join("greeting.txt")).expect("greeting.txt"),
        "hello\n"
    );
    let api_json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(unpacked.join("api.json")).expect("api.json"),
    )
    .expect("JSON");
    assert_eq!(api_json, settings);
    assert_eq!(api.requests().len(), 1);

    // Nothing readable stays in the run folder, the passphrase is written nowhere, and gpg's
    // agent is stopped.
    assert!(!run.folder().join("export").exists());
    assert!(!run.folder().join(name.trim_end_matches(".gpg")).exists());
    assert_eq!(run.status("shred-plaintext"), "ok");
    assert_eq!(
        s.files_containing(PASSPHRASE),
        Vec::<std::path::PathBuf>::new()
    );
    let folder = run.folder().to_str().expect("utf-8").to_owned();
    assert_eq!(
        running_with(&folder),
        Vec::<i32>::new(),
        "a process outlived the run"
    );
    assert_eq!(run.run_finished()["status"], "ok");
    let report = run.report();
    assert!(report.contains("| Backup owner |"), "{report}");
}

#[test]
fn a_wrong_passphrase_fails_before_anything_is_exported_or_uploaded() {
    let storage = s3::Server::shared();
    let bucket = storage.bucket("config-backup-wrong");
    let api = HttpStub::start(vec![Reply::json(200, json!({ "ok": true }))]);
    let wrong = "correct horse battery stapler";
    let s = scenario_with(wrong);

    let run = s
        .run(
            "config-backup",
            &args(&s, &api, &bucket, &storage.endpoint()),
        )
        .expect_code(1);

    assert_eq!(run.status("check-passphrase"), "failed");
    let log = run.log("check-passphrase");
    assert!(
        log.contains(&format!(
            "wrong passphrase: it does not open {}; nothing was exported or uploaded",
            s.var_path("check.gpg")
        )),
        "{log}"
    );
    for step in [
        "export-commands",
        "export-api",
        "archive",
        "encrypt",
        "upload",
    ] {
        assert!(!run.started(step), "{step} started");
    }
    assert!(storage.objects(&bucket, "").is_empty(), "nothing uploaded");
    assert!(api.requests().is_empty(), "nothing exported");
    assert!(!s.path("backups").exists(), "nothing encrypted");
    assert_eq!(s.files_containing(wrong), Vec::<std::path::PathBuf>::new());
    assert_eq!(run.status("shred-plaintext"), "ok");
    assert_eq!(run.run_finished()["status"], "failed");
}
