//! The real tools the disaster-recovery playbooks drive, found on this machine or named with
//! the command that installs them: a missing tool fails the test, it never passes silently.

use std::env;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

/// How to get each tool on Debian (what `.ci/run` does).
fn install_hint(tool: &str) -> &'static str {
    match tool {
        "initdb" | "pg_ctl" | "postgres" | "pg_dump" | "pg_restore" | "psql" | "pg_isready"
        | "dropdb" | "pg_basebackup" => "apt-get install postgresql",
        "sqlite3" => "apt-get install sqlite3",
        "gpg" | "gpgconf" => "apt-get install gnupg",
        "aws" | "moto_server" => "pip install 'moto[server]' awscli",
        "python3" => "apt-get install python3",
        "curl" => "apt-get install curl",
        "runuser" => "apt-get install util-linux",
        _ => "install it with the system's package manager",
    }
}

/// Debian keeps the server programs (`initdb`, `pg_ctl`, `postgres`) out of PATH, in
/// `/usr/lib/postgresql/<major>/bin`; the newest major version wins.
fn postgres_bin_dir() -> Option<PathBuf> {
    let mut dirs: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|entry| {
            let major = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((major, bin))
        })
        .collect();
    dirs.sort();
    dirs.pop().map(|(_, bin)| bin)
}

fn in_path(tool: &str) -> Option<PathBuf> {
    env::split_paths(&env::var_os("PATH")?)
        .map(|dir| dir.join(tool))
        .find(|candidate| candidate.is_file())
}

/// The full path of `tool`, from PATH or the `PostgreSQL` folder; panics naming the tool and how
/// to install it.
#[track_caller]
pub(crate) fn require(tool: &str) -> PathBuf {
    in_path(tool)
        .or_else(|| {
            postgres_bin_dir()
                .map(|d| d.join(tool))
                .filter(|p| p.is_file())
        })
        .unwrap_or_else(|| {
            panic!(
                "`{tool}` not found in PATH or /usr/lib/postgresql/*/bin: the disaster-recovery \
                 tests run it for real; install it ({}), or run .ci/run",
                install_hint(tool)
            )
        })
}

/// Checks every tool at once, so the message lists all that are missing.
#[track_caller]
pub(crate) fn require_all(tools: &[&str]) {
    let missing: Vec<String> = tools
        .iter()
        .filter(|t| in_path(t).is_none() && postgres_bin_dir().is_none_or(|d| !d.join(t).is_file()))
        .map(|t| format!("`{t}` ({})", install_hint(t)))
        .collect();
    assert!(
        missing.is_empty(),
        "the disaster-recovery tests run these tools for real and they are missing: {}; \
         install them or run .ci/run",
        missing.join(", ")
    );
}

/// PATH for the playbooks: the runner's, plus the `PostgreSQL` folder, because the playbooks
/// call `pg_dump`, `psql` and friends by name.
pub(crate) fn path_for_playbooks() -> OsString {
    let mut dirs: Vec<PathBuf> = env::var_os("PATH")
        .map(|p| env::split_paths(&p).collect())
        .unwrap_or_default();
    if let Some(bin) = postgres_bin_dir() {
        dirs.push(bin);
    }
    env::join_paths(dirs).expect("PATH entries have no `:`")
}

/// Whether this process runs as root (`PostgreSQL` refuses to).
pub(crate) fn running_as_root() -> bool {
    let out = Command::new("id").arg("-u").output().expect("`id -u` runs");
    String::from_utf8_lossy(&out.stdout).trim() == "0"
}

/// Whether `user` exists on this machine.
pub(crate) fn user_exists(user: &str) -> bool {
    Command::new("id")
        .args(["-u", user])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs `program args` and returns its stdout, panicking with both streams when it fails.
#[track_caller]
pub(crate) fn output(program: &Path, args: &[&str], envs: &[(&str, &str)]) -> String {
    let mut cmd = Command::new(program);
    cmd.args(args);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
    assert!(
        out.status.success(),
        "{} {} failed ({}):\n{}{}",
        program.display(),
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
