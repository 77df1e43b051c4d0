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

/// Physical frames of a parent's private pages, by address (from the pagemap).
pub type Frames = std::collections::HashMap<u64, u64>;

/// What a child shares with its (dumped) parent: its VMAs that the parent has
/// too, and the parent's frames. A page of such a VMA that still sits in the
/// same frame as the parent's is shared copy-on-write: the parent saves it.
pub struct Inheritance<'a> {
    pub vmas: Vec<(u64, u64)>,
    pub parent_frames: &'a Frames,
}

/// What the scan found.
pub struct Scan {
    pub runs: Vec<(pb::PageRun, bool)>,
    pub stats: PageStats,
    /// The frame of every private page with data (when asked for).
    pub frames: Frames,
    /// Pages of inherited VMAs the parent has and this task does not.
    pub discard: Vec<pb::PageRun>,
}

/// Appends page `addr` to a list of runs, extending the last run when contiguous.
fn push_page(runs: &mut Vec<pb::PageRun>, addr: u64, page_size: u64) {
    match runs.last_mut() {
        Some(run) if run.address + run.nr_pages * page_size == addr => run.nr_pages += 1,
        _ => runs.push(pb::PageRun {
            address: addr,
            nr_pages: 1,
        }),
    }
}

/// Finds the runs of pages that hold data, VMA by VMA.
pub fn scan(
    pid: i32,
    plans: &[VmaPlan],
    page_size: u64,
    record_frames: bool,
    inheritance: Option<&Inheritance<'_>>,
) -> io::Result<Scan> {
    let pagemap_file = File::open(format!("/proc/{pid}/pagemap"))?;
    let mut found = Scan {
        runs: Vec::new(),
        stats: PageStats::default(),
        frames: Frames::new(),
        discard: Vec::new(),
    };
    let mut buf = vec![0u8; (PAGEMAP_CHUNK * 8) as usize];
    for plan in plans {
        let keep: fn(u64) -> bool = match plan.pages {
            PagePolicy::Nothing => continue,
            PagePolicy::Private => pagemap::private_page_has_data,
            PagePolicy::Shared => pagemap::shared_page_has_data,
        };
        let private = plan.pages == PagePolicy::Private;
        let inherited =
            inheritance.filter(|inh| private && inh.vmas.contains(&(plan.vma.start, plan.vma.end)));
        let readable = plan.vma.prot & libc::PROT_READ as u32 != 0;
        // (run, readable by process_vm_readv) in address order.
        let mut own: Vec<(pb::PageRun, bool)> = Vec::new();
        let mut present = std::collections::HashSet::new();
        let first = plan.vma.start / page_size;
        let last = plan.vma.end / page_size;
        let mut page = first;
        while page < last {
            let count = (last - page).min(PAGEMAP_CHUNK);
            let bytes = &mut buf[..(count * 8) as usize];
            pagemap_file.read_exact_at(bytes, page * 8)?;
            for (i, entry) in pagemap::decode(bytes).enumerate() {
                found.stats.scanned += 1;
                let addr = (page + i as u64) * page_size;
                if !keep(entry) {
                    found.stats.skipped += 1;
                    continue;
                }
                let frame = pagemap::frame(entry);
                if private && record_frames && frame != 0 {
                    found.frames.insert(addr, frame);
                }
                if let Some(inh) = inherited {
                    present.insert(addr);
                    if frame != 0 && inh.parent_frames.get(&addr) == Some(&frame) {
                        found.stats.skipped += 1;
                        continue;
                    }
                }
                // process_vm_readv pins pages, and pinning a page shared
                // copy-on-write with another process makes the kernel copy it
                // (unshare): the dump would double the tree's memory. Such pages
                // are read through /proc/<pid>/mem, which does not pin.
                let fast = readable && entry & pagemap::EXCLUSIVE != 0;
                match own.last_mut() {
                    Some((run, same))
                        if *same == fast && run.address + run.nr_pages * page_size == addr =>
                    {
                        run.nr_pages += 1
                    }
                    _ => own.push((
                        pb::PageRun {
                            address: addr,
                            nr_pages: 1,
                        },
                        fast,
                    )),
                }
            }
            page += count;
        }
        found.runs.extend(own);
        if let Some(inh) = inherited {
            let mut gone: Vec<u64> = inh
                .parent_frames
                .keys()
                .copied()
                .filter(|a| *a >= plan.vma.start && *a < plan.vma.end && !present.contains(a))
                .collect();
            gone.sort_unstable();
            for addr in gone {
                push_page(&mut found.discard, addr, page_size);
            }
        }
    }
    Ok(found)
}

/// One buffer's worth of pieces of runs: (address, length, readable).
type Batch = Vec<(u64, usize, bool)>;

/// Cuts the runs into batches that fit one buffer and one iovec array.
fn plan_batches(runs: &[(pb::PageRun, bool)], page_size: u64) -> Vec<(Batch, usize)> {
    let mut batches = Vec::new();
    let mut batch: Batch = Vec::new();
    let mut batch_len = 0usize;
    for (run, readable) in runs {
        let mut addr = run.address;
        let mut left = (run.nr_pages * page_size) as usize;
        while left > 0 {
            if batch_len == BATCH_BYTES || batch.len() == MAX_IOVECS {
                batches.push((std::mem::take(&mut batch), batch_len));
                batch_len = 0;
            }
            let piece = left.min(BATCH_BYTES - batch_len);
            batch.push((addr, piece, *readable));
            batch_len += piece;
            addr += piece as u64;
            left -= piece;
        }
    }
    if !batch.is_empty() {
        batches.push((batch, batch_len));
    }
    batches
}

/// Copies the pages of `runs` from the task into `out`, in order. Two threads
/// overlap the work: this one copies memory out of the task into a buffer while
/// a writer thread appends the previous buffer to the image and checksums it.
/// Returns the bytes written and their crc32c.
pub fn save(
    pid: i32,
    runs: &[(pb::PageRun, bool)],
    page_size: u64,
    out: &mut File,
) -> io::Result<(u64, u32)> {
    use std::sync::mpsc::sync_channel;
    const BUFFERS: usize = 3;
    let mem = File::open(format!("/proc/{pid}/mem"))?;
    let batches = plan_batches(runs, page_size);
    let (full_tx, full_rx) = sync_channel::<(Vec<u8>, usize)>(BUFFERS);
    let (empty_tx, empty_rx) = sync_channel::<Vec<u8>>(BUFFERS);
    for _ in 0..BUFFERS {
        let _ = empty_tx.send(vec![0u8; BATCH_BYTES]);
    }
    std::thread::scope(|scope| {
        let writer = scope.spawn(move || -> io::Result<(u64, u32)> {
            let (mut total, mut crc) = (0u64, 0u32);
            for (buf, len) in full_rx {
                out.write_all(&buf[..len])?;
                crc = crc32c::crc32c_append(crc, &buf[..len]);
                total += len as u64;
                // The reader may already be gone after an error; nothing to do then.
                let _ = empty_tx.send(buf);
            }
            Ok((total, crc))
        });
        let mut read_result = Ok(());
        for (batch, len) in &batches {
            let Ok(mut buf) = empty_rx.recv() else { break };
            if let Err(err) = read_batch(pid, &mem, batch, &mut buf[..*len]) {
                read_result = Err(err);
                break;
            }
            if full_tx.send((buf, *len)).is_err() {
                break; // the writer failed; its error is reported below
            }
        }
        drop(full_tx);
        let written = writer
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the page writer thread panicked")));
        read_result.and(written)
    })
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
