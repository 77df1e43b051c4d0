//! ptrace requests used by stasis, one safe function each.
//!
//! All functions take the tid of a thread that the caller has already stopped
//! (seized and interrupted, or traced and stopped); the kernel enforces that.

use std::io;

use super::check;

pub const PTRACE_SEIZE: u32 = 0x4206;
pub const PTRACE_INTERRUPT: u32 = 0x4207;
pub const PTRACE_PEEKSIGINFO: u32 = 0x4209;
pub const PTRACE_GETSIGMASK: u32 = 0x420a;
pub const PTRACE_SETSIGMASK: u32 = 0x420b;
pub const PTRACE_GET_RSEQ_CONFIGURATION: u32 = 0x420f;
pub const PTRACE_EVENT_STOP: i32 = 128;
pub const PTRACE_O_EXITKILL: u64 = 1 << 20;
pub const PTRACE_O_TRACECLONE: u64 = 1 << 3;
pub const PTRACE_O_TRACEFORK: u64 = 1 << 1;
const NT_PRSTATUS: u64 = 1;
const NT_X86_XSTATE: u64 = 0x202;
const PEEKSIGINFO_SHARED: u32 = 1;

/// Size of one siginfo_t as the kernel copies it.
pub const SIGINFO_SIZE: usize = 128;

fn request(req: u32, tid: i32, addr: u64, data: u64) -> io::Result<libc::c_long> {
    // SAFETY: every caller passes an `addr`/`data` that is either an integer or a
    // pointer to a live buffer of the size the request writes or reads.
    check(unsafe {
        libc::ptrace(
            req as _,
            tid,
            addr as *mut libc::c_void,
            data as *mut libc::c_void,
        )
    })
}

/// PTRACE_SEIZE: attach without stopping; `options` are PTRACE_O_* flags.
pub fn seize(tid: i32, options: u64) -> io::Result<()> {
    request(PTRACE_SEIZE, tid, 0, options).map(|_| ())
}

/// PTRACE_INTERRUPT: ask a seized thread to stop.
pub fn interrupt(tid: i32) -> io::Result<()> {
    request(PTRACE_INTERRUPT, tid, 0, 0).map(|_| ())
}

/// PTRACE_SETOPTIONS.
pub fn set_options(tid: i32, options: u64) -> io::Result<()> {
    request(libc::PTRACE_SETOPTIONS, tid, 0, options).map(|_| ())
}

/// PTRACE_DETACH, delivering `sig` (0 for none).
pub fn detach(tid: i32, sig: i32) -> io::Result<()> {
    request(libc::PTRACE_DETACH, tid, 0, sig as u64).map(|_| ())
}

/// PTRACE_CONT, delivering `sig` (0 for none).
pub fn cont(tid: i32, sig: i32) -> io::Result<()> {
    request(libc::PTRACE_CONT, tid, 0, sig as u64).map(|_| ())
}

/// PTRACE_SINGLESTEP without delivering a signal.
pub fn single_step(tid: i32) -> io::Result<()> {
    request(libc::PTRACE_SINGLESTEP, tid, 0, 0).map(|_| ())
}

/// PTRACE_TRACEME, called by a child that wants its parent to trace it.
pub fn trace_me() -> io::Result<()> {
    request(libc::PTRACE_TRACEME, 0, 0, 0).map(|_| ())
}

/// General-purpose registers (PTRACE_GETREGSET, NT_PRSTATUS).
pub fn get_regs(tid: i32) -> io::Result<libc::user_regs_struct> {
    // SAFETY: user_regs_struct is plain old data; zeroed is a valid value.
    let mut regs: libc::user_regs_struct = unsafe { std::mem::zeroed() };
    let mut iov = libc::iovec {
        iov_base: (&mut regs as *mut libc::user_regs_struct).cast(),
        iov_len: std::mem::size_of::<libc::user_regs_struct>(),
    };
    request(
        libc::PTRACE_GETREGSET,
        tid,
        NT_PRSTATUS,
        &mut iov as *mut _ as u64,
    )?;
    Ok(regs)
}

/// Sets the general-purpose registers.
pub fn set_regs(tid: i32, regs: &libc::user_regs_struct) -> io::Result<()> {
    let mut copy = *regs;
    let mut iov = libc::iovec {
        iov_base: (&mut copy as *mut libc::user_regs_struct).cast(),
        iov_len: std::mem::size_of::<libc::user_regs_struct>(),
    };
    request(
        libc::PTRACE_SETREGSET,
        tid,
        NT_PRSTATUS,
        &mut iov as *mut _ as u64,
    )
    .map(|_| ())
}

/// The full XSAVE area (x87, SSE, AVX, AVX-512...), as long as the kernel makes it.
pub fn get_xstate(tid: i32) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    request(
        libc::PTRACE_GETREGSET,
        tid,
        NT_X86_XSTATE,
        &mut iov as *mut _ as u64,
    )?;
    buf.truncate(iov.iov_len);
    Ok(buf)
}

/// Sets the XSAVE area saved by [`get_xstate`].
pub fn set_xstate(tid: i32, xstate: &[u8]) -> io::Result<()> {
    let mut buf = xstate.to_vec();
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    request(
        libc::PTRACE_SETREGSET,
        tid,
        NT_X86_XSTATE,
        &mut iov as *mut _ as u64,
    )
    .map(|_| ())
}

/// The blocked-signal mask of a stopped thread.
pub fn get_sigmask(tid: i32) -> io::Result<u64> {
    let mut mask = 0u64;
    request(PTRACE_GETSIGMASK, tid, 8, &mut mask as *mut u64 as u64)?;
    Ok(mask)
}

/// Sets the blocked-signal mask of a stopped thread.
pub fn set_sigmask(tid: i32, mask: u64) -> io::Result<()> {
    let mut copy = mask;
    request(PTRACE_SETSIGMASK, tid, 8, &mut copy as *mut u64 as u64).map(|_| ())
}

#[repr(C)]
struct PeekSiginfoArgs {
    off: u64,
    flags: u32,
    nr: i32,
}

/// All pending signals, without dequeuing them: the thread's own queue, or the
/// process-wide one when `shared`. Each entry is a raw 128-byte siginfo_t.
pub fn peek_siginfo(tid: i32, shared: bool) -> io::Result<Vec<[u8; SIGINFO_SIZE]>> {
    let mut all = Vec::new();
    const BATCH: usize = 32;
    loop {
        let mut buf = vec![[0u8; SIGINFO_SIZE]; BATCH];
        let args = PeekSiginfoArgs {
            off: all.len() as u64,
            flags: if shared { PEEKSIGINFO_SHARED } else { 0 },
            nr: BATCH as i32,
        };
        let n = request(
            PTRACE_PEEKSIGINFO,
            tid,
            &args as *const _ as u64,
            buf.as_mut_ptr() as u64,
        )? as usize;
        all.extend_from_slice(&buf[..n.min(BATCH)]);
        if n < BATCH {
            return Ok(all);
        }
    }
}

/// The rseq area a thread registered (PTRACE_GET_RSEQ_CONFIGURATION).
#[derive(Debug, Clone, Copy, Default)]
#[repr(C)]
pub struct RseqConfig {
    pub rseq_abi_pointer: u64,
    pub rseq_abi_size: u32,
    pub signature: u32,
    pub flags: u32,
    pub pad: u32,
}

pub fn get_rseq(tid: i32) -> io::Result<RseqConfig> {
    let mut config = RseqConfig::default();
    request(
        PTRACE_GET_RSEQ_CONFIGURATION,
        tid,
        std::mem::size_of::<RseqConfig>() as u64,
        &mut config as *mut _ as u64,
    )?;
    Ok(config)
}

/// An all-zero register set, to be filled in.
pub fn zero_regs() -> libc::user_regs_struct {
    // SAFETY: user_regs_struct is plain old data; all-zero is a valid value.
    unsafe { std::mem::zeroed() }
}
