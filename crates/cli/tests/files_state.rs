//! End-to-end tests of the state that open files carry beyond path, flags and offset: locks
//! (flock, OFD, POSIX) held by the same owners after restore, signal-driven I/O (owner,
//! signal, O_ASYNC), files replaced or modified between dump and restore, and the fd table
//! itself (gaps, high numbers, close-on-exec per fd, O_PATH). Same harness and READY/go
//! protocol as `e2e.rs`.

mod common;

use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

#[test]
fn flock_ofd_and_posix_locks_are_held_by_their_owners_after_restore() {
    Scenario::c("locks").check();
}

#[test]
fn a_lock_taken_by_another_process_meanwhile_fails_the_restore_cleanly() {
    let mut run = Scenario::c("locks").start();
    run.dump_ok(&[]);
    run.reap_dumped();
    // Someone else takes the file while the process is on disk.
    let intruder = fs::File::open(run.dir.join("locked.txt")).unwrap();
    intruder.try_lock().expect("flock the file after the dump");
    let pid = run.pid.to_string();
    let output = run.restore(&["-d"]);
    output.assert_clean_failure(
        &[1],
        &[&[&pid], &["locked.txt"], &["flock"], &["conflicting lock"]],
    );
    // Processes a detached restore had begun to build are killed; being our adopted
    // children (we are a subreaper), their zombies are ours to reap.
    for pid in run.dumped_pids() {
        reap_if_zombie(pid);
        assert!(
            !pid_exists(pid),
            "a failed restore left pid {pid} behind\n{output}"
        );
    }
    // Once it lets go, the same images restore.
    drop(intruder);
    run.restore_detached();
    run.trigger_go();
    run.expect_success();
}

#[test]
fn signal_driven_io_keeps_owner_signal_and_o_async_and_delivers() {
    Scenario::c("async_io").check();
}

#[test]
fn a_signal_owner_outside_the_tree_is_refused_and_the_process_runs_on() {
    let mut run = Scenario::c("owner_outside").start();
    let pid = run.pid.to_string();
    run.expect_refused(&[&[&pid], &["fd 3"], &["F_SETOWN"], &["outside"]]);
    run.trigger_go();
    run.expect_success();
}

#[test]
fn fd_numbers_gaps_cloexec_and_o_path_fds_come_back_exactly() {
    Scenario::c("fd_table").check();
}

/// A restore that must be refused before anything is created: exit code 1, a message naming
/// the pid, fd 3, data.txt, what changed and the option; the pid stays free.
fn expect_changed_file_refused(run: &mut Run, what: &str) {
    let pid = run.pid.to_string();
    let output = run.restore(&["-d"]);
    reap_if_zombie(run.pid);
    output.assert_clean_failure(
        &[1],
        &[
            &[&pid],
            &["fd 3"],
            &["data.txt"],
            &[what],
            &["--allow-changed-files"],
        ],
    );
    assert!(
        !pid_exists(run.pid),
        "a refused restore left pid {} behind\n{output}",
        run.pid
    );
}

#[test]
fn a_file_replaced_at_its_path_is_refused_unless_allowed() {
    let mut run = Scenario::c("changed_file").start();
    run.dump_ok(&[]);
    run.reap_dumped();
    // Another file takes the path, as an editor or a package upgrade does.
    fs::write(run.dir.join("data.txt.new"), "replaced\n").unwrap();
    fs::rename(run.dir.join("data.txt.new"), run.dir.join("data.txt")).unwrap();
    expect_changed_file_refused(&mut run, "different file");
    let help = stasis(run.dir.path(), &["restore", "--help"]);
    help.assert_success();
    assert!(help.stdout.contains("--allow-changed-files"), "{help}");
    let output = run.restore(&["-d", "--allow-changed-files"]);
    output.assert_success();
    run.assert_running_unchanged();
    run.trigger_go();
    run.expect_success();
}

#[test]
fn a_read_only_file_modified_in_place_is_refused() {
    let mut run = Scenario::c("changed_file").start();
    run.dump_ok(&[]);
    run.reap_dumped();
    let mut data = fs::OpenOptions::new()
        .append(true)
        .open(run.dir.join("data.txt"))
        .unwrap();
    data.write_all(b"more\n").unwrap();
    expect_changed_file_refused(&mut run, "modified");
    run.restore(&["-d", "--allow-changed-files"])
        .assert_success();
    run.trigger_go();
    run.expect_success();
}

#[test]
fn files_the_process_writes_may_grow_between_dump_and_restore() {
    // Other writers of a log (here: out.txt and the harness's log) are not a reason to refuse.
    let mut run = Scenario::c("changed_file").start();
    run.dump_ok(&[]);
    run.reap_dumped();
    for name in ["out.txt", "log"] {
        let mut file = fs::OpenOptions::new()
            .append(true)
            .open(run.dir.join(name))
            .unwrap();
        file.write_all(b"written by someone else\n").unwrap();
    }
    run.restore_detached();
    run.trigger_go();
    run.expect_success();
    assert_eq!(
        fs::read_to_string(run.dir.join("out.txt")).unwrap(),
        "before\nwritten by someone else\nafter\n"
    );
}

// ---------------------------------------------------------------------------------------------
// Real programs

/// CPython holding a file locked with fcntl.flock and another with fcntl.lockf (a POSIX
/// lock); after restore another process must find both locked, and the restored process
/// still able to use the files and release the locks.
const PYTHON_LOCKS: &str = r#"
import fcntl, os, subprocess, sys, time
a = open("flocked.txt", "w+")
a.write("a" * 100)
a.flush()
fcntl.flock(a, fcntl.LOCK_EX | fcntl.LOCK_NB)
b = open("lockf.txt", "w+")
b.write("b" * 100)
b.flush()
fcntl.lockf(b, fcntl.LOCK_EX | fcntl.LOCK_NB, 10, 0)
print("READY", flush=True)
while not os.path.exists("go"):
    time.sleep(0.01)
errors = []
probe = r'''
import fcntl, sys
held = sys.argv[1] == "1"
a = open("flocked.txt", "r+")
b = open("lockf.txt", "r+")
errors = []
def try_lock(what, take):
    try:
        take()
        got = True
    except OSError:
        got = False
    if got == held:
        errors.append(f"{what}: {'took' if got else 'could not take'} a lock that should be {'held' if held else 'free'}")
try_lock("flock", lambda: fcntl.flock(a, fcntl.LOCK_EX | fcntl.LOCK_NB))
try_lock("lockf", lambda: fcntl.lockf(b, fcntl.LOCK_EX | fcntl.LOCK_NB, 10, 0))
for e in errors:
    print("FAIL:", e, flush=True)
sys.exit(1 if errors else 0)
'''
def probe_locks(held):
    r = subprocess.run([sys.executable, "-I", "-c", probe, "1" if held else "0"])
    if r.returncode != 0:
        errors.append(f"the probe with the locks {'held' if held else 'released'} failed")
probe_locks(True)
a.seek(0)
if a.read(3) != "aaa":
    errors.append("flocked.txt reads back wrong")
fcntl.flock(a, fcntl.LOCK_UN)
fcntl.lockf(b, fcntl.LOCK_UN, 10, 0)
probe_locks(False)
finish(errors)
"#;

#[test]
fn python_holding_flock_and_lockf_locks() {
    Scenario::python("python_locks", PYTHON_LOCKS).check();
}

/// Kills the whole session of a process started by a test when dropped.
struct Session(i32);

impl Drop for Session {
    fn drop(&mut self) {
        let _ = stasis::sys::syscalls::kill(-self.0, libc::SIGKILL);
        let _ = stasis::sys::syscalls::kill(self.0, libc::SIGKILL);
        let _ = wait_pid(self.0, Duration::from_secs(5));
    }
}

fn wait_for_text(path: &Path, text: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if read_lossy(path).contains(text) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// Starts `tail ARGS... LOG` in its own session with stdout to `out`.
fn start_tail(dir: &TempDir, args: &[&str]) -> Session {
    setup();
    let out = fs::File::create(dir.join("out")).unwrap();
    let mut cmd = Command::new("tail");
    cmd.args(args)
        .arg(dir.join("LOG"))
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(fs::File::create(dir.join("err")).unwrap());
    stasis::sys::spawn::in_new_session(&mut cmd);
    let child = cmd.spawn().expect("start tail");
    let session = Session(child.id() as i32);
    drop(child);
    assert!(
        wait_for_text(&dir.join("out"), "line 2"),
        "tail did not print the log: {}",
        read_lossy(&dir.join("err"))
    );
    session
}

/// GNU tail follows a file with inotify: plain `tail -f` is dumped and restored with its
/// inotify watch, and prints what is appended to the log after the restore.
#[test]
fn tail_f_follows_a_growing_log_after_restore() {
    tail_follows_after_restore("tail_f", &["-f"]);
}

/// The same with polling instead of inotify.
#[test]
fn tail_f_polling_follows_a_growing_log_after_restore() {
    tail_follows_after_restore("tail_f_poll", &["---disable-inotify", "-s", "0.1", "-f"]);
}

fn tail_follows_after_restore(name: &str, args: &[&str]) {
    let dir = TempDir::new(name);
    fs::write(dir.join("LOG"), "line 1\nline 2\n").unwrap();
    let session = start_tail(&dir, args);
    let pid = session.0;
    let images = dir.join("images");
    stasis(
        dir.path(),
        &["dump", "-t", &pid.to_string(), "-D", path_str(&images)],
    )
    .assert_success();
    assert_eq!(
        wait_pid(pid, EXIT_TIMEOUT).unwrap(),
        Exit::Signal(libc::SIGKILL)
    );
    let out_before = read_lossy(&dir.join("out"));
    stasis(dir.path(), &["restore", "-D", path_str(&images), "-d"]).assert_success();
    let restored = Session(pid);
    assert!(pid_exists(pid), "tail was not restored with pid {pid}");
    let mut log = fs::OpenOptions::new()
        .append(true)
        .open(dir.join("LOG"))
        .unwrap();
    log.write_all(b"line 3 after restore\n").unwrap();
    assert!(
        wait_for_text(&dir.join("out"), "line 3 after restore"),
        "the restored tail did not print the appended line; it printed {:?}",
        read_lossy(&dir.join("out"))
    );
    assert_eq!(
        read_lossy(&dir.join("out")),
        format!("{out_before}line 3 after restore\n"),
        "the restored tail printed something else than the new line"
    );
    drop(restored);
}
