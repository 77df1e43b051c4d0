//! The dump pipeline: inspect → freeze → collect state → save memory → write
//! images → kill (or resume). Any error before the end resumes the task.

pub mod error;
pub mod inspect;
mod state;

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
    let pid = opts.pid;
    // Know before you freeze: refuse without touching the task.
    tracing::debug!(pid, "inspecting");
    let before = inspect::inspect(pid, false)?;
    let comm = before.stat.comm.clone();
    let mut writer = ImageWriter::create(&opts.dir, opts.force)?;

    let freeze_start = Instant::now();
    let frozen = FrozenTask::freeze(pid).map_err(|source| DumpError::Freeze {
        pid,
        comm: comm.clone(),
        source,
    })?;
    let freezing_time = freeze_start.elapsed();
    tracing::debug!(
        pid,
        threads = frozen.threads.len(),
        ?freezing_time,
        "frozen"
    );
    // The task may have changed between the check and the freeze.
    let inspection = inspect::inspect(pid, true)?;
    let page_size = crate::sys::syscalls::page_size() as u64;

    let task_err = |what: &str| {
        let comm = comm.clone();
        let what = what.to_string();
        move |source| DumpError::Task {
            pid,
            comm,
            what,
            source,
        }
    };

    let (task_image, brk) = state::collect_task(&frozen, &inspection)?;
    tracing::debug!(pid, elapsed = ?freeze_start.elapsed(), "task state collected");
    let (mm_fields, auxv) = state::collect_mm(&frozen, &inspection, brk)?;

    // Files: one record per open file description.
    let (files_image, fd_table) =
        collect_files(pid, &inspection.fds).map_err(task_err("comparing open files"))?;

    // Memory.
    let mem_start = Instant::now();
    let (runs, page_stats) =
        pages::scan(pid, &inspection.vmas, page_size).map_err(task_err("reading the page map"))?;
    let pages_name = stasis_image::pages_image_name(pid);
    let mut pages_file = writer.create_raw(&pages_name)?;
    let memory_dump_time = mem_start.elapsed();
    let write_start = Instant::now();
    let (pages_bytes, pages_crc) =
        pages::save(pid, &runs, page_size, &mut pages_file).map_err(task_err("saving memory"))?;
    drop(pages_file);
    writer.record_raw(&pages_name, Some(pages_crc))?;
    let memory_write_time = write_start.elapsed();
    tracing::debug!(pid, elapsed = ?freeze_start.elapsed(), "memory saved");

    let mm_image = pb::MmImage {
        pid,
        vmas: inspection.vmas.iter().map(|p| p.vma.clone()).collect(),
        pages: runs.iter().map(|(run, _)| *run).collect(),
        fields: Some(mm_fields),
        auxv,
        exe_path: inspection.exe.clone(),
        pages_size: pages_bytes,
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
        &pb::FdTableImage { pid, fds: fd_table },
    )?;
    writer.write_image(
        stasis_image::files_image_name(),
        ImageKind::Files,
        &files_image,
    )?;

    let stats = pb::DumpStats {
        freezing_time_us: freezing_time.as_micros() as u64,
        frozen_time_us: frozen.frozen_at.elapsed().as_micros() as u64,
        memory_dump_time_us: memory_dump_time.as_micros() as u64,
        memory_write_time_us: memory_write_time.as_micros() as u64,
        pages_scanned: page_stats.scanned,
        pages_written: pages_bytes / page_size,
        pages_skipped: page_stats.skipped,
        total_time_us: started.elapsed().as_micros() as u64,
    };
    let inventory = pb::Inventory {
        format_version: stasis_image::FORMAT_VERSION,
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        root_pid: pid,
        tasks: vec![pb::TaskEntry {
            pid,
            ppid: inspection.stat.ppid,
            comm: comm.clone(),
        }],
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
    // Only a dump whose inventory is on disk may end the task.
    writer.finish(inventory)?;
    if opts.leave_running {
        frozen.resume().map_err(task_err("resuming the process"))?;
    } else {
        frozen
            .kill()
            .map_err(task_err("killing the process after the dump"))?;
    }
    Ok(DumpSummary {
        pid,
        comm,
        stats,
        pages_bytes,
    })
}

/// Builds one record per open file description and the fd table that points to them.
fn collect_files(
    pid: i32,
    fds: &[(files::FdProbe, files::FileKind)],
) -> std::io::Result<(pb::FilesImage, Vec<pb::FdEntry>)> {
    let mut records: Vec<pb::OpenFile> = Vec::new();
    // For each record, one fd that holds it, to compare new fds against.
    let mut holders: Vec<(i32, u64, u64)> = Vec::new();
    let mut table = Vec::new();
    for (probe, kind) in fds {
        let stat = probe.stat.unwrap_or_default();
        let mut file_id = None;
        for (i, &(holder_fd, dev, ino)) in holders.iter().enumerate() {
            if dev == stat.dev
                && ino == stat.ino
                && crate::sys::syscalls::same_open_file(pid, holder_fd, pid, probe.fd)?
            {
                file_id = Some(records[i].id);
                break;
            }
        }
        let file_id = match file_id {
            Some(id) => id,
            None => {
                let id = records.len() as u32 + 1;
                records.push(files::to_open_file(id, probe, *kind));
                holders.push((probe.fd, stat.dev, stat.ino));
                id
            }
        };
        table.push(pb::FdEntry {
            fd: probe.fd,
            file_id,
            cloexec: probe.info.flags & libc::O_CLOEXEC as u32 != 0,
        });
    }
    let pipes = collect_pipes(pid, fds)?;
    Ok((
        pb::FilesImage {
            files: records,
            pipes,
        },
        table,
    ))
}

/// Capacity and buffered bytes of every pipe the task holds an end of.
fn collect_pipes(
    pid: i32,
    fds: &[(files::FdProbe, files::FileKind)],
) -> std::io::Result<Vec<pb::Pipe>> {
    use std::os::fd::AsFd;
    let mut pipes: Vec<pb::Pipe> = Vec::new();
    let mut pidfd = None;
    for (probe, kind) in fds {
        if *kind != files::FileKind::Pipe {
            continue;
        }
        let Some(id) = files::pipe::pipe_id(&probe.link) else {
            continue;
        };
        if pipes.iter().any(|p| p.pipe_id == id) {
            continue;
        }
        let pidfd = match &pidfd {
            Some(fd) => fd,
            None => pidfd.insert(crate::sys::syscalls::pidfd_open(pid)?),
        };
        let any_end = crate::sys::syscalls::pidfd_getfd(pidfd.as_fd(), probe.fd)?;
        let read_probe = fds.iter().find(|(p, k)| {
            *k == files::FileKind::Pipe
                && files::pipe::pipe_id(&p.link) == Some(id)
                && !files::pipe::is_write_end(p)
        });
        let read_end = match read_probe {
            Some((p, _)) => Some(crate::sys::syscalls::pidfd_getfd(pidfd.as_fd(), p.fd)?),
            None => None,
        };
        pipes.push(files::pipe::dump_pipe(
            id,
            any_end.as_fd(),
            read_end.as_ref().map(|fd| fd.as_fd()),
        )?);
    }
    Ok(pipes)
}
