//! Child processes for user commands: every shell that runbook starts is spawned here, in a
//! process group of its own, with its output streamed to an [`OutputSink`] as it comes. The
//! script reaches `sh` through an inherited file descriptor, never as an argument, so a secret a
//! template inlined is not in any process list. On timeout or cancel everything the command
//! started gets TERM, then KILL after a grace period (its group, descendants that left the group,
//! and orphans runbook adopted as a child subreaper), and none is left afterwards.

use std::ffi::OsString;
use std::fmt;
use std::fs::File;
use std::io::{self, Seek as _, Write as _};
use std::os::fd::OwnedFd;
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use nix::fcntl::{FcntlArg, SealFlag, fcntl};
use nix::sys::memfd::{MFdFlags, memfd_create};
use nix::sys::signal::Signal;
use tokio::io::AsyncReadExt;
use tokio::process::Command;
use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;

use crate::text::os_error;

/// How long a group has between TERM and KILL unless a step says otherwise.
pub(crate) const DEFAULT_GRACE: Duration = Duration::from_secs(2);
/// How long output is still read after the direct child exited while members of its group hold
/// the output pipes open, before those stragglers are terminated.
pub(crate) const DEFAULT_LINGER: Duration = Duration::from_secs(1);

/// One read from a pipe; the size of a Linux pipe buffer, so a full pipe drains in one read.
const READ_CHUNK: usize = 64 * 1024;
/// How often a group being terminated is checked for remaining members.
const POLL_INTERVAL: Duration = Duration::from_millis(10);
/// How long after KILL the group may take to disappear before it is reported as not empty.
const KILL_SETTLE: Duration = Duration::from_secs(2);
/// What `sh -c` runs. The script comes in on stdin (a sealed memfd), which the shell moves to
/// descriptor 3 before it puts `/dev/null` on stdin, then sources it from there, so that it
/// never is an argument. The shell doing the move, not a `pre_exec` hook mapping the descriptor,
/// lets std spawn with `posix_spawn` (a `vfork`, where a hook forces a `fork` that copies the
/// page tables of a multi-threaded runbook: a quarter of a `true` step's cost, #18). The script
/// itself sees stdin at `/dev/null`, as the contract says. `$0` stays `sh` and line numbers are
/// the script's own; sh names the file in its errors (`sh: 2: /proc/self/fd/3: foo: not
/// found`). Sourcing costs no extra process (a `$(cat <&3)` bootstrap doubled the cost of
/// spawning a step). The descriptor, and sh's own copy of it, stay open in the step's
/// processes: readable only by the same user (through `/proc/PID/fd`), who can read those
/// processes' memory and environment anyway; what the rule guards against is other users
/// reading the process list.
const READ_SCRIPT: &str = "exec 3<&0 </dev/null; . /proc/self/fd/3";

/// How long output is still read once the group is gone: a process that left the group
/// (`setsid`) may hold the pipes open, and must not keep the step alive.
const CLOSE_DRAIN: Duration = Duration::from_millis(100);

/// A shell command to run as one attempt of a step, a rollback or a `command` probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CommandSpec {
    /// Run by `sh`, as with `sh -c`, but handed over on a file descriptor.
    pub(crate) script: String,
    /// Added to the environment runbook inherited.
    pub(crate) env: Vec<(String, String)>,
    pub(crate) cwd: PathBuf,
    /// When it passes, the group is terminated and the exit is [`Exit::TimedOut`].
    pub(crate) timeout: Option<Duration>,
    /// Delay between TERM and KILL.
    pub(crate) grace: Duration,
    /// See [`DEFAULT_LINGER`].
    pub(crate) linger: Duration,
}

impl CommandSpec {
    /// A command with no extra environment, no timeout and the default grace and linger.
    #[must_use]
    pub(crate) fn new(script: impl Into<String>, cwd: impl Into<PathBuf>) -> Self {
        Self {
            script: script.into(),
            env: Vec::new(),
            cwd: cwd.into(),
            timeout: None,
            grace: DEFAULT_GRACE,
            linger: DEFAULT_LINGER,
        }
    }
}

pub(crate) use crate::event::Exit;

/// How a finished child ended, in our words.
fn exit_from_status(status: ExitStatus) -> Exit {
    match (status.code(), status.signal()) {
        (Some(0), _) => Exit::Success,
        (Some(code), _) => Exit::Code(code),
        (None, Some(signal)) => Exit::Signal(signal),
        // Neither code nor signal is only possible for a stopped process, never from wait.
        (None, None) => Exit::Code(-1),
    }
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Success => f.write_str("exit code 0"),
            Self::Code(code) => write!(f, "exit code {code}"),
            Self::Signal(signal) => match Signal::try_from(*signal) {
                Ok(name) => write!(f, "killed by {name}"),
                Err(_) => write!(f, "killed by signal {signal}"),
            },
            Self::TimedOut => f.write_str("timed out"),
            Self::Cancelled => f.write_str("cancelled"),
        }
    }
}

/// Which signals runbook had to send to the group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Teardown {
    /// None: the command ended by itself.
    NotNeeded,
    /// TERM was enough.
    Term,
    /// Something outlived the grace period and got KILL.
    Kill,
}

/// The outcome of [`run`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Finished {
    pub(crate) exit: Exit,
    /// From spawn until the group was dealt with and the output read (including any grace).
    pub(crate) duration: Duration,
    pub(crate) pid: u32,
    /// Equal to `pid`: the child leads its own group.
    pub(crate) pgid: u32,
    pub(crate) teardown: Teardown,
    /// After a teardown: no process the command started is left alive, in its group or out of
    /// it. After a normal exit: no live member of the group is left, and it can be false: a
    /// member that detached from the output (`cmd >/dev/null 2>&1 &`) is left running on
    /// purpose, since a step may start a service. Zombies waiting for init count as gone.
    pub(crate) group_empty: bool,
    /// How many processes runbook sent TERM or KILL (0 when the command ended by itself).
    pub(crate) killed: u32,
    /// How many of those had left the process group (`setsid`, a daemon).
    pub(crate) detached: u32,
    /// Members of the group still held the output open after the direct child exited and were
    /// terminated.
    pub(crate) stragglers_killed: bool,
}

/// Where [`run`] hands output, chunk by chunk as it is read; masking, log writing and capture
/// happen inside. Called from the select loop, so it must not block for long.
pub(crate) trait OutputSink {
    fn stdout(&mut self, chunk: &[u8]);
    fn stderr(&mut self, chunk: &[u8]);

    /// The child was spawned as the leader of process group `pgid`.
    fn spawned(&mut self, _pgid: u32) {}
}

impl<T: OutputSink + ?Sized> OutputSink for &mut T {
    fn stdout(&mut self, chunk: &[u8]) {
        (**self).stdout(chunk);
    }
    fn stderr(&mut self, chunk: &[u8]) {
        (**self).stderr(chunk);
    }

    fn spawned(&mut self, pgid: u32) {
        (**self).spawned(pgid);
    }
}

/// runbook itself cannot go on with this command (a failing command is an [`Exit`], not this).
#[derive(Debug, thiserror::Error)]
pub(crate) enum ProcessError {
    #[error("failed to start `sh` in `{cwd}`: {}", os_error(.error), cwd = .cwd.display())]
    Spawn { cwd: PathBuf, error: io::Error },
    #[error("failed to hand the script to `sh`: {}", os_error(.error))]
    Script { error: io::Error },
    #[error("failed to read the output of process {pid}: {}", os_error(.error))]
    Read { pid: u32, error: io::Error },
    #[error("failed to wait for process {pid}: {}", os_error(.error))]
    Wait { pid: u32, error: io::Error },
}

/// Runs `spec` to the end, streaming its output to `sink`.
///
/// The script sees stdin from `/dev/null`; the child gets its own process group, the script on a
/// file descriptor and a tag in its environment ([`TAG_VAR`]) that its descendants inherit. On
/// timeout or `cancel` every process it started (its group, descendants out of the group, tagged
/// orphans) gets TERM, then KILL after `spec.grace`; the result says how many and whether any
/// is left. If the direct child exits while its group still holds the output pipes open, output
/// is read for `spec.linger` more, then the group (only) is terminated the same way. If this
/// future is dropped before it completes, everything it started gets KILL.
///
/// # Errors
///
/// [`ProcessError::Spawn`] when `sh` cannot be started (missing `cwd`, no `sh` on `PATH`);
/// reading the pipes or waiting for the child failing is an error too, after which the group
/// gets KILL. A command that fails, times out or is cancelled is an [`Exit`], not an error.
///
/// # Panics
///
/// Only if an invariant breaks: a freshly spawned child has a pid and the piped stdout and
/// stderr that were asked for.
pub(crate) async fn run<S: OutputSink + ?Sized>(
    spec: &CommandSpec,
    sink: &mut S,
    cancel: &CancellationToken,
    registry: &Registry,
) -> Result<Finished, ProcessError> {
    adopt_orphans();
    let script = script_fd(&spec.script).map_err(|error| ProcessError::Script { error })?;
    let tag = Tag::next();
    let started = Instant::now();
    let mut command = Command::new(sh(&spec.env));
    command
        // `$0` and the shell's own messages say `sh`, as when `PATH` found it.
        .arg0("sh")
        .arg("-c")
        .arg(READ_SCRIPT)
        .envs(spec.env.iter().map(|(key, value)| (key, value)))
        .env(TAG_VAR, tag.env_value())
        .current_dir(&spec.cwd)
        .stdin(Stdio::from(script))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let spawned = command.spawn();
    // The command owns runbook's copy of the script's descriptor: closed now, the child's is
    // the only one left.
    drop(command);
    let mut child = spawned.map_err(|error| ProcessError::Spawn {
        cwd: spec.cwd.clone(),
        error,
    })?;
    let pid = child.id().expect("a child not yet waited for has a pid");
    let _registered = registry.register(pid, &tag);
    sink.spawned(pid);
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let mut stderr = child.stderr.take().expect("stderr is piped");
    // Filled by `read_buf` into spare capacity: nothing to zero on each spawn.
    let mut stdout_buf = Vec::with_capacity(READ_CHUNK);
    let mut stderr_buf = Vec::with_capacity(READ_CHUNK);
    let (mut stdout_open, mut stderr_open) = (true, true);
    let mut status: Option<ExitStatus> = None;
    let mut life = Lifecycle::new(Group::new(pid, tag), spec, started);

    loop {
        if life.settle(status.is_some(), !stdout_open && !stderr_open) {
            break;
        }
        let may_cancel = life.may_cancel();
        tokio::select! {
            read = stdout.read_buf(&mut stdout_buf), if stdout_open => match read {
                Ok(0) => stdout_open = false,
                Ok(_) => {
                    sink.stdout(&stdout_buf);
                    stdout_buf.clear();
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(ProcessError::Read { pid, error }),
            },
            read = stderr.read_buf(&mut stderr_buf), if stderr_open => match read {
                Ok(0) => stderr_open = false,
                Ok(_) => {
                    sink.stderr(&stderr_buf);
                    stderr_buf.clear();
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(ProcessError::Read { pid, error }),
            },
            exited = child.wait(), if status.is_none() => {
                status = Some(exited.map_err(|error| ProcessError::Wait { pid, error })?);
                life.group.root_reaped();
            }
            () = cancel.cancelled(), if may_cancel => life.stop(Exit::Cancelled),
            () = sleep_until_some(life.wake()) => {
                if life.tick(status.is_some()) {
                    break;
                }
            }
        }
    }

    let exit = life
        .stopped
        .or_else(|| status.map(exit_from_status))
        .expect("the loop ends only once the child was reaped or runbook stopped it");
    // A normal end checks the group once: a member may have detached from the output.
    let group_empty = life
        .group_empty
        .unwrap_or_else(|| !life.group.has_live_members(Scope::Group));
    let (killed, detached) = (life.group.killed(), life.group.detached());
    life.group.disarm();
    Ok(Finished {
        exit,
        duration: started.elapsed(),
        pid,
        pgid: pid,
        teardown: life.teardown,
        group_empty,
        killed,
        detached,
        stragglers_killed: life.stragglers_killed,
    })
}

/// `sh` as the child's `PATH` finds it (the step's own `PATH`, else runbook's), looked up once
/// per `PATH` value: left to `execvp`, every step tried each directory before it in turn (one
/// failed `execve` each, in the forked child). Plain `sh` when no directory has it, so a
/// missing `sh` fails as before, and when `PATH` has a relative directory.
fn sh(env: &[(String, String)]) -> PathBuf {
    static FOUND: Mutex<Option<(Option<OsString>, PathBuf)>> = Mutex::new(None);
    let path = env
        .iter()
        .rev()
        .find(|(key, _)| key == "PATH")
        .map(|(_, value)| OsString::from(value))
        .or_else(|| std::env::var_os("PATH"));
    let mut found = FOUND
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((known, sh)) = found.as_ref()
        && *known == path
    {
        return sh.clone();
    }
    // A relative directory is relative to the step's `cwd`: left to `execvp`.
    let sh = path
        .as_deref()
        .filter(|dirs| std::env::split_paths(dirs).all(|dir| dir.is_absolute()))
        .and_then(|dirs| {
            std::env::split_paths(dirs)
                .map(|dir| dir.join("sh"))
                .find(|candidate| {
                    candidate
                        .metadata()
                        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                })
        })
        .unwrap_or_else(|| PathBuf::from("sh"));
    *found = Some((path, sh.clone()));
    sh
}

/// The script in a sealed memfd, positioned at its start: readable by the child through the
/// descriptor, never written to disk, and unchangeable once sealed. Created close-on-exec, so
/// only the child gets it (as its stdin, see [`READ_SCRIPT`]).
fn script_fd(script: &str) -> io::Result<OwnedFd> {
    let fd = memfd_create(
        c"runbook-script",
        MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING,
    )?;
    let mut file = File::from(fd);
    file.write_all(script.as_bytes())?;
    file.rewind()?;
    fcntl(
        &file,
        FcntlArg::F_ADD_SEALS(
            SealFlag::F_SEAL_SEAL
                | SealFlag::F_SEAL_SHRINK
                | SealFlag::F_SEAL_GROW
                | SealFlag::F_SEAL_WRITE,
        ),
    )?;
    Ok(OwnedFd::from(file))
}

async fn sleep_until_some(wake: Option<Instant>) {
    match wake {
        Some(at) => sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Where [`run`] is in a command's life.
#[derive(Debug, Clone, Copy)]
enum Phase {
    /// Waiting for output, exit, the deadline or cancel.
    Running,
    /// The direct child exited; reading what its group still writes until `until`.
    Lingering { until: Instant },
    /// TERM sent; polling the processes until none is left or `kill_at`.
    Terminating { kill_at: Instant, poll_at: Instant },
    /// KILL sent; polling the processes until none is left or `give_up_at`.
    Killed {
        give_up_at: Instant,
        poll_at: Instant,
    },
    /// The group is dealt with; reading what is left in the pipes until `until`.
    Closing { until: Instant },
}

/// The state of [`run`]'s select loop apart from the pipes and the child: the phase, the
/// timers and what was done to the group. Only the loop's own task touches it.
struct Lifecycle {
    group: Group,
    phase: Phase,
    deadline: Option<Instant>,
    grace: Duration,
    linger: Duration,
    /// Why runbook ended the command, when it did.
    stopped: Option<Exit>,
    teardown: Teardown,
    /// What the teardown reaches: everything after a timeout or cancel, the group for
    /// stragglers.
    scope: Scope,
    stragglers_killed: bool,
    /// Known once a teardown has checked the group.
    group_empty: Option<bool>,
}

impl Lifecycle {
    fn new(group: Group, spec: &CommandSpec, started: Instant) -> Self {
        Self {
            group,
            phase: Phase::Running,
            deadline: spec.timeout.map(|timeout| started + timeout),
            grace: spec.grace,
            linger: spec.linger,
            stopped: None,
            teardown: Teardown::NotNeeded,
            scope: Scope::Tree,
            stragglers_killed: false,
            group_empty: None,
        }
    }

    /// Moves on from what the child and pipes did; true when the run is over.
    fn settle(&mut self, exited: bool, output_closed: bool) -> bool {
        match self.phase {
            Phase::Running if exited && output_closed => true,
            Phase::Running if exited => {
                self.phase = Phase::Lingering {
                    until: Instant::now() + self.linger,
                };
                false
            }
            Phase::Lingering { .. } | Phase::Closing { .. } => output_closed,
            _ => false,
        }
    }

    fn may_cancel(&self) -> bool {
        matches!(self.phase, Phase::Running | Phase::Lingering { .. })
    }

    /// When the timer branch should fire next.
    fn wake(&self) -> Option<Instant> {
        match self.phase {
            Phase::Running => self.deadline,
            Phase::Lingering { until } | Phase::Closing { until } => Some(until),
            Phase::Terminating { poll_at, .. } | Phase::Killed { poll_at, .. } => Some(poll_at),
        }
    }

    /// Starts the teardown: TERM to everything the command started. While lingering, the direct
    /// child already exited by itself, so its own exit stands (even on cancel), the members of
    /// its group that hold the output are stragglers, and what left the group was left behind on
    /// purpose (a daemon), so only the group is terminated.
    fn stop(&mut self, reason: Exit) {
        let lingering = matches!(self.phase, Phase::Lingering { .. });
        if lingering {
            self.scope = Scope::Group;
        } else {
            self.stopped = Some(reason);
        }
        if self.group.terminate(self.scope) {
            self.teardown = Teardown::Term;
            self.stragglers_killed = lingering;
        }
        let now = Instant::now();
        self.phase = Phase::Terminating {
            kill_at: now + self.grace,
            poll_at: now,
        };
    }

    /// The timer fired; true when the run is over.
    fn tick(&mut self, reaped: bool) -> bool {
        let now = Instant::now();
        let poll_at = now + POLL_INTERVAL;
        let closing = Phase::Closing {
            until: now + CLOSE_DRAIN,
        };
        match self.phase {
            Phase::Running => self.stop(Exit::TimedOut),
            Phase::Lingering { .. } => self.stop(Exit::Success),
            Phase::Terminating { kill_at, .. } => {
                let live = self.group.terminating(self.scope);
                if reaped && !live {
                    self.group_empty = Some(true);
                    self.phase = closing;
                } else if now >= kill_at {
                    self.group.kill(self.scope);
                    self.teardown = Teardown::Kill;
                    self.phase = Phase::Killed {
                        give_up_at: now + KILL_SETTLE,
                        poll_at,
                    };
                } else {
                    self.phase = Phase::Terminating { kill_at, poll_at };
                }
            }
            Phase::Killed { give_up_at, .. } => {
                let live = self.group.killing(self.scope);
                if reaped && !live {
                    self.group_empty = Some(true);
                    self.phase = closing;
                } else if now >= give_up_at {
                    self.group_empty = Some(false);
                    self.phase = closing;
                } else {
                    self.phase = Phase::Killed {
                        give_up_at,
                        poll_at,
                    };
                }
            }
            Phase::Closing { .. } => return true,
        }
        false
    }
}

use crate::engine::group::{Group, Scope};
pub(crate) use crate::engine::group::{Registry, group_alive_since};
pub(crate) use crate::engine::tree::TAG_VAR;
use crate::engine::tree::{Tag, adopt_orphans};

#[cfg(test)]
mod tests {
    use super::Registry;
    use std::fs;
    use std::path::Path;
    use std::time::Duration;

    use nix::errno::Errno;
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    use tokio_util::sync::CancellationToken;

    use super::{CommandSpec, Exit, Finished, OutputSink, ProcessError, Teardown, run};
    use crate::engine::capture::{Capture, DEFAULT_CAPTURE_CAP, MAX_LINE};
    use crate::event::TAIL_LINES;

    fn spec(script: &str, cwd: &Path) -> CommandSpec {
        CommandSpec::new(script, cwd)
    }

    async fn run_capture(spec: &CommandSpec) -> (Finished, Capture) {
        let mut capture = Capture::default();
        let finished = run(
            spec,
            &mut capture,
            &CancellationToken::new(),
            &Registry::default(),
        )
        .await
        .expect("sh starts");
        (finished, capture)
    }

    fn text(bytes: &[u8]) -> &str {
        std::str::from_utf8(bytes).expect("test output is UTF-8")
    }

    /// Gone: no such process, or a zombie nobody has reaped yet.
    fn is_gone(pid: i32) -> bool {
        if kill(Pid::from_raw(pid), None) == Err(Errno::ESRCH) {
            return true;
        }
        fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|stat| crate::engine::tree::parse_proc(&stat))
            .is_none_or(|p| p.zombie)
    }

    async fn wait_for_pid(path: &Path) -> i32 {
        for _ in 0..1000 {
            if let Some(pid) = fs::read_to_string(path)
                .ok()
                .and_then(|text| text.trim().parse().ok())
            {
                return pid;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("{} was never written", path.display());
    }

    fn read_pid(path: &Path) -> i32 {
        fs::read_to_string(path)
            .unwrap_or_else(|error| panic!("{}: {error}", path.display()))
            .trim()
            .parse()
            .expect("a pid")
    }

    /// A grandchild (and its child) that ignore TERM, so only KILL ends them; both write
    /// their pids into the working directory.
    const STUBBORN: &str =
        r#"sh -c 'trap "" TERM; sleep 100 & echo $! > sleep.pid; echo $$ > sh.pid; wait' & wait"#;

    #[tokio::test]
    async fn exit_codes() {
        let cwd = Path::new("/");
        let (finished, _) = run_capture(&spec("true", cwd)).await;
        assert_eq!(finished.exit, Exit::Success);
        assert_eq!(finished.teardown, Teardown::NotNeeded);
        assert!(finished.group_empty);
        assert!(!finished.stragglers_killed);
        assert_eq!(finished.pid, finished.pgid);
        assert_eq!(
            run_capture(&spec("exit 3", cwd)).await.0.exit,
            Exit::Code(3)
        );
        let killed = run_capture(&spec("kill -KILL $$", cwd)).await.0.exit;
        assert_eq!(killed, Exit::Signal(9));
        assert_eq!(killed.to_string(), "killed by SIGKILL");
    }

    #[tokio::test]
    async fn stdout_and_stderr_are_separate() {
        let script = "echo out; echo err >&2; echo out2";
        let (finished, capture) = run_capture(&spec(script, Path::new("/"))).await;
        assert_eq!(finished.exit, Exit::Success);
        assert_eq!(text(capture.stdout_head()), "out\nout2\n");
        assert_eq!(text(capture.stderr_head()), "err\n");
        let mut tail = capture.tail_lines();
        tail.sort();
        assert_eq!(tail, ["err", "out", "out2"]);
    }

    #[tokio::test]
    async fn env_and_cwd_are_honoured() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut spec = spec(
            r#"printf '%s|%s|' "$RUNBOOK_TEST" "$HOME"; pwd -P"#,
            dir.path(),
        );
        spec.env.push(("RUNBOOK_TEST".into(), "it's $set".into()));
        let (finished, capture) = run_capture(&spec).await;
        assert_eq!(finished.exit, Exit::Success);
        let home = std::env::var("HOME").unwrap_or_default();
        let cwd = dir.path().canonicalize().expect("temp dir exists");
        assert_eq!(
            text(capture.stdout_head()),
            format!("it's $set|{home}|{}\n", cwd.display())
        );
    }

    #[tokio::test]
    async fn stdin_is_null() {
        let (finished, capture) = run_capture(&spec("cat; echo done", Path::new("/"))).await;
        assert_eq!(finished.exit, Exit::Success);
        assert_eq!(text(capture.stdout_head()), "done\n");
    }

    /// The shell moved the script from stdin to descriptor 3 before the script ran: stdin is
    /// `/dev/null` itself, and descriptor 3 reads the script from its start.
    #[tokio::test]
    async fn the_script_is_on_descriptor_3_and_stdin_is_dev_null() {
        let script = "readlink /proc/self/fd/0; head -c 8 <&3";
        let (finished, capture) = run_capture(&spec(script, Path::new("/"))).await;
        assert_eq!(finished.exit, Exit::Success);
        assert_eq!(text(capture.stdout_head()), "/dev/null\nreadlink");
    }

    // See: #18
    #[test]
    fn sh_is_found_once_per_path_and_left_to_execvp_when_path_is_relative() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("temp dir");
        let (empty, with_sh) = (dir.path().join("empty"), dir.path().join("bin"));
        fs::create_dir_all(&empty).expect("mkdir");
        fs::create_dir_all(&with_sh).expect("mkdir");
        let fake = with_sh.join("sh");
        fs::write(&fake, "").expect("write");
        // Not executable: skipped, as execvp skips it.
        let path = format!("{}:{}", empty.display(), with_sh.display());
        let env = |path: &str| vec![("PATH".to_owned(), path.to_owned())];
        assert_eq!(super::sh(&env(&path)), Path::new("sh"));
        fs::set_permissions(&fake, fs::Permissions::from_mode(0o755)).expect("chmod");
        let other = format!("{}:{}", with_sh.display(), empty.display());
        assert_eq!(super::sh(&env(&other)), fake);
        assert_eq!(
            super::sh(&env(&path)),
            fake,
            "a new PATH is looked up again"
        );
        assert_eq!(super::sh(&env(&format!("bin:{path}"))), Path::new("sh"));
        assert_eq!(super::sh(&env("/nonexistent")), Path::new("sh"));
    }

    #[tokio::test]
    async fn spawn_failure_names_sh_and_cwd() {
        let mut capture = Capture::default();
        let missing = spec("true", Path::new("/nope"));
        let error = run(
            &missing,
            &mut capture,
            &CancellationToken::new(),
            &Registry::default(),
        )
        .await
        .expect_err("cwd is missing");
        assert!(matches!(error, ProcessError::Spawn { .. }));
        assert_eq!(
            error.to_string(),
            "failed to start `sh` in `/nope`: No such file or directory"
        );

        let mut no_sh = spec("true", Path::new("/"));
        no_sh.env.push(("PATH".into(), "/nonexistent".into()));
        let error = run(
            &no_sh,
            &mut capture,
            &CancellationToken::new(),
            &Registry::default(),
        )
        .await
        .expect_err("sh is not on PATH");
        assert_eq!(
            error.to_string(),
            "failed to start `sh` in `/`: No such file or directory"
        );
    }

    #[tokio::test]
    async fn timeout_kills_grandchild_that_ignores_term() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut spec = spec(STUBBORN, dir.path());
        spec.timeout = Some(Duration::from_secs(1));
        spec.grace = Duration::from_millis(300);
        let (finished, _) = run_capture(&spec).await;
        assert_eq!(finished.exit, Exit::TimedOut);
        assert_eq!(finished.teardown, Teardown::Kill);
        assert!(finished.group_empty);
        assert!(
            finished.duration < Duration::from_millis(1300) * 10,
            "{finished:?}"
        );
        for file in ["sh.pid", "sleep.pid"] {
            let pid = read_pid(&dir.path().join(file));
            assert!(is_gone(pid), "{file}: {pid} survived");
        }
    }

    #[tokio::test]
    async fn a_timeout_reaches_what_left_the_group_and_counts_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut spec = spec(
            "setsid sleep 100 >/dev/null 2>&1 & echo $! > setsid.pid; sleep 100; :",
            dir.path(),
        );
        spec.timeout = Some(Duration::from_millis(500));
        let (finished, _) = run_capture(&spec).await;
        let pid = read_pid(&dir.path().join("setsid.pid"));
        let gone = is_gone(pid);
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        assert_eq!(finished.exit, Exit::TimedOut);
        assert!(gone, "the setsid child {pid} survived");
        assert!(finished.group_empty);
        assert_eq!((finished.killed, finished.detached), (3, 1), "{finished:?}");
    }

    #[tokio::test]
    async fn the_script_is_not_an_argument() {
        // See: #11
        let script = "# marker-7f3a\n\
                      tr '\\0' ' ' < /proc/$$/cmdline; echo\n\
                      echo \"$0 $#\"\n\
                      nosuchcommand-7f3a\n\
                      exit 5";
        let (finished, capture) = run_capture(&spec(script, Path::new("/"))).await;
        assert_eq!(finished.exit, Exit::Code(5));
        let stdout = text(capture.stdout_head());
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(lines.len(), 2, "{stdout}");
        assert!(lines[0].starts_with("sh -c "), "{stdout}");
        assert!(
            !lines[0].contains("marker-7f3a"),
            "the script is in argv: {stdout}"
        );
        assert_eq!(lines[1..], ["sh 0"]);
        // sh still names itself and the script's own line, as with `sh -c SCRIPT`.
        let stderr = text(capture.stderr_head());
        assert!(stderr.starts_with("sh: 4: "), "{stderr}");
        assert!(stderr.contains("nosuchcommand-7f3a: not found"), "{stderr}");
    }

    #[tokio::test]
    async fn term_is_enough_for_a_cooperative_command() {
        let mut spec = spec("sleep 100", Path::new("/"));
        spec.timeout = Some(Duration::from_millis(200));
        let (finished, _) = run_capture(&spec).await;
        assert_eq!(finished.exit, Exit::TimedOut);
        assert_eq!(finished.teardown, Teardown::Term);
        assert!(finished.group_empty);
        // TERM ended it: the 2 s grace was not waited out.
        assert!(finished.duration < Duration::from_secs(2), "{finished:?}");
    }

    #[tokio::test]
    async fn stopped_command_still_gets_term() {
        // The trap runs only if the shell is continued, which TERM alone does not do.
        let mut spec = spec("trap 'exit 0' TERM; kill -STOP $$; exit 7", Path::new("/"));
        spec.timeout = Some(Duration::from_millis(200));
        let (finished, _) = run_capture(&spec).await;
        assert_eq!(finished.exit, Exit::TimedOut);
        assert_eq!(finished.teardown, Teardown::Term);
        assert!(finished.group_empty);
    }

    #[tokio::test]
    async fn cancel_mid_run_kills_the_group() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut spec = spec(STUBBORN, dir.path());
        spec.grace = Duration::from_millis(300);
        let cancel = CancellationToken::new();
        let canceller = {
            let cancel = cancel.clone();
            let pid_file = dir.path().join("sh.pid");
            tokio::spawn(async move {
                wait_for_pid(&pid_file).await;
                cancel.cancel();
            })
        };
        let mut capture = Capture::default();
        let finished = run(&spec, &mut capture, &cancel, &Registry::default())
            .await
            .expect("sh starts");
        canceller.await.expect("canceller finishes");
        assert_eq!(finished.exit, Exit::Cancelled);
        assert_eq!(finished.teardown, Teardown::Kill);
        assert!(finished.group_empty);
        for file in ["sh.pid", "sleep.pid"] {
            let pid = read_pid(&dir.path().join(file));
            assert!(is_gone(pid), "{file}: {pid} survived");
        }
    }

    /// Cancels as soon as the first stdout arrives, which only works if output streams live.
    struct CancelOnOutput(CancellationToken);

    impl OutputSink for CancelOnOutput {
        fn stdout(&mut self, _chunk: &[u8]) {
            self.0.cancel();
        }
        fn stderr(&mut self, _chunk: &[u8]) {}
    }

    #[tokio::test]
    async fn output_streams_while_the_command_runs() {
        let cancel = CancellationToken::new();
        let mut sink = CancelOnOutput(cancel.clone());
        let spec = spec("echo ready; exec sleep 100", Path::new("/"));
        let finished = run(&spec, &mut sink, &cancel, &Registry::default())
            .await
            .expect("sh starts");
        assert_eq!(finished.exit, Exit::Cancelled);
        assert!(finished.group_empty);
    }

    #[tokio::test]
    async fn large_output_keeps_capture_bounded() {
        let (finished, capture) = run_capture(&spec(
            "head -c 200000000 /dev/zero; echo; echo end",
            Path::new("/"),
        ))
        .await;
        assert_eq!(finished.exit, Exit::Success);
        assert_eq!(capture.stdout_total(), 200_000_005);
        assert!(capture.stdout_truncated());
        assert_eq!(capture.stdout_head().len(), DEFAULT_CAPTURE_CAP);
        assert!(
            capture.retained_bytes() < 2 * DEFAULT_CAPTURE_CAP,
            "{}",
            capture.retained_bytes()
        );
        let tail = capture.tail_lines();
        assert_eq!(tail.len(), 2);
        assert_eq!(tail[0].len(), MAX_LINE);
        assert_eq!(tail[1], "end");
    }

    #[tokio::test]
    async fn backgrounded_straggler_does_not_hang() {
        let mut spec = spec("sleep 100 & echo $!", Path::new("/"));
        spec.linger = Duration::from_millis(200);
        let (finished, capture) = run_capture(&spec).await;
        assert_eq!(finished.exit, Exit::Success);
        assert!(finished.stragglers_killed);
        assert_eq!(finished.teardown, Teardown::Term);
        assert!(finished.group_empty);
        assert!(finished.duration < Duration::from_secs(5), "{finished:?}");
        let pid = text(capture.stdout_head()).trim().parse().expect("a pid");
        assert!(is_gone(pid), "straggler {pid} survived");
    }

    #[tokio::test]
    async fn straggler_that_ignores_term_gets_kill() {
        let mut spec = spec(
            r#"sh -c 'trap "" TERM; sleep 100' & echo $!; exit 4"#,
            Path::new("/"),
        );
        spec.linger = Duration::from_millis(200);
        spec.grace = Duration::from_millis(300);
        let (finished, capture) = run_capture(&spec).await;
        assert_eq!(finished.exit, Exit::Code(4));
        assert!(finished.stragglers_killed);
        assert_eq!(finished.teardown, Teardown::Kill);
        assert!(finished.group_empty);
        let pid = text(capture.stdout_head()).trim().parse().expect("a pid");
        assert!(is_gone(pid), "straggler {pid} survived");
    }

    #[tokio::test]
    async fn detached_member_is_left_running_and_reported() {
        let spec = spec("sleep 100 >/dev/null 2>&1 & echo $!", Path::new("/"));
        let (finished, capture) = run_capture(&spec).await;
        let pid: i32 = text(capture.stdout_head()).trim().parse().expect("a pid");
        let alive = !is_gone(pid);
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        assert_eq!(finished.exit, Exit::Success);
        assert!(!finished.stragglers_killed);
        assert!(!finished.group_empty);
        assert_eq!(finished.teardown, Teardown::NotNeeded);
        assert!(alive, "a detached member is not killed after a normal exit");
    }

    #[tokio::test]
    async fn dropping_the_run_kills_the_group() {
        let dir = tempfile::tempdir().expect("temp dir");
        let spec = spec(STUBBORN, dir.path());
        let mut capture = Capture::default();
        let cancel = CancellationToken::new();
        let pid_file = dir.path().join("sleep.pid");
        let registry = Registry::default();
        let pid = tokio::select! {
            finished = run(&spec, &mut capture, &cancel, &registry) => panic!("ended by itself: {finished:?}"),
            pid = wait_for_pid(&pid_file) => pid,
        };
        let mut gone = false;
        for _ in 0..500 {
            gone = is_gone(pid);
            if gone {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(gone, "{pid} survived the dropped run");
    }

    #[test]
    fn capture_keeps_the_last_lines_and_cuts_long_ones() {
        let mut capture = Capture::new(8);
        for line in 0..30 {
            capture.stdout(format!("line {line}\n").as_bytes());
        }
        capture.stderr(b"partial err");
        capture.stdout(&vec![b'x'; MAX_LINE + 10]);
        let tail = capture.tail_lines();
        assert_eq!(tail.len(), TAIL_LINES);
        assert_eq!(tail[0], "line 12");
        assert_eq!(tail[17], "line 29");
        assert_eq!(tail[18], "x".repeat(MAX_LINE));
        assert_eq!(tail[19], "partial err");
        assert_eq!(capture.stdout_head(), b"line 0\nl");
        assert_eq!(capture.stderr_head(), b"partial ");
        assert_eq!(capture.stderr_total(), 11);
    }

    #[test]
    fn exits_read_like_the_report() {
        assert_eq!(Exit::Code(3).to_string(), "exit code 3");
        assert_eq!(Exit::Signal(15).to_string(), "killed by SIGTERM");
        assert_eq!(Exit::TimedOut.to_string(), "timed out");
    }
}
