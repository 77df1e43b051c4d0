//! Replacing the stub's address space with the saved one, from inside the stub:
//! a scratch page to run syscalls from, unmap everything of the stub, move the
//! vdso/vvar to their saved addresses, map every saved VMA, read the pages in
//! with preadv straight from the pages image, then set final protections.

use std::collections::HashMap;
use std::io;

use super::files::FileTable;

use stasis_image::{pb, LoadedTask};

use crate::inject::{self, u64s, Injector};
use crate::mem::is_mapped_by_restore;
use crate::proc::maps::{parse_maps, MapsEntry};
use crate::sys::remote::SYSCALL_INSN;

/// Size of the scratch mapping: one page of code, the rest for arguments.
pub const SCRATCH_LEN: u64 = 128 * 1024;
/// Largest piece of a page run read by one iovec (below the kernel's MAX_RW_COUNT).
const MAX_IOV_BYTES: u64 = 1 << 30;
const MAX_IOVECS: usize = 1024;
/// Runs of at least this many bytes are populated before they are read into.
const POPULATE_MIN_BYTES: u64 = 256 * 1024;
const MAP_FIXED_NOREPLACE: u64 = 0x100000;

fn overlaps(a_start: u64, a_end: u64, b_start: u64, b_end: u64) -> bool {
    a_start < b_end && b_start < a_end
}

/// Finds `len` bytes free both in the stub and in the saved layout.
pub fn find_free_range(
    stub: &[MapsEntry],
    saved: &[pb::Vma],
    len: u64,
    avoid: &[(u64, u64)],
) -> Option<u64> {
    // A guard of 1 MiB on each side keeps clear of stacks that grow down.
    const GUARD: u64 = 1 << 20;
    let mut candidate: u64 = 0x1_0000_0000;
    while candidate < 0x7000_0000_0000 {
        let (lo, hi) = (candidate - GUARD, candidate + len + GUARD);
        let busy = stub.iter().any(|m| overlaps(lo, hi, m.start, m.end))
            || saved.iter().any(|v| overlaps(lo, hi, v.start, v.end))
            || avoid.iter().any(|&(s, e)| overlaps(lo, hi, s, e));
        if !busy {
            return Some(candidate);
        }
        candidate *= 2;
    }
    None
}

pub fn stub_maps(pid: i32) -> io::Result<Vec<MapsEntry>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/maps"))?;
    parse_maps(&text).map_err(|e| io::Error::other(e.to_string()))
}

/// Maps the scratch area and moves syscall execution there.
pub fn install_scratch(inj: &mut Injector, addr: u64) -> io::Result<()> {
    let got = inj.syscall(
        inject::SYS_mmap,
        &[
            addr,
            SCRATCH_LEN,
            (libc::PROT_READ | libc::PROT_WRITE | libc::PROT_EXEC) as u64,
            (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS) as u64 | MAP_FIXED_NOREPLACE,
            u64::MAX,
            0,
        ],
    )?;
    if got != addr {
        return Err(io::Error::other(format!(
            "scratch mapped at {got:#x}, wanted {addr:#x}"
        )));
    }
    let mut code = SYSCALL_INSN.to_vec();
    code.push(0xcc); // int3: never reached, we single-step
    inj.remote.write_mem(addr, &code)?;
    let page = crate::sys::syscalls::page_size() as u64;
    // Layout: [code page][arguments ...][stack for the syscalls, 512 bytes].
    inj.relocate(
        addr,
        addr + SCRATCH_LEN - 256,
        addr + page,
        SCRATCH_LEN - page - 512,
    );
    Ok(())
}

fn is_special(path: &str) -> bool {
    matches!(path, "[vdso]" | "[vvar]" | "[vvar_vclock]" | "[vsyscall]")
}

/// Unmaps every mapping of the stub but the scratch area, the kernel's special
/// ones, and the ranges in `keep` (VMAs inherited from a restored parent).
pub fn unmap_stub(
    inj: &mut Injector,
    stub: &[MapsEntry],
    scratch: u64,
    keep: &[(u64, u64)],
) -> io::Result<()> {
    for m in stub {
        if is_special(&m.path) || m.start == scratch {
            continue;
        }
        // The parts of m not covered by a kept range.
        let mut pieces = vec![(m.start, m.end)];
        for &(ks, ke) in keep {
            pieces = pieces
                .into_iter()
                .flat_map(|(s, e)| {
                    if ke <= s || ks >= e {
                        vec![(s, e)]
                    } else {
                        [(s, ks.max(s)), (ke.min(e), e)]
                            .into_iter()
                            .filter(|(a, b)| a < b)
                            .collect()
                    }
                })
                .collect();
        }
        for (start, end) in pieces {
            inj.syscall(inject::SYS_munmap, &[start, end - start])?;
        }
    }
    Ok(())
}

/// Empties the pages of inherited VMAs that the parent holds and this task did
/// not: reading them must give zeros, as it did in the dumped task.
pub fn discard_pages(inj: &mut Injector, task: &LoadedTask, page_size: u64) -> io::Result<()> {
    for run in &task.mm.discard {
        inj.syscall(
            libc::SYS_madvise,
            &[
                run.address,
                run.nr_pages * page_size,
                libc::MADV_DONTNEED as u64,
            ],
        )?;
    }
    Ok(())
}

/// Moves [vvar], [vvar_vclock] and [vdso] to where they were in the dumped task.
pub fn move_vdso(
    inj: &mut Injector,
    stub: &[MapsEntry],
    saved: &[pb::Vma],
    scratch: u64,
) -> io::Result<()> {
    let kinds = [
        ("[vdso]", pb::VmaKind::Vdso),
        ("[vvar]", pb::VmaKind::Vvar),
        ("[vvar_vclock]", pb::VmaKind::VvarVclock),
    ];
    let mut moves = Vec::new();
    for (name, kind) in kinds {
        let current = stub.iter().find(|m| m.path == name);
        let wanted = saved.iter().find(|v| v.kind() == kind);
        match (current, wanted) {
            (Some(c), Some(w)) => {
                if c.len() != w.end - w.start {
                    return Err(io::Error::other(format!(
                        "{name} is {} bytes here but {} bytes in the image; restore needs the same kernel",
                        c.len(),
                        w.end - w.start
                    )));
                }
                moves.push((c.start, w.start, c.len()));
            }
            (Some(c), None) => {
                inj.syscall(inject::SYS_munmap, &[c.start, c.len()])?;
            }
            (None, Some(_)) => {
                return Err(io::Error::other(format!(
                    "this kernel gives no {name} mapping but the image has one"
                )))
            }
            (None, None) => {}
        }
    }
    if moves.iter().all(|&(from, to, _)| from == to) {
        return Ok(());
    }
    // Two hops through a free area: MREMAP_FIXED would silently unmap anything at
    // the destination, including another special mapping still to be moved.
    let total: u64 = moves.iter().map(|m| m.2).sum();
    let temp = find_free_range(stub, saved, total, &[(scratch, scratch + SCRATCH_LEN)])
        .ok_or_else(|| io::Error::other("no free address range to move the vdso through"))?;
    let flags = (libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED) as u64;
    let mut parked = Vec::new();
    let mut at = temp;
    for &(from, to, len) in &moves {
        inj.syscall(inject::SYS_mremap, &[from, len, len, flags, at])?;
        parked.push((at, to, len));
        at += len;
    }
    for (from, to, len) in parked {
        inj.syscall(inject::SYS_mremap, &[from, len, len, flags, to])?;
    }
    Ok(())
}

/// Whether restore must write pages into this VMA (so it maps it writable first).
fn needs_pages(task: &LoadedTask, vma: &pb::Vma, page_size: u64) -> bool {
    task.mm
        .pages
        .iter()
        .any(|run| run.address < vma.end && run.address + run.nr_pages * page_size > vma.start)
}

/// Shared anonymous memory objects already recreated, by their inode at dump
/// time: (inode, pid, start, end) of a mapping of each, so that another process
/// that shared the object maps the same one again (through map_files).
#[derive(Default)]
pub struct SharedAnonymous {
    objects: Vec<(u64, i32, u64, u64)>,
}

/// Attaches SysV segment `vma.inode` (its shmid) at the VMA's address, with
/// shmat in the task; the segment was made before the tasks (files/sysv_shm.rs).
fn attach_segment(inj: &mut Injector, vma: &pb::Vma) -> io::Result<()> {
    let mut flags = 0u64;
    if vma.prot & libc::PROT_WRITE as u32 == 0 {
        flags |= libc::SHM_RDONLY as u64;
    }
    if vma.prot & libc::PROT_EXEC as u32 != 0 {
        flags |= libc::SHM_EXEC as u64;
    }
    let got = inj
        .syscall(libc::SYS_shmat, &[vma.inode, vma.start, flags])
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "attaching SysV segment {} at {:#x}: {e}",
                    vma.inode, vma.start
                ),
            )
        })?;
    if got != vma.start {
        return Err(io::Error::other(format!(
            "SysV segment {} attached at {got:#x}, not {:#x}",
            vma.inode, vma.start
        )));
    }
    if vma.prot & libc::PROT_READ as u32 == 0 {
        inj.syscall(
            inject::SYS_mprotect,
            &[vma.start, vma.end - vma.start, vma.prot as u64],
        )?;
    }
    Ok(())
}

/// Maps every saved VMA; returns the ones whose protection must be set afterwards.
pub fn map_vmas(
    inj: &mut Injector,
    task: &LoadedTask,
    page_size: u64,
    shared: &mut SharedAnonymous,
    files: &FileTable,
) -> io::Result<Vec<(u64, u64, u32)>> {
    let mut file_fds: HashMap<(String, bool), i32> = HashMap::new();
    let mut fix_prot = Vec::new();
    let result = (|| -> io::Result<()> {
        for vma in &task.mm.vmas {
            if !is_mapped_by_restore(vma) {
                continue;
            }
            if vma.kind() == pb::VmaKind::SysvShm {
                attach_segment(inj, vma)?;
                continue;
            }
            if vma.inherited {
                // Already there, from the parent; its protection may differ.
                let len = vma.end - vma.start;
                if needs_pages(task, vma, page_size) {
                    let rw = (libc::PROT_READ | libc::PROT_WRITE) as u64;
                    inj.syscall(inject::SYS_mprotect, &[vma.start, len, rw])?;
                }
                fix_prot.push((vma.start, len, vma.prot));
                continue;
            }
            let len = vma.end - vma.start;
            let mut prot = vma.prot;
            if needs_pages(task, vma, page_size) {
                let rw = (libc::PROT_READ | libc::PROT_WRITE) as u32;
                if prot & rw != rw {
                    prot |= rw;
                    fix_prot.push((vma.start, len, vma.prot));
                }
            }
            let mut flags = vma.map_flags as u64 | MAP_FIXED_NOREPLACE;
            let mut shared_fd = None;
            if vma.kind() == pb::VmaKind::SharedAnonymous {
                match shared.objects.iter().find(|o| o.0 == vma.inode) {
                    Some(&(_, owner, start, end)) => {
                        let path = format!("/proc/{owner}/map_files/{start:x}-{end:x}");
                        let fd =
                            inj.open(&path, libc::O_RDWR | libc::O_CLOEXEC, 0)
                                .map_err(|e| {
                                    io::Error::new(
                                        e.kind(),
                                        format!("sharing memory with pid {owner} ({path}): {e}"),
                                    )
                                })?;
                        flags &= !(libc::MAP_ANONYMOUS as u64);
                        shared_fd = Some(fd);
                    }
                    None => shared
                        .objects
                        .push((vma.inode, inj.remote.tid(), vma.start, vma.end)),
                }
            }
            let fd = if let Some(fd) = shared_fd {
                fd
            } else if matches!(
                vma.kind(),
                pb::VmaKind::File | pb::VmaKind::DeletedFile | pb::VmaKind::Memfd
            ) {
                // A deleted file or memfd was recreated by stasis before the
                // tasks: the task opens stasis' fd of it through /proc.
                let path = if vma.kind() == pb::VmaKind::File {
                    vma.path.clone()
                } else {
                    let ours = files
                        .mapped_inode_fd(vma.kind(), vma.dev, vma.inode)
                        .ok_or_else(|| {
                            io::Error::other(format!(
                                "mapping {:#x}-{:#x}: {} was not recreated",
                                vma.start, vma.end, vma.path
                            ))
                        })?;
                    format!("/proc/{}/fd/{ours}", crate::sys::syscalls::getpid())
                };
                let shared = vma.map_flags & libc::MAP_SHARED as u32 != 0;
                let writable = shared
                    && (vma.prot & libc::PROT_WRITE as u32 != 0
                        || vma.vm_flags.split_whitespace().any(|f| f == "mw"));
                let key = (path.clone(), writable);
                match file_fds.get(&key) {
                    Some(&fd) => fd,
                    None => {
                        let mode = if writable {
                            libc::O_RDWR
                        } else {
                            libc::O_RDONLY
                        };
                        let fd = inj.open(&path, mode | libc::O_CLOEXEC, 0).map_err(|e| {
                            io::Error::new(e.kind(), format!("opening {}: {e}", vma.path))
                        })?;
                        file_fds.insert(key, fd);
                        fd
                    }
                }
            } else {
                -1
            };
            let got = inj
                .syscall(
                    inject::SYS_mmap,
                    &[
                        vma.start,
                        len,
                        prot as u64,
                        flags,
                        fd as i64 as u64,
                        vma.file_offset,
                    ],
                )
                .map_err(|e| {
                    io::Error::new(
                        e.kind(),
                        format!("mapping {:#x}-{:#x} {}: {e}", vma.start, vma.end, vma.name),
                    )
                })?;
            if let Some(fd) = shared_fd {
                inj.close(fd)?;
            }
            if got != vma.start {
                return Err(io::Error::other(format!(
                    "mapping {:#x}-{:#x} landed at {got:#x}",
                    vma.start, vma.end
                )));
            }
        }
        Ok(())
    })();
    for (_, fd) in file_fds {
        let _ = inj.close(fd);
    }
    result.map(|_| fix_prot)
}

/// Reads every saved page from the pages image into place with injected preadv.
pub fn fill_pages(inj: &mut Injector, task: &LoadedTask, page_size: u64) -> io::Result<u64> {
    if task.mm.pages.is_empty() {
        return Ok(0);
    }
    let path = task.pages_path.to_string_lossy().into_owned();
    let fd = inj.open(&path, libc::O_RDONLY | libc::O_CLOEXEC, 0)?;
    let mut pieces: Vec<(u64, u64)> = Vec::new();
    for run in &task.mm.pages {
        let mut addr = run.address;
        let mut left = run.nr_pages * page_size;
        while left > 0 {
            let n = left.min(MAX_IOV_BYTES);
            pieces.push((addr, n));
            addr += n;
            left -= n;
        }
    }
    let mut file_offset = 0u64;
    let result = (|| -> io::Result<()> {
        // Allocating the pages in one go is much cheaper than taking a page
        // fault for each of them inside preadv. Small pieces are not worth a call.
        const MADV_POPULATE_WRITE: u64 = 23;
        for &(addr, len) in pieces.iter().filter(|p| p.1 >= POPULATE_MIN_BYTES) {
            inj.syscall(libc::SYS_madvise, &[addr, len, MADV_POPULATE_WRITE])?;
        }
        for batch in pieces.chunks(MAX_IOVECS) {
            let mut batch: Vec<(u64, u64)> = batch.to_vec();
            while !batch.is_empty() {
                inj.reset();
                let iov: Vec<u64> = batch.iter().flat_map(|&(a, l)| [a, l]).collect();
                let iov_addr = inj.put(&u64s(&iov))?;
                let want: u64 = batch.iter().map(|p| p.1).sum();
                let got = inj.syscall(
                    inject::SYS_preadv,
                    &[fd as u64, iov_addr, batch.len() as u64, file_offset, 0],
                )?;
                if got == 0 {
                    return Err(io::Error::other(format!(
                        "pages image ends at offset {file_offset}, {want} more bytes expected"
                    )));
                }
                file_offset += got;
                // Drop what was read and retry the rest (short reads are legal).
                let mut done = got;
                while done > 0 {
                    let first = &mut batch[0];
                    if first.1 <= done {
                        done -= first.1;
                        batch.remove(0);
                    } else {
                        first.0 += done;
                        first.1 -= done;
                        done = 0;
                    }
                }
            }
        }
        Ok(())
    })();
    let _ = inj.close(fd);
    result.map(|_| file_offset)
}

/// Sets the final protection of VMAs that were mapped writable to receive pages.
pub fn fix_protections(inj: &mut Injector, fixes: &[(u64, u64, u32)]) -> io::Result<()> {
    for &(start, len, prot) in fixes {
        inj.syscall(inject::SYS_mprotect, &[start, len, prot as u64])?;
    }
    Ok(())
}
