//! Socket syscalls for checkpointing unix sockets: options, reading a receive
//! queue without consuming it, and building sockets again (socketpair, bind,
//! listen, shutdown, refilling queues).

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use super::check;

/// getsockopt(SOL_SOCKET) of an int option.
pub fn get_int_option(fd: BorrowedFd<'_>, option: libc::c_int) -> io::Result<i32> {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `value` and `len` are valid out-pointers of the sizes passed.
    check(unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            option,
            (&mut value as *mut libc::c_int).cast(),
            &mut len,
        )
    } as libc::c_long)?;
    Ok(value)
}

/// setsockopt(SOL_SOCKET) of an int option.
pub fn set_int_option(fd: BorrowedFd<'_>, option: libc::c_int, value: i32) -> io::Result<()> {
    // SAFETY: `value` is a valid int for the length passed.
    check(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            option,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    } as libc::c_long)
    .map(|_| ())
}

/// getsockopt of SO_RCVTIMEO / SO_SNDTIMEO, in microseconds.
pub fn get_timeout_us(fd: BorrowedFd<'_>, option: libc::c_int) -> io::Result<u64> {
    // SAFETY: timeval is plain old data; zeroed is a valid value.
    let mut tv: libc::timeval = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::timeval>() as libc::socklen_t;
    // SAFETY: `tv` and `len` are valid out-pointers of the sizes passed.
    check(unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            option,
            (&mut tv as *mut libc::timeval).cast(),
            &mut len,
        )
    } as libc::c_long)?;
    Ok(tv.tv_sec as u64 * 1_000_000 + tv.tv_usec as u64)
}

/// setsockopt of SO_RCVTIMEO / SO_SNDTIMEO, in microseconds.
pub fn set_timeout_us(fd: BorrowedFd<'_>, option: libc::c_int, us: u64) -> io::Result<()> {
    let tv = libc::timeval {
        tv_sec: (us / 1_000_000) as libc::time_t,
        tv_usec: (us % 1_000_000) as libc::suseconds_t,
    };
    // SAFETY: `tv` is a valid timeval for the length passed.
    check(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            option,
            (&tv as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    } as libc::c_long)
    .map(|_| ())
}

/// What a walk over a receive queue found.
#[derive(Debug, Default)]
pub struct PeekedQueue {
    /// The stream's bytes (in one or more pieces), or one entry per message.
    pub messages: Vec<Vec<u8>>,
    /// The sender's bound address per message (empty if it had none), for
    /// datagram and seqpacket sockets.
    pub senders: Vec<Vec<u8>>,
    /// A message carries file descriptors (SCM_RIGHTS).
    pub fds_in_flight: bool,
}

/// Reads a socket's whole receive queue without consuming it: MSG_PEEK with
/// SO_PEEK_OFF walking forward, one message per call for datagram and
/// seqpacket sockets. The socket's own peek offset is put back. The queue
/// must not change meanwhile (the owners are frozen). `receive_shut` says the
/// receive side is shut down, where 0 means "end" rather than an empty message.
pub fn peek_queue(fd: BorrowedFd<'_>, stream: bool, receive_shut: bool) -> io::Result<PeekedQueue> {
    let saved = get_int_option(fd, libc::SO_PEEK_OFF)?;
    set_int_option(fd, libc::SO_PEEK_OFF, 0)?;
    let walked = walk_queue(fd, stream, receive_shut);
    let put_back = set_int_option(fd, libc::SO_PEEK_OFF, saved);
    let queue = walked?;
    put_back?;
    Ok(queue)
}

fn walk_queue(fd: BorrowedFd<'_>, stream: bool, receive_shut: bool) -> io::Result<PeekedQueue> {
    const BUFFER: usize = 1 << 20;
    // A message larger than any socket buffer cannot be queued anyway; this
    // is a safety net against a queue that never ends.
    const MAX_MESSAGES: usize = 1 << 20;
    let mut queue = PeekedQueue::default();
    let mut buf = vec![0u8; BUFFER];
    // Room for the fds of a few messages' SCM_RIGHTS plus credentials.
    let mut control = vec![0u8; 4096];
    for _ in 0..MAX_MESSAGES {
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        // SAFETY: msghdr is plain old data; zeroed is a valid value.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        // SAFETY: sockaddr_un is plain old data; zeroed is a valid value.
        let mut sender: libc::sockaddr_un = unsafe { std::mem::zeroed() };
        msg.msg_name = (&mut sender as *mut libc::sockaddr_un).cast();
        msg.msg_namelen = std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
        msg.msg_controllen = control.len();
        // SAFETY: `msg` points to `iov`, `buf`, `control` and `sender`, which
        // live and are not otherwise borrowed for the whole call.
        let n = unsafe {
            libc::recvmsg(
                fd.as_raw_fd(),
                &mut msg,
                libc::MSG_PEEK | libc::MSG_DONTWAIT | libc::MSG_CMSG_CLOEXEC,
            )
        };
        if n < 0 {
            let err = io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::EAGAIN) => return Ok(queue),
                Some(libc::EINTR) => continue,
                _ => return Err(err),
            }
        }
        if received_fds(&msg) {
            queue.fds_in_flight = true;
            return Ok(queue);
        }
        if msg.msg_flags & libc::MSG_TRUNC != 0 {
            return Err(io::Error::other(format!(
                "a queued message is larger than {BUFFER} bytes"
            )));
        }
        let n = n as usize;
        if n == 0 && (stream || receive_shut) {
            return Ok(queue);
        }
        queue.messages.push(buf[..n].to_vec());
        let name_len = (msg.msg_namelen as usize)
            .saturating_sub(std::mem::size_of::<libc::sa_family_t>())
            .min(sender.sun_path.len());
        queue.senders.push(
            sender.sun_path[..name_len]
                .iter()
                .map(|c| *c as u8)
                .collect(),
        );
    }
    Err(io::Error::other("the receive queue does not end"))
}

/// Whether a peeked message carried SCM_RIGHTS (or more control data than
/// fits, which may hide some). The fds the peek gave us are closed.
fn received_fds(msg: &libc::msghdr) -> bool {
    let mut found = msg.msg_flags & libc::MSG_CTRUNC != 0;
    // SAFETY: the CMSG_* macros walk the control buffer the kernel filled,
    // within msg_controllen; each SCM_RIGHTS payload holds whole ints.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                found = true;
                let data = libc::CMSG_DATA(cmsg) as *const libc::c_int;
                let header = libc::CMSG_LEN(0) as usize;
                let count = ((*cmsg).cmsg_len as usize).saturating_sub(header)
                    / std::mem::size_of::<libc::c_int>();
                for i in 0..count {
                    // The peek installed these fds in our table; they are ours to close.
                    drop(OwnedFd::from_raw_fd(data.add(i).read_unaligned()));
                }
            }
            cmsg = libc::CMSG_NXTHDR(msg, cmsg);
        }
    }
    found
}

/// socketpair(AF_UNIX) with O_CLOEXEC.
pub fn unix_socketpair(sock_type: i32) -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: socketpair writes two fds into the array we pass.
    check(unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            sock_type | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    } as libc::c_long)?;
    // SAFETY: the kernel just created these two fds for us; nobody else owns them.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// socket(AF_UNIX) with O_CLOEXEC.
pub fn unix_socket(sock_type: i32) -> io::Result<OwnedFd> {
    // SAFETY: plain syscall with integer arguments.
    let fd = check(
        unsafe { libc::socket(libc::AF_UNIX, sock_type | libc::SOCK_CLOEXEC, 0) } as libc::c_long,
    )?;
    // SAFETY: the kernel just returned this fd to us; nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// bind(2) to a unix address: a path, or an abstract name starting with NUL.
pub fn bind_unix(fd: BorrowedFd<'_>, name: &[u8]) -> io::Result<()> {
    let (addr, len) = unix_address(name)?;
    // SAFETY: `addr` is a valid sockaddr_un of at least `len` bytes.
    check(unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&addr as *const libc::sockaddr_un).cast(),
            len,
        )
    } as libc::c_long)
    .map(|_| ())
}

/// connect(2) to a unix address (a path, or an abstract name starting with NUL).
pub fn connect_unix(fd: BorrowedFd<'_>, name: &[u8]) -> io::Result<()> {
    let (addr, len) = unix_address(name)?;
    // SAFETY: `addr` is a valid sockaddr_un of at least `len` bytes.
    check(unsafe {
        libc::connect(
            fd.as_raw_fd(),
            (&addr as *const libc::sockaddr_un).cast(),
            len,
        )
    } as libc::c_long)
    .map(|_| ())
}

/// sendto(2) of one datagram to a unix address, without blocking.
pub fn send_to_unix(fd: BorrowedFd<'_>, data: &[u8], name: &[u8]) -> io::Result<()> {
    let (addr, len) = unix_address(name)?;
    // SAFETY: `data` is valid for reads of its length and `addr` is a valid
    // sockaddr_un of at least `len` bytes, both for the whole call.
    check(unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            data.as_ptr().cast(),
            data.len(),
            libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
            (&addr as *const libc::sockaddr_un).cast(),
            len,
        )
    } as libc::c_long)
    .map(|_| ())
}

fn unix_address(name: &[u8]) -> io::Result<(libc::sockaddr_un, libc::socklen_t)> {
    // SAFETY: sockaddr_un is plain old data; zeroed is a valid value.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    if name.is_empty() || name.len() > addr.sun_path.len() {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    for (slot, byte) in addr.sun_path.iter_mut().zip(name) {
        *slot = *byte as libc::c_char;
    }
    // An abstract name is exactly as long as given; a path ends at its NUL.
    let len = std::mem::size_of::<libc::sa_family_t>() + name.len();
    Ok((addr, len as libc::socklen_t))
}

/// listen(2).
pub fn listen(fd: BorrowedFd<'_>, backlog: i32) -> io::Result<()> {
    // SAFETY: plain syscall with integer arguments.
    check(unsafe { libc::listen(fd.as_raw_fd(), backlog) } as libc::c_long).map(|_| ())
}

/// shutdown(2) with SHUT_RD, SHUT_WR or SHUT_RDWR.
pub fn shutdown(fd: BorrowedFd<'_>, how: i32) -> io::Result<()> {
    // SAFETY: plain syscall with integer arguments.
    check(unsafe { libc::shutdown(fd.as_raw_fd(), how) } as libc::c_long).map(|_| ())
}

/// send(2) of one whole message (or, on a stream, all of `data`) without
/// blocking: the caller made room in the buffers first.
pub fn send_all(fd: BorrowedFd<'_>, data: &[u8], stream: bool) -> io::Result<()> {
    let mut sent = 0;
    loop {
        let rest = &data[sent..];
        // SAFETY: `rest` is valid for reads of its length for the whole call.
        let n = unsafe {
            libc::send(
                fd.as_raw_fd(),
                rest.as_ptr().cast(),
                rest.len(),
                libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
            )
        };
        if n < 0 {
            let err = io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return Err(err);
        }
        sent += n as usize;
        if !stream || sent >= data.len() {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::fd::AsFd;
    use std::os::unix::net::{UnixDatagram, UnixStream};

    #[test]
    fn peeking_keeps_the_queue_and_the_peek_offset() {
        let (a, mut b) = UnixStream::pair().unwrap();
        use std::io::Write;
        (&a).write_all(b"hello ").unwrap();
        (&a).write_all(b"world").unwrap();
        set_int_option(b.as_fd(), libc::SO_PEEK_OFF, 3).unwrap();
        let queue = peek_queue(b.as_fd(), true, false).unwrap();
        assert_eq!(queue.messages.concat(), b"hello world");
        assert!(!queue.fds_in_flight);
        assert_eq!(get_int_option(b.as_fd(), libc::SO_PEEK_OFF).unwrap(), 3);
        set_int_option(b.as_fd(), libc::SO_PEEK_OFF, -1).unwrap();
        let mut all = [0u8; 11];
        b.read_exact(&mut all).unwrap();
        assert_eq!(&all, b"hello world");
    }

    #[test]
    fn datagrams_keep_their_boundaries_and_fds_in_flight_are_seen() {
        let (a, b) = UnixDatagram::pair().unwrap();
        a.send(b"one").unwrap();
        a.send(b"two!").unwrap();
        let queue = peek_queue(b.as_fd(), false, false).unwrap();
        assert_eq!(queue.messages, vec![b"one".to_vec(), b"two!".to_vec()]);
        assert_eq!(queue.senders, vec![Vec::<u8>::new(), Vec::new()]);
        // An fd in flight: the peek reports it and closes the copy it received.
        let (c, d) = UnixDatagram::pair().unwrap();
        let fd = c.as_raw_fd();
        let mut space = vec![0u8; 64];
        // SAFETY: `msg` points to `iov`, `data` and `space`, which outlive the
        // call; the CMSG macros stay within the CMSG_SPACE(4) bytes of `space`.
        unsafe {
            let mut data = *b"x";
            let mut iov = libc::iovec {
                iov_base: data.as_mut_ptr().cast(),
                iov_len: 1,
            };
            let mut msg: libc::msghdr = std::mem::zeroed();
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            msg.msg_control = space.as_mut_ptr().cast();
            msg.msg_controllen = libc::CMSG_SPACE(4) as usize;
            let cmsg = libc::CMSG_FIRSTHDR(&msg);
            (*cmsg).cmsg_level = libc::SOL_SOCKET;
            (*cmsg).cmsg_type = libc::SCM_RIGHTS;
            (*cmsg).cmsg_len = libc::CMSG_LEN(4) as usize;
            (libc::CMSG_DATA(cmsg) as *mut i32).write_unaligned(fd);
            assert_eq!(libc::sendmsg(d.as_raw_fd(), &msg, 0), 1);
        }
        assert!(peek_queue(c.as_fd(), false, false).unwrap().fds_in_flight);
    }
}
