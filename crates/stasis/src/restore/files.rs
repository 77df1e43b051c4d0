//! The open file descriptions of a dump, created by stasis itself before any
//! task receives them, in the order of the plan (plan.rs): regular files,
//! directories, devices and /proc files are reopened by path with their flags,
//! then given their offset; pipes are created with their capacity and buffered
//! bytes; unix sockets are created as pairs with their queued messages, or
//! bound and listening (files/unix_socket.rs); event files (eventfd, signalfd, timerfd, epoll) are made new with
//! their saved state (files/<kind>.rs). Each task then takes copies with
//! pidfd_getfd (build.rs), so a description shared by several fds or
//! processes is one description again.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use stasis_image::{pb, LoadedDump};

use crate::files::{self, epoll, eventfd, procfs, reopen_flags, signalfd, timerfd};
use crate::sys::syscalls;

/// The descriptions stasis has created so far, by file id, and the pipes
/// whose other end is still waiting for its own step.
pub struct FileTable {
    fds: HashMap<u32, OwnedFd>,
    /// Ends of pipes created by their first end, by pipe id: (read, write).
    pipe_ends: HashMap<u64, (Option<OwnedFd>, Option<OwnedFd>)>,
    /// Descriptions of FIFOs, deleted files and memfds, opened when the first
    /// description of their inode was created, waiting for their own step.
    inode_descriptions: HashMap<u32, OwnedFd>,
    /// Deleted files and memfds that tasks map, recreated before the tasks
    /// (their memory needs them), by (kind, dev, inode) of the dump.
    mapped_inodes: HashMap<(pb::VmaKind, u64, u64), File>,
    /// SysV segments made for this restore (removed again if it fails), and
    /// the ones to remove (IPC_RMID) once every task has attached them.
    created_segments: Vec<i32>,
    removed_segments: Vec<i32>,
    segments_done: bool,
    /// Second ends of socketpairs created by their first end, by the saved
    /// inode of the socket they stand for.
    socket_ends: HashMap<u64, OwnedFd>,
}

impl FileTable {
    pub fn new() -> io::Result<FileTable> {
        syscalls::raise_own_nofile_limit()?;
        Ok(FileTable {
            fds: HashMap::new(),
            pipe_ends: HashMap::new(),
            inode_descriptions: HashMap::new(),
            mapped_inodes: HashMap::new(),
            created_segments: Vec::new(),
            removed_segments: Vec::new(),
            segments_done: false,
            socket_ends: HashMap::new(),
        })
    }

    /// Recreates every deleted file and memfd that a task maps, before any task
    /// exists: the plan's Task steps map them.
    pub fn recreate_mapped_inodes(&mut self, dump: &LoadedDump) -> io::Result<()> {
        for segment in &dump.files.sysv_shms {
            let attached = dump
                .tasks
                .iter()
                .flat_map(|t| &t.mm.vmas)
                .any(|v| v.kind() == pb::VmaKind::SysvShm && v.inode == segment.shmid as u64);
            if !attached {
                continue;
            }
            if files::sysv_shm::recreate(dump, segment)? {
                self.created_segments.push(segment.shmid);
            }
            if segment.removed {
                self.removed_segments.push(segment.shmid);
            }
        }
        for vma in dump.tasks.iter().flat_map(|t| &t.mm.vmas) {
            let kind = vma.kind();
            let key = (kind, vma.dev, vma.inode);
            if !matches!(kind, pb::VmaKind::DeletedFile | pb::VmaKind::Memfd)
                || self.mapped_inodes.contains_key(&key)
            {
                continue;
            }
            let inode = pb::InodeRef {
                dev: vma.dev,
                inode: vma.inode,
            };
            let file = if kind == pb::VmaKind::Memfd {
                files::memfd::recreate(dump, &inode)
            } else {
                files::deleted::recreate(dump, &inode)
            }
            .map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("recreating mapped file {}: {e}", vma.path),
                )
            })?;
            self.mapped_inodes.insert(key, file);
        }
        Ok(())
    }

    /// Every task has attached its SysV segments: remove those that had been
    /// removed (IPC_RMID) before the dump; they go with their last attachment.
    pub fn finish_sysv_segments(&mut self) -> io::Result<()> {
        self.segments_done = true;
        for &shmid in &self.removed_segments {
            crate::sys::ipc::shm_remove(shmid).map_err(|e| {
                io::Error::new(e.kind(), format!("removing SysV segment {shmid}: {e}"))
            })?;
        }
        Ok(())
    }

    /// Our fd of a recreated mapped file, for a task to open through
    /// /proc/<stasis>/fd/<n> and map.
    pub fn mapped_inode_fd(&self, kind: pb::VmaKind, dev: u64, inode: u64) -> Option<i32> {
        self.mapped_inodes
            .get(&(kind, dev, inode))
            .map(|f| f.as_raw_fd())
    }

    /// The plan's `Created(file)`: the description exists, held by stasis.
    /// Errors name the file id and path.
    pub fn create(&mut self, dump: &LoadedDump, file: &pb::OpenFile) -> io::Result<()> {
        if let Some(inode) = files::SharedInode::of(file.kind.as_ref()) {
            // The first description of a FIFO, deleted file or memfd recreates
            // the inode and opens all of them (the plan orders the others after).
            if !self.inode_descriptions.contains_key(&file.id) {
                let recreated = self.mapped_inodes.get(&inode.key());
                self.inode_descriptions
                    .extend(inode.restore(dump, recreated)?);
            }
            let fd = self.inode_descriptions.remove(&file.id).ok_or_else(|| {
                io::Error::other(format!("file {}: its inode did not open it", file.id))
            })?;
            self.fds.insert(file.id, fd);
            return Ok(());
        }
        let fd = match &file.kind {
            Some(pb::open_file::Kind::Pipe(end)) => self.take_pipe_end(dump, end)?,
            Some(pb::open_file::Kind::Inotify(inotify)) => files::inotify::restore(file, inotify)?,
            Some(pb::open_file::Kind::Pidfd(saved)) => files::pidfd::create(file, saved)?,
            Some(pb::open_file::Kind::Inet(socket)) => files::inet_socket::create(file, socket)?,
            Some(pb::open_file::Kind::Eventfd(saved)) => eventfd::create(saved)?,
            Some(pb::open_file::Kind::Signalfd(saved)) => signalfd::create(saved)?,
            Some(pb::open_file::Kind::Timerfd(saved)) => timerfd::create(saved)?,
            Some(pb::open_file::Kind::Epoll(_)) => {
                crate::sys::events::epoll_create(libc::EPOLL_CLOEXEC)?
            }
            Some(pb::open_file::Kind::UnixSocket(socket)) => self.take_socket(dump, socket)?,
            Some(kind) => open_path(file, kind)?,
            None => return Err(io::Error::other(format!("file {} has no kind", file.id))),
        };
        self.fds.insert(file.id, fd);
        Ok(())
    }

    /// The plan's `Configured(file)`: offset, status flags, and the flock and
    /// OFD locks that belong to the description; a timer is armed, an epoll
    /// gets its items (the plan created their targets before).
    pub fn configure(&mut self, dump: &LoadedDump, file: &pb::OpenFile) -> io::Result<()> {
        let fd = self
            .fds
            .get(&file.id)
            .ok_or_else(|| io::Error::other(format!("file {} was not created", file.id)))?;
        crate::files::locks::take_description_locks(dump, file, fd.as_fd())?;
        let nonblocking = || {
            syscalls::set_status_flags(fd.as_fd(), (file.flags & libc::O_NONBLOCK as u32) as i32)
        };
        match &file.kind {
            Some(
                pb::open_file::Kind::Pipe(_)
                | pb::open_file::Kind::Eventfd(_)
                | pb::open_file::Kind::Signalfd(_),
            ) => nonblocking(),
            Some(pb::open_file::Kind::Timerfd(saved)) => {
                timerfd::configure(saved, fd)?;
                nonblocking()
            }
            Some(pb::open_file::Kind::Epoll(saved)) => {
                epoll::configure(saved, fd.as_fd(), |id| self.fd(id))?;
                nonblocking()
            }
            Some(pb::open_file::Kind::UnixSocket(socket)) => {
                crate::files::unix_socket::configure(fd.as_fd(), socket, file.flags)
            }
            Some(
                pb::open_file::Kind::Regular(_)
                | pb::open_file::Kind::Directory(_)
                | pb::open_file::Kind::Proc(_),
            ) if file.flags & libc::O_PATH as u32 == 0 && file.position != 0 => {
                syscalls::seek_to(fd.as_fd(), file.position).map_err(|e| {
                    io::Error::new(e.kind(), format!("seek to {}: {e}", file.position))
                })
            }
            _ => Ok(()),
        }
    }

    /// Our copy of a description.
    pub fn fd(&self, file_id: u32) -> Option<BorrowedFd<'_>> {
        self.fds.get(&file_id).map(|fd| fd.as_fd())
    }

    /// Our fd for a description, for pidfd_getfd.
    pub fn raw_fd(&self, file_id: u32) -> Option<i32> {
        self.fds.get(&file_id).map(|fd| fd.as_raw_fd())
    }

    /// An end of a pipe: the first end asked for creates the pipe with its
    /// capacity and buffered bytes. An end that no process held is closed
    /// with the table.
    fn take_pipe_end(&mut self, dump: &LoadedDump, end: &pb::PipeEnd) -> io::Result<OwnedFd> {
        let pipe_id = end.pipe_id;
        let (read, write) = match self.pipe_ends.entry(pipe_id) {
            Entry::Occupied(ends) => ends.into_mut(),
            Entry::Vacant(slot) => {
                let (read, write) = create_pipe(dump, pipe_id)?;
                slot.insert((Some(read), Some(write)))
            }
        };
        let slot = if end.write_end { write } else { read };
        slot.take().ok_or_else(|| {
            io::Error::other(format!(
                "pipe {pipe_id}: several open descriptions of one end are not supported"
            ))
        })
    }
}

impl FileTable {
    /// A unix socket: the second end of a pair was made with the first; the
    /// first end of a pair creates both with one socketpair() and refills
    /// both queues; a socket whose peer was closed gets a pair whose other end
    /// is closed once its queue is refilled; others are bound and listen
    /// again, or connect by name to the datagram socket they were connected
    /// to, and receive their queued datagrams again through their name.
    fn take_socket(&mut self, dump: &LoadedDump, socket: &pb::UnixSocket) -> io::Result<OwnedFd> {
        use crate::files::unix_socket;
        if let Some(fd) = self.socket_ends.remove(&socket.inode) {
            return Ok(fd);
        }
        if socket.pending_on != 0 {
            return connect_again(dump, socket);
        }
        if socket.peer_inode == 0 && !socket.peer_closed {
            let fd = unix_socket::create_unconnected(socket)?;
            if !socket.outside_peer.is_empty() {
                let name = unix_socket::display_name(&socket.outside_peer);
                crate::sys::socket::connect_unix(fd.as_fd(), &socket.outside_peer).map_err(|e| {
                    io::Error::new(
                        e.kind(),
                        format!("connect to {name} (held outside the dump): {e}; start what listens there, then restore"),
                    )
                })?;
            }
            unix_socket::refill_by_name(socket)?;
            return Ok(fd);
        }
        if socket.peer_closed {
            let (ours, other) = crate::sys::socket::unix_socketpair(socket.r#type)?;
            unix_socket::refill(other.as_fd(), socket)?;
            return Ok(ours);
        }
        let peer = dump
            .files
            .files
            .iter()
            .find_map(|f| match &f.kind {
                Some(pb::open_file::Kind::UnixSocket(s)) if s.inode == socket.peer_inode => Some(s),
                _ => None,
            })
            .ok_or_else(|| {
                io::Error::other(format!(
                    "the peer socket:[{}] is not in files.img",
                    socket.peer_inode
                ))
            })?;
        if peer.peer_inode != socket.inode {
            // Connected one way to a bound datagram socket, created before (plan.rs).
            let fd = unix_socket::create_unconnected(socket)?;
            crate::sys::socket::connect_unix(fd.as_fd(), &peer.name).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("connect to {}: {e}", unix_socket::display_name(&peer.name)),
                )
            })?;
            unix_socket::refill_by_name(socket)?;
            return Ok(fd);
        }
        let (ours, other) = crate::sys::socket::unix_socketpair(socket.r#type)?;
        unix_socket::refill(other.as_fd(), socket)?;
        unix_socket::refill(ours.as_fd(), peer)?;
        self.socket_ends.insert(peer.inode, other);
        Ok(ours)
    }
}

/// A connection that was waiting to be accepted: connect to the listener's
/// name again (the listener and the connections before it exist, plan.rs).
fn connect_again(dump: &LoadedDump, socket: &pb::UnixSocket) -> io::Result<OwnedFd> {
    use crate::files::unix_socket;
    let listener = dump
        .files
        .files
        .iter()
        .find_map(|f| match &f.kind {
            Some(pb::open_file::Kind::UnixSocket(s)) if s.inode == socket.pending_on => Some(s),
            _ => None,
        })
        .ok_or_else(|| {
            io::Error::other(format!(
                "the listener socket:[{}] is not in files.img",
                socket.pending_on
            ))
        })?;
    let fd = unix_socket::create_unconnected(socket)?;
    // Never wait: the restored listener has room for every connection it had.
    syscalls::set_status_flags(fd.as_fd(), libc::O_NONBLOCK)?;
    crate::sys::socket::connect_unix(fd.as_fd(), &listener.name).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!(
                "connect again to the listener {}: {e}",
                unix_socket::display_name(&listener.name)
            ),
        )
    })?;
    Ok(fd)
}

fn create_pipe(dump: &LoadedDump, pipe_id: u64) -> io::Result<(OwnedFd, OwnedFd)> {
    let pipe = dump
        .files
        .pipes
        .iter()
        .find(|p| p.pipe_id == pipe_id)
        .ok_or_else(|| io::Error::other(format!("pipe {pipe_id} is not in files.img")))?;
    let (read, write) = syscalls::pipe()?;
    syscalls::set_pipe_capacity(write.as_fd(), pipe.size).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("pipe {pipe_id}: capacity {}: {e}", pipe.size),
        )
    })?;
    File::from(write.try_clone()?).write_all(&pipe.data)?;
    Ok((read, write))
}

fn open_path(file: &pb::OpenFile, kind: &pb::open_file::Kind) -> io::Result<OwnedFd> {
    let proc_path;
    let path = match kind {
        pb::open_file::Kind::Regular(r) => &r.path,
        pb::open_file::Kind::Directory(d) => &d.path,
        pb::open_file::Kind::CharDevice(c) => &c.path,
        pb::open_file::Kind::Proc(p) => {
            proc_path = procfs::full_path(p);
            &proc_path
        }
        pb::open_file::Kind::Pipe(_)
        | pb::open_file::Kind::Fifo(_)
        | pb::open_file::Kind::Deleted(_)
        | pb::open_file::Kind::Memfd(_)
        | pb::open_file::Kind::Inotify(_)
        | pb::open_file::Kind::Pidfd(_)
        | pb::open_file::Kind::Inet(_)
        | pb::open_file::Kind::UnixSocket(_)
        | pb::open_file::Kind::Eventfd(_)
        | pb::open_file::Kind::Signalfd(_)
        | pb::open_file::Kind::Timerfd(_)
        | pb::open_file::Kind::Epoll(_) => {
            return Err(io::Error::other(format!(
                "file {} is not reopened by path alone",
                file.id
            )))
        }
    };
    let opened = files::open_with_flags(path, reopen_flags(file.flags))
        .map_err(|e| io::Error::new(e.kind(), format!("open {path}: {e}")))?;
    Ok(OwnedFd::from(opened))
}

impl Drop for FileTable {
    /// A restore that failed takes back the SysV segments it made: they would
    /// outlive it, unlike every other object (nothing is left behind).
    fn drop(&mut self) {
        if !self.segments_done {
            for &shmid in &self.created_segments {
                let _ = crate::sys::ipc::shm_remove(shmid);
            }
        }
    }
}
