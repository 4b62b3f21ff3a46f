//! What the machine lets a run hold at once. Each running step holds a few file descriptors
//! (its log, its output pipes, the script's memfd while it starts), so a run with no
//! `max_parallel` could run out of them and fail steps with "too many open files". runbook
//! raises its soft limit of open files to the hard one when a run starts ([`raise_open_files`]),
//! and the scheduler starts no more steps at once than the descriptors left allow
//! ([`step_slots`]): a step that would exhaust them waits for a running one to end instead.

use nix::sys::resource::{Resource, getrlimit, setrlimit};

/// Descriptors a running step may hold, counted generously (a nested playbook holds its own
/// journal's and its steps').
const FDS_PER_STEP: u64 = 16;
/// Descriptors kept for everything else: the runtime, the journal, the lock, HTTP clients.
const RESERVED_FDS: u64 = 64;

/// Raises the soft limit of open files to the hard limit; the soft limit afterwards.
pub(crate) fn raise_open_files() -> u64 {
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return RESERVED_FDS + FDS_PER_STEP;
    };
    if soft < hard && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() {
        return hard;
    }
    soft
}

/// How many steps may run at once within the limit of open files (at least one).
pub(crate) fn step_slots() -> usize {
    let soft = getrlimit(Resource::RLIMIT_NOFILE).map_or(1024, |(soft, _)| soft);
    slots_for(soft)
}

fn slots_for(open_files: u64) -> usize {
    let slots = open_files.saturating_sub(RESERVED_FDS) / FDS_PER_STEP;
    usize::try_from(slots).unwrap_or(usize::MAX).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_leave_room_for_the_runner_and_are_never_zero() {
        assert_eq!(slots_for(1024), 60);
        assert_eq!(slots_for(64), 1);
        assert_eq!(slots_for(0), 1);
        assert!(slots_for(u64::MAX) > 1_000_000);
    }
}
