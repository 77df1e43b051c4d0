//! Files under /proc. A file of a task of the tree (`/proc/self/status`,
//! `/proc/thread-self/comm`, `/proc/<pid>/fdinfo/<n>` of a sibling) is saved
//! as (pid, path below /proc/<pid>) and reopened in the restored tree, once
//! that task exists and, for fd/ and fdinfo/, once that fd is installed (the
//! planner orders this). A file of a task outside the tree cannot be restored:
//! dump refuses it. Other /proc files (/proc/meminfo, /proc/sys/...) are
//! reopened by path.

use stasis_image::pb;

use super::{FdProbe, FileKind, Support};

/// Where a /proc path points: the task (0 for none) and the rest of the path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcPath {
    pub pid: i32,
    pub path: String,
}

/// Splits "/proc/42/fdinfo/3" into pid 42 and "fdinfo/3". None for paths
/// outside /proc.
pub fn parse(link: &str) -> Option<ProcPath> {
    if link == "/proc" {
        return Some(ProcPath {
            pid: 0,
            path: String::new(),
        });
    }
    let below = link.strip_prefix("/proc/")?;
    let (first, rest) = below.split_once('/').unwrap_or((below, ""));
    match first.parse::<i32>() {
        Ok(pid) if pid > 0 => Some(ProcPath {
            pid,
            path: rest.to_string(),
        }),
        _ => Some(ProcPath {
            pid: 0,
            path: below.to_string(),
        }),
    }
}

/// The path to open at restore time.
pub fn full_path(file: &pb::ProcFile) -> String {
    match (file.pid, file.path.as_str()) {
        (0, "") => "/proc".to_string(),
        (0, path) => format!("/proc/{path}"),
        (pid, "") => format!("/proc/{pid}"),
        (pid, path) => format!("/proc/{pid}/{path}"),
    }
}

/// The fd of its own task that a file names: `fd/<n>` and `fdinfo/<n>`, also
/// below `task/<tid>/` (threads share their fd table). Opening such a file
/// needs that fd to exist.
pub fn names_fd(path: &str) -> Option<i32> {
    let path = match path.strip_prefix("task/") {
        Some(rest) => rest.split_once('/')?.1,
        None => path,
    };
    let number = path
        .strip_prefix("fdinfo/")
        .or_else(|| path.strip_prefix("fd/"))?;
    number.parse().ok()
}

pub fn classify(link: &str) -> Support {
    if link.ends_with(" (deleted)") {
        return Support::Unsupported {
            what: format!("file {link}"),
            why: "the process this /proc file describes has exited".to_string(),
        };
    }
    match parse(link) {
        Some(_) => Support::Supported(FileKind::Proc),
        None => Support::Unsupported {
            what: format!("file {link}"),
            why: "not a /proc path".to_string(),
        },
    }
}

pub fn dump(probe: &FdProbe) -> pb::open_file::Kind {
    let parsed = parse(&probe.link).unwrap_or(ProcPath {
        pid: 0,
        path: String::new(),
    });
    pb::open_file::Kind::Proc(pb::ProcFile {
        pid: parsed.pid,
        path: parsed.path,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_task_and_other_paths() {
        let p = |pid: i32, path: &str| {
            Some(ProcPath {
                pid,
                path: path.to_string(),
            })
        };
        assert_eq!(parse("/proc/42/status"), p(42, "status"));
        assert_eq!(parse("/proc/42"), p(42, ""));
        assert_eq!(parse("/proc/42/task/43/comm"), p(42, "task/43/comm"));
        assert_eq!(
            parse("/proc/sys/kernel/pid_max"),
            p(0, "sys/kernel/pid_max")
        );
        assert_eq!(parse("/proc"), p(0, ""));
        assert_eq!(parse("/procfoo"), None);
        assert_eq!(parse("/tmp/proc/1"), None);
    }

    #[test]
    fn round_trips_paths() {
        for link in ["/proc", "/proc/meminfo", "/proc/42", "/proc/42/fdinfo/5"] {
            let parsed = parse(link).unwrap();
            let file = pb::ProcFile {
                pid: parsed.pid,
                path: parsed.path,
            };
            assert_eq!(full_path(&file), link);
        }
    }

    #[test]
    fn finds_the_fd_a_file_names() {
        assert_eq!(names_fd("fdinfo/55"), Some(55));
        assert_eq!(names_fd("fd/3"), Some(3));
        assert_eq!(names_fd("task/43/fdinfo/7"), Some(7));
        assert_eq!(names_fd("fdinfo"), None);
        assert_eq!(names_fd("status"), None);
        assert_eq!(names_fd("task/43/status"), None);
    }
}
