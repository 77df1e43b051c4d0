//! signalfd: only its signal mask is state (fdinfo `sigmask`). The signals
//! themselves are pending on the task that reads, and are restored with the
//! task; a new signalfd made by stasis reads them from whichever task holds it.

use std::io;
use std::os::fd::OwnedFd;

use stasis_image::pb;

use super::FdProbe;

pub const LINK: &str = "anon_inode:[signalfd]";

pub fn dump(probe: &FdProbe) -> pb::open_file::Kind {
    pb::open_file::Kind::Signalfd(pb::SignalFd {
        sigmask: probe.info.sigmask.unwrap_or(0),
    })
}

pub fn create(saved: &pb::SignalFd) -> io::Result<OwnedFd> {
    crate::sys::events::signalfd(saved.sigmask, libc::SFD_CLOEXEC)
}
