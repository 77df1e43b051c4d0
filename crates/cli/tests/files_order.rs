//! End-to-end tests of the restore planner (issue 4): files whose restore order is not their fd
//! order, /proc files of the restored tree, and `stasis restore --plan`.

mod common;

use common::*;

/// A holds /proc/self/{status,maps,fd}, /proc/thread-self/comm, /proc/sys/kernel/pid_max and
/// /proc/B/fdinfo/44; its child B holds /proc/B/fdinfo/55 at a low fd. Both check, after
/// restore, that the files describe the restored tasks and live fds.
#[test]
fn proc_files_are_reopened_in_the_restored_tree() {
    Scenario::c("proc_files").check();
}

#[test]
fn the_plan_installs_an_fd_before_its_fdinfo_file_is_opened() {
    let mut run = Scenario::c("proc_files").start();
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
fn refuses_a_proc_file_of_a_process_outside_the_tree() {
    let mut run = Scenario::c("unsupported_fd").arg("proc").start();
    let pid = run.pid.to_string();
    run.expect_refused(&[&[&pid], &["42", "43"], &["/proc/1/status"], &["pid 1"]]);
    run.trigger_go();
    run.expect_success();
}
