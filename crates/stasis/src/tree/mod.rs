//! Freezing a task: seize it with ptrace and stop it. A [`FrozenTask`] resumes
//! the task (registers and signal mask as they were) when dropped, so a dump
//! that fails anywhere leaves the task running as it was.

use std::io;
use std::time::{Duration, Instant};

use crate::sys::ptrace;
use crate::sys::syscalls::{waitpid, WaitStatus};

/// One stopped thread and what must be put back before it runs again.
#[derive(Clone, Copy)]
pub struct FrozenThread {
    pub tid: i32,
    pub regs: libc::user_regs_struct,
    pub sigmask: u64,
}

/// A process with every one of its threads stopped.
pub struct FrozenTask {
    pub pid: i32,
    /// Leader first.
    pub threads: Vec<FrozenThread>,
    /// When the last thread stopped.
    pub frozen_at: Instant,
    /// When set, drop neither restores nor detaches (the task was killed).
    released: bool,
}

impl FrozenTask {
    /// Seizes and stops every thread of `pid`, again and again until no new
    /// thread appears (threads may be created while we seize the others).
    /// Signals that arrive while we wait for a stop are delivered as they would
    /// have been.
    pub fn freeze(pid: i32) -> io::Result<FrozenTask> {
        let mut task = FrozenTask {
            pid,
            threads: Vec::new(),
            frozen_at: Instant::now(),
            released: false,
        };
        loop {
            let tids = crate::sys::syscalls::thread_ids(pid)?;
            let new: Vec<i32> = tids
                .into_iter()
                .filter(|t| !task.threads.iter().any(|f| f.tid == *t))
                .collect();
            if new.is_empty() {
                break;
            }
            for tid in new {
                let started = Instant::now();
                let seized = seize_and_stop(tid);
                tracing::trace!(tid, elapsed = ?started.elapsed(), "thread stopped");
                match seized {
                    Ok(()) => {}
                    // The thread exited between the listing and the seize.
                    Err(_)
                        if !std::path::Path::new(&format!("/proc/{pid}/task/{tid}")).exists() =>
                    {
                        continue
                    }
                    Err(err) => return Err(err),
                }
                task.threads.push(FrozenThread {
                    tid,
                    regs: ptrace::get_regs(tid)?,
                    sigmask: ptrace::get_sigmask(tid)?,
                });
            }
        }
        task.threads.sort_by_key(|t| (t.tid != pid, t.tid));
        task.frozen_at = Instant::now();
        Ok(task)
    }

    pub fn leader(&self) -> &FrozenThread {
        &self.threads[0]
    }

    /// Kills the frozen task: the dump is complete and the task must not run on.
    pub fn kill(mut self) -> io::Result<()> {
        self.released = true;
        crate::sys::syscalls::kill(self.pid, libc::SIGKILL)?;
        // Wait for the exit notifications we get as tracer, so the pid is on its
        // way to being free when we return. The leader's comes last: the kernel
        // holds it back until every other thread has been waited for.
        for thread in self.threads.iter().rev() {
            let _ = waitpid(thread.tid, 0);
        }
        Ok(())
    }

    /// Lets the task run on exactly as it was frozen.
    pub fn resume(mut self) -> io::Result<()> {
        self.released = true;
        self.put_back()
    }

    fn put_back(&self) -> io::Result<()> {
        let mut result = Ok(());
        for thread in &self.threads {
            let one = ptrace::set_regs(thread.tid, &thread.regs)
                .and_then(|_| ptrace::set_sigmask(thread.tid, thread.sigmask))
                .and_then(|_| ptrace::detach(thread.tid, 0));
            if result.is_ok() {
                result = one;
            }
        }
        result
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
            let status = waitpid(pid, 0)?;
            tracing::trace!(pid, ?status, "stop while freezing");
            match status {
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
