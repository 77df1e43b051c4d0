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
pub fn check_files(dump: &LoadedDump, task: &LoadedTask) -> Result<(), RestoreError> {
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
            Some(pb::open_file::Kind::Regular(r)) => &r.path,
            Some(pb::open_file::Kind::Directory(d)) => &d.path,
            Some(pb::open_file::Kind::CharDevice(c)) => &c.path,
            Some(pb::open_file::Kind::Fifo(key)) => {
                match dump
                    .files
                    .fifos
                    .iter()
                    .find(|f| (f.dev, f.inode) == (key.dev, key.inode))
                {
                    Some(fifo) => &fifo.path,
                    None => continue,
                }
            }
            // Recreated from the image: nothing needs to exist.
            Some(
                pb::open_file::Kind::Pipe(_)
                | pb::open_file::Kind::Deleted(_)
                | pb::open_file::Kind::Memfd(_),
            )
            | None => continue,
        };
        check(&format!("fd {}:", entry.fd), path)?;
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
