//! Syscalls for IPv4/IPv6 sockets: addresses as raw sockaddr bytes, options at
//! any level, the TCP state, and building a socket again.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use super::check;

/// getsockname or getpeername: the raw struct sockaddr.
fn address(fd: BorrowedFd<'_>, peer: bool) -> io::Result<Vec<u8>> {
    // SAFETY: sockaddr_storage is plain old data; zeroed is a valid value.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    let ptr = (&mut storage as *mut libc::sockaddr_storage).cast::<libc::sockaddr>();
    // SAFETY: `storage` and `len` are valid out-pointers of the sizes passed.
    let ret = unsafe {
        if peer {
            libc::getpeername(fd.as_raw_fd(), ptr, &mut len)
        } else {
            libc::getsockname(fd.as_raw_fd(), ptr, &mut len)
        }
    };
    check(ret as libc::c_long)?;
    // SAFETY: the kernel wrote `len` bytes (at most the storage's size) at `ptr`.
    let bytes = unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), len as usize) };
    Ok(bytes.to_vec())
}

pub fn local_address(fd: BorrowedFd<'_>) -> io::Result<Vec<u8>> {
    address(fd, false)
}

/// The connected peer, or None when not connected (ENOTCONN).
pub fn peer_address(fd: BorrowedFd<'_>) -> io::Result<Option<Vec<u8>>> {
    match address(fd, true) {
        Ok(a) => Ok(Some(a)),
        Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => Ok(None),
        Err(e) => Err(e),
    }
}

/// getsockopt of an int option at `level`.
pub fn get_option(fd: BorrowedFd<'_>, level: i32, name: i32) -> io::Result<i32> {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `value` and `len` are valid out-pointers of the sizes passed.
    check(unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&mut value as *mut libc::c_int).cast(),
            &mut len,
        )
    } as libc::c_long)?;
    Ok(value)
}

/// setsockopt of an int option at `level`.
pub fn set_option(fd: BorrowedFd<'_>, level: i32, name: i32, value: i32) -> io::Result<()> {
    // SAFETY: `value` is a valid int for the length passed.
    check(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    } as libc::c_long)
    .map(|_| ())
}

/// What TCP_INFO says of a TCP socket: its state and, for a listener, the
/// connections waiting to be accepted and the backlog.
#[derive(Debug, Clone, Copy)]
pub struct TcpState {
    /// TCP_ESTABLISHED (1) ... TCP_LISTEN (10), TCP_CLOSE (7).
    pub state: u8,
    pub accept_queue: u32,
    pub backlog: u32,
}

pub fn tcp_state(fd: BorrowedFd<'_>) -> io::Result<TcpState> {
    // SAFETY: tcp_info is plain old data; zeroed is a valid value.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: `info` and `len` are valid out-pointers of the sizes passed.
    check(unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut libc::tcp_info).cast(),
            &mut len,
        )
    } as libc::c_long)?;
    // For a listener the kernel reports the accept queue in tcpi_unacked and
    // the backlog in tcpi_sacked.
    Ok(TcpState {
        state: info.tcpi_state,
        accept_queue: info.tcpi_unacked,
        backlog: info.tcpi_sacked,
    })
}

/// socket(2), close-on-exec.
pub fn socket(family: i32, sock_type: i32, protocol: i32) -> io::Result<OwnedFd> {
    // SAFETY: socket takes integers.
    let fd = check(
        unsafe { libc::socket(family, sock_type | libc::SOCK_CLOEXEC, protocol) } as libc::c_long,
    )?;
    // SAFETY: the kernel just returned this fd to us; nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// bind(2) or connect(2) to a raw sockaddr.
fn to_address(fd: BorrowedFd<'_>, address: &[u8], connect: bool) -> io::Result<()> {
    if address.len() > std::mem::size_of::<libc::sockaddr_storage>() {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    // SAFETY: sockaddr_storage is plain old data; zeroed is a valid value.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let ptr = (&mut storage as *mut libc::sockaddr_storage).cast::<u8>();
    // SAFETY: `address` fits in `storage` (checked above); the regions are distinct.
    unsafe { std::ptr::copy_nonoverlapping(address.as_ptr(), ptr, address.len()) };
    let sa = ptr.cast::<libc::sockaddr>();
    let len = address.len() as libc::socklen_t;
    // SAFETY: `sa` points to `len` valid bytes of a sockaddr.
    let ret = unsafe {
        if connect {
            libc::connect(fd.as_raw_fd(), sa, len)
        } else {
            libc::bind(fd.as_raw_fd(), sa, len)
        }
    };
    check(ret as libc::c_long).map(|_| ())
}

pub fn bind(fd: BorrowedFd<'_>, address: &[u8]) -> io::Result<()> {
    to_address(fd, address, false)
}

pub fn connect(fd: BorrowedFd<'_>, address: &[u8]) -> io::Result<()> {
    to_address(fd, address, true)
}

pub fn listen(fd: BorrowedFd<'_>, backlog: u32) -> io::Result<()> {
    // SAFETY: listen takes integers.
    check(unsafe { libc::listen(fd.as_raw_fd(), backlog as i32) } as libc::c_long).map(|_| ())
}
