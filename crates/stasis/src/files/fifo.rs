//! FIFOs (named pipes): reopened by path, with the capacity and the bytes that
//! were buffered. The bytes are copied at dump time with tee(2), as for pipes,
//! so a process that runs on (--leave-running) does not lose them.
//!
//! Restore never blocks in open(2): a FIFO opened O_RDONLY or O_WRONLY waits for
//! the other side. stasis first opens the FIFO O_RDWR as a keeper (which never
//! blocks and is both a reader and a writer), writes the buffered bytes once
//! per FIFO, opens each saved description with O_NONBLOCK added, clears
//! O_NONBLOCK again where it was not saved, and closes the keeper only after
//! every description of that FIFO is open.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;

use stasis_image::{pb, LoadedDump};

use super::{FdProbe, FileKind, Support};
use crate::sys::syscalls;

pub fn classify(link: &str) -> Support {
    if link.ends_with(" (deleted)") || !link.starts_with('/') {
        return Support::Unsupported {
            what: format!("FIFO {link}"),
            why: "the FIFO was removed while open; stasis reopens FIFOs by path".to_string(),
        };
    }
    Support::Supported(FileKind::Fifo)
}

/// Whether a description of the FIFO can be read (and so tee'd from).
pub fn is_readable(probe: &FdProbe) -> bool {
    probe.info.flags & libc::O_ACCMODE as u32 != libc::O_WRONLY as u32
}

/// Capacity and buffered bytes of the FIFO behind `probe` (held by `pid`).
/// `reader` is a readable description of it held by the tree, if any. Without
/// one, a reader of our own is opened through /proc, non-blocking, for the
/// moment of the copy. The tree is frozen; only a writer outside the tree
/// blocked in open(2) on this FIFO would notice (its open completes).
pub fn dump_fifo(
    pid: i32,
    probe: &FdProbe,
    reader: Option<(i32, &FdProbe)>,
) -> io::Result<pb::Fifo> {
    let reader: OwnedFd = match reader {
        Some((reader_pid, reader_probe)) => {
            let pidfd = syscalls::pidfd_open(reader_pid)?;
            syscalls::pidfd_getfd(pidfd.as_fd(), reader_probe.fd)?
        }
        None => OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(format!("/proc/{pid}/fd/{}", probe.fd))?
            .into(),
    };
    let stat = syscalls::fstat(reader.as_fd())?;
    Ok(pb::Fifo {
        dev: stat.st_dev,
        inode: stat.st_ino,
        path: probe.link.clone(),
        size: syscalls::pipe_capacity(reader.as_fd())?,
        data: syscalls::pipe_peek(reader.as_fd())?,
    })
}

/// (pid, fd) of every process but us that holds the inode (dev, ino) open.
fn other_holders(dev: u64, ino: u64) -> Vec<(i32, i32)> {
    let mut holders = Vec::new();
    super::each_fd_outside(&[syscalls::getpid()], |pid, fd, path| {
        if syscalls::stat_path(path).is_ok_and(|st| (st.st_dev, st.st_ino) == (dev, ino)) {
            holders.push((pid, fd));
        }
    });
    holders
}

fn pick(kind: &pb::open_file::Kind) -> Option<&pb::InodeRef> {
    match kind {
        pb::open_file::Kind::Fifo(r) => Some(r),
        _ => None,
    }
}

/// Opens every description of FIFO `key` without blocking, after putting its
/// buffered bytes back.
pub fn restore(dump: &LoadedDump, key: &pb::InodeRef) -> io::Result<Vec<(u32, OwnedFd)>> {
    let fifo = dump
        .files
        .fifos
        .iter()
        .find(|f| (f.dev, f.inode) == (key.dev, key.inode))
        .ok_or_else(|| {
            io::Error::other(format!(
                "FIFO (device {}, inode {}) is not in files.img",
                key.dev, key.inode
            ))
        })?;
    let path = &fifo.path;
    let context = |what: &str| {
        let path = path.clone();
        let what = what.to_string();
        move |e: io::Error| io::Error::new(e.kind(), format!("FIFO {path}: {what}: {e}"))
    };
    // O_RDWR on a FIFO never blocks; O_NONBLOCK so that a regular file put in
    // its place cannot make us wait either (it is refused just below).
    let keeper = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(context("open"))?;
    let stat = syscalls::fstat(keeper.as_fd()).map_err(context("stat"))?;
    if stat.st_mode & libc::S_IFMT != libc::S_IFIFO {
        return Err(io::Error::other(format!(
            "{path} is no longer a FIFO (mode {:o}); recreate it with mkfifo before restoring",
            stat.st_mode
        )));
    }
    if fifo.size != 0 {
        syscalls::set_pipe_capacity(keeper.as_fd(), fifo.size)
            .map_err(context(&format!("set capacity {}", fifo.size)))?;
    }
    // A FIFO that another process kept open kept its buffer too (or that
    // process has read it since the dump): writing the saved bytes again would
    // deliver them twice.
    let holders = other_holders(stat.st_dev, stat.st_ino);
    if holders.is_empty() {
        (&keeper).write_all(&fifo.data).map_err(context(&format!(
            "write {} buffered bytes",
            fifo.data.len()
        )))?;
    } else if !fifo.data.is_empty() {
        tracing::warn!(
            path,
            bytes = fifo.data.len(),
            ?holders,
            "the FIFO is held open by other processes (pid, fd), which kept its buffered bytes; not writing them again"
        );
    }
    let mut opened = Vec::new();
    for description in super::descriptions_of(&dump.files, (key.dev, key.inode), pick) {
        let flags = description.flags as i32;
        let fd = super::reopen_inode(keeper.as_fd(), flags | libc::O_NONBLOCK)
            .map_err(context(&format!("reopen file id {}", description.id)))?;
        if flags & libc::O_NONBLOCK == 0 {
            syscalls::set_status_flags(
                fd.as_fd(),
                super::reopen_flags(flags as u32) & !libc::O_ACCMODE,
            )
            .map_err(context("clear O_NONBLOCK"))?;
        }
        opened.push((description.id, OwnedFd::from(fd)));
    }
    drop::<File>(keeper);
    Ok(opened)
}
