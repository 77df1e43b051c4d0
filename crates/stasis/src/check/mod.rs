//! `stasis check`: the checkpointability report of a tree, from /proc alone
//! (no ptrace, nothing stopped). It runs the very inspection `stasis dump`
//! runs before it freezes anything, so the two agree by construction: an item
//! is supported here exactly when a dumper for it exists.

use crate::dump::error::{Blocker, DumpError};
use crate::dump::inspect::{self, CheckItem};

/// One task of the tree and what was found in it.
#[derive(Debug, Clone)]
pub struct TaskCheck {
    pub pid: i32,
    pub comm: String,
    /// A zombie is saved from /proc alone (how it ended), so it has no items.
    pub zombie: bool,
    pub items: Vec<CheckItem>,
}

#[derive(Debug, Clone)]
pub struct CheckReport {
    pub root: i32,
    pub tasks: Vec<TaskCheck>,
    /// Everything that makes the tree impossible to checkpoint now, including
    /// what only the whole tree shows (a pipe or /proc file that leads outside it).
    pub blockers: Vec<Blocker>,
}

impl CheckReport {
    pub fn checkpointable(&self) -> bool {
        self.blockers.is_empty()
    }
}

/// Checks the tree of `root`. Errors are what `stasis dump` would fail with
/// before looking at anything (no such process, a kernel thread, stasis itself).
pub fn check_tree(root: i32) -> Result<CheckReport, DumpError> {
    let pids = inspect::discover_tree(root)?;
    let mut tasks = Vec::new();
    let mut blockers = Vec::new();
    let mut inspections = Vec::new();
    for &pid in &pids {
        let Ok(stat) = inspect::read_stat(pid) else {
            continue; // exited since the listing
        };
        if pid != root && stat.state == 'Z' {
            tasks.push(TaskCheck {
                pid,
                comm: stat.comm,
                zombie: true,
                items: Vec::new(),
            });
            continue;
        }
        let mut items = Vec::new();
        match inspect::inspect_items(pid, false, &mut items) {
            Ok(inspection) => inspections.push(inspection),
            Err(DumpError::Unsupported { blockers: more }) => blockers.extend(more),
            // Exited meanwhile (or exiting): not part of the tree any more.
            Err(_)
                if pid != root
                    && (inspect::read_stat(pid).is_err() || inspect::settles_as_zombie(pid)) =>
            {
                continue
            }
            Err(err) => return Err(err),
        }
        tasks.push(TaskCheck {
            pid,
            comm: stat.comm,
            zombie: false,
            items,
        });
    }
    // What the whole tree shows, for the tasks that are fine on their own.
    let mut tree_blockers = inspect::tree_blockers(&inspections, &pids);
    tree_blockers.extend(inspect::unix_socket_blockers(&inspections, &pids, false)?);
    for blocker in &tree_blockers {
        if let Some(task) = tasks.iter_mut().find(|t| t.pid == blocker.pid) {
            for item in task.items.iter_mut() {
                if item.location == blocker.location {
                    item.supported = false;
                    item.why = blocker.why.clone();
                }
            }
        }
    }
    blockers.extend(tree_blockers);
    Ok(CheckReport {
        root,
        tasks,
        blockers,
    })
}
