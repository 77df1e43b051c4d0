//! Cross-reference checks of a decoded dump: pure functions on the image messages, run by
//! LoadedDump::load before restore touches the system. Each problem names the offending
//! item (pid, tid, fd, file id, address); the caller adds the image file.

use std::collections::HashSet;

use crate::frame::FORMAT_VERSION;
use crate::names::{
    inventory_name, is_content_image_name, is_plain_file_name, INVENTORY_TEMP_NAME,
};
use crate::pb;

/// Number of entries of TaskImage.sigactions when present (signals 1..=64).
pub const SIGNAL_COUNT: usize = 64;
/// Size of a raw siginfo_t as PTRACE_PEEKSIGINFO returns it.
pub const SIGINFO_SIZE: usize = 128;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Inconsistency {
    #[error("inventory records format version {found}, expected {FORMAT_VERSION}")]
    FormatVersion { found: u32 },
    #[error("page size {page_size} is not a power of two")]
    BadPageSize { page_size: u32 },
    #[error("the inventory lists no tasks")]
    NoTasks,
    #[error("root pid {root_pid} is not the first task listed (first is pid {first})")]
    RootNotFirst { root_pid: i32, first: i32 },
    #[error("task pid {pid} is not a valid pid")]
    BadPid { pid: i32 },
    #[error("pid {pid} is listed twice")]
    DuplicateTask { pid: i32 },
    #[error("listed image name {name:?} is not a plain file name inside the dump directory")]
    BadImageName { name: String },
    #[error("image {name} is listed twice")]
    DuplicateImageName { name: String },
    #[error("pid {pid} needs image {name}, which the inventory does not list")]
    MissingTaskImage { pid: i32, name: String },
    #[error("files.img is not listed")]
    MissingFilesImage,
    #[error("holds pid {found}, but the inventory lists it as pid {expected}")]
    PidMismatch { expected: i32, found: i32 },
    #[error("pid {pid} has parent {found}, but the inventory says {expected}")]
    PpidMismatch { pid: i32, expected: i32, found: i32 },
    #[error("pid {pid} has no threads")]
    NoThreads { pid: i32 },
    #[error("pid {pid} thread {tid} has no registers")]
    MissingRegisters { pid: i32, tid: i32 },
    #[error("pid {pid} lists thread {tid} twice")]
    DuplicateThread { pid: i32, tid: i32 },
    #[error("pid {pid} has {count} signal actions, expected {SIGNAL_COUNT} or none")]
    BadSigactionCount { pid: i32, count: usize },
    #[error(
        "pid {pid} {}: pending signal {signo} has a {len}-byte siginfo, expected {SIGINFO_SIZE}",
        match tid { Some(tid) => format!("thread {tid}"), None => "shared queue".to_string() }
    )]
    BadSiginfo {
        pid: i32,
        tid: Option<i32>,
        signo: i32,
        len: usize,
    },
    #[error("file id {id} is listed twice")]
    DuplicateFileId { id: u32 },
    #[error("file id {id} has no kind this stasis knows (written by a newer stasis?)")]
    FileWithoutKind { id: u32 },

    #[error("pid {pid}: {nr_pages} page(s) to empty at {address:#x} are not in a VMA inherited from the parent")]
    DiscardOutsideInheritedVma {
        pid: i32,
        address: u64,
        nr_pages: u64,
    },

    #[error("file id {id} is an end of pipe {pipe_id}, which files.img does not describe")]
    UnknownPipe { id: u32, pipe_id: u64 },

    #[error("pipe {pipe_id} holds {len} bytes but its capacity is {size}")]
    PipeOverfull { pipe_id: u64, len: u64, size: u32 },

    #[error("pipe {pipe_id} is described twice")]
    DuplicatePipe { pipe_id: u64 },
    #[error("file id {id} opens {kind} (device {dev}, inode {inode}), which files.img does not describe")]
    UnknownInode {
        id: u32,
        kind: &'static str,
        dev: u64,
        inode: u64,
    },
    #[error("{kind} (device {dev}, inode {inode}) is described twice")]
    DuplicateInode {
        kind: &'static str,
        dev: u64,
        inode: u64,
    },
    #[error("FIFO {path} holds {len} bytes but its capacity is {size}")]
    FifoOverfull { path: String, len: u64, size: u32 },
    #[error("{kind} (device {dev}, inode {inode}): content image name {name:?} is not of the form deleted-<dev>-<inode>.img or memfd-<dev>-<inode>.img")]
    BadContentImageName {
        kind: &'static str,
        dev: u64,
        inode: u64,
        name: String,
    },
    #[error("{kind} {path}: its content image {name} is not listed in inventory.img")]
    MissingContentImage {
        kind: &'static str,
        path: String,
        name: String,
    },
    #[error("{kind} {path}: its extents hold {data} bytes but its content image {name} holds {file_size}")]
    ContentSizeMismatch {
        kind: &'static str,
        path: String,
        name: String,
        data: u64,
        file_size: u64,
    },
    #[error("{kind} {path}: extent of {length} bytes at offset {offset} is empty, out of order or past the end of the file ({size} bytes)")]
    BadExtent {
        kind: &'static str,
        path: String,
        offset: u64,
        length: u64,
        size: u64,
    },

    #[error("file id {id} is an epoll that watches fd {fd} as file id {target}, which files.img does not hold")]
    UnknownEpollTarget { id: u32, fd: i32, target: u32 },
    #[error("file id {id} is a unix socket of type {sock_type}, which is not stream (1), datagram (2) or seqpacket (5)")]
    BadSocketType { id: u32, sock_type: i32 },
    #[error("unix socket:[{inode}] is described twice")]
    DuplicateSocket { inode: u64 },
    #[error("file id {id} is unix socket:[{inode}] connected to socket:[{peer_inode}], which files.img does not describe")]
    UnknownSocketPeer {
        id: u32,
        inode: u64,
        peer_inode: u64,
    },
    #[error("file id {id} is unix socket:[{inode}] connected to socket:[{peer_inode}], which is of another type, or neither connected back to it nor bound to a name")]
    SocketPeerMismatch {
        id: u32,
        inode: u64,
        peer_inode: u64,
    },
    #[error("file id {id} is unix socket:[{inode}] bound to a relative path; only absolute paths can be bound again")]
    RelativeSocketPath { id: u32, inode: u64 },
    #[error("file id {id} is unix socket:[{inode}] waiting to be accepted by socket:[{listener}], which files.img does not describe as a named listener with that connection waiting")]
    NotPending { id: u32, inode: u64, listener: u64 },
    #[error("pid {pid} has negative fd {fd}")]
    NegativeFd { pid: i32, fd: i32 },
    #[error("pid {pid} lists fd {fd} twice")]
    DuplicateFd { pid: i32, fd: i32 },
    #[error("pid {pid} fd {fd} refers to file id {file_id}, which files.img does not hold")]
    UnknownFileId { pid: i32, fd: i32, file_id: u32 },
    #[error(
        "pid {pid} holds a POSIX lock through file id {file_id}, which none of its fds refers to"
    )]
    LockWithoutFd { pid: i32, file_id: u32 },
    #[error("pid {pid}: VMA 0x{start:x}-0x{end:x} is empty or reversed")]
    EmptyVma { pid: i32, start: u64, end: u64 },
    #[error("pid {pid}: VMA 0x{start:x}-0x{end:x} is not aligned to the page size {page_size}")]
    UnalignedVma {
        pid: i32,
        start: u64,
        end: u64,
        page_size: u64,
    },
    #[error(
        "pid {pid}: VMA 0x{start:x}-0x{end:x} overlaps or comes before the previous VMA \
         0x{prev_start:x}-0x{prev_end:x}"
    )]
    OverlappingVmas {
        pid: i32,
        start: u64,
        end: u64,
        prev_start: u64,
        prev_end: u64,
    },
    #[error("pid {pid}: page run at 0x{address:x} is empty")]
    EmptyPageRun { pid: i32, address: u64 },
    #[error("pid {pid}: page run at 0x{address:x} is not aligned to the page size {page_size}")]
    UnalignedPageRun {
        pid: i32,
        address: u64,
        page_size: u64,
    },
    #[error("pid {pid}: page run at 0x{address:x} of {nr_pages} pages overflows")]
    PageRunOverflow {
        pid: i32,
        address: u64,
        nr_pages: u64,
    },
    #[error(
        "pid {pid}: page run at 0x{address:x} starts before the previous run ends (0x{prev_end:x})"
    )]
    UnsortedPageRuns {
        pid: i32,
        address: u64,
        prev_end: u64,
    },
    #[error("pid {pid}: page run at 0x{address:x} ({nr_pages} pages) lies outside every VMA")]
    PageRunOutsideVmas {
        pid: i32,
        address: u64,
        nr_pages: u64,
    },
    #[error("pid {pid}: page runs add up to {from_runs} bytes but pages_size is {recorded}")]
    PagesSizeMismatch {
        pid: i32,
        from_runs: u64,
        recorded: u64,
    },
    #[error("pid {pid}: pages_size is {pages_size} bytes but {name} holds {file_size}")]
    PagesFileSizeMismatch {
        pid: i32,
        name: String,
        pages_size: u64,
        file_size: u64,
    },
    #[error("pid {pid}: pages are compressed with {compression:?}, which this stasis cannot read")]
    UnsupportedCompression { pid: i32, compression: String },
}

/// The inventory on its own: version, page size, task list, image names.
pub(crate) fn check_inventory(inventory: &pb::Inventory) -> Result<(), Inconsistency> {
    if inventory.format_version != FORMAT_VERSION {
        return Err(Inconsistency::FormatVersion {
            found: inventory.format_version,
        });
    }
    if !inventory.page_size.is_power_of_two() {
        return Err(Inconsistency::BadPageSize {
            page_size: inventory.page_size,
        });
    }
    let first = inventory.tasks.first().ok_or(Inconsistency::NoTasks)?;
    if first.pid != inventory.root_pid {
        return Err(Inconsistency::RootNotFirst {
            root_pid: inventory.root_pid,
            first: first.pid,
        });
    }
    let mut pids = HashSet::new();
    for task in &inventory.tasks {
        if task.pid <= 0 {
            return Err(Inconsistency::BadPid { pid: task.pid });
        }
        if !pids.insert(task.pid) {
            return Err(Inconsistency::DuplicateTask { pid: task.pid });
        }
    }
    let mut names = HashSet::new();
    for image in &inventory.images {
        let name = image.name.as_str();
        if !is_plain_file_name(name) || name == inventory_name() || name == INVENTORY_TEMP_NAME {
            return Err(Inconsistency::BadImageName { name: name.into() });
        }
        if !names.insert(name) {
            return Err(Inconsistency::DuplicateImageName { name: name.into() });
        }
    }
    Ok(())
}

/// files.img: ids unique, every file of a known kind. Returns the set of ids.
pub(crate) fn check_files(files: &pb::FilesImage) -> Result<HashSet<u32>, Inconsistency> {
    let mut ids = HashSet::new();
    for file in &files.files {
        if !ids.insert(file.id) {
            return Err(Inconsistency::DuplicateFileId { id: file.id });
        }
        if file.kind.is_none() {
            return Err(Inconsistency::FileWithoutKind { id: file.id });
        }
    }
    let mut pipes = HashSet::new();
    for pipe in &files.pipes {
        if !pipes.insert(pipe.pipe_id) {
            return Err(Inconsistency::DuplicatePipe {
                pipe_id: pipe.pipe_id,
            });
        }
        if pipe.data.len() as u64 > pipe.size as u64 {
            return Err(Inconsistency::PipeOverfull {
                pipe_id: pipe.pipe_id,
                len: pipe.data.len() as u64,
                size: pipe.size,
            });
        }
    }
    let deleted = inode_keys(
        "deleted file",
        files.deleted_files.iter().map(|d| (d.dev, d.inode)),
    )?;
    let memfds = inode_keys("memfd", files.memfds.iter().map(|m| (m.dev, m.inode)))?;
    let fifos = inode_keys("FIFO", files.fifos.iter().map(|f| (f.dev, f.inode)))?;
    for fifo in &files.fifos {
        if fifo.data.len() as u64 > fifo.size as u64 {
            return Err(Inconsistency::FifoOverfull {
                path: fifo.path.clone(),
                len: fifo.data.len() as u64,
                size: fifo.size,
            });
        }
    }
    let contents = files
        .deleted_files
        .iter()
        .map(|d| ("deleted file", d.dev, d.inode, &d.content_image))
        .chain(
            files
                .memfds
                .iter()
                .map(|m| ("memfd", m.dev, m.inode, &m.content_image)),
        );
    for (kind, dev, inode, name) in contents {
        // A content image is named for what it is, so it can never be
        // mistaken for (or stand in for) a metadata or pages image.
        if !is_content_image_name(name) {
            return Err(Inconsistency::BadContentImageName {
                kind,
                dev,
                inode,
                name: name.clone(),
            });
        }
    }
    check_unix_sockets(files)?;
    for file in &files.files {
        let (kind, known, inode_ref) = match &file.kind {
            Some(pb::open_file::Kind::Pipe(end)) => {
                if !pipes.contains(&end.pipe_id) {
                    return Err(Inconsistency::UnknownPipe {
                        id: file.id,
                        pipe_id: end.pipe_id,
                    });
                }
                continue;
            }
            Some(pb::open_file::Kind::Deleted(r)) => ("deleted file", &deleted, r),
            Some(pb::open_file::Kind::Memfd(r)) => ("memfd", &memfds, r),
            Some(pb::open_file::Kind::Fifo(r)) => ("FIFO", &fifos, r),
            Some(pb::open_file::Kind::Epoll(epoll)) => {
                if let Some(item) = epoll.items.iter().find(|i| !ids.contains(&i.file_id)) {
                    return Err(Inconsistency::UnknownEpollTarget {
                        id: file.id,
                        fd: item.fd,
                        target: item.file_id,
                    });
                }
                continue;
            }
            _ => continue,
        };
        if !known.contains(&(inode_ref.dev, inode_ref.inode)) {
            return Err(Inconsistency::UnknownInode {
                id: file.id,
                kind,
                dev: inode_ref.dev,
                inode: inode_ref.inode,
            });
        }
    }
    Ok(ids)
}

/// Unix sockets: known types, one record per socket, every peer described and
/// connected back, bound paths absolute.
fn check_unix_sockets(files: &pb::FilesImage) -> Result<(), Inconsistency> {
    let sockets: Vec<(u32, &pb::UnixSocket)> = files
        .files
        .iter()
        .filter_map(|f| match &f.kind {
            Some(pb::open_file::Kind::UnixSocket(s)) => Some((f.id, s)),
            _ => None,
        })
        .collect();
    let mut by_inode = std::collections::HashMap::new();
    for &(id, socket) in &sockets {
        if ![1, 2, 5].contains(&socket.r#type) {
            return Err(Inconsistency::BadSocketType {
                id,
                sock_type: socket.r#type,
            });
        }
        if by_inode.insert(socket.inode, socket).is_some() {
            return Err(Inconsistency::DuplicateSocket {
                inode: socket.inode,
            });
        }
        if socket.name.first().is_some_and(|b| *b != 0 && *b != b'/') {
            return Err(Inconsistency::RelativeSocketPath {
                id,
                inode: socket.inode,
            });
        }
    }
    for &(id, socket) in &sockets {
        if socket.pending_on != 0 {
            let waits = by_inode.get(&socket.pending_on).is_some_and(|l| {
                l.listening && !l.name.is_empty() && l.pending.contains(&socket.inode)
            });
            if !waits || socket.peer_inode != 0 {
                return Err(Inconsistency::NotPending {
                    id,
                    inode: socket.inode,
                    listener: socket.pending_on,
                });
            }
        }
        if socket.peer_inode == 0 {
            continue;
        }
        let Some(peer) = by_inode.get(&socket.peer_inode) else {
            return Err(Inconsistency::UnknownSocketPeer {
                id,
                inode: socket.inode,
                peer_inode: socket.peer_inode,
            });
        };
        // A pair, or a datagram socket connected one way to a named one.
        let pair = peer.peer_inode == socket.inode;
        let by_name = socket.r#type == 2 && !peer.name.is_empty();
        if (!pair && !by_name) || peer.r#type != socket.r#type {
            return Err(Inconsistency::SocketPeerMismatch {
                id,
                inode: socket.inode,
                peer_inode: socket.peer_inode,
            });
        }
    }
    Ok(())
}

/// The (dev, inode) keys of one list of inodes; each may appear once.
fn inode_keys(
    kind: &'static str,
    keys: impl Iterator<Item = (u64, u64)>,
) -> Result<HashSet<(u64, u64)>, Inconsistency> {
    let mut seen = HashSet::new();
    for (dev, inode) in keys {
        if !seen.insert((dev, inode)) {
            return Err(Inconsistency::DuplicateInode { kind, dev, inode });
        }
    }
    Ok(seen)
}

/// Content images of deleted files and memfds: the extents are sorted, apart
/// and inside the file, and the image is listed in the inventory holding
/// exactly their bytes. `listed_size` gives a listed image's size.
pub(crate) fn check_content_images(
    files: &pb::FilesImage,
    listed_size: impl Fn(&str) -> Option<u64>,
) -> Result<(), Inconsistency> {
    let contents = files
        .deleted_files
        .iter()
        .map(|d| {
            (
                "deleted file",
                &d.path,
                &d.content_image,
                d.size,
                &d.extents,
            )
        })
        .chain(
            files
                .memfds
                .iter()
                .map(|m| ("memfd", &m.name, &m.content_image, m.size, &m.extents)),
        )
        .chain(files.sysv_shms.iter().map(|s| {
            (
                "SysV shared memory",
                &s.name,
                &s.content_image,
                s.size,
                &s.extents,
            )
        }));
    for (kind, path, name, size, extents) in contents {
        let mut data = 0u64;
        let mut prev_end = 0u64;
        for extent in extents {
            let end = extent.offset.checked_add(extent.length);
            if extent.length == 0 || extent.offset < prev_end || end.is_none_or(|e| e > size) {
                return Err(Inconsistency::BadExtent {
                    kind,
                    path: path.clone(),
                    offset: extent.offset,
                    length: extent.length,
                    size,
                });
            }
            prev_end = end.unwrap_or(u64::MAX);
            data += extent.length;
        }
        match listed_size(name) {
            None => {
                return Err(Inconsistency::MissingContentImage {
                    kind,
                    path: path.clone(),
                    name: name.clone(),
                })
            }
            Some(file_size) if file_size != data => {
                return Err(Inconsistency::ContentSizeMismatch {
                    kind,
                    path: path.clone(),
                    name: name.clone(),
                    data,
                    file_size,
                })
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// task-<pid>.img against its inventory entry.
pub(crate) fn check_task(entry: &pb::TaskEntry, task: &pb::TaskImage) -> Result<(), Inconsistency> {
    let pid = entry.pid;
    if task.pid != pid {
        return Err(Inconsistency::PidMismatch {
            expected: pid,
            found: task.pid,
        });
    }
    if task.ppid != entry.ppid {
        return Err(Inconsistency::PpidMismatch {
            pid,
            expected: entry.ppid,
            found: task.ppid,
        });
    }
    if task.threads.is_empty() && task.zombie.is_none() {
        return Err(Inconsistency::NoThreads { pid });
    }
    let mut tids = HashSet::new();
    for thread in &task.threads {
        let tid = thread.tid;
        if !tids.insert(tid) {
            return Err(Inconsistency::DuplicateThread { pid, tid });
        }
        if thread.regs.is_none() {
            return Err(Inconsistency::MissingRegisters { pid, tid });
        }
        check_siginfos(pid, Some(tid), &thread.pending)?;
    }
    check_siginfos(pid, None, &task.shared_pending)?;
    let count = task.sigactions.len();
    if count != 0 && count != SIGNAL_COUNT {
        return Err(Inconsistency::BadSigactionCount { pid, count });
    }
    Ok(())
}

fn check_siginfos(pid: i32, tid: Option<i32>, queue: &[pb::SigInfo]) -> Result<(), Inconsistency> {
    match queue.iter().find(|info| info.raw.len() != SIGINFO_SIZE) {
        Some(info) => Err(Inconsistency::BadSiginfo {
            pid,
            tid,
            signo: info.signo,
            len: info.raw.len(),
        }),
        None => Ok(()),
    }
}

/// fds-<pid>.img: pid, unique non-negative fds, every file id present in files.img,
/// POSIX locks taken through a file the task holds.
pub(crate) fn check_fd_table(
    pid: i32,
    table: &pb::FdTableImage,
    file_ids: &HashSet<u32>,
) -> Result<(), Inconsistency> {
    if table.pid != pid {
        return Err(Inconsistency::PidMismatch {
            expected: pid,
            found: table.pid,
        });
    }
    let mut fds = HashSet::new();
    for entry in &table.fds {
        let fd = entry.fd;
        if fd < 0 {
            return Err(Inconsistency::NegativeFd { pid, fd });
        }
        if !fds.insert(fd) {
            return Err(Inconsistency::DuplicateFd { pid, fd });
        }
        if !file_ids.contains(&entry.file_id) {
            return Err(Inconsistency::UnknownFileId {
                pid,
                fd,
                file_id: entry.file_id,
            });
        }
    }
    // The task takes its POSIX locks through one of its own fds.
    for lock in &table.posix_locks {
        if !table.fds.iter().any(|e| e.file_id == lock.file_id) {
            return Err(Inconsistency::LockWithoutFd {
                pid,
                file_id: lock.file_id,
            });
        }
    }
    Ok(())
}

/// mm-<pid>.img: VMAs sorted, disjoint and page-aligned; page runs sorted, disjoint, inside
/// VMAs, and adding up to both pages_size and the size of the pages file.
pub(crate) fn check_mm(
    pid: i32,
    mm: &pb::MmImage,
    page_size: u32,
    pages_name: &str,
    pages_file_size: u64,
) -> Result<(), Inconsistency> {
    if mm.pid != pid {
        return Err(Inconsistency::PidMismatch {
            expected: pid,
            found: mm.pid,
        });
    }
    if !mm.pages_compression.is_empty() {
        return Err(Inconsistency::UnsupportedCompression {
            pid,
            compression: mm.pages_compression.clone(),
        });
    }
    let page_size = u64::from(page_size);
    check_vmas(pid, &mm.vmas, page_size)?;
    let mut total_pages = 0u64;
    let mut prev_end = 0u64;
    for run in &mm.pages {
        let address = run.address;
        let nr_pages = run.nr_pages;
        if nr_pages == 0 {
            return Err(Inconsistency::EmptyPageRun { pid, address });
        }
        if address % page_size != 0 {
            return Err(Inconsistency::UnalignedPageRun {
                pid,
                address,
                page_size,
            });
        }
        let overflow = Inconsistency::PageRunOverflow {
            pid,
            address,
            nr_pages,
        };
        let end = nr_pages
            .checked_mul(page_size)
            .and_then(|len| address.checked_add(len))
            .ok_or_else(|| overflow.clone())?;
        if address < prev_end {
            return Err(Inconsistency::UnsortedPageRuns {
                pid,
                address,
                prev_end,
            });
        }
        if !covered_by_vmas(&mm.vmas, address, end) {
            return Err(Inconsistency::PageRunOutsideVmas {
                pid,
                address,
                nr_pages,
            });
        }
        prev_end = end;
        total_pages = total_pages.checked_add(nr_pages).ok_or(overflow)?;
    }
    // Runs are disjoint inside a 64-bit address space, so this cannot overflow; stay safe anyway.
    let from_runs = total_pages.saturating_mul(page_size);
    if from_runs != mm.pages_size {
        return Err(Inconsistency::PagesSizeMismatch {
            pid,
            from_runs,
            recorded: mm.pages_size,
        });
    }
    // Pages to empty after a fork lie in VMAs inherited from the parent.
    for run in &mm.discard {
        let end = run
            .nr_pages
            .checked_mul(page_size)
            .and_then(|len| run.address.checked_add(len));
        let inside = end.is_some_and(|end| {
            mm.vmas
                .iter()
                .any(|v| v.inherited && v.start <= run.address && end <= v.end)
        });
        if !inside {
            return Err(Inconsistency::DiscardOutsideInheritedVma {
                pid,
                address: run.address,
                nr_pages: run.nr_pages,
            });
        }
    }
    if pages_file_size != mm.pages_size {
        return Err(Inconsistency::PagesFileSizeMismatch {
            pid,
            name: pages_name.into(),
            pages_size: mm.pages_size,
            file_size: pages_file_size,
        });
    }
    Ok(())
}

fn check_vmas(pid: i32, vmas: &[pb::Vma], page_size: u64) -> Result<(), Inconsistency> {
    let mut prev: Option<&pb::Vma> = None;
    for vma in vmas {
        let (start, end) = (vma.start, vma.end);
        if start >= end {
            return Err(Inconsistency::EmptyVma { pid, start, end });
        }
        if start % page_size != 0 || end % page_size != 0 {
            return Err(Inconsistency::UnalignedVma {
                pid,
                start,
                end,
                page_size,
            });
        }
        if let Some(prev) = prev {
            if start < prev.end {
                return Err(Inconsistency::OverlappingVmas {
                    pid,
                    start,
                    end,
                    prev_start: prev.start,
                    prev_end: prev.end,
                });
            }
        }
        prev = Some(vma);
    }
    Ok(())
}

/// True if [start, end) lies inside one VMA or a run of VMAs that touch each other.
/// `vmas` are already checked sorted and disjoint.
fn covered_by_vmas(vmas: &[pb::Vma], start: u64, end: u64) -> bool {
    let first = vmas.partition_point(|vma| vma.end <= start);
    let mut covered_to = match vmas.get(first) {
        Some(vma) if vma.start <= start => vma.end,
        _ => return false,
    };
    for vma in vmas.iter().skip(first + 1) {
        if covered_to >= end {
            break;
        }
        if vma.start != covered_to {
            return false;
        }
        covered_to = vma.end;
    }
    covered_to >= end
}

#[cfg(test)]
mod pipe_tests {
    use super::*;

    fn pipe_end(id: u32, pipe_id: u64) -> pb::OpenFile {
        pb::OpenFile {
            id,
            flags: 0,
            position: 0,
            kind: Some(pb::open_file::Kind::Pipe(pb::PipeEnd {
                pipe_id,
                write_end: false,
            })),
            ..Default::default()
        }
    }

    #[test]
    fn pipe_ends_need_their_pipe() {
        let files = pb::FilesImage {
            files: vec![pipe_end(1, 5)],
            pipes: vec![],
            ..Default::default()
        };
        assert!(matches!(
            check_files(&files),
            Err(Inconsistency::UnknownPipe { id: 1, pipe_id: 5 })
        ));
    }

    fn inode_ref(id: u32, kind: fn(pb::InodeRef) -> pb::open_file::Kind) -> pb::OpenFile {
        pb::OpenFile {
            id,
            flags: 0,
            position: 0,
            kind: Some(kind(pb::InodeRef { dev: 8, inode: 9 })),
            ..Default::default()
        }
    }

    #[test]
    fn inode_refs_need_their_inode() {
        for kind in [
            pb::open_file::Kind::Deleted as fn(pb::InodeRef) -> pb::open_file::Kind,
            pb::open_file::Kind::Memfd,
            pb::open_file::Kind::Fifo,
        ] {
            let files = pb::FilesImage {
                files: vec![inode_ref(1, kind)],
                ..Default::default()
            };
            assert!(matches!(
                check_files(&files),
                Err(Inconsistency::UnknownInode {
                    id: 1,
                    dev: 8,
                    inode: 9,
                    ..
                })
            ));
        }
        let files = pb::FilesImage {
            files: vec![inode_ref(1, pb::open_file::Kind::Memfd)],
            memfds: vec![pb::Memfd {
                dev: 8,
                inode: 9,
                content_image: "memfd-8-9.img".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        assert!(check_files(&files).is_ok());
    }

    #[test]
    fn inodes_are_described_once_with_plain_content_names() {
        let memfd = pb::Memfd {
            dev: 8,
            inode: 9,
            content_image: "memfd-8-9.img".into(),
            ..Default::default()
        };
        let twice = pb::FilesImage {
            memfds: vec![memfd.clone(), memfd.clone()],
            ..Default::default()
        };
        assert!(matches!(
            check_files(&twice),
            Err(Inconsistency::DuplicateInode { .. })
        ));
        let escaping = pb::FilesImage {
            deleted_files: vec![pb::DeletedFile {
                content_image: "../etc/passwd".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        assert!(matches!(
            check_files(&escaping),
            Err(Inconsistency::BadContentImageName { .. })
        ));
    }

    #[test]
    fn content_images_must_be_listed_with_their_size() {
        let extent = |offset, length| pb::Extent { offset, length };
        let memfd = |extents| pb::FilesImage {
            memfds: vec![pb::Memfd {
                name: "buf".into(),
                size: 100,
                content_image: "memfd-8-9.img".into(),
                extents,
                ..Default::default()
            }],
            ..Default::default()
        };
        let files = memfd(vec![extent(0, 4), extent(90, 6)]);
        assert!(matches!(
            check_content_images(&files, |_| None),
            Err(Inconsistency::MissingContentImage { .. })
        ));
        assert!(matches!(
            check_content_images(&files, |_| Some(9)),
            Err(Inconsistency::ContentSizeMismatch {
                data: 10,
                file_size: 9,
                ..
            })
        ));
        assert!(check_content_images(&files, |_| Some(10)).is_ok());
        // A file of holes only has an empty image.
        assert!(check_content_images(&memfd(vec![]), |_| Some(0)).is_ok());
        for bad in [
            vec![extent(0, 0)],
            vec![extent(90, 6), extent(0, 4)],
            vec![extent(0, 4), extent(2, 4)],
            vec![extent(98, 4)],
            vec![extent(u64::MAX, 2)],
        ] {
            assert!(
                matches!(
                    check_content_images(&memfd(bad.clone()), |_| Some(8)),
                    Err(Inconsistency::BadExtent { .. })
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn epoll_items_need_their_target() {
        let epoll = |target: u32| pb::OpenFile {
            id: 1,
            kind: Some(pb::open_file::Kind::Epoll(pb::EventPoll {
                items: vec![pb::EpollItem {
                    fd: 7,
                    file_id: target,
                    events: 1,
                    data: 0,
                }],
            })),
            ..Default::default()
        };
        let files = pb::FilesImage {
            files: vec![epoll(3)],
            ..Default::default()
        };
        assert_eq!(
            check_files(&files),
            Err(Inconsistency::UnknownEpollTarget {
                id: 1,
                fd: 7,
                target: 3
            })
        );
        let files = pb::FilesImage {
            files: vec![epoll(2), pipe_end(2, 5)],
            pipes: vec![pb::Pipe {
                pipe_id: 5,
                size: 4096,
                data: vec![],
            }],
            ..Default::default()
        };
        assert!(check_files(&files).is_ok());
    }

    #[test]
    fn pipe_data_must_fit() {
        let files = pb::FilesImage {
            files: vec![pipe_end(1, 5)],
            pipes: vec![pb::Pipe {
                pipe_id: 5,
                size: 4,
                data: b"too long".to_vec(),
            }],
            ..Default::default()
        };
        assert!(matches!(
            check_files(&files),
            Err(Inconsistency::PipeOverfull { pipe_id: 5, .. })
        ));
    }

    fn unix_socket(
        id: u32,
        inode: u64,
        peer_inode: u64,
        sock_type: i32,
        name: &[u8],
    ) -> pb::OpenFile {
        pb::OpenFile {
            id,
            kind: Some(pb::open_file::Kind::UnixSocket(pb::UnixSocket {
                inode,
                peer_inode,
                r#type: sock_type,
                name: name.to_vec(),
                ..Default::default()
            })),
            ..Default::default()
        }
    }

    fn sockets(files: Vec<pb::OpenFile>) -> Result<HashSet<u32>, Inconsistency> {
        check_files(&pb::FilesImage {
            files,
            ..Default::default()
        })
    }

    #[test]
    fn unix_socket_peers_must_exist_and_match() {
        // A stream pair, and a datagram socket connected one way to a named one.
        assert!(sockets(vec![
            unix_socket(1, 10, 11, 1, b""),
            unix_socket(2, 11, 10, 1, b""),
            unix_socket(3, 12, 13, 2, b""),
            unix_socket(4, 13, 0, 2, b"\0logger"),
        ])
        .is_ok());
        assert!(matches!(
            sockets(vec![unix_socket(1, 10, 99, 1, b"")]),
            Err(Inconsistency::UnknownSocketPeer {
                id: 1,
                peer_inode: 99,
                ..
            })
        ));
        // A stream socket cannot be connected one way.
        assert!(matches!(
            sockets(vec![
                unix_socket(1, 10, 11, 1, b""),
                unix_socket(2, 11, 0, 1, b"/x")
            ]),
            Err(Inconsistency::SocketPeerMismatch { id: 1, .. })
        ));
        assert!(matches!(
            sockets(vec![
                unix_socket(1, 10, 11, 2, b""),
                unix_socket(2, 11, 10, 1, b"")
            ]),
            Err(Inconsistency::SocketPeerMismatch { .. })
        ));
        assert!(matches!(
            sockets(vec![unix_socket(1, 10, 0, 3, b"")]),
            Err(Inconsistency::BadSocketType {
                id: 1,
                sock_type: 3
            })
        ));
        assert!(matches!(
            sockets(vec![
                unix_socket(1, 10, 0, 1, b""),
                unix_socket(2, 10, 0, 1, b"")
            ]),
            Err(Inconsistency::DuplicateSocket { inode: 10 })
        ));
        assert!(matches!(
            sockets(vec![unix_socket(1, 10, 0, 1, b"relative.sock")]),
            Err(Inconsistency::RelativeSocketPath { id: 1, inode: 10 })
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: u64 = 4096;

    fn vma(start: u64, end: u64) -> pb::Vma {
        pb::Vma {
            start,
            end,
            ..Default::default()
        }
    }

    fn run(address: u64, nr_pages: u64) -> pb::PageRun {
        pb::PageRun { address, nr_pages }
    }

    fn mm(vmas: Vec<pb::Vma>, pages: Vec<pb::PageRun>) -> pb::MmImage {
        let pages_size = pages.iter().map(|r| r.nr_pages * PAGE).sum();
        pb::MmImage {
            pid: 10,
            vmas,
            pages,
            pages_size,
            ..Default::default()
        }
    }

    fn check(mm: &pb::MmImage) -> Result<(), Inconsistency> {
        check_mm(10, mm, PAGE as u32, "pages-10.img", mm.pages_size)
    }

    #[test]
    fn runs_inside_one_or_adjacent_vmas() {
        let vmas = vec![
            vma(0x10000, 0x12000),
            vma(0x12000, 0x14000),
            vma(0x20000, 0x21000),
        ];
        assert_eq!(check(&mm(vmas.clone(), vec![run(0x10000, 2)])), Ok(()));
        // Spans two touching VMAs.
        assert_eq!(
            check(&mm(vmas.clone(), vec![run(0x11000, 3), run(0x20000, 1)])),
            Ok(())
        );
        // Spans the gap between 0x14000 and 0x20000.
        assert!(matches!(
            check(&mm(vmas.clone(), vec![run(0x13000, 2)])),
            Err(Inconsistency::PageRunOutsideVmas {
                address: 0x13000,
                ..
            })
        ));
        // Below every VMA, and past every VMA.
        assert!(matches!(
            check(&mm(vmas.clone(), vec![run(0x1000, 1)])),
            Err(Inconsistency::PageRunOutsideVmas { .. })
        ));
        assert!(matches!(
            check(&mm(vmas, vec![run(0x30000, 1)])),
            Err(Inconsistency::PageRunOutsideVmas { .. })
        ));
    }

    #[test]
    fn runs_must_be_sorted_disjoint_aligned_nonempty() {
        let vmas = vec![vma(0x10000, 0x20000)];
        assert!(matches!(
            check(&mm(vmas.clone(), vec![run(0x12000, 2), run(0x13000, 1)])),
            Err(Inconsistency::UnsortedPageRuns { .. })
        ));
        assert!(matches!(
            check(&mm(vmas.clone(), vec![run(0x10010, 1)])),
            Err(Inconsistency::UnalignedPageRun { .. })
        ));
        assert!(matches!(
            check(&mm(vmas.clone(), vec![run(0x10000, 0)])),
            Err(Inconsistency::EmptyPageRun { .. })
        ));
        let huge = pb::MmImage {
            pid: 10,
            vmas,
            pages: vec![run(0x10000, u64::MAX)],
            ..Default::default()
        };
        assert!(matches!(
            check(&huge),
            Err(Inconsistency::PageRunOverflow { .. })
        ));
    }

    #[test]
    fn vmas_must_be_sorted_disjoint_aligned() {
        for vmas in [
            vec![vma(0x2000, 0x2000)],
            vec![vma(0x3000, 0x2000)],
            vec![vma(0x2001, 0x3000)],
            vec![vma(0x2000, 0x4000), vma(0x3000, 0x5000)],
            vec![vma(0x5000, 0x6000), vma(0x2000, 0x3000)],
        ] {
            assert!(check(&mm(vmas.clone(), vec![])).is_err(), "{vmas:?}");
        }
    }

    #[test]
    fn sizes_must_agree() {
        let mut image = mm(vec![vma(0x10000, 0x20000)], vec![run(0x10000, 2)]);
        assert!(matches!(
            check_mm(10, &image, PAGE as u32, "pages-10.img", PAGE),
            Err(Inconsistency::PagesFileSizeMismatch { .. })
        ));
        image.pages_size = PAGE;
        assert!(matches!(
            check(&image),
            Err(Inconsistency::PagesSizeMismatch { .. })
        ));
    }

    #[test]
    fn error_text_names_address_in_hex() {
        let err = check(&mm(vec![vma(0x10000, 0x11000)], vec![run(0x7f00_0000, 1)]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("pid 10") && err.contains("0x7f000000"),
            "{err}"
        );
    }
}
