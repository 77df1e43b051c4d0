//! The content of files that have no name to reopen (deleted files, memfds):
//! saved at dump time into a raw image and written back into the new inode at
//! restore. Only the runs that hold data are saved (SEEK_DATA/SEEK_HOLE): a
//! memfd ftruncate'd to a gigabyte and barely written costs what was written.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::FileExt;
use std::path::Path;

use stasis_image::pb;

use crate::sys::syscalls;

const CHUNK: usize = 1 << 20;

/// Copies the data runs of `source` (a description of our own; its offset
/// moves) below `size` into `out`, one after another, and returns them.
pub fn save(source: &File, size: u64, out: &mut impl Write) -> io::Result<Vec<pb::Extent>> {
    let mut extents = Vec::new();
    let mut buf = vec![0u8; CHUNK.min(size as usize).max(1)];
    let mut at = 0u64;
    while at < size {
        let Some(start) = syscalls::seek_data_or_hole(source.as_fd(), at, libc::SEEK_DATA)? else {
            break;
        };
        if start >= size {
            break;
        }
        let end = syscalls::seek_data_or_hole(source.as_fd(), start, libc::SEEK_HOLE)?
            .unwrap_or(size)
            .min(size);
        let mut pos = start;
        while pos < end {
            let want = buf.len().min((end - pos) as usize);
            let n = source.read_at(&mut buf[..want], pos)?;
            if n == 0 {
                return Err(io::Error::other(format!(
                    "the file ended at {pos} bytes, before its size {size}"
                )));
            }
            out.write_all(&buf[..n])?;
            pos += n as u64;
        }
        extents.push(pb::Extent {
            offset: start,
            length: end - start,
        });
        at = end;
    }
    Ok(extents)
}

/// Writes the saved runs from `image` into the file behind `target` and sets
/// its size. Writes go through a description of our own, opened write-only,
/// so that the target's O_APPEND or offset do not matter.
pub fn restore(
    image: &Path,
    extents: &[pb::Extent],
    size: u64,
    target: BorrowedFd<'_>,
) -> io::Result<()> {
    let writer = super::reopen_inode(target, libc::O_WRONLY)?;
    write_extents(image, extents, &writer)?;
    writer.set_len(size)
}

/// Writes the data runs of content image `image` into `writer` at their offsets.
pub fn write_extents(image: &Path, extents: &[pb::Extent], writer: &File) -> io::Result<()> {
    let mut image = File::open(image)
        .map_err(|e| io::Error::new(e.kind(), format!("open {}: {e}", image.display())))?;
    let mut buf = vec![0u8; CHUNK];
    for extent in extents {
        let mut pos = extent.offset;
        let end = extent.offset + extent.length;
        while pos < end {
            let want = buf.len().min((end - pos) as usize);
            image.read_exact(&mut buf[..want])?;
            writer.write_all_at(&buf[..want], pos)?;
            pos += want as u64;
        }
    }
    Ok(())
}
