//! ImageError: everything that can go wrong reading or writing a dump directory. Each variant
//! names the file (full path) and says what the user can do; frame and cross-reference
//! problems keep their precise cause in `source` / `problem`.

use std::io;
use std::path::PathBuf;

use crate::frame::FrameError;
use crate::verify::Inconsistency;

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        path: PathBuf,
        action: &'static str,
        source: io::Error,
    },
    #[error("dump directory {} does not exist", dir.display())]
    DirNotFound { dir: PathBuf },
    #[error("{} is not a directory; a dump is a directory of image files", path.display())]
    NotADirectory { path: PathBuf },
    #[error(
        "{}: not a finished dump: inventory.img missing; the dump was interrupted or this is \
         not a stasis image directory",
        dir.display()
    )]
    NoInventory { dir: PathBuf },
    #[error(
        "{} already holds a finished dump (inventory.img); choose another directory or \
         overwrite it with --force",
        dir.display()
    )]
    AlreadyHoldsDump { dir: PathBuf },
    #[error("image {}: {source}; {}", path.display(), source.advice())]
    BadFrame { path: PathBuf, source: FrameError },
    #[error(
        "image {} is listed in inventory.img but missing; the dump is incomplete, take a new one",
        path.display()
    )]
    ImageMissing { path: PathBuf },
    #[error(
        "image {} is truncated: {found} bytes, inventory.img records {expected}; the dump is \
         damaged, take a new one",
        path.display()
    )]
    Truncated {
        path: PathBuf,
        expected: u64,
        found: u64,
    },
    #[error(
        "image {} has {found} bytes, inventory.img records {expected}; it was changed after \
         the dump, take a new one",
        path.display()
    )]
    SizeMismatch {
        path: PathBuf,
        expected: u64,
        found: u64,
    },
    #[error(
        "image {} is corrupt: checksum mismatch (inventory.img records 0x{stored:08x}, file has \
         0x{computed:08x}); the dump is damaged, take a new one",
        path.display()
    )]
    ChecksumMismatch {
        path: PathBuf,
        stored: u32,
        computed: u32,
    },
    #[error(
        "image {} is inconsistent: {problem}; the dump is damaged or was written by a faulty \
         stasis, take a new one",
        path.display()
    )]
    Inconsistent {
        path: PathBuf,
        problem: Inconsistency,
    },
    #[error("invalid image file name {name:?}: it must be one plain file name inside the dump directory")]
    InvalidName { name: String },
    #[error("image {name} was written twice into the same dump")]
    DuplicateImage { name: String },
}

impl ImageError {
    pub(crate) fn io(path: impl Into<PathBuf>, action: &'static str, source: io::Error) -> Self {
        ImageError::Io {
            path: path.into(),
            action,
            source,
        }
    }
}
