//! The processes running on this machine, as `/proc` lists them, and markers that tell a test's
//! own processes from everyone else's.

use std::sync::atomic::{AtomicU32, Ordering};

/// A `sleep` argument that no other process has: a fractional number of seconds (GNU `sleep`
/// takes them) made of this test binary's pid and a counter, so `/proc/*/cmdline` tells this
/// test's sleeps from everyone else's. Long enough to outlive any test if not killed.
pub(crate) fn marker() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    format!(
        "900.{}{:04}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// The arguments of every process that is running (not a zombie), by pid.
pub(crate) fn command_lines() -> Vec<(i32, Vec<String>)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let pid: i32 = entry.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let state = stat
                .rsplit_once(')')?
                .1
                .split_whitespace()
                .next()?
                .to_owned();
            if state == "Z" || state == "X" {
                return None;
            }
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let args = cmdline
                .split(|&b| b == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            Some((pid, args))
        })
        .collect()
}

/// The running processes that have `word` as one of their arguments.
pub(crate) fn running_with(word: &str) -> Vec<i32> {
    command_lines()
        .into_iter()
        .filter(|(_, args)| args.iter().any(|a| a == word))
        .map(|(pid, _)| pid)
        .collect()
}
