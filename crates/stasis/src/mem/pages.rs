//! Saving pages: the pagemap decides which pages hold data, process_vm_readv
//! copies them in large batches (through /proc/<pid>/mem where the mapping is
//! not readable), and they are appended to the raw pages image.

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;

use stasis_image::pb;

use super::{PagePolicy, VmaPlan};
use crate::proc::pagemap;
use crate::sys::syscalls::process_vm_readv;

/// Bytes copied per batch: big enough to amortise syscalls, small enough to stay in cache.
const BATCH_BYTES: usize = 4 << 20;
/// Pagemap entries read per pread.
const PAGEMAP_CHUNK: u64 = 32 * 1024;
/// The kernel's limit on iovecs per call.
const MAX_IOVECS: usize = 1024;

#[derive(Debug, Default, Clone, Copy)]
pub struct PageStats {
    pub scanned: u64,
    pub written: u64,
    pub skipped: u64,
}

/// Result of saving a task's memory.
pub struct SavedPages {
    pub runs: Vec<pb::PageRun>,
    pub stats: PageStats,
    pub bytes: u64,
    pub crc32c: u32,
}

/// Finds the runs of pages that hold data, VMA by VMA.
pub fn scan(
    pid: i32,
    plans: &[VmaPlan],
    page_size: u64,
) -> io::Result<(Vec<(pb::PageRun, bool)>, PageStats)> {
    let pagemap_file = File::open(format!("/proc/{pid}/pagemap"))?;
    let mut runs: Vec<(pb::PageRun, bool)> = Vec::new();
    let mut stats = PageStats::default();
    let mut buf = vec![0u8; (PAGEMAP_CHUNK * 8) as usize];
    for plan in plans {
        let keep: fn(u64) -> bool = match plan.pages {
            PagePolicy::Nothing => continue,
            PagePolicy::Private => pagemap::private_page_has_data,
            PagePolicy::Shared => pagemap::shared_page_has_data,
        };
        let readable = plan.vma.prot & libc::PROT_READ as u32 != 0;
        let first = plan.vma.start / page_size;
        let last = plan.vma.end / page_size;
        let mut page = first;
        let mut open_run: Option<pb::PageRun> = None;
        while page < last {
            let count = (last - page).min(PAGEMAP_CHUNK);
            let bytes = &mut buf[..(count * 8) as usize];
            pagemap_file.read_exact_at(bytes, page * 8)?;
            for (i, entry) in pagemap::decode(bytes).enumerate() {
                stats.scanned += 1;
                let addr = (page + i as u64) * page_size;
                if keep(entry) {
                    match open_run.as_mut() {
                        Some(run) => run.nr_pages += 1,
                        None => {
                            open_run = Some(pb::PageRun {
                                address: addr,
                                nr_pages: 1,
                            })
                        }
                    }
                } else {
                    stats.skipped += 1;
                    if let Some(run) = open_run.take() {
                        runs.push((run, readable));
                    }
                }
            }
            page += count;
        }
        if let Some(run) = open_run.take() {
            runs.push((run, readable));
        }
    }
    Ok((runs, stats))
}

/// Copies the pages of `runs` from the task into `out`, in order.
pub fn save(
    pid: i32,
    runs: &[(pb::PageRun, bool)],
    page_size: u64,
    out: &mut File,
) -> io::Result<(u64, u32)> {
    let mem = File::open(format!("/proc/{pid}/mem"))?;
    let mut buf = vec![0u8; BATCH_BYTES];
    let mut crc = 0u32;
    let mut total = 0u64;
    // Pieces of runs that fit the buffer: (address, length, readable).
    let mut batch: Vec<(u64, usize, bool)> = Vec::new();
    let mut batch_len = 0usize;
    let mut flush =
        |batch: &mut Vec<(u64, usize, bool)>, batch_len: &mut usize| -> io::Result<()> {
            if batch.is_empty() {
                return Ok(());
            }
            let data = &mut buf[..*batch_len];
            read_batch(pid, &mem, batch, data)?;
            out.write_all(data)?;
            crc = crc32c::crc32c_append(crc, data);
            total += *batch_len as u64;
            batch.clear();
            *batch_len = 0;
            Ok(())
        };
    for (run, readable) in runs {
        let mut addr = run.address;
        let mut left = (run.nr_pages * page_size) as usize;
        while left > 0 {
            let room = BATCH_BYTES - batch_len;
            if room == 0 || batch.len() == MAX_IOVECS {
                flush(&mut batch, &mut batch_len)?;
                continue;
            }
            let piece = left.min(room);
            batch.push((addr, piece, *readable));
            batch_len += piece;
            addr += piece as u64;
            left -= piece;
        }
    }
    flush(&mut batch, &mut batch_len)?;
    Ok((total, crc))
}

/// Fills `data` with the batch's pieces, one process_vm_readv when they are all
/// readable, /proc/<pid>/mem (which can read PROT_NONE pages) otherwise.
fn read_batch(
    pid: i32,
    mem: &File,
    batch: &[(u64, usize, bool)],
    data: &mut [u8],
) -> io::Result<()> {
    if batch.iter().all(|&(_, _, readable)| readable) {
        let remote: Vec<(u64, usize)> = batch.iter().map(|&(a, l, _)| (a, l)).collect();
        if let Ok(n) = process_vm_readv(pid, data, &remote) {
            if n == data.len() {
                return Ok(());
            }
        }
    }
    let mut offset = 0usize;
    for &(addr, len, _) in batch {
        mem.read_exact_at(&mut data[offset..offset + len], addr)
            .map_err(|e| io::Error::new(e.kind(), format!("reading memory at {addr:#x}: {e}")))?;
        offset += len;
    }
    Ok(())
}
