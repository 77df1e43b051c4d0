//! The memory character devices (/dev/null, zero, full, random, urandom): they
//! carry no state, so reopening the device is a faithful restore.

use stasis_image::pb;

use super::{FdProbe, FileKind, FileStat, Support};

/// (major, minor, name) of the supported devices.
pub const SUPPORTED: [(u32, u32, &str); 5] = [
    (1, 3, "/dev/null"),
    (1, 5, "/dev/zero"),
    (1, 7, "/dev/full"),
    (1, 8, "/dev/random"),
    (1, 9, "/dev/urandom"),
];

pub fn classify(link: &str, rdev: u64) -> Support {
    let (major, minor) = (libc::major(rdev), libc::minor(rdev));
    if SUPPORTED
        .iter()
        .any(|&(ma, mi, _)| ma == major && mi == minor)
    {
        Support::Supported(FileKind::CharDevice)
    } else {
        let why = if major == 136 || major == 4 || major == 5 {
            "terminals are not supported yet; start the program with its stdin/stdout/stderr redirected to files or /dev/null"
        } else {
            "only /dev/null, /dev/zero, /dev/full, /dev/random and /dev/urandom are supported"
        };
        Support::Unsupported {
            what: format!("character device {major}:{minor} ({link})"),
            why: why.to_string(),
        }
    }
}

pub fn dump(probe: &FdProbe, stat: &FileStat) -> pb::open_file::Kind {
    let (major, minor) = (libc::major(stat.rdev), libc::minor(stat.rdev));
    // Reopen the device by its canonical name, not the path it was opened by
    // (which may be a symlink or a private device node).
    let path = SUPPORTED
        .iter()
        .find(|&&(ma, mi, _)| ma == major && mi == minor)
        .map(|&(_, _, name)| name.to_string())
        .unwrap_or_else(|| probe.link.clone());
    pb::open_file::Kind::CharDevice(pb::CharDevice { path, major, minor })
}
