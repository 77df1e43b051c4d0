//! Thin safe wrappers around syscalls that libc does not wrap (or wraps awkwardly).

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use super::check;

/// pidfd_open(2): a stable handle on a process.
pub fn pidfd_open(pid: i32) -> io::Result<OwnedFd> {
    pidfd_open_with(pid, 0)
}

/// pidfd_open(2) with flags (PIDFD_THREAD, PIDFD_NONBLOCK).
pub fn pidfd_open_with(pid: i32, flags: u32) -> io::Result<OwnedFd> {
    // SAFETY: plain syscall with integer arguments.
    let fd = check(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, flags) })?;
    // SAFETY: the kernel just returned this fd to us; nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// pidfd_getfd(2): a duplicate, in our fd table, of another process's fd.
pub fn pidfd_getfd(pidfd: BorrowedFd<'_>, target_fd: i32) -> io::Result<OwnedFd> {
    // SAFETY: plain syscall with integer arguments.
    let fd =
        check(unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), target_fd, 0) })?;
    // SAFETY: the kernel just returned this fd to us; nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// kill(2).
pub fn kill(pid: i32, sig: i32) -> io::Result<()> {
    // SAFETY: plain syscall with integer arguments.
    check(unsafe { libc::kill(pid, sig) } as libc::c_long).map(|_| ())
}

/// Outcome of one waitpid(2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitStatus {
    Exited(i32),
    Signaled(i32),
    /// Stopped with this signal; `event` is the PTRACE_EVENT_* in bits 16..24.
    Stopped {
        sig: i32,
        event: i32,
    },
    /// Nothing happened yet (WNOHANG).
    StillAlive,
    Other(i32),
}

/// waitpid(2) with `__WALL` added, decoded.
pub fn waitpid(pid: i32, flags: i32) -> io::Result<WaitStatus> {
    waitpid_which(pid, flags).map(|(_, status)| status)
}

/// Like [`waitpid`], also telling which task the status is about (for pid -1).
pub fn waitpid_which(pid: i32, flags: i32) -> io::Result<(i32, WaitStatus)> {
    let mut status = 0;
    let who;
    loop {
        // SAFETY: `status` is a valid out-pointer for the duration of the call.
        let ret = unsafe { libc::waitpid(pid, &mut status, flags | libc::__WALL) };
        if ret < 0 {
            let err = io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return Err(err);
        }
        if ret == 0 {
            return Ok((0, WaitStatus::StillAlive));
        }
        who = ret;
        break;
    }
    Ok((
        who,
        if libc::WIFEXITED(status) {
            WaitStatus::Exited(libc::WEXITSTATUS(status))
        } else if libc::WIFSIGNALED(status) {
            WaitStatus::Signaled(libc::WTERMSIG(status))
        } else if libc::WIFSTOPPED(status) {
            WaitStatus::Stopped {
                sig: libc::WSTOPSIG(status),
                event: (status >> 16) & 0xff,
            }
        } else {
            WaitStatus::Other(status)
        },
    ))
}

/// prctl(PR_SET_CHILD_SUBREAPER) and friends that take only integers.
pub fn prctl(option: i32, arg2: u64) -> io::Result<i64> {
    // SAFETY: only integer arguments are passed; options that take pointers are not used here.
    check(unsafe { libc::prctl(option, arg2, 0u64, 0u64, 0u64) } as libc::c_long)
}

/// The page size of this machine.
pub fn page_size() -> usize {
    // SAFETY: sysconf has no memory-safety preconditions.
    unsafe { libc::sysconf(libc::_SC_PAGESIZE) as usize }
}

/// process_vm_readv(2): copies `len` bytes at each remote range into `local`.
/// Returns the number of bytes read (short on a fault).
pub fn process_vm_readv(pid: i32, local: &mut [u8], remote: &[(u64, usize)]) -> io::Result<usize> {
    let local_iov = libc::iovec {
        iov_base: local.as_mut_ptr().cast(),
        iov_len: local.len(),
    };
    let remote_iov: Vec<libc::iovec> = remote
        .iter()
        .map(|&(addr, len)| libc::iovec {
            iov_base: addr as *mut libc::c_void,
            iov_len: len,
        })
        .collect();
    // SAFETY: the local iovec covers exactly `local`, which we borrow mutably; remote
    // addresses are only dereferenced by the kernel in the other process.
    let n = unsafe {
        libc::process_vm_readv(
            pid,
            &local_iov,
            1,
            remote_iov.as_ptr(),
            remote_iov.len() as libc::c_ulong,
            0,
        )
    };
    check(n as libc::c_long).map(|n| n as usize)
}

/// The uts release string (uname -r).
pub fn kernel_release() -> String {
    // SAFETY: utsname is plain old data; zeroed is a valid value.
    let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: `uts` is a valid out-pointer.
    if unsafe { libc::uname(&mut uts) } != 0 {
        return String::new();
    }
    let bytes: Vec<u8> = uts
        .release
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// kcmp(2) KCMP_FILE: whether two fds (of two tasks) refer to the same open file description.
pub fn same_open_file(pid1: i32, fd1: i32, pid2: i32, fd2: i32) -> io::Result<bool> {
    const KCMP_FILE: i32 = 0;
    // SAFETY: plain syscall with integer arguments.
    let ret = check(unsafe { libc::syscall(libc::SYS_kcmp, pid1, pid2, KCMP_FILE, fd1, fd2) })?;
    Ok(ret == 0)
}

/// kcmp(KCMP_FILE) as an ordering: the kernel orders open file descriptions
/// (by an obfuscated pointer), consistently for the life of the files, so
/// descriptions can be kept sorted and found by binary search.
pub fn compare_open_files(
    pid1: i32,
    fd1: i32,
    pid2: i32,
    fd2: i32,
) -> io::Result<std::cmp::Ordering> {
    const KCMP_FILE: i32 = 0;
    // SAFETY: plain syscall with integer arguments.
    let ret = check(unsafe { libc::syscall(libc::SYS_kcmp, pid1, pid2, KCMP_FILE, fd1, fd2) })?;
    match ret {
        0 => Ok(std::cmp::Ordering::Equal),
        1 => Ok(std::cmp::Ordering::Less),
        2 => Ok(std::cmp::Ordering::Greater),
        _ => Err(io::Error::other("kcmp cannot order these files")),
    }
}

/// fstat(2) on a borrowed fd.
pub fn fstat(fd: BorrowedFd<'_>) -> io::Result<libc::stat> {
    // SAFETY: stat is plain old data; zeroed is a valid value.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is a valid out-pointer; the fd is borrowed and open.
    check(unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } as libc::c_long)?;
    Ok(st)
}

/// stat(2) following symlinks, e.g. on /proc/<pid>/fd/<n> to see the open file.
pub fn stat_path(path: &std::path::Path) -> io::Result<libc::stat> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: stat is plain old data; zeroed is a valid value.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a NUL-terminated string and `st` a valid out-pointer.
    check(unsafe { libc::stat(c.as_ptr(), &mut st) } as libc::c_long)?;
    Ok(st)
}

/// The current process id.
pub fn getsid() -> i32 {
    // SAFETY: getsid(0) only reads our own session id.
    unsafe { libc::getsid(0) }
}

pub fn getpgrp() -> i32 {
    // SAFETY: getpgrp has no arguments and cannot fail.
    unsafe { libc::getpgrp() }
}

pub fn getpid() -> i32 {
    std::process::id() as i32
}

/// Capacity of a pipe (F_GETPIPE_SZ).
pub fn pipe_capacity(fd: BorrowedFd<'_>) -> io::Result<u32> {
    // SAFETY: F_GETPIPE_SZ takes no pointer argument.
    check(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETPIPE_SZ) } as libc::c_long)
        .map(|n| n as u32)
}

/// Sets the capacity of a pipe (F_SETPIPE_SZ); root may exceed pipe-max-size.
pub fn set_pipe_capacity(fd: BorrowedFd<'_>, size: u32) -> io::Result<()> {
    // SAFETY: F_SETPIPE_SZ takes an integer argument.
    check(
        unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETPIPE_SZ, size as libc::c_int) }
            as libc::c_long,
    )
    .map(|_| ())
}

/// Copies the bytes buffered in a pipe without consuming them: tee(2) them into a
/// pipe of our own and read that. `read_end` must be the pipe's read end.
pub fn pipe_peek(read_end: BorrowedFd<'_>) -> io::Result<Vec<u8>> {
    use std::io::Read;
    let capacity = pipe_capacity(read_end)?;
    let mut available: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int to the valid pointer we pass.
    let ret = unsafe { libc::ioctl(read_end.as_raw_fd(), libc::FIONREAD, &mut available) };
    check(ret as libc::c_long)?;
    if available <= 0 {
        return Ok(Vec::new());
    }
    let mut ends = [0 as libc::c_int; 2];
    // SAFETY: pipe2 writes two fds into the array we pass.
    let ret = unsafe { libc::pipe2(ends.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) };
    check(ret as libc::c_long)?;
    // SAFETY: the kernel just created these two fds for us; nobody else owns them.
    let (ours_r, ours_w) =
        unsafe { (OwnedFd::from_raw_fd(ends[0]), OwnedFd::from_raw_fd(ends[1])) };
    set_pipe_capacity(ours_w.as_fd_borrowed(), capacity)?;
    // SAFETY: tee takes two fds and integers; both fds are open for the whole call.
    let copied = check(unsafe {
        libc::tee(
            read_end.as_raw_fd(),
            ours_w.as_raw_fd(),
            available as usize,
            libc::SPLICE_F_NONBLOCK,
        )
    } as libc::c_long)? as usize;
    if copied != available as usize {
        return Err(io::Error::other(format!(
            "pipe holds {available} bytes but only {copied} could be copied"
        )));
    }
    drop(ours_w);
    let mut data = Vec::with_capacity(copied);
    std::fs::File::from(ours_r).read_to_end(&mut data)?;
    Ok(data)
}

trait AsFdBorrowed {
    fn as_fd_borrowed(&self) -> BorrowedFd<'_>;
}

impl AsFdBorrowed for OwnedFd {
    fn as_fd_borrowed(&self) -> BorrowedFd<'_> {
        use std::os::fd::AsFd;
        self.as_fd()
    }
}

/// get_robust_list(2) of another thread: (head, length).
pub fn robust_list(tid: i32) -> io::Result<(u64, u64)> {
    let mut head: u64 = 0;
    let mut len: usize = 0;
    // SAFETY: the kernel writes one pointer and one size_t to the valid locations we pass.
    let ret = unsafe { libc::syscall(libc::SYS_get_robust_list, tid, &mut head, &mut len) };
    check(ret)?;
    Ok((head, len as u64))
}

/// The thread ids of a process, from /proc/<pid>/task, leader first.
pub fn thread_ids(pid: i32) -> io::Result<Vec<i32>> {
    let mut tids: Vec<i32> = std::fs::read_dir(format!("/proc/{pid}/task"))?
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse().ok()))
        .collect();
    tids.sort_unstable_by_key(|&t| (t != pid, t));
    Ok(tids)
}

/// pipe2(2) with O_CLOEXEC: (read end, write end).
pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut ends = [0 as libc::c_int; 2];
    // SAFETY: pipe2 writes two fds into the array we pass.
    let ret = unsafe { libc::pipe2(ends.as_mut_ptr(), libc::O_CLOEXEC) };
    check(ret as libc::c_long)?;
    // SAFETY: the kernel just created these two fds for us; nobody else owns them.
    Ok(unsafe { (OwnedFd::from_raw_fd(ends[0]), OwnedFd::from_raw_fd(ends[1])) })
}

/// fcntl(F_SETFL): the status flags (O_NONBLOCK, O_APPEND...) of an open file description.
pub fn set_status_flags(fd: BorrowedFd<'_>, flags: i32) -> io::Result<()> {
    // SAFETY: F_SETFL takes an integer argument.
    let ret = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags) };
    check(ret as libc::c_long).map(|_| ())
}

/// lseek(SEEK_SET): the offset of an open file description.
pub fn seek_to(fd: BorrowedFd<'_>, offset: u64) -> io::Result<()> {
    // SAFETY: lseek takes an fd and integers and touches no memory of ours.
    let ret = unsafe { libc::lseek(fd.as_raw_fd(), offset as libc::off_t, libc::SEEK_SET) };
    check(ret as libc::c_long).map(|_| ())
}

/// Raises our own soft limit on open files to the hard limit.
pub fn raise_own_nofile_limit() -> io::Result<()> {
    // SAFETY: rlimit is plain old data; zeroed is a valid value.
    let mut limit: libc::rlimit = unsafe { std::mem::zeroed() };
    // SAFETY: `limit` is a valid out-pointer.
    check(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } as libc::c_long)?;
    limit.rlim_cur = limit.rlim_max;
    // SAFETY: `limit` is a valid in-pointer.
    check(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } as libc::c_long).map(|_| ())
}

/// The effective uid of this process.
pub fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// flock(2) with LOCK_NB: a shared or exclusive lock of the open file description.
pub fn flock_nonblocking(fd: BorrowedFd<'_>, exclusive: bool) -> io::Result<()> {
    let op = if exclusive {
        libc::LOCK_EX
    } else {
        libc::LOCK_SH
    };
    // SAFETY: flock takes two integers.
    check(unsafe { libc::flock(fd.as_raw_fd(), op | libc::LOCK_NB) } as libc::c_long).map(|_| ())
}

/// fcntl(F_OFD_SETLK): a read or write lock on a byte range, owned by the open
/// file description; `length` 0 means to the end of the file.
pub fn ofd_lock_nonblocking(
    fd: BorrowedFd<'_>,
    write: bool,
    start: u64,
    length: u64,
) -> io::Result<()> {
    // SAFETY: flock is plain old data; zeroed is a valid value.
    let mut lock: libc::flock = unsafe { std::mem::zeroed() };
    lock.l_type = if write { libc::F_WRLCK } else { libc::F_RDLCK } as libc::c_short;
    lock.l_whence = libc::SEEK_SET as libc::c_short;
    lock.l_start = start as libc::off_t;
    lock.l_len = length as libc::off_t;
    // SAFETY: `lock` is a valid struct flock that outlives the call.
    check(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_OFD_SETLK, &lock) } as libc::c_long)
        .map(|_| ())
}

// fcntl commands the libc crate does not define for x86_64 glibc (asm-generic/fcntl.h).
const F_SETSIG: libc::c_int = 10;
const F_GETSIG: libc::c_int = 11;
const F_SETOWN_EX: libc::c_int = 15;
const F_GETOWN_EX: libc::c_int = 16;

/// fcntl(F_GETOWN_EX): (type, id) of the owner of an open file description's
/// signal-driven I/O; id 0 when there is none.
pub fn get_owner(fd: BorrowedFd<'_>) -> io::Result<(i32, i32)> {
    // struct f_owner_ex { int type; pid_t pid; }
    let mut owner = [0 as libc::c_int; 2];
    // SAFETY: `owner` has the layout of struct f_owner_ex and outlives the call.
    check(unsafe { libc::fcntl(fd.as_raw_fd(), F_GETOWN_EX, owner.as_mut_ptr()) } as libc::c_long)?;
    Ok((owner[0], owner[1]))
}

/// fcntl(F_SETOWN_EX).
pub fn set_owner(fd: BorrowedFd<'_>, kind: i32, id: i32) -> io::Result<()> {
    let owner: [libc::c_int; 2] = [kind, id];
    // SAFETY: `owner` has the layout of struct f_owner_ex and outlives the call.
    check(unsafe { libc::fcntl(fd.as_raw_fd(), F_SETOWN_EX, owner.as_ptr()) } as libc::c_long)
        .map(|_| ())
}

/// fcntl(F_GETSIG): the signal of signal-driven I/O, 0 meaning SIGIO.
pub fn get_io_signal(fd: BorrowedFd<'_>) -> io::Result<i32> {
    // SAFETY: F_GETSIG takes no argument.
    check(unsafe { libc::fcntl(fd.as_raw_fd(), F_GETSIG) } as libc::c_long).map(|s| s as i32)
}

/// fcntl(F_SETSIG).
pub fn set_io_signal(fd: BorrowedFd<'_>, signal: i32) -> io::Result<()> {
    // SAFETY: F_SETSIG takes an integer argument.
    check(unsafe { libc::fcntl(fd.as_raw_fd(), F_SETSIG, signal) } as libc::c_long).map(|_| ())
}

/// fcntl(F_GETFL): the status flags of an open file description.
pub fn status_flags(fd: BorrowedFd<'_>) -> io::Result<i32> {
    // SAFETY: F_GETFL takes no argument.
    check(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) } as libc::c_long).map(|f| f as i32)
}

/// memfd_create(2).
pub fn memfd_create(name: &str, flags: u32) -> io::Result<OwnedFd> {
    let c = std::ffi::CString::new(name).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: `c` is a NUL-terminated string that outlives the call.
    let fd = check(unsafe { libc::memfd_create(c.as_ptr(), flags) } as libc::c_long)?;
    // SAFETY: the kernel just returned this fd to us; nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// fcntl(F_GET_SEALS): the seals of a memfd (F_SEAL_*).
pub fn seals(fd: BorrowedFd<'_>) -> io::Result<u32> {
    // SAFETY: F_GET_SEALS takes no pointer argument.
    check(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GET_SEALS) } as libc::c_long)
        .map(|n| n as u32)
}

/// fcntl(F_ADD_SEALS).
pub fn add_seals(fd: BorrowedFd<'_>, seals: u32) -> io::Result<()> {
    // SAFETY: F_ADD_SEALS takes an integer argument.
    check(
        unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, seals as libc::c_int) }
            as libc::c_long,
    )
    .map(|_| ())
}

/// lseek(2) with SEEK_DATA or SEEK_HOLE: the next offset at or after `offset`
/// that starts data (or a hole); None past the last data (ENXIO).
pub fn seek_data_or_hole(fd: BorrowedFd<'_>, offset: u64, whence: i32) -> io::Result<Option<u64>> {
    // SAFETY: lseek takes only integers.
    let ret = unsafe { libc::lseek(fd.as_raw_fd(), offset as libc::off_t, whence) };
    match check(ret as libc::c_long) {
        Ok(at) => Ok(Some(at as u64)),
        Err(e) if e.raw_os_error() == Some(libc::ENXIO) => Ok(None),
        Err(e) => Err(e),
    }
}

/// inotify_init1(2).
pub fn inotify_init(flags: i32) -> io::Result<OwnedFd> {
    // SAFETY: inotify_init1 takes an integer.
    let fd = check(unsafe { libc::inotify_init1(flags) } as libc::c_long)?;
    // SAFETY: the kernel just returned this fd to us; nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// inotify_add_watch(2): the watch descriptor.
pub fn inotify_add_watch(fd: BorrowedFd<'_>, path: &str, mask: u32) -> io::Result<i32> {
    let c = std::ffi::CString::new(path).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: `c` is a NUL-terminated string that outlives the call.
    check(unsafe { libc::inotify_add_watch(fd.as_raw_fd(), c.as_ptr(), mask) } as libc::c_long)
        .map(|wd| wd as i32)
}

/// inotify_rm_watch(2).
pub fn inotify_rm_watch(fd: BorrowedFd<'_>, wd: i32) -> io::Result<()> {
    // SAFETY: inotify_rm_watch takes integers.
    check(unsafe { libc::inotify_rm_watch(fd.as_raw_fd(), wd) } as libc::c_long).map(|_| ())
}

/// ioctl(FIONREAD): bytes waiting to be read.
pub fn bytes_readable(fd: BorrowedFd<'_>) -> io::Result<u32> {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int to the pointer we pass.
    check(unsafe { libc::ioctl(fd.as_raw_fd(), libc::FIONREAD, &mut n) } as libc::c_long)?;
    Ok(n as u32)
}

/// open_by_handle_at(2) with O_PATH: the file a file handle names, on the
/// filesystem of `mount` (needs CAP_DAC_READ_SEARCH).
pub fn open_by_handle(
    mount: BorrowedFd<'_>,
    handle_type: i32,
    handle: &[u8],
) -> io::Result<OwnedFd> {
    // struct file_handle: u32 handle_bytes, i32 handle_type, then the bytes.
    let mut raw = Vec::with_capacity(8 + handle.len());
    raw.extend_from_slice(&(handle.len() as u32).to_ne_bytes());
    raw.extend_from_slice(&handle_type.to_ne_bytes());
    raw.extend_from_slice(handle);
    // SAFETY: `raw` is a complete struct file_handle that outlives the call;
    // the kernel only reads it.
    let fd = check(unsafe {
        libc::syscall(
            libc::SYS_open_by_handle_at,
            mount.as_raw_fd(),
            raw.as_mut_ptr(),
            libc::O_PATH | libc::O_CLOEXEC,
        )
    })?;
    // SAFETY: the kernel just returned this fd to us; nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}
