//! Unix sockets: what sock_diag says of them decides whether the tree can be
//! checkpointed (a peer outside the tree, connections waiting on a listener,
//! fds in flight are refused); the dump saves type, name, peer, shutdown
//! state, options and the unread messages (peeked, not consumed); restore
//! recreates two connected sockets with one socketpair() and refills their
//! queues, and binds and listens again. Other families are refused by name.
//!
//! Known limits: an empty datagram in a queue is not saved (a peek with an
//! offset skips it once it has been peeked at), and queued messages sent again
//! by stasis carry stasis's credentials (`SCM_CREDENTIALS`).

use std::collections::HashMap;
use std::io;
use std::os::fd::BorrowedFd;
use std::path::Path;

use stasis_image::pb;

use super::{FdProbe, FileKind, Support};
use crate::sys::netlink::{UnixDiag, STATE_LISTEN};
use crate::sys::socket as sock;

/// What getsockopt says of a socket fd, read while probing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SocketProbe {
    pub family: i32,
    pub sock_type: i32,
}

/// The inode number in a "socket:[1234]" link.
pub fn socket_inode(link: &str) -> Option<u64> {
    link.strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

pub fn family_name(family: i32) -> String {
    match family {
        libc::AF_UNIX => "AF_UNIX".into(),
        libc::AF_INET => "AF_INET".into(),
        libc::AF_INET6 => "AF_INET6".into(),
        libc::AF_NETLINK => "AF_NETLINK".into(),
        libc::AF_PACKET => "AF_PACKET".into(),
        libc::AF_VSOCK => "AF_VSOCK".into(),
        libc::AF_BLUETOOTH => "AF_BLUETOOTH".into(),
        libc::AF_ALG => "AF_ALG".into(),
        other => format!("family {other}"),
    }
}

pub fn type_name(sock_type: i32) -> &'static str {
    match sock_type {
        libc::SOCK_STREAM => "stream",
        libc::SOCK_DGRAM => "datagram",
        libc::SOCK_SEQPACKET => "seqpacket",
        _ => "other",
    }
}

pub fn classify(probe: &FdProbe) -> Support {
    let unsupported = |why: String| Support::Unsupported {
        what: format!("socket ({})", probe.link),
        why,
    };
    let Some(socket) = probe.socket else {
        return unsupported("the socket could not be examined (getsockopt failed)".into());
    };
    if socket.family != libc::AF_UNIX {
        return Support::Unsupported {
            what: format!(
                "socket of family {} ({})",
                family_name(socket.family),
                probe.link
            ),
            why: format!(
                "{} sockets are not supported yet; close it before checkpointing",
                family_name(socket.family)
            ),
        };
    }
    match socket.sock_type {
        libc::SOCK_STREAM | libc::SOCK_DGRAM | libc::SOCK_SEQPACKET => {
            Support::Supported(FileKind::UnixSocket)
        }
        other => unsupported(format!("unix sockets of type {other} are not supported")),
    }
}

/// A unix socket fd of the dumped tree.
#[derive(Debug, Clone)]
pub struct HeldSocket {
    pub pid: i32,
    pub fd: i32,
    pub inode: u64,
}

/// Why a socket of the tree cannot be checkpointed: index into the held
/// sockets, what it is, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketProblem {
    pub index: usize,
    pub what: String,
    pub why: String,
}

/// "socket:[12] (stream, /run/x.sock)" for messages.
pub fn describe(diag: &UnixDiag) -> String {
    let name = display_name(&diag.name);
    if name.is_empty() {
        format!("unix {} socket:[{}]", type_name(diag.sock_type), diag.inode)
    } else {
        format!(
            "unix {} socket:[{}] bound to {name}",
            type_name(diag.sock_type),
            diag.inode
        )
    }
}

/// A bound name for people: a path as is, an abstract name as "@name".
pub fn display_name(name: &[u8]) -> String {
    match name.split_first() {
        Some((0, rest)) => format!("@{}", String::from_utf8_lossy(rest)),
        _ => String::from_utf8_lossy(trim_path(name)).into_owned(),
    }
}

fn trim_path(name: &[u8]) -> &[u8] {
    let end = name.iter().position(|b| *b == 0).unwrap_or(name.len());
    &name[..end]
}

/// A datagram socket connected one way to a socket bound to an absolute path
/// or an abstract name: what a program has when it logs to syslog.
pub fn outside_logger(diag: &UnixDiag, peer: &UnixDiag) -> bool {
    diag.sock_type == libc::SOCK_DGRAM
        && peer.peer != diag.inode
        && matches!(peer.name.first(), Some(0 | b'/'))
}

/// The tree-level checks, pure: each held socket must be known to sock_diag;
/// its peer, if alive, must be held in the tree and connected back; a
/// listener must have no connection waiting. `outside` names who holds a
/// socket outside the tree ("pid 7 (syslogd) fd 3"), if anyone.
pub fn check_tree(
    held: &[HeldSocket],
    diags: &HashMap<u64, UnixDiag>,
    outside: &dyn Fn(u64) -> Vec<String>,
) -> Vec<SocketProblem> {
    let in_tree: std::collections::HashSet<u64> = held.iter().map(|h| h.inode).collect();
    let mut problems = Vec::new();
    for (index, socket) in held.iter().enumerate() {
        let mut refuse = |what: String, why: String| {
            problems.push(SocketProblem { index, what, why });
        };
        let Some(diag) = diags.get(&socket.inode) else {
            refuse(
                format!("socket:[{}]", socket.inode),
                "sock_diag does not know this unix socket (is it in another network namespace?); \
                 checkpointing it is not supported"
                    .into(),
            );
            continue;
        };
        if diag.state == STATE_LISTEN {
            // Connections not accepted yet are made again by their clients,
            // which must be in the tree and have sent nothing yet (their data
            // waits in a socket no process holds, which cannot be read).
            if diag.pending.len() < diag.rqlen.0 as usize {
                refuse(
                    describe(diag),
                    "connections wait to be accepted on this listening socket, and not all of \
                     them can be identified; let the process accept them first"
                        .into(),
                );
            }
            for &client in &diag.pending {
                let sent = diags.get(&client).map(|c| c.rqlen.1).unwrap_or(0);
                let why = if client == 0 {
                    "a connection waiting to be accepted on it was closed by its client; let \
                     the process accept it first"
                        .to_string()
                } else if !in_tree.contains(&client) {
                    let holders = outside(client);
                    let by = if holders.is_empty() {
                        "a process outside the dumped ones".to_string()
                    } else {
                        holders.join(", ")
                    };
                    format!(
                        "a connection waiting to be accepted on it comes from socket:[{client}] \
                         held by {by}; it would be lost: let the process accept it first, or \
                         checkpoint both together"
                    )
                } else if sent > 0 {
                    format!(
                        "a connection waiting to be accepted on it (from socket:[{client}]) \
                         already carries data; restoring that is not supported yet: let the \
                         process accept it first"
                    )
                } else {
                    continue;
                };
                refuse(describe(diag), why);
            }
            continue;
        }
        if pending_on(diag, diags).is_some() {
            // Connected, not accepted yet, by a listener (checked above if in the tree).
            let listener = pending_on(diag, diags).unwrap_or(0);
            if !in_tree.contains(&listener) {
                let holders = outside(listener);
                refuse(
                    describe(diag),
                    format!(
                        "it waits to be accepted by {} held outside the dumped processes{}; \
                         checkpoint both together, or let the connection be accepted first",
                        diags.get(&listener).map(describe).unwrap_or_default(),
                        if holders.is_empty() {
                            String::new()
                        } else {
                            format!(" by {}", holders.join(", "))
                        }
                    ),
                );
            }
            continue;
        }
        if diag.peer == 0 {
            continue;
        }
        let Some(peer) = diags.get(&diag.peer) else {
            if !peer_closed(diag, diags) {
                refuse(
                    describe(diag),
                    format!(
                        "it is connected to socket:[{}], which its listener has not accepted yet (the listener is \
                         outside the dumped processes); restoring such a connection is not \
                         supported: checkpoint once it is accepted, or close it",
                        diag.peer
                    ),
                );
            }
            continue;
        };
        if !in_tree.contains(&diag.peer) {
            // A datagram socket connected one way to a named socket outside
            // the tree (syslog's /dev/log) connects to that name again.
            if outside_logger(diag, peer) {
                continue;
            }
            let holders = outside(diag.peer);
            let by = if holders.is_empty() {
                "which no process holds (a connection not accepted yet?)".to_string()
            } else {
                format!(
                    "held outside the dumped processes by {}",
                    holders.join(", ")
                )
            };
            refuse(
                describe(diag),
                format!(
                    "it is connected to {} {by}; checkpoint both ends together, or close the connection",
                    describe(peer)
                ),
            );
            continue;
        }
        let by_name = diag.sock_type == libc::SOCK_DGRAM && !peer.name.is_empty();
        if peer.peer != diag.inode && !by_name {
            refuse(
                describe(diag),
                format!(
                    "it is connected to {}, which is not connected back to it and has no \
                     name to connect to again; this is not supported yet",
                    describe(peer)
                ),
            );
        }
    }
    problems
}

/// The listener a socket's connection waits on, not accepted yet (sock_diag
/// lists the waiting clients of each listener).
pub fn pending_on(diag: &UnixDiag, diags: &HashMap<u64, UnixDiag>) -> Option<u64> {
    if diag.state == STATE_LISTEN || diags.get(&diag.peer).is_some_and(|p| p.peer == diag.inode) {
        return None;
    }
    diags
        .values()
        .find(|l| l.state == STATE_LISTEN && l.pending.contains(&diag.inode))
        .map(|l| l.inode)
}

/// Whether the saved socket was connected to a peer that no longer exists.
/// sock_diag does not list closed sockets, nor connections still waiting in
/// a listener's queue; a closed stream or seqpacket peer shut this end down
/// both ways, which a waiting connection does not.
pub fn peer_closed(diag: &UnixDiag, diags: &HashMap<u64, UnixDiag>) -> bool {
    diag.state != STATE_LISTEN
        && diag.peer != 0
        && !diags.contains_key(&diag.peer)
        && (diag.sock_type == libc::SOCK_DGRAM || diag.shutdown & 3 == 3)
}

/// Whether the socket is one end of a pair (connected both ways, or its peer
/// closed): its queue holds what that peer sent, and the new pair refills it.
pub fn is_paired(diag: &UnixDiag, diags: &HashMap<u64, UnixDiag>) -> bool {
    peer_closed(diag, diags)
        || (diag.peer != 0 && diags.get(&diag.peer).is_some_and(|p| p.peer == diag.inode))
}

/// Why the receive queue of a socket cannot be saved, if it cannot: fds in
/// flight, or messages that cannot be sent again: only a pair, or a bound
/// datagram socket receiving from senders without a name, can be refilled.
pub fn queue_problem(
    copy: BorrowedFd<'_>,
    diag: &UnixDiag,
    diags: &HashMap<u64, UnixDiag>,
) -> io::Result<Option<String>> {
    if diag.state == STATE_LISTEN {
        return Ok(None);
    }
    let queue = sock::peek_queue(
        copy,
        diag.sock_type == libc::SOCK_STREAM,
        diag.shutdown & 1 != 0,
    )?;
    if queue.fds_in_flight {
        return Ok(Some(
            "fds in flight in a unix socket are not supported yet (a message in its queue carries \
             file descriptors, SCM_RIGHTS); let the process receive them before checkpointing"
                .into(),
        ));
    }
    if queue.messages.is_empty() || is_paired(diag, diags) {
        return Ok(None);
    }
    if diag.sock_type != libc::SOCK_DGRAM || diag.name.is_empty() {
        return Ok(Some(format!(
            "{} unread message(s) wait on this socket, which has no peer and no name to send \
             them to again; restoring them is not supported yet",
            queue.messages.len()
        )));
    }
    if let Some(sender) = queue.senders.iter().find(|s| !s.is_empty()) {
        return Ok(Some(format!(
            "a queued datagram comes from a socket bound to {}; restoring datagrams from a \
             named sender is not supported yet: let the process read them first",
            display_name(sender)
        )));
    }
    Ok(None)
}

/// The image record of a unix socket, through our copy of it. `cwd` is the
/// holder's working directory, against which a relative bound path is
/// resolved.
pub fn dump(
    copy: BorrowedFd<'_>,
    diag: &UnixDiag,
    diags: &HashMap<u64, UnixDiag>,
    cwd: &str,
) -> io::Result<pb::UnixSocket> {
    let listening = diag.state == STATE_LISTEN;
    let closed = peer_closed(diag, diags);
    let paired = is_paired(diag, diags);
    let mut queue_senders = Vec::new();
    let queue = if listening {
        Vec::new()
    } else {
        let peeked = sock::peek_queue(
            copy,
            diag.sock_type == libc::SOCK_STREAM,
            diag.shutdown & 1 != 0,
        )?;
        if peeked.fds_in_flight {
            return Err(io::Error::other(
                "fds in flight in a unix socket are not supported yet",
            ));
        }
        if !paired && diag.sock_type == libc::SOCK_DGRAM {
            queue_senders = peeked.senders;
        }
        peeked.messages
    };
    let queue = if diag.sock_type == libc::SOCK_STREAM && queue.len() > 1 {
        vec![queue.concat()]
    } else {
        queue
    };
    Ok(pb::UnixSocket {
        inode: diag.inode,
        r#type: diag.sock_type,
        // A connection not accepted yet has no peer anyone holds: it connects again.
        peer_inode: if closed || pending_on(diag, diags).is_some() {
            0
        } else {
            diag.peer
        },
        name: absolute_name(&diag.name, diag.vfs, cwd)?,
        listening,
        backlog: if listening { diag.rqlen.1 } else { 0 },
        shutdown: diag.shutdown as u32,
        queue,
        sndbuf: sock::get_int_option(copy, libc::SO_SNDBUF)? as u32,
        rcvbuf: sock::get_int_option(copy, libc::SO_RCVBUF)? as u32,
        passcred: sock::get_int_option(copy, libc::SO_PASSCRED)? != 0,
        rcvtimeo_us: sock::get_timeout_us(copy, libc::SO_RCVTIMEO)?,
        sndtimeo_us: sock::get_timeout_us(copy, libc::SO_SNDTIMEO)?,
        peek_off: sock::get_int_option(copy, libc::SO_PEEK_OFF)?,
        peer_closed: closed,
        queue_senders,
        pending_on: if listening {
            0
        } else {
            pending_on(diag, diags).unwrap_or(0)
        },
        pending: diag.pending.clone(),
        // Filled in by the dump, which knows which sockets are in the tree.
        outside_peer: Vec::new(),
    })
}

/// A bound name as restore will bind it: abstract names as they are, paths
/// without trailing NULs and made absolute (a relative path is resolved
/// against the holder's cwd, and must lead to the very socket file).
fn absolute_name(name: &[u8], vfs: Option<(u32, u32)>, cwd: &str) -> io::Result<Vec<u8>> {
    if name.is_empty() || name[0] == 0 {
        return Ok(name.to_vec());
    }
    let path = trim_path(name);
    if path.first() == Some(&b'/') {
        return Ok(path.to_vec());
    }
    use std::os::unix::ffi::OsStrExt;
    let joined = Path::new(cwd).join(std::ffi::OsStr::from_bytes(path));
    let found = crate::sys::syscalls::stat_path(&joined).ok();
    match (found, vfs) {
        (Some(st), Some((_, ino))) if st.st_ino as u32 == ino => {
            Ok(joined.as_os_str().as_bytes().to_vec())
        }
        _ => Err(io::Error::other(format!(
            "the socket is bound to the relative path {}, which does not lead to its socket file \
             from the process's working directory {cwd}; bind to an absolute path",
            String::from_utf8_lossy(path)
        ))),
    }
}

/// Our copy of a socket, for the restored tasks to take: unbound, or bound
/// to its name and listening again. A socket file left at the path (by the
/// dumped process) is removed first; anything else there is an error.
pub fn create_unconnected(socket: &pb::UnixSocket) -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::AsFd;
    let fd = sock::unix_socket(socket.r#type)?;
    if !socket.name.is_empty() {
        if socket.name[0] != 0 {
            use std::os::unix::ffi::OsStrExt;
            use std::os::unix::fs::FileTypeExt;
            let path = Path::new(std::ffi::OsStr::from_bytes(&socket.name));
            match std::fs::symlink_metadata(path) {
                Ok(meta) if meta.file_type().is_socket() => {
                    std::fs::remove_file(path).map_err(|e| {
                        io::Error::new(
                            e.kind(),
                            format!("remove the old socket file {}: {e}", path.display()),
                        )
                    })?
                }
                Ok(_) => {
                    return Err(io::Error::other(format!(
                    "{} exists and is not a socket; move it away to restore the socket bound there",
                    path.display()
                )))
                }
                Err(_) => {}
            }
        }
        sock::bind_unix(fd.as_fd(), &socket.name).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("bind to {}: {e}", display_name(&socket.name)),
            )
        })?;
    }
    if socket.listening {
        sock::listen(fd.as_fd(), socket.backlog as i32)
            .map_err(|e| io::Error::new(e.kind(), format!("listen: {e}")))?;
    }
    Ok(fd)
}

/// Refills `receiver`'s queue through `sender`, the other end of its new
/// pair. The sender's buffer is made large enough first (configure sets the
/// saved size afterwards).
pub fn refill(sender: BorrowedFd<'_>, socket: &pb::UnixSocket) -> io::Result<()> {
    if socket.queue.is_empty() {
        return Ok(());
    }
    let bytes: usize = socket.queue.iter().map(|m| m.len()).sum();
    // Each queued message also costs its buffer overhead (truesize).
    let room = bytes * 2 + socket.queue.len() * 4096 + 65536;
    let half = (room / 2).min(i32::MAX as usize) as i32;
    sock::set_int_option(sender, libc::SO_SNDBUFFORCE, half)
        .or_else(|_| sock::set_int_option(sender, libc::SO_SNDBUF, half))?;
    let stream = socket.r#type == libc::SOCK_STREAM;
    for message in &socket.queue {
        sock::send_all(sender, message, stream).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "refilling the receive queue of socket:[{}] ({} bytes in {} messages): {e}",
                    socket.inode,
                    bytes,
                    socket.queue.len()
                ),
            )
        })?;
    }
    Ok(())
}

/// Refills the queue of a bound datagram socket that is not one end of a
/// pair: each message is sent to its name from a socket of ours without a
/// name, as its senders had none (the dump refuses others).
pub fn refill_by_name(socket: &pb::UnixSocket) -> io::Result<()> {
    use std::os::fd::AsFd;
    if socket.queue.is_empty() {
        return Ok(());
    }
    let sender = sock::unix_socket(libc::SOCK_DGRAM)?;
    let bytes: usize = socket.queue.iter().map(|m| m.len()).sum();
    let room = bytes * 2 + socket.queue.len() * 4096 + 65536;
    let half = (room / 2).min(i32::MAX as usize) as i32;
    sock::set_int_option(sender.as_fd(), libc::SO_SNDBUFFORCE, half)
        .or_else(|_| sock::set_int_option(sender.as_fd(), libc::SO_SNDBUF, half))?;
    for message in &socket.queue {
        sock::send_to_unix(sender.as_fd(), message, &socket.name).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "refilling the {} queued datagrams of socket:[{}] through its name {}: {e}",
                    socket.queue.len(),
                    socket.inode,
                    display_name(&socket.name)
                ),
            )
        })?;
    }
    Ok(())
}

/// The saved options, shutdown state and O_NONBLOCK of one socket.
pub fn configure(fd: BorrowedFd<'_>, socket: &pb::UnixSocket, flags: u32) -> io::Result<()> {
    let opt = |what: &str, r: io::Result<()>| {
        r.map_err(|e| io::Error::new(e.kind(), format!("{what}: {e}")))
    };
    // getsockopt reports twice what setsockopt asks for.
    let buffer = |option_force, option, size: u32| {
        let half = (size / 2) as i32;
        sock::set_int_option(fd, option_force, half)
            .or_else(|_| sock::set_int_option(fd, option, half))
    };
    if socket.sndbuf != 0 {
        opt(
            "SO_SNDBUF",
            buffer(libc::SO_SNDBUFFORCE, libc::SO_SNDBUF, socket.sndbuf),
        )?;
    }
    if socket.rcvbuf != 0 {
        opt(
            "SO_RCVBUF",
            buffer(libc::SO_RCVBUFFORCE, libc::SO_RCVBUF, socket.rcvbuf),
        )?;
    }
    if socket.passcred {
        opt(
            "SO_PASSCRED",
            sock::set_int_option(fd, libc::SO_PASSCRED, 1),
        )?;
    }
    if socket.rcvtimeo_us != 0 {
        opt(
            "SO_RCVTIMEO",
            sock::set_timeout_us(fd, libc::SO_RCVTIMEO, socket.rcvtimeo_us),
        )?;
    }
    if socket.sndtimeo_us != 0 {
        opt(
            "SO_SNDTIMEO",
            sock::set_timeout_us(fd, libc::SO_SNDTIMEO, socket.sndtimeo_us),
        )?;
    }
    if socket.peek_off >= 0 {
        opt(
            "SO_PEEK_OFF",
            sock::set_int_option(fd, libc::SO_PEEK_OFF, socket.peek_off),
        )?;
    }
    let how = match socket.shutdown & 3 {
        1 => Some(libc::SHUT_RD),
        2 => Some(libc::SHUT_WR),
        3 => Some(libc::SHUT_RDWR),
        _ => None,
    };
    if let Some(how) = how {
        opt("shutdown", sock::shutdown(fd, how))?;
    }
    opt(
        "O_NONBLOCK",
        crate::sys::syscalls::set_status_flags(fd, (flags & libc::O_NONBLOCK as u32) as i32),
    )
}

/// A socket's record for `description_path`.
pub fn label(socket: &pb::UnixSocket) -> String {
    let mut label = format!(
        "unix {} socket:[{}]",
        type_name(socket.r#type),
        socket.inode
    );
    if !socket.name.is_empty() {
        label.push_str(&format!(" bound to {}", display_name(&socket.name)));
    }
    if socket.listening {
        label.push_str(" listening");
    }
    if socket.peer_inode != 0 {
        label.push_str(&format!(" peer socket:[{}]", socket.peer_inode));
    }
    label
}

#[cfg(test)]
mod tests {
    use super::*;

    fn diag(inode: u64, peer: u64) -> UnixDiag {
        UnixDiag {
            inode,
            sock_type: libc::SOCK_STREAM,
            state: 1,
            peer,
            ..Default::default()
        }
    }

    fn held(inodes: &[u64]) -> Vec<HeldSocket> {
        inodes
            .iter()
            .enumerate()
            .map(|(i, &inode)| HeldSocket {
                pid: 10,
                fd: 3 + i as i32,
                inode,
            })
            .collect()
    }

    #[test]
    fn a_pair_in_the_tree_is_fine_a_peer_outside_is_not() {
        let diags: HashMap<u64, UnixDiag> = [diag(1, 2), diag(2, 1), diag(3, 4), diag(4, 3)]
            .into_iter()
            .map(|d| (d.inode, d))
            .collect();
        let outside = |ino: u64| vec![format!("pid 99 (logger) fd {ino}")];
        assert!(check_tree(&held(&[1, 2]), &diags, &outside).is_empty());
        let problems = check_tree(&held(&[1, 2, 3]), &diags, &outside);
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].index, 2);
        assert!(
            problems[0].why.contains("pid 99 (logger) fd 4"),
            "{}",
            problems[0].why
        );
    }

    #[test]
    fn a_closed_peer_is_fine_a_waiting_connection_is_not() {
        let mut listener = diag(5, 0);
        listener.state = STATE_LISTEN;
        listener.pending = vec![6];
        let mut closed = diag(1, 77);
        closed.shutdown = 3;
        // Connected to a connection a listener has not accepted yet.
        let waiting = diag(2, 78);
        let diags: HashMap<u64, UnixDiag> = [closed, waiting, listener]
            .into_iter()
            .map(|d| (d.inode, d))
            .collect();
        assert!(peer_closed(&diags[&1], &diags));
        assert!(!peer_closed(&diags[&2], &diags));
        let problems = check_tree(&held(&[1, 5, 2]), &diags, &|_| Vec::new());
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].why.contains("comes from socket:[6]"));
        assert!(problems[1].why.contains("not accepted yet"), "{problems:?}");
    }

    #[test]
    fn a_waiting_connection_from_the_tree_is_fine_unless_it_carries_data() {
        let mut listener = diag(5, 0);
        listener.state = STATE_LISTEN;
        listener.pending = vec![6];
        listener.rqlen = (1, 4);
        // The client's peer is the socket waiting in the queue, which
        // sock_diag does not list.
        let mut client = diag(6, 60);
        let table = |client: &UnixDiag| -> HashMap<u64, UnixDiag> {
            [client.clone(), listener.clone()]
                .into_iter()
                .map(|d| (d.inode, d))
                .collect()
        };
        let diags = table(&client);
        assert_eq!(pending_on(&diags[&6], &diags), Some(5));
        assert!(!peer_closed(&diags[&6], &diags));
        assert!(check_tree(&held(&[5, 6]), &diags, &|_| Vec::new()).is_empty());
        client.rqlen = (0, 768);
        let problems = check_tree(&held(&[5, 6]), &table(&client), &|_| Vec::new());
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].why.contains("already carries data"));
    }

    #[test]
    fn names_are_shown_and_inodes_parsed() {
        assert_eq!(display_name(b"\0abstract"), "@abstract");
        assert_eq!(display_name(b"/run/x.sock\0"), "/run/x.sock");
        assert_eq!(socket_inode("socket:[123]"), Some(123));
        assert_eq!(socket_inode("pipe:[123]"), None);
    }
}
