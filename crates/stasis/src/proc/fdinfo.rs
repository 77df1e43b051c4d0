//! /proc/<pid>/fdinfo/<fd>.

use super::ParseError;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FdInfo {
    pub pos: u64,
    /// Status flags as the kernel prints them (octal), including O_CLOEXEC.
    pub flags: u32,
    pub mnt_id: u32,
    pub ino: u64,
    /// The `lock:` lines: the locks held through this open file description
    /// (flock and OFD locks of the description, POSIX locks of this process).
    pub locks: Vec<LockLine>,
    /// eventfd: `eventfd-count` (printed in hex) and `eventfd-semaphore`.
    pub eventfd: Option<EventFdInfo>,
    /// signalfd: `sigmask` (hex), bit n-1 for signal n.
    pub sigmask: Option<u64>,
    /// timerfd: `clockid`, `ticks`, `settime flags`, `it_value`, `it_interval`.
    pub timerfd: Option<TimerFdInfo>,
    /// epoll: one `tfd:` line per watched file.
    pub epoll_items: Vec<EpollItemLine>,
    /// pidfd: `Pid` of the process it refers to, -1 once that one is gone.
    pub pidfd_pid: Option<i32>,
    /// The `inotify` lines of an inotify instance: one per watch.
    pub inotify: Vec<InotifyLine>,
}

/// One watch of an inotify fd: `inotify wd:3 ino:5c8a6 sdev:fe00000 mask:fff
/// ignored_mask:0 fhandle-bytes:8 fhandle-type:1 f_handle:a6c8050000000000`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InotifyLine {
    pub wd: i32,
    pub ino: u64,
    /// The superblock's device in the kernel's internal encoding (major << 20 | minor).
    pub sdev: u64,
    pub mask: u32,
    pub handle_type: i32,
    pub handle: Vec<u8>,
}

fn parse_inotify(value: &str) -> Option<InotifyLine> {
    let field = |name: &str| {
        value
            .split_whitespace()
            .find_map(|w| w.strip_prefix(name)?.strip_prefix(':'))
    };
    let hex = |name: &str| u64::from_str_radix(field(name)?, 16).ok();
    let handle_hex = field("f_handle")?;
    let handle = (0..handle_hex.len() / 2)
        .map(|i| u8::from_str_radix(&handle_hex[2 * i..2 * i + 2], 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    Some(InotifyLine {
        wd: field("wd")?.parse().ok()?,
        ino: hex("ino")?,
        sdev: hex("sdev")?,
        mask: hex("mask")? as u32,
        handle_type: field("fhandle-type")?.parse().ok()?,
        handle,
    })
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EventFdInfo {
    pub count: u64,
    pub semaphore: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimerFdInfo {
    pub clockid: i32,
    pub ticks: u64,
    /// TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET (printed in octal).
    pub settime_flags: u32,
    /// Time left until the next expiry, in nanoseconds (the kernel prints
    /// the remaining time even for absolute timers).
    pub value_ns: u64,
    pub interval_ns: u64,
}

/// One `tfd:` line of an epoll, e.g.
/// `tfd:        7 events: 80000019 data: 1122334455667788  pos:0 ino:9a796 sdev:f`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpollItemLine {
    /// The fd number the item was added with.
    pub fd: i32,
    pub events: u32,
    pub data: u64,
    /// Inode number and device (kernel encoding, major << 20 | minor) of
    /// the watched file.
    pub ino: u64,
    pub sdev: u32,
}

/// "(1, 499986665)" as nanoseconds.
fn parse_timespec(value: &str) -> Option<u64> {
    let inner = value.strip_prefix('(')?.strip_suffix(')')?;
    let (sec, nsec) = inner.split_once(',')?;
    let sec: u64 = sec.trim().parse().ok()?;
    let nsec: u64 = nsec.trim().parse().ok()?;
    sec.checked_mul(1_000_000_000)?.checked_add(nsec)
}

fn parse_epoll_item(value: &str) -> Option<EpollItemLine> {
    let mut words = value.split_whitespace();
    let fd = words.next()?.parse().ok()?;
    let (mut events, mut data, mut ino, mut sdev) = (None, None, None, None);
    while let Some(word) = words.next() {
        // "events: 19" (value in the next word) or "ino:40e" (in this one).
        let (key, value) = match word.split_once(':') {
            Some((key, "")) => (key, words.next()?),
            Some((key, value)) => (key, value),
            None => return None,
        };
        match key {
            "events" => events = Some(u32::from_str_radix(value, 16).ok()?),
            "data" => data = Some(u64::from_str_radix(value, 16).ok()?),
            "ino" => ino = Some(u64::from_str_radix(value, 16).ok()?),
            "sdev" => sdev = Some(u32::from_str_radix(value, 16).ok()?),
            _ => {}
        }
    }
    Some(EpollItemLine {
        fd,
        events: events?,
        data: data?,
        ino: ino?,
        sdev: sdev?,
    })
}

/// One `lock:` line, e.g. `lock:\t1: POSIX  ADVISORY  WRITE 4689 fe:00:1001 0 9`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockLine {
    /// "POSIX", "FLOCK", "OFDLCK", "LEASE", "DELEG", ...
    pub class: String,
    /// "READ", "WRITE" or "UNLCK".
    pub access: String,
    pub pid: i32,
    pub start: u64,
    /// Last byte, inclusive; None for "EOF" (the lock extends as the file grows).
    pub end: Option<u64>,
}

fn parse_lock(value: &str) -> Option<LockLine> {
    // "1: POSIX  ADVISORY  WRITE 4689 fe:00:1001 0 9"; leases print a state
    // ("ACTIVE", "BREAKING"...) where other locks print ADVISORY.
    let (_, rest) = value.split_once(':')?;
    let words: Vec<&str> = rest.split_whitespace().collect();
    let [class, _, access, pid, _, start, end] = words.as_slice() else {
        return None;
    };
    Some(LockLine {
        class: class.to_string(),
        access: access.to_string(),
        pid: pid.parse().ok()?,
        start: start.parse().ok()?,
        end: match *end {
            "EOF" => None,
            n => Some(n.parse().ok()?),
        },
    })
}

pub fn parse_fdinfo(text: &str) -> Result<FdInfo, ParseError> {
    let mut info = FdInfo::default();
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        let bad = || ParseError::new("fdinfo", format!("bad {key} {value:?}"));
        match key {
            "pos" => info.pos = value.parse().map_err(|_| bad())?,
            "flags" => info.flags = u32::from_str_radix(value, 8).map_err(|_| bad())?,
            "mnt_id" => info.mnt_id = value.parse().map_err(|_| bad())?,
            "ino" => info.ino = value.parse().map_err(|_| bad())?,
            "lock" => info.locks.push(parse_lock(value).ok_or_else(bad)?),
            "inotify wd" => info
                .inotify
                .push(parse_inotify(line.trim_start_matches("inotify")).ok_or_else(bad)?),
            "eventfd-count" => {
                info.eventfd.get_or_insert_with(Default::default).count =
                    u64::from_str_radix(value, 16).map_err(|_| bad())?
            }
            "eventfd-semaphore" => {
                info.eventfd.get_or_insert_with(Default::default).semaphore = value == "1"
            }
            "Pid" => info.pidfd_pid = Some(value.parse().map_err(|_| bad())?),
            "sigmask" => info.sigmask = Some(u64::from_str_radix(value, 16).map_err(|_| bad())?),
            "clockid" => {
                info.timerfd.get_or_insert_with(Default::default).clockid =
                    value.parse().map_err(|_| bad())?
            }
            "ticks" => {
                info.timerfd.get_or_insert_with(Default::default).ticks =
                    value.parse().map_err(|_| bad())?
            }
            "settime flags" => {
                info.timerfd
                    .get_or_insert_with(Default::default)
                    .settime_flags = u32::from_str_radix(value, 8).map_err(|_| bad())?
            }
            "it_value" => {
                info.timerfd.get_or_insert_with(Default::default).value_ns =
                    parse_timespec(value).ok_or_else(bad)?
            }
            "it_interval" => {
                info.timerfd
                    .get_or_insert_with(Default::default)
                    .interval_ns = parse_timespec(value).ok_or_else(bad)?
            }
            "tfd" => info
                .epoll_items
                .push(parse_epoll_item(value).ok_or_else(bad)?),
            _ => {}
        }
    }
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fdinfo() {
        let info = parse_fdinfo("pos:\t42\nflags:\t02102001\nmnt_id:\t27\nino:\t1234\n").unwrap();
        assert_eq!(info.pos, 42);
        assert_eq!(info.flags, 0o2102001);
        assert_eq!(info.ino, 1234);
        assert!(info.locks.is_empty());
    }

    #[test]
    fn parses_event_files() {
        let info = parse_fdinfo(
            "pos:\t0\nflags:\t04002\nmnt_id:\t17\nino:\t1038\n\
             eventfd-count:                1f\neventfd-id: 1\neventfd-semaphore: 1\n",
        )
        .unwrap();
        assert_eq!(
            info.eventfd,
            Some(EventFdInfo {
                count: 31,
                semaphore: true
            })
        );
        let info = parse_fdinfo("pos:\t0\nflags:\t02\nsigmask:\t0000000200000200\n").unwrap();
        assert_eq!(info.sigmask, Some(0x2_0000_0200));
        let info = parse_fdinfo(
            "pos:\t0\nflags:\t02\nclockid: 1\nticks: 3\nsettime flags: 03\n\
             it_value: (1, 499986665)\nit_interval: (0, 250000000)\n",
        )
        .unwrap();
        assert_eq!(
            info.timerfd,
            Some(TimerFdInfo {
                clockid: 1,
                ticks: 3,
                settime_flags: 3,
                value_ns: 1_499_986_665,
                interval_ns: 250_000_000
            })
        );
        let info = parse_fdinfo(
            "pos:\t0\nflags:\t02\nmnt_id:\t17\nino:\t1038\n\
             tfd:        3 events: 40000019 data:                5  pos:0 ino:40e sdev:10\n\
             tfd:       17 events:       19 data: 1122334455667788  pos:12 ino:9a796 sdev:f\n",
        )
        .unwrap();
        assert_eq!(
            info.epoll_items,
            vec![
                EpollItemLine {
                    fd: 3,
                    events: 0x4000_0019,
                    data: 5,
                    ino: 0x40e,
                    sdev: 0x10
                },
                EpollItemLine {
                    fd: 17,
                    events: 0x19,
                    data: 0x1122_3344_5566_7788,
                    ino: 0x9a796,
                    sdev: 0xf
                },
            ]
        );
        assert!(info.timerfd.is_none() && info.eventfd.is_none());
        assert!(parse_fdinfo("tfd: 3 events: zz data: 1 ino:1 sdev:1\n").is_err());
    }

    #[test]
    fn parses_inotify_watches() {
        let info = parse_fdinfo(
            "pos:\t0\nflags:\t04000\nmnt_id:\t17\nino:\t1038\n\
             inotify wd:3 ino:5c8a6 sdev:fe00000 mask:fff ignored_mask:0 fhandle-bytes:8 fhandle-type:1 f_handle:a6c8050000000000\n",
        )
        .unwrap();
        assert_eq!(
            info.inotify,
            vec![InotifyLine {
                wd: 3,
                ino: 0x5c8a6,
                sdev: 0xfe00000,
                mask: 0xfff,
                handle_type: 1,
                handle: vec![0xa6, 0xc8, 0x05, 0, 0, 0, 0, 0],
            }]
        );
    }

    #[test]
    fn parses_lock_lines() {
        let info = parse_fdinfo(
            "pos:\t0\nflags:\t0100002\nmnt_id:\t27\nino:\t10010907\n\
             lock:\t1: POSIX  ADVISORY  WRITE 4689 fe:00:10010907 0 9\n\
             lock:\t2: FLOCK  ADVISORY  READ 4689 fe:00:10010907 0 EOF\n\
             lock:\t3: OFDLCK ADVISORY  READ -1 fe:00:10010907 100 EOF\n",
        )
        .unwrap();
        assert_eq!(
            info.locks,
            vec![
                LockLine {
                    class: "POSIX".into(),
                    access: "WRITE".into(),
                    pid: 4689,
                    start: 0,
                    end: Some(9)
                },
                LockLine {
                    class: "FLOCK".into(),
                    access: "READ".into(),
                    pid: 4689,
                    start: 0,
                    end: None
                },
                LockLine {
                    class: "OFDLCK".into(),
                    access: "READ".into(),
                    pid: -1,
                    start: 100,
                    end: None
                },
            ]
        );
        assert!(parse_fdinfo("lock:\t1: POSIX garbage\n").is_err());
    }
}
