//! The open file descriptions of a dump, created by stasis itself before any
//! task receives them: regular files, directories and devices are reopened by
//! path with their flags and offset; pipes are created with their capacity and
//! buffered bytes. Each task then takes copies with pidfd_getfd (build.rs), so a
//! description shared by several fds or processes is one description again.

use std::fs::{File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;

use stasis_image::{pb, LoadedDump};

use crate::files::{self, reopen_flags};
use crate::sys::syscalls;

pub struct FileTable {
    fds: Vec<(u32, OwnedFd)>,
}

impl FileTable {
    /// Creates every description of the dump. Errors name the file id and path.
    pub fn open_all(dump: &LoadedDump) -> io::Result<FileTable> {
        syscalls::raise_own_nofile_limit()?;
        let mut table = FileTable { fds: Vec::new() };
        let mut pipes_done: Vec<u64> = Vec::new();
        // FIFOs, deleted files and memfds are recreated once per inode, with
        // every description of it.
        let mut inodes_done: Vec<files::SharedInode> = Vec::new();
        for file in &dump.files.files {
            if let Some(inode) = files::SharedInode::of(file.kind.as_ref()) {
                if !inodes_done.contains(&inode) {
                    inodes_done.push(inode);
                    table.fds.extend(inode.restore(dump)?);
                }
                continue;
            }
            match &file.kind {
                Some(pb::open_file::Kind::Pipe(end)) => {
                    if pipes_done.contains(&end.pipe_id) {
                        continue;
                    }
                    pipes_done.push(end.pipe_id);
                    table.create_pipe(dump, end.pipe_id)?;
                }
                Some(kind) => {
                    let fd = open_path(file, kind)
                        .map_err(|e| io::Error::new(e.kind(), format!("file {}: {e}", file.id)))?;
                    table.fds.push((file.id, fd));
                }
                None => return Err(io::Error::other(format!("file {} has no kind", file.id))),
            }
        }
        Ok(table)
    }

    /// Our fd for a description, for pidfd_getfd.
    pub fn raw_fd(&self, file_id: u32) -> Option<i32> {
        self.fds
            .iter()
            .find(|(id, _)| *id == file_id)
            .map(|(_, fd)| fd.as_raw_fd())
    }

    /// Creates a pipe with its capacity and buffered bytes; its ends become the
    /// descriptions of the dump that name them. An end no process held is closed.
    fn create_pipe(&mut self, dump: &LoadedDump, pipe_id: u64) -> io::Result<()> {
        let pipe = dump
            .files
            .pipes
            .iter()
            .find(|p| p.pipe_id == pipe_id)
            .ok_or_else(|| io::Error::other(format!("pipe {pipe_id} is not in files.img")))?;
        let (read, write) = syscalls::pipe()?;
        syscalls::set_pipe_capacity(write.as_fd(), pipe.size).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("pipe {pipe_id}: capacity {}: {e}", pipe.size),
            )
        })?;
        File::from(write.try_clone()?).write_all(&pipe.data)?;
        let mut read = Some(read);
        let mut write = Some(write);
        for file in &dump.files.files {
            let Some(pb::open_file::Kind::Pipe(end)) = &file.kind else {
                continue;
            };
            if end.pipe_id != pipe_id {
                continue;
            }
            let fd = if end.write_end {
                write.take()
            } else {
                read.take()
            }
            .ok_or_else(|| {
                io::Error::other(format!(
                    "pipe {pipe_id}: several open descriptions of one end are not supported"
                ))
            })?;
            syscalls::set_status_flags(fd.as_fd(), (file.flags & libc::O_NONBLOCK as u32) as i32)?;
            self.fds.push((file.id, fd));
        }
        Ok(())
    }
}

fn open_path(file: &pb::OpenFile, kind: &pb::open_file::Kind) -> io::Result<OwnedFd> {
    let path = match kind {
        pb::open_file::Kind::Regular(r) => &r.path,
        pb::open_file::Kind::Directory(d) => &d.path,
        pb::open_file::Kind::CharDevice(c) => &c.path,
        pb::open_file::Kind::Pipe(_)
        | pb::open_file::Kind::Fifo(_)
        | pb::open_file::Kind::Deleted(_)
        | pb::open_file::Kind::Memfd(_) => {
            return Err(io::Error::other(format!(
                "file {} is not reopened by path alone",
                file.id
            )))
        }
    };
    let flags = reopen_flags(file.flags);
    let mut options = OpenOptions::new();
    match flags & libc::O_ACCMODE {
        libc::O_WRONLY => options.write(true),
        libc::O_RDWR => options.read(true).write(true),
        _ => options.read(true),
    };
    options.custom_flags(flags & !libc::O_ACCMODE);
    let mut opened = options
        .open(path)
        .map_err(|e| io::Error::new(e.kind(), format!("open {path}: {e}")))?;
    let seekable = matches!(
        kind,
        pb::open_file::Kind::Regular(_) | pb::open_file::Kind::Directory(_)
    );
    if seekable && file.flags & libc::O_PATH as u32 == 0 && file.position != 0 {
        opened.seek(SeekFrom::Start(file.position)).map_err(|e| {
            io::Error::new(e.kind(), format!("seek {path} to {}: {e}", file.position))
        })?;
    }
    Ok(OwnedFd::from(opened))
}
