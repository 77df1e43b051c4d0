//! File locks: flock(2) and OFD locks belong to an open file description, POSIX
//! record locks (fcntl F_SETLK) to a process. All are found in the `lock:` lines
//! of /proc/<pid>/fdinfo/<fd>, which list only the locks taken through that
//! description (and, for POSIX locks, only those of that process), so each lock
//! has one unambiguous owner.
//!
//! Restore: stasis takes flock and OFD locks on its own copy of the description
//! (which the tasks then share); each task takes its POSIX locks itself, once its
//! fd table is complete: closing any fd of a file drops the process's POSIX locks
//! on it, and installing fds closes temporaries.

use std::io;
use std::os::fd::BorrowedFd;

use stasis_image::{pb, LoadedDump, LoadedTask};

use super::{FdProbe, Support};
use crate::inject::{self, Injector};
use crate::proc::fdinfo::LockLine;
use crate::sys::syscalls;

/// Refuses an fd carrying a lock kind stasis cannot take back (leases, delegations).
pub fn classify(probe: &FdProbe) -> Option<Support> {
    let other = probe
        .info
        .locks
        .iter()
        .find(|l| !matches!(l.class.as_str(), "POSIX" | "FLOCK" | "OFDLCK"))?;
    Some(Support::Unsupported {
        what: format!("{} ({} lock)", probe.link, other.class),
        why: "file leases and delegations are not supported; release the lease (F_SETLEASE F_UNLCK) before checkpointing"
            .to_string(),
    })
}

fn to_image(line: &LockLine, kind: pb::LockKind, file_id: u32) -> pb::FileLock {
    pb::FileLock {
        kind: kind as i32,
        write: line.access == "WRITE",
        start: line.start,
        length: match line.end {
            None => 0,
            Some(end) => end.saturating_sub(line.start) + 1,
        },
        file_id,
    }
}

/// The flock and OFD locks of the description `probe` refers to.
pub fn description_locks(probe: &FdProbe) -> Vec<pb::FileLock> {
    probe
        .info
        .locks
        .iter()
        .filter_map(|line| match line.class.as_str() {
            "FLOCK" => Some(to_image(line, pb::LockKind::Flock, 0)),
            "OFDLCK" => Some(to_image(line, pb::LockKind::Ofd, 0)),
            _ => None,
        })
        .collect()
}

/// Adds the POSIX locks the task holds through `probe` (description `file_id`) to
/// `locks`. A lock appears under every fd of its description: each is kept once.
pub fn add_posix_locks(probe: &FdProbe, file_id: u32, locks: &mut Vec<pb::FileLock>) {
    for line in probe.info.locks.iter().filter(|l| l.class == "POSIX") {
        let lock = to_image(line, pb::LockKind::Posix, file_id);
        // A process's POSIX locks never overlap (the kernel merges and splits them).
        if !locks
            .iter()
            .any(|l| l.start == lock.start && l.length == lock.length)
        {
            locks.push(lock);
        }
    }
}

fn describe(lock: &pb::FileLock) -> String {
    let access = if lock.write { "write" } else { "read" };
    let range = match lock.length {
        0 => format!("bytes {}..end of file", lock.start),
        n => format!("bytes {}..{}", lock.start, lock.start + n - 1),
    };
    match lock.kind() {
        pb::LockKind::Flock => format!("flock {access} lock"),
        pb::LockKind::Ofd => format!("OFD {access} lock on {range}"),
        _ => format!("POSIX {access} lock on {range}"),
    }
}

fn conflict(err: io::Error, what: String) -> io::Error {
    if matches!(err.raw_os_error(), Some(libc::EAGAIN) | Some(libc::EACCES)) {
        io::Error::new(
            err.kind(),
            format!("{what}: another process holds a conflicting lock on the file now; stop it (see /proc/locks) and restore again"),
        )
    } else {
        io::Error::new(err.kind(), format!("{what}: {err}"))
    }
}

/// The flock and OFD locks of one description, taken on stasis' copy of it
/// (they belong to the description, which the tasks then share). Never waits:
/// a conflicting lock is an error.
pub fn take_description_locks(
    dump: &LoadedDump,
    file: &pb::OpenFile,
    fd: BorrowedFd<'_>,
) -> io::Result<()> {
    if file.locks.is_empty() {
        return Ok(());
    }
    let holder = super::describe_description(dump, file);
    take_locks_of(file, fd, &holder)
}

fn take_locks_of(file: &pb::OpenFile, fd: BorrowedFd<'_>, holder: &str) -> io::Result<()> {
    for lock in &file.locks {
        let what = format!("{holder}: taking back its {}", describe(lock));
        match lock.kind() {
            pb::LockKind::Flock => syscalls::flock_nonblocking(fd, lock.write),
            pb::LockKind::Ofd => {
                syscalls::ofd_lock_nonblocking(fd, lock.write, lock.start, lock.length)
            }
            other => Err(io::Error::other(format!(
                "a {other:?} lock cannot belong to a description"
            ))),
        }
        .map_err(|e| conflict(e, what))?;
    }
    Ok(())
}

/// F_SETLK is 6 on x86_64; struct flock is {short type, short whence, off_t
/// start, off_t len, pid_t pid} = 32 bytes with padding.
const F_SETLK: u64 = libc::F_SETLK as u64;

fn struct_flock(write: bool, start: u64, length: u64) -> Vec<u8> {
    let mut bytes = vec![0u8; 32];
    let kind = if write { libc::F_WRLCK } else { libc::F_RDLCK } as i16;
    bytes[0..2].copy_from_slice(&kind.to_le_bytes());
    bytes[2..4].copy_from_slice(&(libc::SEEK_SET as i16).to_le_bytes());
    bytes[8..16].copy_from_slice(&start.to_le_bytes());
    bytes[16..24].copy_from_slice(&length.to_le_bytes());
    bytes
}

/// Has the task take its POSIX locks, through its own fds. Call once every fd is
/// in place and every temporary fd closed.
pub fn take_posix_locks(
    inj: &mut Injector,
    dump: &LoadedDump,
    task: &LoadedTask,
) -> io::Result<()> {
    for lock in &task.fds.posix_locks {
        let fd = task
            .fds
            .fds
            .iter()
            .find(|e| e.file_id == lock.file_id)
            .map(|e| e.fd)
            .ok_or_else(|| {
                io::Error::other(format!(
                    "a POSIX lock refers to file {}, which no fd holds",
                    lock.file_id
                ))
            })?;
        inj.reset();
        let arg = inj.put(&struct_flock(lock.write, lock.start, lock.length))?;
        inj.syscall(inject::SYS_fcntl, &[fd as u64, F_SETLK, arg])
            .map_err(|e| {
                let path = dump
                    .files
                    .files
                    .iter()
                    .find(|f| f.id == lock.file_id)
                    .map(|f| super::describe_description(dump, f))
                    .unwrap_or_default();
                conflict(
                    e,
                    format!("fd {fd} {path}: taking back its {}", describe(lock)),
                )
            })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proc::fdinfo::parse_fdinfo;

    fn probe(fdinfo: &str) -> FdProbe {
        FdProbe {
            fd: 3,
            link: "/tmp/f".into(),
            stat: None,
            info: parse_fdinfo(fdinfo).unwrap(),
            socket: None,
        }
    }

    #[test]
    fn sorts_locks_by_owner() {
        let p = probe(
            "lock:\t1: POSIX  ADVISORY  WRITE 4689 fe:00:1 0 9\n\
             lock:\t2: FLOCK  ADVISORY  READ 4689 fe:00:1 0 EOF\n\
             lock:\t3: OFDLCK ADVISORY  WRITE -1 fe:00:1 100 EOF\n",
        );
        let desc = description_locks(&p);
        assert_eq!(desc.len(), 2);
        assert_eq!(desc[0].kind(), pb::LockKind::Flock);
        assert!(!desc[0].write);
        assert_eq!(desc[1].kind(), pb::LockKind::Ofd);
        assert!(desc[1].write);
        assert_eq!((desc[1].start, desc[1].length), (100, 0));
        let mut posix = Vec::new();
        add_posix_locks(&p, 7, &mut posix);
        // The same lock seen again through a dup is kept once.
        add_posix_locks(&p, 7, &mut posix);
        assert_eq!(posix.len(), 1);
        assert_eq!(
            (posix[0].start, posix[0].length, posix[0].file_id),
            (0, 10, 7)
        );
        assert!(classify(&p).is_none());
        let lease = probe("lock:\t1: LEASE  ACTIVE    READ 4689 fe:00:1 0 EOF\n");
        assert!(matches!(
            classify(&lease),
            Some(Support::Unsupported { .. })
        ));
    }

    #[test]
    fn struct_flock_layout() {
        let b = struct_flock(true, 5, 10);
        assert_eq!(i16::from_le_bytes([b[0], b[1]]), libc::F_WRLCK as i16);
        assert_eq!(u64::from_le_bytes(b[8..16].try_into().unwrap()), 5);
        assert_eq!(u64::from_le_bytes(b[16..24].try_into().unwrap()), 10);
    }
}
