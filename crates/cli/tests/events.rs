//! End-to-end tests of event files: eventfd, signalfd, timerfd and epoll keep
//! their state through dump and restore (see the scenario programs for what
//! each checks). Same harness and READY/go protocol as `e2e.rs`.

mod common;

use std::thread::sleep;
use std::time::Duration;

use common::*;

#[test]
fn eventfd_keeps_count_semaphore_mode_flags_and_sharing_after_fork() {
    Scenario::c("eventfd").check();
}

#[test]
fn signalfd_keeps_its_mask_and_reads_signals_pending_at_dump() {
    Scenario::c("signalfd").check();
}

#[test]
fn timerfd_keeps_clock_settings_unread_expirations_and_deadlines() {
    let mut run = Scenario::c("timerfd").start();
    run.dump_ok(&[]);
    run.reap_dumped();
    // Relative timers must not count this; the absolute one must.
    sleep(Duration::from_secs(2));
    run.restore_detached();
    run.trigger_go();
    run.expect_success();
}

#[test]
fn epoll_keeps_its_items_and_a_blocked_epoll_wait_wakes_up() {
    Scenario::c("epoll")
        .blocked_in(libc::SYS_epoll_wait)
        .check();
}

fn refuses_epoll_item_not_at_its_fd(how: &str) {
    let mut run = Scenario::c("epoll_moved").arg(how).start();
    let pid = run.pid.to_string();
    run.expect_refused(&[
        &[&pid],
        &["fd 41"],
        &["epoll"],
        &["fd 42"],
        &["no longer at that fd"],
    ]);
    run.trigger_go();
    run.expect_success();
}

#[test]
fn refuses_an_epoll_whose_watched_fd_was_closed_and_the_process_runs_on() {
    refuses_epoll_item_not_at_its_fd("closed");
}

#[test]
fn refuses_an_epoll_whose_watched_fd_now_holds_another_eventfd() {
    refuses_epoll_item_not_at_its_fd("replaced");
}

#[test]
fn an_epoll_shared_after_fork_is_saved_through_the_child_that_holds_its_targets() {
    Scenario::c("epoll_shared").check();
}

/// A thread blocked in epoll_wait(-1) at the dump gets its event after restore, not the EINTR
/// that the freeze caused.
#[test]
fn epoll_wait_is_entered_again_after_restore() {
    Scenario::c("epoll_wait_restart")
        .flags(&["-pthread"])
        .blocked_in(libc::SYS_epoll_wait)
        .check();
}

/// pidfds of the process itself and of its child name the restored processes.
#[test]
fn pidfds_name_the_restored_processes() {
    Scenario::c("pidfd").check();
}
