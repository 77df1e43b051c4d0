//! memfd files (link "/memfd:NAME (deleted)"): name, content, size, mode and
//! seals are saved per inode; restore makes one new memfd per inode with the
//! same name and content, seals it, and reopens every description of it, so
//! descriptions that shared the memfd share the new one.
//!
//! The content goes into a raw image (memfd-<dev>-<ino>.img) for the reason
//! given in deleted.rs. Mappings of a memfd are the memory code's business
//! (mem/mod.rs still refuses them).

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;

use stasis_image::{pb, LoadedDump};

use super::{FdProbe, FileKind, Support};

const PREFIX: &str = "/memfd:";
const SUFFIX: &str = " (deleted)";

pub fn is_memfd(link: &str) -> bool {
    link.starts_with(PREFIX) && link.ends_with(SUFFIX)
}

/// The name given to memfd_create.
pub fn memfd_name(link: &str) -> &str {
    link.strip_prefix(PREFIX)
        .and_then(|rest| rest.strip_suffix(SUFFIX))
        .unwrap_or(link)
}

pub fn classify(link: &str) -> Support {
    // memfd_create refuses longer names (249 bytes plus the "memfd:" prefix).
    if memfd_name(link).len() > 249 {
        return Support::Unsupported {
            what: format!("memfd {link}"),
            why: "the memfd name is too long to recreate".to_string(),
        };
    }
    Support::Supported(FileKind::Memfd)
}

/// The inode record, and a new read-only description to copy the content
/// from (the task's own offset is not touched).
pub fn dump_inode(pid: i32, probe: &FdProbe) -> io::Result<(pb::Memfd, File)> {
    dump_inode_at(&format!("/proc/{pid}/fd/{}", probe.fd), &probe.link)
}

/// The same, for the memfd behind `source` (an fd or map_files link in /proc)
/// whose /proc link reads `link`.
pub fn dump_inode_at(source: &str, link: &str) -> io::Result<(pb::Memfd, File)> {
    let source = File::open(source)?;
    let stat = crate::sys::syscalls::fstat(source.as_fd())?;
    let seals = crate::sys::syscalls::seals(source.as_fd())?;
    let record = pb::Memfd {
        dev: stat.st_dev,
        inode: stat.st_ino,
        name: memfd_name(link).to_string(),
        size: stat.st_size as u64,
        mode: stat.st_mode,
        uid: stat.st_uid,
        gid: stat.st_gid,
        seals,
        content_image: stasis_image::memfd_content_image_name(stat.st_dev, stat.st_ino),
        // Filled in as the content is saved.
        extents: Vec::new(),
    };
    Ok((record, source))
}

fn pick(kind: &pb::open_file::Kind) -> Option<&pb::InodeRef> {
    match kind {
        pb::open_file::Kind::Memfd(r) => Some(r),
        _ => None,
    }
}

/// Creates the memfd `key` with its content, mode and seals, and opens every
/// description of it with its flags and offset.
pub fn restore(dump: &LoadedDump, key: &pb::InodeRef) -> io::Result<Vec<(u32, OwnedFd)>> {
    let file = recreate(dump, key)?;
    open_descriptions(dump, key, &file)
}

fn record_of<'a>(dump: &'a LoadedDump, key: &pb::InodeRef) -> io::Result<&'a pb::Memfd> {
    super::inode_record(&dump.files.memfds, key, |m| (m.dev, m.inode), "memfd")
}

fn context(name: &str, what: &str) -> impl Fn(io::Error) -> io::Error {
    super::inode_context(format!("memfd {name:?}"), what)
}

/// The new memfd with the saved name, content, owner, mode and seals.
pub fn recreate(dump: &LoadedDump, key: &pb::InodeRef) -> io::Result<File> {
    use crate::sys::syscalls;
    let record = record_of(dump, key)?;
    let name = &record.name;
    let context = |what: &str| context(name, what);
    // Always sealable: the saved seals are added at the end, and a memfd made
    // without MFD_ALLOW_SEALING shows exactly F_SEAL_SEAL, which seals it the
    // same way. MFD_EXEC keeps the mode ours to set (vm.memfd_noexec may
    // otherwise seal exec away before we chmod).
    let flags = libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING;
    let memfd = match syscalls::memfd_create(name, flags | libc::MFD_EXEC) {
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => syscalls::memfd_create(name, flags),
        other => other,
    }
    .map_err(context("memfd_create"))?;
    let file = File::from(memfd);
    super::content::restore(
        &dump.dir.join(&record.content_image),
        &record.extents,
        record.size,
        file.as_fd(),
    )
    .map_err(context("write content"))?;
    if let Err(e) = std::os::unix::fs::fchown(&file, Some(record.uid), Some(record.gid)) {
        tracing::warn!(name, uid = record.uid, gid = record.gid, %e, "cannot restore the owner of a memfd");
    }
    file.set_permissions(std::fs::Permissions::from_mode(record.mode & 0o7777))
        .map_err(context("chmod"))?;
    if record.seals != 0 {
        syscalls::add_seals(file.as_fd(), record.seals)
            .map_err(context(&format!("add seals {:#x}", record.seals)))?;
    }
    Ok(file)
}

/// Every description of memfd `key`, reopened from `file` (made by
/// [`recreate`]) with its flags and offset.
pub fn open_descriptions(
    dump: &LoadedDump,
    key: &pb::InodeRef,
    file: &File,
) -> io::Result<Vec<(u32, OwnedFd)>> {
    let record = record_of(dump, key)?;
    let context = |what: &str| context(&record.name, what);
    let mut opened = Vec::new();
    for description in super::descriptions_of(&dump.files, (key.dev, key.inode), pick) {
        let fd = super::reopen_description(file.as_fd(), description)
            .map_err(context(&format!("reopen file id {}", description.id)))?;
        opened.push((description.id, fd));
    }
    Ok(opened)
}
