//! SysV shared memory: creating a segment, reading and setting its owner and
//! mode, removing it, and attaching it to copy its content.

use std::io;

use super::check;

/// shmget(2): the segment's id.
pub fn shmget(key: i32, size: u64, flags: i32) -> io::Result<i32> {
    // SAFETY: shmget takes integers.
    check(unsafe { libc::shmget(key, size as usize, flags) } as libc::c_long).map(|id| id as i32)
}

/// Sets owner and permission bits (IPC_SET).
pub fn shm_set_owner(shmid: i32, uid: u32, gid: u32, mode: u32) -> io::Result<()> {
    // SAFETY: shmid_ds is plain old data; zeroed is a valid value.
    let mut ds: libc::shmid_ds = unsafe { std::mem::zeroed() };
    // SAFETY: `ds` is a valid out-pointer for IPC_STAT.
    check(unsafe { libc::shmctl(shmid, libc::IPC_STAT, &mut ds) } as libc::c_long)?;
    ds.shm_perm.uid = uid;
    ds.shm_perm.gid = gid;
    ds.shm_perm.mode = (mode & 0o777) as libc::c_ushort;
    // SAFETY: `ds` is a valid in-pointer for IPC_SET.
    check(unsafe { libc::shmctl(shmid, libc::IPC_SET, &mut ds) } as libc::c_long).map(|_| ())
}

/// (key, size) of an existing segment.
pub fn shm_key_and_size(shmid: i32) -> io::Result<(i32, u64)> {
    // SAFETY: shmid_ds is plain old data; zeroed is a valid value.
    let mut ds: libc::shmid_ds = unsafe { std::mem::zeroed() };
    // SAFETY: `ds` is a valid out-pointer for IPC_STAT.
    check(unsafe { libc::shmctl(shmid, libc::IPC_STAT, &mut ds) } as libc::c_long)?;
    Ok((ds.shm_perm.__key, ds.shm_segsz as u64))
}

/// IPC_RMID: the segment goes once nobody has it attached.
pub fn shm_remove(shmid: i32) -> io::Result<()> {
    // SAFETY: IPC_RMID takes no buffer.
    check(unsafe { libc::shmctl(shmid, libc::IPC_RMID, std::ptr::null_mut()) } as libc::c_long)
        .map(|_| ())
}

/// Runs `f` with the segment attached to us as a file (through
/// /proc/self/map_files), so its content can be written like a file's.
pub fn with_segment_file<T>(
    shmid: i32,
    size: u64,
    f: impl FnOnce(&std::fs::File) -> io::Result<T>,
) -> io::Result<T> {
    // SAFETY: shmat with a null address lets the kernel choose where; the
    // mapping is ours until shmdt below and nothing else uses it.
    let addr = unsafe { libc::shmat(shmid, std::ptr::null(), 0) };
    if addr as isize == -1 {
        return Err(io::Error::last_os_error());
    }
    let start = addr as usize;
    let page = super::syscalls::page_size() as u64;
    let end = start + (size.div_ceil(page) * page) as usize;
    let result = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(format!("/proc/self/map_files/{start:x}-{end:x}"))
        .and_then(|file| f(&file));
    // SAFETY: `addr` was returned by shmat above and is not used after this.
    unsafe { libc::shmdt(addr) };
    result
}
