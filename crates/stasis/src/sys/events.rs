//! Syscalls of the event files (eventfd, signalfd, timerfd, epoll), and the
//! private fd table in which stasis adds epoll items under their original fd
//! numbers.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};

use super::check;

fn owned(ret: libc::c_long) -> io::Result<OwnedFd> {
    let fd = check(ret)?;
    // SAFETY: the syscall just returned this new fd, owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// eventfd2(2) with counter 0 (the counter is 64-bit, eventfd2's argument
/// only 32: callers write the count).
pub fn eventfd(flags: i32) -> io::Result<OwnedFd> {
    // SAFETY: plain syscall with integer arguments.
    owned(unsafe { libc::syscall(libc::SYS_eventfd2, 0u32, flags) })
}

/// signalfd4(2) creating a new signalfd for `mask` (bit n-1 for signal n).
pub fn signalfd(mask: u64, flags: i32) -> io::Result<OwnedFd> {
    // The kernel's sigset is 64 bits on x86_64: pass its size, 8.
    // SAFETY: `mask` lives across the call and is 8 bytes, the size we pass.
    owned(unsafe { libc::syscall(libc::SYS_signalfd4, -1, &mask as *const u64, 8usize, flags) })
}

/// timerfd_create(2).
pub fn timerfd_create(clockid: i32, flags: i32) -> io::Result<OwnedFd> {
    // SAFETY: plain syscall with integer arguments.
    owned(unsafe { libc::syscall(libc::SYS_timerfd_create, clockid, flags) })
}

fn timespec(ns: u64) -> libc::timespec {
    libc::timespec {
        tv_sec: (ns / 1_000_000_000) as libc::time_t,
        tv_nsec: (ns % 1_000_000_000) as libc::c_long,
    }
}

fn nanoseconds(ts: &libc::timespec) -> u64 {
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// timerfd_settime(2): next expiry `value_ns` (0 disarms), period `interval_ns`.
pub fn timerfd_settime(
    fd: BorrowedFd<'_>,
    flags: i32,
    value_ns: u64,
    interval_ns: u64,
) -> io::Result<()> {
    let new = libc::itimerspec {
        it_interval: timespec(interval_ns),
        it_value: timespec(value_ns),
    };
    // SAFETY: `new` lives across the call; a null old value is allowed.
    check(unsafe {
        libc::syscall(
            libc::SYS_timerfd_settime,
            fd.as_raw_fd(),
            flags,
            &new as *const libc::itimerspec,
            std::ptr::null_mut::<libc::itimerspec>(),
        )
    })
    .map(|_| ())
}

/// timerfd_gettime(2): (time left to the next expiry, period), in nanoseconds.
pub fn timerfd_gettime(fd: BorrowedFd<'_>) -> io::Result<(u64, u64)> {
    // SAFETY: itimerspec is plain data; all zeroes is a valid value.
    let mut current: libc::itimerspec = unsafe { std::mem::zeroed() };
    // SAFETY: `current` is writable and lives across the call.
    check(unsafe {
        libc::syscall(
            libc::SYS_timerfd_gettime,
            fd.as_raw_fd(),
            &mut current as *mut libc::itimerspec,
        )
    })?;
    Ok((
        nanoseconds(&current.it_value),
        nanoseconds(&current.it_interval),
    ))
}

/// ioctl TFD_IOC_SET_TICKS (`_IOW('T', 0, u64)`, CONFIG_CHECKPOINT_RESTORE):
/// sets the count of expirations not read yet (must not be 0).
pub fn timerfd_set_ticks(fd: BorrowedFd<'_>, ticks: u64) -> io::Result<()> {
    const TFD_IOC_SET_TICKS: libc::c_ulong = (1 << 30) | (8 << 16) | ((b'T' as libc::c_ulong) << 8);
    // SAFETY: the ioctl reads one u64 from the pointer, which lives across the call.
    check(
        unsafe { libc::ioctl(fd.as_raw_fd(), TFD_IOC_SET_TICKS, &ticks as *const u64) }
            as libc::c_long,
    )
    .map(|_| ())
}

/// clock_gettime(2) in nanoseconds.
pub fn clock_now(clockid: i32) -> io::Result<u64> {
    // SAFETY: timespec is plain data; all zeroes is a valid value.
    let mut now: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: `now` is writable and lives across the call.
    check(unsafe { libc::clock_gettime(clockid, &mut now) } as libc::c_long)?;
    Ok(nanoseconds(&now))
}

/// epoll_create1(2).
pub fn epoll_create(flags: i32) -> io::Result<OwnedFd> {
    // SAFETY: plain syscall with integer arguments.
    owned(unsafe { libc::epoll_create1(flags) } as libc::c_long)
}

/// kcmp(2) KCMP_EPOLL_TFD: whether fd `fd` of `pid` is the file that epoll
/// `epoll_fd` of `pid` watches under fd number `target_fd` (the first such
/// item, toff 0).
pub fn epoll_watches(pid: i32, epoll_fd: i32, target_fd: i32, fd: i32) -> io::Result<bool> {
    const KCMP_EPOLL_TFD: i32 = 7;
    #[repr(C)]
    struct KcmpEpollSlot {
        efd: u32,
        tfd: u32,
        toff: u32,
    }
    let slot = KcmpEpollSlot {
        efd: epoll_fd as u32,
        tfd: target_fd as u32,
        toff: 0,
    };
    // SAFETY: the kernel reads `slot`, which lives across the call.
    let ret = check(unsafe {
        libc::syscall(
            libc::SYS_kcmp,
            pid,
            pid,
            KCMP_EPOLL_TFD,
            fd,
            &slot as *const KcmpEpollSlot,
        )
    })?;
    Ok(ret == 0)
}

/// One item to add to an epoll: the watched description, the fd number to
/// add it under, and its epoll_event.
pub struct EpollAdd<'a> {
    pub target: BorrowedFd<'a>,
    pub fd: i32,
    pub events: u32,
    pub data: u64,
}

/// Adds `items` to `epoll` with EPOLL_CTL_ADD, each under its own fd number.
/// An item is keyed by (file, fd number), so the number must be the original
/// one; stasis' own fds may sit at those numbers. The calls run on a helper
/// thread that first takes a private copy of the fd table
/// (unshare(CLONE_FILES)): there, the watched files are put at their numbers
/// with dup3, whatever was there before, and nothing else in stasis sees it.
/// The copy (and every fd made in it) goes when the thread ends; the items
/// stay, as they live as long as the watched file does.
/// Errors name the fd number of the item that failed.
pub fn epoll_add_at_numbers(epoll: BorrowedFd<'_>, items: &[EpollAdd<'_>]) -> io::Result<()> {
    std::thread::scope(|scope| {
        scope
            .spawn(|| add_in_private_table(epoll, items))
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the epoll helper thread panicked")))
    })
}

fn add_in_private_table(epoll: BorrowedFd<'_>, items: &[EpollAdd<'_>]) -> io::Result<()> {
    // SAFETY: plain syscall; it affects only this thread's fd table.
    check(unsafe { libc::unshare(libc::CLONE_FILES) } as libc::c_long)
        .map_err(|e| io::Error::new(e.kind(), format!("unshare(CLONE_FILES): {e}")))?;
    // From here on, fds are numbers in this thread's private table. Keep the
    // epoll and a pidfd of our own process above the highest item number, and
    // drop the rest of the copy: an epoll can watch tens of thousands of fds,
    // and the table must not hold them twice. Each target is fetched again
    // from the process's own table (pidfd_getfd reads that one, not ours)
    // when its turn comes, so no dup3 below can lose a target still needed.
    let above = items.iter().map(|i| i.fd).max().unwrap_or(0) + 1;
    let dup_above = |fd: RawFd| -> io::Result<RawFd> {
        // SAFETY: F_DUPFD_CLOEXEC takes an integer argument.
        check(unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, above) } as libc::c_long)
            .map(|fd| fd as RawFd)
    };
    let epoll = dup_above(epoll.as_raw_fd())?;
    let first = super::syscalls::pidfd_open(super::syscalls::getpid())?.into_raw_fd();
    let own = dup_above(first)?;
    // SAFETY: `first` was made just above; `own` is its copy.
    unsafe { libc::close(first) };
    // SAFETY: close_range on our private table; every fd below `above` is a
    // copy we no longer use (the originals stay open in the process's table).
    check(unsafe { libc::syscall(libc::SYS_close_range, 0u32, (above - 1) as u32, 0u32) })?;
    let result = (|| -> io::Result<()> {
        for item in items {
            // SAFETY: pidfd_getfd takes integers and returns a new fd.
            let copy = check(unsafe {
                libc::syscall(libc::SYS_pidfd_getfd, own, item.target.as_raw_fd(), 0u32)
            })
            .map_err(|e| io::Error::new(e.kind(), format!("fd {}: pidfd_getfd: {e}", item.fd)))?
                as RawFd;
            if copy != item.fd {
                // SAFETY: only this thread uses this private table; fd
                // `item.fd` holds nothing (all below `above` were closed, and
                // each item's number is closed again after its ADD).
                let moved =
                    check(unsafe { libc::dup3(copy, item.fd, libc::O_CLOEXEC) } as libc::c_long);
                // SAFETY: `copy` was made just above and is not used again.
                unsafe { libc::close(copy) };
                moved.map_err(|e| {
                    io::Error::new(e.kind(), format!("dup3 to fd {}: {e}", item.fd))
                })?;
            }
            let mut event = libc::epoll_event {
                events: item.events,
                u64: item.data,
            };
            // SAFETY: `event` lives across the call.
            let added = unsafe { libc::epoll_ctl(epoll, libc::EPOLL_CTL_ADD, item.fd, &mut event) };
            // The item lives as long as the file, not the fd: close it now.
            // SAFETY: fd `item.fd` was made above in this private table.
            unsafe { libc::close(item.fd) };
            check(added as libc::c_long).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!(
                        "epoll_ctl(EPOLL_CTL_ADD, fd {}, events {:#x}): {e}",
                        item.fd, item.events
                    ),
                )
            })?;
        }
        Ok(())
    })();
    for fd in [epoll, own] {
        // SAFETY: made above in this private table, not used again.
        unsafe { libc::close(fd) };
    }
    result
}
