//! Creating a task with a chosen PID: clone3 with set_tid.
//!
//! The child is a stub: a copy of stasis that immediately asks to be traced and
//! stops itself. The restorer then replaces its whole state through ptrace.

use std::io;

use super::check;

#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// What the stub does about its session and process group before it stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StubSession {
    /// Stay in stasis' own session and group.
    Inherit,
    /// Become leader of a new process group in stasis' session.
    NewGroup,
    /// Become leader of a new session (and group), like after setsid(1).
    NewSession,
}

/// Creates a stub task with PID `pid` that is traced by the caller and stopped
/// by SIGSTOP when this returns successfully (the caller must `waitpid` it).
pub fn spawn_stub(pid: i32, exit_signal: i32, session: StubSession) -> io::Result<i32> {
    let set_tid = [pid];
    let args = CloneArgs {
        exit_signal: exit_signal as u64,
        set_tid: set_tid.as_ptr() as u64,
        set_tid_size: 1,
        ..Default::default()
    };
    // SAFETY: clone3 without CLONE_VM behaves like fork: the child gets a copy of
    // our memory. `args` and `set_tid` outlive the call. The child branch below
    // only makes raw syscalls (no allocation, no locks), so it cannot deadlock
    // on state copied from other threads.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &args as *const CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    if ret == 0 {
        stub_main(session);
    }
    check(ret).map(|child| child as i32)
}

/// Runs in the child of [`spawn_stub`]; never returns.
fn stub_main(session: StubSession) -> ! {
    // SAFETY: raw syscalls with integer arguments only; see `spawn_stub`.
    unsafe {
        match session {
            StubSession::Inherit => {}
            StubSession::NewGroup => {
                libc::syscall(libc::SYS_setpgid, 0, 0);
            }
            StubSession::NewSession => {
                libc::syscall(libc::SYS_setsid);
            }
        }
        // Die with the restorer: a restore that fails must leave nothing behind.
        libc::syscall(libc::SYS_prctl, libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
        if libc::syscall(libc::SYS_ptrace, libc::PTRACE_TRACEME, 0, 0, 0) != 0 {
            libc::syscall(libc::SYS_exit_group, 120);
        }
        let me = libc::syscall(libc::SYS_getpid);
        libc::syscall(libc::SYS_kill, me, libc::SIGSTOP);
        // Only reached if the restorer let us go without replacing our state.
        libc::syscall(libc::SYS_exit_group, 121);
    }
    #[allow(clippy::empty_loop)]
    loop {}
}
