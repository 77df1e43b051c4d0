//! Deleted regular files: files unlinked while open, O_TMPFILE files included
//! (link "/dir/name (deleted)", "/tmp/#1234 (deleted)"). The content is saved
//! per inode at dump time and restored as a new unlinked file in the same
//! directory; every description of the old inode reopens the one new inode, so
//! writes through one fd are seen through the others, as before.
//!
//! The content goes into a raw image of its own (deleted-<dev>-<ino>.img), not
//! into files.img: files.img is read and decoded whole before restore, and a
//! deleted log or database can be gigabytes. A raw image is streamed, holds
//! only the file's data runs (content.rs), and is checksummed by the inventory
//! like the page images (at load, before anything is created).

use std::fs::{File, OpenOptions};
use std::io::{self, Seek, SeekFrom};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use stasis_image::{pb, LoadedDump};

use super::{FdProbe, FileKind, Support};

const DELETED: &str = " (deleted)";

pub fn is_deleted(link: &str) -> bool {
    link.ends_with(DELETED)
}

pub fn classify(link: &str) -> Support {
    if !link.starts_with('/') {
        return Support::Unsupported {
            what: format!("file {link}"),
            why: "the deleted file has no path stasis can recreate it near".to_string(),
        };
    }
    Support::Supported(FileKind::DeletedFile)
}

/// The path the file had: the link without " (deleted)".
pub fn saved_path(link: &str) -> &str {
    link.strip_suffix(DELETED).unwrap_or(link)
}

/// The inode record, and a new read-only description of the file to copy its
/// content from (opened through /proc, so the task's offset is not touched and
/// a write-only fd can still be read).
pub fn dump_inode(pid: i32, probe: &FdProbe) -> io::Result<(pb::DeletedFile, File)> {
    dump_inode_at(&format!("/proc/{pid}/fd/{}", probe.fd), &probe.link)
}

/// The same, for the file behind `source` (an fd or map_files link in /proc)
/// whose /proc link reads `link`.
pub fn dump_inode_at(source: &str, link: &str) -> io::Result<(pb::DeletedFile, File)> {
    let source = File::open(source)?;
    let stat = crate::sys::syscalls::fstat(source.as_fd())?;
    let record = pb::DeletedFile {
        dev: stat.st_dev,
        inode: stat.st_ino,
        path: saved_path(link).to_string(),
        size: stat.st_size as u64,
        mode: stat.st_mode,
        uid: stat.st_uid,
        gid: stat.st_gid,
        content_image: stasis_image::deleted_content_image_name(stat.st_dev, stat.st_ino),
        // Filled in as the content is saved.
        extents: Vec::new(),
    };
    Ok((record, source))
}

fn pick(kind: &pb::open_file::Kind) -> Option<&pb::InodeRef> {
    match kind {
        pb::open_file::Kind::Deleted(r) => Some(r),
        _ => None,
    }
}

/// Recreates the inode `key` as an unlinked file with its content, owner and
/// mode (see [`recreate`]), and opens every description of it with its flags
/// and offset.
pub fn restore(dump: &LoadedDump, key: &pb::InodeRef) -> io::Result<Vec<(u32, OwnedFd)>> {
    let file = recreate(dump, key)?;
    open_descriptions(dump, key, file)
}

fn record_of<'a>(dump: &'a LoadedDump, key: &pb::InodeRef) -> io::Result<&'a pb::DeletedFile> {
    super::inode_record(
        &dump.files.deleted_files,
        key,
        |d| (d.dev, d.inode),
        "deleted file",
    )
}

fn context(path: &str, what: &str) -> impl Fn(io::Error) -> io::Error {
    super::inode_context(format!("deleted file {path}"), what)
}

/// The new unlinked file with the saved content, owner and mode. When a
/// description was opened with O_TMPFILE, the file is created with its flags
/// and becomes that description (see [`open_descriptions`]).
pub fn recreate(dump: &LoadedDump, key: &pb::InodeRef) -> io::Result<File> {
    let record = record_of(dump, key)?;
    let path = &record.path;
    let context = |what: &str| context(path, what);
    // A description opened with O_TMPFILE shows it in its flags (F_GETFL); only
    // a file created with O_TMPFILE has them, so that one becomes the new file.
    let tmpfile_description = super::descriptions_of(&dump.files, (key.dev, key.inode), pick)
        .find(|d| d.flags as i32 & libc::O_TMPFILE == libc::O_TMPFILE);
    let file = create_unlinked(
        path,
        record.mode & 0o7777,
        tmpfile_description.map(|d| d.flags as i32),
    )
    .map_err(context("create"))?;
    super::content::restore(
        &dump.dir.join(&record.content_image),
        &record.extents,
        record.size,
        file.as_fd(),
    )
    .map_err(context("write content"))?;
    if let Err(e) = std::os::unix::fs::fchown(&file, Some(record.uid), Some(record.gid)) {
        tracing::warn!(path, uid = record.uid, gid = record.gid, %e, "cannot restore the owner of a deleted file");
    }
    file.set_permissions(std::fs::Permissions::from_mode(record.mode & 0o7777))
        .map_err(context("chmod"))?;
    Ok(file)
}

/// Every description of inode `key`, reopened from `file` (made by
/// [`recreate`]) with its flags and offset.
pub fn open_descriptions(
    dump: &LoadedDump,
    key: &pb::InodeRef,
    file: File,
) -> io::Result<Vec<(u32, OwnedFd)>> {
    let record = record_of(dump, key)?;
    let context = |what: &str| context(&record.path, what);
    let tmpfile_description = super::descriptions_of(&dump.files, (key.dev, key.inode), pick)
        .find(|d| d.flags as i32 & libc::O_TMPFILE == libc::O_TMPFILE);
    let mut file = file;
    let mut opened = Vec::new();
    for description in super::descriptions_of(&dump.files, (key.dev, key.inode), pick) {
        if tmpfile_description.is_some_and(|d| d.id == description.id) {
            continue;
        }
        let fd = super::reopen_description(file.as_fd(), description)
            .map_err(context(&format!("reopen file id {}", description.id)))?;
        opened.push((description.id, fd));
    }
    if let Some(description) = tmpfile_description {
        file.seek(SeekFrom::Start(description.position))
            .map_err(context(&format!("seek to {}", description.position)))?;
        opened.push((description.id, OwnedFd::from(file)));
    }
    Ok(opened)
}

/// A new file with no name, in the directory `path` was in if it still exists
/// (so it lands on the same filesystem), else in /tmp. O_TMPFILE where the
/// filesystem supports it, else a temporary name unlinked at once.
/// `tmpfile_flags`: the flags of the O_TMPFILE description the new file is to
/// be (its access mode and status flags are kept), or None for O_RDWR.
fn create_unlinked(path: &str, mode: u32, tmpfile_flags: Option<i32>) -> io::Result<File> {
    let dir = Path::new(path)
        .parent()
        .filter(|dir| dir.is_dir())
        .unwrap_or(Path::new("/tmp"));
    let (write_only, status_flags) = match tmpfile_flags {
        Some(flags) => (
            flags & libc::O_ACCMODE == libc::O_WRONLY,
            super::reopen_flags(flags as u32) & !libc::O_ACCMODE & !libc::O_TMPFILE,
        ),
        None => (false, 0),
    };
    let tmpfile = OpenOptions::new()
        .read(!write_only)
        .write(true)
        .mode(mode)
        .custom_flags(libc::O_TMPFILE | libc::O_CLOEXEC | status_flags)
        .open(dir);
    match tmpfile {
        Ok(file) => return Ok(file),
        Err(e)
            if e.raw_os_error() == Some(libc::EOPNOTSUPP)
                || e.raw_os_error() == Some(libc::EISDIR) => {}
        Err(e) => {
            return Err(io::Error::new(
                e.kind(),
                format!("O_TMPFILE in {}: {e}", dir.display()),
            ))
        }
    }
    for attempt in 0..100 {
        let name = dir.join(format!(
            ".stasis-restore-{}-{attempt}",
            crate::sys::syscalls::getpid()
        ));
        match OpenOptions::new()
            .read(!write_only)
            .write(true)
            .create_new(true)
            .mode(mode)
            .custom_flags(libc::O_CLOEXEC | status_flags)
            .open(&name)
        {
            Ok(file) => {
                std::fs::remove_file(&name)?;
                return Ok(file);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("create {}: {e}", name.display()),
                ))
            }
        }
    }
    Err(io::Error::other(format!(
        "no free temporary name in {}",
        dir.display()
    )))
}
