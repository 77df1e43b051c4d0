//! SysV shared memory segments attached by the tree. Each segment is saved
//! once (key, id, size, owner, mode, whether IPC_RMID was done, content), and
//! recreated before the tasks with the same id (the kernel takes the next id
//! from /proc/sys/kernel/shm_next_id) and key; the tasks attach it again
//! with shmat at their addresses. A segment that still exists with the same
//! id, key and size (segments outlive the processes that the dump killed,
//! unless removed) is used again, its content put back as it was at dump. A
//! segment removed with IPC_RMID is removed again once every task is attached.

use std::fs::File;
use std::io;

use stasis_image::{pb, LoadedDump};

use crate::sys::ipc;

/// The segment's record (without its content) and a file to read the content
/// from (`source`: the map_files link of an attachment).
pub fn dump_segment(vma: &pb::Vma, source: &str) -> io::Result<(pb::SysvShm, File)> {
    let shmid = vma.inode as i32;
    if vma.file_offset != 0 {
        return Err(io::Error::other(format!(
            "SysV segment {shmid} is attached only in part (from offset {}); detach or attach it whole",
            vma.file_offset
        )));
    }
    let table = std::fs::read_to_string("/proc/sysvipc/shm")?;
    let row = table
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| f.get(1).and_then(|id| id.parse::<i32>().ok()) == Some(shmid))
        .ok_or_else(|| {
            io::Error::other(format!("SysV segment {shmid} is not in /proc/sysvipc/shm"))
        })?;
    let field = |i: usize| -> io::Result<i64> {
        row.get(i).and_then(|v| v.parse().ok()).ok_or_else(|| {
            io::Error::other(format!("unexpected /proc/sysvipc/shm row for {shmid}"))
        })
    };
    // key shmid perms size cpid lpid nattch uid gid cuid cgid ...
    let key = field(0)? as i32;
    let perms = u32::from_str_radix(row.get(2).copied().unwrap_or("0"), 8)
        .map_err(|_| io::Error::other("bad perms in /proc/sysvipc/shm"))?;
    let size = field(3)? as u64;
    let record = pb::SysvShm {
        name: format!("SYSV{:08x}", key as u32),
        key,
        shmid,
        size,
        mode: perms & 0o777,
        uid: field(7)? as u32,
        gid: field(8)? as u32,
        // SHM_DEST in the mode: IPC_RMID was done.
        removed: perms & 0o1000 != 0,
        content_image: stasis_image::sysv_shm_content_image_name(shmid, key),
        extents: Vec::new(),
    };
    let file = File::open(source)?;
    Ok((record, file))
}

/// Creates (or takes back) the segment with its id, key, size, owner and
/// content. Returns whether it was created (to be removed if the restore fails).
pub fn recreate(dump: &LoadedDump, segment: &pb::SysvShm) -> io::Result<bool> {
    let what = |e: io::Error| {
        io::Error::new(
            e.kind(),
            format!(
                "SysV segment {} (key {:#x}): {e}",
                segment.shmid, segment.key
            ),
        )
    };
    let reused =
        match ipc::shm_key_and_size(segment.shmid) {
            Ok((key, size)) if key == segment.key && size == segment.size => true,
            Ok(_) => return Err(what(io::Error::other(
                "another segment has this id now; remove it (ipcrm) or restore on another machine",
            ))),
            Err(_) => false,
        };
    if !reused {
        std::fs::write("/proc/sys/kernel/shm_next_id", segment.shmid.to_string()).map_err(|e| {
            what(io::Error::new(
                e.kind(),
                format!("setting shm_next_id: {e}"),
            ))
        })?;
        // A private segment (key 0) and a keyed one alike: the key is as it was.
        let created = ipc::shmget(
            segment.key,
            segment.size,
            libc::IPC_CREAT | libc::IPC_EXCL | 0o600,
        );
        let _ = std::fs::write("/proc/sys/kernel/shm_next_id", "-1");
        let id = created.map_err(|e| {
            what(if e.raw_os_error() == Some(libc::EEXIST) {
                io::Error::new(e.kind(), "a segment with this key exists already with another id; remove it (ipcrm) first")
            } else {
                e
            })
        })?;
        if id != segment.shmid {
            let _ = ipc::shm_remove(id);
            return Err(what(io::Error::other(format!("the kernel gave id {id}"))));
        }
    }
    ipc::with_segment_file(segment.shmid, segment.size, |file| {
        super::content::write_extents(
            &dump.dir.join(&segment.content_image),
            &segment.extents,
            file,
        )
    })
    .map_err(what)?;
    ipc::shm_set_owner(segment.shmid, segment.uid, segment.gid, segment.mode).map_err(what)?;
    Ok(!reused)
}
