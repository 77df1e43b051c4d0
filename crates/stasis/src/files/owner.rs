//! Signal-driven I/O of an open file description: its owner (F_SETOWN_EX: a
//! thread, a process or a process group), its signal (F_SETSIG) and O_ASYNC.
//! None of it shows in /proc, so the dump asks its own copy of the description.
//! Restore sets owner and signal on stasis' copy once every task and thread
//! exists (the owner must exist). O_ASYNC is set by a restored task itself: the
//! kernel records the fd number of whoever sets it and puts that number in the
//! signal's si_fd, so it must be the task's fd, not stasis' copy.

use std::io;
use std::os::fd::BorrowedFd;

use stasis_image::{pb, LoadedDump, LoadedTask};

use crate::inject::{self, Injector};
use crate::sys::syscalls;

/// Owner and signal of a description, through any fd of it. An O_PATH fd has
/// neither (fcntl refuses it): so do files whose fcntl fails.
pub fn dump(fd: BorrowedFd<'_>) -> (Option<pb::FileOwner>, i32) {
    let owner = match syscalls::get_owner(fd) {
        Ok((kind, id)) if id != 0 => Some(pb::FileOwner { kind, id }),
        _ => None,
    };
    let signal = syscalls::get_io_signal(fd).unwrap_or(0);
    (owner, signal)
}

/// Why the owner of a description's signal-driven I/O prevents a checkpoint, if
/// it does: an owner outside the dumped processes would, after restore, be
/// whatever process then has that id (or none). `tree` are the dumped pids,
/// `groups` their process groups.
pub fn outside_owner(fd: BorrowedFd<'_>, tree: &[i32], groups: &[i32]) -> Option<String> {
    let owner = dump(fd).0?;
    let inside = match owner.kind {
        0 => tree
            .iter()
            .any(|pid| std::path::Path::new(&format!("/proc/{pid}/task/{}", owner.id)).exists()),
        2 => groups.contains(&owner.id),
        _ => tree.contains(&owner.id),
    };
    (!inside).then(|| {
        format!(
            "its signal-driven I/O owner (F_SETOWN) is {} {}, outside the dumped processes; checkpoint them together, or reset the owner (fcntl F_SETOWN 0)",
            kind_name(owner.kind),
            owner.id
        )
    })
}

fn kind_name(kind: i32) -> &'static str {
    match kind {
        0 => "thread",
        2 => "process group",
        _ => "process",
    }
}

/// Restores owner and signal of every description of the dump on stasis' copy
/// of it (`fd_of`). Every task and thread must exist.
pub fn restore<'a>(
    dump: &LoadedDump,
    fd_of: impl Fn(u32) -> Option<BorrowedFd<'a>>,
) -> io::Result<()> {
    for file in &dump.files.files {
        if file.owner.is_none() && file.signal == 0 {
            continue;
        }
        let holder = super::describe_description(dump, file);
        let fd = fd_of(file.id)
            .ok_or_else(|| io::Error::other(format!("{holder}: the file was not opened")))?;
        restore_one(file, fd, &holder)?;
    }
    Ok(())
}

fn restore_one(file: &pb::OpenFile, fd: BorrowedFd<'_>, holder: &str) -> io::Result<()> {
    let with = |what: String| {
        move |e: io::Error| io::Error::new(e.kind(), format!("{holder}: {what}: {e}"))
    };
    if file.signal != 0 {
        syscalls::set_io_signal(fd, file.signal)
            .map_err(with(format!("F_SETSIG {}", file.signal)))?;
    }
    if let Some(owner) = &file.owner {
        syscalls::set_owner(fd, owner.kind, owner.id).map_err(with(format!(
            "making {} {} the owner of its signal-driven I/O (F_SETOWN_EX)",
            kind_name(owner.kind),
            owner.id
        )))?;
    }
    Ok(())
}

const F_GETFL: u64 = libc::F_GETFL as u64;
const F_SETFL: u64 = libc::F_SETFL as u64;

/// Sets O_ASYNC, through the task's lowest fd of it, on the descriptions with
/// O_ASYNC that `task` is the first of the dump to hold. The flag is cleared
/// first and set again: open(2) leaves O_ASYNC in the flags without registering
/// for signals, and F_SETFL acts only on a change. (A file without fasync
/// support keeps the flag as open(2) left it, as it did before the dump.)
pub fn set_async(inj: &mut Injector, dump: &LoadedDump, task: &LoadedTask) -> io::Result<()> {
    let pid = task.task.pid;
    for file in &dump.files.files {
        if file.flags & libc::O_ASYNC as u32 == 0 {
            continue;
        }
        let first_holder = dump
            .tasks
            .iter()
            .find(|t| t.fds.fds.iter().any(|e| e.file_id == file.id));
        if first_holder.map(|t| t.task.pid) != Some(pid) {
            continue;
        }
        let Some(fd) = task
            .fds
            .fds
            .iter()
            .filter(|e| e.file_id == file.id)
            .map(|e| e.fd)
            .min()
        else {
            continue;
        };
        let err = |e: io::Error| {
            io::Error::new(
                e.kind(),
                format!(
                    "fd {fd} {}: setting O_ASYNC: {e}",
                    super::describe_description(dump, file)
                ),
            )
        };
        let flags = inj
            .syscall(inject::SYS_fcntl, &[fd as u64, F_GETFL])
            .map_err(err)?;
        let async_flag = libc::O_ASYNC as u64;
        inj.syscall(
            inject::SYS_fcntl,
            &[fd as u64, F_SETFL, flags & !async_flag],
        )
        .map_err(err)?;
        inj.syscall(inject::SYS_fcntl, &[fd as u64, F_SETFL, flags | async_flag])
            .map_err(err)?;
    }
    Ok(())
}
