//! The restore pipeline: load and verify every image → plan (plan.rs) → check
//! the system (pids free, files present) → execute the plan: each task as a
//! stub with its original pid and the saved memory, then the files → the rest
//! of each task's state → resume all.

mod build;
pub mod error;
mod files;
mod memory;
pub mod plan;
mod preflight;

use std::path::PathBuf;
use std::time::Instant;

use stasis_image::{LoadedDump, LoadedTask, PendingChecksums};

pub use error::RestoreError;
pub use plan::{RestorePlan, Step};

use crate::sys::clone::{exit_now, fork, spawn_stub};
use crate::sys::syscalls::{kill, waitpid, waitpid_which, WaitStatus};
use crate::tree::seize_and_stop;

#[derive(Debug, Clone)]
pub struct RestoreOptions {
    pub dir: PathBuf,
    /// The caller will not wait for the restored process (`-d`).
    pub detach: bool,
    pub pidfile: Option<PathBuf>,
    /// Restore even if a regular file the process had open was replaced or
    /// modified since the dump (see preflight::file_changes).
    pub allow_changed_files: bool,
}

/// A process that runs again.
#[derive(Debug, Clone)]
pub struct Restored {
    pub pid: i32,
    pub comm: String,
    pub elapsed: std::time::Duration,
}

pub fn restore(opts: &RestoreOptions) -> Result<Restored, RestoreError> {
    let started = Instant::now();
    // Page images are checksummed while the process is being built (they can
    // be gigabytes); the process is resumed only once they are verified.
    let (dump, pending) = LoadedDump::load_deferring_raw_checksums(&opts.dir)?;
    // The whole order of work is decided here, from the images alone.
    let plan = plan::plan(&plan::PlanInput::from_dump(&dump))?;
    preflight::check_system(&dump)?;
    let task = dump
        .tasks
        .first()
        .ok_or_else(|| RestoreError::Incompatible {
            what: "the dump holds no task".into(),
        })?;
    let pid = task.task.pid;
    let comm = task.task.comm.clone();
    for task in &dump.tasks {
        preflight::wait_for_free_pid(task.task.pid)?;
        if task.task.zombie.is_none() {
            preflight::check_files(&dump, task, opts.allow_changed_files)?;
        }
    }
    if opts.detach {
        restore_detached(&dump, &plan, pending)?;
    } else {
        std::thread::scope(|scope| {
            let (verdict_tx, verdict_rx) = std::sync::mpsc::channel();
            scope.spawn(move || {
                let _ = verdict_tx.send(pending.verify());
            });
            create_and_build(&dump, &plan, false, &mut || match verdict_rx.recv() {
                Ok(Ok(())) => Ok(()),
                Ok(Err(err)) => Err(std::io::Error::other(err.to_string())),
                Err(_) => Err(std::io::Error::other("the checksum thread died")),
            })
        })?;
    }
    if let Some(path) = &opts.pidfile {
        write_pidfile(path, pid)?;
    }
    Ok(Restored {
        pid,
        comm,
        elapsed: started.elapsed(),
    })
}

/// A plan made without touching the system, and what it took.
pub struct PlanOnly {
    pub plan: RestorePlan,
    pub load_time: std::time::Duration,
    pub plan_time: std::time::Duration,
}

/// Loads and verifies a dump and plans its restore, without touching the
/// system: what `stasis restore --plan` prints.
pub fn plan_only(dir: &std::path::Path) -> Result<PlanOnly, RestoreError> {
    let started = Instant::now();
    let dump = LoadedDump::load(dir)?;
    let load_time = started.elapsed();
    let started = Instant::now();
    let plan = plan::plan(&plan::PlanInput::from_dump(&dump))?;
    Ok(PlanOnly {
        plan,
        load_time,
        plan_time: started.elapsed(),
    })
}

/// Restores from a grandchild that has been orphaned, with the task created as
/// the grandchild's sibling: the restored process's parent is then init (or
/// the nearest child subreaper), as for any daemon, and not a stasis that is
/// about to exit (which would fire its parent-death signal).
///
/// The page images are verified here, in the original stasis, while the helper
/// builds the process; the helper resumes it only on a good verdict.
fn restore_detached(
    dump: &LoadedDump,
    plan: &RestorePlan,
    pending: PendingChecksums,
) -> Result<(), RestoreError> {
    use std::io::{Read, Write};
    let (mut report_rx, mut report_tx) =
        std::os::unix::net::UnixStream::pair().map_err(|source| RestoreError::Helper {
            message: format!("socketpair: {source}"),
        })?;
    let first = fork().map_err(|source| RestoreError::Helper {
        message: format!("fork: {source}"),
    })?;
    if first == 0 {
        drop(report_rx);
        match fork() {
            Ok(0) => {
                let mut verdict_channel = report_tx.try_clone();
                let mut wait_for_verdict = || -> std::io::Result<()> {
                    let mut verdict = String::new();
                    verdict_channel
                        .as_mut()
                        .map_err(|e| std::io::Error::new(e.kind(), e.to_string()))?
                        .read_to_string(&mut verdict)?;
                    match verdict.as_str() {
                        "OK" => Ok(()),
                        other => Err(std::io::Error::other(
                            other.strip_prefix("ERR ").unwrap_or(other).to_string(),
                        )),
                    }
                };
                let outcome = match create_and_build(dump, plan, true, &mut wait_for_verdict) {
                    Ok(()) => "OK".to_string(),
                    Err(err) => {
                        // Take the verdict even so: closing a socket with unread
                        // data resets it, and our report would be lost.
                        let _ = wait_for_verdict();
                        format!("ERR {err}")
                    }
                };
                let _ = report_tx.write_all(outcome.as_bytes());
                exit_now(0);
            }
            Ok(_) => exit_now(0),
            Err(err) => {
                let _ = report_tx.write_all(format!("ERR fork: {err}").as_bytes());
                exit_now(1);
            }
        }
    }
    drop(report_tx);
    let _ = waitpid(first, 0);
    let verdict = match pending.verify() {
        Ok(()) => "OK".to_string(),
        Err(err) => format!("ERR {err}"),
    };
    // The helper may have failed already and be gone: its report says why.
    let _ = report_rx.write_all(verdict.as_bytes());
    let _ = report_rx.shutdown(std::net::Shutdown::Write);
    let mut report = String::new();
    if let Err(source) = report_rx.read_to_string(&mut report) {
        // A helper that failed exits without reading our verdict, and the kernel then
        // resets the connection (ECONNRESET) once its report has been read: keep the report.
        if report.is_empty() {
            return Err(RestoreError::Helper {
                message: format!("reading the helper's report: {source}"),
            });
        }
    }
    match report.strip_prefix("ERR ") {
        None if report == "OK" => Ok(()),
        Some(message) => Err(RestoreError::Helper {
            message: message.to_string(),
        }),
        None => Err(RestoreError::Helper {
            message: "the restoring helper died without a report".to_string(),
        }),
    }
}

/// Executes the plan: every task with its original pid, parents before
/// children (tasks first), then the open files in the plan's order; then turns
/// each stub into its saved task, and resumes them all once everything is in
/// place and `before_resume` agrees.
fn create_and_build(
    dump: &LoadedDump,
    plan: &RestorePlan,
    sibling: bool,
    before_resume: &mut dyn FnMut() -> std::io::Result<()>,
) -> Result<(), RestoreError> {
    let root = &dump.tasks[0];
    let mut guard = StubGuard {
        pids: Vec::new(),
        armed: true,
    };
    let all_vmas: Vec<_> = dump
        .tasks
        .iter()
        .flat_map(|t| t.mm.vmas.iter().cloned())
        .collect();
    let mut shared = memory::SharedAnonymous::default();
    let mut stubs: Vec<build::Stub> = Vec::with_capacity(dump.tasks.len());
    let mut files = files::FileTable::new()
        .map_err(|e| step_error(root, "raising stasis' own open-file limit".into(), e))?;
    // Files that tasks map are part of their memory: they exist before the tasks.
    files
        .recreate_mapped_inodes(dump)
        .map_err(|e| step_error(root, "recreating mapped files".into(), e))?;
    let mut steps = plan.steps.iter().peekable();
    while let Some(step) = steps.next() {
        match *step {
            Step::Task(pid) => {
                let task = task_of(dump, pid)?;
                let mut stub = if pid == root.task.pid {
                    create_root(task, sibling, &mut guard, &all_vmas)?
                } else {
                    fork_from_parent(dump, &mut stubs, task, &mut guard)?
                };
                if task.task.zombie.is_none() {
                    build::restore_memory(&mut stub, dump, task, &mut shared, &files)
                        .map_err(|(s, e)| step_error(task, s, e))?;
                    build::complete_task(&mut stub, task)
                        .map_err(|(s, e)| step_error(task, s, e))?;
                }
                stubs.push(stub);
            }
            Step::Created(id) => {
                let file = file_of(dump, id)?;
                files.create(dump, file).map_err(|e| {
                    file_step_error(
                        dump,
                        id,
                        format!("opening file {id} ({})", plan.label(*step)),
                        e,
                    )
                })?;
            }
            Step::Configured(id) => {
                let file = file_of(dump, id)?;
                files.configure(dump, file).map_err(|e| {
                    file_step_error(
                        dump,
                        id,
                        format!("configuring file {id} ({})", plan.label(*step)),
                        e,
                    )
                })?;
            }
            Step::Installed { pid, fd } => {
                // One batch per run of installs into the same task.
                let mut batch = vec![fd];
                while let Some(Step::Installed { pid: next, fd }) = steps.peek() {
                    if *next != pid {
                        break;
                    }
                    batch.push(*fd);
                    steps.next();
                }
                let task = task_of(dump, pid)?;
                let stub = stubs
                    .iter_mut()
                    .find(|s| s.pid == pid)
                    .ok_or_else(|| plan_broken(format!("pid {pid} gets files before it exists")))?;
                build::install_fds(stub, task, &batch, &files)
                    .map_err(|(s, e)| step_error(task, s, e))?;
            }
        }
    }
    // After every task and thread exists: an owner may be any of them.
    crate::files::owner::restore(dump, |id| files.fd(id))
        .map_err(|e| step_error(root, "restoring signal-driven I/O owners".into(), e))?;
    files
        .finish_sysv_segments()
        .map_err(|e| step_error(root, "removing SysV segments marked for removal".into(), e))?;
    // Every task holds its copies now; ends and keepers nobody holds go away
    // before anyone runs.
    drop(files);
    let mut prepared = Vec::with_capacity(stubs.len());
    let mut zombies = Vec::new();
    for stub in stubs {
        let task = task_of(dump, stub.pid)?;
        if task.task.zombie.is_some() {
            zombies.push((stub, task));
            continue;
        }
        let ready = build::prepare(stub, dump, task).map_err(|(s, e)| step_error(task, s, e))?;
        prepared.push((ready, task));
    }
    before_resume().map_err(|e| step_error(root, "verifying the page images".into(), e))?;
    // Zombies end before anyone runs, so their parents find them dead, as before.
    for (stub, task) in zombies {
        build::make_zombie(stub, task).map_err(|(s, e)| step_error(task, s, e))?;
    }
    for (ready, task) in prepared {
        build::resume(ready).map_err(|(s, e)| step_error(task, s, e))?;
    }
    guard.armed = false;
    Ok(())
}

/// The root task: a stub spawned by stasis with the saved pid. When the
/// root's session or process group was led by a process outside the dump
/// (a shell, a daemon's first fork that has exited), a placeholder with that
/// id is created first, if the id is free, and the root is created from it
/// (as its sibling, so the root's parent is unchanged); the placeholders then
/// go, leaving the ids to the root.
fn create_root(
    task: &LoadedTask,
    sibling: bool,
    guard: &mut StubGuard,
    all_vmas: &[stasis_image::pb::Vma],
) -> Result<build::Stub, RestoreError> {
    let (pid, comm) = (task.task.pid, task.task.comm.clone());
    let exit_signal = if task.task.exit_signal > 0 {
        task.task.exit_signal
    } else {
        libc::SIGCHLD
    };
    let holders = placeholders_for(task);
    let first = holders.first().unwrap_or(task);
    let first_pid = first.task.pid;
    let child = spawn_stub(first_pid, exit_signal, sibling).map_err(|source| {
        if source.raw_os_error() == Some(libc::EEXIST) {
            RestoreError::PidTaken {
                pid: first_pid,
                holder: preflight::describe_pid(first_pid),
            }
        } else {
            RestoreError::Spawn {
                pid,
                comm: comm.clone(),
                source,
            }
        }
    })?;
    guard.pids.push(child);
    seize_and_stop(child)
        .map_err(|e| step_error(task, "taking control of the new process".into(), e))?;
    let mut current =
        build::start(child, first, all_vmas).map_err(|(s, e)| step_error(task, s, e))?;
    for (i, holder) in holders.iter().enumerate() {
        let next = holders.get(i + 1).unwrap_or(task);
        // A group that was not recreated cannot be joined (see placeholders_for).
        let join_group = next.task.pgid == holder.task.pgid;
        let created = build::fork_sibling(&mut current, holder, next.task.pid, next, join_group)
            .map_err(|(s, e)| step_error(task, s, e))?;
        guard.pids.push(next.task.pid);
        let placeholder = std::mem::replace(&mut current, created);
        build::end_placeholder(placeholder).map_err(|e| {
            step_error(
                task,
                format!("ending the placeholder of pid {}", holder.task.pid),
                e,
            )
        })?;
        guard.pids.retain(|p| *p != holder.task.pid);
    }
    Ok(current)
}

/// Placeholders that give the root its saved session and group ids: one
/// leading the session, then one leading the group, for the ids that were led
/// by a process outside the dump and are free now. An id still in use by
/// another process cannot be taken: the root then keeps stasis' own, and the
/// log says so.
fn placeholders_for(task: &LoadedTask) -> Vec<LoadedTask> {
    let t = &task.task;
    let (pid, sid, pgid) = (t.pid, t.sid, t.pgid);
    let free = |id: i32| id > 0 && !std::path::Path::new(&format!("/proc/{id}")).exists();
    let ours = crate::sys::syscalls::getsid();
    let mut holders = Vec::new();
    let session_ok = if sid == pid || sid == ours {
        true
    } else if free(sid) {
        tracing::info!(
            pid,
            sid,
            "recreating session {sid}: its leader is not in the dump"
        );
        holders.push(placeholder(sid, sid, sid, t.exit_signal));
        true
    } else {
        tracing::info!(
            pid,
            sid,
            "session {sid} is held by another process: the restored process joins stasis' session"
        );
        false
    };
    let group_needed = pgid != pid && pgid != sid && pgid != crate::sys::syscalls::getpgrp();
    if session_ok && group_needed {
        if free(pgid) {
            tracing::info!(
                pid,
                pgid,
                "recreating process group {pgid}: its leader is not in the dump"
            );
            holders.push(placeholder(pgid, sid, pgid, t.exit_signal));
        } else {
            tracing::info!(
                pid,
                pgid,
                "process group {pgid} is held by another process: the restored process cannot join it"
            );
        }
    }
    holders
}

/// A task image for a placeholder: only its ids matter.
fn placeholder(pid: i32, sid: i32, pgid: i32, exit_signal: i32) -> LoadedTask {
    LoadedTask {
        task: stasis_image::pb::TaskImage {
            pid,
            sid,
            pgid,
            exit_signal,
            comm: "placeholder".into(),
            ..Default::default()
        },
        mm: Default::default(),
        fds: Default::default(),
        pages_path: Default::default(),
    }
}

/// A child task, created by its restored parent (which the plan made first).
fn fork_from_parent(
    dump: &LoadedDump,
    stubs: &mut [build::Stub],
    task: &LoadedTask,
    guard: &mut StubGuard,
) -> Result<build::Stub, RestoreError> {
    let (pid, ppid) = (task.task.pid, task.task.ppid);
    let parent_task = task_of(dump, ppid)?;
    let parent = stubs
        .iter_mut()
        .find(|s| s.pid == ppid)
        .ok_or_else(|| plan_broken(format!("pid {pid} comes before its parent {ppid}")))?;
    let created = build::fork_child(parent, parent_task, pid, task);
    if created.is_ok() {
        guard.pids.push(pid);
    }
    created.map_err(|(s, e)| step_error(task, s, e))
}

fn task_of(dump: &LoadedDump, pid: i32) -> Result<&LoadedTask, RestoreError> {
    dump.tasks
        .iter()
        .find(|t| t.task.pid == pid)
        .ok_or_else(|| plan_broken(format!("pid {pid} is not in the dump")))
}

fn file_of(dump: &LoadedDump, id: u32) -> Result<&stasis_image::pb::OpenFile, RestoreError> {
    dump.files
        .files
        .iter()
        .find(|f| f.id == id)
        .ok_or_else(|| plan_broken(format!("file {id} is not in files.img")))
}

fn plan_broken(what: String) -> RestoreError {
    RestoreError::Incompatible {
        what: format!("the restore plan does not match the images: {what}"),
    }
}

fn step_error(task: &LoadedTask, step: String, source: std::io::Error) -> RestoreError {
    RestoreError::Step {
        pid: task.task.pid,
        comm: task.task.comm.clone(),
        step,
        source,
    }
}

/// A file step failed: name the first task that holds the file.
fn file_step_error(
    dump: &LoadedDump,
    id: u32,
    step: String,
    source: std::io::Error,
) -> RestoreError {
    let holder = dump.tasks.iter().find_map(|t| {
        t.fds
            .fds
            .iter()
            .find(|e| e.file_id == id)
            .map(|e| (t, e.fd))
    });
    match holder {
        Some((task, fd)) => step_error(task, format!("fd {fd}: {step}"), source),
        None => step_error(&dump.tasks[0], step, source),
    }
}

fn write_pidfile(path: &std::path::Path, pid: i32) -> Result<(), RestoreError> {
    // Write to a temporary name and rename, so a reader never sees a half-written pid.
    let tmp = path.with_extension("stasis-tmp");
    std::fs::write(&tmp, format!("{pid}\n"))
        .and_then(|_| std::fs::rename(&tmp, path))
        .map_err(|source| RestoreError::PidFile {
            path: path.to_path_buf(),
            source,
        })
}

/// Kills the half-built processes unless the restore completed.
struct StubGuard {
    pids: Vec<i32>,
    armed: bool,
}

impl Drop for StubGuard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        for &pid in &self.pids {
            let _ = kill(pid, libc::SIGKILL);
        }
        // Wait until every task we trace is gone: a leader's own exit is reported
        // only after all its threads have been waited for, so wait for anyone.
        let mut left: Vec<i32> = self.pids.clone();
        while !left.is_empty() {
            match waitpid_which(-1, 0) {
                Ok((who, WaitStatus::Exited(_) | WaitStatus::Signaled(_))) => {
                    left.retain(|p| *p != who)
                }
                Ok(_) => continue,
                Err(_) => break,
            }
        }
    }
}
