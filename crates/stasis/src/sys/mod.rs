//! Every `unsafe` line of stasis lives below this module: ptrace, remote syscalls,
//! clone3 and the few raw syscalls libc does not wrap. Everything here returns
//! `std::io::Error` with errno; callers add which task and what was tried.

pub mod clone;
pub mod events;
pub mod inet;
pub mod ipc;
pub mod netlink;
pub mod ptrace;
pub mod remote;
pub mod socket;
pub mod spawn;
pub mod syscalls;

use std::io;

/// Turns a libc-style `-1 + errno` return into a `Result`.
pub(crate) fn check(ret: libc::c_long) -> io::Result<libc::c_long> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}
