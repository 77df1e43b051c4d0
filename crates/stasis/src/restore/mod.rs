//! The restore pipeline: load and verify every image → check the system (pid
//! free, files present) → create the task as a stub with its original pid →
//! replace the stub's memory, files and state with the saved ones → resume.

mod build;
pub mod error;
mod files;
mod memory;
mod preflight;

use std::path::PathBuf;
use std::time::Instant;

use stasis_image::{LoadedDump, PendingChecksums};

pub use error::RestoreError;

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
        restore_detached(&dump, pending)?;
    } else {
        std::thread::scope(|scope| {
            let (verdict_tx, verdict_rx) = std::sync::mpsc::channel();
            scope.spawn(move || {
                let _ = verdict_tx.send(pending.verify());
            });
            create_and_build(&dump, false, &mut || match verdict_rx.recv() {
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

/// Restores from a grandchild that has been orphaned, with the task created as
/// the grandchild's sibling: the restored process's parent is then init (or
/// the nearest child subreaper), as for any daemon, and not a stasis that is
/// about to exit (which would fire its parent-death signal).
///
/// The page images are verified here, in the original stasis, while the helper
/// builds the process; the helper resumes it only on a good verdict.
fn restore_detached(dump: &LoadedDump, pending: PendingChecksums) -> Result<(), RestoreError> {
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
                let outcome = match create_and_build(dump, true, &mut wait_for_verdict) {
                    Ok(()) => "OK".to_string(),
                    Err(err) => format!("ERR {err}"),
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

/// Creates every task with its original pid, parents before children (tasks
/// first), then the open files, then turns each stub into its saved task, and
/// resumes them all once everything is in place and `before_resume` agrees.
fn create_and_build(
    dump: &LoadedDump,
    sibling: bool,
    before_resume: &mut dyn FnMut() -> std::io::Result<()>,
) -> Result<(), RestoreError> {
    let root = &dump.tasks[0];
    let pid = root.task.pid;
    let comm = root.task.comm.clone();
    let step_err = |pid: i32, comm: &str| {
        let comm = comm.to_string();
        move |(step, source): (String, std::io::Error)| RestoreError::Step {
            pid,
            comm,
            step,
            source,
        }
    };
    let exit_signal = if root.task.exit_signal > 0 {
        root.task.exit_signal
    } else {
        libc::SIGCHLD
    };
    let child = spawn_stub(pid, exit_signal, sibling).map_err(|source| {
        if source.raw_os_error() == Some(libc::EEXIST) {
            RestoreError::PidTaken {
                pid,
                holder: preflight::describe_pid(pid),
            }
        } else {
            RestoreError::Spawn {
                pid,
                comm: comm.clone(),
                source,
            }
        }
    })?;
    let mut guard = StubGuard {
        pids: vec![child],
        armed: true,
    };
    seize_and_stop(child)
        .map_err(|e| step_err(pid, &comm)(("taking control of the new process".into(), e)))?;
    let all_vmas: Vec<_> = dump
        .tasks
        .iter()
        .flat_map(|t| t.mm.vmas.iter().cloned())
        .collect();
    let mut shared = memory::SharedAnonymous::default();
    let mut root_stub = build::start(child, root, &all_vmas).map_err(step_err(pid, &comm))?;
    // Memory before children: they inherit what they still share with their parent.
    build::restore_memory(&mut root_stub, dump, root, &mut shared).map_err(step_err(pid, &comm))?;
    let mut stubs = vec![root_stub];
    for task in &dump.tasks[1..] {
        let (child_pid, ppid) = (task.task.pid, task.task.ppid);
        let parent_task = dump
            .tasks
            .iter()
            .find(|t| t.task.pid == ppid)
            .ok_or_else(|| RestoreError::Incompatible {
                what: format!("the parent {ppid} of pid {child_pid} is not in the dump"),
            })?;
        let parent =
            stubs
                .iter_mut()
                .find(|s| s.pid == ppid)
                .ok_or_else(|| RestoreError::Incompatible {
                    what: format!("the parent {ppid} of pid {child_pid} is not in the dump"),
                })?;
        let created = build::fork_child(parent, parent_task, child_pid, task);
        if created.is_ok() {
            guard.pids.push(child_pid);
        }
        let mut created = created.map_err(step_err(child_pid, &task.task.comm))?;
        if task.task.zombie.is_none() {
            build::restore_memory(&mut created, dump, task, &mut shared)
                .map_err(step_err(child_pid, &task.task.comm))?;
        }
        stubs.push(created);
    }
    // Files second: every task exists now.
    let files = files::FileTable::open_all(dump)
        .map_err(|e| step_err(pid, &comm)(("opening files".into(), e)))?;
    let mut prepared = Vec::with_capacity(stubs.len());
    let mut zombies = Vec::new();
    for (stub, task) in stubs.into_iter().zip(&dump.tasks) {
        if task.task.zombie.is_some() {
            zombies.push((stub, task));
            continue;
        }
        let ready = build::prepare(stub, dump, task, &files)
            .map_err(step_err(task.task.pid, &task.task.comm))?;
        prepared.push((ready, task));
    }
    // After every thread exists: an owner may be any of them.
    crate::files::owner::restore(dump, |id| files.fd(id))
        .map_err(|e| step_err(pid, &comm)(("restoring signal-driven I/O owners".into(), e)))?;
    before_resume().map_err(|e| step_err(pid, &comm)(("verifying the page images".into(), e)))?;
    // Zombies end before anyone runs, so their parents find them dead, as before.
    for (stub, task) in zombies {
        build::make_zombie(stub, task).map_err(step_err(task.task.pid, &task.task.comm))?;
    }
    for (ready, task) in prepared {
        build::resume(ready).map_err(step_err(task.task.pid, &task.task.comm))?;
    }
    guard.armed = false;
    Ok(())
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
