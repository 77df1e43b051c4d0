//! Starting programs the way daemons are started (new session, no inherited
//! fds but stdio): used by the test harness and the demo, kept here because
//! `pre_exec` is unsafe.

use std::io;
use std::os::unix::process::CommandExt;
use std::process::Command;

/// Makes `cmd` start its program in a new session (as setsid(1) does), with
/// every inherited fd above 2 closed at exec.
pub fn in_new_session(cmd: &mut Command) -> &mut Command {
    // SAFETY: the closure runs between fork and exec and only makes two
    // async-signal-safe syscalls; it allocates nothing and takes no lock.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 {
                return Err(io::Error::last_os_error());
            }
            // CLOEXEC rather than close, so std's own exec-error pipe keeps working.
            const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
            if libc::syscall(
                libc::SYS_close_range,
                3 as libc::c_uint,
                libc::c_uint::MAX,
                CLOSE_RANGE_CLOEXEC,
            ) < 0
            {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        })
    }
}

/// Makes `cmd` start its program with this umask.
pub fn with_umask(cmd: &mut Command, umask: u32) -> &mut Command {
    // SAFETY: umask is async-signal-safe and is all the closure does between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            libc::umask(umask as libc::mode_t);
            Ok(())
        })
    }
}
