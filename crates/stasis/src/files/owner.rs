//! Signal-driven I/O of an open file description: its owner (F_SETOWN_EX: a
//! thread, a process or a process group), its signal (F_SETSIG) and O_ASYNC.
//! None of it shows in /proc, so the dump asks its own copy of the description.
//! Restore sets them on stasis' copy once every task and thread exists (the
//! owner must exist), and O_ASYNC last: open(2) ignores O_ASYNC, and only
//! F_SETFL registers the description for the signals.

use std::io;
use std::os::fd::BorrowedFd;

use stasis_image::{pb, LoadedDump};

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

fn kind_name(kind: i32) -> &'static str {
    match kind {
        0 => "thread",
        2 => "process group",
        _ => "process",
    }
}

/// Restores owner, signal and O_ASYNC of every description of the dump on
/// stasis' copy of it (`fd_of`). Every task and thread must exist.
pub fn restore<'a>(
    dump: &LoadedDump,
    fd_of: impl Fn(u32) -> Option<BorrowedFd<'a>>,
) -> io::Result<()> {
    for file in &dump.files.files {
        if file.owner.is_none() && file.signal == 0 && file.flags & libc::O_ASYNC as u32 == 0 {
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
    if file.flags & libc::O_ASYNC as u32 != 0 {
        let flags = syscalls::status_flags(fd).map_err(with("F_GETFL".into()))?;
        syscalls::set_status_flags(fd, flags | libc::O_ASYNC)
            .map_err(with("setting O_ASYNC".into()))?;
    }
    Ok(())
}
