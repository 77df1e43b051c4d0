//! The restore plan: every step of building the tree and its files, in an
//! order that respects what each step needs, computed from the images alone
//! before the first syscall. This is the one place where ordering is decided.
//!
//! Steps (DESIGN.md §5):
//! - `Task(pid)`: the process exists with its pid, memory and threads, created
//!   by its restored parent, so it needs `Task(parent)`.
//! - `Created(file)`: the open file description exists, held by stasis (a
//!   pipe's buffered bytes are part of creating it).
//! - `Configured(file)`: its description state is set (offset, status flags).
//! - `Installed(pid, fd)`: the task holds the description at that fd number;
//!   needs `Task(pid)` and `Configured(file)`.
//!
//! Files that depend on other objects add edges: both ends of a pipe come
//! from one pipe2() and both ends of a connected unix socket from one
//! socketpair() (the second end needs the first created); a file under
//! /proc/<pid> needs `Task(pid)`, and /proc/<pid>/fd/<n> or fdinfo/<n> also
//! needs `Installed(pid, n)`; an epoll's items are added when it is
//! configured, by stasis under their original fd numbers (files/epoll.rs), so
//! `Configured(epoll)` needs `Created(target)` of every watched description
//! (not `Installed`: no task has to hold it yet). Among the steps that are ready, the smallest
//! comes first (tasks, then creations, then configurations, then installs,
//! each by number), so the plan is the same for the same images. A cycle is
//! an error that names its steps.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

use stasis_image::{pb, LoadedDump};

use crate::files::procfs;

/// One step of the plan. The derived order (variant, then numbers) is the
/// order among steps that are ready at the same time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Step {
    Task(i32),
    Created(u32),
    Configured(u32),
    Installed { pid: i32, fd: i32 },
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Task(pid) => write!(f, "task {pid}"),
            Step::Created(id) => write!(f, "create file {id}"),
            Step::Configured(id) => write!(f, "configure file {id}"),
            Step::Installed { pid, fd } => write!(f, "install pid {pid} fd {fd}"),
        }
    }
}

/// What the planner needs to know of one task.
#[derive(Debug, Clone)]
pub struct PlanTask<'a> {
    pub pid: i32,
    pub ppid: i32,
    pub comm: &'a str,
    pub fds: &'a [pb::FdEntry],
}

/// The images, reduced to what ordering depends on. Tasks in image order, the
/// root first.
#[derive(Debug, Clone)]
pub struct PlanInput<'a> {
    pub tasks: Vec<PlanTask<'a>>,
    pub files: &'a [pb::OpenFile],
    /// What each file is, for people (paths of FIFOs and deleted files live
    /// outside the file records); files without one get their record's path.
    pub file_labels: HashMap<u32, String>,
}

impl<'a> PlanInput<'a> {
    pub fn from_dump(dump: &'a LoadedDump) -> PlanInput<'a> {
        PlanInput {
            tasks: dump
                .tasks
                .iter()
                .map(|t| PlanTask {
                    pid: t.task.pid,
                    ppid: t.task.ppid,
                    comm: &t.task.comm,
                    fds: &t.fds.fds,
                })
                .collect(),
            files: &dump.files.files,
            file_labels: dump
                .files
                .files
                .iter()
                .map(|f| (f.id, crate::files::description_path_in(dump, f)))
                .collect(),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlanError {
    #[error("the dump holds no task")]
    NoTask,
    #[error(
        "file {file} is {path}, a file of pid {pid}, which is not in the dump; the images are inconsistent"
    )]
    UnknownProcess { file: u32, path: String, pid: i32 },
    #[error(
        "file {file} is {path}, which needs fd {fd} of pid {pid}, but pid {pid} has no fd {fd} in the dump; it cannot be reopened"
    )]
    MissingFd {
        file: u32,
        path: String,
        pid: i32,
        fd: i32,
    },
    #[error(
        "file {file} is an epoll watching fd {fd} as file {target}, which is not in files.img"
    )]
    UnknownEpollTarget { file: u32, fd: i32, target: u32 },
    #[error("file {file} is a unix socket connected to socket:[{peer_inode}], which is not in files.img; the images are inconsistent")]
    UnknownPeer { file: u32, peer_inode: u64 },
    #[error("pid {pid} fd {fd} names file {file}, which is not in files.img")]
    UnknownFile { pid: i32, fd: i32, file: u32 },
    #[error("the restore order has a cycle: {}; each step needs the next, and the last needs the first", .steps.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(" -> "))]
    Cycle { steps: Vec<Step> },
}

/// The plan: the steps in execution order, and why each one waits for others.
#[derive(Debug, Clone)]
pub struct RestorePlan {
    pub steps: Vec<Step>,
    /// `needs[step]`: the steps that must be done before it.
    pub needs: BTreeMap<Step, BTreeSet<Step>>,
    /// A few words per step for humans (the task's command, the file's path).
    pub labels: HashMap<Step, String>,
}

pub fn plan(input: &PlanInput<'_>) -> Result<RestorePlan, PlanError> {
    if input.tasks.is_empty() {
        return Err(PlanError::NoTask);
    }
    let mut needs: BTreeMap<Step, BTreeSet<Step>> = BTreeMap::new();
    let mut labels = HashMap::new();
    let mut need = |step: Step, before: Option<Step>| {
        let entry = needs.entry(step).or_default();
        if let Some(before) = before {
            entry.insert(before);
        }
    };
    let pids: BTreeSet<i32> = input.tasks.iter().map(|t| t.pid).collect();
    for task in &input.tasks {
        let parent = pids.contains(&task.ppid).then_some(Step::Task(task.ppid));
        need(Step::Task(task.pid), parent);
        labels.insert(Step::Task(task.pid), task.comm.to_string());
    }

    let files: HashMap<u32, &pb::OpenFile> = input.files.iter().map(|f| (f.id, f)).collect();
    // fd tables, to find which file an fd holds.
    let mut fd_holds: HashMap<(i32, i32), u32> = HashMap::new();
    for task in &input.tasks {
        for entry in task.fds {
            if !files.contains_key(&entry.file_id) {
                return Err(PlanError::UnknownFile {
                    pid: task.pid,
                    fd: entry.fd,
                    file: entry.file_id,
                });
            }
            fd_holds.insert((task.pid, entry.fd), entry.file_id);
        }
    }

    let mut first_end_of_pipe: HashMap<u64, u32> = HashMap::new();
    let mut first_of_inode: HashMap<(u8, u64, u64), u32> = HashMap::new();
    // Each unix socket and its file id, by its saved inode, to find a peer.
    let socket_file: HashMap<u64, (u32, &pb::UnixSocket)> = input
        .files
        .iter()
        .filter_map(|f| match &f.kind {
            Some(pb::open_file::Kind::UnixSocket(s)) => Some((s.inode, (f.id, s))),
            _ => None,
        })
        .collect();
    for file in input.files {
        let created = Step::Created(file.id);
        need(created, None);
        need(Step::Configured(file.id), Some(created));
        let label = input
            .file_labels
            .get(&file.id)
            .cloned()
            .unwrap_or_else(|| crate::files::description_path(file));
        labels.insert(created, label);
        match &file.kind {
            Some(pb::open_file::Kind::Pipe(end)) => {
                // One pipe2() makes both ends: the first end listed creates it.
                match first_end_of_pipe.get(&end.pipe_id) {
                    Some(&first) => need(created, Some(Step::Created(first))),
                    None => {
                        first_end_of_pipe.insert(end.pipe_id, file.id);
                    }
                }
            }
            // A FIFO, deleted file or memfd is recreated once, with all its
            // descriptions, by the first one listed.
            Some(
                pb::open_file::Kind::Fifo(key)
                | pb::open_file::Kind::Deleted(key)
                | pb::open_file::Kind::Memfd(key),
            ) => {
                let tag = match &file.kind {
                    Some(pb::open_file::Kind::Fifo(_)) => 0,
                    Some(pb::open_file::Kind::Deleted(_)) => 1,
                    _ => 2,
                };
                match first_of_inode.get(&(tag, key.dev, key.inode)) {
                    Some(&first) => need(created, Some(Step::Created(first))),
                    None => {
                        first_of_inode.insert((tag, key.dev, key.inode), file.id);
                    }
                }
            }
            Some(pb::open_file::Kind::Pidfd(pidfd)) => {
                if !pids.contains(&pidfd.pid) {
                    return Err(PlanError::UnknownProcess {
                        file: file.id,
                        path: "a pidfd".into(),
                        pid: pidfd.pid,
                    });
                }
                need(created, Some(Step::Task(pidfd.pid)));
            }
            Some(pb::open_file::Kind::UnixSocket(socket)) if socket.peer_inode != 0 => {
                // One socketpair() makes both ends: the end with the smaller
                // file id creates it. A socket connected one way connects to
                // its peer's name: the peer must exist (and be bound) first.
                let &(peer, peer_socket) =
                    socket_file
                        .get(&socket.peer_inode)
                        .ok_or(PlanError::UnknownPeer {
                            file: file.id,
                            peer_inode: socket.peer_inode,
                        })?;
                let pair = peer_socket.peer_inode == socket.inode;
                if !pair || peer < file.id {
                    need(created, Some(Step::Created(peer)));
                }
            }
            Some(pb::open_file::Kind::UnixSocket(socket)) if socket.pending_on != 0 => {
                // A connection not accepted yet connects to its listener
                // again, after the connections queued before it.
                let &(listener, listening) =
                    socket_file
                        .get(&socket.pending_on)
                        .ok_or(PlanError::UnknownPeer {
                            file: file.id,
                            peer_inode: socket.pending_on,
                        })?;
                need(created, Some(Step::Created(listener)));
                let position = listening.pending.iter().position(|p| *p == socket.inode);
                if let Some(before) = position
                    .and_then(|i| i.checked_sub(1))
                    .and_then(|i| socket_file.get(&listening.pending[i]))
                {
                    need(created, Some(Step::Created(before.0)));
                }
            }
            Some(pb::open_file::Kind::Proc(proc_file)) if proc_file.pid != 0 => {
                let path = procfs::full_path(proc_file);
                if !pids.contains(&proc_file.pid) {
                    return Err(PlanError::UnknownProcess {
                        file: file.id,
                        path,
                        pid: proc_file.pid,
                    });
                }
                need(created, Some(Step::Task(proc_file.pid)));
                if let Some(fd) = procfs::names_fd(&proc_file.path) {
                    let installed = Step::Installed {
                        pid: proc_file.pid,
                        fd,
                    };
                    if !fd_holds.contains_key(&(proc_file.pid, fd)) {
                        return Err(PlanError::MissingFd {
                            file: file.id,
                            path,
                            pid: proc_file.pid,
                            fd,
                        });
                    }
                    need(created, Some(installed));
                }
            }
            Some(pb::open_file::Kind::Epoll(epoll)) => {
                for item in &epoll.items {
                    if !files.contains_key(&item.file_id) {
                        return Err(PlanError::UnknownEpollTarget {
                            file: file.id,
                            fd: item.fd,
                            target: item.file_id,
                        });
                    }
                    need(Step::Configured(file.id), Some(Step::Created(item.file_id)));
                }
            }
            _ => {}
        }
    }
    for task in &input.tasks {
        for entry in task.fds {
            let installed = Step::Installed {
                pid: task.pid,
                fd: entry.fd,
            };
            need(installed, Some(Step::Task(task.pid)));
            need(installed, Some(Step::Configured(entry.file_id)));
        }
    }

    let steps = order(&needs)?;
    Ok(RestorePlan {
        steps,
        needs,
        labels,
    })
}

/// Topological order, smallest ready step first; a cycle is reported with
/// the steps that form it.
fn order(needs: &BTreeMap<Step, BTreeSet<Step>>) -> Result<Vec<Step>, PlanError> {
    let mut waiting_on: HashMap<Step, usize> = needs.iter().map(|(s, n)| (*s, n.len())).collect();
    let mut unblocks: HashMap<Step, Vec<Step>> = HashMap::new();
    for (step, before) in needs {
        for b in before {
            unblocks.entry(*b).or_default().push(*step);
        }
    }
    let mut ready: BTreeSet<Step> = waiting_on
        .iter()
        .filter(|(_, n)| **n == 0)
        .map(|(s, _)| *s)
        .collect();
    let mut steps = Vec::with_capacity(needs.len());
    while let Some(step) = ready.pop_first() {
        steps.push(step);
        for next in unblocks.get(&step).into_iter().flatten() {
            let count = waiting_on.get_mut(next).expect("every step is in needs");
            *count -= 1;
            if *count == 0 {
                ready.insert(*next);
            }
        }
    }
    if steps.len() == needs.len() {
        return Ok(steps);
    }
    let stuck: BTreeSet<Step> = waiting_on
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(s, _)| *s)
        .collect();
    Err(PlanError::Cycle {
        steps: find_cycle(needs, &stuck),
    })
}

/// A cycle among the steps that could not be ordered: walk from the smallest
/// through needs that are stuck too until a step repeats. Every stuck step
/// needs some stuck step, so the walk always closes.
fn find_cycle(needs: &BTreeMap<Step, BTreeSet<Step>>, stuck: &BTreeSet<Step>) -> Vec<Step> {
    let Some(&start) = stuck.first() else {
        return Vec::new();
    };
    let mut path = vec![start];
    loop {
        let current = *path.last().expect("path is never empty");
        let Some(next) = needs[&current].iter().find(|s| stuck.contains(s)).copied() else {
            return path;
        };
        if let Some(at) = path.iter().position(|s| *s == next) {
            return path.split_off(at);
        }
        path.push(next);
    }
}

impl RestorePlan {
    /// The label of a step, or of the file a Configured step is about.
    pub fn label(&self, step: Step) -> String {
        let key = match step {
            Step::Configured(id) => Step::Created(id),
            other => other,
        };
        self.labels.get(&key).cloned().unwrap_or_default()
    }

    /// One line per step, numbered, with what it waits for.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let number: HashMap<Step, usize> = self
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| (*s, i + 1))
            .collect();
        for (i, step) in self.steps.iter().enumerate() {
            let label = match self.label(*step) {
                l if l.is_empty() => l,
                l => format!(" ({l})"),
            };
            let after: Vec<String> = self.needs[step]
                .iter()
                .map(|s| number[s].to_string())
                .collect();
            let after = if after.is_empty() {
                String::new()
            } else {
                format!("   after {}", after.join(", "))
            };
            out.push_str(&format!("{:>5}  {step}{label}{after}\n", i + 1));
        }
        out
    }

    /// The dependency graph in Graphviz dot: an arrow from each step to the
    /// steps that wait for it.
    pub fn to_dot(&self) -> String {
        let mut out = String::from("digraph restore_plan {\n  rankdir=LR;\n");
        for step in &self.steps {
            let label = match self.labels.get(step) {
                Some(l) => format!("{step}\\n{}", l.replace('"', "\\\"")),
                None => step.to_string(),
            };
            out.push_str(&format!("  \"{step}\" [label=\"{label}\"];\n"));
        }
        for step in &self.steps {
            for before in &self.needs[step] {
                out.push_str(&format!("  \"{before}\" -> \"{step}\";\n"));
            }
        }
        out.push_str("}\n");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn regular(id: u32, path: &str) -> pb::OpenFile {
        pb::OpenFile {
            id,
            kind: Some(pb::open_file::Kind::Regular(pb::RegularFile {
                path: path.into(),
                ..Default::default()
            })),
            ..Default::default()
        }
    }

    fn proc_file(id: u32, pid: i32, path: &str) -> pb::OpenFile {
        pb::OpenFile {
            id,
            kind: Some(pb::open_file::Kind::Proc(pb::ProcFile {
                pid,
                path: path.into(),
            })),
            ..Default::default()
        }
    }

    fn pipe_end(id: u32, pipe_id: u64, write_end: bool) -> pb::OpenFile {
        pb::OpenFile {
            id,
            kind: Some(pb::open_file::Kind::Pipe(pb::PipeEnd {
                pipe_id,
                write_end,
            })),
            ..Default::default()
        }
    }

    fn fd(fd: i32, file_id: u32) -> pb::FdEntry {
        pb::FdEntry {
            fd,
            file_id,
            cloexec: false,
        }
    }

    fn task<'a>(pid: i32, ppid: i32, fds: &'a [pb::FdEntry]) -> PlanTask<'a> {
        PlanTask {
            pid,
            ppid,
            comm: "t",
            fds,
        }
    }

    fn position(plan: &RestorePlan, step: Step) -> usize {
        plan.steps.iter().position(|s| *s == step).unwrap()
    }

    #[test]
    fn tasks_come_first_parents_before_children() {
        let files = [regular(1, "/a")];
        let fds = [fd(0, 1)];
        let input = PlanInput {
            tasks: vec![task(10, 1, &fds), task(12, 11, &[]), task(11, 10, &fds)],
            files: &files,
            file_labels: HashMap::new(),
        };
        let plan = plan(&input).unwrap();
        assert_eq!(
            &plan.steps[..3],
            &[Step::Task(10), Step::Task(11), Step::Task(12)]
        );
        assert!(position(&plan, Step::Created(1)) < position(&plan, Step::Configured(1)));
        assert!(
            position(&plan, Step::Configured(1))
                < position(&plan, Step::Installed { pid: 11, fd: 0 })
        );
    }

    #[test]
    fn fdinfo_of_an_fd_waits_for_that_fd() {
        // Task 10 holds /proc/10/fdinfo/55 at fd 3: in fd order it would be
        // opened before fd 55 exists.
        let files = [proc_file(1, 10, "fdinfo/55"), regular(2, "/data")];
        let fds = [fd(3, 1), fd(55, 2)];
        let input = PlanInput {
            tasks: vec![task(10, 1, &fds)],
            files: &files,
            file_labels: HashMap::new(),
        };
        let plan = plan(&input).unwrap();
        let fd55 = position(&plan, Step::Installed { pid: 10, fd: 55 });
        assert!(fd55 < position(&plan, Step::Created(1)));
        assert!(
            position(&plan, Step::Created(1)) < position(&plan, Step::Installed { pid: 10, fd: 3 })
        );
    }

    #[test]
    fn files_of_another_task_wait_for_it() {
        // A (10) holds /proc/11/fdinfo/44 while B (11) holds /proc/11/fdinfo/55.
        let files = [
            proc_file(1, 11, "fdinfo/44"),
            proc_file(2, 11, "fdinfo/55"),
            regular(3, "/x"),
            regular(4, "/y"),
        ];
        let a = [fd(5, 1)];
        let b = [fd(44, 3), fd(55, 4), fd(6, 2)];
        let input = PlanInput {
            tasks: vec![task(10, 1, &a), task(11, 10, &b)],
            files: &files,
            file_labels: HashMap::new(),
        };
        let plan = plan(&input).unwrap();
        assert!(
            position(&plan, Step::Installed { pid: 11, fd: 44 })
                < position(&plan, Step::Created(1))
        );
        assert!(
            position(&plan, Step::Installed { pid: 11, fd: 55 })
                < position(&plan, Step::Created(2))
        );
        assert!(position(&plan, Step::Task(11)) < position(&plan, Step::Created(1)));
    }

    #[test]
    fn a_pipe_is_created_once_by_its_first_end() {
        let files = [pipe_end(1, 7, false), pipe_end(2, 7, true)];
        let input = PlanInput {
            tasks: vec![task(10, 1, &[])],
            files: &files,
            file_labels: HashMap::new(),
        };
        let plan = plan(&input).unwrap();
        assert!(plan.needs[&Step::Created(2)].contains(&Step::Created(1)));
    }

    fn epoll(id: u32, targets: &[(i32, u32)]) -> pb::OpenFile {
        pb::OpenFile {
            id,
            kind: Some(pb::open_file::Kind::Epoll(pb::EventPoll {
                items: targets
                    .iter()
                    .map(|&(fd, file_id)| pb::EpollItem {
                        fd,
                        file_id,
                        events: 1,
                        data: 0,
                    })
                    .collect(),
            })),
            ..Default::default()
        }
    }

    fn socket(id: u32, inode: u64, peer_inode: u64) -> pb::OpenFile {
        pb::OpenFile {
            id,
            kind: Some(pb::open_file::Kind::UnixSocket(pb::UnixSocket {
                inode,
                peer_inode,
                r#type: libc::SOCK_STREAM,
                ..Default::default()
            })),
            ..Default::default()
        }
    }

    #[test]
    fn an_epoll_is_configured_after_its_targets_exist() {
        // Epoll 1 (fd 3) watches a pipe's read end (file 5, fd 9) and epoll 2
        // (fd 4), which watches regular file 3 (fd 7). The targets have
        // larger fd numbers or ids than the epolls, so without the edges they
        // would come later.
        let files = [
            epoll(1, &[(9, 5), (4, 2)]),
            epoll(2, &[(7, 3)]),
            regular(3, "/x"),
            pipe_end(4, 7, true),
            pipe_end(5, 7, false),
        ];
        let fds = [fd(3, 1), fd(4, 2), fd(7, 3), fd(8, 4), fd(9, 5)];
        let input = PlanInput {
            tasks: vec![task(10, 1, &fds)],
            files: &files,
            file_labels: HashMap::new(),
        };
        let plan = plan(&input).unwrap();
        for (epoll, target) in [(1, 5), (1, 2), (2, 3)] {
            assert!(
                plan.needs[&Step::Configured(epoll)].contains(&Step::Created(target)),
                "configure {epoll} does not wait for create {target}"
            );
            assert!(
                position(&plan, Step::Created(target)) < position(&plan, Step::Configured(epoll))
            );
        }
        // No task needs to hold the targets first.
        assert!(!plan.needs[&Step::Configured(1)]
            .iter()
            .any(|s| matches!(s, Step::Installed { .. })));
        let files = [epoll(1, &[(3, 6)])];
        let input = PlanInput {
            tasks: vec![task(10, 1, &fds[..1])],
            files: &files,
            file_labels: HashMap::new(),
        };
        assert!(matches!(
            plan_fn(&input),
            Err(PlanError::UnknownEpollTarget {
                file: 1,
                fd: 3,
                target: 6
            })
        ));
    }

    use super::plan as plan_fn;

    #[test]
    fn a_socketpair_is_created_once_by_its_first_end() {
        // The pair is listed second end first: the smaller id still creates it.
        let files = [socket(2, 70, 71), socket(1, 71, 70), socket(3, 72, 0)];
        let a = [fd(3, 2)];
        let b = [fd(4, 1), fd(5, 3)];
        let input = PlanInput {
            tasks: vec![task(10, 1, &a), task(11, 10, &b)],
            files: &files,
            file_labels: HashMap::new(),
        };
        let pair = plan(&input).unwrap();
        assert!(pair.needs[&Step::Created(2)].contains(&Step::Created(1)));
        assert!(pair.needs[&Step::Created(1)].is_empty());
        assert!(pair.needs[&Step::Created(3)].is_empty());
        // Connected one way: the peer comes first whatever the ids.
        let one_way = [socket(1, 80, 81), socket(2, 81, 0)];
        let input = PlanInput {
            tasks: vec![task(10, 1, &[])],
            files: &one_way,
            file_labels: HashMap::new(),
        };
        let one_way_plan = plan(&input).unwrap();
        assert!(one_way_plan.needs[&Step::Created(1)].contains(&Step::Created(2)));
        assert!(one_way_plan.needs[&Step::Created(2)].is_empty());
        let dangling = [socket(1, 71, 99)];
        let input = PlanInput {
            tasks: vec![task(10, 1, &[])],
            files: &dangling,
            file_labels: HashMap::new(),
        };
        assert!(matches!(
            plan(&input),
            Err(PlanError::UnknownPeer { peer_inode: 99, .. })
        ));
    }

    #[test]
    fn the_order_is_deterministic() {
        let files = [
            regular(3, "/c"),
            proc_file(1, 10, "status"),
            regular(2, "/b"),
        ];
        let fds = [fd(9, 3), fd(1, 1), fd(4, 2)];
        let input = PlanInput {
            tasks: vec![task(10, 1, &fds)],
            files: &files,
            file_labels: HashMap::new(),
        };
        let first = plan(&input).unwrap().steps;
        for _ in 0..20 {
            assert_eq!(plan(&input).unwrap().steps, first);
        }
        // Among ready steps the smallest goes first: creations by file id.
        assert!(
            position(&plan(&input).unwrap(), Step::Created(2))
                < position(&plan(&input).unwrap(), Step::Created(3))
        );
    }

    #[test]
    fn a_true_cycle_is_reported_with_its_steps() {
        // fd 3 is /proc/10/fdinfo/4 and fd 4 is /proc/10/fdinfo/3: each file
        // can only be opened once the other is installed.
        let files = [proc_file(1, 10, "fdinfo/4"), proc_file(2, 10, "fdinfo/3")];
        let fds = [fd(3, 1), fd(4, 2)];
        let input = PlanInput {
            tasks: vec![task(10, 1, &fds)],
            files: &files,
            file_labels: HashMap::new(),
        };
        let err = plan(&input).unwrap_err();
        let PlanError::Cycle { steps } = &err else {
            panic!("expected a cycle, got {err:?}");
        };
        for step in [
            Step::Created(1),
            Step::Configured(1),
            Step::Installed { pid: 10, fd: 3 },
            Step::Created(2),
            Step::Configured(2),
            Step::Installed { pid: 10, fd: 4 },
        ] {
            assert!(steps.contains(&step), "{step} missing from {err}");
        }
        assert_eq!(steps.len(), 6);
        assert!(err.to_string().contains("install pid 10 fd 3"));
    }

    #[test]
    fn dangling_references_are_errors() {
        let files = [proc_file(1, 99, "status")];
        let fds = [fd(3, 1)];
        let input = PlanInput {
            tasks: vec![task(10, 1, &fds)],
            files: &files,
            file_labels: HashMap::new(),
        };
        assert!(matches!(
            plan(&input),
            Err(PlanError::UnknownProcess { pid: 99, .. })
        ));
        let files = [proc_file(1, 10, "fdinfo/8")];
        let input = PlanInput {
            tasks: vec![task(10, 1, &fds)],
            files: &files,
            file_labels: HashMap::new(),
        };
        assert!(matches!(
            plan(&input),
            Err(PlanError::MissingFd { fd: 8, .. })
        ));
        let bad = [fd(3, 5)];
        let input = PlanInput {
            tasks: vec![task(10, 1, &bad)],
            files: &[],
            file_labels: HashMap::new(),
        };
        assert!(matches!(
            plan(&input),
            Err(PlanError::UnknownFile { file: 5, .. })
        ));
    }

    #[test]
    fn text_and_dot_name_every_step() {
        let files = [regular(1, "/a")];
        let fds = [fd(0, 1)];
        let input = PlanInput {
            tasks: vec![task(10, 1, &fds)],
            files: &files,
            file_labels: HashMap::new(),
        };
        let plan = plan(&input).unwrap();
        let text = plan.to_text();
        assert_eq!(text.lines().count(), 4);
        assert!(text.contains("create file 1 (/a)"));
        assert!(text.contains("install pid 10 fd 0   after 1, 3"));
        let dot = plan.to_dot();
        assert!(dot.contains("\"configure file 1\" -> \"install pid 10 fd 0\""));
    }
}
