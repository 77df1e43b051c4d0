//! An injector: a [`Remote`] plus a scratch area mapped inside the task, for
//! syscalls that take pointers (paths, structs, iovecs). Used by dump (to ask a
//! frozen task for state only it can report) and by restore (to build a task).

use std::io;

use crate::sys::remote::Remote;

pub use libc::{
    SYS_brk, SYS_capset, SYS_chdir, SYS_chroot, SYS_close, SYS_close_range, SYS_dup3, SYS_fcntl,
    SYS_lseek, SYS_mmap, SYS_mprotect, SYS_mremap, SYS_munmap, SYS_open, SYS_personality,
    SYS_prctl, SYS_preadv, SYS_prlimit64, SYS_rseq, SYS_rt_sigaction, SYS_rt_sigqueueinfo,
    SYS_rt_tgsigqueueinfo, SYS_setfsgid, SYS_setfsuid, SYS_setgroups, SYS_setresgid, SYS_setresuid,
    SYS_sigaltstack, SYS_umask,
};

pub struct Injector {
    pub remote: Remote,
    scratch: u64,
    scratch_len: u64,
    used: u64,
}

impl Injector {
    pub fn new(remote: Remote, scratch: u64, scratch_len: u64) -> Self {
        Injector {
            remote,
            scratch,
            scratch_len,
            used: 0,
        }
    }

    /// Runs syscalls from `syscall_addr` with stack pointer `stack` from now on,
    /// and uses `scratch..scratch+scratch_len` for arguments.
    pub fn relocate(&mut self, syscall_addr: u64, stack: u64, scratch: u64, scratch_len: u64) {
        self.remote.set_syscall_site(syscall_addr, stack);
        self.scratch = scratch;
        self.scratch_len = scratch_len;
        self.used = 0;
    }

    /// An injector for another (stopped, traced) thread of the same process,
    /// sharing this one's syscall site and scratch area. Use one at a time.
    pub fn for_thread(&self, tid: i32) -> io::Result<Injector> {
        let regs = crate::sys::ptrace::get_regs(tid)?;
        Ok(Injector::new(
            self.remote.for_thread(tid, regs)?,
            self.scratch,
            self.scratch_len,
        ))
    }

    pub fn scratch(&self) -> (u64, u64) {
        (self.scratch, self.scratch_len)
    }

    /// Forgets everything placed in scratch memory so far.
    pub fn reset(&mut self) {
        self.used = 0;
    }

    /// Copies `data` into scratch memory (8-byte aligned) and returns its address.
    pub fn put(&mut self, data: &[u8]) -> io::Result<u64> {
        let start = (self.used + 7) & !7;
        let end = start + data.len() as u64;
        if end > self.scratch_len {
            return Err(io::Error::other(format!(
                "scratch area of {} bytes is too small for {} more bytes",
                self.scratch_len,
                data.len()
            )));
        }
        let addr = self.scratch + start;
        self.remote.write_mem(addr, data)?;
        self.used = end;
        Ok(addr)
    }

    /// Reserves zeroed scratch memory for the task to write into.
    pub fn reserve(&mut self, len: usize) -> io::Result<u64> {
        self.put(&vec![0u8; len])
    }

    pub fn read(&self, addr: u64, len: usize) -> io::Result<Vec<u8>> {
        let mut buf = vec![0u8; len];
        self.remote.read_mem(addr, &mut buf)?;
        Ok(buf)
    }

    pub fn syscall(&mut self, nr: i64, args: &[u64]) -> io::Result<u64> {
        self.remote.syscall(nr, args)
    }

    /// Copies a path (NUL-terminated) into scratch memory.
    pub fn put_path(&mut self, path: &str) -> io::Result<u64> {
        let mut bytes = path.as_bytes().to_vec();
        bytes.push(0);
        self.put(&bytes)
    }

    /// open(2) inside the task.
    pub fn open(&mut self, path: &str, flags: i32, mode: u32) -> io::Result<i32> {
        self.reset();
        let addr = self.put_path(path)?;
        self.syscall(SYS_open, &[addr, flags as u64, mode as u64])
            .map(|fd| fd as i32)
    }

    pub fn close(&mut self, fd: i32) -> io::Result<()> {
        self.syscall(SYS_close, &[fd as u64]).map(|_| ())
    }
}

/// Little helper to lay out C structs as bytes.
pub fn u64s(values: &[u64]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Address of a `syscall` instruction in the task's vdso: every task has one,
/// and it lets us run the first injected syscall without writing any code.
pub fn vdso_syscall_site(pid: i32) -> io::Result<u64> {
    use std::os::unix::fs::FileExt;
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps"))?;
    let maps = crate::proc::maps::parse_maps(&maps).map_err(|e| io::Error::other(e.to_string()))?;
    let vdso = maps
        .iter()
        .find(|m| m.path == "[vdso]")
        .ok_or_else(|| io::Error::other("the process has no vdso to run syscalls from"))?;
    let mut code = vec![0u8; vdso.len() as usize];
    std::fs::File::open(format!("/proc/{pid}/mem"))?.read_exact_at(&mut code, vdso.start)?;
    let offset = code
        .windows(2)
        .position(|w| w == crate::sys::remote::SYSCALL_INSN)
        .ok_or_else(|| io::Error::other("no syscall instruction in the vdso"))?;
    Ok(vdso.start + offset as u64)
}
