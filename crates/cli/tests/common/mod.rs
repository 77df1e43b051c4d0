//! Machinery of the end-to-end tests (`tests/e2e.rs`): compiling the scenario programs of
//! `tests/scenarios`, running one under the READY/go protocol, running `stasis`, and making sure
//! that nothing a test started outlives it.
//!
//! The protocol (see `tests/scenarios/scenario.h`): a scenario runs in a new session, stdin from
//! /dev/null, stdout and stderr appended to `log` in a fresh directory that is also its cwd. It
//! prints `READY` once its state is set up; the test dumps it, reaps it, restores it and says
//! "go" (see [`Go`]); the program checks its state and prints `PASS` (exit 0) or `FAIL: ...`.
//!
//! The test process makes itself a child subreaper, so a process restored by `stasis restore -d`
//! becomes its child once stasis exits, and its exit status can be collected with `waitpid`.
#![allow(dead_code)] // each test binary uses a different part of this module

use stasis::sys::syscalls;
use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, Once, OnceLock};
use std::thread::{self, sleep};
use std::time::{Duration, Instant};

/// How long a scenario may take to print READY.
pub const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// How long one `stasis` command may take.
pub const STASIS_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a process may take to exit once it has been told to (scenarios sleep up to 3 s).
pub const EXIT_TIMEOUT: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(10);

/// The `stasis` binary under test.
pub fn stasis_bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_stasis"))
}

/// Every test calls this first: checks for root and makes this process a child subreaper.
pub fn setup() {
    let euid = syscalls::effective_uid();
    assert_eq!(
        euid, 0,
        "the end-to-end tests need root: stasis uses ptrace, pidfd_getfd and clone3 with set_tid. \
         Run them as root (CI does), e.g. `sudo scripts/test`."
    );
    static SUBREAPER: Once = Once::new();
    SUBREAPER.call_once(|| {
        if let Err(err) = syscalls::prctl(libc::PR_SET_CHILD_SUBREAPER, 1) {
            panic!("prctl(PR_SET_CHILD_SUBREAPER): {err}");
        }
    });
}

// ---------------------------------------------------------------------------------------------
// Processes

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
}

impl Exit {
    fn from_std(status: ExitStatus) -> Exit {
        match (status.code(), status.signal()) {
            (Some(code), _) => Exit::Code(code),
            (None, Some(signal)) => Exit::Signal(signal),
            (None, None) => unreachable!("a process that ended has a code or a signal"),
        }
    }
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Exit::Code(code) => write!(f, "exit code {code}"),
            Exit::Signal(signal) => write!(f, "killed by signal {signal}"),
        }
    }
}

/// True while `pid` names a process, zombies included.
/// Reaps `pid` if it is (or becomes, within 2 s) a zombie child of ours.
pub fn reap_if_zombie(pid: i32) {
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        match syscalls::waitpid_which(pid, libc::WNOHANG) {
            Ok((who, _)) if who == pid => return,
            Err(_) => return,
            Ok(_) => {}
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

pub fn pid_exists(pid: i32) -> bool {
    match syscalls::kill(pid, 0) {
        Ok(()) => true,
        Err(err) => err.raw_os_error() == Some(libc::EPERM),
    }
}

fn send_signal(pid: i32, signal: i32) {
    let _ = syscalls::kill(pid, signal);
}

/// The parts of /proc/<pid>/status the tests look at.
#[derive(Debug, Clone)]
pub struct ProcStatus {
    pub name: String,
    /// The first letter of the State line: R, S, D, T (stopped), t (tracing stop), Z, X...
    pub state: char,
    pub ppid: i32,
    pub tracer: i32,
}

pub fn proc_status(pid: i32) -> Option<ProcStatus> {
    let text = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |key: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(key))
            .map(|value| value.trim().to_string())
            .unwrap_or_default()
    };
    Some(ProcStatus {
        name: field("Name:"),
        state: field("State:").chars().next().unwrap_or('?'),
        ppid: field("PPid:").parse().unwrap_or(-1),
        tracer: field("TracerPid:").parse().unwrap_or(-1),
    })
}

fn describe_process(pid: i32) -> String {
    match proc_status(pid) {
        Some(s) => format!(
            "pid {pid} ({}) is in state {}, parent {}, tracer {}",
            s.name, s.state, s.ppid, s.tracer
        ),
        None => format!("pid {pid} does not exist"),
    }
}

/// True when `pid` is a kernel thread (PF_KTHREAD in /proc/<pid>/stat).
pub fn is_kernel_thread(pid: i32) -> bool {
    const PF_KTHREAD: u64 = 0x0020_0000;
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // Fields after "(comm)": state is field 3, flags field 9.
    let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
        return false;
    };
    let flags = rest
        .split_whitespace()
        .nth(6)
        .and_then(|f| f.parse::<u64>().ok());
    flags.is_some_and(|flags| flags & PF_KTHREAD != 0)
}

/// Waits for `pid`, a child of this process (or an orphan it inherits as subreaper), to end.
pub fn wait_pid(pid: i32, timeout: Duration) -> Result<Exit, String> {
    let deadline = Instant::now() + timeout;
    loop {
        let outcome = syscalls::waitpid_which(pid, libc::WNOHANG);
        match outcome {
            Ok((who, syscalls::WaitStatus::Exited(code))) if who == pid => {
                return Ok(Exit::Code(code))
            }
            Ok((who, syscalls::WaitStatus::Signaled(sig))) if who == pid => {
                return Ok(Exit::Signal(sig))
            }
            _ => {}
        }
        if let Err(err) = outcome {
            match err.raw_os_error() {
                // Not (yet) our child: a process restored without -d belongs to stasis until
                // stasis exits. Keep waiting while it exists.
                Some(libc::ECHILD) if !pid_exists(pid) => {
                    return Err(format!(
                        "pid {pid} ended, but not as a child of the test process, so its exit \
                         status is unknown"
                    ))
                }
                Some(libc::ECHILD) => {}
                _ => return Err(format!("waitpid({pid}): {err}")),
            }
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "pid {pid} did not exit within {timeout:?}: {}",
                describe_process(pid)
            ));
        }
        sleep(POLL);
    }
}

/// SIGKILLs and reaps the process it holds when dropped. Armed only while the pid is known to be
/// a process this test started (the original) or restored, so it never hits a recycled pid.
#[derive(Default)]
struct ProcessGuard {
    pid: Option<i32>,
}

impl ProcessGuard {
    fn arm(&mut self, pid: i32) {
        self.pid = Some(pid);
    }

    fn disarm(&mut self) {
        self.pid = None;
    }

    fn is_armed(&self) -> bool {
        self.pid.is_some()
    }
}

impl Drop for ProcessGuard {
    fn drop(&mut self) {
        if let Some(pid) = self.pid.take() {
            // The scenario leads its own process group (setsid): take its whole
            // tree down, or orphaned children would run on after the test.
            send_signal(-pid, libc::SIGKILL);
            send_signal(pid, libc::SIGKILL);
            let _ = wait_pid(pid, Duration::from_secs(5));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Directories and files

/// A fresh directory under /tmp/stasis-e2e (world-searchable, so scenarios that drop privileges
/// can still reach it). Removed on drop unless the test failed, then kept and named.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let base = Path::new("/tmp/stasis-e2e");
        fs::create_dir_all(base).expect("create /tmp/stasis-e2e");
        set_mode(base, 0o755);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = base.join(format!("{name}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir(&path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
        set_mode(&path, 0o755);
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn join(&self, name: impl AsRef<Path>) -> PathBuf {
        self.path.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!("kept the test directory {}", self.path.display());
        } else {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

pub fn set_mode(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {:o} {}: {e}", mode, path.display()));
}

pub fn mode_of(path: &Path) -> u32 {
    fs::metadata(path)
        .unwrap_or_else(|e| panic!("stat {}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

/// Sum of the (apparent) sizes of the files directly in `dir`.
pub fn dir_size(dir: &Path) -> u64 {
    list_dir(dir)
        .iter()
        .map(|p| fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .sum()
}

/// The entries of `dir`, sorted.
pub fn list_dir(dir: &Path) -> Vec<PathBuf> {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("list {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    entries
}

/// The file in `dir` whose name starts with `prefix` (e.g. "pages" for pages-<pid>.img).
pub fn image_file(dir: &Path, prefix: &str) -> PathBuf {
    let entries = list_dir(dir);
    entries
        .iter()
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(prefix))
        })
        .cloned()
        .unwrap_or_else(|| {
            panic!(
                "no image file starting with {prefix:?} in {}; it holds {:?}",
                dir.display(),
                entries
                    .iter()
                    .map(|p| p.file_name().unwrap_or_default())
                    .collect::<Vec<_>>()
            )
        })
}

pub fn read_lossy(path: &Path) -> String {
    fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

pub fn path_str(path: &Path) -> &str {
    path.to_str().expect("test paths are UTF-8")
}

/// Lines of `text` equal to `line` (ignoring surrounding whitespace).
pub fn count_lines(text: &str, line: &str) -> usize {
    text.lines().filter(|l| l.trim() == line).count()
}

/// True when `text` mentions `word`: case-insensitively for words; a number must stand alone, so
/// that "pid 123" does not mention 12.
pub fn mentions(text: &str, word: &str) -> bool {
    if !word.is_empty() && word.bytes().all(|b| b.is_ascii_digit()) {
        text.match_indices(word).any(|(i, _)| {
            let before = text[..i].chars().next_back();
            let after = text[i + word.len()..].chars().next();
            !before.is_some_and(|c| c.is_ascii_digit())
                && !after.is_some_and(|c| c.is_ascii_digit())
        })
    } else {
        text.to_lowercase().contains(&word.to_lowercase())
    }
}

/// A pid that no process has right now.
pub fn unused_pid() -> i32 {
    let max: i32 = fs::read_to_string("/proc/sys/kernel/pid_max")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(32768);
    (1000..max)
        .rev()
        .find(|&pid| !pid_exists(pid))
        .expect("some pid is free")
}

// ---------------------------------------------------------------------------------------------
// Commands

/// What a finished command did.
#[derive(Debug, Clone)]
pub struct CommandOutput {
    pub label: String,
    pub pid: i32,
    pub exit: Exit,
    pub stdout: String,
    pub stderr: String,
}

impl fmt::Display for CommandOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "$ {}   (pid {}, {})", self.label, self.pid, self.exit)?;
        writeln!(f, "--- stdout ---\n{}", self.stdout.trim_end())?;
        write!(f, "--- stderr ---\n{}", self.stderr.trim_end())
    }
}

impl CommandOutput {
    pub fn assert_code(&self, code: i32) {
        assert_eq!(
            self.exit,
            Exit::Code(code),
            "expected exit code {code}\n{self}"
        );
        self.assert_no_panic();
    }

    pub fn assert_success(&self) {
        self.assert_code(0);
    }

    pub fn assert_no_panic(&self) {
        assert!(
            !self.stderr.contains("panicked") && !self.stdout.contains("panicked"),
            "stasis panicked\n{self}"
        );
    }

    /// A failure the user can act on: one of `codes` (not a crash), no panic, and a message on
    /// stderr that mentions, for every group of `mentions`, at least one word of the group.
    pub fn assert_clean_failure(&self, codes: &[i32], mentions_all: &[&[&str]]) {
        assert!(
            matches!(self.exit, Exit::Code(c) if codes.contains(&c)),
            "expected exit code {codes:?}\n{self}"
        );
        self.assert_no_panic();
        assert!(
            !self.stderr.trim().is_empty(),
            "no error message on stderr\n{self}"
        );
        for group in mentions_all {
            assert!(
                group.iter().any(|word| mentions(&self.stderr, word)),
                "the error message should mention {}\n{self}",
                group
                    .iter()
                    .map(|w| format!("{w:?}"))
                    .collect::<Vec<_>>()
                    .join(" or ")
            );
        }
    }
}

/// Runs `cmd` to completion with stdin from /dev/null and its output captured in files of
/// `out_dir`; kills it and fails the test after `timeout`.
pub fn run_command(
    mut cmd: Command,
    label: String,
    out_dir: &Path,
    timeout: Duration,
) -> CommandOutput {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let out_path = out_dir.join(format!("cmd-{n}.stdout"));
    let err_path = out_dir.join(format!("cmd-{n}.stderr"));
    let out = File::create(&out_path).expect("create stdout file");
    let err = File::create(&err_path).expect("create stderr file");
    cmd.stdin(Stdio::null()).stdout(out).stderr(err);
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start `{label}`: {e}"));
    let pid = child.id() as i32;
    let deadline = Instant::now() + timeout;
    let exit = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Exit::from_std(status),
            Ok(None) => {}
            Err(e) => panic!("waiting for `{label}`: {e}"),
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "`{label}` (pid {pid}) did not finish within {timeout:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
                read_lossy(&out_path),
                read_lossy(&err_path)
            );
        }
        sleep(POLL);
    };
    let output = CommandOutput {
        label,
        pid,
        exit,
        stdout: read_lossy(&out_path),
        stderr: read_lossy(&err_path),
    };
    let _ = fs::remove_file(&out_path);
    let _ = fs::remove_file(&err_path);
    output
}

/// Runs `stasis ARGS...`, keeping its output files in `out_dir`.
pub fn stasis(out_dir: &Path, args: &[&str]) -> CommandOutput {
    let mut cmd = Command::new(stasis_bin());
    cmd.args(args);
    run_command(
        cmd,
        format!("stasis {}", args.join(" ")),
        out_dir,
        STASIS_TIMEOUT,
    )
}

/// Like [`stasis`], with the given umask (to check that image modes do not depend on it).
pub fn stasis_with_umask(out_dir: &Path, umask: libc::mode_t, args: &[&str]) -> CommandOutput {
    let mut cmd = Command::new(stasis_bin());
    cmd.args(args);
    stasis::sys::spawn::with_umask(&mut cmd, umask);
    run_command(
        cmd,
        format!("(umask {umask:03o}) stasis {}", args.join(" ")),
        out_dir,
        STASIS_TIMEOUT,
    )
}

// ---------------------------------------------------------------------------------------------
// Scenario programs

/// Put before every Python scenario: `finish(errors)` reports like scenario.h does
/// (a FAIL line per error, or PASS) and exits accordingly.
const PYTHON_PRELUDE: &str = r#"
def finish(errors):
    import sys
    for e in errors:
        print("FAIL:", e, flush=True)
    if not errors:
        print("PASS", flush=True)
    sys.exit(1 if errors else 0)
"#;

fn scenarios_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/scenarios")
}

fn mtime(path: &Path) -> Option<std::time::SystemTime> {
    fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Compiles tests/scenarios/<source>.c (once per test run, and only when it changed, so a
/// binary that a restore maps by path keeps its inode) and returns the executable.
pub fn compile(source: &str, flags: &[&str]) -> PathBuf {
    static BUILT: Mutex<Option<HashMap<String, PathBuf>>> = Mutex::new(None);
    let key = format!("{source} {}", flags.join(" "));
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(exe) = built.get_or_insert_with(HashMap::new).get(&key) {
        return exe.clone();
    }

    let src_dir = scenarios_dir();
    let src = src_dir.join(format!("{source}.c"));
    assert!(src.exists(), "no scenario source {}", src.display());
    let out_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("scenarios");
    fs::create_dir_all(&out_dir).expect("create the scenario build directory");
    let suffix: String = flags
        .iter()
        .flat_map(|f| f.chars())
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let exe = out_dir.join(if suffix.is_empty() {
        source.to_string()
    } else {
        format!("{source}{suffix}")
    });

    let inputs_changed = [src.clone(), src_dir.join("scenario.h")]
        .iter()
        .filter_map(|p| mtime(p))
        .max();
    let up_to_date = matches!((mtime(&exe), inputs_changed), (Some(e), Some(i)) if e >= i);
    if !up_to_date {
        let tmp = out_dir.join(format!(".{source}.{}.tmp", std::process::id()));
        let output = Command::new("gcc")
            .args(["-O1", "-g", "-Wall", "-Wextra", "-o"])
            .arg(&tmp)
            .arg(&src)
            .args(flags)
            .output()
            .unwrap_or_else(|e| {
                panic!("cannot run gcc ({e}); the end-to-end tests compile tests/scenarios/*.c: install gcc")
            });
        assert!(
            output.status.success(),
            "gcc failed on {}:\n{}",
            src.display(),
            String::from_utf8_lossy(&output.stderr)
        );
        fs::rename(&tmp, &exe).expect("move the compiled scenario into place");
    }
    built
        .get_or_insert_with(HashMap::new)
        .insert(key, exe.clone());
    exe
}

/// The real python3 executable (not a pyenv shim script), found once.
pub fn python3() -> &'static Path {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| {
        let out = Command::new("python3")
            .args(["-c", "import sys; print(sys.executable)"])
            .output()
            .unwrap_or_else(|e| panic!("cannot run python3 ({e}); the end-to-end tests need it"));
        assert!(
            out.status.success(),
            "python3 failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
    })
}

/// Compiles `source`, the Java source of public class `class`, into `dir` (`dir/<class>.class`).
pub fn compile_java(dir: &Path, class: &str, source: &str) {
    let java = dir.join(format!("{class}.java"));
    fs::write(&java, source).unwrap_or_else(|e| panic!("write {}: {e}", java.display()));
    let output = Command::new("javac")
        .arg("-d")
        .arg(dir)
        .arg(&java)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run javac ({e}); the Java tests need a JDK: install default-jdk-headless"
            )
        });
    assert!(
        output.status.success(),
        "javac failed on {}:\n{}",
        java.display(),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// How the harness tells a restored scenario to check its state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Go {
    /// Create the file `go` in the scenario's directory (the program polls for it).
    File,
    /// Send this signal; for programs that must not leave a blocking call or an asm loop.
    Signal(i32),
    /// Nothing: the program's blocking call ends by itself (e.g. a 3 s sleep).
    Nothing,
}

#[derive(Debug, Clone)]
enum Program {
    C {
        source: &'static str,
        flags: Vec<&'static str>,
    },
    Python {
        script: &'static str,
    },
    /// Compiled with `javac` into the scenario's directory when it starts, run with `java`.
    Java {
        class: &'static str,
        source: &'static str,
        jvm_flags: Vec<&'static str>,
    },
}

/// A program under test and what the harness expects of it.
#[derive(Debug, Clone)]
pub struct Scenario {
    name: String,
    program: Program,
    args: Vec<String>,
    go: Go,
    exit_code: i32,
    blocked_in: Option<i64>,
}

impl Scenario {
    /// tests/scenarios/<source>.c; by default "go" is the file `go` and the expected exit code 0.
    pub fn c(source: &'static str) -> Scenario {
        Scenario {
            name: source.to_string(),
            program: Program::C {
                source,
                flags: Vec::new(),
            },
            args: Vec::new(),
            go: Go::File,
            exit_code: 0,
            blocked_in: None,
        }
    }

    /// A Python program given as source text, run with `python3 -I -c`.
    pub fn python(name: &str, script: &'static str) -> Scenario {
        Scenario {
            name: name.to_string(),
            program: Program::Python { script },
            args: Vec::new(),
            go: Go::File,
            exit_code: 0,
            blocked_in: None,
        }
    }

    /// A Java program given as the source text of public class `class` (in the default
    /// package). It is compiled with `javac` into the scenario's directory when the scenario
    /// starts, then run with `java -cp <that directory> EXTRA... class`.
    pub fn java(class: &'static str, source: &'static str, jvm_flags: &[&'static str]) -> Scenario {
        Scenario {
            name: class.to_string(),
            program: Program::Java {
                class,
                source,
                jvm_flags: jvm_flags.to_vec(),
            },
            args: Vec::new(),
            go: Go::File,
            exit_code: 0,
            blocked_in: None,
        }
    }

    /// Extra gcc flags.
    pub fn flags(mut self, extra: &[&'static str]) -> Scenario {
        if let Program::C { flags, .. } = &mut self.program {
            flags.extend_from_slice(extra);
        }
        self
    }

    pub fn arg(mut self, arg: &str) -> Scenario {
        self.name = format!("{}-{arg}", self.name);
        self.args.push(arg.to_string());
        self
    }

    pub fn go(mut self, go: Go) -> Scenario {
        self.go = go;
        self
    }

    pub fn exit_code(mut self, code: i32) -> Scenario {
        self.exit_code = code;
        self
    }

    /// After READY, wait until the program is blocked in syscall `nr` (per /proc/<pid>/syscall)
    /// before anything else happens, so that the dump surely catches it inside the call.
    pub fn blocked_in(mut self, nr: libc::c_long) -> Scenario {
        self.blocked_in = Some(nr);
        self
    }

    /// Compiles if needed, starts the program and waits for READY.
    pub fn start(&self) -> Run {
        Run::start(self.clone())
    }

    /// The whole cycle: start, dump, reap, restore detached (same pid), go, expect PASS.
    pub fn check(&self) -> Run {
        let mut run = self.start();
        run.dump_ok(&[]);
        run.reap_dumped();
        run.restore_detached();
        run.trigger_go();
        run.expect_success();
        run
    }
}

/// One running scenario and everything the test did with it. On a failed test, dropping it prints
/// the scenario's log and every stasis command with its output, and keeps the directory.
pub struct Run {
    pub scenario: Scenario,
    pub pid: i32,
    commands: RefCell<Vec<CommandOutput>>,
    // Field order matters: the guard kills leftovers before the directory goes.
    guard: ProcessGuard,
    pub dir: TempDir,
}

impl Run {
    fn start(scenario: Scenario) -> Run {
        setup();
        let dir = TempDir::new(&scenario.name);
        let mut cmd = match &scenario.program {
            Program::C { source, flags } => Command::new(compile(source, flags)),
            Program::Python { script } => {
                let mut cmd = Command::new(python3());
                cmd.args(["-I", "-c", &format!("{PYTHON_PRELUDE}{script}")]);
                cmd
            }
            Program::Java {
                class,
                source,
                jvm_flags,
            } => {
                compile_java(dir.path(), class, source);
                let mut cmd = Command::new("java");
                cmd.arg("-cp").arg(dir.path()).args(jvm_flags).arg(class);
                cmd
            }
        };
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o644)
            .open(dir.join("log"))
            .expect("create the scenario log");
        cmd.args(&scenario.args)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            // One open file description for both, as with `>>log 2>&1`.
            .stdout(log.try_clone().expect("dup the log fd"))
            .stderr(log);
        // Like `setsid prog`; whatever the test runner inherited (a jobserver pipe, a shell's
        // fds) must not reach the scenario: a pipe would make the dump refuse it.
        stasis::sys::spawn::in_new_session(&mut cmd);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start scenario {}: {e}", scenario.name));
        let pid = child.id() as i32;
        // The child is reaped with waitpid by pid; the std handle is not needed any more.
        drop(child);
        let mut guard = ProcessGuard::default();
        guard.arm(pid);
        let run = Run {
            scenario,
            pid,
            commands: RefCell::new(Vec::new()),
            guard,
            dir,
        };
        run.wait_for_log("READY", READY_TIMEOUT, |log| count_lines(log, "READY") >= 1);
        if let Some(nr) = run.scenario.blocked_in {
            run.wait_until_blocked_in(nr);
        }
        run
    }

    /// Waits until the process sleeps inside syscall `nr`.
    fn wait_until_blocked_in(&self, nr: i64) {
        let path = format!("/proc/{}/syscall", self.pid);
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let text = read_lossy(Path::new(&path));
            if text
                .split_whitespace()
                .next()
                .and_then(|n| n.parse::<i64>().ok())
                == Some(nr)
            {
                return;
            }
            if Instant::now() >= deadline {
                panic!(
                    "pid {} is not blocked in syscall {nr}: {path} says {:?}",
                    self.pid,
                    text.trim()
                );
            }
            sleep(POLL);
        }
    }

    pub fn log(&self) -> String {
        read_lossy(&self.dir.join("log"))
    }

    /// The dump directory (created by `stasis dump`).
    pub fn images(&self) -> PathBuf {
        self.dir.join("images")
    }

    pub fn pidfile(&self) -> PathBuf {
        self.dir.join("restore.pid")
    }

    /// Waits until `ready(log)` holds; fails early if the process has ended.
    pub fn wait_for_log(&self, what: &str, timeout: Duration, ready: impl Fn(&str) -> bool) {
        let deadline = Instant::now() + timeout;
        loop {
            if ready(&self.log()) {
                return;
            }
            let ended = match proc_status(self.pid) {
                None => true,
                Some(status) => matches!(status.state, 'Z' | 'X'),
            };
            if ended {
                panic!("pid {} ended while the test waited for {what}", self.pid);
            }
            if Instant::now() >= deadline {
                panic!(
                    "no {what} within {timeout:?}: {}",
                    describe_process(self.pid)
                );
            }
            sleep(POLL);
        }
    }

    /// Runs stasis and records the command for the failure report.
    pub fn stasis(&self, args: &[&str]) -> CommandOutput {
        let output = stasis(self.dir.path(), args);
        self.commands.borrow_mut().push(output.clone());
        output
    }

    pub fn stasis_with_umask(&self, umask: libc::mode_t, args: &[&str]) -> CommandOutput {
        let output = stasis_with_umask(self.dir.path(), umask, args);
        self.commands.borrow_mut().push(output.clone());
        output
    }

    fn dump_args(&self, images: &Path, extra: &[&str]) -> Vec<String> {
        let mut args: Vec<String> = [
            "dump",
            "-t",
            &self.pid.to_string(),
            "-D",
            path_str(images),
            "-v",
            "-o",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.push(path_str(&self.dir.join("dump.log")).to_string());
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    }

    /// `stasis dump -t PID -D <dir>/images -v -o <dir>/dump.log EXTRA...`
    pub fn dump(&self, extra: &[&str]) -> CommandOutput {
        self.dump_to(&self.images(), extra)
    }

    pub fn dump_to(&self, images: &Path, extra: &[&str]) -> CommandOutput {
        let args = self.dump_args(images, extra);
        self.stasis(&args.iter().map(String::as_str).collect::<Vec<_>>())
    }

    /// A dump that must succeed and leave a complete image (inventory.img is written last).
    pub fn dump_ok(&self, extra: &[&str]) -> CommandOutput {
        let output = self.dump(extra);
        output.assert_success();
        let inventory = self.images().join("inventory.img");
        assert!(
            inventory.exists(),
            "dump succeeded but wrote no {}\n{output}",
            inventory.display()
        );
        output
    }

    /// Reaps the original after a dump without --leave-running: it must have been SIGKILLed, and
    /// its pid must be free afterwards.
    /// The dump must be refused (exit 3) with a message holding each group of
    /// `mentions`; the process must run on unchanged, with no finished image left.
    pub fn expect_refused(&mut self, mentions: &[&[&str]]) {
        let output = self.dump(&[]);
        output.assert_clean_failure(&[3], mentions);
        self.assert_running_unchanged();
        assert!(
            !self.images().join("inventory.img").exists(),
            "a refused dump must not leave a complete image behind"
        );
    }

    pub fn reap_dumped(&mut self) {
        let exit =
            wait_pid(self.pid, EXIT_TIMEOUT).unwrap_or_else(|e| panic!("after the dump: {e}"));
        self.guard.disarm();
        assert_eq!(
            exit,
            Exit::Signal(libc::SIGKILL),
            "the dump should have killed pid {}",
            self.pid
        );
        assert!(
            !pid_exists(self.pid),
            "pid {} still exists after being reaped",
            self.pid
        );
        // The rest of a dumped tree is orphaned when its root dies: as child
        // subreaper, this test process inherits the zombies and must reap them
        // (init would), or their pids stay taken.
        for pid in self.dumped_pids() {
            if pid != self.pid {
                reap_if_zombie(pid);
            }
        }
    }

    /// The pids of every process in the dump (from the task-<pid>.img names).
    pub fn dumped_pids(&self) -> Vec<i32> {
        list_dir(&self.images())
            .iter()
            .filter_map(|p| p.file_name()?.to_str().map(str::to_string))
            .filter_map(|n| n.strip_prefix("task-")?.strip_suffix(".img")?.parse().ok())
            .collect()
    }

    /// Kills and reaps the process holding the pid (after a dump with --leave-running).
    pub fn kill_and_reap(&mut self) {
        send_signal(self.pid, libc::SIGKILL);
        let exit = wait_pid(self.pid, EXIT_TIMEOUT)
            .unwrap_or_else(|e| panic!("killing the original: {e}"));
        self.guard.disarm();
        assert_eq!(exit, Exit::Signal(libc::SIGKILL));
        assert!(
            !pid_exists(self.pid),
            "pid {} still exists after being reaped",
            self.pid
        );
    }

    /// `stasis restore -D <dir>/images --pidfile <dir>/restore.pid EXTRA...`. Whatever process
    /// holds the pid afterwards (when it was free before) is this restore's and gets cleaned up.
    pub fn restore(&mut self, extra: &[&str]) -> CommandOutput {
        let images = self.images();
        let pidfile = self.pidfile();
        let mut args = vec![
            "restore",
            "-D",
            path_str(&images),
            "--pidfile",
            path_str(&pidfile),
        ];
        args.extend_from_slice(extra);
        let output = self.stasis(&args);
        if !self.guard.is_armed() && pid_exists(self.pid) {
            self.guard.arm(self.pid);
        }
        output
    }

    /// `restore -d`: must succeed, recreate the original pid (and say so in the pidfile) and
    /// leave the process running on its own, neither stopped nor traced.
    pub fn restore_detached(&mut self) -> CommandOutput {
        let output = self.restore(&["-d"]);
        output.assert_success();
        let pidfile = read_lossy(&self.pidfile());
        assert_eq!(
            pidfile.trim(),
            self.pid.to_string(),
            "the pidfile {} should hold the original pid\n{output}",
            self.pidfile().display()
        );
        assert!(
            self.guard.is_armed(),
            "restore -d succeeded but pid {} does not exist\n{output}",
            self.pid
        );
        self.assert_running_unchanged();
        output
    }

    /// The process holding the pid runs: it exists, is not a zombie, not stopped, not traced.
    pub fn assert_running_unchanged(&self) {
        let status =
            proc_status(self.pid).unwrap_or_else(|| panic!("pid {} does not exist", self.pid));
        assert!(
            !matches!(status.state, 'T' | 't' | 'Z' | 'X'),
            "pid {} should be running but is in state {}",
            self.pid,
            status.state
        );
        assert_eq!(
            status.tracer, 0,
            "pid {} is still traced by pid {}",
            self.pid, status.tracer
        );
    }

    pub fn trigger_go(&self) {
        match self.scenario.go {
            Go::File => {
                File::create(self.dir.join("go")).expect("create the go file");
            }
            Go::Signal(signal) => send_signal(self.pid, signal),
            Go::Nothing => {}
        }
    }

    /// Waits for the process holding the pid to end and reaps it.
    pub fn wait_exit(&mut self) -> Exit {
        let exit = wait_pid(self.pid, EXIT_TIMEOUT).unwrap_or_else(|e| panic!("{e}"));
        self.guard.disarm();
        exit
    }

    /// The process ends with the scenario's exit code; with 0 its log says PASS and no FAIL, and
    /// READY appears only once (a restored process continues, it does not start over).
    pub fn expect_success(&mut self) {
        let exit = self.wait_exit();
        let log = self.log();
        assert_eq!(
            exit,
            Exit::Code(self.scenario.exit_code),
            "scenario {} ended badly",
            self.scenario.name
        );
        if self.scenario.exit_code == 0 {
            assert!(
                count_lines(&log, "PASS") == 1,
                "scenario {} did not print PASS",
                self.scenario.name
            );
            assert!(
                !log.lines().any(|l| l.starts_with("FAIL")),
                "scenario {} printed FAIL",
                self.scenario.name
            );
        }
        assert_eq!(
            count_lines(&log, "READY"),
            1,
            "READY should appear exactly once in the log"
        );
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        if !thread::panicking() {
            return;
        }
        eprintln!(
            "===== scenario {} (pid {}) =====",
            self.scenario.name, self.pid
        );
        eprintln!("--- log ---\n{}", self.log().trim_end());
        for output in self.commands.borrow().iter() {
            eprintln!("{output}");
        }
        let dump_log = self.dir.join("dump.log");
        if dump_log.exists() {
            eprintln!(
                "--- dump.log (-o) ---\n{}",
                read_lossy(&dump_log).trim_end()
            );
        }
        if self.images().is_dir() {
            let files: Vec<String> = list_dir(&self.images())
                .iter()
                .map(|p| {
                    let size = fs::metadata(p).map(|m| m.len()).unwrap_or(0);
                    format!(
                        "{} ({size} bytes)",
                        p.file_name().unwrap_or_default().to_string_lossy()
                    )
                })
                .collect();
            eprintln!("--- images ---\n{}", files.join("\n"));
        }
        if pid_exists(self.pid) {
            eprintln!("--- at the end: {} ---", describe_process(self.pid));
        }
    }
}
