//! Reading a task's state from /proc before and after it is frozen, and the
//! checks that decide whether it can be checkpointed at all.

use std::collections::{HashMap, HashSet};
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

/// One thing the checker looked at (an fd, a mapping, a feature of a task)
/// and its verdict: what it is and why it can or cannot be checkpointed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckItem {
    /// "fd 7", "mapping 0x7f00-0x7f01", "task".
    pub location: String,
    pub what: String,
    pub supported: bool,
    /// For a supported item, how stasis handles it; else why not and what to do.
    pub why: String,
}

/// Inspects a task and collects every reason it cannot be checkpointed.
/// `frozen_by_us` says the task is in our ptrace stop (so "stopped" is expected).
pub fn inspect(pid: i32, frozen_by_us: bool) -> Result<Inspection, DumpError> {
    inspect_items(pid, frozen_by_us, &mut Vec::new())
}

/// [`inspect`], also listing every item looked at in `items` (for `stasis check`),
/// supported or not: the dump and the checker share one verdict per item.
pub fn inspect_items(
    pid: i32,
    frozen_by_us: bool,
    items: &mut Vec<CheckItem>,
) -> Result<Inspection, DumpError> {
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
        items.push(CheckItem {
            location: location.to_string(),
            what: what.to_string(),
            supported: false,
            why: why.to_string(),
        });
        blockers.push(Blocker {
            pid,
            comm: comm.clone(),
            location: location.to_string(),
            what: what.to_string(),
            why: why.to_string(),
        })
    };
    let mut supported = Vec::new();
    let mut fine = |location: &str, what: &str, how: &str| {
        supported.push(CheckItem {
            location: location.to_string(),
            what: what.to_string(),
            supported: true,
            why: how.to_string(),
        })
    };
    if status.seccomp == 2 {
        block(
            "task",
            "seccomp filter",
            "seccomp filters are not saved yet: the restored process would run without them",
        );
    }
    fine(
        "task",
        &format!("{} thread(s)", status.threads),
        "threads, registers, signals, credentials and timers are saved",
    );
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
    if !frozen_by_us && stat.state == 't' {
        block(
            "task",
            "traced process",
            "the process is stopped by a debugger; detach it first",
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
            Support::Supported(kind) => {
                fine(
                    &format!("fd {}", probe.fd),
                    &probe.link,
                    &format!("{kind:?}"),
                );
                fds.push((probe, kind))
            }
            Support::Unsupported { what, why } => block(&format!("fd {}", probe.fd), &what, &why),
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
            Ok(plan) => {
                let what = if entry.path.is_empty() {
                    "anonymous memory"
                } else {
                    entry.path.as_str()
                };
                fine(
                    &format!("mapping {:#x}-{:#x}", entry.start, entry.end),
                    what,
                    &format!("{:?}", plan.vma.kind()),
                );
                vmas.push(plan)
            }
            Err(bad) => block(
                &format!("mapping {:#x}-{:#x}", bad.start, bad.end),
                &bad.what,
                &bad.why,
            ),
        }
    }
    items.extend(supported);
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

/// The process `root` and all its descendants, parents before children.
pub fn discover_tree(root: i32) -> Result<Vec<i32>, DumpError> {
    read_stat(root)?;
    let mut tree = vec![root];
    let mut next = 0;
    while next < tree.len() {
        let pid = tree[next];
        next += 1;
        let tids = crate::sys::syscalls::thread_ids(pid).unwrap_or_default();
        for tid in tids {
            let children = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/children"))
                .unwrap_or_default();
            for child in children
                .split_whitespace()
                .filter_map(|c| c.parse::<i32>().ok())
            {
                if !tree.contains(&child) {
                    tree.push(child);
                }
            }
        }
    }
    Ok(tree)
}

/// Inspects every process of a tree; refuses with every blocker of every
/// process at once, including pipes shared with processes outside the tree.
/// Whether `pid` is a zombie (exited, not yet reaped by its parent).
pub fn is_zombie(pid: i32) -> bool {
    read_stat(pid).map(|s| s.state == 'Z').unwrap_or(false)
}

/// The live processes of a tree and its zombies (which have no state to inspect).
pub struct TreeInspection {
    pub live: Vec<Inspection>,
    pub zombies: Vec<Stat>,
}

/// A task that has begun to exit (PF_EXITING) or has exited.
pub fn is_exiting(pid: i32) -> bool {
    const PF_EXITING: u32 = 0x4;
    read_stat(pid).map_or(true, |s| {
        matches!(s.state, 'Z' | 'X') || (s.flags as u32) & PF_EXITING != 0
    })
}

/// Waits (briefly) for a task that was exiting when the tree froze to become
/// a zombie: true once it is one, false if it is gone or still not one.
pub fn settles_as_zombie(pid: i32) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        match read_stat(pid) {
            Ok(stat) if stat.state == 'Z' => return true,
            Ok(_) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(1))
            }
            _ => return false,
        }
    }
}

pub fn inspect_tree(pids: &[i32], frozen_by_us: bool) -> Result<TreeInspection, DumpError> {
    let mut blockers = Vec::new();
    let mut inspections = Vec::new();
    let mut zombies = Vec::new();
    for &pid in pids {
        if pid != pids[0] {
            if let Ok(stat) = read_stat(pid) {
                if stat.state == 'Z' {
                    zombies.push(stat);
                    continue;
                }
            }
        }
        match inspect(pid, frozen_by_us) {
            Ok(inspection) => inspections.push(inspection),
            Err(DumpError::Unsupported { blockers: more }) => blockers.extend(more),
            // A child that exited (or was exiting) between the listing and the
            // inspection, the tree not being frozen yet: the freeze will see
            // the tree as it is then.
            Err(_)
                if pid != pids[0]
                    && !frozen_by_us
                    && (read_stat(pid).is_err() || settles_as_zombie(pid)) => {}
            Err(err) => return Err(err),
        }
    }
    blockers.extend(tree_blockers(&inspections, pids));
    blockers.extend(unix_socket_blockers(&inspections, pids, frozen_by_us)?);
    if blockers.is_empty() {
        Ok(TreeInspection {
            live: inspections,
            zombies,
        })
    } else {
        Err(DumpError::Unsupported { blockers })
    }
}

/// What only the whole tree shows: pipes, /proc files, pidfds and owners that
/// lead outside it, epoll items that lost their file.
pub fn tree_blockers(inspections: &[Inspection], tree: &[i32]) -> Vec<Blocker> {
    let mut blockers = pipe_blockers(inspections, tree);
    blockers.extend(proc_file_blockers(inspections, tree));
    blockers.extend(owner_blockers(inspections, tree));
    blockers.extend(epoll_blockers(inspections));
    blockers.extend(inet_blockers(inspections));
    blockers
}

/// IPv4/IPv6 sockets in a state stasis cannot restore (an established TCP
/// connection, a listener with connections waiting to be accepted).
fn inet_blockers(inspections: &[Inspection]) -> Vec<Blocker> {
    use std::os::fd::AsFd;
    let mut blockers = Vec::new();
    for insp in inspections {
        let Ok(pidfd) = crate::sys::syscalls::pidfd_open(insp.stat.pid) else {
            continue;
        };
        for (probe, kind) in &insp.fds {
            if *kind != files::FileKind::InetSocket {
                continue;
            }
            let Ok(copy) = crate::sys::syscalls::pidfd_getfd(pidfd.as_fd(), probe.fd) else {
                continue;
            };
            if let Err(why) = files::inet_socket::dump(copy.as_fd()) {
                blockers.push(Blocker {
                    pid: insp.stat.pid,
                    comm: insp.stat.comm.clone(),
                    location: format!("fd {}", probe.fd),
                    what: format!("socket ({})", probe.link),
                    why,
                });
            }
        }
    }
    blockers
}

/// An epoll item whose fd number no longer holds the file it watches, in
/// this task or any other task of the tree that shares the epoll.
fn epoll_blockers(inspections: &[Inspection]) -> Vec<Blocker> {
    let epolls: Vec<(&Inspection, &files::FdProbe)> = inspections
        .iter()
        .flat_map(|i| {
            i.fds
                .iter()
                .filter(|(_, k)| *k == files::FileKind::Epoll)
                .map(move |(p, _)| (i, p))
        })
        .collect();
    fn holder<'a>(insp: &'a Inspection, probe: &files::FdProbe) -> files::epoll::Holder<'a> {
        files::epoll::Holder {
            pid: insp.stat.pid,
            epoll_fd: probe.fd,
            fds: &insp.fds,
        }
    }
    let mut blockers = Vec::new();
    for &(insp, probe) in &epolls {
        let pid = insp.stat.pid;
        // This task first, then the others that share the description.
        let mut holders = vec![holder(insp, probe)];
        for &(other, other_probe) in &epolls {
            let other_pid = other.stat.pid;
            if other_pid != pid
                && crate::sys::syscalls::same_open_file(pid, probe.fd, other_pid, other_probe.fd)
                    .unwrap_or(false)
            {
                holders.push(holder(other, other_probe));
            }
        }
        if let Some(why) = files::epoll::check_items(probe, &holders) {
            blockers.push(Blocker {
                pid,
                comm: insp.stat.comm.clone(),
                location: format!("fd {}", probe.fd),
                what: format!("epoll ({})", probe.link),
                why,
            });
        }
    }
    blockers
}

/// Unix sockets connected outside the tree, listeners with connections
/// waiting, and (once frozen, when queues hold still) fds in flight.
pub fn unix_socket_blockers(
    inspections: &[Inspection],
    tree: &[i32],
    frozen_by_us: bool,
) -> Result<Vec<Blocker>, DumpError> {
    use files::unix_socket;
    use std::os::fd::AsFd;
    let mut held = Vec::new();
    let mut holders = Vec::new();
    for insp in inspections {
        for (probe, kind) in &insp.fds {
            if *kind != files::FileKind::UnixSocket {
                continue;
            }
            if let Some(inode) = unix_socket::socket_inode(&probe.link) {
                held.push(unix_socket::HeldSocket {
                    pid: insp.stat.pid,
                    fd: probe.fd,
                    inode,
                });
                holders.push(insp);
            }
        }
    }
    if held.is_empty() {
        return Ok(Vec::new());
    }
    let root = &inspections[0].stat;
    let diags: HashMap<u64, crate::sys::netlink::UnixDiag> = crate::sys::netlink::unix_sockets()
        .map_err(DumpError::task(
            root.pid,
            &root.comm,
            "listing unix sockets (sock_diag)",
        ))?
        .into_iter()
        .map(|d| (d.inode, d))
        .collect();
    let mut exclude = tree.to_vec();
    exclude.push(crate::sys::syscalls::getpid());
    let outside = |inode: u64| -> Vec<String> {
        files::pipe::outside_holders_of(&format!("socket:[{inode}]"), &exclude)
            .into_iter()
            .map(|(p, c, fd)| format!("pid {p} ({c}) fd {fd}"))
            .collect()
    };
    let blocker = |index: usize, what: String, why: String| {
        let insp = holders[index];
        Blocker {
            pid: insp.stat.pid,
            comm: insp.stat.comm.clone(),
            location: format!("fd {}", held[index].fd),
            what,
            why,
        }
    };
    let mut blockers: Vec<Blocker> = unix_socket::check_tree(&held, &diags, &outside)
        .into_iter()
        .map(|p| blocker(p.index, p.what, p.why))
        .collect();
    if frozen_by_us && blockers.is_empty() {
        for (index, socket) in held.iter().enumerate() {
            let Some(diag) = diags.get(&socket.inode) else {
                continue;
            };
            let Ok(pidfd) = crate::sys::syscalls::pidfd_open(socket.pid) else {
                continue;
            };
            let Ok(copy) = crate::sys::syscalls::pidfd_getfd(pidfd.as_fd(), socket.fd) else {
                continue;
            };
            let insp = holders[index];
            let problem =
                unix_socket::queue_problem(copy.as_fd(), diag, &diags).map_err(DumpError::task(
                    insp.stat.pid,
                    &insp.stat.comm,
                    &format!(
                        "reading the queue of fd {} ({})",
                        socket.fd,
                        unix_socket::describe(diag)
                    ),
                ))?;
            if let Some(why) = problem {
                blockers.push(blocker(index, unix_socket::describe(diag), why));
            }
        }
    }
    Ok(blockers)
}

/// A description whose signal-driven I/O goes to a process outside the tree.
fn owner_blockers(inspections: &[Inspection], tree: &[i32]) -> Vec<Blocker> {
    use std::os::fd::AsFd;
    let groups: Vec<i32> = inspections.iter().map(|i| i.stat.pgid).collect();
    let mut blockers = Vec::new();
    for insp in inspections {
        // A task that is gone is reported elsewhere (or not dumped).
        let Ok(pidfd) = crate::sys::syscalls::pidfd_open(insp.stat.pid) else {
            continue;
        };
        for (probe, _) in &insp.fds {
            let Ok(copy) = crate::sys::syscalls::pidfd_getfd(pidfd.as_fd(), probe.fd) else {
                continue;
            };
            if let Some(why) = files::owner::outside_owner(copy.as_fd(), tree, &groups) {
                blockers.push(Blocker {
                    pid: insp.stat.pid,
                    comm: insp.stat.comm.clone(),
                    location: format!("fd {}", probe.fd),
                    what: probe.link.clone(),
                    why,
                });
            }
        }
    }
    blockers
}

/// A /proc file of a task outside the tree names a process that will not
/// exist after restore (or will be another process with the same pid).
fn proc_file_blockers(inspections: &[Inspection], tree: &[i32]) -> Vec<Blocker> {
    let mut blockers = Vec::new();
    for insp in inspections {
        for (probe, kind) in &insp.fds {
            let target_pid = match kind {
                files::FileKind::Proc => match files::procfs::parse(&probe.link) {
                    Some(target) => target.pid,
                    None => continue,
                },
                files::FileKind::PidFd => probe.info.pidfd_pid.unwrap_or(0),
                _ => continue,
            };
            if target_pid == 0 || tree.contains(&target_pid) {
                continue;
            }
            blockers.push(Blocker {
                pid: insp.stat.pid,
                comm: insp.stat.comm.clone(),
                location: format!("fd {}", probe.fd),
                what: format!("file {}", probe.link),
                why: format!(
                    "it refers to pid {target_pid}, which is not part of the dumped tree; dump that process's tree instead, or close the file"
                ),
            });
        }
    }
    blockers
}

/// A pipe end whose partner is held outside the tree would lose its peer.
fn pipe_blockers(inspections: &[Inspection], tree: &[i32]) -> Vec<Blocker> {
    let ends: Vec<(&Inspection, &files::FdProbe)> = inspections
        .iter()
        .flat_map(|i| {
            i.fds
                .iter()
                .filter(|(_, k)| *k == files::FileKind::Pipe)
                .map(move |(p, _)| (i, p))
        })
        .collect();
    let mut exclude = tree.to_vec();
    exclude.push(crate::sys::syscalls::getpid());
    // Which ends of each pipe the tree holds: (read, write).
    let mut held: HashMap<u64, (bool, bool)> = HashMap::new();
    for &(_, probe) in &ends {
        if let Some(id) = files::pipe::pipe_id(&probe.link) {
            let slot = held.entry(id).or_default();
            if files::pipe::is_write_end(probe) {
                slot.1 = true;
            } else {
                slot.0 = true;
            }
        }
    }
    let mut seen = HashSet::new();
    let mut blockers = Vec::new();
    for &(insp, probe) in &ends {
        let Some(id) = files::pipe::pipe_id(&probe.link) else {
            continue;
        };
        if !seen.insert(id) || held[&id] == (true, true) {
            continue;
        }
        let outside: Vec<String> = files::pipe::outside_holders(id, &exclude)
            .into_iter()
            .map(|(p, c, fd)| format!("pid {p} ({c}) fd {fd}"))
            .collect();
        if !outside.is_empty() {
            blockers.push(Blocker {
                pid: insp.stat.pid,
                comm: insp.stat.comm.clone(),
                location: format!("fd {}", probe.fd),
                what: format!("pipe ({})", probe.link),
                why: format!(
                    "its other end is held outside the dumped processes, by {}; checkpoint them together or close the pipe",
                    outside.join(", ")
                ),
            });
        }
    }
    blockers
}
