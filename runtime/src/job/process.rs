//! Operating-system limits and signals for job worker processes: the only `unsafe` of the job
//! module, kept small so it can be reviewed at a glance.
//!
//! - [`limit_child`] makes a child set its own `RLIMIT_DATA` (memory) and `RLIMIT_CPU` (CPU
//!   seconds) between `fork` and `exec`. `RLIMIT_DATA`, not `RLIMIT_AS`: wasmtime reserves
//!   gigabytes of `PROT_NONE` address space per memory (4 GiB plus guard regions), which
//!   `RLIMIT_AS` counts and `RLIMIT_DATA` does not (Linux counts private writable mappings only,
//!   and pages count once wasmtime makes them accessible). Past the limit an allocation fails and
//!   the process aborts; past the soft CPU limit the kernel sends `SIGXCPU`, past the hard one
//!   `SIGKILL`.
//!   On Linux the child also asks for `SIGKILL` when its parent dies (`PR_SET_PDEATHSIG`): a
//!   server killed outright must not leave workers running on, spending CPU and writing into the
//!   data directory the restarted server already owns. The signal follows the *thread* that
//!   spawned the child; the spawning threads here wait for their child, so it outlives them.
//! - [`terminate`] sends `SIGTERM` to a child that is still ours (the caller holds its `Child`
//!   and has not reaped it, so the pid cannot have been reused).

// The job module's only `unsafe`: system calls, each with its SAFETY comment.
#![allow(unsafe_code)]

use std::process::Command;

/// Seconds between the soft CPU limit (`SIGXCPU`, which ends the process unless handled) and
/// the hard one (`SIGKILL`, which always does).
const CPU_HARD_EXTRA_SECS: u64 = 5;

/// Limits a child process applies to itself before it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChildLimits {
    /// `RLIMIT_DATA` in bytes.
    pub data_bytes: u64,
    /// Soft `RLIMIT_CPU` in seconds (the hard limit is a few seconds more).
    pub cpu_secs: u64,
}

/// Makes the child spawned from `command` apply `limits` to itself before `exec`.
#[cfg(unix)]
pub(super) fn limit_child(command: &mut Command, limits: ChildLimits) {
    use std::os::unix::process::CommandExt;
    let data = libc::rlimit {
        rlim_cur: limits.data_bytes as libc::rlim_t,
        rlim_max: limits.data_bytes as libc::rlim_t,
    };
    let cpu = libc::rlimit {
        rlim_cur: limits.cpu_secs as libc::rlim_t,
        rlim_max: limits.cpu_secs.saturating_add(CPU_HARD_EXTRA_SECS) as libc::rlim_t,
    };
    #[cfg(target_os = "linux")]
    let parent = std::process::id();
    // SAFETY: the closure runs in the forked child before `exec`, where only async-signal-safe
    // functions may be called. It calls `setrlimit`, `prctl` and `getppid` only (system calls
    // without locks or allocation), on values built before the fork and moved in by copy: no
    // access to state another thread of the parent could hold.
    unsafe {
        command.pre_exec(move || {
            #[cfg(target_os = "linux")]
            {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // The parent may have died between `fork` and `prctl`: then no signal comes.
                // (An OS error, not a message: nothing may allocate here.)
                if u32::try_from(libc::getppid()).ok() != Some(parent) {
                    return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
                }
            }
            if libc::setrlimit(libc::RLIMIT_DATA, &data) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::setrlimit(libc::RLIMIT_CPU, &cpu) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Without `setrlimit` the worker runs without operating-system limits; the queue still
/// isolates it in its own process.
#[cfg(not(unix))]
pub(crate) fn limit_child(_command: &mut Command, _limits: ChildLimits) {}

/// Asks the child `child` to stop with `SIGTERM`. The caller still owns the unreaped `Child`,
/// so its pid names that process and no other.
#[cfg(unix)]
pub(super) fn terminate(child: &std::process::Child) -> std::io::Result<()> {
    let pid = libc::pid_t::try_from(child.id())
        .map_err(|_| std::io::Error::other("the child's pid does not fit pid_t"))?;
    // SAFETY: `kill` has no memory-safety preconditions; the pid is that of our own unreaped
    // child (see above), so the signal cannot reach an unrelated process.
    if unsafe { libc::kill(pid, libc::SIGTERM) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Where there is no `SIGTERM`, the grace period ends in a kill (see the queue).
#[cfg(not(unix))]
pub fn terminate(_child: &std::process::Child) -> std::io::Result<()> {
    Ok(())
}
