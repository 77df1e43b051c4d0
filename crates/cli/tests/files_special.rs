//! End-to-end tests of issue 4 part A: FIFOs, deleted files and memfds held as
//! open fds survive a checkpoint, and a file that disappears after the dump
//! makes the restore fail cleanly. See tests/scenarios/scenario.h for the
//! READY/go protocol; every scenario here is told "go" with the file `go`.

mod common;

use common::*;

#[test]
fn fifo_shared_by_parent_and_child_with_bytes_in_flight() {
    Scenario::c("fifo").check();
}

#[test]
fn deleted_files_opened_twice_dup_ed_and_o_tmpfile() {
    Scenario::c("deleted_files").check();
}
