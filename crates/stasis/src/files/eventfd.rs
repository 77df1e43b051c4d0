//! eventfd: the 64-bit counter and the EFD_SEMAPHORE mode, read from fdinfo.
//! Restore creates a new eventfd in stasis and writes the counter into it;
//! O_NONBLOCK is set as saved when the description is configured.

use std::io::{self, Write};
use std::os::fd::OwnedFd;

use stasis_image::pb;

use super::FdProbe;

pub const LINK: &str = "anon_inode:[eventfd]";

pub fn dump(probe: &FdProbe) -> pb::open_file::Kind {
    let info = probe.info.eventfd.unwrap_or_default();
    pb::open_file::Kind::Eventfd(pb::EventFd {
        count: info.count,
        semaphore: info.semaphore,
    })
}

/// A new eventfd holding the saved counter. Created non-blocking so that
/// writing the counter cannot block; configure sets the saved flags.
pub fn create(saved: &pb::EventFd) -> io::Result<OwnedFd> {
    let mut flags = libc::EFD_CLOEXEC | libc::EFD_NONBLOCK;
    if saved.semaphore {
        flags |= libc::EFD_SEMAPHORE;
    }
    let fd = crate::sys::events::eventfd(flags)?;
    if saved.count > 0 {
        // The largest count an eventfd holds is u64::MAX - 1: a write of it fits.
        std::fs::File::from(fd.try_clone()?)
            .write_all(&saved.count.to_ne_bytes())
            .map_err(|e| io::Error::new(e.kind(), format!("writing count {}: {e}", saved.count)))?;
    }
    Ok(fd)
}
