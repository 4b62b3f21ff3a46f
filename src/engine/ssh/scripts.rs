//! The two fixed programs runbook asks a remote host to run, and the payload it sends on the
//! session's stdin. Nothing a playbook writes is ever part of the remote command line: the
//! command is always [`bootstrap_command`] (or [`teardown_command`] with two numbers), and the
//! script, its environment and its secrets come after it on stdin.
//!
//! The bootstrap (POSIX `sh`, run by the login shell as `exec sh -c '…'`):
//! 1. reads a header line `ENV_BYTES SCRIPT_BYTES`, then the environment block (shell code:
//!    `export K='v'` lines and an optional `cd`) and the script, with `head -c`;
//! 2. evaluates the environment block (`eval`, a builtin: no value becomes an argument);
//! 3. starts `sh -c '. /dev/fd/3'` under `setsid`, so the script leads its own session and
//!    process group, with the script on fd 3 (a pipe fed by the builtin `printf`) and stdin
//!    from `/dev/null`, and reports that group on stderr as `\x1erunbook-pgid N`;
//! 4. keeps reading its own stdin, which runbook holds open: end of file means runbook or its
//!    connection is gone, and the group gets TERM, then KILL two seconds later;
//! 5. waits for the script and reports its status as `\x1erunbook-exit N` before exiting with it.

use std::fmt::Write as _;

/// The marker that starts a report line of the bootstrap on stderr (ASCII record separator).
pub(crate) const MARK: u8 = 0x1e;

/// The bootstrap; it contains no single quote, so it fits in one quoted word of the remote
/// login shell.
const BOOTSTRAP: &str = r#"IFS=" " read -r ne ns || exit 254
e=$(head -c "$ne"; echo .) || exit 254
e=${e%.}
s=$(head -c "$ns"; echo .) || exit 254
s=${s%.}
eval "$e"
exec 4<&0
printf %s "$s" | setsid sh -c ". /dev/fd/3" 3<&0 </dev/null 4<&- &
g=$!
s=
printf "\036runbook-pgid %s\n" "$g" >&2
(while IFS= read -r _; do :; done; kill -TERM -$g $g; sleep 2; kill -KILL -$g $g) <&4 >/dev/null 2>&1 &
w=$!
exec 4<&-
wait "$g"; x=$?
kill "$w" 2>/dev/null
printf "\036runbook-exit %s\n" "$x" >&2
exit "$x""#;

/// Terminates everything in the session or process group `$1` (the script's shell and all it
/// started that did not start a session of its own): TERM (and CONT), then KILL after `$2`
/// ticks of 50 ms, and reports `runbook-teardown FOUND KILLED EMPTY`. Zombies count as gone.
const TEARDOWN: &str = r#"g=$1; t=$2
command -v ps >/dev/null 2>&1 || { kill -KILL -$g $g 2>/dev/null; echo "runbook-teardown-error \`ps\` is not installed on the host"; exit 0; }
m() { ps -A -o pid= -o pgid= -o sid= -o stat= | while read -r p q s z; do case $z in Z*) continue;; esac; if [ "$p" = "$g" ] || [ "$q" = "$g" ] || [ "$s" = "$g" ]; then echo "$p"; fi; done; }
k=$(m); n=0; for p in $k; do n=$((n+1)); done
if [ -n "$k" ]; then kill -TERM $k 2>/dev/null; kill -CONT $k 2>/dev/null; fi
i=0; while [ $i -lt $t ]; do l=$(m); [ -z "$l" ] && break; kill -TERM $l 2>/dev/null; sleep 0.05; i=$((i+1)); done
c=0; l=$(m); if [ -n "$l" ]; then c=1; kill -KILL $l 2>/dev/null; fi
i=0; while [ $i -lt 40 ]; do l=$(m); [ -z "$l" ] && break; kill -KILL $l 2>/dev/null; sleep 0.05; i=$((i+1)); done
if [ -z "$(m)" ]; then e=1; else e=0; fi
echo "runbook-teardown $n $c $e""#;

/// The remote command of a step's session.
pub(crate) fn bootstrap_command() -> String {
    format!("exec sh -c '{BOOTSTRAP}'")
}

/// The remote command that tears down group `pgid` with `grace` between TERM and KILL.
pub(crate) fn teardown_command(pgid: u32, grace: std::time::Duration) -> String {
    let ticks = grace.as_millis().div_ceil(50);
    format!("exec sh -c '{TEARDOWN}' runbook-teardown {pgid} {ticks}")
}

/// What the session's stdin carries: the header, the environment block and the script.
pub(crate) fn payload(env: &[(String, String)], cwd: Option<&str>, script: &str) -> Vec<u8> {
    let mut block = String::new();
    for (key, value) in env {
        // Names are checked by validation (and `RUNBOOK_*` are ours); a name that is not one
        // would be a syntax error, so it is left out rather than evaluated.
        if is_name(key) {
            let _ = writeln!(block, "export {key}={}", quote(value));
        }
    }
    if let Some(dir) = cwd {
        let _ = writeln!(
            block,
            "cd {} || {{ printf '\\036runbook-exit 1\\n' >&2; exit 1; }}",
            quote(dir)
        );
    }
    let mut out = format!("{} {}\n", block.len(), script.len()).into_bytes();
    out.extend_from_slice(block.as_bytes());
    out.extend_from_slice(script.as_bytes());
    out
}

fn is_name(key: &str) -> bool {
    let mut bytes = key.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// `value` as one single-quoted shell word.
fn quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fixed_programs_fit_in_single_quotes() {
        assert!(!BOOTSTRAP.contains('\''));
        assert!(!TEARDOWN.contains('\''));
        assert!(teardown_command(42, std::time::Duration::from_millis(120)).ends_with(" 42 3"));
    }

    #[test]
    fn the_payload_counts_bytes_and_quotes_values() {
        let env = vec![
            ("A".to_owned(), "it's é".to_owned()),
            ("bad name".to_owned(), "x".to_owned()),
        ];
        let p = String::from_utf8(payload(&env, Some("/srv"), "echo ü\n")).expect("utf-8");
        let (header, rest) = p.split_once('\n').expect("a header");
        let block = "export A='it'\\''s é'\ncd '/srv' || { printf '\\036runbook-exit 1\\n' >&2; exit 1; }\n";
        assert_eq!(header, format!("{} 8", block.len()));
        assert_eq!(rest, format!("{block}echo ü\n"));
    }

    /// The bootstrap, run by a local `sh`: the script's output, its environment, its own
    /// process group, and the two report lines.
    #[test]
    fn the_bootstrap_runs_the_script_in_its_own_group() {
        use std::io::Write as _;
        use std::process::{Command, Stdio};
        let env = vec![("RB_SECRET".to_owned(), "s3'cr et".to_owned())];
        let script = "echo \"$RB_SECRET\"; ps -o pgid= -p $$ | tr -d ' '; echo $$; cat; exit 3\n";
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(BOOTSTRAP)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("sh starts");
        let mut stdin = child.stdin.take().expect("piped");
        stdin
            .write_all(&payload(&env, None, script))
            .expect("payload written");
        // Held open while the script runs: end of file would mean runbook is gone.
        let out = child.wait_with_output().expect("sh ends");
        drop(stdin);
        assert_eq!(out.status.code(), Some(3));
        let stdout = String::from_utf8_lossy(&out.stdout);
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(lines[0], "s3'cr et");
        assert_eq!(lines[1], lines[2], "the script leads its group: {stdout}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&format!("\u{1e}runbook-pgid {}\n", lines[2])),
            "{stderr:?}"
        );
        assert!(stderr.ends_with("\u{1e}runbook-exit 3\n"), "{stderr:?}");
    }
}
