//! End-to-end tests of unix sockets: socketpairs and connections inside the tree
//! (stream, datagram, seqpacket) with unread data both ways, shutdown state,
//! O_NONBLOCK and options, listeners bound to a path or an abstract name that
//! accept after restore, processes blocked in recv/accept, a python echo
//! server; and the refusals: a peer outside the tree, connections waiting on a
//! listener, fds in flight, other families. Same harness and READY/go
//! protocol as `e2e.rs`.

mod common;

use common::*;

#[test]
fn a_stream_socketpair_keeps_unread_bytes_both_ways() {
    Scenario::c("unix_pair").arg("stream").check();
}

#[test]
fn a_datagram_socketpair_keeps_its_messages_and_their_boundaries() {
    Scenario::c("unix_pair").arg("dgram").check();
}

#[test]
fn a_seqpacket_socketpair_keeps_its_messages_and_their_boundaries() {
    Scenario::c("unix_pair").arg("seqpacket").check();
}

#[test]
fn a_socketpair_split_between_parent_and_child_keeps_data_in_flight() {
    Scenario::c("unix_pair").arg("shared").check();
}

#[test]
fn shutdown_state_nonblocking_mode_and_socket_options_survive() {
    Scenario::c("unix_pair").arg("options").check();
}

#[test]
fn a_process_blocked_in_recv_carries_on() {
    Scenario::c("unix_pair")
        .arg("blocked")
        .blocked_in(libc::SYS_recvfrom)
        .check();
}

#[test]
fn the_original_keeps_its_queued_data_after_a_dump_with_leave_running() {
    for kind in ["stream", "dgram"] {
        let mut run = Scenario::c("unix_pair").arg(kind).start();
        run.dump_ok(&["--leave-running"]);
        run.trigger_go();
        run.expect_success();
    }
}

#[test]
fn a_listener_bound_to_a_path_accepts_after_restore_while_blocked_in_accept() {
    Scenario::c("unix_listen")
        .arg("path")
        .blocked_in(libc::SYS_accept)
        .check();
}

#[test]
fn a_listener_with_an_abstract_name_accepts_after_restore() {
    Scenario::c("unix_listen")
        .arg("abstract")
        .blocked_in(libc::SYS_accept)
        .check();
}
