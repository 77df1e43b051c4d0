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

use crate::sys::clone::{spawn_stub, StubSession};
use crate::sys::ptrace;
use crate::sys::syscalls::{kill, waitpid, WaitStatus};

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
    let task = dump.tasks.first().ok_or_else(|| RestoreError::Incompatible {
        what: "the dump holds no task".into(),
    })?;
    let pid = task.task.pid;
    let comm = task.task.comm.clone();
    preflight::wait_for_free_pid(pid)?;
    preflight::check_files(&dump, task)?;

    let session = if task.task.sid == pid {
        StubSession::NewSession
    } else if task.task.pgid == pid {
        StubSession::NewGroup
    } else {
        tracing::info!(
            pid,
            sid = task.task.sid,
            pgid = task.task.pgid,
            "session and process group of the original are not in the dump; the process joins stasis' own"
        );
        StubSession::Inherit
    };
    let exit_signal = if task.task.exit_signal > 0 {
        task.task.exit_signal
    } else {
        libc::SIGCHLD
    };
    let child = spawn_stub(pid, exit_signal, session).map_err(|source| {
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
    let mut guard = StubGuard { pid: child, armed: true };
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
    match waitpid(child, 0).map_err(step_err("waiting for the new process to stop"))? {
        WaitStatus::Stopped { sig: libc::SIGSTOP, .. } => {}
        other => {
            return Err(step_err("waiting for the new process to stop")(std::io::Error::other(
                format!("unexpected state {other:?}"),
            )))
        }
    }
    ptrace::set_options(child, ptrace::PTRACE_O_EXITKILL).map_err(step_err("tracing the new process"))?;
    build::build(child, &dump, task, opts).map_err(|(step, source)| step_err(&step)(source))?;
    guard.armed = false;
    if let Some(path) = &opts.pidfile {
        write_pidfile(path, pid)?;
    }
    Ok(Restored {
        pid,
        comm,
        elapsed: started.elapsed(),
    })
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
            // Reap it so its pid is free again.
            loop {
                match waitpid(self.pid, 0) {
                    Ok(WaitStatus::Exited(_)) | Ok(WaitStatus::Signaled(_)) | Err(_) => break,
                    _ => continue,
                }
            }
        }
    }
}
