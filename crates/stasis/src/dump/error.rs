//! Errors of the dump pipeline. Each names the task (pid and command) and says
//! what the user can do; the tree is always left running when one is returned.

use std::path::PathBuf;

use stasis_image::ImageError;

/// One object that makes a task impossible to checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocker {
    pub pid: i32,
    pub comm: String,
    /// "fd 7", "mapping 7f00..-7f01..", "task".
    pub location: String,
    pub what: String,
    pub why: String,
}

impl std::fmt::Display for Blocker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "pid {} ({}) {}: {}: {}",
            self.pid, self.comm, self.location, self.what, self.why
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DumpError {
    #[error("pid {pid}: no such process")]
    NoSuchProcess { pid: i32 },

    #[error("pid {pid} is stasis itself; a process cannot checkpoint itself")]
    IsSelf { pid: i32 },

    #[error("pid {pid} is a stasis process; stasis does not checkpoint itself")]
    IsStasis { pid: i32 },

    #[error("pid {pid} ({comm}) is a kernel thread; only user processes can be checkpointed")]
    KernelThread { pid: i32, comm: String },

    #[error("{}", blockers.iter().map(|b| b.to_string()).collect::<Vec<_>>().join("\n"))]
    Unsupported { blockers: Vec<Blocker> },

    #[error("pid {pid} ({comm}): cannot read {path}: {source}")]
    Proc {
        pid: i32,
        comm: String,
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("pid {pid} ({comm}): cannot freeze the process: {source}")]
    Freeze {
        pid: i32,
        comm: String,
        source: std::io::Error,
    },

    #[error("pid {pid} ({comm}): {what}: {source}")]
    Task {
        pid: i32,
        comm: String,
        what: String,
        source: std::io::Error,
    },

    #[error(transparent)]
    Image(#[from] ImageError),
}

impl DumpError {
    /// Wraps an io::Error of `what` we were doing to task `pid` (for `map_err`).
    pub fn task(pid: i32, comm: &str, what: &str) -> impl FnOnce(std::io::Error) -> DumpError {
        let comm = comm.to_string();
        let what = what.to_string();
        move |source| DumpError::Task {
            pid,
            comm,
            what,
            source,
        }
    }

    /// True when the dump was refused because the tree holds something unsupported.
    pub fn is_unsupported(&self) -> bool {
        matches!(self, DumpError::Unsupported { .. })
    }
}
