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
