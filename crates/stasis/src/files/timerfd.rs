//! timerfd: clock, settime flags, next expiry, period and the expirations not
//! read yet.
//!
//! Choices (the same as for itimers and POSIX timers):
//! - A relative timer keeps the time that was left at dump and is re-armed
//!   with it: time spent frozen or on disk does not count.
//! - A TFD_TIMER_ABSTIME timer keeps its deadline on its clock (the clock's
//!   time at dump plus the time left) and is re-armed absolute, so it fires at
//!   the same wall-clock or monotonic time as it would have; periods missed
//!   meanwhile show up as expirations, as for a live process.
//!   TFD_TIMER_CANCEL_ON_SET is kept.
//! - Expirations not read yet are put back with TFD_IOC_SET_TICKS after
//!   arming (arming clears them).
//! - Timers are armed when their description is configured, before the tasks
//!   resume: the short rest of the restore runs on their clock.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use stasis_image::pb;

use super::FdProbe;

pub const LINK: &str = "anon_inode:[timerfd]";

const TFD_TIMER_ABSTIME: u32 = 1;

/// The record from fdinfo alone; `dump_live` completes it.
pub fn dump(probe: &FdProbe) -> pb::open_file::Kind {
    let info = probe.info.timerfd.unwrap_or_default();
    pb::open_file::Kind::Timerfd(pb::TimerFd {
        clockid: info.clockid,
        ticks: info.ticks,
        settime_flags: info.settime_flags,
        value_ns: info.value_ns,
        interval_ns: info.interval_ns,
    })
}

/// Completes a record through stasis' copy of the timer: timerfd_gettime
/// first, because a periodic timer that fired is only moved on (and its
/// missed periods counted in `ticks`) when someone looks at it; then the
/// clock, right after, for the deadline of an absolute timer; then the ticks.
pub fn dump_live(timer: &mut pb::TimerFd, copy: BorrowedFd<'_>) -> io::Result<()> {
    let (left, interval) = crate::sys::events::timerfd_gettime(copy)?;
    let now = crate::sys::events::clock_now(timer.clockid)?;
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", copy.as_raw_fd()))?;
    let info = crate::proc::fdinfo::parse_fdinfo(&info)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
    timer.ticks = info.timerfd.map(|t| t.ticks).unwrap_or(timer.ticks);
    timer.interval_ns = interval;
    // A periodic timer is armed even when its next expiry is due right now
    // (0 left); 0 would disarm it.
    let left = if left == 0 && interval != 0 { 1 } else { left };
    timer.value_ns = if left != 0 && timer.settime_flags & TFD_TIMER_ABSTIME != 0 {
        now + left
    } else {
        left
    };
    Ok(())
}

/// A new timer on the saved clock, not armed yet (see `configure`).
pub fn create(saved: &pb::TimerFd) -> io::Result<OwnedFd> {
    crate::sys::events::timerfd_create(saved.clockid, libc::TFD_CLOEXEC).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("timerfd_create(clock {}): {e}", saved.clockid),
        )
    })
}

/// Arms the timer as saved, then puts back the unread expirations.
pub fn configure(saved: &pb::TimerFd, timer: impl AsFd) -> io::Result<()> {
    let timer = timer.as_fd();
    if saved.value_ns != 0 {
        crate::sys::events::timerfd_settime(
            timer,
            saved.settime_flags as i32,
            saved.value_ns,
            saved.interval_ns,
        )
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "timerfd_settime(flags {:#o}, {} ns, every {} ns): {e}",
                    saved.settime_flags, saved.value_ns, saved.interval_ns
                ),
            )
        })?;
    }
    if saved.ticks != 0 {
        crate::sys::events::timerfd_set_ticks(timer, saved.ticks).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "TFD_IOC_SET_TICKS {} (needs a kernel with CONFIG_CHECKPOINT_RESTORE): {e}",
                    saved.ticks
                ),
            )
        })?;
    }
    Ok(())
}
