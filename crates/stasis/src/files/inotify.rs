//! inotify instances (link "anon_inode:inotify"). Each watch is saved with its
//! watch descriptor, mask and the path of the watched file, found from the
//! file handle the kernel prints in fdinfo. Restore makes a new instance and
//! adds the watches in wd order; the kernel hands out watch descriptors in
//! increasing order, so a number that was free at dump time (a removed watch)
//! is skipped by adding and removing a throwaway watch, and every watch gets
//! back the wd the program knows.
//!
//! Events queued at dump time are dropped: the kernel offers no way to queue
//! them again. The dump logs how many bytes of events were waiting.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use stasis_image::pb;

use super::{FdProbe, FileKind, Support};
use crate::proc::fdinfo::InotifyLine;
use crate::sys::syscalls;

pub fn classify(probe: &FdProbe) -> Support {
    for watch in &probe.info.inotify {
        if let Err(why) = watched_path(watch) {
            return Support::Unsupported {
                what: format!("inotify watch {} ({})", watch.wd, probe.link),
                why,
            };
        }
    }
    Support::Supported(FileKind::Inotify)
}

/// The path of a watched file, from its file handle. A file that has no path
/// any more (deleted) cannot be watched again.
fn watched_path(watch: &InotifyLine) -> Result<String, String> {
    let major = (watch.sdev >> 20) as u32;
    let minor = (watch.sdev & 0xfffff) as u32;
    let mount = mount_point_of(major, minor).ok_or_else(|| {
        format!("the watched file's filesystem (device {major}:{minor}) is not mounted here")
    })?;
    let mount_fd = std::fs::File::open(&mount)
        .map_err(|e| format!("cannot open the mount point {mount}: {e}"))?;
    let file = syscalls::open_by_handle(mount_fd.as_fd(), watch.handle_type, &watch.handle)
        .map_err(|e| {
            format!(
                "the watched file (inode {}) cannot be found: {e}",
                watch.ino
            )
        })?;
    let path = std::fs::read_link(format!("/proc/self/fd/{}", raw(file.as_fd())))
        .map_err(|e| format!("the watched file has no path: {e}"))?
        .to_string_lossy()
        .into_owned();
    if path.ends_with(" (deleted)") {
        return Err(format!("the watched file {path} was deleted"));
    }
    Ok(path)
}

fn raw(fd: BorrowedFd<'_>) -> i32 {
    use std::os::fd::AsRawFd;
    fd.as_raw_fd()
}

/// A mount point of the filesystem with device major:minor, from our mountinfo.
fn mount_point_of(major: u32, minor: u32) -> Option<String> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let want = format!("{major}:{minor}");
    text.lines().find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        (fields.get(2) == Some(&want.as_str())).then(|| fields[4].to_string())
    })
}

pub fn dump(probe: &FdProbe) -> pb::open_file::Kind {
    let watches = probe
        .info
        .inotify
        .iter()
        .map(|w| {
            let path = watched_path(w).unwrap_or_default();
            let (dev, inode) = std::fs::metadata(&path)
                .map(|m| {
                    use std::os::unix::fs::MetadataExt;
                    (m.dev(), m.ino())
                })
                .unwrap_or((0, w.ino));
            pb::InotifyWatch {
                wd: w.wd,
                mask: w.mask,
                path,
                dev,
                inode,
            }
        })
        .collect();
    pb::open_file::Kind::Inotify(pb::Inotify { watches })
}

/// Says so when events wait in the instance: they are not kept.
pub fn warn_if_queued(pid: i32, fd: i32, copy: BorrowedFd<'_>) {
    if let Ok(queued) = syscalls::bytes_readable(copy) {
        if queued > 0 {
            tracing::warn!(
                pid,
                fd,
                queued,
                "inotify events waiting to be read are not kept by the checkpoint"
            );
        }
    }
}

/// A new inotify instance with the saved watches and their watch descriptors.
pub fn restore(file: &pb::OpenFile, inotify: &pb::Inotify) -> io::Result<OwnedFd> {
    let flags = (file.flags as i32 & libc::O_NONBLOCK) | libc::O_CLOEXEC;
    let fd = syscalls::inotify_init(flags)?;
    let mut watches = inotify.watches.clone();
    watches.sort_by_key(|w| w.wd);
    // A path no saved watch uses, for the throwaway watches (adding a watch
    // on a watched inode would return its wd instead of a new one).
    let spare = ["/", "/proc", "/sys", "/dev", "/tmp"]
        .into_iter()
        .find(|p| !watches.iter().any(|w| w.path == *p))
        .unwrap_or("/");
    let mut next = 1;
    for watch in &watches {
        while next < watch.wd {
            let skipped = syscalls::inotify_add_watch(fd.as_fd(), spare, libc::IN_ATTRIB)?;
            syscalls::inotify_rm_watch(fd.as_fd(), skipped)?;
            next = skipped + 1;
        }
        let got = syscalls::inotify_add_watch(fd.as_fd(), &watch.path, watch.mask)
            .map_err(|e| io::Error::new(e.kind(), format!("watching {}: {e}", watch.path)))?;
        if got != watch.wd {
            return Err(io::Error::other(format!(
                "watching {} gave watch descriptor {got}, expected {}",
                watch.path, watch.wd
            )));
        }
        next = got + 1;
    }
    // Removing a throwaway watch queued an IN_IGNORED event for a wd the
    // program never had: empty the queue (events of the dump were dropped too).
    syscalls::set_status_flags(fd.as_fd(), libc::O_NONBLOCK)?;
    let mut buf = [0u8; 4096];
    let reader = std::fs::File::from(fd.try_clone()?);
    while std::io::Read::read(&mut &reader, &mut buf).is_ok_and(|n| n > 0) {}
    syscalls::set_status_flags(fd.as_fd(), file.flags as i32 & libc::O_NONBLOCK)?;
    Ok(fd)
}
