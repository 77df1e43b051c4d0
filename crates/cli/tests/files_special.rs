//! End-to-end tests of issue 4 part A: FIFOs, deleted files and memfds held as
//! open fds survive a checkpoint, and a file that disappears after the dump
//! makes the restore fail cleanly. See tests/scenarios/scenario.h for the
//! READY/go protocol; every scenario here is told "go" with the file `go`.

mod common;

use common::*;

#[test]
fn fifo_shared_by_parent_and_child_with_bytes_in_flight() {
    Scenario::c("fifo").check();
}

#[test]
fn deleted_files_opened_twice_dup_ed_and_o_tmpfile() {
    Scenario::c("deleted_files").check();
}

#[test]
fn memfds_with_content_and_seals() {
    let mut run = Scenario::c("memfd").start();
    run.dump_ok(&[]);
    // The 1 GiB sparse memfd holds 6 bytes of data: only data runs are saved.
    let size = dir_size(&run.images());
    assert!(
        size < 16 * 1024 * 1024,
        "the dump takes {size} bytes: the holes of the sparse memfd were saved"
    );
    run.reap_dumped();
    run.restore_detached();
    run.trigger_go();
    run.expect_success();
}

/// tempfile.TemporaryFile() is an O_TMPFILE file (or an unlinked one): its
/// content, offset and writability must survive.
const PYTHON_TEMPORARY_FILE: &str = r#"
import os, tempfile, time
data = bytes(range(256)) * 1000
f = tempfile.TemporaryFile()
f.write(data)
f.flush()
f.seek(1234)
t = tempfile.TemporaryFile(mode="w+")
t.write("some text\n")
t.flush()
print("READY", flush=True)
while not os.path.exists("go"):
    time.sleep(0.01)
errors = []
st = os.fstat(f.fileno())
if st.st_nlink != 0:
    errors.append(f"the temporary file has {st.st_nlink} links")
if st.st_size != len(data):
    errors.append(f"the temporary file holds {st.st_size} bytes, expected {len(data)}")
if os.lseek(f.fileno(), 0, os.SEEK_CUR) != 1234:
    errors.append(f"offset {os.lseek(f.fileno(), 0, os.SEEK_CUR)}, expected 1234")
if f.read(16) != data[1234:1250]:
    errors.append("reading at the offset gives the wrong bytes")
f.seek(0)
if f.read() != data:
    errors.append("the content differs")
f.write(b"more")
f.flush()
if os.fstat(f.fileno()).st_size != len(data) + 4:
    errors.append("writing to the temporary file after restore did not grow it")
t.seek(0)
if t.read() != "some text\n":
    errors.append("the text temporary file lost its content")
finish(errors)
"#;

#[test]
fn python_temporary_file() {
    Scenario::python("python_tempfile", PYTHON_TEMPORARY_FILE).check();
}

// ---------------------------------------------------------------------------------------------
// Bad input: a file the dump reopens by path is gone at restore

const PYTHON_OPEN_FILE: &str = r#"
import os, time
f = open("kept.txt", "w+")
f.write("kept")
f.flush()
print("READY", flush=True)
while not os.path.exists("go"):
    time.sleep(0.01)
finish([])
"#;

/// Dumps `scenario`, removes `name` from its directory, and expects the
/// restore to be refused with a message naming the file's path, creating no
/// process and no pidfile.
fn restore_refused_when_removed_after_the_dump(scenario: Scenario, name: &str) {
    let mut run = scenario.start();
    run.dump_ok(&[]);
    run.reap_dumped();
    let path = run.dir.join(name);
    std::fs::remove_file(&path).unwrap_or_else(|e| panic!("remove {}: {e}", path.display()));
    let output = run.restore(&["-d"]);
    output.assert_clean_failure(&[1], &[&[path_str(&path)], &["fd"]]);
    // A process that a detached restore had begun to build is killed; being our
    // adopted child (we are a subreaper), its zombie is ours to reap.
    for pid in run.dumped_pids() {
        reap_if_zombie(pid);
        assert!(!pid_exists(pid), "a failed restore left pid {pid} behind");
    }
    assert!(!run.pidfile().exists(), "a failed restore wrote a pidfile");
}

#[test]
fn restore_is_refused_when_an_open_file_was_deleted_after_the_dump() {
    restore_refused_when_removed_after_the_dump(
        Scenario::python("python_open_file", PYTHON_OPEN_FILE),
        "kept.txt",
    );
}

#[test]
fn restore_is_refused_when_a_fifo_was_removed_after_the_dump() {
    restore_refused_when_removed_after_the_dump(Scenario::c("fifo"), "fifo");
}

/// Only a writer holds the FIFO: the dump reads the bytes through a reader of its own.
#[test]
fn fifo_held_only_by_a_writer_keeps_its_bytes() {
    Scenario::c("fifo_writer_only").check();
}

/// A FIFO that a process outside the tree keeps open keeps its buffered bytes
/// through the dump: restore must not write them a second time.
#[test]
fn fifo_held_open_outside_the_tree_delivers_its_bytes_once() {
    use std::os::unix::fs::OpenOptionsExt;
    let mut run = Scenario::c("fifo").start();
    let outside = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(run.dir.join("fifo"))
        .expect("open the scenario's FIFO");
    run.dump_ok(&[]);
    run.reap_dumped();
    run.restore_detached();
    run.trigger_go();
    run.expect_success();
    drop(outside);
}
