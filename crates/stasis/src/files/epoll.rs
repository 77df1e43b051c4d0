//! epoll: the watch list. Each item is saved with the fd number it was added
//! under, its events and data, and the description it watches, resolved in
//! the fd table of a task that holds the epoll and in which that fd number
//! still holds the watched file (checked with kcmp KCMP_EPOLL_TFD): after a
//! fork, an item may have been added by the child, with the child's fds.
//!
//! Restore: the kernel keys an item by (file, fd number) and the program may
//! later call epoll_ctl(MOD/DEL) with that number, so each item is added back
//! under its original number, by stasis in a private copy of its fd table
//! (sys::events::epoll_add_at_numbers). The plan makes every watched
//! description exist before the epoll is configured (an epoll inside an epoll
//! is just another watched description).
//!
//! Known differences: the kernel polls each file again when an item is added,
//! so an EPOLLET item whose edge was already reported but not consumed reports
//! it once more; an EPOLLONESHOT item that already fired (only its flag bits
//! left) comes back armed for EPOLLERR and EPOLLHUP, which the kernel adds to
//! every item.

use std::collections::HashMap;
use std::io;
use std::os::fd::BorrowedFd;

use stasis_image::pb;

use super::{FdProbe, FileKind};
use crate::proc::fdinfo::EpollItemLine;

pub const LINK: &str = "anon_inode:[eventpoll]";

/// The record from fdinfo; the file ids of the targets are filled in by
/// `resolve_targets` once the task's fd table is known.
pub fn dump(probe: &FdProbe) -> pb::open_file::Kind {
    pb::open_file::Kind::Epoll(pb::EventPoll {
        items: probe
            .info
            .epoll_items
            .iter()
            .map(|item| pb::EpollItem {
                fd: item.fd,
                file_id: 0,
                events: item.events,
                data: item.data,
            })
            .collect(),
    })
}

/// "anon_inode:[eventpoll] watching fds 10, 12" (plan labels, errors).
pub fn describe(epoll: &pb::EventPoll) -> String {
    const SHOWN: usize = 8;
    let mut fds: Vec<String> = epoll
        .items
        .iter()
        .take(SHOWN)
        .map(|i| i.fd.to_string())
        .collect();
    if epoll.items.len() > SHOWN {
        fds.push(format!("and {} more", epoll.items.len() - SHOWN));
    }
    match fds.len() {
        0 => format!("{LINK}, empty"),
        _ => format!("{LINK} watching fds {}", fds.join(", ")),
    }
}

/// stat's st_dev of a kernel dev_t as fdinfo prints it (major << 20 | minor).
fn user_dev(sdev: u32) -> u64 {
    libc::makedev(sdev >> 20, sdev & 0xfffff)
}

/// A task that holds an epoll description: its pid, its fd of the epoll and
/// all its fds. An epoll shared after fork lists the same items in every
/// holder, but each item's fd number means something in the task that added
/// it only.
#[derive(Clone, Copy)]
pub struct Holder<'a> {
    pub pid: i32,
    pub epoll_fd: i32,
    pub fds: &'a [(FdProbe, FileKind)],
}

/// The first holder in which the item's fd number holds the watched file:
/// same inode and device as fdinfo says, and the same file for kcmp
/// KCMP_EPOLL_TFD (anonymous-inode files all share one inode).
pub fn find_holder(item: &EpollItemLine, holders: &[Holder<'_>]) -> Option<usize> {
    holders.iter().position(|holder| {
        let same_inode = holder
            .fds
            .iter()
            .find(|(p, _)| p.fd == item.fd)
            .and_then(|(p, _)| p.stat)
            .is_some_and(|st| st.ino == item.ino && st.dev == user_dev(item.sdev));
        same_inode
            && crate::sys::events::epoll_watches(holder.pid, holder.epoll_fd, item.fd, item.fd)
                .unwrap_or(false)
    })
}

/// Why epoll `probe` cannot be saved, if it cannot: each item's fd number
/// must still hold the watched file in some task that holds the epoll
/// (`holders`, the task whose probe this is first), as the restored item
/// needs a description to watch.
pub fn check_items(probe: &FdProbe, holders: &[Holder<'_>]) -> Option<String> {
    let item = probe
        .info
        .epoll_items
        .iter()
        .find(|item| find_holder(item, holders).is_none())?;
    let now = match holders
        .first()
        .and_then(|h| h.fds.iter().find(|(p, _)| p.fd == item.fd))
    {
        Some((p, _)) => format!("fd {} now holds another file, {}", item.fd, p.link),
        None => format!("fd {} is closed", item.fd),
    };
    Some(format!(
        "it watches a file that was added as fd {} and is no longer at that fd ({now}); \
         stasis restores epoll items through their fd numbers: remove the item \
         (EPOLL_CTL_DEL) before closing its fd, or keep the fd open",
        item.fd
    ))
}

/// Fills in each item's target file id from the fd table of a holder in
/// which the item's fd number holds the watched file. `tables[i]` is the fd
/// table (fd -> file id) of `holders[i]`.
pub fn resolve_targets(
    epoll: &mut pb::EventPoll,
    lines: &[EpollItemLine],
    holders: &[Holder<'_>],
    tables: &[&HashMap<i32, u32>],
) -> io::Result<()> {
    for (item, line) in epoll.items.iter_mut().zip(lines) {
        let file_id = find_holder(line, holders).and_then(|h| tables[h].get(&item.fd).copied());
        item.file_id = file_id.ok_or_else(|| {
            io::Error::other(format!(
                "the epoll watches a file added as fd {}, which no task holds at that fd any more",
                item.fd
            ))
        })?;
    }
    Ok(())
}

/// Adds the saved items to a new epoll. `target` gives stasis' copy of a
/// description (every target is created before, by the plan).
pub fn configure<'a>(
    saved: &pb::EventPoll,
    epoll: BorrowedFd<'_>,
    target: impl Fn(u32) -> Option<BorrowedFd<'a>>,
) -> io::Result<()> {
    let items = saved
        .items
        .iter()
        .map(|item| {
            Ok(crate::sys::events::EpollAdd {
                target: target(item.file_id).ok_or_else(|| {
                    io::Error::other(format!(
                        "fd {}: the watched file {} was not created before the epoll",
                        item.fd, item.file_id
                    ))
                })?,
                fd: item.fd,
                events: item.events,
                data: item.data,
            })
        })
        .collect::<io::Result<Vec<_>>>()?;
    crate::sys::events::epoll_add_at_numbers(epoll, &items)
}
