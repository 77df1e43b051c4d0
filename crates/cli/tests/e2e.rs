//! End-to-end tests of issue 2, "one process survives a checkpoint": real processes are dumped
//! with the `stasis` binary, reaped, restored with their original pid and checked from inside.
//!
//! Each scenario is a small C program in tests/scenarios (one behaviour each; see scenario.h for
//! the READY/go protocol) or a real program. How each is told to check its state ("go"):
//!
//! - the file `go` in its directory, which the program polls for: memory, files, signals,
//!   sigaltstack, process_state (polls ../go from a subdirectory), credentials, unsupported_fd,
//!   busy_loop, wait_go, python_dict;
//! - SIGUSR1, whose handler sets the flag or word the program waits on: registers (spins in an
//!   asm loop that must not touch its registers), futex_wait_signal (FUTEX_WAIT, no timeout);
//! - nothing, the 3 s call ends by itself: sleep, nanosleep, clock_nanosleep_abs,
//!   futex_wait_timeout, futex_wait_bitset_abs, poll_timeout. For these (and
//!   futex_wait_signal) the harness first waits until /proc/<pid>/syscall shows the process
//!   inside the call, so the dump surely interrupts it.
//!
//! All tests need root (CI runs as root); run them with scripts/test.

mod common;

use std::fs::{self, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::process::Command;

use common::*;

const MIB: u64 = 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// Process state survives dump + restore

#[test]
fn memory() {
    let mut run = Scenario::c("memory").start();
    run.dump_ok(&[]);
    // 3 MiB of heap and a few pages of a 4 GiB sparse mapping: untouched pages cost nothing.
    let size = dir_size(&run.images());
    assert!(
        size < 64 * MIB,
        "the dump of a mostly empty 4 GiB mapping takes {size} bytes"
    );
    run.reap_dumped();
    run.restore_detached();
    run.trigger_go();
    run.expect_success();
}

#[test]
fn registers() {
    Scenario::c("registers")
        .go(Go::Signal(libc::SIGUSR1))
        .check();
}

#[test]
fn blocked_in_sleep() {
    Scenario::c("sleep")
        .go(Go::Nothing)
        .blocked_in(libc::SYS_clock_nanosleep)
        .check();
}

#[test]
fn blocked_in_nanosleep() {
    Scenario::c("nanosleep")
        .go(Go::Nothing)
        .blocked_in(libc::SYS_nanosleep)
        .check();
}

#[test]
fn blocked_in_clock_nanosleep_absolute() {
    Scenario::c("clock_nanosleep_abs")
        .go(Go::Nothing)
        .blocked_in(libc::SYS_clock_nanosleep)
        .check();
}

#[test]
fn blocked_in_futex_wait_with_timeout() {
    Scenario::c("futex_wait_timeout")
        .go(Go::Nothing)
        .blocked_in(libc::SYS_futex)
        .check();
}

#[test]
fn blocked_in_futex_wait_bitset_absolute() {
    Scenario::c("futex_wait_bitset_abs")
        .go(Go::Nothing)
        .blocked_in(libc::SYS_futex)
        .check();
}

#[test]
fn blocked_in_futex_wait_until_signal() {
    Scenario::c("futex_wait_signal")
        .go(Go::Signal(libc::SIGUSR1))
        .blocked_in(libc::SYS_futex)
        .check();
}

#[test]
fn blocked_in_poll() {
    Scenario::c("poll_timeout")
        .go(Go::Nothing)
        .blocked_in(libc::SYS_poll)
        .check();
}

#[test]
fn signals() {
    Scenario::c("signals").flags(&["-pthread"]).check();
}

#[test]
fn pipes_with_buffered_data_and_a_blocked_reader() {
    Scenario::c("pipes")
        .go(Go::Signal(libc::SIGUSR1))
        .blocked_in(libc::SYS_read)
        .check();
}

#[test]
fn interval_timers() {
    Scenario::c("itimer").check();
}

#[test]
fn posix_timers() {
    Scenario::c("posix_timers").flags(&["-lrt"]).check();
}

#[test]
fn sigaltstack() {
    Scenario::c("sigaltstack").check();
}

#[test]
fn files() {
    Scenario::c("files").check();
}

#[test]
fn process_state() {
    Scenario::c("process_state").check();
}

#[test]
fn credentials() {
    Scenario::c("credentials").check();
}

// ---------------------------------------------------------------------------------------------
// Real programs

/// CPython with a 200k-entry dict; its digest uses the per-process hash secret, which must
/// survive too.
const PYTHON_DICT: &str = r#"
import os, sys, time
N = 200_000
def value(i):
    return (i * 2654435761) % 1000003
d = {f"key-{i}": value(i) for i in range(N)}
def digest(m):
    h = len(m)
    for k, v in m.items():
        h = (h * 1000003 + hash(k) + v) & 0xFFFFFFFFFFFFFFFF
    return h
before = digest(d)
pid = os.getpid()
print("READY", flush=True)
while not os.path.exists("go"):
    time.sleep(0.01)
errors = []
if len(d) != N:
    errors.append(f"the dict has {len(d)} entries, expected {N}")
bad = [i for i in range(N) if d.get(f"key-{i}") != value(i)]
if bad:
    errors.append(f"{len(bad)} entries differ, the first is key-{bad[0]}")
if digest(d) != before:
    errors.append("the dict digest changed")
if os.getpid() != pid:
    errors.append(f"os.getpid() is {os.getpid()}, expected {pid}")
finish(errors)
"#;

#[test]
fn python_with_a_large_dict() {
    Scenario::python("python_dict", PYTHON_DICT).check();
}

#[test]
fn busy_compute_loop() {
    Scenario::c("busy_loop").check();
}

// ---------------------------------------------------------------------------------------------
// Options and outputs of the tool

#[test]
fn leave_running_keeps_the_original_going() {
    let mut run = Scenario::c("busy_loop").start();
    run.dump_ok(&["--leave-running"]);
    run.assert_running_unchanged();
    let progress_lines = |log: &str| log.lines().filter(|l| l.starts_with("progress")).count();
    let before = progress_lines(&run.log());
    run.wait_for_log(
        "progress of the original after the dump",
        READY_TIMEOUT,
        |log| progress_lines(log) > before,
    );
    // The image is complete on its own: restore it once the original is gone.
    run.kill_and_reap();
    run.restore_detached();
    run.trigger_go();
    run.expect_success();
}

#[test]
fn restore_without_detach_returns_the_exit_status() {
    let mut run = Scenario::c("wait_go").arg("7").exit_code(7).start();
    run.dump_ok(&[]);
    run.reap_dumped();
    // `go` exists before the restore: the restored program ends at once with status 7.
    run.trigger_go();
    let output = run.restore(&[]);
    output.assert_code(7);
    let log = run.log();
    assert_eq!(
        count_lines(&log, &format!("PID {}", run.pid)),
        1,
        "the restored process runs as pid {}",
        run.pid
    );
    assert_eq!(count_lines(&log, "EXIT 7"), 1);
    assert_eq!(count_lines(&log, "READY"), 1, "the program started over");
    assert!(
        !pid_exists(run.pid),
        "stasis restore should have reaped pid {}",
        run.pid
    );
}

fn contains_key(value: &serde_json::Value, key: &str) -> bool {
    match value {
        serde_json::Value::Object(map) => {
            map.contains_key(key) || map.values().any(|v| contains_key(v, key))
        }
        serde_json::Value::Array(items) => items.iter().any(|v| contains_key(v, key)),
        _ => false,
    }
}

fn parse_json(output: &CommandOutput) -> serde_json::Value {
    serde_json::from_str(&output.stdout)
        .unwrap_or_else(|e| panic!("stasis show did not print one JSON document: {e}\n{output}"))
}

#[test]
fn show_prints_images_as_json() {
    let mut run = Scenario::c("wait_go").start();
    run.dump_ok(&[]);
    run.reap_dumped();
    let images = run.images();

    let output = run.stasis(&["show", path_str(&images)]);
    output.assert_success();
    let json = parse_json(&output);
    for key in ["rip", "rsp", "vmas", "fds"] {
        assert!(
            contains_key(&json, key),
            "`stasis show DIR` has no key {key:?}\n{output}"
        );
    }

    // Every metadata image on its own (the pages files are raw memory).
    let mut seen_rip = false;
    for file in list_dir(&images) {
        let name = file
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        if !name.ends_with(".img") || name.starts_with("pages") {
            continue;
        }
        let output = run.stasis(&["show", path_str(&file)]);
        output.assert_success();
        seen_rip |= contains_key(&parse_json(&output), "rip");
    }
    assert!(
        seen_rip,
        "no single image file shows the registers (\"rip\")"
    );

    // show only reads: the image still restores.
    run.restore_detached();
    run.trigger_go();
    run.expect_success();
}

#[test]
fn images_are_private_whatever_the_umask() {
    let mut run = Scenario::c("wait_go").start();
    let pid = run.pid.to_string();
    let images = run.images();
    let output = run.stasis_with_umask(0, &["dump", "-t", &pid, "-D", path_str(&images)]);
    output.assert_success();
    assert_eq!(mode_of(&images), 0o700, "the dump directory should be 0700");
    let files = list_dir(&images);
    assert!(!files.is_empty(), "the dump directory is empty");
    for file in files {
        assert!(
            file.is_file(),
            "unexpected non-file {} in the dump",
            file.display()
        );
        assert_eq!(mode_of(&file), 0o600, "{} should be 0600", file.display());
    }
    run.reap_dumped();
    run.restore_detached();
    run.trigger_go();
    run.expect_success();
}

// ---------------------------------------------------------------------------------------------
// Refusals: the process holds something this step does not support

fn refuses_unsupported_fd(kind: &str) {
    let mut run = Scenario::c("unsupported_fd").arg(kind).start();
    let pid = run.pid.to_string();
    run.expect_refused(&[&[&pid], &["42", "43"], &[kind]]);
    // The process carries on unchanged: its own checks pass.
    run.trigger_go();
    run.expect_success();
}

#[test]
fn refuses_a_pipe_shared_with_an_outside_process_and_leaves_the_process_running() {
    refuses_unsupported_fd("pipe");
}

#[test]
fn refuses_a_fanotify_fd_and_leaves_the_process_running() {
    refuses_unsupported_fd("fanotify");
}

/// A unix socket whose peer is held by a process outside the tree (socketpairs
/// inside the tree are supported: tests/unix_sockets.rs).
#[test]
fn refuses_a_socket_connected_outside_the_tree_and_leaves_the_process_running() {
    refuses_unsupported_fd("socket");
}

// ---------------------------------------------------------------------------------------------
// Bad input: a clear message, no panic, nothing left behind

#[test]
fn dump_of_a_nonexistent_pid_fails() {
    setup();
    let dir = TempDir::new("dump-nonexistent");
    let images = dir.join("images");
    let pid = unused_pid().to_string();
    let output = stasis(dir.path(), &["dump", "-t", &pid, "-D", path_str(&images)]);
    output.assert_clean_failure(&[1], &[&[&pid]]);
    assert!(
        !images.exists(),
        "a failed dump left {} behind",
        images.display()
    );
}

#[test]
fn dump_of_its_own_pid_fails() {
    setup();
    let dir = TempDir::new("dump-self");
    let images = dir.join("images");
    // `exec` keeps the shell's pid, so stasis is asked to dump itself.
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(r#"exec "$0" dump -t $$ -D "$1""#)
        .arg(stasis_bin())
        .arg(&images);
    let output = run_command(
        cmd,
        "stasis dump -t <its own pid>".into(),
        dir.path(),
        STASIS_TIMEOUT,
    );
    let pid = output.pid.to_string();
    output.assert_clean_failure(&[1], &[&[&pid]]);
    assert!(
        !images.exists(),
        "a failed dump left {} behind",
        images.display()
    );
}

#[test]
fn dump_of_a_kernel_thread_fails() {
    setup();
    let dir = TempDir::new("dump-kthread");
    let images = dir.join("images");
    let kthread = if is_kernel_thread(2) {
        2
    } else {
        (3..4_194_304)
            .find(|&pid| is_kernel_thread(pid))
            .expect("a kernel thread")
    };
    let pid = kthread.to_string();
    let output = stasis(dir.path(), &["dump", "-t", &pid, "-D", path_str(&images)]);
    output.assert_clean_failure(&[1, 3], &[&[&pid], &["kernel", "kthread"]]);
    assert!(
        !images.exists(),
        "a failed dump left {} behind",
        images.display()
    );
}

#[test]
fn dump_into_an_unwritable_place_fails_and_leaves_the_process_alone() {
    let mut run = Scenario::c("wait_go").start();
    let a_file = run.dir.join("a-file");
    fs::write(&a_file, "not a directory\n").unwrap();
    let targets = [
        Path::new("/proc/stasis-e2e-no-such-dir/images").to_path_buf(),
        a_file.clone(),
        a_file.join("images"),
    ];
    for target in &targets {
        let output = run.dump_to(target, &[]);
        let parent = target.parent().unwrap();
        output.assert_clean_failure(&[1], &[&[path_str(target), path_str(parent)]]);
        run.assert_running_unchanged();
    }
    assert_eq!(
        fs::read_to_string(&a_file).unwrap(),
        "not a directory\n",
        "the dump clobbered a file"
    );
    run.trigger_go();
    run.expect_success();
}

#[test]
fn restore_from_an_empty_directory_fails() {
    setup();
    let dir = TempDir::new("restore-empty");
    let empty = dir.join("empty");
    fs::create_dir(&empty).unwrap();
    let pidfile = dir.join("restore.pid");
    let output = stasis(
        dir.path(),
        &[
            "restore",
            "-D",
            path_str(&empty),
            "-d",
            "--pidfile",
            path_str(&pidfile),
        ],
    );
    output.assert_clean_failure(&[1], &[&[path_str(&empty), "inventory"]]);
    assert!(!pidfile.exists(), "a failed restore wrote a pidfile");
}

/// Dumps a scenario, damages the image with `damage` (which returns what the error message
/// must name), and expects the restore to fail cleanly, creating no process and no pidfile.
fn restore_of_a_damaged_image_fails(damage: impl FnOnce(&Path, i32) -> Vec<String>) {
    let mut run = Scenario::c("wait_go").start();
    run.dump_ok(&[]);
    run.reap_dumped();
    let names = damage(&run.images(), run.pid);
    let output = run.restore(&["-d"]);
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    output.assert_clean_failure(&[1], &[&names]);
    // A process that a detached restore had begun to build is killed; being our
    // adopted child (we are a subreaper), its zombie is ours to reap.
    reap_if_zombie(run.pid);
    assert!(
        !pid_exists(run.pid),
        "a failed restore left pid {} behind",
        run.pid
    );
    assert!(!run.pidfile().exists(), "a failed restore wrote a pidfile");
}

#[test]
fn restore_without_inventory_fails() {
    restore_of_a_damaged_image_fails(|images, _| {
        fs::remove_file(images.join("inventory.img")).expect("remove inventory.img");
        vec!["inventory".into()]
    });
}

#[test]
fn restore_of_a_truncated_pages_image_fails() {
    restore_of_a_damaged_image_fails(|images, _| {
        let pages = image_file(images, "pages");
        let len = fs::metadata(&pages).unwrap().len();
        assert!(len > 4096, "{} holds only {len} bytes", pages.display());
        // Mid-page and more than a page short.
        let file = OpenOptions::new().write(true).open(&pages).unwrap();
        file.set_len(len - 4096 - 100).unwrap();
        let name = pages.file_name().unwrap().to_string_lossy().into_owned();
        vec![name, "pages".into()]
    });
}

/// Flips one bit in the middle of the first image whose name starts with `prefix`.
fn flip_a_byte(images: &Path, prefix: &str) -> Vec<String> {
    let image = image_file(images, prefix);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&image)
        .unwrap();
    let len = file.metadata().unwrap().len();
    let at = len / 2;
    let mut byte = [0u8];
    file.seek(SeekFrom::Start(at)).unwrap();
    file.read_exact(&mut byte).unwrap();
    byte[0] ^= 0x20;
    file.seek(SeekFrom::Start(at)).unwrap();
    file.write_all(&byte).unwrap();
    let name = image.file_name().unwrap().to_string_lossy().into_owned();
    vec![name, prefix.into()]
}

#[test]
fn restore_of_a_task_image_with_a_flipped_byte_fails() {
    restore_of_a_damaged_image_fails(|images, _| flip_a_byte(images, "task"));
}

/// Page images are verified while the process is built: a damaged one must still
/// stop the restore before the process runs, and leave nothing behind.
#[test]
fn restore_of_a_pages_image_with_a_flipped_byte_fails() {
    restore_of_a_damaged_image_fails(|images, _| flip_a_byte(images, "pages"));
}

#[test]
fn restore_while_the_pid_is_in_use_fails_and_leaves_the_holder_alone() {
    let mut run = Scenario::c("wait_go").start();
    run.dump_ok(&["--leave-running"]);
    run.assert_running_unchanged();
    let output = run.restore(&["-d"]);
    let pid = run.pid.to_string();
    output.assert_clean_failure(&[1], &[&[&pid]]);
    assert!(!run.pidfile().exists(), "a failed restore wrote a pidfile");
    run.assert_running_unchanged();
    // The original finishes normally.
    run.trigger_go();
    run.expect_success();
}
