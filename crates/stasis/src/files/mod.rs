//! Open files: what each fd of a task is, whether stasis can checkpoint it, and
//! one module per kind with its dump and restore code. The folder listing is
//! the list of supported kinds.

pub mod chardev;
pub mod directory;
pub mod locks;
pub mod owner;
pub mod pipe;
pub mod procfs;
pub mod regular;
pub mod unix_socket;

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
        return unix_socket::classify(probe);
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
        libc::S_IFREG => regular::classify(link),
        libc::S_IFDIR => directory::classify(link),
        libc::S_IFCHR => chardev::classify(link, stat.rdev),
        libc::S_IFIFO => unsupported(&format!("FIFO {link}"), "FIFOs are not supported yet"),
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
        Some(pb::open_file::Kind::UnixSocket(s)) => unix_socket::label(s),
        None => format!("file {}", file.id),
    }
}

/// "pid 12 fd 3 (/var/log/x.log)" for error messages about a description of the dump.
pub fn describe_description(dump: &stasis_image::LoadedDump, file: &pb::OpenFile) -> String {
    let path = description_path(file);
    let holder = dump.tasks.iter().find_map(|t| {
        let entry = t.fds.fds.iter().find(|e| e.file_id == file.id)?;
        Some((t.task.pid, entry.fd))
    });
    match holder {
        Some((pid, fd)) => format!("pid {pid} fd {fd} ({path})"),
        None => path,
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
        assert!(matches!(
            classify(&probe("/tmp/gone (deleted)", libc::S_IFREG | 0o600, 0)),
            Support::Unsupported { .. }
        ));
        assert_eq!(
            classify(&probe("/proc/1/status", libc::S_IFREG | 0o444, 0)),
            Support::Supported(FileKind::Proc)
        );
    }
}
