//! End-to-end tests of the restore planner (issue 4): files whose restore order is not their fd
//! order, /proc files of the restored tree, and `stasis restore --plan`.

mod common;

use common::*;

/// A holds /proc/self/{status,maps,fd}, /proc/thread-self/comm, /proc/sys/kernel/pid_max and
/// /proc/B/fdinfo/44; its child B holds /proc/B/fdinfo/55 at a low fd. Both check, after
/// restore, that the files describe the restored tasks and live fds.
#[test]
fn proc_files_are_reopened_in_the_restored_tree() {
    Scenario::c("proc_files").flags(&["-pthread"]).check();
}

#[test]
fn the_plan_installs_an_fd_before_its_fdinfo_file_is_opened() {
    let mut run = Scenario::c("proc_files").flags(&["-pthread"]).start();
    run.dump_ok(&[]);
    let images = run.images();
    let pids = run.dumped_pids();
    let child = *pids.iter().find(|p| **p != run.pid).expect("the child B");
    let plan = run.stasis(&["restore", "--plan", "-D", path_str(&images)]);
    plan.assert_success();
    let text = plan.stdout.clone();
    let line_of = |needle: &str| {
        text.lines()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("the plan has no step with {needle:?}:\n{text}"))
    };
    // B's fd 55 exists before /proc/B/fdinfo/55 is opened, which is before B gets it.
    let fd55 = line_of(&format!("install pid {child} fd 55"));
    let fdinfo55 = line_of(&format!("(/proc/{child}/fdinfo/55)"));
    assert!(fd55 < fdinfo55, "fdinfo/55 opened before fd 55:\n{text}");
    let fdinfo44 = line_of(&format!("(/proc/{child}/fdinfo/44)"));
    let fd44 = line_of(&format!("install pid {child} fd 44"));
    assert!(fd44 < fdinfo44, "fdinfo/44 opened before fd 44:\n{text}");
    // Tasks first: every task step comes before every file step.
    let lines: Vec<&str> = text.lines().collect();
    let last_task = lines.iter().rposition(|l| l.contains(" task ")).unwrap();
    let first_file = text
        .lines()
        .position(|l| l.contains("create file"))
        .unwrap();
    assert!(last_task < first_file, "a file before a task:\n{text}");
    // The same images give the same plan.
    let again = run.stasis(&["restore", "--plan", "-D", path_str(&images)]);
    assert_eq!(again.stdout, text);
    let dot = run.stasis(&[
        "restore",
        "--plan",
        "--format",
        "dot",
        "-D",
        path_str(&images),
    ]);
    dot.assert_success();
    assert!(dot.stdout.starts_with("digraph"));
    assert!(dot
        .stdout
        .contains(&format!("\"install pid {child} fd 55\" -> \"create file")));
    // Planning touched nothing: the images still restore.
    run.reap_dumped();
    run.restore_detached();
    run.trigger_go();
    run.expect_success();
}

#[test]
fn refuses_a_pidfd_of_a_process_outside_the_tree() {
    let mut run = Scenario::c("unsupported_fd").arg("pidfd").start();
    let pid = run.pid.to_string();
    run.expect_refused(&[&[&pid], &["42", "43"], &["pidfd"], &["pid 1"]]);
    run.trigger_go();
    run.expect_success();
}

#[test]
fn refuses_a_proc_file_of_a_process_outside_the_tree() {
    let mut run = Scenario::c("unsupported_fd").arg("proc").start();
    let pid = run.pid.to_string();
    run.expect_refused(&[&[&pid], &["42", "43"], &["/proc/1/status"], &["pid 1"]]);
    run.trigger_go();
    run.expect_success();
}

/// An fd table that names a file record files.img does not hold is rejected when the images
/// are loaded, before any process exists.
#[test]
fn restore_of_an_fd_table_naming_a_missing_file_fails_at_load() {
    use stasis_image::{
        decode_image, encode_image, fd_table_image_name, inventory_name, pb, ImageKind,
    };
    let mut run = Scenario::c("wait_go").start();
    run.dump_ok(&[]);
    run.reap_dumped();
    let path = run.images().join(fd_table_image_name(run.pid));
    let bytes = std::fs::read(&path).expect("read the fd table image");
    let mut table: pb::FdTableImage = decode_image(ImageKind::FdTable, &bytes).unwrap();
    let entry = table.fds.last_mut().expect("the process has fds");
    entry.file_id = 9999;
    let fd = entry.fd.to_string();
    let encoded = encode_image(ImageKind::FdTable, &table);
    std::fs::write(&path, &encoded).unwrap();
    // A consistent dump otherwise: the inventory records the new size.
    let inventory_path = run.images().join(inventory_name());
    let bytes = std::fs::read(&inventory_path).unwrap();
    let mut inventory: pb::Inventory = decode_image(ImageKind::Inventory, &bytes).unwrap();
    let name = fd_table_image_name(run.pid);
    for image in inventory.images.iter_mut().filter(|i| i.name == name) {
        image.size = encoded.len() as u64;
    }
    std::fs::write(
        &inventory_path,
        encode_image(ImageKind::Inventory, &inventory),
    )
    .unwrap();
    let output = run.restore(&["-d"]);
    output.assert_clean_failure(&[1], &[&[&name], &["9999"], &[&fd]]);
    reap_if_zombie(run.pid);
    assert!(
        !pid_exists(run.pid),
        "a failed restore left pid {} behind",
        run.pid
    );
}

/// Pipes across three processes: a parent writes into a pipe read by its first child, which
/// passes on to a pipe read by the second child; bytes are in flight in both at the dump.
#[test]
fn pipes_across_three_processes() {
    Scenario::c("pipes_three").check();
}

/// A child blocked writing into a full pipe that its parent reads only after restore.
#[test]
fn a_writer_blocked_on_a_full_pipe_carries_on() {
    Scenario::c("pipe_blocked_writer").check();
}

/// A shell pipeline with data in the pipe: `producer | consumer`, where the consumer reads
/// slower than the producer writes; the numbers must arrive in order, none lost or repeated.
#[test]
fn bash_pipeline_with_data_in_the_pipe() {
    Scenario::python("pipeline", PIPELINE).check();
}

const PIPELINE: &str = r#"
import os, subprocess, sys, time
errors = []
# The pipeline: numbers 1.. written as fast as the pipe takes them, read slowly.
out = open("numbers.txt", "wb")
pipeline = subprocess.Popen(
    ["bash", "-c", "i=0; while :; do i=$((i+1)); echo $i; done | "
     "while read n; do echo $n; [ -e stop ] && [ $n -ge $(cat stop) ] && break; sleep 0.001; done"],
    stdout=out, stdin=subprocess.DEVNULL)
# Wait until the pipe is full (the consumer lags far behind).
time.sleep(0.5)
print("READY", flush=True)
while not os.path.exists("go"):
    time.sleep(0.01)
time.sleep(0.5)
seen = open("numbers.txt").read().split()
last = int(seen[-1]) if seen else 0
with open("stop.tmp", "w") as f:
    f.write(str(last + 200))
os.rename("stop.tmp", "stop")
pipeline.wait(timeout=30)
numbers = [int(x) for x in open("numbers.txt").read().split()]
if numbers != list(range(1, len(numbers) + 1)):
    bad = next(i for i, n in enumerate(numbers) if n != i + 1)
    errors.append(f"numbers out of order at line {bad + 1}: {numbers[max(0, bad - 2):bad + 3]}")
if len(numbers) < last + 200:
    errors.append(f"the consumer stopped at {len(numbers)}, before {last + 200}")
finish(errors)
"#;

/// inotify watches keep their watch descriptors (with a gap) and masks, and report events.
#[test]
fn inotify_watches_keep_their_descriptors() {
    Scenario::c("inotify").check();
}

/// python3 holding the usual files at once: a log opened for appending, a file on tmpfs
/// (/dev/shm) half read, a deleted temporary file with content, and an flock'ed lock file.
/// After restore each is where it was, and the lock is still held (a child cannot take it).
#[test]
fn python_with_open_files_a_deleted_temp_file_and_a_lock() {
    Scenario::python("python_files", PYTHON_FILES).check();
}

const PYTHON_FILES: &str = r#"
import fcntl, os, subprocess, sys, tempfile, time
errors = []
log = open("app.log", "a")
log.write("before\n"); log.flush()
shm_path = f"/dev/shm/stasis-test-{os.getpid()}"
with open(shm_path, "w") as f:
    f.write("0123456789" * 100)
shm = open(shm_path)
shm.read(123)
tmp = tempfile.TemporaryFile(dir=".")
tmp.write(b"secret " * 1000); tmp.flush(); tmp.seek(7 * 10)
lock = open("app.lock", "w")
fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
print("READY", flush=True)
while not os.path.exists("go"):
    time.sleep(0.01)
log.write("after\n"); log.flush()
if open("app.log").read() != "before\nafter\n":
    errors.append(f"app.log holds {open('app.log').read()!r}")
if shm.tell() != 123 or shm.read(7) != "3456789":
    errors.append("the tmpfs file lost its offset")
if tmp.tell() != 70 or tmp.read(7) != b"secret ":
    errors.append("the deleted temporary file lost its offset or content")
tmp.seek(0, 2)
if tmp.tell() != 7000:
    errors.append(f"the deleted temporary file is {tmp.tell()} bytes, expected 7000")
if os.fstat(tmp.fileno()).st_nlink != 0:
    errors.append("the temporary file has a name again")
other = subprocess.run([sys.executable, "-c",
    "import fcntl,sys; f=open('app.lock','w')\n"
    "try:\n fcntl.flock(f, fcntl.LOCK_EX|fcntl.LOCK_NB); sys.exit(1)\n"
    "except BlockingIOError: sys.exit(0)"])
if other.returncode != 0:
    errors.append("another process could take the lock: it was not held after restore")
os.unlink(shm_path)
finish(errors)
"#;
