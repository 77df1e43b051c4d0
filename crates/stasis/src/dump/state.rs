//! Per-task state of a frozen task: registers, signals, credentials, limits and
//! the few things only the task itself can report (brk, signal handlers,
//! sigaltstack, pdeathsig...), which we ask for by injecting syscalls.

use stasis_image::pb;

use super::error::DumpError;
use super::inspect::{read_proc, Inspection};
use crate::inject::{self, Injector};
use crate::proc::limits::parse_limits;
use crate::sys::ptrace;
use crate::sys::remote::Remote;
use crate::tree::{FrozenTask, FrozenThread};

/// What we learn by running syscalls inside the task.
struct Injected {
    brk: u64,
    sigactions: Vec<pb::SignalAction>,
    pdeathsig: i32,
    dumpable: i32,
    securebits: u32,
    itimers: Vec<pb::IntervalTimer>,
    posix_timers: Vec<pb::PosixTimer>,
}

fn io_err(frozen: &FrozenTask, comm: &str, what: &str) -> impl FnOnce(std::io::Error) -> DumpError {
    DumpError::task(frozen.pid, comm, what)
}

/// The task image, and the task's current program break.
/// epoll_wait is never restarted by the kernel: freezing a thread blocked in it
/// makes it return EINTR, and the thread stops right after the `syscall`
/// instruction with rax = -EINTR. Restore re-enters the call instead (see
/// restore/build.rs), so the program does not see an interruption it did not
/// cause. A signal handler about to run would have moved rip away from the
/// instruction, and that EINTR is kept.
fn interrupted_epoll_wait(pid: i32, nr: i64, rip: u64) -> bool {
    use std::os::unix::fs::FileExt;
    let epoll = [
        libc::SYS_epoll_wait,
        libc::SYS_epoll_pwait,
        libc::SYS_epoll_pwait2,
    ];
    if !epoll.contains(&nr) || rip < 2 {
        return false;
    }
    let mut insn = [0u8; 2];
    std::fs::File::open(format!("/proc/{pid}/mem"))
        .and_then(|mem| mem.read_exact_at(&mut insn, rip - 2))
        .is_ok_and(|_| insn == crate::sys::remote::SYSCALL_INSN[..2])
}

pub fn collect_task(
    frozen: &FrozenTask,
    insp: &Inspection,
) -> Result<(pb::TaskImage, u64), DumpError> {
    let pid = frozen.pid;
    let comm = insp.stat.comm.as_str();
    let injected = query_by_injection(frozen, comm)?;
    let shared =
        ptrace::peek_siginfo(pid, true).map_err(io_err(frozen, comm, "reading pending signals"))?;
    let mut threads = Vec::with_capacity(frozen.threads.len());
    for thread in &frozen.threads {
        threads.push(collect_thread(frozen, thread, comm)?);
    }
    let status = &insp.status;
    let limits_text = read_proc(pid, comm, "limits")?;
    let rlimits = parse_limits(&limits_text)
        .map_err(|e| io_err(frozen, comm, "reading limits")(std::io::Error::other(e.to_string())))?
        .into_iter()
        .map(|(resource, soft, hard)| pb::Rlimit {
            resource,
            soft,
            hard,
        })
        .collect();
    let personality = read_proc(pid, comm, "personality")?;
    let personality = u32::from_str_radix(personality.trim(), 16).unwrap_or(0);
    let image = pb::TaskImage {
        pid,
        ppid: insp.stat.ppid,
        pgid: insp.stat.pgid,
        sid: insp.stat.sid,
        comm: comm.to_string(),
        threads,
        sigactions: injected.sigactions,
        shared_pending: shared.iter().map(siginfo_to_pb).collect(),
        creds: Some(pb::Credentials {
            uid: status.uids[0],
            euid: status.uids[1],
            suid: status.uids[2],
            fsuid: status.uids[3],
            gid: status.gids[0],
            egid: status.gids[1],
            sgid: status.gids[2],
            fsgid: status.gids[3],
            groups: status.groups.clone(),
            cap_inheritable: status.cap_inheritable,
            cap_permitted: status.cap_permitted,
            cap_effective: status.cap_effective,
            cap_bounding: status.cap_bounding,
            cap_ambient: status.cap_ambient,
            securebits: injected.securebits,
        }),
        rlimits,
        cwd: insp.cwd.clone(),
        root: insp.root.clone(),
        umask: status.umask,
        personality,
        pdeathsig: injected.pdeathsig,
        dumpable: injected.dumpable,
        no_new_privs: status.no_new_privs,
        exit_signal: insp.stat.exit_signal,
        itimers: injected.itimers,
        zombie: None,
        posix_timers: injected.posix_timers,
        stopped: false,
    };
    Ok((image, injected.brk))
}

/// mm fields and auxv. `brk` comes from the task itself (brk(0)), the rest from /proc.
pub fn collect_mm(
    frozen: &FrozenTask,
    insp: &Inspection,
    brk: u64,
) -> Result<(pb::MmFields, Vec<u8>), DumpError> {
    let pid = frozen.pid;
    let comm = insp.stat.comm.as_str();
    let auxv =
        std::fs::read(format!("/proc/{pid}/auxv")).map_err(io_err(frozen, comm, "reading auxv"))?;
    let s = &insp.stat;
    Ok((
        pb::MmFields {
            start_code: s.start_code,
            end_code: s.end_code,
            start_data: s.start_data,
            end_data: s.end_data,
            start_brk: s.start_brk,
            brk,
            start_stack: s.start_stack,
            arg_start: s.arg_start,
            arg_end: s.arg_end,
            env_start: s.env_start,
            env_end: s.env_end,
        },
        auxv,
    ))
}

fn query_by_injection(frozen: &FrozenTask, comm: &str) -> Result<Injected, DumpError> {
    with_injector(frozen, frozen.leader(), comm, |inj| {
        let brk = inj.syscall(inject::SYS_brk, &[0])?;
        let mut sigactions = Vec::with_capacity(64);
        for signo in 1..=64u64 {
            inj.reset();
            let out = inj.reserve(32)?;
            inj.syscall(inject::SYS_rt_sigaction, &[signo, 0, out, 8])?;
            let raw = inj.read(out, 32)?;
            let word =
                |i: usize| u64::from_le_bytes(raw[i * 8..i * 8 + 8].try_into().unwrap_or([0; 8]));
            sigactions.push(pb::SignalAction {
                signo: signo as i32,
                handler: word(0),
                flags: word(1),
                restorer: word(2),
                mask: word(3),
            });
        }
        inj.reset();
        let out = inj.reserve(4)?;
        inj.syscall(inject::SYS_prctl, &[libc::PR_GET_PDEATHSIG as u64, out])?;
        let raw = inj.read(out, 4)?;
        let pdeathsig = i32::from_le_bytes(raw[0..4].try_into().unwrap_or([0; 4]));
        let dumpable = inj.syscall(inject::SYS_prctl, &[libc::PR_GET_DUMPABLE as u64])? as i32;
        let securebits = inj.syscall(inject::SYS_prctl, &[libc::PR_GET_SECUREBITS as u64])? as u32;
        let mut itimers = Vec::new();
        for which in 0..3u64 {
            inj.reset();
            let out = inj.reserve(32)?;
            inj.syscall(libc::SYS_getitimer, &[which, out])?;
            let raw = inj.read(out, 32)?;
            let word =
                |i: usize| u64::from_le_bytes(raw[i * 8..i * 8 + 8].try_into().unwrap_or([0; 8]));
            let (interval_us, value_us) =
                (word(0) * 1_000_000 + word(1), word(2) * 1_000_000 + word(3));
            if value_us != 0 {
                itimers.push(pb::IntervalTimer {
                    which: which as u32,
                    interval_us,
                    value_us,
                });
            }
        }
        let listed = std::fs::read_to_string(format!("/proc/{}/timers", frozen.pid))?;
        let listed = crate::proc::timers::parse_timers(&listed)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let mut posix_timers = Vec::new();
        for timer in listed {
            inj.reset();
            let out = inj.reserve(32)?;
            inj.syscall(libc::SYS_timer_gettime, &[timer.id as u64, out])?;
            let raw = inj.read(out, 32)?;
            let word =
                |i: usize| u64::from_le_bytes(raw[i * 8..i * 8 + 8].try_into().unwrap_or([0; 8]));
            let overrun = inj.syscall(libc::SYS_timer_getoverrun, &[timer.id as u64])? as i32;
            posix_timers.push(pb::PosixTimer {
                id: timer.id,
                clock: timer.clock,
                signo: timer.signo,
                sigev_value: timer.sigev_value,
                notify: timer.notify,
                notify_tid: if timer.notify & 4 != 0 {
                    timer.target
                } else {
                    0
                },
                interval_ns: word(0) * 1_000_000_000 + word(1),
                value_ns: word(2) * 1_000_000_000 + word(3),
                overrun,
            });
        }
        Ok(Injected {
            posix_timers,
            brk,
            sigactions,
            pdeathsig,
            dumpable,
            securebits,
            itimers,
        })
    })
}

/// Runs `f` with an injector in the frozen task: a syscall instruction from the
/// vdso, all signals blocked, a scratch mapping that is removed afterwards.
/// The task's registers and mask are put back whatever `f` returns.
fn with_injector<T>(
    frozen: &FrozenTask,
    thread: &FrozenThread,
    comm: &str,
    f: impl FnOnce(&mut Injector) -> std::io::Result<T>,
) -> Result<T, DumpError> {
    let tid = thread.tid;
    let run = || -> std::io::Result<T> {
        let site = inject::vdso_syscall_site(frozen.pid)?;
        ptrace::set_sigmask(tid, u64::MAX)?;
        let remote = Remote::new(tid, site, thread.regs)?;
        let mut inj = Injector::new(remote, 0, 0);
        const SCRATCH: u64 = 64 * 1024;
        let scratch = inj.syscall(
            inject::SYS_mmap,
            &[
                0,
                SCRATCH,
                (libc::PROT_READ | libc::PROT_WRITE) as u64,
                (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS) as u64,
                u64::MAX,
                0,
            ],
        )?;
        let mut inj = Injector::new(inj.remote, scratch, SCRATCH);
        let result = f(&mut inj);
        let unmapped = inj.syscall(inject::SYS_munmap, &[scratch, SCRATCH]);
        let value = result?;
        unmapped?;
        Ok(value)
    };
    let result = run();
    let put_back =
        ptrace::set_regs(tid, &thread.regs).and_then(|_| ptrace::set_sigmask(tid, thread.sigmask));
    let value = result.map_err(io_err(frozen, comm, "querying state inside the process"))?;
    put_back.map_err(io_err(
        frozen,
        comm,
        "restoring registers after querying state",
    ))?;
    Ok(value)
}

/// Everything that belongs to one thread.
fn collect_thread(
    frozen: &FrozenTask,
    thread: &FrozenThread,
    comm: &str,
) -> Result<pb::ThreadState, DumpError> {
    let tid = thread.tid;
    let what = |w: &str| format!("thread {tid}: {w}");
    let xsave =
        ptrace::get_xstate(tid).map_err(io_err(frozen, comm, &what("reading the XSAVE area")))?;
    let pending = ptrace::peek_siginfo(tid, false).map_err(io_err(
        frozen,
        comm,
        &what("reading pending signals"),
    ))?;
    let rseq = ptrace::get_rseq(tid).map_err(io_err(
        frozen,
        comm,
        &what("reading the rseq registration"),
    ))?;
    let (robust_list, robust_list_len) = crate::sys::syscalls::robust_list(tid).map_err(io_err(
        frozen,
        comm,
        &what("reading the robust futex list"),
    ))?;
    let (altstack, clear_child_tid) = with_injector(frozen, thread, comm, |inj| {
        let out = inj.reserve(24)?;
        inj.syscall(inject::SYS_sigaltstack, &[0, out])?;
        let raw = inj.read(out, 24)?;
        let altstack = pb::SignalStack {
            sp: u64::from_le_bytes(raw[0..8].try_into().unwrap_or([0; 8])),
            flags: i32::from_le_bytes(raw[8..12].try_into().unwrap_or([0; 4])),
            size: u64::from_le_bytes(raw[16..24].try_into().unwrap_or([0; 8])),
        };
        inj.reset();
        let out = inj.reserve(8)?;
        const PR_GET_TID_ADDRESS: u64 = 40;
        inj.syscall(inject::SYS_prctl, &[PR_GET_TID_ADDRESS, out])?;
        let raw = inj.read(out, 8)?;
        Ok((
            altstack,
            u64::from_le_bytes(raw[0..8].try_into().unwrap_or([0; 8])),
        ))
    })?;
    let name = std::fs::read_to_string(format!("/proc/{}/task/{tid}/comm", frozen.pid))
        .map(|n| n.trim_end_matches('\n').to_string())
        .unwrap_or_else(|_| comm.to_string());
    let regs = &thread.regs;
    let code = regs.rax as i64;
    let restartable = (-516..=-512).contains(&code)
        || (code == -(libc::EINTR as i64)
            && interrupted_epoll_wait(frozen.pid, regs.orig_rax as i64, regs.rip));
    let interrupted =
        ((regs.orig_rax as i64) >= 0 && restartable).then_some(pb::InterruptedSyscall {
            nr: regs.orig_rax as i64,
            restart_code: code,
        });
    Ok(pb::ThreadState {
        tid,
        regs: Some(regs_to_pb(regs)),
        xsave,
        sigmask: thread.sigmask,
        pending: pending.iter().map(siginfo_to_pb).collect(),
        altstack: Some(altstack),
        rseq: (rseq.rseq_abi_pointer != 0).then_some(pb::Rseq {
            address: rseq.rseq_abi_pointer,
            length: rseq.rseq_abi_size,
            flags: rseq.flags,
            signature: rseq.signature,
        }),
        name,
        interrupted,
        clear_child_tid,
        robust_list,
        robust_list_len,
    })
}

pub fn regs_to_pb(r: &libc::user_regs_struct) -> pb::GeneralRegisters {
    pb::GeneralRegisters {
        r15: r.r15,
        r14: r.r14,
        r13: r.r13,
        r12: r.r12,
        rbp: r.rbp,
        rbx: r.rbx,
        r11: r.r11,
        r10: r.r10,
        r9: r.r9,
        r8: r.r8,
        rax: r.rax,
        rcx: r.rcx,
        rdx: r.rdx,
        rsi: r.rsi,
        rdi: r.rdi,
        orig_rax: r.orig_rax,
        rip: r.rip,
        cs: r.cs,
        eflags: r.eflags,
        rsp: r.rsp,
        ss: r.ss,
        fs_base: r.fs_base,
        gs_base: r.gs_base,
        ds: r.ds,
        es: r.es,
        fs: r.fs,
        gs: r.gs,
    }
}

fn siginfo_to_pb(raw: &[u8; ptrace::SIGINFO_SIZE]) -> pb::SigInfo {
    pb::SigInfo {
        signo: i32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]),
        raw: raw.to_vec(),
    }
}
