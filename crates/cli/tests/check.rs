//! End-to-end tests of `stasis check` (issue 6): the same verdicts as `stasis dump`, item by
//! item, without stopping the tree.

mod common;

use common::*;

/// A supported tree checks clean (exit 0, every item supported), and then dumps and restores.
#[test]
fn a_supported_tree_checks_clean_then_dumps_and_restores() {
    let mut run = Scenario::c("tree").start();
    let pid = run.pid.to_string();
    let text = run.stasis(&["check", "-t", &pid]);
    text.assert_success();
    assert!(
        text.stdout.contains("can be checkpointed") && !text.stdout.contains("  NO "),
        "{text}"
    );
    let json = run.stasis(&["check", "-t", &pid, "--json"]);
    json.assert_success();
    let report: serde_json::Value = serde_json::from_str(&json.stdout).expect("check --json");
    assert_eq!(report["checkpointable"], true);
    assert_eq!(report["root"], run.pid);
    let tasks = report["tasks"].as_array().unwrap();
    assert!(tasks.len() >= 4, "the tree has 4 processes: {report}");
    let items: Vec<&serde_json::Value> = tasks
        .iter()
        .flat_map(|t| t["items"].as_array().unwrap())
        .collect();
    assert!(items.iter().all(|i| i["supported"] == true));
    assert!(items.iter().any(|i| i["location"] == "fd 0"));
    assert!(items
        .iter()
        .any(|i| i["location"].as_str().unwrap().starts_with("mapping ")));
    // The check stopped nothing, and the tree is as checkpointable as it said.
    run.assert_running_unchanged();
    run.dump_ok(&[]);
    run.reap_dumped();
    run.restore_detached();
    run.trigger_go();
    run.expect_success();
}

/// An unsupported fd: check names it (pid, fd, kind, why), exits 1, and the tree runs on.
#[test]
fn check_names_what_cannot_be_checkpointed() {
    let mut run = Scenario::c("unsupported_fd").arg("fanotify").start();
    let pid = run.pid.to_string();
    let out = run.stasis(&["check", "-t", &pid]);
    out.assert_code(1);
    assert!(
        out.stdout.contains("cannot be checkpointed")
            && out.stdout.contains("fd 42")
            && out.stdout.contains("fanotify"),
        "{out}"
    );
    let json = run.stasis(&["check", "-t", &pid, "--json"]);
    json.assert_code(1);
    let report: serde_json::Value = serde_json::from_str(&json.stdout).expect("check --json");
    assert_eq!(report["checkpointable"], false);
    let blockers = report["blockers"].as_array().unwrap();
    assert!(blockers
        .iter()
        .any(|b| b["location"] == "fd 42" && b["pid"] == run.pid));
    run.assert_running_unchanged();
    run.trigger_go();
    run.expect_success();
}

#[test]
fn check_of_a_nonexistent_pid_is_an_error() {
    setup();
    let dir = TempDir::new("check-nonexistent");
    let pid = unused_pid().to_string();
    let out = stasis(dir.path(), &["check", "-t", &pid]);
    out.assert_clean_failure(&[2], &[&[&pid]]);
}
