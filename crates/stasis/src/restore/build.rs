//! Turning a stopped stub into the saved task, one injected syscall at a time.
//! The order matters and is explained step by step: memory first, then files
//! (while we are still root in the host's root directory), then mm fields,
//! signals and limits, then credentials (which take privileges away), and the
//! registers last.

use std::collections::HashSet;
use std::io;

use stasis_image::{pb, LoadedDump, LoadedTask};

use super::memory;
use crate::inject::{self, u64s, Injector};
use crate::sys::ptrace;
use crate::sys::remote::Remote;

/// A failed step: what we were doing, and why it failed.
pub type StepError = (String, io::Error);

trait Step<T> {
    fn step(self, what: &str) -> Result<T, StepError>;
}

impl<T> Step<T> for io::Result<T> {
    fn step(self, what: &str) -> Result<T, StepError> {
        self.map_err(|e| (what.to_string(), e))
    }
}

const RSEQ_FLAG_UNREGISTER: u64 = 1;
const SS_DISABLE: i32 = 2;
const SS_ONSTACK: i32 = 1;
const SECBIT_NO_SETUID_FIXUP: u64 = 1 << 2;
const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// A stopped stub with its original pid, ready to be turned into a saved task:
/// signals blocked, its rseq unregistered, a scratch page mapped to run
/// syscalls from, its session and group set.
pub struct Stub {
    pub pid: i32,
    pub inj: Injector,
    scratch: u64,
    /// The other threads, once created (see [`create_threads`]), by tid.
    threads: Vec<(i32, Injector)>,
}

/// A task whose state is all in place, stopped, waiting for [`resume`].
pub struct Prepared<'a> {
    pid: i32,
    stopped: bool,
    threads: Vec<(&'a pb::ThreadState, Injector)>,
}

/// Takes over the stub `pid`, which was created by stasis and is stopped.
/// `all_vmas` are the VMAs of every task of the dump: the scratch page must be
/// free in all of them, since children inherit it.
pub fn start(pid: i32, task: &LoadedTask, all_vmas: &[pb::Vma]) -> Result<Stub, StepError> {
    // No signal may reach the stub while it is half built.
    ptrace::set_sigmask(pid, u64::MAX).step("blocking signals")?;
    let regs = ptrace::get_regs(pid).step("reading the new process's registers")?;
    let site =
        inject::vdso_syscall_site(pid).step("finding a syscall instruction in the new process")?;
    let remote =
        Remote::new(pid, site, regs).step("preparing to run syscalls in the new process")?;
    let mut inj = Injector::new(remote, 0, 0);

    // glibc registered rseq in the stub; the kernel would write to that area
    // after we unmap it, so unregister first.
    let stub_rseq = ptrace::get_rseq(pid).step("reading the stub's rseq")?;
    if stub_rseq.rseq_abi_pointer != 0 {
        inj.syscall(
            inject::SYS_rseq,
            &[
                stub_rseq.rseq_abi_pointer,
                stub_rseq.rseq_abi_size as u64,
                RSEQ_FLAG_UNREGISTER,
                stub_rseq.signature as u64,
            ],
        )
        .step("unregistering the stub's rseq")?;
    }
    let stub = memory::stub_maps(pid).step("reading the stub's mappings")?;
    let scratch = memory::find_free_range(&stub, all_vmas, memory::SCRATCH_LEN, &[])
        .ok_or_else(|| io::Error::other("no free address range"))
        .step("placing the scratch area")?;
    memory::install_scratch(&mut inj, scratch).step("mapping the scratch area")?;
    restore_session(&mut inj, pid, task, None).step("setting the session and process group")?;
    Ok(Stub {
        pid,
        inj,
        scratch,
        threads: Vec::new(),
    })
}

/// Creates the child `pid` of a stub with an injected clone3, as fork() would:
/// the child is a copy of the stub (scratch page included), stopped before it
/// runs an instruction (PTRACE_O_TRACEFORK), and joins its saved session and group.
pub fn fork_child(
    parent: &mut Stub,
    parent_task: &LoadedTask,
    pid: i32,
    task: &LoadedTask,
) -> Result<Stub, StepError> {
    clone_stub(parent, pid, task, 0, Some(parent_task.task.pgid))
}

/// Like [`fork_child`], but the new task becomes a child of the stub's parent
/// (CLONE_PARENT): a placeholder stub that only holds a session or group id
/// creates the root this way, and can then go. With `join_group` the new task
/// joins its saved group if that is not the holder's (it must exist then).
pub fn fork_sibling(
    holder: &mut Stub,
    holder_task: &LoadedTask,
    pid: i32,
    task: &LoadedTask,
    join_group: bool,
) -> Result<Stub, StepError> {
    let parent_pgid = join_group.then_some(holder_task.task.pgid);
    clone_stub(holder, pid, task, libc::CLONE_PARENT as u64, parent_pgid)
}

/// Ends a placeholder stub once the task it stood in for exists, and collects
/// its exit (as its tracer; as its parent too, unless it was a sibling).
pub fn end_placeholder(stub: Stub) -> io::Result<()> {
    crate::sys::syscalls::kill(stub.pid, libc::SIGKILL)?;
    loop {
        match crate::sys::syscalls::waitpid(stub.pid, 0)? {
            crate::sys::syscalls::WaitStatus::Exited(_)
            | crate::sys::syscalls::WaitStatus::Signaled(_) => return Ok(()),
            _ => continue,
        }
    }
}

fn clone_stub(
    parent: &mut Stub,
    pid: i32,
    task: &LoadedTask,
    flags: u64,
    parent_pgid: Option<i32>,
) -> Result<Stub, StepError> {
    let step = format!("creating process {pid} in process {}", parent.pid);
    ptrace::set_options(
        parent.pid,
        ptrace::PTRACE_O_EXITKILL | ptrace::PTRACE_O_TRACEFORK | ptrace::PTRACE_O_TRACECLONE,
    )
    .step(&step)?;
    let exit_signal = if task.task.exit_signal > 0 {
        task.task.exit_signal as u64
    } else {
        libc::SIGCHLD as u64
    };
    let inj = &mut parent.inj;
    inj.reset();
    let set_tid = inj.put(&(pid as u64).to_le_bytes()).step(&step)?;
    // clone3 refuses an exit signal with CLONE_PARENT: the child gets the
    // caller's own, which the holder took from the task it stands in for.
    let exit_signal = if flags & libc::CLONE_PARENT as u64 != 0 {
        0
    } else {
        exit_signal
    };
    let args = u64s(&[flags, 0, 0, 0, exit_signal, 0, 0, 0, set_tid, 1, 0]);
    let args_addr = inj.put(&args).step(&step)?;
    let got = inj
        .syscall(libc::SYS_clone3, &[args_addr, args.len() as u64])
        .map_err(|e| {
            if e.raw_os_error() == Some(libc::EEXIST) {
                io::Error::new(e.kind(), format!("pid {pid} is in use"))
            } else {
                e
            }
        })
        .step(&step)? as i32;
    if got != pid {
        return Err((step, io::Error::other(format!("clone3 made pid {got}"))));
    }
    wait_stopped(pid).step(&step)?;
    ptrace::set_sigmask(pid, u64::MAX).step(&step)?;
    let mut child = Stub {
        pid,
        inj: inj.for_thread(pid).step(&step)?,
        scratch: parent.scratch,
        threads: Vec::new(),
    };
    restore_session(&mut child.inj, pid, task, parent_pgid)
        .step("setting the session and process group")?;
    Ok(child)
}

fn wait_stopped(tid: i32) -> io::Result<()> {
    loop {
        match crate::sys::syscalls::waitpid(tid, 0)? {
            crate::sys::syscalls::WaitStatus::Stopped { .. } => return Ok(()),
            crate::sys::syscalls::WaitStatus::StillAlive => continue,
            other => return Err(io::Error::other(format!("new task {tid}: {other:?}"))),
        }
    }
}

/// Turns a stub into the saved task, up to (not including) letting it run.
/// Replaces the stub's memory with the task's saved memory. A child forked
/// from an already restored parent keeps the VMAs it inherited (with the pages
/// it still shares with the parent) and only writes its own pages.
pub fn restore_memory(
    stub: &mut Stub,
    dump: &LoadedDump,
    task: &LoadedTask,
    shared: &mut memory::SharedAnonymous,
    files: &super::files::FileTable,
) -> Result<(), StepError> {
    let page_size = dump.inventory.page_size as u64;
    let (pid, scratch, inj) = (stub.pid, stub.scratch, &mut stub.inj);
    let current = memory::stub_maps(pid).step("reading the stub's mappings")?;
    inj.syscall(inject::SYS_close_range, &[0, u32::MAX as u64, 0])
        .step("closing the stub's files")?;
    let keep: Vec<(u64, u64)> = task
        .mm
        .vmas
        .iter()
        .filter(|v| v.inherited)
        .map(|v| (v.start, v.end))
        .collect();
    memory::unmap_stub(inj, &current, scratch, &keep).step("unmapping the stub")?;
    memory::move_vdso(inj, &current, &task.mm.vmas, scratch).step("moving the vdso")?;
    let fixes = memory::map_vmas(inj, task, page_size, shared, files).step("mapping memory")?;
    memory::fill_pages(inj, task, page_size).step("reading pages from the image")?;
    memory::discard_pages(inj, task, page_size).step("emptying pages the parent has")?;
    memory::fix_protections(inj, &fixes).step("setting memory protections")?;
    Ok(())
}

/// Creates the task's other threads with their tids, while we are still
/// privileged (clone3 with set_tid needs CAP_CHECKPOINT_RESTORE), so that the
/// task is whole before any file is opened (/proc/<pid>/task/<tid> files need
/// them). Their state is set in [`prepare`]. Also makes room for the task's fd
/// numbers: files are installed with the whole hard limit, then the saved
/// limits apply.
pub fn complete_task(stub: &mut Stub, task: &LoadedTask) -> Result<(), StepError> {
    raise_nofile(&mut stub.inj).step("raising the open-file limit")?;
    if task.task.threads.len() <= 1 {
        return Ok(());
    }
    ptrace::set_options(
        stub.pid,
        ptrace::PTRACE_O_EXITKILL | ptrace::PTRACE_O_TRACEFORK | ptrace::PTRACE_O_TRACECLONE,
    )
    .step("tracing thread creation")?;
    for saved in &task.task.threads[1..] {
        let created = create_thread(&mut stub.inj, saved.tid)
            .step(&format!("creating thread {}", saved.tid))?;
        stub.threads.push((saved.tid, created));
    }
    Ok(())
}

/// Turns a stub whose memory is in place into the saved task, up to (not
/// including) letting it run.
pub fn prepare<'a>(
    stub: Stub,
    dump: &LoadedDump,
    task: &'a LoadedTask,
) -> Result<Prepared<'a>, StepError> {
    let Stub {
        pid,
        mut inj,
        scratch,
        threads,
    } = stub;
    let thread = task
        .task
        .threads
        .first()
        .ok_or_else(|| io::Error::other("the task image has no thread"))
        .step("reading the task image")?;

    // The files are installed (the plan's Installed steps): the saved limits apply now.
    restore_rlimits(&mut inj, &task.task.rlimits).step("setting resource limits")?;
    inj.reset();
    let cwd = inj.put_path(&task.task.cwd).step("changing directory")?;
    inj.syscall(inject::SYS_chdir, &[cwd])
        .step("changing to the working directory")?;
    if task.task.root != "/" {
        inj.reset();
        let root = inj.put_path(&task.task.root).step("changing root")?;
        inj.syscall(inject::SYS_chroot, &[root])
            .step("changing the root directory")?;
    }
    inj.syscall(inject::SYS_umask, &[task.task.umask as u64])
        .step("setting umask")?;
    restore_mm_fields(&mut inj, task).step("setting mm fields (PR_SET_MM_MAP)")?;
    // After the last fd the task opens and closes for us (the executable, just
    // above): closing any fd of a file drops the process's POSIX locks on it.
    crate::files::restore_in_task(&mut inj, dump, task).step("locks and O_ASYNC of files")?;
    restore_signal_actions(&mut inj, task).step("installing signal handlers")?;
    inj.syscall(inject::SYS_personality, &[task.task.personality as u64])
        .step("setting personality")?;

    // Each thread gets its own state, and its own credentials, which Linux
    // keeps per thread.
    let mut extra: Vec<(&pb::ThreadState, Injector)> = Vec::new();
    for (tid, own) in threads {
        let saved = task
            .task
            .threads
            .iter()
            .find(|t| t.tid == tid)
            .ok_or_else(|| io::Error::other(format!("thread {tid} is not in the image")))
            .step("reading the task image")?;
        extra.push((saved, own));
    }
    setup_thread(&mut inj, task, thread)?;
    for (saved, own) in extra.iter_mut() {
        setup_thread(own, task, saved)?;
    }

    // After credentials: changing ids resets both of these.
    if matches!(task.task.dumpable, 0 | 1) {
        inj.syscall(
            inject::SYS_prctl,
            &[libc::PR_SET_DUMPABLE as u64, task.task.dumpable as u64],
        )
        .step("setting dumpable")?;
    }
    inj.syscall(
        inject::SYS_prctl,
        &[libc::PR_SET_PDEATHSIG as u64, task.task.pdeathsig as u64],
    )
    .step("setting the parent-death signal")?;
    queue_pending_signals(&mut inj, pid, task).step("queueing pending signals")?;
    queue_thread_signals(&mut inj, pid, thread).step("queueing pending signals")?;
    for (saved, own) in extra.iter_mut() {
        queue_thread_signals(own, pid, saved).step("queueing pending signals")?;
    }
    restore_posix_timers(&mut inj, task).step("recreating POSIX timers")?;
    // Timers last, so that they lose as little time as possible to the restore.
    for timer in &task.task.itimers {
        let tv = |us: u64| [us / 1_000_000, us % 1_000_000];
        inj.reset();
        let new = inj
            .put(&u64s(&[tv(timer.interval_us), tv(timer.value_us)].concat()))
            .step("arming interval timers")?;
        inj.syscall(libc::SYS_setitimer, &[timer.which as u64, new, 0])
            .step("arming interval timers")?;
    }

    // The last syscall removes the page it runs from; the single-step trap
    // stops the task before it would execute anything there.
    inj.syscall(inject::SYS_munmap, &[scratch, memory::SCRATCH_LEN])
        .step("removing the scratch area")?;

    let mut threads = vec![(thread, inj)];
    threads.extend(extra);
    Ok(Prepared {
        pid,
        stopped: task.task.stopped,
        threads,
    })
}

/// Ends a stub the way the saved zombie ended (exit code or signal), leaving it
/// for its restored parent to reap.
pub fn make_zombie(mut stub: Stub, task: &LoadedTask) -> Result<(), StepError> {
    let Some(zombie) = task.task.zombie else {
        return Ok(());
    };
    let pid = stub.pid;
    let step = format!("ending process {pid} as a zombie");
    if zombie.signal == 0 {
        // The task exits inside this syscall: the error that reports it is the success.
        let _ = stub
            .inj
            .syscall(libc::SYS_exit_group, &[zombie.exit_code as u64]);
        return Ok(());
    }
    // Die by the same signal: default action, unblocked, no core file.
    stub.inj.reset();
    let no_core = stub.inj.put(&u64s(&[0, 0])).step(&step)?;
    stub.inj
        .syscall(
            inject::SYS_prlimit64,
            &[0, libc::RLIMIT_CORE as u64, no_core, 0],
        )
        .step(&step)?;
    let default = stub.inj.put(&u64s(&[0, 0, 0, 0])).step(&step)?;
    stub.inj
        .syscall(
            inject::SYS_rt_sigaction,
            &[zombie.signal as u64, default, 0, 8],
        )
        .step(&step)?;
    ptrace::set_sigmask(pid, 0).step(&step)?;
    ptrace::detach(pid, zombie.signal).step(&step)?;
    Ok(())
}

/// Sets the final registers and signal masks of every thread, and lets them run.
pub fn resume(prepared: Prepared<'_>) -> Result<(), StepError> {
    for (saved, _) in &prepared.threads {
        let tid = saved.tid;
        let step = |w: &str| format!("thread {tid}: {w}");
        ptrace::set_xstate(tid, &saved.xsave).step(&step("setting FPU/SSE/AVX state"))?;
        let regs = final_registers(saved).step(&step("preparing registers"))?;
        ptrace::set_regs(tid, &regs).step(&step("setting registers"))?;
        ptrace::set_sigmask(tid, saved.sigmask).step(&step("setting the signal mask"))?;
    }
    for (saved, _) in prepared.threads.iter().rev() {
        // A job-control-stopped process stops again as it leaves our hands.
        let signal = if prepared.stopped && saved.tid == prepared.pid {
            libc::SIGSTOP
        } else {
            0
        };
        ptrace::detach(saved.tid, signal).step(&format!(
            "resuming process {} thread {}",
            prepared.pid, saved.tid
        ))?;
    }
    Ok(())
}

/// POSIX timers with their ids (PR_TIMER_CREATE_RESTORE_IDS makes timer_create
/// take the id we pass), notification, interval and remaining time.
fn restore_posix_timers(inj: &mut Injector, task: &LoadedTask) -> io::Result<()> {
    const PR_TIMER_CREATE_RESTORE_IDS: u64 = 77;
    if task.task.posix_timers.is_empty() {
        return Ok(());
    }
    inj.syscall(
        inject::SYS_prctl,
        &[PR_TIMER_CREATE_RESTORE_IDS, 1, 0, 0, 0],
    )
    .map_err(|e| io::Error::new(e.kind(), format!("PR_TIMER_CREATE_RESTORE_IDS: {e}")))?;
    for timer in &task.task.posix_timers {
        let what = |e: io::Error| io::Error::new(e.kind(), format!("timer {}: {e}", timer.id));
        inj.reset();
        // struct sigevent: value, signo, notify, then the union (tid first), 64 bytes.
        let mut event = vec![0u8; 64];
        event[0..8].copy_from_slice(&timer.sigev_value.to_le_bytes());
        event[8..12].copy_from_slice(&timer.signo.to_le_bytes());
        event[12..16].copy_from_slice(&timer.notify.to_le_bytes());
        event[16..20].copy_from_slice(&timer.notify_tid.to_le_bytes());
        let event_addr = inj.put(&event)?;
        let id_addr = inj.put(&(timer.id as u64).to_le_bytes())?;
        inj.syscall(
            libc::SYS_timer_create,
            &[timer.clock as u64, event_addr, id_addr],
        )
        .map_err(what)?;
        let got = inj.read(id_addr, 4)?;
        let got = i32::from_le_bytes(got[0..4].try_into().unwrap_or([0; 4]));
        if got != timer.id {
            return Err(io::Error::other(format!(
                "timer {} came back as {got}",
                timer.id
            )));
        }
        if timer.value_ns != 0 {
            let ts = |ns: u64| [ns / 1_000_000_000, ns % 1_000_000_000];
            let spec = inj.put(&u64s(&[ts(timer.interval_ns), ts(timer.value_ns)].concat()))?;
            inj.syscall(libc::SYS_timer_settime, &[timer.id as u64, 0, spec, 0])
                .map_err(what)?;
        }
    }
    inj.syscall(
        inject::SYS_prctl,
        &[PR_TIMER_CREATE_RESTORE_IDS, 0, 0, 0, 0],
    )?;
    Ok(())
}

/// Per-thread state, then the thread's credentials (Linux keeps them per thread).
fn setup_thread(
    inj: &mut Injector,
    task: &LoadedTask,
    saved: &pb::ThreadState,
) -> Result<(), StepError> {
    let step = format!("setting up thread {}", saved.tid);
    restore_thread(inj, saved).step(&step)?;
    if let Some(creds) = &task.task.creds {
        restore_creds(inj, creds).step(&format!("{step}: credentials"))?;
    }
    if task.task.no_new_privs {
        inj.syscall(
            inject::SYS_prctl,
            &[libc::PR_SET_NO_NEW_PRIVS as u64, 1, 0, 0, 0],
        )
        .step(&format!("{step}: no_new_privs"))?;
    }
    Ok(())
}

/// Creates thread `tid` with an injected clone3 in the leader. The new thread
/// stops before it runs a single instruction (PTRACE_O_TRACECLONE), and gets an
/// injector of its own.
fn create_thread(inj: &mut Injector, tid: i32) -> io::Result<Injector> {
    let flags = (libc::CLONE_VM
        | libc::CLONE_FS
        | libc::CLONE_FILES
        | libc::CLONE_SIGHAND
        | libc::CLONE_THREAD
        | libc::CLONE_SYSVSEM) as u64;
    inj.reset();
    let set_tid = inj.put(&(tid as u64).to_le_bytes())?;
    // struct clone_args: flags, pidfd, child_tid, parent_tid, exit_signal, stack,
    // stack_size, tls, set_tid, set_tid_size, cgroup.
    let args = u64s(&[flags, 0, 0, 0, 0, 0, 0, 0, set_tid, 1, 0]);
    let args_addr = inj.put(&args)?;
    let got = inj.syscall(libc::SYS_clone3, &[args_addr, args.len() as u64])? as i32;
    if got != tid {
        return Err(io::Error::other(format!(
            "clone3 made thread {got}, wanted {tid}"
        )));
    }
    loop {
        match crate::sys::syscalls::waitpid(tid, 0)? {
            crate::sys::syscalls::WaitStatus::Stopped { .. } => break,
            crate::sys::syscalls::WaitStatus::StillAlive => continue,
            other => return Err(io::Error::other(format!("new thread: {other:?}"))),
        }
    }
    inj.for_thread(tid)
}

/// What every thread has of its own: signal stack, robust futex list, the
/// futex cleared at exit, its name, its rseq area.
fn restore_thread(inj: &mut Injector, saved: &pb::ThreadState) -> io::Result<()> {
    if let Some(stack) = &saved.altstack {
        inj.reset();
        let ss = if stack.flags & SS_DISABLE != 0 {
            let mut raw = u64s(&[0, 0, 0]);
            raw[8..12].copy_from_slice(&SS_DISABLE.to_le_bytes());
            raw
        } else {
            let mut raw = u64s(&[stack.sp, 0, stack.size]);
            raw[8..12].copy_from_slice(&(stack.flags & !SS_ONSTACK).to_le_bytes());
            raw
        };
        let addr = inj.put(&ss)?;
        inj.syscall(inject::SYS_sigaltstack, &[addr, 0])
            .map_err(|e| io::Error::new(e.kind(), format!("sigaltstack: {e}")))?;
    }
    if saved.robust_list != 0 {
        inj.syscall(
            libc::SYS_set_robust_list,
            &[saved.robust_list, saved.robust_list_len],
        )
        .map_err(|e| io::Error::new(e.kind(), format!("set_robust_list: {e}")))?;
    }
    inj.syscall(libc::SYS_set_tid_address, &[saved.clear_child_tid])?;
    inj.reset();
    let mut name = saved.name.as_bytes().to_vec();
    name.truncate(15);
    name.push(0);
    let name_addr = inj.put(&name)?;
    inj.syscall(inject::SYS_prctl, &[libc::PR_SET_NAME as u64, name_addr])?;
    if let Some(rseq) = &saved.rseq {
        inj.syscall(
            inject::SYS_rseq,
            &[rseq.address, rseq.length as u64, 0, rseq.signature as u64],
        )
        .map_err(|e| io::Error::new(e.kind(), format!("rseq: {e}")))?;
    }
    Ok(())
}

/// A process that led its session or group (as after setsid) leads a new one
/// with the same id; one that was in another group of its session than its
/// parent joins that group (created earlier: parents come first). Otherwise it
/// keeps what it inherited, which for the root is stasis' own.
fn restore_session(
    inj: &mut Injector,
    pid: i32,
    task: &LoadedTask,
    parent_pgid: Option<i32>,
) -> io::Result<()> {
    let t = &task.task;
    if t.sid == pid {
        inj.syscall(libc::SYS_setsid, &[])?;
    } else if t.pgid == pid {
        inj.syscall(libc::SYS_setpgid, &[0, 0])?;
    } else if parent_pgid.is_some_and(|p| p != t.pgid) {
        inj.syscall(libc::SYS_setpgid, &[0, t.pgid as u64])
            .map_err(|e| {
                io::Error::new(e.kind(), format!("joining process group {}: {e}", t.pgid))
            })?;
    } else if parent_pgid.is_none() {
        tracing::info!(
            pid,
            sid = t.sid,
            pgid = t.pgid,
            "the session and process group of the original are outside the dump; the process joins stasis' own"
        );
    }
    Ok(())
}

fn raise_nofile(inj: &mut Injector) -> io::Result<()> {
    inj.reset();
    let old = inj.reserve(16)?;
    inj.syscall(
        inject::SYS_prlimit64,
        &[0, libc::RLIMIT_NOFILE as u64, 0, old],
    )?;
    let raw = inj.read(old, 16)?;
    let hard = u64::from_le_bytes(raw[8..16].try_into().unwrap_or([0; 8]));
    let new = inj.put(&u64s(&[hard, hard]))?;
    inj.syscall(
        inject::SYS_prlimit64,
        &[0, libc::RLIMIT_NOFILE as u64, new, 0],
    )?;
    Ok(())
}

fn restore_rlimits(inj: &mut Injector, limits: &[pb::Rlimit]) -> io::Result<()> {
    for limit in limits {
        inj.reset();
        let new = inj.put(&u64s(&[limit.soft, limit.hard]))?;
        match inj.syscall(inject::SYS_prlimit64, &[0, limit.resource as u64, new, 0]) {
            Ok(_) => {}
            Err(err) if err.raw_os_error() == Some(libc::EPERM) => {
                // Raising a hard limit needs CAP_SYS_RESOURCE: keep the hard limit
                // we have and the soft limit as close as it allows.
                let old = inj.reserve(16)?;
                inj.syscall(inject::SYS_prlimit64, &[0, limit.resource as u64, 0, old])?;
                let raw = inj.read(old, 16)?;
                let hard = u64::from_le_bytes(raw[8..16].try_into().unwrap_or([0; 8]));
                let fallback = inj.put(&u64s(&[limit.soft.min(hard), hard]))?;
                inj.syscall(
                    inject::SYS_prlimit64,
                    &[0, limit.resource as u64, fallback, 0],
                )?;
                tracing::warn!(
                    resource = limit.resource,
                    wanted = limit.hard,
                    kept = hard,
                    "hard limit could not be raised (no CAP_SYS_RESOURCE)"
                );
            }
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

const F_DUPFD_CLOEXEC: u64 = 1030;

/// Moves `fd` to the lowest free number >= `base` (close-on-exec), so that it
/// cannot collide with an fd number still to be installed.
fn move_above(inj: &mut Injector, fd: i32, base: i32) -> io::Result<i32> {
    let moved = inj.syscall(
        inject::SYS_fcntl,
        &[fd as u64, F_DUPFD_CLOEXEC, base as u64],
    )? as i32;
    inj.close(fd)?;
    Ok(moved)
}

/// The plan's `Installed` steps for some fds of one task: every open file
/// description was created by stasis (see files.rs); the task takes a copy of
/// each with pidfd_getfd, at a temporary number above all its saved fds, then
/// dup3s it into place. Descriptions shared between fds or between processes
/// stay shared.
pub fn install_fds(
    stub: &mut Stub,
    task: &LoadedTask,
    fds: &[i32],
    files: &super::files::FileTable,
) -> Result<(), StepError> {
    let entries: Vec<pb::FdEntry> = task
        .fds
        .fds
        .iter()
        .filter(|e| fds.contains(&e.fd))
        .cloned()
        .collect();
    let base = task.fds.fds.iter().map(|e| e.fd).max().unwrap_or(0) + 1;
    install_entries(&mut stub.inj, &entries, base, files).step("installing files")
}

fn install_entries(
    inj: &mut Injector,
    entries: &[pb::FdEntry],
    base: i32,
    files: &super::files::FileTable,
) -> io::Result<()> {
    let stasis = crate::sys::syscalls::getpid();
    let pidfd = inj.syscall(libc::SYS_pidfd_open, &[stasis as u64, 0])? as i32;
    // Above every saved fd, so that no dup3 below replaces it.
    let pidfd = move_above(inj, pidfd, base)?;
    let result = (|| -> io::Result<()> {
        let mut done: HashSet<u32> = HashSet::new();
        for first in entries {
            if !done.insert(first.file_id) {
                continue;
            }
            let ours = files.raw_fd(first.file_id).ok_or_else(|| {
                io::Error::other(format!(
                    "fd {}: file {} was not opened",
                    first.fd, first.file_id
                ))
            })?;
            // The copy lands on the lowest free fd: not one installed already,
            // maybe one still to come, which is why it is closed right after.
            let temp = inj
                .syscall(libc::SYS_pidfd_getfd, &[pidfd as u64, ours as u64, 0])
                .map_err(|e| {
                    io::Error::new(e.kind(), format!("fd {}: pidfd_getfd: {e}", first.fd))
                })? as i32;
            let mut keep_temp = false;
            for entry in entries.iter().filter(|e| e.file_id == first.file_id) {
                if entry.fd == temp {
                    // Installed in fd order, the copy usually lands right where it
                    // belongs; pidfd_getfd made it close-on-exec.
                    keep_temp = true;
                    if !entry.cloexec {
                        inj.syscall(inject::SYS_fcntl, &[temp as u64, libc::F_SETFD as u64, 0])?;
                    }
                    continue;
                }
                let cloexec = if entry.cloexec {
                    libc::O_CLOEXEC as u64
                } else {
                    0
                };
                inj.syscall(inject::SYS_dup3, &[temp as u64, entry.fd as u64, cloexec])
                    .map_err(|e| io::Error::new(e.kind(), format!("fd {}: dup3: {e}", entry.fd)))?;
            }
            if !keep_temp {
                inj.close(temp)?;
            }
        }
        Ok(())
    })();
    let _ = inj.close(pidfd);
    result
}

fn restore_mm_fields(inj: &mut Injector, task: &LoadedTask) -> io::Result<()> {
    let f = task.mm.fields.unwrap_or_default();
    let exe = inj.open(&task.mm.exe_path, libc::O_RDONLY | libc::O_CLOEXEC, 0)?;
    inj.reset();
    let auxv = inj.put(&task.mm.auxv)?;
    let mut map = u64s(&[
        f.start_code,
        f.end_code,
        f.start_data,
        f.end_data,
        f.start_brk,
        f.brk,
        f.start_stack,
        f.arg_start,
        f.arg_end,
        f.env_start,
        f.env_end,
        auxv,
    ]);
    map.extend_from_slice(&(task.mm.auxv.len() as u32).to_le_bytes());
    map.extend_from_slice(&(exe as u32).to_le_bytes());
    let map_addr = inj.put(&map)?;
    const PR_SET_MM: u64 = 35;
    const PR_SET_MM_MAP: u64 = 14;
    let result = inj.syscall(
        inject::SYS_prctl,
        &[PR_SET_MM, PR_SET_MM_MAP, map_addr, map.len() as u64, 0],
    );
    inj.close(exe)?;
    result.map(|_| ())
}

fn restore_signal_actions(inj: &mut Injector, task: &LoadedTask) -> io::Result<()> {
    for action in &task.task.sigactions {
        if action.signo == libc::SIGKILL || action.signo == libc::SIGSTOP {
            continue;
        }
        inj.reset();
        let act = inj.put(&u64s(&[
            action.handler,
            action.flags,
            action.restorer,
            action.mask,
        ]))?;
        inj.syscall(inject::SYS_rt_sigaction, &[action.signo as u64, act, 0, 8])
            .map_err(|e| io::Error::new(e.kind(), format!("signal {}: {e}", action.signo)))?;
    }
    Ok(())
}

fn restore_creds(inj: &mut Injector, c: &pb::Credentials) -> io::Result<()> {
    let ctx =
        |what: &'static str| move |e: io::Error| io::Error::new(e.kind(), format!("{what}: {e}"));
    // Keep our capabilities while the uids change; the saved sets are applied after.
    inj.syscall(
        inject::SYS_prctl,
        &[libc::PR_SET_SECUREBITS as u64, SECBIT_NO_SETUID_FIXUP],
    )
    .map_err(ctx("securebits"))?;
    inj.reset();
    let groups: Vec<u8> = c.groups.iter().flat_map(|g| g.to_le_bytes()).collect();
    let groups_addr = inj.put(&groups)?;
    inj.syscall(inject::SYS_setgroups, &[c.groups.len() as u64, groups_addr])
        .map_err(ctx("setgroups"))?;
    inj.syscall(
        inject::SYS_setresgid,
        &[c.gid as u64, c.egid as u64, c.sgid as u64],
    )
    .map_err(ctx("setresgid"))?;
    inj.syscall(inject::SYS_setfsgid, &[c.fsgid as u64])?;
    inj.syscall(
        inject::SYS_setresuid,
        &[c.uid as u64, c.euid as u64, c.suid as u64],
    )
    .map_err(ctx("setresuid"))?;
    inj.syscall(inject::SYS_setfsuid, &[c.fsuid as u64])?;
    let last_cap: u64 = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40);
    for cap in 0..=last_cap.min(63) {
        if c.cap_bounding & (1 << cap) == 0 {
            inj.syscall(inject::SYS_prctl, &[libc::PR_CAPBSET_DROP as u64, cap])
                .map_err(ctx("dropping from the bounding set"))?;
        }
    }
    inj.syscall(
        inject::SYS_prctl,
        &[libc::PR_SET_SECUREBITS as u64, c.securebits as u64],
    )
    .map_err(ctx("securebits"))?;
    inj.reset();
    let mut header = Vec::new();
    header.extend_from_slice(&LINUX_CAPABILITY_VERSION_3.to_le_bytes());
    header.extend_from_slice(&0i32.to_le_bytes());
    let header_addr = inj.put(&header)?;
    let mut data = Vec::new();
    for half in [0u32, 32] {
        for set in [c.cap_effective, c.cap_permitted, c.cap_inheritable] {
            data.extend_from_slice(&((set >> half) as u32).to_le_bytes());
        }
    }
    let data_addr = inj.put(&data)?;
    inj.syscall(inject::SYS_capset, &[header_addr, data_addr])
        .map_err(ctx("capset"))?;
    for cap in 0..64u64 {
        if c.cap_ambient & (1 << cap) != 0 {
            const PR_CAP_AMBIENT: u64 = 47;
            const PR_CAP_AMBIENT_RAISE: u64 = 2;
            inj.syscall(
                inject::SYS_prctl,
                &[PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0],
            )
            .map_err(ctx("raising an ambient capability"))?;
        }
    }
    Ok(())
}

fn queue_pending_signals(inj: &mut Injector, pid: i32, task: &LoadedTask) -> io::Result<()> {
    // Signals stay blocked (set at the start) until the final mask is set.
    for info in &task.task.shared_pending {
        inj.reset();
        let addr = inj.put(&info.raw)?;
        inj.syscall(
            inject::SYS_rt_sigqueueinfo,
            &[pid as u64, info.signo as u64, addr],
        )
        .map_err(|e| io::Error::new(e.kind(), format!("signal {}: {e}", info.signo)))?;
    }
    Ok(())
}

/// A thread's own pending signals. The kernel lets only the thread itself queue
/// a signal that claims to come from kill()/tgkill() (si_code >= 0 or SI_TKILL).
fn queue_thread_signals(inj: &mut Injector, pid: i32, thread: &pb::ThreadState) -> io::Result<()> {
    for info in &thread.pending {
        inj.reset();
        let addr = inj.put(&info.raw)?;
        inj.syscall(
            inject::SYS_rt_tgsigqueueinfo,
            &[pid as u64, thread.tid as u64, info.signo as u64, addr],
        )
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("thread {} signal {}: {e}", thread.tid, info.signo),
            )
        })?;
    }
    Ok(())
}

/// The saved registers, adjusted so an interrupted syscall carries on the way the
/// kernel would have continued it.
fn final_registers(thread: &pb::ThreadState) -> io::Result<libc::user_regs_struct> {
    let r = thread
        .regs
        .as_ref()
        .ok_or_else(|| io::Error::other("thread has no registers"))?;
    let mut regs = ptrace::zero_regs();
    regs.r15 = r.r15;
    regs.r14 = r.r14;
    regs.r13 = r.r13;
    regs.r12 = r.r12;
    regs.rbp = r.rbp;
    regs.rbx = r.rbx;
    regs.r11 = r.r11;
    regs.r10 = r.r10;
    regs.r9 = r.r9;
    regs.r8 = r.r8;
    regs.rax = r.rax;
    regs.rcx = r.rcx;
    regs.rdx = r.rdx;
    regs.rsi = r.rsi;
    regs.rdi = r.rdi;
    regs.orig_rax = r.orig_rax;
    regs.rip = r.rip;
    regs.cs = r.cs;
    regs.eflags = r.eflags;
    regs.rsp = r.rsp;
    regs.ss = r.ss;
    regs.fs_base = r.fs_base;
    regs.gs_base = r.gs_base;
    regs.ds = r.ds;
    regs.es = r.es;
    regs.fs = r.fs;
    regs.gs = r.gs;
    if let Some(sys) = &thread.interrupted {
        // -ERESTARTSYS, -ERESTARTNOINTR and -ERESTARTNOHAND are left to the
        // kernel: with orig_rax set, it restarts the syscall (or returns EINTR
        // if a handler runs) as it resumes the task. -ERESTART_RESTARTBLOCK
        // would need the kernel's restart block, which died with the original
        // task: re-enter the syscall with its original arguments instead.
        // An epoll_wait that the freeze interrupted (EINTR, see
        // dump/state.rs) is re-entered the same way.
        const ERESTART_RESTARTBLOCK: i64 = -516;
        if sys.restart_code == ERESTART_RESTARTBLOCK || sys.restart_code == -(libc::EINTR as i64) {
            regs.rax = sys.nr as u64;
            regs.rip -= 2;
            regs.orig_rax = u64::MAX;
        }
    }
    Ok(regs)
}
