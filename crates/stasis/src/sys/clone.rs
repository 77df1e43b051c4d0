//! Creating a task with a chosen PID: clone3 with set_tid.
//!
//! The child is a stub: a copy of stasis that waits in pause(). The restorer seizes it and replaces its whole state through
//! ptrace.

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

/// Creates a stub task with PID `pid`, waiting in pause() for the caller to seize it.
/// With `sibling`, the stub becomes a child of our parent (CLONE_PARENT) rather
/// than of us, so that it does not see us exit.
pub fn spawn_stub(pid: i32, exit_signal: i32, sibling: bool) -> io::Result<i32> {
    let set_tid = [pid];
    let args = CloneArgs {
        flags: if sibling {
            libc::CLONE_PARENT as u64
        } else {
            0
        },
        // CLONE_PARENT requires 0 here: the kernel then uses our own exit signal.
        exit_signal: if sibling { 0 } else { exit_signal as u64 },
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
        stub_main();
    }
    check(ret).map(|child| child as i32)
}

/// Runs in the child of [`spawn_stub`]; never returns.
fn stub_main() -> ! {
    loop {
        // SAFETY: a raw syscall without arguments; see `spawn_stub`.
        unsafe { libc::syscall(libc::SYS_pause) };
    }
}

/// fork(2). In the child, only this thread exists; the caller must be single-threaded.
pub fn fork() -> io::Result<i32> {
    // SAFETY: the restore path that forks runs no other thread (the only threads
    // stasis starts copy pages during a dump and are joined before it returns),
    // so the child's copy of every lock is in the state its only owner left it.
    check(unsafe { libc::fork() } as libc::c_long).map(|pid| pid as i32)
}

/// Ends the process at once, without running destructors or atexit handlers
/// (for a forked helper, whose parent owns those).
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit has no preconditions.
    unsafe { libc::_exit(code) }
}
