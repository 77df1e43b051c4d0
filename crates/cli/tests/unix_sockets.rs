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
fn a_listener_with_a_connection_waiting_from_outside_the_tree_is_refused() {
    refused("pending", &[&["waiting to be accepted"], &["unix_refused"]]);
}

#[test]
fn connections_waiting_to_be_accepted_from_the_tree_are_made_again_in_order() {
    Scenario::c("unix_pair").arg("pending").check();
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

/// A python echo server on a path-bound unix socket and its client (a forked
/// child): before READY the client has sent three requests the server has not
/// read, and the server's greeting waits unread in the client's socket. After
/// restore the server echoes, the client gets the greeting and the echoes in
/// order, and a second connection works.
const PYTHON_ECHO: &str = r#"
import os, socket, sys, time
path = os.path.join(os.getcwd(), "echo.sock")
server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
server.bind(path)
server.listen(4)

def wait_go():
    while not os.path.exists("go"):
        time.sleep(0.01)

def recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    return data

child = os.fork()
if child == 0:
    server.close()
    errors = []
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.connect(path)
    requests = [b"one;", b"two;", b"three;" * 1000]
    for r in requests:
        c.sendall(r)
    open("client-sent", "w").close()
    wait_go()
    greeting = recv_exact(c, 6)
    if greeting != b"hello;":
        errors.append(f"greeting is {greeting[:20]!r}")
    for r in requests:
        echo = recv_exact(c, len(r))
        if echo != r:
            errors.append(f"echo of {r[:10]!r}... is {echo[:20]!r}")
    c.sendall(b"after restore;")
    if recv_exact(c, 14) != b"after restore;":
        errors.append("no echo after restore")
    c.close()
    c2 = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c2.connect(path)
    c2.sendall(b"second;")
    if recv_exact(c2, 7) != b"second;":
        errors.append("no echo on a second connection")
    c2.close()
    for e in errors:
        print("FAIL (client):", e, flush=True)
    os._exit(1 if errors else 0)

conn, _ = server.accept()
conn.sendall(b"hello;")
while not os.path.exists("client-sent"):
    time.sleep(0.01)
print("READY", flush=True)
wait_go()
errors = []
served = 0
while served < 2:
    while True:
        data = conn.recv(65536)
        if not data:
            break
        conn.sendall(data)
    conn.close()
    served += 1
    if served < 2:
        conn, _ = server.accept()
_, status = os.waitpid(child, 0)
if status != 0:
    errors.append(f"the client failed (status {status:#x})")
finish(errors)
"#;

#[test]
fn a_python_echo_server_and_its_client_keep_working() {
    Scenario::python("python_unix_echo", PYTHON_ECHO).check();
}

#[test]
fn a_datagram_socket_connected_one_way_to_a_named_logger_keeps_queued_messages() {
    Scenario::c("unix_pair").arg("oneway").check();
}

/// A process logging like syslog(), to a datagram socket bound outside the tree (here with an
/// abstract name): the socket is connected to the same name again, and the log receives what it
/// sends after restore.
#[test]
fn a_socket_logging_to_a_named_socket_outside_the_tree_reconnects_by_name() {
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::{SocketAddr, UnixDatagram};
    setup();
    let name = format!("stasis-test-logger-{}", std::process::id());
    let address = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let log = UnixDatagram::bind_addr(&address).expect("bind the logger");
    log.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let mut run = Scenario::c("unix_logger").arg(&name).start();
    let mut buf = [0u8; 64];
    let n = log
        .recv(&mut buf)
        .expect("the message sent before the dump");
    assert_eq!(&buf[..n], b"before");
    run.dump_ok(&[]);
    run.reap_dumped();
    run.restore_detached();
    run.trigger_go();
    run.expect_success();
    let n = log
        .recv(&mut buf)
        .expect("the message sent after the restore");
    assert_eq!(&buf[..n], b"after");
}
