//! IPv4 and IPv6 sockets that are not connected: a TCP listener (address,
//! port, backlog, options), a TCP socket that is only bound or brand new, a UDP
//! socket bound and possibly connected. Restore makes the socket again and
//! binds it to the same address and port, which the dump freed by killing
//! the original (SO_REUSEADDR is on while binding, so connections of the old
//! listener in TIME_WAIT do not get in the way).
//!
//! Refused at dump, naming the socket: established TCP connections (they
//! would need TCP_REPAIR), a listener with connections waiting to be accepted
//! (the clients would be left hanging), raw sockets. Datagrams waiting in a
//! UDP socket are dropped (UDP may lose them anyway; the dump log says so).

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use stasis_image::pb;

use crate::sys::inet;

const TCP_ESTABLISHED: u8 = 1;
const TCP_CLOSE: u8 = 7;
const TCP_LISTEN: u8 = 10;

/// Options saved and set again, by level: they change what the program sees
/// (address reuse, keepalive, Nagle, IPv6-only). Buffer sizes are left to the
/// kernel's autotuning, which setting them would turn off.
const OPTIONS: [(i32, i32); 9] = [
    (libc::SOL_SOCKET, libc::SO_REUSEADDR),
    (libc::SOL_SOCKET, libc::SO_REUSEPORT),
    (libc::SOL_SOCKET, libc::SO_KEEPALIVE),
    (libc::SOL_SOCKET, libc::SO_BROADCAST),
    (libc::IPPROTO_TCP, libc::TCP_NODELAY),
    (libc::IPPROTO_TCP, libc::TCP_KEEPIDLE),
    (libc::IPPROTO_TCP, libc::TCP_KEEPINTVL),
    (libc::IPPROTO_TCP, libc::TCP_KEEPCNT),
    (libc::IPPROTO_IPV6, libc::IPV6_V6ONLY),
];

/// "127.0.0.1:6379", "[::]:8000" for messages.
pub fn address_text(raw: &[u8]) -> String {
    let port = |b: &[u8]| u16::from_be_bytes([b[2], b[3]]);
    match raw.len() {
        n if n >= 8 && i32::from(u16::from_ne_bytes([raw[0], raw[1]])) == libc::AF_INET => {
            let ip = Ipv4Addr::new(raw[4], raw[5], raw[6], raw[7]);
            format!("{ip}:{}", port(raw))
        }
        n if n >= 24 && i32::from(u16::from_ne_bytes([raw[0], raw[1]])) == libc::AF_INET6 => {
            let mut octets = [0u8; 16];
            octets.copy_from_slice(&raw[8..24]);
            format!("[{}]:{}", Ipv6Addr::from(octets), port(raw))
        }
        _ => "(unbound)".to_string(),
    }
}

/// The port of a raw sockaddr_in/in6 (0 for none).
fn port_of(raw: &[u8]) -> u16 {
    if raw.len() >= 4 {
        u16::from_be_bytes([raw[2], raw[3]])
    } else {
        0
    }
}

/// The state of socket `copy` (a copy of the task's fd), or why it cannot be
/// checkpointed.
pub fn dump(copy: BorrowedFd<'_>) -> Result<pb::InetSocket, String> {
    let family = inet::get_option(copy, libc::SOL_SOCKET, libc::SO_DOMAIN).map_err(err)?;
    let sock_type = inet::get_option(copy, libc::SOL_SOCKET, libc::SO_TYPE).map_err(err)?;
    let protocol = inet::get_option(copy, libc::SOL_SOCKET, libc::SO_PROTOCOL).map_err(err)?;
    let local = inet::local_address(copy).map_err(err)?;
    let peer = inet::peer_address(copy).map_err(err)?;
    let mut socket = pb::InetSocket {
        family,
        r#type: sock_type,
        protocol,
        local: if port_of(&local) == 0 {
            Vec::new()
        } else {
            local.clone()
        },
        ..Default::default()
    };
    match sock_type {
        libc::SOCK_STREAM => {
            let tcp = inet::tcp_state(copy).map_err(err)?;
            match tcp.state {
                TCP_LISTEN if tcp.accept_queue > 0 => {
                    return Err(format!(
                        "listening on {} with {} connection(s) waiting to be accepted; the clients would be cut off",
                        address_text(&local),
                        tcp.accept_queue
                    ))
                }
                TCP_LISTEN => {
                    socket.listening = true;
                    socket.backlog = tcp.backlog;
                }
                TCP_CLOSE => {}
                TCP_ESTABLISHED => {
                    return Err(format!(
                        "established TCP connection {} -> {} is not supported yet; close it before checkpointing",
                        address_text(&local),
                        peer.as_deref().map(address_text).unwrap_or_default()
                    ))
                }
                other => {
                    return Err(format!(
                        "TCP connection {} in state {other} (opening or closing) is not supported yet",
                        address_text(&local)
                    ))
                }
            }
        }
        libc::SOCK_DGRAM => {
            socket.peer = peer.unwrap_or_default();
        }
        _ => return Err(format!("socket type {sock_type} is not supported")),
    }
    for (level, name) in OPTIONS {
        if level == libc::IPPROTO_IPV6 && family != libc::AF_INET6 {
            continue;
        }
        if level == libc::IPPROTO_TCP && sock_type != libc::SOCK_STREAM {
            continue;
        }
        if let Ok(value) = inet::get_option(copy, level, name) {
            socket.options.push(pb::SocketOption { level, name, value });
        }
    }
    Ok(socket)
}

fn err(e: io::Error) -> String {
    format!("cannot read the socket's state: {e}")
}

/// Datagrams waiting in a UDP socket are not kept: say so.
pub fn warn_if_queued(pid: i32, fd: i32, copy: BorrowedFd<'_>, socket: &pb::InetSocket) {
    if socket.r#type != libc::SOCK_DGRAM {
        return;
    }
    if let Ok(queued) = crate::sys::syscalls::bytes_readable(copy) {
        if queued > 0 {
            tracing::warn!(
                pid,
                fd,
                queued,
                "datagrams waiting in a UDP socket are not kept by the checkpoint"
            );
        }
    }
}

/// The socket again: options, then bound to its address (with SO_REUSEADDR
/// while binding), listening with its backlog, or connected to its UDP peer.
pub fn create(file: &pb::OpenFile, socket: &pb::InetSocket) -> io::Result<OwnedFd> {
    let fd = inet::socket(socket.family, socket.r#type, socket.protocol)?;
    let sock = fd.as_fd();
    for option in &socket.options {
        inet::set_option(sock, option.level, option.name, option.value).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("setting option {}/{}: {e}", option.level, option.name),
            )
        })?;
    }
    if !socket.local.is_empty() {
        let reuse = socket
            .options
            .iter()
            .find(|o| (o.level, o.name) == (libc::SOL_SOCKET, libc::SO_REUSEADDR))
            .map_or(0, |o| o.value);
        inet::set_option(sock, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
        inet::bind(sock, &socket.local).map_err(|e| {
            let what = address_text(&socket.local);
            if e.raw_os_error() == Some(libc::EADDRINUSE) {
                io::Error::new(
                    e.kind(),
                    format!("{what} is in use by another process; stop it, or restore when the port is free"),
                )
            } else {
                io::Error::new(e.kind(), format!("binding to {what}: {e}"))
            }
        })?;
        inet::set_option(sock, libc::SOL_SOCKET, libc::SO_REUSEADDR, reuse)?;
    }
    if socket.listening {
        inet::listen(sock, socket.backlog)?;
    }
    if !socket.peer.is_empty() {
        inet::connect(sock, &socket.peer).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("connecting to {}: {e}", address_text(&socket.peer)),
            )
        })?;
    }
    crate::sys::syscalls::set_status_flags(sock, file.flags as i32 & libc::O_NONBLOCK)?;
    Ok(fd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_addresses() {
        let mut v4 = vec![0u8; 16];
        v4[0..2].copy_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
        v4[2..4].copy_from_slice(&6379u16.to_be_bytes());
        v4[4..8].copy_from_slice(&[127, 0, 0, 1]);
        assert_eq!(address_text(&v4), "127.0.0.1:6379");
        let mut v6 = vec![0u8; 28];
        v6[0..2].copy_from_slice(&(libc::AF_INET6 as u16).to_ne_bytes());
        v6[2..4].copy_from_slice(&8000u16.to_be_bytes());
        assert_eq!(address_text(&v6), "[::]:8000");
        assert_eq!(port_of(&v6), 8000);
        assert_eq!(address_text(&[]), "(unbound)");
    }
}
