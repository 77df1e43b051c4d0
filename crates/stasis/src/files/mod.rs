//! Open files: what each fd of a task is, whether stasis can checkpoint it, and
//! one module per kind with its dump and restore code. The folder listing is
//! the list of supported kinds.

pub mod chardev;
pub mod content;
pub mod deleted;
pub mod directory;
pub mod epoll;
pub mod eventfd;
pub mod fifo;
pub mod inet_socket;
pub mod inotify;
pub mod locks;
pub mod memfd;
pub mod owner;
pub mod pidfd;
pub mod pipe;
pub mod procfs;
pub mod regular;
pub mod signalfd;
pub mod sysv_shm;
pub mod timerfd;
pub mod unix_socket;

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use stasis_image::pb;

use crate::proc::fdinfo::{parse_fdinfo, FdInfo};

/// What one fd of a task is, read from /proc before (and after) freezing.
#[derive(Debug, Clone)]
pub struct FdProbe {
    pub fd: i32,
    /// Target of /proc/<pid>/fd/<fd>, e.g. "/var/log/x.log", "pipe:[123]".
    pub link: String,
    /// stat of the open file (through the /proc link), if it could be taken.
    pub stat: Option<FileStat>,
    pub info: FdInfo,
    /// Family and type of a socket (getsockopt on a copy of the fd).
    pub socket: Option<unix_socket::SocketProbe>,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct FileStat {
    pub mode: u32,
    pub dev: u64,
    pub ino: u64,
    pub rdev: u64,
    pub size: u64,
    pub mtime_ns: i64,
}

/// The kinds of open file stasis can checkpoint (a closed set: a `match`, not a trait object).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Regular,
    Directory,
    CharDevice,
    Pipe,
    /// A file or directory under /proc, reopened in the restored tree.
    Proc,
    /// An inotify instance with its watches.
    Inotify,
    /// A pidfd of a process of the tree.
    PidFd,
    /// An IPv4/IPv6 socket that is not connected (its state comes from a copy).
    InetSocket,
    /// A named pipe, opened by its path.
    Fifo,
    /// A regular file unlinked while open (O_TMPFILE files included).
    DeletedFile,
    Memfd,
    EventFd,
    SignalFd,
    TimerFd,
    Epoll,
    UnixSocket,
}

/// Verdict on one fd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Support {
    Supported(FileKind),
    /// `what` names the object ("pipe:[123]", "socket", ...); `why` says why it
    /// cannot be checkpointed and what the user can do.
    Unsupported {
        what: String,
        why: String,
    },
}

/// Decides whether an fd can be checkpointed. Pure: takes only the probe.
pub fn classify(probe: &FdProbe) -> Support {
    let unsupported = |what: &str, why: &str| Support::Unsupported {
        what: what.to_string(),
        why: why.to_string(),
    };
    let link = probe.link.as_str();
    if let Some(refused) = locks::classify(probe) {
        return refused;
    }
    if link.starts_with("pipe:") {
        return pipe::classify(probe);
    }
    if link.starts_with("socket:") {
        if let Some(socket) = &probe.socket {
            if matches!(socket.family, libc::AF_INET | libc::AF_INET6) {
                return Support::Supported(FileKind::InetSocket);
            }
        }
        return unix_socket::classify(probe);
    }
    if link == pidfd::LINK {
        return pidfd::classify(probe);
    }
    if link == "anon_inode:inotify" {
        return inotify::classify(probe);
    }
    match link {
        eventfd::LINK => return Support::Supported(FileKind::EventFd),
        signalfd::LINK => return Support::Supported(FileKind::SignalFd),
        timerfd::LINK => return Support::Supported(FileKind::TimerFd),
        epoll::LINK => return Support::Supported(FileKind::Epoll),
        _ => {}
    }
    if let Some(name) = link.strip_prefix("anon_inode:") {
        return unsupported(
            &format!("{name} (anonymous inode)"),
            "this kind of anonymous-inode file is not supported yet",
        );
    }
    if link == "/proc" || link.starts_with("/proc/") {
        return procfs::classify(link);
    }
    let Some(stat) = probe.stat else {
        return unsupported(link, "the file could not be examined (stat failed)");
    };
    match stat.mode & libc::S_IFMT {
        libc::S_IFREG if memfd::is_memfd(link) => memfd::classify(link),
        libc::S_IFREG if deleted::is_deleted(link) => deleted::classify(link),
        libc::S_IFREG => regular::classify(link),
        libc::S_IFDIR => directory::classify(link),
        libc::S_IFCHR => chardev::classify(link, stat.rdev),
        libc::S_IFIFO => fifo::classify(link),
        libc::S_IFSOCK => unsupported(&format!("socket {link}"), "sockets are not supported yet"),
        libc::S_IFBLK => unsupported(
            &format!("block device {link}"),
            "block devices are not supported",
        ),
        _ => unsupported(link, "unknown kind of file"),
    }
}

/// Reads /proc/<pid>/fd and fdinfo for every fd of a task.
pub fn probe_fds(pid: i32) -> std::io::Result<Vec<FdProbe>> {
    let dir = format!("/proc/{pid}/fd");
    let mut fds: Vec<i32> = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse().ok()))
        .collect();
    fds.sort_unstable();
    let mut probes = Vec::with_capacity(fds.len());
    // Opened at the first socket: getsockopt needs a copy of the fd.
    let mut pidfd = None;
    for fd in fds {
        let fd_path = format!("{dir}/{fd}");
        let link = match std::fs::read_link(&fd_path) {
            Ok(target) => target.to_string_lossy().into_owned(),
            // The fd was closed between readdir and readlink.
            Err(_) => continue,
        };
        let Ok(info_text) = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")) else {
            continue;
        };
        let info = parse_fdinfo(&info_text)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?;
        let stat = crate::sys::syscalls::stat_path(Path::new(&fd_path))
            .ok()
            .map(|st| FileStat {
                mode: st.st_mode,
                dev: st.st_dev,
                ino: st.st_ino,
                rdev: st.st_rdev,
                size: st.st_size as u64,
                mtime_ns: st.st_mtime * 1_000_000_000 + st.st_mtime_nsec,
            });
        let socket = if link.starts_with("socket:") {
            if pidfd.is_none() {
                pidfd = crate::sys::syscalls::pidfd_open(pid).ok();
            }
            pidfd.as_ref().and_then(|p| probe_socket(p, fd))
        } else {
            None
        };
        probes.push(FdProbe {
            fd,
            link,
            stat,
            info,
            socket,
        });
    }
    Ok(probes)
}

/// Family and type of socket `fd` of the process `pidfd`, through a copy of it.
fn probe_socket(pidfd: &std::os::fd::OwnedFd, fd: i32) -> Option<unix_socket::SocketProbe> {
    use std::os::fd::AsFd;
    let copy = crate::sys::syscalls::pidfd_getfd(pidfd.as_fd(), fd).ok()?;
    Some(unix_socket::SocketProbe {
        family: crate::sys::socket::get_int_option(copy.as_fd(), libc::SO_DOMAIN).ok()?,
        sock_type: crate::sys::socket::get_int_option(copy.as_fd(), libc::SO_TYPE).ok()?,
    })
}

/// Flags of an open file description as stored in the image: everything but O_CLOEXEC.
pub fn description_flags(info: &FdInfo) -> u32 {
    info.flags & !(libc::O_CLOEXEC as u32)
}

/// The image record for a supported fd.
pub fn to_open_file(id: u32, probe: &FdProbe, kind: FileKind) -> pb::OpenFile {
    let stat = probe.stat.unwrap_or_default();
    let kind = match kind {
        FileKind::Regular => regular::dump(probe, &stat),
        FileKind::Directory => directory::dump(probe),
        FileKind::CharDevice => chardev::dump(probe, &stat),
        FileKind::Pipe => pipe::dump_end(probe),
        FileKind::Proc => procfs::dump(probe),
        FileKind::Inotify => inotify::dump(probe),
        FileKind::PidFd => pidfd::dump(probe),
        // Filled in by the dump from its copy of the socket (inet_socket::dump).
        FileKind::InetSocket => pb::open_file::Kind::Inet(pb::InetSocket::default()),
        FileKind::Fifo => pb::open_file::Kind::Fifo(inode_ref(&stat)),
        FileKind::DeletedFile => pb::open_file::Kind::Deleted(inode_ref(&stat)),
        FileKind::Memfd => pb::open_file::Kind::Memfd(inode_ref(&stat)),
        FileKind::EventFd => eventfd::dump(probe),
        FileKind::SignalFd => signalfd::dump(probe),
        FileKind::TimerFd => timerfd::dump(probe),
        FileKind::Epoll => epoll::dump(probe),
        // Filled in by the dump, which asks sock_diag and its copy of the socket.
        FileKind::UnixSocket => pb::open_file::Kind::UnixSocket(pb::UnixSocket {
            inode: unix_socket::socket_inode(&probe.link).unwrap_or(0),
            ..Default::default()
        }),
    };
    pb::OpenFile {
        id,
        flags: description_flags(&probe.info),
        position: probe.info.pos,
        kind: Some(kind),
        locks: locks::description_locks(probe),
        // Filled in by the dump, which asks its copy of the description.
        owner: None,
        signal: 0,
    }
}

/// Completes a record with what only stasis' copy of the description can
/// tell (a timer's state as of now).
pub fn dump_live(
    record: &mut pb::OpenFile,
    copy: std::os::fd::BorrowedFd<'_>,
) -> std::io::Result<()> {
    match &mut record.kind {
        Some(pb::open_file::Kind::Timerfd(timer)) => timerfd::dump_live(timer, copy),
        _ => Ok(()),
    }
}

/// What a description is, for people: its path, or "pipe:[123] write end".
pub fn description_path(file: &pb::OpenFile) -> String {
    match &file.kind {
        Some(pb::open_file::Kind::Regular(r)) => r.path.clone(),
        Some(pb::open_file::Kind::Directory(d)) => d.path.clone(),
        Some(pb::open_file::Kind::CharDevice(c)) => c.path.clone(),
        Some(pb::open_file::Kind::Pipe(end)) => format!(
            "pipe:[{}] {} end",
            end.pipe_id,
            if end.write_end { "write" } else { "read" }
        ),
        Some(pb::open_file::Kind::Proc(p)) => procfs::full_path(p),
        Some(pb::open_file::Kind::Fifo(key)) => format!("FIFO (inode {})", key.inode),
        Some(pb::open_file::Kind::Deleted(key)) => {
            format!("deleted file (inode {})", key.inode)
        }
        Some(pb::open_file::Kind::Memfd(key)) => format!("memfd (inode {})", key.inode),
        Some(pb::open_file::Kind::Pidfd(p)) => format!("pidfd of pid {}", p.pid),
        Some(pb::open_file::Kind::Inet(s)) => format!(
            "{} socket {}",
            if s.r#type == libc::SOCK_STREAM {
                "TCP"
            } else {
                "UDP"
            },
            inet_socket::address_text(&s.local)
        ),
        Some(pb::open_file::Kind::Inotify(i)) => format!("inotify ({} watches)", i.watches.len()),
        Some(pb::open_file::Kind::Eventfd(_)) => eventfd::LINK.to_string(),
        Some(pb::open_file::Kind::Signalfd(_)) => signalfd::LINK.to_string(),
        Some(pb::open_file::Kind::Timerfd(_)) => timerfd::LINK.to_string(),
        Some(pb::open_file::Kind::Epoll(e)) => epoll::describe(e),
        Some(pb::open_file::Kind::UnixSocket(s)) => unix_socket::label(s),
        None => format!("file {}", file.id),
    }
}

/// Like [`description_path`], with the paths and names of FIFOs, deleted files
/// and memfds, which the dump keeps per inode.
pub fn description_path_in(dump: &stasis_image::LoadedDump, file: &pb::OpenFile) -> String {
    let same = |dev: u64, inode: u64, key: &pb::InodeRef| (dev, inode) == (key.dev, key.inode);
    let found = match &file.kind {
        Some(pb::open_file::Kind::Fifo(key)) => dump
            .files
            .fifos
            .iter()
            .find(|f| same(f.dev, f.inode, key))
            .map(|f| format!("FIFO {}", f.path)),
        Some(pb::open_file::Kind::Deleted(key)) => dump
            .files
            .deleted_files
            .iter()
            .find(|d| same(d.dev, d.inode, key))
            .map(|d| format!("{} (deleted)", d.path)),
        Some(pb::open_file::Kind::Memfd(key)) => dump
            .files
            .memfds
            .iter()
            .find(|m| same(m.dev, m.inode, key))
            .map(|m| format!("memfd:{}", m.name)),
        _ => None,
    };
    found.unwrap_or_else(|| description_path(file))
}

/// "pid 12 fd 3 (/var/log/x.log)" for error messages about a description of the dump.
pub fn describe_description(dump: &stasis_image::LoadedDump, file: &pb::OpenFile) -> String {
    let path = description_path_in(dump, file);
    let holder = dump.tasks.iter().find_map(|t| {
        let entry = t.fds.fds.iter().find(|e| e.file_id == file.id)?;
        Some((t.task.pid, entry.fd))
    });
    match holder {
        Some((pid, fd)) => format!("pid {pid} fd {fd} ({path})"),
        None => path,
    }
}

/// The key under which files.img describes the inode of a FIFO, deleted file or memfd.
fn inode_ref(stat: &FileStat) -> pb::InodeRef {
    pb::InodeRef {
        dev: stat.dev,
        inode: stat.ino,
    }
}

/// Opens a new open file description of the inode behind `holder` (one of our
/// fds) through /proc/self/fd: the only way to reopen a file that has no name
/// (deleted, O_TMPFILE, memfd). `flags` are open(2) flags; creation flags and
/// the O_TMPFILE bits that fdinfo shows are dropped.
pub fn reopen_inode(holder: BorrowedFd<'_>, flags: i32) -> io::Result<File> {
    // /proc/self/fd/N is a symlink: O_NOFOLLOW (mkstemp uses it) would refuse it.
    let flags =
        reopen_flags(flags as u32) & !libc::O_TMPFILE & !libc::O_DIRECTORY & !libc::O_NOFOLLOW;
    open_with_flags(&format!("/proc/self/fd/{}", holder.as_raw_fd()), flags)
}

/// The record of inode `key` among `records` (deleted files, memfds), whose
/// (dev, inode) `id` gives.
pub fn inode_record<'a, T>(
    records: &'a [T],
    key: &pb::InodeRef,
    id: fn(&T) -> (u64, u64),
    kind: &str,
) -> io::Result<&'a T> {
    records
        .iter()
        .find(|r| id(r) == (key.dev, key.inode))
        .ok_or_else(|| {
            io::Error::other(format!(
                "{kind} (device {}, inode {}) is not in files.img",
                key.dev, key.inode
            ))
        })
}

/// Wraps an error with what it was about ("memfd \"buf\"") and doing what.
pub fn inode_context(about: String, what: &str) -> impl Fn(io::Error) -> io::Error {
    let what = what.to_string();
    move |e: io::Error| io::Error::new(e.kind(), format!("{about}: {what}: {e}"))
}

/// A new description of the inode `holder` is open on, with the flags and
/// offset of the saved `description`.
pub fn reopen_description(
    holder: BorrowedFd<'_>,
    description: &pb::OpenFile,
) -> io::Result<std::os::fd::OwnedFd> {
    let mut fd = reopen_inode(holder, description.flags as i32)?;
    if description.position != 0 {
        std::io::Seek::seek(&mut fd, std::io::SeekFrom::Start(description.position))?;
    }
    Ok(fd.into())
}

/// open(2) of `path` with these flags (access mode included), as a File.
pub fn open_with_flags(path: &str, flags: i32) -> io::Result<File> {
    let mut options = OpenOptions::new();
    match flags & libc::O_ACCMODE {
        libc::O_WRONLY => options.write(true),
        libc::O_RDWR => options.read(true).write(true),
        _ => options.read(true),
    };
    options.custom_flags(flags & !libc::O_ACCMODE);
    options.open(path)
}

/// An inode that several descriptions may share and that restore recreates
/// once, with all its descriptions: a FIFO, a deleted file or a memfd.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SharedInode<'a> {
    Fifo(&'a pb::InodeRef),
    Deleted(&'a pb::InodeRef),
    Memfd(&'a pb::InodeRef),
}

impl<'a> SharedInode<'a> {
    pub fn of(kind: Option<&'a pb::open_file::Kind>) -> Option<SharedInode<'a>> {
        match kind? {
            pb::open_file::Kind::Fifo(key) => Some(SharedInode::Fifo(key)),
            pb::open_file::Kind::Deleted(key) => Some(SharedInode::Deleted(key)),
            pb::open_file::Kind::Memfd(key) => Some(SharedInode::Memfd(key)),
            _ => None,
        }
    }

    /// Recreates the inode and opens every description of the dump that names
    /// it: (file id, our fd). A deleted file or memfd that is mapped too was
    /// recreated before the tasks (`recreated`): its descriptions open that one.
    pub fn restore(
        self,
        dump: &stasis_image::LoadedDump,
        recreated: Option<&File>,
    ) -> io::Result<Vec<(u32, std::os::fd::OwnedFd)>> {
        match (self, recreated) {
            (SharedInode::Fifo(key), _) => fifo::restore(dump, key),
            (SharedInode::Deleted(key), None) => deleted::restore(dump, key),
            (SharedInode::Deleted(key), Some(file)) => {
                deleted::open_descriptions(dump, key, file.try_clone()?)
            }
            (SharedInode::Memfd(key), None) => memfd::restore(dump, key),
            (SharedInode::Memfd(key), Some(file)) => memfd::open_descriptions(dump, key, file),
        }
    }

    /// (kind, dev, inode): the key of the inode among recreated ones.
    pub fn key(&self) -> (pb::VmaKind, u64, u64) {
        match self {
            SharedInode::Fifo(k) => (pb::VmaKind::Unspecified, k.dev, k.inode),
            SharedInode::Deleted(k) => (pb::VmaKind::DeletedFile, k.dev, k.inode),
            SharedInode::Memfd(k) => (pb::VmaKind::Memfd, k.dev, k.inode),
        }
    }
}

/// The descriptions of files.img that name inode `key` with kind `pick`.
pub fn descriptions_of<'a>(
    files: &'a pb::FilesImage,
    key: (u64, u64),
    pick: fn(&pb::open_file::Kind) -> Option<&pb::InodeRef>,
) -> impl Iterator<Item = &'a pb::OpenFile> + 'a {
    files.files.iter().filter(move |file| {
        file.kind
            .as_ref()
            .and_then(pick)
            .is_some_and(|r| (r.dev, r.inode) == key)
    })
}

/// Calls `f(pid, fd, /proc/<pid>/fd/<fd>)` for every fd of every process
/// not in `exclude`: to find who else holds a pipe, socket or FIFO.
pub fn each_fd_outside(exclude: &[i32], mut f: impl FnMut(i32, i32, &Path)) {
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return;
    };
    for entry in procs.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        if exclude.contains(&pid) {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let number = fd.file_name().to_str().and_then(|n| n.parse().ok());
            f(pid, number.unwrap_or(-1), &fd.path());
        }
    }
}

/// open(2) flags to recreate a description: its status flags without the ones
/// that would create or truncate anything.
pub fn reopen_flags(flags: u32) -> i32 {
    (flags as i32) & !(libc::O_CREAT | libc::O_EXCL | libc::O_TRUNC | libc::O_NOCTTY)
}

/// File state a restored task must set up itself, through its own fds, once its
/// fd table is complete (every temporary fd closed): its POSIX locks, and
/// O_ASYNC (whose signals carry the fd number that set it).
pub fn restore_in_task(
    inj: &mut crate::inject::Injector,
    dump: &stasis_image::LoadedDump,
    task: &stasis_image::LoadedTask,
) -> std::io::Result<()> {
    locks::take_posix_locks(inj, dump, task)?;
    owner::set_async(inj, dump, task)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(link: &str, mode: u32, rdev: u64) -> FdProbe {
        FdProbe {
            fd: 3,
            link: link.to_string(),
            stat: Some(FileStat {
                mode,
                rdev,
                ..Default::default()
            }),
            info: FdInfo::default(),
            socket: None,
        }
    }

    #[test]
    fn classifies_common_fds() {
        assert_eq!(
            classify(&probe("/tmp/x", libc::S_IFREG | 0o644, 0)),
            Support::Supported(FileKind::Regular)
        );
        assert_eq!(
            classify(&probe("/tmp", libc::S_IFDIR | 0o755, 0)),
            Support::Supported(FileKind::Directory)
        );
        assert_eq!(
            classify(&probe(
                "/dev/null",
                libc::S_IFCHR | 0o666,
                libc::makedev(1, 3)
            )),
            Support::Supported(FileKind::CharDevice)
        );
        assert!(matches!(
            classify(&probe(
                "/dev/pts/0",
                libc::S_IFCHR | 0o620,
                libc::makedev(136, 0)
            )),
            Support::Unsupported { .. }
        ));
        assert_eq!(
            classify(&probe("pipe:[42]", libc::S_IFIFO | 0o600, 0)),
            Support::Supported(FileKind::Pipe)
        );
        assert_eq!(
            classify(&probe("/tmp/gone (deleted)", libc::S_IFREG | 0o600, 0)),
            Support::Supported(FileKind::DeletedFile)
        );
        assert_eq!(
            classify(&probe("/tmp/#1234 (deleted)", libc::S_IFREG | 0o600, 0)),
            Support::Supported(FileKind::DeletedFile)
        );
        assert_eq!(
            classify(&probe("/memfd:buf (deleted)", libc::S_IFREG | 0o777, 0)),
            Support::Supported(FileKind::Memfd)
        );
        assert_eq!(
            classify(&probe("/tmp/fifo", libc::S_IFIFO | 0o600, 0)),
            Support::Supported(FileKind::Fifo)
        );
        assert!(matches!(
            classify(&probe("/tmp/fifo (deleted)", libc::S_IFIFO | 0o600, 0)),
            Support::Unsupported { .. }
        ));
        assert_eq!(
            classify(&probe("/proc/1/status", libc::S_IFREG | 0o444, 0)),
            Support::Supported(FileKind::Proc)
        );
    }

    #[test]
    fn event_files_are_supported_other_anonymous_inodes_are_not() {
        for (link, kind) in [
            ("anon_inode:[eventfd]", FileKind::EventFd),
            ("anon_inode:[signalfd]", FileKind::SignalFd),
            ("anon_inode:[timerfd]", FileKind::TimerFd),
            ("anon_inode:[eventpoll]", FileKind::Epoll),
            // No watches in the probe: nothing to look up.
            ("anon_inode:inotify", FileKind::Inotify),
        ] {
            assert_eq!(
                classify(&probe(link, 0o600, 0)),
                Support::Supported(kind),
                "{link}"
            );
        }
        for link in ["anon_inode:[fanotify]", "anon_inode:[userfaultfd]"] {
            let Support::Unsupported { what, why } = classify(&probe(link, 0o600, 0)) else {
                panic!("{link} is not refused");
            };
            assert!(what.contains(&link["anon_inode:".len()..]), "{what}");
            assert!(why.contains("not supported"), "{why}");
        }
    }
}
