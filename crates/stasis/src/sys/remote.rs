//! Executing syscalls inside a stopped task.
//!
//! `Remote::syscall` points the task's instruction pointer at a `syscall`
//! instruction that exists in the task, loads the arguments into registers,
//! single-steps over the instruction and reads the result from `rax`. The caller
//! owns the task's real registers and puts them back when it is done
//! (DESIGN.md §5, "Acting inside another process").

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;

use super::ptrace;
use super::syscalls::{waitpid, WaitStatus};

/// Bytes of `syscall; int3`.
pub const SYSCALL_INSN: [u8; 2] = [0x0f, 0x05];

pub struct Remote {
    tid: i32,
    mem: File,
    syscall_addr: u64,
    template: libc::user_regs_struct,
}

impl Remote {
    /// `template` is used for every register the syscall does not set (the
    /// task's own registers, usually); `syscall_addr` must hold `0f 05`.
    pub fn new(tid: i32, syscall_addr: u64, template: libc::user_regs_struct) -> io::Result<Self> {
        let mem = OpenOptions::new()
            .read(true)
            .write(true)
            .open(format!("/proc/{tid}/mem"))?;
        let remote = Remote {
            tid,
            mem,
            syscall_addr,
            template,
        };
        let mut insn = [0u8; 2];
        remote.read_mem(syscall_addr, &mut insn)?;
        if insn != SYSCALL_INSN {
            return Err(io::Error::other(format!(
                "no syscall instruction at {syscall_addr:#x} in task {tid}"
            )));
        }
        Ok(remote)
    }

    pub fn tid(&self) -> i32 {
        self.tid
    }

    /// A remote for another thread of the same process, running syscalls from the
    /// same instruction with the same stack pointer; `template` is that thread's registers.
    pub fn for_thread(&self, tid: i32, template: libc::user_regs_struct) -> io::Result<Remote> {
        let mut remote = Remote::new(tid, self.syscall_addr, template)?;
        remote.template.rsp = self.template.rsp;
        Ok(remote)
    }

    /// Moves syscall execution to another `syscall` instruction (e.g. our own
    /// trampoline page) and sets the stack pointer used while executing.
    pub fn set_syscall_site(&mut self, addr: u64, stack_pointer: u64) {
        self.syscall_addr = addr;
        self.template.rsp = stack_pointer;
    }

    /// Executes one syscall and returns the raw kernel result (negative errno on failure).
    pub fn syscall_raw(&mut self, nr: i64, args: &[u64]) -> io::Result<i64> {
        let mut regs = self.template;
        regs.rax = nr as u64;
        // orig_rax = -1 keeps the kernel from treating the stop as an interrupted
        // syscall that needs restarting when we resume it.
        regs.orig_rax = u64::MAX;
        regs.rip = self.syscall_addr;
        let slots = [
            &mut regs.rdi,
            &mut regs.rsi,
            &mut regs.rdx,
            &mut regs.r10,
            &mut regs.r8,
            &mut regs.r9,
        ];
        for (slot, &arg) in slots.into_iter().zip(args) {
            *slot = arg;
        }
        ptrace::set_regs(self.tid, &regs)?;
        ptrace::single_step(self.tid)?;
        let mut retraps = 0;
        loop {
            match waitpid(self.tid, 0)? {
                // A job-control stop trap (the task was stopped, or an interrupt
                // was still pending) before the syscall ran: step again.
                WaitStatus::Stopped { event, .. }
                    if event == ptrace::PTRACE_EVENT_STOP && retraps < 16 =>
                {
                    retraps += 1;
                    ptrace::set_regs(self.tid, &regs)?;
                    ptrace::single_step(self.tid)?;
                    continue;
                }
                // A ptrace event (e.g. PTRACE_EVENT_CLONE of an injected clone3):
                // the syscall is not finished yet, step on to its end.
                WaitStatus::Stopped {
                    sig: libc::SIGTRAP,
                    event,
                } if event != 0 => {
                    ptrace::single_step(self.tid)?;
                    continue;
                }
                WaitStatus::Stopped {
                    sig: libc::SIGTRAP, ..
                } => break,
                WaitStatus::Stopped { sig, .. } => {
                    return Err(io::Error::other(format!(
                        "task {} stopped with signal {sig} while executing syscall {nr}",
                        self.tid
                    )));
                }
                WaitStatus::Exited(code) => {
                    return Err(io::Error::other(format!(
                        "task {} exited with status {code} while executing syscall {nr}",
                        self.tid
                    )))
                }
                WaitStatus::Signaled(sig) => {
                    return Err(io::Error::other(format!(
                        "task {} was killed by signal {sig} while executing syscall {nr}",
                        self.tid
                    )))
                }
                _ => continue,
            }
        }
        let after = ptrace::get_regs(self.tid)?;
        Ok(after.rax as i64)
    }

    /// Executes one syscall; a negative result becomes an `io::Error` with that errno.
    pub fn syscall(&mut self, nr: i64, args: &[u64]) -> io::Result<u64> {
        let ret = self.syscall_raw(nr, args)?;
        if (-4095..0).contains(&ret) {
            Err(io::Error::from_raw_os_error(-ret as i32))
        } else {
            Ok(ret as u64)
        }
    }

    /// Writes into the task's memory (works on read-only pages, like a debugger).
    pub fn write_mem(&self, addr: u64, data: &[u8]) -> io::Result<()> {
        self.mem.write_all_at(data, addr)
    }

    /// Reads the task's memory (works on PROT_NONE pages too).
    pub fn read_mem(&self, addr: u64, buf: &mut [u8]) -> io::Result<()> {
        self.mem.read_exact_at(buf, addr)
    }
}
