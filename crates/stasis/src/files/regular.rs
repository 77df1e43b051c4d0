//! Regular files: reopened by path with the same flags and offset.

use stasis_image::pb;

use super::{FdProbe, FileKind, FileStat, Support};

pub fn classify(link: &str) -> Support {
    let unsupported = |why: &str| Support::Unsupported {
        what: format!("file {link}"),
        why: why.to_string(),
    };
    if !link.starts_with('/') {
        return unsupported("the file has no path stasis can reopen");
    }
    Support::Supported(FileKind::Regular)
}

pub fn dump(probe: &FdProbe, stat: &FileStat) -> pb::open_file::Kind {
    pb::open_file::Kind::Regular(pb::RegularFile {
        path: probe.link.clone(),
        size: stat.size,
        dev: stat.dev,
        inode: stat.ino,
        mtime_ns: stat.mtime_ns,
        mode: stat.mode,
    })
}
