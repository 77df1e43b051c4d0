//! Directories, opened O_RDONLY or O_PATH: reopened by path.

use stasis_image::pb;

use super::{FdProbe, FileKind, Support};

pub fn classify(link: &str) -> Support {
    if link.ends_with(" (deleted)") || !link.starts_with('/') {
        return Support::Unsupported {
            what: format!("directory {link}"),
            why: "the directory was removed while open".to_string(),
        };
    }
    if link.starts_with("/proc/") {
        return Support::Unsupported {
            what: format!("directory {link}"),
            why: "directories under /proc are not supported yet".to_string(),
        };
    }
    Support::Supported(FileKind::Directory)
}

pub fn dump(probe: &FdProbe) -> pb::open_file::Kind {
    pb::open_file::Kind::Directory(pb::Directory {
        path: probe.link.clone(),
    })
}
