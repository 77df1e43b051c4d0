//! The restore pipeline: load and verify every image → check the system (pid
//! free, files present) → create the task as a stub with its original pid →
//! replace the stub's memory, files and state with the saved ones → resume.

mod build;
pub mod error;
mod memory;
mod preflight;

use std::path::PathBuf;
use std::time::Instant;

use stasis_image::LoadedDump;

pub use error::RestoreError;

use crate::sys::clone::{exit_now, fork, spawn_stub};
use crate::sys::syscalls::{kill, waitpid, WaitStatus};
use crate::tree::seize_and_stop;

#[derive(Debug, Clone)]
pub struct RestoreOptions {
    pub dir: PathBuf,
    /// The caller will not wait for the restored process (`-d`).
    pub detach: bool,
    pub pidfile: Option<PathBuf>,
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
    let dump = LoadedDump::load(&opts.dir)?;
    preflight::check_system(&dump)?;
    let task = dump
        .tasks
        .first()
        .ok_or_else(|| RestoreError::Incompatible {
            what: "the dump holds no task".into(),
        })?;
    let pid = task.task.pid;
    let comm = task.task.comm.clone();
    preflight::wait_for_free_pid(pid)?;
    preflight::check_files(&dump, task)?;
    if opts.detach {
        restore_detached(&dump)?;
    } else {
        create_and_build(&dump, false)?;
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
fn restore_detached(dump: &LoadedDump) -> Result<(), RestoreError> {
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
                let outcome = match create_and_build(dump, true) {
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
    let mut report = String::new();
    report_rx
        .read_to_string(&mut report)
        .map_err(|source| RestoreError::Helper {
            message: format!("reading the helper's report: {source}"),
        })?;
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

/// Creates the stub with the original pid and turns it into the saved task.
fn create_and_build(dump: &LoadedDump, sibling: bool) -> Result<(), RestoreError> {
    let task = &dump.tasks[0];
    let pid = task.task.pid;
    let comm = task.task.comm.clone();
    let exit_signal = if task.task.exit_signal > 0 {
        task.task.exit_signal
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
        pid: child,
        armed: true,
    };
    let step_err = |step: &str| {
        let comm = comm.clone();
        let step = step.to_string();
        move |source| RestoreError::Step {
            pid,
            comm,
            step,
            source,
        }
    };
    seize_and_stop(child).map_err(step_err("taking control of the new process"))?;
    build::build(child, dump, task).map_err(|(step, source)| step_err(&step)(source))?;
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

/// Kills the half-built process unless the restore completed.
struct StubGuard {
    pid: i32,
    armed: bool,
}

impl Drop for StubGuard {
    fn drop(&mut self) {
        if self.armed {
            let _ = kill(self.pid, libc::SIGKILL);
            // Wait for it to die (as its tracer; its parent reaps it).
            loop {
                match waitpid(self.pid, 0) {
                    Ok(WaitStatus::Exited(_)) | Ok(WaitStatus::Signaled(_)) | Err(_) => break,
                    _ => continue,
                }
            }
        }
    }
}
