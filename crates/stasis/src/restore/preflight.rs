//! Checks before restore creates anything: the system is compatible, the pid is
//! free (or about to be: a zombie of the dumped process), the files exist.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use stasis_image::{pb, LoadedDump, LoadedTask};

use super::RestoreError;
use crate::proc::stat::parse_stat;

pub fn check_system(dump: &LoadedDump) -> Result<(), RestoreError> {
    let page_size = crate::sys::syscalls::page_size() as u32;
    if dump.inventory.page_size != page_size {
        return Err(RestoreError::Incompatible {
            what: format!(
                "page size {} in the image, {} here",
                dump.inventory.page_size, page_size
            ),
        });
    }
    Ok(())
}

/// "comm (state X)" of whatever holds `pid`, for error messages.
pub fn describe_pid(pid: i32) -> String {
    match std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|t| parse_stat(&t).ok())
    {
        Some(stat) => format!(
            "{} with parent pid {}, state {}",
            stat.comm, stat.ppid, stat.state
        ),
        None => "no process has it, but it is still the process group or session id of one: a zombie of the dumped tree may be waiting for its new parent to reap it".to_string(),
    }
}

/// Waits briefly for a pid held by a zombie or a dying process; refuses a live holder.
pub fn wait_for_free_pid(pid: i32) -> Result<(), RestoreError> {
    // Init may take a second or more to reap the zombies of a tree a dump killed.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let stat = match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => return Ok(()),
            Ok(text) => parse_stat(&text).ok(),
        };
        let dying = matches!(stat.as_ref().map(|s| s.state), Some('Z') | Some('X'));
        if !dying || Instant::now() > deadline {
            return Err(RestoreError::PidTaken {
                pid,
                holder: describe_pid(pid),
            });
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Every file the task needs must exist: its open files, mapped files, executable, cwd.
/// How the file now at `saved.path` differs from the one the description had open,
/// or None if it is the same file.
///
/// A different inode or device means another file took the path (replaced by a
/// rename, deleted and recreated, another filesystem mounted over it): always
/// refused, since the process would silently work on a file it never opened.
/// Size and modification time are compared only for descriptions opened
/// read-only, whose process may hold data it read or an offset that relies on
/// the contents: a description that can write is usually one of several writers
/// of a log or data file (e.g. a daemon's stdout appended to by a supervisor),
/// where growth between dump and restore is normal and not a reason to refuse.
pub fn file_changes(flags: u32, saved: &pb::RegularFile) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    // Images of stasis versions that did not record the identity have no inode.
    if saved.inode == 0 {
        return None;
    }
    let now = std::fs::metadata(&saved.path).ok()?;
    if now.dev() != saved.dev || now.ino() != saved.inode {
        return Some(format!(
            "it is a different file now (device {:#x} inode {}, at the dump device {:#x} inode {})",
            now.dev(),
            now.ino(),
            saved.dev,
            saved.inode
        ));
    }
    let read_only =
        flags & libc::O_ACCMODE as u32 == libc::O_RDONLY as u32 && flags & libc::O_PATH as u32 == 0;
    let mtime_ns = now.mtime() * 1_000_000_000 + now.mtime_nsec();
    if read_only && (now.size() != saved.size || mtime_ns != saved.mtime_ns) {
        return Some(format!(
            "it was modified since the dump (size {} bytes, at the dump {}; {})",
            now.size(),
            saved.size,
            if mtime_ns == saved.mtime_ns {
                "same modification time"
            } else {
                "modification time changed"
            }
        ));
    }
    None
}

/// Every file the task needs must exist: its open files, mapped files, executable, cwd.
/// An open regular file must also be the one that was open (see [`file_changes`]),
/// unless `allow_changed` says any file at the path will do.
pub fn check_files(
    dump: &LoadedDump,
    task: &LoadedTask,
    allow_changed: bool,
) -> Result<(), RestoreError> {
    let pid = task.task.pid;
    let comm = &task.task.comm;
    let check = |what: &str, path: &str| -> Result<(), RestoreError> {
        std::fs::symlink_metadata(path)
            .map(|_| ())
            .map_err(|source| RestoreError::MissingFile {
                pid,
                comm: comm.clone(),
                what: what.to_string(),
                path: PathBuf::from(path),
                source,
            })
    };
    for entry in &task.fds.fds {
        let Some(file) = dump.files.files.iter().find(|f| f.id == entry.file_id) else {
            continue;
        };
        let path = match &file.kind {
            Some(pb::open_file::Kind::Regular(r)) => r.path.clone(),
            Some(pb::open_file::Kind::Directory(d)) => d.path.clone(),
            Some(pb::open_file::Kind::CharDevice(c)) => c.path.clone(),
            // Files of restored tasks appear with them.
            Some(pb::open_file::Kind::Proc(p)) if p.pid == 0 => crate::files::procfs::full_path(p),
            Some(pb::open_file::Kind::Fifo(key)) => {
                match dump
                    .files
                    .fifos
                    .iter()
                    .find(|f| (f.dev, f.inode) == (key.dev, key.inode))
                {
                    Some(fifo) => fifo.path.clone(),
                    None => continue,
                }
            }
            Some(pb::open_file::Kind::Inotify(inotify)) => {
                for watch in &inotify.watches {
                    check(
                        &format!("fd {}: inotify watch {}", entry.fd, watch.wd),
                        &watch.path,
                    )?;
                }
                continue;
            }
            // Recreated from the image (or with their task): nothing needs to exist.
            Some(
                pb::open_file::Kind::Proc(_)
                | pb::open_file::Kind::Pipe(_)
                | pb::open_file::Kind::UnixSocket(_)
                | pb::open_file::Kind::Deleted(_)
                | pb::open_file::Kind::Memfd(_)
                | pb::open_file::Kind::Pidfd(_)
                | pb::open_file::Kind::Inet(_)
                | pb::open_file::Kind::Eventfd(_)
                | pb::open_file::Kind::Signalfd(_)
                | pb::open_file::Kind::Timerfd(_)
                | pb::open_file::Kind::Epoll(_),
            )
            | None => continue,
        };
        check(&format!("fd {}:", entry.fd), &path)?;
        if let (Some(pb::open_file::Kind::Regular(saved)), false) = (&file.kind, allow_changed) {
            if let Some(what) = file_changes(file.flags, saved) {
                return Err(RestoreError::ChangedFile {
                    pid,
                    comm: comm.clone(),
                    fd: entry.fd,
                    path: PathBuf::from(&path),
                    what,
                });
            }
        }
    }
    for vma in &task.mm.vmas {
        if vma.kind() == pb::VmaKind::File {
            check(
                &format!("mapping {:#x}-{:#x}:", vma.start, vma.end),
                &vma.path,
            )?;
        }
    }
    check("executable", &task.mm.exe_path)?;
    check("working directory", &task.task.cwd)?;
    check("root directory", &task.task.root)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn saved(path: &std::path::Path) -> pb::RegularFile {
        let m = std::fs::metadata(path).unwrap();
        pb::RegularFile {
            path: path.to_str().unwrap().to_string(),
            size: m.size(),
            dev: m.dev(),
            inode: m.ino(),
            mtime_ns: m.mtime() * 1_000_000_000 + m.mtime_nsec(),
            mode: m.mode(),
        }
    }

    #[test]
    fn tells_a_replaced_file_from_a_grown_one() {
        let dir = std::env::temp_dir().join(format!("stasis-preflight-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f");
        std::fs::write(&path, "one\n").unwrap();
        let before = saved(&path);
        let (rdonly, wronly_append) = (
            libc::O_RDONLY as u32,
            (libc::O_WRONLY | libc::O_APPEND) as u32,
        );
        assert_eq!(file_changes(rdonly, &before), None);

        // Grown in place: refused for a reader, accepted for a writer.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .and_then(|mut f| std::io::Write::write_all(&mut f, b"two\n"))
            .unwrap();
        assert!(file_changes(rdonly, &before).unwrap().contains("modified"));
        assert_eq!(file_changes(wronly_append, &before), None);
        let path_only = (libc::O_PATH | libc::O_RDONLY) as u32;
        assert_eq!(file_changes(path_only, &before), None);

        // Another file renamed over the path: refused for everyone.
        let other = dir.join("g");
        std::fs::write(&other, "one\n").unwrap();
        std::fs::rename(&other, &path).unwrap();
        assert!(file_changes(wronly_append, &before)
            .unwrap()
            .contains("different file"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
