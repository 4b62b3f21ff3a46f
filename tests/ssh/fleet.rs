//! Real OpenSSH servers for the remote-host tests: `sshd -D -e` on free ports of 127.0.0.1,
//! each with its own generated host key, all accepting one generated client key, and a
//! `known_hosts` file that pins the servers asked for. Each server stops when the fleet drops.

use std::fmt::Write as _;
use std::fs;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::support::wait_until;

/// Where `sshd` is: Debian keeps it in /usr/sbin, which a user's PATH may lack, and sshd must
/// be started by its absolute path.
fn sshd() -> PathBuf {
    ["/usr/sbin/sshd", "/usr/local/sbin/sshd", "/sbin/sshd"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "`sshd` not found: the remote-host tests start real OpenSSH servers; \
                 install them (apt-get install openssh-server openssh-client), or run .ci/run"
            )
        })
}

fn keygen(path: &Path) {
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "runbook-test", "-f"])
        .arg(path)
        .stdin(Stdio::null())
        .status()
        .unwrap_or_else(|e| {
            panic!("`ssh-keygen` cannot run ({e}): apt-get install openssh-client, or run .ci/run")
        });
    assert!(status.success(), "ssh-keygen failed for {}", path.display());
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// The user the servers let in: the one running the tests.
pub(crate) fn user() -> String {
    let out = Command::new("id").arg("-un").output().expect("`id` runs");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// One `sshd`.
pub(crate) struct Server {
    pub(crate) port: u16,
    log: PathBuf,
    child: Child,
}

impl Server {
    /// How many times a client authenticated: one per connection.
    pub(crate) fn logins(&self) -> usize {
        fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("Accepted publickey"))
            .count()
    }

    pub(crate) fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Servers, the client key and a `known_hosts` file.
pub(crate) struct Fleet {
    dir: tempfile::TempDir,
    pub(crate) servers: Vec<Server>,
}

impl Fleet {
    /// `count` servers; the first `pinned` of them are in `known_hosts`.
    pub(crate) fn start(count: usize, pinned: usize) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let client = dir.path().join("client_key");
        keygen(&client);
        let authorized = dir.path().join("authorized_keys");
        fs::copy(client.with_extension("pub"), &authorized).expect("authorized_keys");
        fs::set_permissions(&authorized, fs::Permissions::from_mode(0o600)).expect("chmod");
        // The privilege separation folder sshd wants (root only; a user's sshd needs none).
        let _ = fs::create_dir_all("/run/sshd");
        let mut servers = Vec::new();
        let mut known = String::new();
        for n in 0..count {
            let key = dir.path().join(format!("host_key_{n}"));
            keygen(&key);
            let host_key = fs::read_to_string(key.with_extension("pub"))
                .expect("host key")
                .split_whitespace()
                .take(2)
                .collect::<Vec<_>>()
                .join(" ");
            let server = start_server(dir.path(), n, &key, &authorized);
            if n < pinned {
                let _ = writeln!(known, "[127.0.0.1]:{} {host_key}", server.port);
            }
            servers.push(server);
        }
        fs::write(dir.path().join("known_hosts"), known).expect("known_hosts");
        Self { dir, servers }
    }

    pub(crate) fn client_key(&self) -> PathBuf {
        self.dir.path().join("client_key")
    }

    pub(crate) fn known_hosts(&self) -> PathBuf {
        self.dir.path().join("known_hosts")
    }

    /// `[hosts.NAME]` for server `n`, with absolute paths to the key and `known_hosts`.
    pub(crate) fn host(&self, name: &str, n: usize) -> String {
        format!(
            "[hosts.{name}]\nssh = \"{}@127.0.0.1:{}\"\nidentity = \"{}\"\nknown_hosts = \"{}\"\n",
            user(),
            self.servers[n].port,
            self.client_key().display(),
            self.known_hosts().display()
        )
    }
}

fn start_server(dir: &Path, n: usize, key: &Path, authorized: &Path) -> Server {
    let log = dir.join(format!("sshd_{n}.log"));
    for _ in 0..5 {
        let port = free_port();
        let config = dir.join(format!("sshd_config_{n}"));
        fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nPidFile {}\n\
                 AuthorizedKeysFile {}\nStrictModes no\nUsePAM no\nPasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n\
                 LogLevel VERBOSE\nMaxSessions 50\n",
                key.display(),
                dir.join(format!("sshd_{n}.pid")).display(),
                authorized.display(),
            ),
        )
        .expect("sshd_config");
        let child = Command::new(sshd())
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(&log).expect("sshd log"))
            .spawn()
            .expect("sshd starts");
        let mut server = Server {
            port,
            log: log.clone(),
            child,
        };
        let up = wait_until(Duration::from_secs(10), || {
            TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok()
                || matches!(server.child.try_wait(), Ok(Some(_)))
        });
        if up && matches!(server.child.try_wait(), Ok(None)) {
            return server;
        }
        // The port was taken between the probe and sshd's bind: another one.
        let _ = server.child.kill();
    }
    panic!(
        "sshd did not start:\n{}",
        fs::read_to_string(&log).unwrap_or_default()
    );
}
