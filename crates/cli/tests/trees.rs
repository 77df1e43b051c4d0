//! End-to-end tests of process trees: a process and all its descendants are dumped together
//! and restored with their pids, parents, process groups, sessions and the pipes between
//! them. Same harness and READY/go protocol as `e2e.rs`.

mod common;

use common::*;

#[test]
fn three_level_tree_with_groups_sessions_and_pipes() {
    Scenario::c("tree").check();
}

#[test]
fn bash_loop_forking_date_and_sleep() {
    Scenario::c("bash_loop").check();
}

#[test]
fn tree_carries_on_after_a_dump_with_leave_running() {
    let mut run = Scenario::c("tree").start();
    run.dump_ok(&["--leave-running"]);
    run.assert_running_unchanged();
    run.trigger_go();
    run.expect_success();
}

#[test]
fn shared_anonymous_memory_stays_shared_between_parent_and_child() {
    Scenario::c("shared_anon").check();
}

#[test]
fn zombies_stay_zombies_with_their_exit_status() {
    Scenario::c("zombies").check();
}

#[test]
fn a_stopped_child_stays_stopped_and_continues_on_sigcont() {
    Scenario::c("stopped_child").check();
}

#[test]
fn a_tree_of_workers_forking_and_reaping_children_all_the_time() {
    Scenario::c("fork_storm").check();
}

/// The same with 60 workers: about 100 tasks at any moment, every one forking or exiting.
#[test]
fn a_tree_of_a_hundred_tasks_forking_and_exiting_all_the_time() {
    Scenario::c("fork_storm").arg("60").check();
}

#[test]
fn a_tree_with_a_child_in_another_pid_namespace_is_refused_and_runs_on() {
    let mut run = Scenario::c("pidns_child").start();
    run.expect_refused(&[&["pid namespace"]]);
    run.trigger_go();
    run.expect_success();
}

#[test]
fn memory_shared_copy_on_write_after_fork_is_not_multiplied() {
    let mut run = Scenario::c("cow_children").start();
    run.dump_ok(&[]);
    // 128 MiB in the parent, four children sharing it: the children must not
    // save the pages they still share (each wrote 1 MiB of its own).
    let size = dir_size(&run.images());
    assert!(
        size < 160 << 20,
        "the dump of a 128 MiB parent with 4 children sharing its memory takes {size} bytes"
    );
    run.reap_dumped();
    run.restore_detached();
    run.trigger_go();
    run.expect_success();
}

/// Reading a tree's memory must not copy the pages its processes share
/// (process_vm_readv would pin them, and the kernel unshares pinned COW pages).
#[test]
fn a_dump_leaves_the_running_tree_sharing_its_memory() {
    let mut run = Scenario::c("cow_children").start();
    run.dump_ok(&["--leave-running"]);
    run.assert_running_unchanged();
    run.trigger_go();
    run.expect_success();
}
