//! Reading a task's state from /proc before and after it is frozen, and the
//! checks that decide whether it can be checkpointed at all.

use std::path::PathBuf;

use super::error::{Blocker, DumpError};
use crate::files::{self, FdProbe, Support};
use crate::mem::{self, VmaPlan};
use crate::proc::stat::{parse_stat, Stat, PF_KTHREAD};
use crate::proc::status::{parse_status, Status};

/// What /proc says about a task, plus the verdict on each of its fds and VMAs.
pub struct Inspection {
    pub stat: Stat,
    pub status: Status,
    pub fds: Vec<(FdProbe, files::FileKind)>,
    pub vmas: Vec<VmaPlan>,
    pub cwd: String,
    pub root: String,
    pub exe: String,
}

pub fn read_proc(pid: i32, comm: &str, name: &str) -> Result<String, DumpError> {
    let path = PathBuf::from(format!("/proc/{pid}/{name}"));
    std::fs::read_to_string(&path).map_err(|source| DumpError::Proc {
        pid,
        comm: comm.to_string(),
        path,
        source,
    })
}

pub fn read_link(pid: i32, comm: &str, name: &str) -> Result<String, DumpError> {
    let path = PathBuf::from(format!("/proc/{pid}/{name}"));
    std::fs::read_link(&path)
        .map(|p| p.to_string_lossy().into_owned())
        .map_err(|source| DumpError::Proc {
            pid,
            comm: comm.to_string(),
            path,
            source,
        })
}

/// Reads /proc/<pid>/stat, turning "no such file" into NoSuchProcess.
pub fn read_stat(pid: i32) -> Result<Stat, DumpError> {
    if pid <= 0 {
        return Err(DumpError::NoSuchProcess { pid });
    }
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_err(|_| DumpError::NoSuchProcess { pid })?;
    parse_stat(&text).map_err(|e| DumpError::Proc {
        pid,
        comm: String::new(),
        path: PathBuf::from(format!("/proc/{pid}/stat")),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()),
    })
}

/// Inspects a task and collects every reason it cannot be checkpointed.
/// `frozen_by_us` says the task is in our ptrace stop (so "stopped" is expected).
pub fn inspect(pid: i32, frozen_by_us: bool) -> Result<Inspection, DumpError> {
    let stat = read_stat(pid)?;
    let comm = stat.comm.clone();
    if pid == crate::sys::syscalls::getpid() {
        return Err(DumpError::IsSelf { pid });
    }
    if let (Ok(theirs), Ok(ours)) = (
        std::fs::read_link(format!("/proc/{pid}/exe")),
        std::fs::read_link("/proc/self/exe"),
    ) {
        if theirs == ours {
            return Err(DumpError::IsStasis { pid });
        }
    }
    if stat.flags & PF_KTHREAD != 0 {
        return Err(DumpError::KernelThread { pid, comm });
    }
    if stat.state == 'Z' {
        return Err(DumpError::Unsupported {
            blockers: vec![Blocker {
                pid,
                comm,
                location: "task".into(),
                what: "zombie".into(),
                why:
                    "the process has exited and waits to be reaped; there is nothing to checkpoint"
                        .into(),
            }],
        });
    }
    let status_text = read_proc(pid, &comm, "status")?;
    let status = parse_status(&status_text).map_err(|e| DumpError::Proc {
        pid,
        comm: comm.clone(),
        path: PathBuf::from(format!("/proc/{pid}/status")),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()),
    })?;
    let mut blockers = Vec::new();
    let mut block = |location: &str, what: &str, why: &str| {
        blockers.push(Blocker {
            pid,
            comm: comm.clone(),
            location: location.to_string(),
            what: what.to_string(),
            why: why.to_string(),
        })
    };
    let children = read_proc(pid, &comm, &format!("task/{pid}/children")).unwrap_or_default();
    if !children.trim().is_empty() {
        block(
            "task",
            &format!("child processes {}", children.trim()),
            "process trees are not supported yet; only a single process can be checkpointed",
        );
    }
    if status.tracer_pid != 0 && status.tracer_pid != crate::sys::syscalls::getpid() {
        block(
            "task",
            &format!("traced by pid {}", status.tracer_pid),
            "the process is being debugged or traced; detach the tracer first",
        );
    }
    if status.ns_pids.len() > 1 {
        block(
            "task",
            "nested pid namespace",
            "processes in a child pid namespace are not supported yet",
        );
    }
    if !frozen_by_us && (stat.state == 'T' || stat.state == 't') {
        block(
            "task",
            "stopped process",
            "stopped (SIGSTOP'd) processes are not supported yet",
        );
    }
    let timers = read_proc(pid, &comm, "timers").unwrap_or_default();
    let timer_count = timers.lines().filter(|l| l.starts_with("ID:")).count();
    if timer_count > 0 {
        block(
            "task",
            &format!("{timer_count} POSIX timer(s) (timer_create)"),
            "POSIX timers are not supported yet",
        );
    }
    let cwd = read_link(pid, &comm, "cwd")?;
    let root = read_link(pid, &comm, "root")?;
    let exe = read_link(pid, &comm, "exe")?;
    for (name, path) in [("cwd", &cwd), ("root", &root), ("exe", &exe)] {
        if path.ends_with(" (deleted)") {
            block(name, path, "it was deleted; stasis cannot recreate it");
        }
    }
    let probes = files::probe_fds(pid).map_err(|source| DumpError::Proc {
        pid,
        comm: comm.clone(),
        path: PathBuf::from(format!("/proc/{pid}/fd")),
        source,
    })?;
    let mut fds = Vec::new();
    for probe in probes {
        match files::classify(&probe) {
            Support::Supported(kind) => fds.push((probe, kind)),
            Support::Unsupported { what, why } => block(&format!("fd {}", probe.fd), &what, &why),
        }
    }
    // A pipe end whose partner is held outside the dump would lose its peer.
    let mut seen_pipes = Vec::new();
    for (probe, _) in fds.iter().filter(|(_, k)| *k == files::FileKind::Pipe) {
        let Some(id) = files::pipe::pipe_id(&probe.link) else {
            continue;
        };
        if seen_pipes.contains(&id) {
            continue;
        }
        seen_pipes.push(id);
        let ends: Vec<bool> = fds
            .iter()
            .filter(|(p, _)| files::pipe::pipe_id(&p.link) == Some(id))
            .map(|(p, _)| files::pipe::is_write_end(p))
            .collect();
        if ends.contains(&true) && ends.contains(&false) {
            continue;
        }
        let me = crate::sys::syscalls::getpid();
        let outside: Vec<String> = files::pipe::outside_holders(id, &[pid, me])
            .into_iter()
            .map(|(p, c, fd)| format!("pid {p} ({c}) fd {fd}"))
            .collect();
        if !outside.is_empty() {
            block(
                &format!("fd {}", probe.fd),
                &format!("pipe ({})", probe.link),
                &format!(
                    "its other end is held outside the dumped processes, by {}; checkpoint them together or close the pipe",
                    outside.join(", ")
                ),
            );
        }
    }
    let raw_vmas = mem::read_vmas(pid).map_err(|source| DumpError::Proc {
        pid,
        comm: comm.clone(),
        path: PathBuf::from(format!("/proc/{pid}/maps")),
        source,
    })?;
    let mut vmas = Vec::new();
    for (entry, flags) in &raw_vmas {
        match mem::classify(entry, flags) {
            Ok(plan) => vmas.push(plan),
            Err(bad) => block(
                &format!("mapping {:#x}-{:#x}", bad.start, bad.end),
                &bad.what,
                &bad.why,
            ),
        }
    }
    if !blockers.is_empty() {
        return Err(DumpError::Unsupported { blockers });
    }
    Ok(Inspection {
        stat,
        status,
        fds,
        vmas,
        cwd,
        root,
        exe,
    })
}
