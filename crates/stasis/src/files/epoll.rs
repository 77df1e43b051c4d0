//! epoll: the watch list. Each item is saved with the fd number it was added
//! under, its events and data, and the description it watches (resolved in
//! the fd table of the task whose fdinfo lists it, and checked there with
//! kcmp KCMP_EPOLL_TFD).
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

use super::FdProbe;

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

/// Why epoll `probe` of task `pid` cannot be saved, if it cannot: an item's
/// fd number must still hold the watched file in that task, as the restored
/// item needs a description to watch. `fds` are the task's fds.
pub fn check_items(pid: i32, probe: &FdProbe, fds: &[&FdProbe]) -> Option<String> {
    for item in &probe.info.epoll_items {
        let holder = fds.iter().find(|p| p.fd == item.fd);
        let same_inode = holder
            .and_then(|p| p.stat)
            .is_some_and(|st| st.ino == item.ino && st.dev == user_dev(item.sdev));
        // Anonymous-inode files all share one inode: only kcmp tells them apart.
        let same_file = same_inode
            && crate::sys::events::epoll_watches(pid, probe.fd, item.fd, item.fd).unwrap_or(false);
        if !same_file {
            let now = match holder {
                Some(p) => format!("fd {} now holds another file, {}", item.fd, p.link),
                None => format!("fd {} is closed", item.fd),
            };
            return Some(format!(
                "it watches a file that was added as fd {} and is no longer at that fd ({now}); \
                 stasis restores epoll items through their fd numbers: remove the item \
                 (EPOLL_CTL_DEL) before closing its fd, or keep the fd open",
                item.fd
            ));
        }
    }
    None
}

/// Fills in each item's target file id from the fd table of the task whose
/// fdinfo listed the items (`check_items` made sure the numbers hold the
/// watched files).
pub fn resolve_targets(epoll: &mut pb::EventPoll, table: &HashMap<i32, u32>) -> io::Result<()> {
    for item in &mut epoll.items {
        item.file_id = *table.get(&item.fd).ok_or_else(|| {
            io::Error::other(format!(
                "the epoll watches fd {}, which the task no longer holds",
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
