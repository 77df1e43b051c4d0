//! End-to-end tests of process trees: a process and all its descendants are dumped together
//! and restored with their pids, parents, process groups, sessions and the pipes between
//! them. Same harness and READY/go protocol as `e2e.rs`.

mod common;

use std::time::Duration;

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

/// Credentials are per process: a root parent and a child that dropped to other uids, gids and
/// groups each get their own back.
#[test]
fn a_child_that_dropped_to_another_uid_keeps_its_credentials() {
    Scenario::c("child_credentials").check();
}

/// Kills a daemon that is nobody's tracked child, whatever the test's outcome.
struct KillOnDrop(i32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = stasis::sys::syscalls::kill(self.0, libc::SIGKILL);
        reap_if_zombie(self.0);
    }
}

/// A daemon whose session and process group were led by processes that have exited (a double
/// fork): the restore recreates both ids with placeholder processes, so the daemon comes back in
/// the same session and group, with the same parent.
#[test]
fn a_daemon_whose_session_and_group_leaders_exited_keeps_its_ids() {
    let mut run = Scenario::c("daemon_session").exit_code(0).start();
    let line = run
        .log()
        .lines()
        .find(|l| l.starts_with("DAEMON "))
        .map(str::to_string)
        .expect("the daemon prints its ids");
    let ids: Vec<i32> = line
        .split_whitespace()
        .skip(1)
        .map(|n| n.parse().unwrap())
        .collect();
    let (daemon, sid, pgid) = (ids[0], ids[1], ids[2]);
    let _cleanup = KillOnDrop(daemon);
    // X (the session leader) and D1 (the group leader) are gone.
    assert_eq!(run.wait_exit(), Exit::Code(0));
    reap_if_zombie(pgid);
    assert!(
        !pid_exists(sid) && !pid_exists(pgid),
        "the leaders still exist"
    );

    let images = run.images();
    let daemon_s = daemon.to_string();
    run.stasis(&["dump", "-t", &daemon_s, "-D", path_str(&images)])
        .assert_success();
    wait_pid(daemon, Duration::from_secs(10)).expect("the dumped daemon ends");
    let pidfile = run.pidfile();
    let restore = run.stasis(&[
        "-v",
        "restore",
        "-D",
        path_str(&images),
        "-d",
        "--pidfile",
        path_str(&pidfile),
    ]);
    restore.assert_success();
    assert!(
        restore
            .stderr
            .contains(&format!("recreating session {sid}"))
            && restore
                .stderr
                .contains(&format!("recreating process group {pgid}")),
        "the log does not say the ids were recreated:\n{restore}"
    );
    run.trigger_go();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let log = run.log();
        let after = log.split_once("READY").map(|(_, rest)| rest).unwrap_or("");
        if after.contains("PASS") {
            break;
        }
        assert!(
            !after.contains("FAIL") && std::time::Instant::now() < deadline,
            "the restored daemon did not pass:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// python3 multiprocessing: a Pool of worker processes, a shared Value and a Lock (POSIX
/// semaphores and a shared arena, i.e. mappings of deleted files in /dev/shm), and a thread.
/// After restore the pool computes, the workers increment the shared counter under the lock,
/// and the parent sees every increment.
#[test]
fn python_multiprocessing_pool_with_shared_value_and_lock() {
    Scenario::python("multiprocessing", PYTHON_MULTIPROCESSING).check();
}

const PYTHON_MULTIPROCESSING: &str = r#"
import multiprocessing as mp, os, threading, time
errors = []

def square(x):
    return x * x

counter = None
lock = None

def init(c, l):
    global counter, lock
    counter, lock = c, l

def bump_global(n):
    for _ in range(n):
        with lock:
            counter.value += 1
    return os.getpid()

if __name__ == "__main__":
    mp.set_start_method("fork")
    shared = mp.Value("q", 1000)
    guard = mp.Lock()
    ticks = []
    ticker = threading.Thread(target=lambda: [ticks.append(1) or time.sleep(0.01) for _ in range(10**9)], daemon=True)
    ticker.start()
    with mp.Pool(3, initializer=init, initargs=(shared, guard)) as pool:
        pool.map(bump_global, [10] * 6)
        # The pool's worker processes (pool._pool is the list of them).
        workers = {p.pid for p in pool._pool}
        print("READY", flush=True)
        while not os.path.exists("go"):
            time.sleep(0.01)
        if pool.map(square, range(200)) != [x * x for x in range(200)]:
            errors.append("the pool computed wrong squares")
        served_by = set(pool.map(bump_global, [100] * 9))
        if served_by - workers or {p.pid for p in pool._pool} != workers:
            errors.append(f"new worker processes appeared: {sorted(served_by)} (had {sorted(workers)})")
    if shared.value != 1000 + 60 + 900:
        errors.append(f"shared counter is {shared.value}, expected {1000 + 60 + 900}")
    seen = len(ticks)
    time.sleep(0.1)
    if len(ticks) <= seen:
        errors.append("the ticker thread stopped")
    finish(errors)
"#;

/// SysV shared memory segments (a keyed one and one already removed), attached by a parent and
/// its child, keep their ids, keys, contents and sharing.
#[test]
fn sysv_shared_memory_keeps_ids_contents_and_sharing() {
    Scenario::c("sysv_shm").check();
}
