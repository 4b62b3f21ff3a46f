//! A real `PostgreSQL` server for the tests: `initdb` into a temporary folder, `pg_ctl start` on a
//! free port of 127.0.0.1 with trust authentication, seeded once with the shop schema of
//! `tests/fixtures/dr/seed.sql`; each test gets its own database copied from that seed. One
//! server is shared by the tests that run at the same time and stopped (`pg_ctl stop -m
//! immediate`) when the last of them lets go of it.
//!
//! `PostgreSQL` refuses to run as root. As root, the server programs run as the `postgres` user
//! that the Debian package creates (else as `nobody`) through `runuser`, in a folder owned by
//! that user inside a temporary folder the user can enter. The clients (`psql`, `pg_dump`, the
//! playbooks) stay root and connect over TCP as the `postgres` superuser made by `initdb -U`,
//! without a password; any other role logs in with its password (scram-sha-256).

use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex, PoisonError, Weak};

use super::tools;

/// The server the running tests share; a new one starts when none is alive.
static SHARED: Mutex<Weak<Server>> = Mutex::new(Weak::new());

/// The archiving server the running point-in-time tests share.
static ARCHIVING: Mutex<Weak<Server>> = Mutex::new(Weak::new());

/// Serialises `CREATE DATABASE … TEMPLATE seed`: a template may have no other user meanwhile.
static CREATING: Mutex<()> = Mutex::new(());

const SEED: &str = "seed";

/// A running `PostgreSQL` server in a temporary folder.
pub(crate) struct Server {
    dir: tempfile::TempDir,
    port: u16,
    /// The unprivileged user the server runs as, when the tests run as root.
    run_as: Option<String>,
    pg_ctl: PathBuf,
    psql: PathBuf,
}

/// One test's database on the shared server.
pub(crate) struct Database {
    server: Arc<Server>,
    name: String,
}

impl Server {
    /// The shared server, started (and seeded) if no test holds one.
    pub(crate) fn shared() -> Arc<Self> {
        let mut slot = SHARED.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(server) = slot.upgrade() {
            return server;
        }
        let server = Arc::new(Self::start(false));
        *slot = Arc::downgrade(&server);
        server
    }

    /// A server that archives its WAL into [`Self::wal_archive`] and takes base backups over
    /// replication connections, for point-in-time recovery: not seeded, and shared only by the
    /// tests that ask for this one.
    pub(crate) fn archiving() -> Arc<Self> {
        let mut slot = ARCHIVING.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(server) = slot.upgrade() {
            return server;
        }
        let server = Arc::new(Self::start(true));
        *slot = Arc::downgrade(&server);
        server
    }

    #[expect(
        clippy::too_many_lines,
        reason = "the server's setup in the order it happens: folders, initdb, access, start"
    )]
    fn start(archiving: bool) -> Self {
        tools::require_all(&[
            "initdb",
            "pg_ctl",
            "postgres",
            "psql",
            "pg_dump",
            "pg_restore",
            "pg_isready",
            "dropdb",
        ]);
        let initdb = tools::require("initdb");
        let pg_ctl = tools::require("pg_ctl");
        let psql = tools::require("psql");
        let run_as = tools::running_as_root().then(|| {
            tools::require("runuser");
            if tools::user_exists("postgres") {
                "postgres".to_owned()
            } else {
                "nobody".to_owned()
            }
        });

        // Under /tmp when root: the server's user must reach the folder, and root's own
        // $TMPDIR may sit under /root, which only root can enter.
        let mut builder = tempfile::Builder::new();
        builder.prefix("runbook-pg-");
        let dir = if run_as.is_some() {
            builder.tempdir_in("/tmp")
        } else {
            builder.tempdir()
        }
        .expect("a temporary folder");
        // The server's user must be able to enter the folder; inside, `pg` is its own.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod the temporary folder");
        let home = dir.path().join("pg");
        std::fs::create_dir(&home).expect("mkdir pg");
        if let Some(user) = &run_as {
            let status = Command::new("chown")
                .arg(format!("{user}:"))
                .arg(&home)
                .status()
                .expect("chown runs");
            assert!(status.success(), "chown {user} {}", home.display());
        }
        let server = |program: &Path| -> Command {
            let mut cmd = match &run_as {
                Some(user) => {
                    let mut c = Command::new("runuser");
                    c.args(["-u", user, "--"]).arg(program);
                    c
                }
                None => Command::new(program),
            };
            cmd.current_dir(&home).stdin(Stdio::null());
            cmd
        };

        let data = home.join("data");
        // Beside `pg`, owned by the server's user: what archive_command writes into, and any
        // folder a test wants the server's user to own (a recovered cluster).
        for folder in ["archive", "scratch"] {
            let path = dir.path().join(folder);
            std::fs::create_dir(&path).expect("mkdir");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
            if let Some(user) = &run_as {
                let status = Command::new("chown")
                    .arg(format!("{user}:"))
                    .arg(&path)
                    .status()
                    .expect("chown runs");
                assert!(status.success(), "chown {user} {}", path.display());
            }
        }
        // `wal_keep_size`: a base backup taken with `--wal-method=fetch` reads the WAL written
        // during it from `pg_wal` at its end; a checkpoint meanwhile (the server is busy under a
        // loaded CI) could remove a segment first ("requested WAL segment has already been
        // removed"). Keeping some WAL makes the backup not depend on the timing.
        let archive_options = if archiving {
            format!(
                " -c wal_level=replica -c archive_mode=on -c wal_keep_size=256MB \
                 -c \"archive_command=cp %p {}/%f\"",
                dir.path().join("archive").display()
            )
        } else {
            String::new()
        };
        checked(
            server(&initdb)
                .arg("--pgdata")
                .arg(&data)
                .args(["--username=postgres", "--auth=trust", "--encoding=UTF8"])
                .args(["--locale=C", "--no-sync", "--no-instructions"]),
            "initdb",
        );
        // The superuser logs in without a password (the tests and the playbooks use it); every
        // other role needs its password, so a login that credential-rotation verifies proves
        // the password it set.
        std::fs::write(
            data.join("pg_hba.conf"),
            "local all all trust\n\
             host all postgres 127.0.0.1/32 trust\n\
             host replication postgres 127.0.0.1/32 trust\n\
             host all all 127.0.0.1/32 scram-sha-256\n",
        )
        .expect("write pg_hba.conf");

        // A free port can be taken between finding it and binding it: try a few.
        let mut last = None;
        for _ in 0..5 {
            let port = free_port();
            let options = format!(
                "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off \
                 -c synchronous_commit=off -c full_page_writes=off -c max_connections=60{archive_options}",
                home.display()
            );
            let out = server(&pg_ctl)
                .arg("start")
                .arg("--pgdata")
                .arg(&data)
                .arg("--log")
                .arg(home.join("server.log"))
                .args(["--wait", "--timeout=60", "-o", &options])
                .output()
                .expect("pg_ctl runs");
            if out.status.success() {
                let server = Self {
                    dir,
                    port,
                    run_as,
                    pg_ctl,
                    psql,
                };
                if !archiving {
                    server.seed();
                }
                return server;
            }
            last = Some(out);
        }
        let log = std::fs::read_to_string(home.join("server.log")).unwrap_or_default();
        panic!(
            "pg_ctl start failed five times: {}\n{log}",
            describe(&last.expect("an attempt"))
        );
    }

    fn seed(&self) {
        self.psql("postgres", &format!("create database {SEED}"));
        let sql = super::scenario::fixture("seed.sql");
        self.psql(SEED, &std::fs::read_to_string(sql).expect("seed.sql"));
    }

    /// Runs SQL as the superuser over TCP and returns the unaligned, tuples-only output.
    #[track_caller]
    pub(crate) fn psql(&self, database: &str, sql: &str) -> String {
        let out = Command::new(&self.psql)
            .args(["--no-psqlrc", "--quiet", "-tA", "-v", "ON_ERROR_STOP=1"])
            .args([
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
                "-p",
                &self.port.to_string(),
            ])
            .args(["-d", database, "-f", "-"])
            .env("PGCONNECT_TIMEOUT", "10")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                use std::io::Write;
                child
                    .stdin
                    .take()
                    .expect("piped stdin")
                    .write_all(sql.as_bytes())?;
                child.wait_with_output()
            })
            .expect("psql runs");
        assert!(
            out.status.success(),
            "psql -d {database} failed: {}\n--- sql\n{sql}",
            describe(&out)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// A fresh copy of the seeded database, named `name` (unique per test).
    pub(crate) fn database(self: &Arc<Self>, name: &str) -> Database {
        let _one_at_a_time = CREATING.lock().unwrap_or_else(PoisonError::into_inner);
        self.psql(
            "postgres",
            &format!("drop database if exists {name} with (force); create database {name} template {SEED}"),
        );
        Database {
            server: Arc::clone(self),
            name: name.to_owned(),
        }
    }

    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// The OS user the server runs as, when the tests run as root.
    pub(crate) fn run_as(&self) -> Option<&str> {
        self.run_as.as_deref()
    }

    /// Where `archive_command` copies WAL segments (an archiving server's).
    pub(crate) fn wal_archive(&self) -> PathBuf {
        self.dir.path().join("archive")
    }

    /// A folder the server's user owns and can reach, removed with the server.
    pub(crate) fn scratch(&self) -> PathBuf {
        self.dir.path().join("scratch")
    }

    /// `pg_ctl stop --mode=immediate` of another cluster's data folder, as the server's user.
    pub(crate) fn stop_cluster(&self, data: &Path) {
        let mut cmd = match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(&self.pg_ctl);
                c
            }
            None => Command::new(&self.pg_ctl),
        };
        let _ = cmd
            .arg("stop")
            .arg("--pgdata")
            .arg(data)
            .args(["--mode=immediate", "--wait", "--timeout=30"])
            .stdin(Stdio::null())
            .output();
    }

    /// Whether a database of this name exists.
    pub(crate) fn has_database(&self, name: &str) -> bool {
        self.psql(
            "postgres",
            &format!("select count(*) from pg_database where datname = '{name}'"),
        ) == "1"
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let data = self.dir.path().join("pg/data");
        let mut cmd = match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(&self.pg_ctl);
                c
            }
            None => Command::new(&self.pg_ctl),
        };
        let stopped = cmd
            .arg("stop")
            .arg("--pgdata")
            .arg(&data)
            .args(["--mode=immediate", "--wait", "--timeout=30"])
            .stdin(Stdio::null())
            .output()
            .is_ok_and(|o| o.status.success());
        if !stopped {
            // pg_ctl gave up: the postmaster's pid is the first line of postmaster.pid.
            if let Ok(pid) = std::fs::read_to_string(data.join("postmaster.pid")) {
                if let Some(pid) = pid.lines().next() {
                    let _ = Command::new("kill").args(["-KILL", pid]).status();
                }
            }
        }
    }
}

impl Database {
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn server(&self) -> &Server {
        &self.server
    }

    pub(crate) fn port(&self) -> u16 {
        self.server.port
    }

    #[track_caller]
    pub(crate) fn sql(&self, sql: &str) -> String {
        self.server.psql(&self.name, sql)
    }

    /// `select count(*) from table`.
    #[track_caller]
    pub(crate) fn count(&self, table: &str) -> i64 {
        self.sql(&format!("select count(*) from {table}"))
            .parse()
            .expect("a count")
    }

    /// The row counts of the seeded tables, in the order customers, orders, order items.
    #[track_caller]
    pub(crate) fn counts(&self) -> [i64; 3] {
        [
            self.count("customers"),
            self.count("orders"),
            self.count("order_items"),
        ]
    }

    /// The `--var`s that point a postgres playbook at this database.
    pub(crate) fn vars(&self) -> Vec<String> {
        vec![
            "--var".into(),
            "host=127.0.0.1".into(),
            "--var".into(),
            format!("port={}", self.port()),
            "--var".into(),
            "user=postgres".into(),
            "--var".into(),
            format!("database={}", self.name),
        ]
    }
}

/// What the seed holds: 1000 customers, 3000 orders, 9000 order items.
pub(crate) const SEEDED: [i64; 3] = [1000, 3000, 9000];

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

#[track_caller]
fn checked(cmd: &mut Command, what: &str) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what} cannot start: {e}"));
    assert!(out.status.success(), "{what} failed: {}", describe(&out));
}

fn describe(out: &Output) -> String {
    format!(
        "{}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
