//! Freezing a task: seize it with ptrace and stop it. A [`FrozenTask`] resumes
//! the task (registers and signal mask as they were) when dropped, so a dump
//! that fails anywhere leaves the task running as it was.

use std::io;
use std::time::{Duration, Instant};

use crate::sys::ptrace;
use crate::sys::syscalls::{waitpid, WaitStatus};

pub struct FrozenTask {
    pub pid: i32,
    /// Registers and mask at the freeze; put back before the task runs again.
    pub regs: libc::user_regs_struct,
    pub sigmask: u64,
    /// When the task stopped.
    pub frozen_at: Instant,
    /// When set, drop neither restores nor detaches (the task was killed).
    released: bool,
}

impl FrozenTask {
    /// Seizes and stops `pid`. Signals that arrive while we wait for the stop are
    /// delivered to the task as they would have been.
    pub fn freeze(pid: i32) -> io::Result<FrozenTask> {
        seize_and_stop(pid)?;
        let mut task = FrozenTask {
            pid,
            regs: ptrace::zero_regs(),
            sigmask: 0,
            frozen_at: Instant::now(),
            released: false,
        };
        task.regs = ptrace::get_regs(pid)?;
        task.sigmask = ptrace::get_sigmask(pid)?;
        Ok(task)
    }

    /// Kills the frozen task: the dump is complete and the task must not run on.
    pub fn kill(mut self) -> io::Result<()> {
        self.released = true;
        crate::sys::syscalls::kill(self.pid, libc::SIGKILL)?;
        // Wait for the exit notification we get as tracer, so the pid is on its
        // way to being free when we return.
        let _ = waitpid(self.pid, 0);
        Ok(())
    }

    /// Lets the task run on exactly as it was frozen.
    pub fn resume(mut self) -> io::Result<()> {
        self.released = true;
        self.put_back()
    }

    fn put_back(&self) -> io::Result<()> {
        ptrace::set_regs(self.pid, &self.regs)?;
        ptrace::set_sigmask(self.pid, self.sigmask)?;
        ptrace::detach(self.pid, 0)
    }
}

impl Drop for FrozenTask {
    fn drop(&mut self) {
        if !self.released {
            if let Err(err) = self.put_back() {
                tracing::error!(pid = self.pid, "could not resume frozen task: {err}");
            }
        }
    }
}

/// Seizes `pid` (which dies if stasis dies: PTRACE_O_EXITKILL) and waits until
/// it sits in a ptrace stop. Signals that arrive meanwhile are delivered to the
/// task as they would have been. On error the task is detached again.
pub fn seize_and_stop(pid: i32) -> io::Result<()> {
    ptrace::seize(pid, ptrace::PTRACE_O_EXITKILL)?;
    let stop = || -> io::Result<()> {
        ptrace::interrupt(pid)?;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match waitpid(pid, 0)? {
                WaitStatus::Stopped { event, .. } if event == ptrace::PTRACE_EVENT_STOP => {
                    return Ok(())
                }
                WaitStatus::Stopped { sig, .. } => {
                    // A signal-delivery stop: let the signal through, the pending
                    // interrupt stops the task again right after.
                    ptrace::cont(pid, sig)?;
                    if Instant::now() > deadline {
                        return Err(io::Error::other("the process did not stop within 10 s"));
                    }
                }
                WaitStatus::Exited(_) | WaitStatus::Signaled(_) => {
                    return Err(io::Error::other("the process exited while being frozen"));
                }
                _ => continue,
            }
        }
    };
    stop().inspect_err(|_| {
        let _ = ptrace::detach(pid, 0);
    })
}
