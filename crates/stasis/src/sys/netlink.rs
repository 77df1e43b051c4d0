//! sock_diag over netlink (NETLINK_SOCK_DIAG): what the kernel knows of every
//! AF_UNIX socket of our network namespace: type, state, bound name, peer,
//! queue lengths, pending connections of listeners, shutdown state. Nothing
//! else tells which socket a unix socket is connected to.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use super::check;

// linux/sock_diag.h and linux/unix_diag.h (not all in the libc crate).
const NETLINK_SOCK_DIAG: libc::c_int = 4;
const SOCK_DIAG_BY_FAMILY: u16 = 20;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const UDIAG_SHOW_NAME: u32 = 0x01;
const UDIAG_SHOW_VFS: u32 = 0x02;
const UDIAG_SHOW_PEER: u32 = 0x04;
const UDIAG_SHOW_ICONS: u32 = 0x08;
const UDIAG_SHOW_RQLEN: u32 = 0x10;
const UNIX_DIAG_NAME: u16 = 0;
const UNIX_DIAG_VFS: u16 = 1;
const UNIX_DIAG_PEER: u16 = 2;
const UNIX_DIAG_ICONS: u16 = 3;
const UNIX_DIAG_RQLEN: u16 = 4;
const UNIX_DIAG_SHUTDOWN: u16 = 6;
/// TCP_LISTEN, the state of a listening unix socket.
pub const STATE_LISTEN: u8 = 10;

/// One unix socket as sock_diag describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnixDiag {
    pub inode: u64,
    /// SOCK_STREAM, SOCK_DGRAM or SOCK_SEQPACKET.
    pub sock_type: i32,
    /// TCP_ESTABLISHED (1), TCP_CLOSE (7), TCP_LISTEN (10)...
    pub state: u8,
    /// Bound address as the kernel holds it: a path as given to bind(), or
    /// an abstract name starting with NUL; empty if unbound.
    pub name: Vec<u8>,
    /// Device and inode of the socket file of a path-bound socket.
    pub vfs: Option<(u32, u32)>,
    pub peer: u64,
    /// Inodes of the connections waiting in a listener's queue.
    pub pending: Vec<u64>,
    /// A listener: (pending connections, backlog). Others: (bytes queued for
    /// reading (stream) or the first message's size (datagram), bytes sent
    /// and not yet read by the peer).
    pub rqlen: (u32, u32),
    /// sk_shutdown: 1 receive side closed, 2 send side closed.
    pub shutdown: u8,
}

/// Every unix socket of this network namespace.
pub fn unix_sockets() -> io::Result<Vec<UnixDiag>> {
    // SAFETY: plain syscall with integer arguments.
    let fd = check(unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
            NETLINK_SOCK_DIAG,
        )
    } as libc::c_long)?;
    // SAFETY: the kernel just returned this fd to us; nobody else owns it.
    let sock = unsafe { OwnedFd::from_raw_fd(fd as i32) };

    // struct nlmsghdr followed by struct unix_diag_req.
    let mut req = Vec::with_capacity(40);
    req.extend_from_slice(&40u32.to_ne_bytes());
    req.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    req.extend_from_slice(&((libc::NLM_F_REQUEST | libc::NLM_F_DUMP) as u16).to_ne_bytes());
    req.extend_from_slice(&1u32.to_ne_bytes()); // seq
    req.extend_from_slice(&0u32.to_ne_bytes()); // pid
    req.push(libc::AF_UNIX as u8);
    req.push(0); // protocol
    req.extend_from_slice(&0u16.to_ne_bytes());
    req.extend_from_slice(&u32::MAX.to_ne_bytes()); // every state
    req.extend_from_slice(&0u32.to_ne_bytes()); // any inode
    let show =
        UDIAG_SHOW_NAME | UDIAG_SHOW_VFS | UDIAG_SHOW_PEER | UDIAG_SHOW_ICONS | UDIAG_SHOW_RQLEN;
    req.extend_from_slice(&show.to_ne_bytes());
    req.extend_from_slice(&u32::MAX.to_ne_bytes()); // no cookie
    req.extend_from_slice(&u32::MAX.to_ne_bytes());
    debug_assert_eq!(req.len(), 40);
    // SAFETY: sockaddr_nl is plain old data; zeroed is a valid value.
    let mut kernel: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    kernel.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    // SAFETY: `req` and `kernel` are valid for the lengths passed and outlive the call.
    check(unsafe {
        libc::sendto(
            sock.as_raw_fd(),
            req.as_ptr().cast(),
            req.len(),
            0,
            (&kernel as *const libc::sockaddr_nl).cast(),
            std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
        )
    } as libc::c_long)?;

    let mut sockets = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        // SAFETY: `buf` is valid for writes of its length for the whole call.
        let n = check(
            unsafe { libc::recv(sock.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) }
                as libc::c_long,
        )? as usize;
        if n == 0 {
            return Err(io::Error::other(
                "sock_diag: the kernel closed the dump early",
            ));
        }
        if parse_messages(&buf[..n], &mut sockets)? {
            return Ok(sockets);
        }
    }
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_ne_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Parses one datagram of netlink messages; true once NLMSG_DONE was seen.
fn parse_messages(mut data: &[u8], out: &mut Vec<UnixDiag>) -> io::Result<bool> {
    let bad = || io::Error::new(io::ErrorKind::InvalidData, "sock_diag: malformed reply");
    while data.len() >= 16 {
        let len = u32_at(data, 0) as usize;
        let kind = u16_at(data, 4);
        if len < 16 || len > data.len() {
            return Err(bad());
        }
        let body = &data[16..len];
        match kind {
            NLMSG_DONE => return Ok(true),
            NLMSG_ERROR => {
                let errno = if body.len() >= 4 {
                    -(u32_at(body, 0) as i32)
                } else {
                    0
                };
                return Err(match errno {
                    // The kernel has no sock_diag handler for AF_UNIX.
                    libc::ENOENT => io::Error::new(
                        io::ErrorKind::Unsupported,
                        "sock_diag does not know unix sockets here; load the unix_diag kernel \
                         module (modprobe unix_diag)",
                    ),
                    errno if errno > 0 => io::Error::from_raw_os_error(errno),
                    _ => bad(),
                });
            }
            SOCK_DIAG_BY_FAMILY => out.push(parse_unix_diag(body).ok_or_else(bad)?),
            _ => {}
        }
        let aligned = (len + 3) & !3;
        data = &data[aligned.min(data.len())..];
    }
    Ok(false)
}

/// struct unix_diag_msg and its attributes.
fn parse_unix_diag(body: &[u8]) -> Option<UnixDiag> {
    if body.len() < 16 {
        return None;
    }
    let mut diag = UnixDiag {
        sock_type: body[1] as i32,
        state: body[2],
        inode: u32_at(body, 4) as u64,
        ..Default::default()
    };
    let mut attrs = &body[16..];
    while attrs.len() >= 4 {
        let len = u16_at(attrs, 0) as usize;
        let kind = u16_at(attrs, 2);
        if len < 4 || len > attrs.len() {
            return None;
        }
        let value = &attrs[4..len];
        match kind {
            UNIX_DIAG_NAME => diag.name = value.to_vec(),
            UNIX_DIAG_VFS if value.len() >= 8 => {
                diag.vfs = Some((u32_at(value, 4), u32_at(value, 0)));
            }
            UNIX_DIAG_PEER if value.len() >= 4 => diag.peer = u32_at(value, 0) as u64,
            UNIX_DIAG_ICONS => {
                diag.pending = value.chunks_exact(4).map(|c| u32_at(c, 0) as u64).collect();
            }
            UNIX_DIAG_RQLEN if value.len() >= 8 => {
                diag.rqlen = (u32_at(value, 0), u32_at(value, 4));
            }
            UNIX_DIAG_SHUTDOWN if !value.is_empty() => diag.shutdown = value[0],
            _ => {}
        }
        let aligned = (len + 3) & !3;
        attrs = &attrs[aligned.min(attrs.len())..];
    }
    Some(diag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sees_a_socketpair_and_its_peer() {
        use std::os::unix::fs::MetadataExt;
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        let ino = |s: &std::os::unix::net::UnixStream| {
            std::fs::metadata(format!("/proc/self/fd/{}", s.as_raw_fd()))
                .unwrap()
                .ino()
        };
        let (ia, ib) = (ino(&a), ino(&b));
        let all = unix_sockets().unwrap();
        let da = all.iter().find(|d| d.inode == ia).expect("socket a listed");
        assert_eq!(da.peer, ib);
        assert_eq!(da.sock_type, libc::SOCK_STREAM);
        assert!(da.name.is_empty());
    }
}
