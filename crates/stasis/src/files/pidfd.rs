//! pidfds (link "anon_inode:[pidfd]"): a handle on a process of the tree,
//! reopened with pidfd_open once the restored process exists (the planner
//! orders it after its task). A pidfd of a process outside the tree would
//! name whatever process has that pid after restore: dump refuses it
//! (dump/inspect.rs), as it refuses one whose process has exited and been
//! reaped (fdinfo says `Pid: -1`).

use std::io;
use std::os::fd::OwnedFd;

use stasis_image::pb;

use super::{FdProbe, FileKind, Support};

pub const LINK: &str = "anon_inode:[pidfd]";

/// PIDFD_THREAD is O_EXCL in the description's flags.
const PIDFD_THREAD: u32 = libc::O_EXCL as u32;

pub fn classify(probe: &FdProbe) -> Support {
    if probe.info.flags & PIDFD_THREAD != 0 {
        return Support::Unsupported {
            what: format!("pidfd of a thread ({})", probe.link),
            why: "pidfds of single threads (PIDFD_THREAD) are not supported yet".into(),
        };
    }
    match probe.info.pidfd_pid {
        Some(pid) if pid > 0 => Support::Supported(FileKind::PidFd),
        _ => Support::Unsupported {
            what: format!("pidfd ({})", probe.link),
            why: "the process it refers to has exited and was reaped; close the pidfd".into(),
        },
    }
}

pub fn dump(probe: &FdProbe) -> pb::open_file::Kind {
    pb::open_file::Kind::Pidfd(pb::PidFd {
        pid: probe.info.pidfd_pid.unwrap_or(0),
        thread: probe.info.flags & PIDFD_THREAD != 0,
    })
}

pub fn create(file: &pb::OpenFile, saved: &pb::PidFd) -> io::Result<OwnedFd> {
    let flags = if saved.thread { PIDFD_THREAD } else { 0 };
    let fd = crate::sys::syscalls::pidfd_open_with(saved.pid, flags)
        .map_err(|e| io::Error::new(e.kind(), format!("pidfd of pid {}: {e}", saved.pid)))?;
    crate::sys::syscalls::set_status_flags(
        std::os::fd::AsFd::as_fd(&fd),
        file.flags as i32 & libc::O_NONBLOCK,
    )?;
    Ok(fd)
}
