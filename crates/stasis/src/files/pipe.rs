//! Pipes: both ends are recreated by one pipe2() in the restored task, with the
//! same capacity and the bytes that were buffered. The bytes are copied at dump
//! time with tee(2), so the dumped process does not lose them if it runs on.
//! A pipe whose other end is held by a process outside the dump is refused: the
//! restored process would lose its peer.

use std::os::fd::{AsFd, BorrowedFd};

use stasis_image::pb;

use super::{FdProbe, FileKind, Support};

/// The inode number in a "pipe:[1234]" link.
pub fn pipe_id(link: &str) -> Option<u64> {
    link.strip_prefix("pipe:[")?.strip_suffix(']')?.parse().ok()
}

pub fn classify(probe: &FdProbe) -> Support {
    if probe.info.flags & libc::O_ACCMODE as u32 == libc::O_RDWR as u32 {
        return Support::Unsupported {
            what: format!("pipe ({})", probe.link),
            why: "a pipe opened for both reading and writing (through /proc) is not supported yet"
                .to_string(),
        };
    }
    match pipe_id(&probe.link) {
        Some(_) => Support::Supported(FileKind::Pipe),
        None => Support::Unsupported {
            what: probe.link.clone(),
            why: "unrecognised pipe".to_string(),
        },
    }
}

pub fn is_write_end(probe: &FdProbe) -> bool {
    probe.info.flags & libc::O_ACCMODE as u32 == libc::O_WRONLY as u32
}

pub fn dump_end(probe: &FdProbe) -> pb::open_file::Kind {
    pb::open_file::Kind::Pipe(pb::PipeEnd {
        pipe_id: pipe_id(&probe.link).unwrap_or(0),
        write_end: is_write_end(probe),
    })
}

/// Capacity and buffered bytes of a pipe, read through our copy of one of its
/// fds (`read_end` if the dumped tree holds the read end).
pub fn dump_pipe(
    pipe_id: u64,
    any_end: BorrowedFd<'_>,
    read_end: Option<BorrowedFd<'_>>,
) -> std::io::Result<pb::Pipe> {
    let size = crate::sys::syscalls::pipe_capacity(any_end)?;
    // Without a reader anywhere, buffered bytes can never be read: nothing to keep.
    let data = match read_end {
        Some(fd) => crate::sys::syscalls::pipe_peek(fd.as_fd())?,
        None => Vec::new(),
    };
    Ok(pb::Pipe {
        pipe_id,
        size,
        data,
    })
}

/// Processes outside `tree` that hold an fd of pipe `pipe_id`: (pid, comm, fd).
pub fn outside_holders(pipe_id: u64, tree: &[i32]) -> Vec<(i32, String, i32)> {
    outside_holders_of(&format!("pipe:[{pipe_id}]"), tree)
}

/// Processes outside `tree` with an fd whose /proc link reads `wanted`
/// ("pipe:[12]", "socket:[34]"): (pid, comm, fd).
pub fn outside_holders_of(wanted: &str, tree: &[i32]) -> Vec<(i32, String, i32)> {
    let mut holders = Vec::new();
    super::each_fd_outside(tree, |pid, fd, path| {
        if std::fs::read_link(path).is_ok_and(|target| target.as_os_str() == wanted) {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            holders.push((pid, comm.trim().to_string(), fd));
        }
    });
    holders
}
