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

/// The dump of `unix_refused <kind>` is refused with a message naming the pid,
/// fd 42 and `words`; the process runs on and its socket still works.
fn refused(kind: &str, words: &[&[&str]]) -> String {
    let mut run = Scenario::c("unix_refused").arg(kind).start();
    let pid = run.pid.to_string();
    let pid_words = [pid.as_str()];
    let mut mentions: Vec<&[&str]> = vec![&pid_words, &["fd 42"]];
    mentions.extend_from_slice(words);
    let output = run.dump(&[]);
    output.assert_clean_failure(&[3], &mentions);
    run.assert_running_unchanged();
    run.trigger_go();
    run.expect_success();
    output.stderr.clone()
}

#[test]
fn a_socket_connected_to_a_process_outside_the_tree_is_refused_naming_the_peer() {
    let message = refused("outside", &[&["socket"], &["outside the dumped processes"]]);
    // The peer is named by its holder (pid and command) and its bound name.
    assert!(
        message.contains("(unix_refused) fd") && message.contains("@stasis-test-outside-"),
        "the message does not name the peer's holder and name:\n{message}"
    );
}

#[test]
fn a_listener_with_a_connection_waiting_to_be_accepted_is_refused() {
    refused("pending", &[&["wait to be accepted"]]);
}

#[test]
fn fds_in_flight_in_a_unix_socket_are_refused() {
    refused(
        "fds",
        &[&["fds in flight in a unix socket are not supported yet"]],
    );
}

#[test]
fn a_netlink_socket_is_refused_naming_its_family() {
    refused("netlink", &[&["AF_NETLINK"]]);
}
