//! The dump pipeline: inspect → freeze → collect state → save memory → write
//! images → kill (or resume). Any error before the end resumes the task.

pub mod error;
pub mod inspect;
mod state;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use stasis_image::{pb, ImageKind, ImageWriter};

pub use error::{Blocker, DumpError};

use crate::files;
use crate::mem::pages;
use crate::tree::FrozenTask;

#[derive(Debug, Clone)]
pub struct DumpOptions {
    pub pid: i32,
    pub dir: PathBuf,
    pub leave_running: bool,
    pub force: bool,
}

/// What a finished dump reports.
#[derive(Debug, Clone)]
pub struct DumpSummary {
    pub pid: i32,
    pub comm: String,
    pub stats: pb::DumpStats,
    pub pages_bytes: u64,
}

pub fn dump(opts: &DumpOptions) -> Result<DumpSummary, DumpError> {
    let started = Instant::now();
    let root = opts.pid;
    // Know before you freeze: refuse without touching the tree.
    tracing::debug!(root, "inspecting");
    let tree_before = inspect::discover_tree(root)?;
    let before = inspect::inspect_tree(&tree_before, false)?;
    let comm = before.live[0].stat.comm.clone();
    let mut writer = ImageWriter::create(&opts.dir, opts.force)?;

    let freeze_start = Instant::now();
    let frozen = freeze_tree(root).map_err(|source| DumpError::Freeze {
        pid: root,
        comm: comm.clone(),
        source,
    })?;
    let freezing_time = freeze_start.elapsed();
    let pids: Vec<i32> = frozen.iter().map(|f| f.pid).collect();
    tracing::debug!(root, tasks = pids.len(), ?freezing_time, "frozen");
    // The tree may have changed between the check and the freeze. Every task
    // listed now is frozen or a zombie, except one that was exiting while we
    // froze the others: it becomes a zombie of its frozen parent in a moment.
    let listed: Vec<i32> = inspect::discover_tree(root)?
        .into_iter()
        .filter(|pid| pids.contains(pid) || inspect::settles_as_zombie(*pid))
        .collect();
    let tree = inspect::inspect_tree(&listed, true)?;
    let inspections = tree.live;
    // The frozen tasks and their inspections go together, in one order.
    let inspected: Vec<i32> = inspections.iter().map(|i| i.stat.pid).collect();
    if inspected != pids {
        return Err(DumpError::Freeze {
            pid: root,
            comm: comm.clone(),
            source: std::io::Error::other(format!(
                "the tree changed while it was being frozen (frozen {pids:?}, found {inspected:?}); try again"
            )),
        });
    }
    let page_size = crate::sys::syscalls::page_size() as u64;

    let task_err = DumpError::task;

    // Files: one record per open file description in the whole tree.
    let all_fds: Vec<(i32, &[(files::FdProbe, files::FileKind)])> = inspections
        .iter()
        .map(|i| (i.stat.pid, i.fds.as_slice()))
        .collect();
    let (mut files_image, fd_tables) =
        collect_files(&all_fds).map_err(task_err(root, &comm, "comparing open files"))?;
    let named_fds: Vec<NamedTaskFds> = inspections
        .iter()
        .map(|i| (i.stat.pid, i.stat.comm.as_str(), i.fds.as_slice()))
        .collect();
    collect_inodes(&named_fds, &mut writer, &mut files_image)?;
    collect_mapped_inodes(&inspections, &mut writer, &mut files_image)?;

    let mut totals = pages::PageStats::default();
    let mut pages_bytes = 0u64;
    let mut memory_dump_time = std::time::Duration::ZERO;
    let mut memory_write_time = std::time::Duration::ZERO;
    let mut entries = Vec::new();
    // Parents' page frames and VMAs, so that children save only what they no
    // longer share with them copy-on-write (parents come first).
    let mut frames_of: std::collections::HashMap<i32, pages::Frames> = Default::default();
    let mut vmas_of: std::collections::HashMap<i32, Vec<pb::Vma>> = Default::default();
    for ((task, inspection), (fd_table, posix_locks)) in
        frozen.iter().zip(&inspections).zip(fd_tables)
    {
        let pid = task.pid;
        let comm = inspection.stat.comm.as_str();
        let (mut task_image, brk) = state::collect_task(task, inspection)?;
        // Stopped by job control before we froze it (our own stop shows as 't').
        task_image.stopped = before
            .live
            .iter()
            .any(|b| b.stat.pid == pid && b.stat.state == 'T');
        let (mm_fields, auxv) = state::collect_mm(task, inspection, brk)?;
        tracing::debug!(pid, elapsed = ?freeze_start.elapsed(), "task state collected");

        let mem_start = Instant::now();
        let mut vmas: Vec<pb::Vma> = inspection.vmas.iter().map(|p| p.vma.clone()).collect();
        let parent = inspection.stat.ppid;
        let inheritance = match (frames_of.get(&parent), vmas_of.get(&parent)) {
            (Some(parent_frames), Some(parent_vmas)) => {
                let mut ranges = Vec::new();
                for vma in vmas.iter_mut() {
                    if same_private_mapping(vma, parent_vmas) {
                        vma.inherited = true;
                        ranges.push((vma.start, vma.end));
                    }
                }
                Some(pages::Inheritance {
                    vmas: ranges,
                    parent_frames,
                })
            }
            _ => None,
        };
        let has_children = inspections.iter().any(|i| i.stat.ppid == pid);
        let scan = pages::scan(
            pid,
            &inspection.vmas,
            page_size,
            has_children,
            inheritance.as_ref(),
        )
        .map_err(task_err(pid, comm, "reading the page map"))?;
        let (runs, page_stats) = (scan.runs, scan.stats);
        if has_children {
            frames_of.insert(pid, scan.frames);
            vmas_of.insert(pid, vmas.clone());
        }
        let pages_name = stasis_image::pages_image_name(pid);
        let mut pages_file = writer.create_raw(&pages_name)?;
        memory_dump_time += mem_start.elapsed();
        let write_start = Instant::now();
        let (bytes, crc) = pages::save(pid, &runs, page_size, &mut pages_file)
            .map_err(task_err(pid, comm, "saving memory"))?;
        drop(pages_file);
        writer.record_raw(&pages_name, Some(crc))?;
        memory_write_time += write_start.elapsed();
        totals.scanned += page_stats.scanned;
        totals.skipped += page_stats.skipped;
        pages_bytes += bytes;

        let mm_image = pb::MmImage {
            pid,
            vmas,
            pages: runs.iter().map(|(run, _)| *run).collect(),
            discard: scan.discard,
            fields: Some(mm_fields),
            auxv,
            exe_path: inspection.exe.clone(),
            pages_size: bytes,
            pages_compression: String::new(),
        };
        writer.write_image(
            &stasis_image::task_image_name(pid),
            ImageKind::Task,
            &task_image,
        )?;
        writer.write_image(&stasis_image::mm_image_name(pid), ImageKind::Mm, &mm_image)?;
        writer.write_image(
            &stasis_image::fd_table_image_name(pid),
            ImageKind::FdTable,
            &pb::FdTableImage {
                pid,
                fds: fd_table,
                posix_locks,
            },
        )?;
        entries.push(pb::TaskEntry {
            pid,
            ppid: inspection.stat.ppid,
            comm: comm.to_string(),
        });
    }
    for zombie in &tree.zombies {
        entries.push(write_zombie(&mut writer, zombie)?);
    }
    // Parents before children, as discovered.
    let order = inspect::discover_tree(root)?;
    entries.sort_by_key(|e| order.iter().position(|p| *p == e.pid).unwrap_or(usize::MAX));
    writer.write_image(
        stasis_image::files_image_name(),
        ImageKind::Files,
        &files_image,
    )?;
    tracing::debug!(root, elapsed = ?freeze_start.elapsed(), "memory saved");

    let stats = pb::DumpStats {
        freezing_time_us: freezing_time.as_micros() as u64,
        frozen_time_us: frozen
            .iter()
            .map(|f| f.frozen_at.elapsed().as_micros() as u64)
            .max()
            .unwrap_or(0),
        memory_dump_time_us: memory_dump_time.as_micros() as u64,
        memory_write_time_us: memory_write_time.as_micros() as u64,
        pages_scanned: totals.scanned,
        pages_written: pages_bytes / page_size,
        pages_skipped: totals.skipped,
        total_time_us: started.elapsed().as_micros() as u64,
    };
    let inventory = pb::Inventory {
        format_version: stasis_image::FORMAT_VERSION,
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        root_pid: root,
        tasks: entries,
        images: Vec::new(),
        kernel_release: crate::sys::syscalls::kernel_release(),
        page_size: page_size as u32,
        dump_time_unix: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        left_running: opts.leave_running,
        stats: Some(stats),
    };
    // Only a dump whose inventory is on disk may end the tree.
    writer.finish(inventory)?;
    for task in frozen {
        let pid = task.pid;
        if opts.leave_running {
            task.resume()
                .map_err(task_err(pid, &comm, "resuming the process"))?;
        } else {
            task.kill()
                .map_err(task_err(pid, &comm, "killing the process after the dump"))?;
        }
    }
    tracing::debug!(root, elapsed = ?started.elapsed(), "done");
    Ok(DumpSummary {
        pid: root,
        comm,
        stats,
        pages_bytes,
    })
}

/// Freezes the tree under `root`, rescanning until no new process appears: a
/// process that is not frozen yet may fork while we freeze the others, but a
/// frozen one cannot. On error every process frozen so far resumes.
fn freeze_tree(root: i32) -> std::io::Result<Vec<FrozenTask>> {
    let mut frozen: Vec<FrozenTask> = Vec::new();
    loop {
        let pids =
            inspect::discover_tree(root).map_err(|e| std::io::Error::other(e.to_string()))?;
        let new: Vec<i32> = pids
            .iter()
            .copied()
            .filter(|p| !frozen.iter().any(|f| f.pid == *p))
            .filter(|p| *p == root || !inspect::is_zombie(*p))
            .collect();
        if new.is_empty() {
            // A task seized while it was exiting (an exit cannot be stopped)
            // is not a live task any more: let it go; it is saved as the
            // zombie it becomes.
            let (exiting, live): (Vec<FrozenTask>, Vec<FrozenTask>) = frozen
                .into_iter()
                .partition(|f| f.pid != root && inspect::is_exiting(f.pid));
            for task in exiting {
                let _ = task.resume();
            }
            frozen = live;
            // Root first, then in discovery (breadth-first) order: parents before children.
            frozen.sort_by_key(|f| pids.iter().position(|p| *p == f.pid));
            return Ok(frozen);
        }
        for pid in new {
            // A zombie cannot be seized; it is saved from /proc alone.
            if pid != root && inspect::is_zombie(pid) {
                continue;
            }
            match FrozenTask::freeze(pid) {
                Ok(task) => frozen.push(task),
                // It exited meanwhile (gone, or a zombie its parent has not
                // reaped yet); the next scan sees it as it is now.
                Err(_)
                    if pid != root
                        && (!std::path::Path::new(&format!("/proc/{pid}")).exists()
                            || inspect::settles_as_zombie(pid)) => {}
                Err(err) => return Err(err),
            }
        }
    }
}

/// Builds one record per open file description of the whole tree and, per
/// process, the fd table that points to them. Descriptions shared after dup()
/// or fork() are found with kcmp. Per process also the POSIX locks it holds.
#[allow(clippy::type_complexity)]
fn collect_files(
    tasks: &[(i32, &[(files::FdProbe, files::FileKind)])],
) -> std::io::Result<(pb::FilesImage, Vec<(Vec<pb::FdEntry>, Vec<pb::FileLock>)>)> {
    use std::os::fd::AsFd;
    let mut records: Vec<pb::OpenFile> = Vec::new();
    // Per inode, the records of it so far with one (pid, fd) that holds each,
    // to compare new fds against.
    let mut holders: HashMap<(u64, u64), Vec<(u32, i32, i32)>> = HashMap::new();
    let mut tables = Vec::new();
    // Epoll records (index, probe of the first holder) and every (pid, fd)
    // holding each: an item's fd number may mean the file in any of them.
    let mut epolls: Vec<(usize, &files::FdProbe)> = Vec::new();
    let mut epoll_holders: HashMap<u32, Vec<(i32, i32)>> = HashMap::new();
    // Unix sockets: what sock_diag knows of them (peers, names, listeners).
    let has_sockets = tasks
        .iter()
        .any(|(_, fds)| fds.iter().any(|(_, k)| *k == files::FileKind::UnixSocket));
    let tree_sockets: std::collections::HashSet<u64> = tasks
        .iter()
        .flat_map(|(_, fds)| fds.iter())
        .filter(|(_, k)| *k == files::FileKind::UnixSocket)
        .filter_map(|(p, _)| files::unix_socket::socket_inode(&p.link))
        .collect();
    let diags: HashMap<u64, crate::sys::netlink::UnixDiag> = if has_sockets {
        crate::sys::netlink::unix_sockets()?
            .into_iter()
            .map(|d| (d.inode, d))
            .collect()
    } else {
        HashMap::new()
    };
    for &(pid, fds) in tasks {
        let mut table = Vec::new();
        let mut posix_locks = Vec::new();
        // Owner and signal of a description are only known to fcntl on a copy of it.
        let pidfd = crate::sys::syscalls::pidfd_open(pid)?;
        for (probe, kind) in fds {
            let stat = probe.stat.unwrap_or_default();
            // Descriptions of one inode, kept in kcmp's order: found by binary
            // search (all anonymous-inode files share one inode, and a process
            // may hold thousands of eventfds or sockets).
            let same_inode = holders.entry((stat.dev, stat.ino)).or_default();
            let mut failed = None;
            let found = same_inode.binary_search_by(|&(_, holder_pid, holder_fd)| {
                crate::sys::syscalls::compare_open_files(holder_pid, holder_fd, pid, probe.fd)
                    .unwrap_or_else(|e| {
                        failed = Some(e);
                        std::cmp::Ordering::Equal
                    })
            });
            if let Some(e) = failed {
                return Err(e);
            }
            let file_id = found.ok().map(|at| same_inode[at].0);
            let insert_at = found.unwrap_or_else(|at| at);
            let file_id = match file_id {
                Some(id) => id,
                None => {
                    let id = records.len() as u32 + 1;
                    let mut record = files::to_open_file(id, probe, *kind);
                    let copy = crate::sys::syscalls::pidfd_getfd(pidfd.as_fd(), probe.fd)?;
                    (record.owner, record.signal) = files::owner::dump(copy.as_fd());
                    if *kind == files::FileKind::Inotify {
                        files::inotify::warn_if_queued(pid, probe.fd, copy.as_fd());
                    }
                    if *kind == files::FileKind::InetSocket {
                        let socket = files::inet_socket::dump(copy.as_fd()).map_err(|why| {
                            std::io::Error::other(format!(
                                "fd {} ({}): {why}",
                                probe.fd, probe.link
                            ))
                        })?;
                        files::inet_socket::warn_if_queued(pid, probe.fd, copy.as_fd(), &socket);
                        record.kind = Some(pb::open_file::Kind::Inet(socket));
                    }
                    files::dump_live(&mut record, copy.as_fd()).map_err(|e| {
                        std::io::Error::new(
                            e.kind(),
                            format!("fd {} ({}): {e}", probe.fd, probe.link),
                        )
                    })?;
                    if *kind == files::FileKind::Epoll {
                        epolls.push((records.len(), probe));
                    }
                    if *kind == files::FileKind::UnixSocket {
                        record.kind = Some(dump_unix_socket(
                            pid,
                            probe,
                            copy.as_fd(),
                            &diags,
                            &tree_sockets,
                        )?);
                    }
                    records.push(record);
                    same_inode.insert(insert_at, (id, pid, probe.fd));
                    id
                }
            };
            if *kind == files::FileKind::Epoll {
                epoll_holders
                    .entry(file_id)
                    .or_default()
                    .push((pid, probe.fd));
            }
            table.push(pb::FdEntry {
                fd: probe.fd,
                file_id,
                cloexec: probe.info.flags & libc::O_CLOEXEC as u32 != 0,
            });
            files::locks::add_posix_locks(probe, file_id, &mut posix_locks);
        }
        tables.push((table, posix_locks));
    }
    let fd_tables: HashMap<i32, HashMap<i32, u32>> = tasks
        .iter()
        .zip(&tables)
        .map(|(&(pid, _), (table, _))| (pid, table.iter().map(|e| (e.fd, e.file_id)).collect()))
        .collect();
    let task_fds: HashMap<i32, &[(files::FdProbe, files::FileKind)]> =
        tasks.iter().copied().collect();
    for (index, probe) in epolls {
        let record = &mut records[index];
        let holders: Vec<files::epoll::Holder> = epoll_holders[&record.id]
            .iter()
            .map(|&(pid, fd)| files::epoll::Holder {
                pid,
                epoll_fd: fd,
                fds: task_fds[&pid],
            })
            .collect();
        let holder_tables: Vec<&HashMap<i32, u32>> =
            holders.iter().map(|h| &fd_tables[&h.pid]).collect();
        let (first_pid, first_fd) = epoll_holders[&record.id][0];
        if let Some(pb::open_file::Kind::Epoll(epoll)) = &mut record.kind {
            files::epoll::resolve_targets(epoll, &probe.info.epoll_items, &holders, &holder_tables)
                .map_err(|e| {
                    std::io::Error::new(e.kind(), format!("pid {first_pid} fd {first_fd}: {e}"))
                })?;
        }
    }
    let pipes = collect_pipes(tasks)?;
    Ok((
        pb::FilesImage {
            files: records,
            pipes,
            ..Default::default()
        },
        tables,
    ))
}

/// The record of a unix socket: sock_diag's view plus what our copy tells.
fn dump_unix_socket(
    pid: i32,
    probe: &files::FdProbe,
    copy: std::os::fd::BorrowedFd<'_>,
    diags: &HashMap<u64, crate::sys::netlink::UnixDiag>,
    tree_sockets: &std::collections::HashSet<u64>,
) -> std::io::Result<pb::open_file::Kind> {
    let with_fd = |e: std::io::Error| {
        std::io::Error::new(e.kind(), format!("fd {} ({}): {e}", probe.fd, probe.link))
    };
    let diag = files::unix_socket::socket_inode(&probe.link)
        .and_then(|ino| diags.get(&ino))
        .ok_or_else(|| with_fd(std::io::Error::other("sock_diag does not list this socket")))?;
    let cwd = std::fs::read_link(format!("/proc/{pid}/cwd"))
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut socket = files::unix_socket::dump(copy, diag, diags, &cwd).map_err(with_fd)?;
    // A peer outside the tree is allowed only for a logger (see
    // unix_socket::outside_logger): keep its name, not its inode.
    if let Some(peer) = diags.get(&socket.peer_inode) {
        if !tree_sockets.contains(&socket.peer_inode)
            && files::unix_socket::outside_logger(diag, peer)
        {
            socket.peer_inode = 0;
            socket.outside_peer = peer.name.clone();
        }
    }
    Ok(pb::open_file::Kind::UnixSocket(socket))
}

/// Capacity and buffered bytes of every pipe the tree holds an end of.
#[allow(clippy::type_complexity)]
fn collect_pipes(
    tasks: &[(i32, &[(files::FdProbe, files::FileKind)])],
) -> std::io::Result<Vec<pb::Pipe>> {
    use std::os::fd::AsFd;
    let mut pipes: Vec<pb::Pipe> = Vec::new();
    let ends: Vec<(i32, &files::FdProbe)> = tasks
        .iter()
        .flat_map(|&(pid, fds)| {
            fds.iter()
                .filter(|(_, k)| *k == files::FileKind::Pipe)
                .map(move |(p, _)| (pid, p))
        })
        .collect();
    // Per pipe: one end (any) and a read end if the tree holds one, found in
    // one pass (trees can hold thousands of pipes).
    let mut by_pipe: HashMap<u64, ((i32, i32), Option<(i32, i32)>)> = HashMap::new();
    let mut order = Vec::new();
    for &(pid, probe) in &ends {
        let Some(id) = files::pipe::pipe_id(&probe.link) else {
            continue;
        };
        let slot = by_pipe.entry(id).or_insert_with(|| {
            order.push(id);
            ((pid, probe.fd), None)
        });
        if slot.1.is_none() && !files::pipe::is_write_end(probe) {
            slot.1 = Some((pid, probe.fd));
        }
    }
    let grab = |(pid, fd): (i32, i32)| -> std::io::Result<std::os::fd::OwnedFd> {
        let pidfd = crate::sys::syscalls::pidfd_open(pid)?;
        crate::sys::syscalls::pidfd_getfd(pidfd.as_fd(), fd)
    };
    for id in order {
        let (any, reader) = by_pipe[&id];
        let any_end = grab(any)?;
        let read_end = reader.map(grab).transpose()?;
        pipes.push(files::pipe::dump_pipe(
            id,
            any_end.as_fd(),
            read_end.as_ref().map(|fd| fd.as_fd()),
        )?);
    }
    Ok(pipes)
}

/// A task's pid, command and supported fds.
type NamedTaskFds<'a> = (i32, &'a str, &'a [(files::FdProbe, files::FileKind)]);

/// The FIFOs, deleted files and memfds the tree holds, once per inode (dev,
/// ino), into `files_image`; the content of deleted files and memfds goes into
/// a raw image each (see files/deleted.rs for why).
fn collect_inodes(
    tasks: &[NamedTaskFds],
    writer: &mut ImageWriter,
    files_image: &mut pb::FilesImage,
) -> Result<(), DumpError> {
    use files::FileKind;
    let mut seen: Vec<(FileKind, u64, u64)> = Vec::new();
    for &(pid, comm, fds) in tasks {
        for (probe, kind) in fds {
            if !matches!(
                kind,
                FileKind::Fifo | FileKind::DeletedFile | FileKind::Memfd
            ) {
                continue;
            }
            let stat = probe.stat.unwrap_or_default();
            let key = (*kind, stat.dev, stat.ino);
            if seen.contains(&key) {
                continue;
            }
            seen.push(key);
            let fd = probe.fd;
            let link = probe.link.as_str();
            match kind {
                FileKind::Fifo => {
                    // A readable description held by the tree, to tee the bytes from.
                    let reader = tasks.iter().find_map(|&(reader_pid, _, fds)| {
                        fds.iter()
                            .find(|(p, k)| {
                                *k == FileKind::Fifo
                                    && p.stat
                                        .is_some_and(|s| (s.dev, s.ino) == (stat.dev, stat.ino))
                                    && files::fifo::is_readable(p)
                            })
                            .map(|(p, _)| (reader_pid, p))
                    });
                    let fifo = files::fifo::dump_fifo(pid, probe, reader).map_err(
                        DumpError::task(pid, comm, &format!("fd {fd}: saving FIFO {link}")),
                    )?;
                    files_image.fifos.push(fifo);
                }
                FileKind::DeletedFile => {
                    let what = format!("fd {fd}: saving the content of deleted file {link}");
                    let dumped = files::deleted::dump_inode(pid, probe);
                    files_image.deleted_files.push(save_inode(
                        writer,
                        (pid, comm, &what),
                        dumped,
                        deleted_parts,
                    )?);
                }
                FileKind::Memfd => {
                    let what = format!("fd {fd}: saving the content of memfd {link}");
                    let dumped = files::memfd::dump_inode(pid, probe);
                    files_image.memfds.push(save_inode(
                        writer,
                        (pid, comm, &what),
                        dumped,
                        memfd_parts,
                    )?);
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// Deleted files and memfds that are mapped (a POSIX semaphore or shared
/// memory segment in /dev/shm, unlinked: python's multiprocessing locks),
/// saved like the ones held as fds, once per inode, through map_files.
fn collect_mapped_inodes(
    inspections: &[inspect::Inspection],
    writer: &mut ImageWriter,
    files_image: &mut pb::FilesImage,
) -> Result<(), DumpError> {
    for insp in inspections {
        let (pid, comm) = (insp.stat.pid, insp.stat.comm.as_str());
        for plan in &insp.vmas {
            let vma = &plan.vma;
            let key = (vma.dev, vma.inode);
            let source = format!("/proc/{pid}/map_files/{:x}-{:x}", vma.start, vma.end);
            let what = format!(
                "mapping {:#x}-{:#x}: saving the content of {}",
                vma.start, vma.end, vma.path
            );
            let task = (pid, comm, what.as_str());
            match vma.kind() {
                pb::VmaKind::DeletedFile
                    if !files_image
                        .deleted_files
                        .iter()
                        .any(|d| (d.dev, d.inode) == key) =>
                {
                    let dumped = files::deleted::dump_inode_at(&source, &vma.path);
                    files_image.deleted_files.push(save_inode(
                        writer,
                        task,
                        dumped,
                        deleted_parts,
                    )?);
                }
                pb::VmaKind::SysvShm
                    if !files_image
                        .sysv_shms
                        .iter()
                        .any(|s| s.shmid as u64 == vma.inode) =>
                {
                    let dumped = files::sysv_shm::dump_segment(vma, &source);
                    files_image
                        .sysv_shms
                        .push(save_inode(writer, task, dumped, sysv_parts)?);
                }
                pb::VmaKind::Memfd
                    if !files_image.memfds.iter().any(|m| (m.dev, m.inode) == key) =>
                {
                    let dumped = files::memfd::dump_inode_at(&source, &vma.path);
                    files_image
                        .memfds
                        .push(save_inode(writer, task, dumped, memfd_parts)?);
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// The content image name, size and extents of a deleted file or memfd record.
type ContentParts<R> = fn(&mut R) -> (String, u64, &mut Vec<pb::Extent>);

fn deleted_parts(d: &mut pb::DeletedFile) -> (String, u64, &mut Vec<pb::Extent>) {
    (d.content_image.clone(), d.size, &mut d.extents)
}

fn memfd_parts(m: &mut pb::Memfd) -> (String, u64, &mut Vec<pb::Extent>) {
    (m.content_image.clone(), m.size, &mut m.extents)
}

fn sysv_parts(s: &mut pb::SysvShm) -> (String, u64, &mut Vec<pb::Extent>) {
    (s.content_image.clone(), s.size, &mut s.extents)
}

/// Saves the content of a deleted file or memfd (`dumped`: its record and a
/// description to read it from) into its raw image; errors name `task`
/// (pid, command, what was being done).
fn save_inode<R>(
    writer: &mut ImageWriter,
    (pid, comm, what): (i32, &str, &str),
    dumped: std::io::Result<(R, std::fs::File)>,
    parts: ContentParts<R>,
) -> Result<R, DumpError> {
    let (mut record, source) = dumped.map_err(DumpError::task(pid, comm, what))?;
    let (name, size, extents) = parts(&mut record);
    *extents = write_content(writer, &name, &source, size).map_err(|e| match e {
        ContentError::Io(e) => DumpError::task(pid, comm, what)(e),
        ContentError::Image(e) => e.into(),
    })?;
    Ok(record)
}

enum ContentError {
    Io(std::io::Error),
    Image(stasis_image::ImageError),
}

/// Copies the data runs of a file's content into raw image `name` (see
/// files/content.rs) and returns them.
fn write_content(
    writer: &mut ImageWriter,
    name: &str,
    source: &std::fs::File,
    size: u64,
) -> Result<Vec<pb::Extent>, ContentError> {
    let out = writer.create_raw(name).map_err(ContentError::Image)?;
    let mut out = std::io::BufWriter::new(out);
    let extents = files::content::save(source, size, &mut out).map_err(ContentError::Io)?;
    std::io::Write::flush(&mut out).map_err(ContentError::Io)?;
    drop(out);
    writer.record_raw(name, None).map_err(ContentError::Image)?;
    Ok(extents)
}

/// Images of a zombie: who it was and how it ended; no memory, no files.
fn write_zombie(
    writer: &mut ImageWriter,
    stat: &crate::proc::stat::Stat,
) -> Result<pb::TaskEntry, DumpError> {
    let pid = stat.pid;
    let status = stat.exit_code;
    let zombie = if status & 0x7f == 0 {
        pb::Zombie {
            exit_code: (status >> 8) & 0xff,
            signal: 0,
        }
    } else {
        pb::Zombie {
            exit_code: 0,
            signal: status & 0x7f,
        }
    };
    let task = pb::TaskImage {
        pid,
        ppid: stat.ppid,
        pgid: stat.pgid,
        sid: stat.sid,
        comm: stat.comm.clone(),
        exit_signal: stat.exit_signal,
        zombie: Some(zombie),
        ..Default::default()
    };
    writer.write_image(&stasis_image::task_image_name(pid), ImageKind::Task, &task)?;
    writer.write_image(
        &stasis_image::mm_image_name(pid),
        ImageKind::Mm,
        &pb::MmImage {
            pid,
            ..Default::default()
        },
    )?;
    writer.write_image(
        &stasis_image::fd_table_image_name(pid),
        ImageKind::FdTable,
        &pb::FdTableImage {
            pid,
            ..Default::default()
        },
    )?;
    let pages_name = stasis_image::pages_image_name(pid);
    drop(writer.create_raw(&pages_name)?);
    writer.record_raw(&pages_name, Some(0))?;
    Ok(pb::TaskEntry {
        pid,
        ppid: stat.ppid,
        comm: stat.comm.clone(),
    })
}

/// Whether `vma` is a private mapping that the parent has too, at the same place
/// and of the same object: the child can inherit it by fork at restore.
fn same_private_mapping(vma: &pb::Vma, parent_vmas: &[pb::Vma]) -> bool {
    let private = vma.map_flags & libc::MAP_PRIVATE as u32 != 0;
    let kind_ok = matches!(
        vma.kind(),
        pb::VmaKind::Anonymous | pb::VmaKind::Heap | pb::VmaKind::Stack | pb::VmaKind::File
    );
    private
        && kind_ok
        && parent_vmas.iter().any(|p| {
            p.start == vma.start
                && p.end == vma.end
                && p.map_flags == vma.map_flags
                && p.kind == vma.kind
                && p.path == vma.path
                && p.file_offset == vma.file_offset
                && p.inode == vma.inode
        })
}
