//! The `stasis` command: argument parsing, logging, output and exit codes.
//! All the work is done by the `stasis` library crate.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit codes, documented in the README.
mod exit {
    pub const FAILED: u8 = 1;
    pub const UNSUPPORTED: u8 = 3;
    /// `check` could not look at the tree (no such process, no permission).
    pub const CHECK_ERROR: u8 = 2;
}

#[derive(Parser)]
#[command(
    name = "stasis",
    version,
    about = "Checkpoint a running Linux process into a directory of images, and restore it later with the same PID.",
    after_help = "Examples:\n  stasis dump -t 4121 -D /tmp/ckpt        save process 4121 and stop it\n  stasis restore -D /tmp/ckpt -d          bring it back, in the background\n  stasis show /tmp/ckpt                   print the images as JSON\n\nExit codes: 0 success, 1 failure, 2 bad usage, 3 the process holds something stasis cannot checkpoint.\nstasis needs root (CAP_CHECKPOINT_RESTORE and CAP_SYS_PTRACE)."
)]
struct Cli {
    /// More log output on stderr (-v: info, -vv: debug, -vvv: trace).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,

    /// Write the log to this file instead of stderr.
    #[arg(short = 'o', long = "log-file", global = true, value_name = "LOGFILE")]
    log_file: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Freeze a process, save its state into DIR, then stop it (or let it run on).
    Dump {
        /// The process to checkpoint.
        #[arg(short = 't', long = "tree", value_name = "PID")]
        pid: i32,
        /// Directory for the images (created with mode 0700 if missing).
        #[arg(short = 'D', long = "images-dir", value_name = "DIR")]
        dir: PathBuf,
        /// Let the process run on after the dump instead of killing it.
        #[arg(short = 'R', long)]
        leave_running: bool,
        /// Overwrite a finished dump already in DIR.
        #[arg(long)]
        force: bool,
        /// Print timing and page statistics at the end.
        #[arg(long)]
        display_stats: bool,
    },
    /// Bring a process back from the images in DIR, with its original PID.
    Restore {
        /// Directory holding a finished dump.
        #[arg(short = 'D', long = "images-dir", value_name = "DIR")]
        dir: PathBuf,
        /// Return as soon as the process runs, instead of waiting for it to exit.
        #[arg(short = 'd', long = "restore-detached")]
        detach: bool,
        /// Write the restored process's PID to this file.
        #[arg(long, value_name = "FILE")]
        pidfile: Option<PathBuf>,
        /// Print timing statistics at the end.
        #[arg(long)]
        display_stats: bool,
        /// Restore even if a regular file the process had open is not the same file any
        /// more: another file now at its path (different inode or device), or, for a file
        /// opened read-only, different size or modification time. Without it restore refuses.
        #[arg(long)]
        allow_changed_files: bool,
        /// Print the restore plan (every step, in order, with what it waits
        /// for) and exit without restoring anything.
        #[arg(long)]
        plan: bool,
        /// Output of --plan: "text" (numbered steps) or "dot" (a Graphviz graph).
        #[arg(long, value_enum, default_value = "text", requires = "plan")]
        format: PlanFormat,
    },
    /// Say whether the tree of PID can be checkpointed, item by item (every task, fd and
    /// mapping), without stopping it. Exit 0 if it can, 1 if not, 2 on error.
    Check {
        /// Root of the process tree.
        #[arg(short = 't', long = "tree", value_name = "PID")]
        pid: i32,
        /// Print the report as JSON (schema in the README).
        #[arg(long)]
        json: bool,
    },
    /// Print every image of a dump directory (or one image file) as JSON.
    Show {
        /// A dump directory or a single .img file.
        path: PathBuf,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum PlanFormat {
    Text,
    Dot,
}

fn init_logging(verbose: u8, log_file: Option<&PathBuf>) -> anyhow::Result<()> {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("STASIS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    match log_file {
        Some(path) => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| anyhow::anyhow!("cannot open log file {}: {e}", path.display()))?;
            builder
                .with_ansi(false)
                .with_writer(std::sync::Mutex::new(file))
                .init();
        }
        None => builder.with_writer(std::io::stderr).init(),
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(err) = init_logging(cli.verbose, cli.log_file.as_ref()) {
        eprintln!("stasis: {err}");
        return ExitCode::from(exit::FAILED);
    }
    let logging_to_file = cli.log_file.is_some();
    match run(cli.command) {
        Ok(code) => code,
        Err(Failure { code, message }) => {
            if logging_to_file {
                tracing::error!("{message}");
            }
            eprintln!("stasis: {message}");
            ExitCode::from(code)
        }
    }
}

struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    fn new(code: u8, message: impl std::fmt::Display) -> Self {
        Failure {
            code,
            message: message.to_string(),
        }
    }
}

fn run(command: Command) -> Result<ExitCode, Failure> {
    match command {
        Command::Dump {
            pid,
            dir,
            leave_running,
            force,
            display_stats,
        } => {
            let opts = stasis::dump::DumpOptions {
                pid,
                dir: dir.clone(),
                leave_running,
                force,
            };
            let summary = stasis::dump::dump(&opts).map_err(|err| {
                if err.is_unsupported() {
                    Failure::new(
                        exit::UNSUPPORTED,
                        format!(
                            "cannot checkpoint pid {pid}; nothing was changed, the process runs on:\n{err}"
                        ),
                    )
                } else {
                    Failure::new(exit::FAILED, format!("dump of pid {pid} failed; the process runs on as before: {err}"))
                }
            })?;
            tracing::info!(
                pid = summary.pid,
                comm = %summary.comm,
                bytes = summary.pages_bytes,
                "dump finished in {}",
                dir.display()
            );
            if display_stats {
                print_dump_stats(&summary);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Restore {
            dir,
            detach,
            pidfile,
            display_stats,
            plan,
            format,
            allow_changed_files,
        } => {
            if plan {
                let planned = stasis::restore::plan_only(&dir).map_err(|err| {
                    Failure::new(
                        exit::FAILED,
                        format!("cannot plan a restore from {}: {err}", dir.display()),
                    )
                })?;
                match format {
                    PlanFormat::Text => print!("{}", planned.plan.to_text()),
                    PlanFormat::Dot => print!("{}", planned.plan.to_dot()),
                }
                if display_stats {
                    eprintln!(
                        "plan of {} steps: images loaded and verified in {:.3} ms, planned in {:.3} ms",
                        planned.plan.steps.len(),
                        planned.load_time.as_secs_f64() * 1e3,
                        planned.plan_time.as_secs_f64() * 1e3
                    );
                }
                return Ok(ExitCode::SUCCESS);
            }
            let opts = stasis::restore::RestoreOptions {
                dir: dir.clone(),
                detach,
                pidfile,
                allow_changed_files,
            };
            let restored = stasis::restore::restore(&opts).map_err(|err| {
                Failure::new(
                    exit::FAILED,
                    format!(
                        "restore from {} failed; no process was left behind: {err}",
                        dir.display()
                    ),
                )
            })?;
            tracing::info!(pid = restored.pid, comm = %restored.comm, "restored");
            if display_stats {
                eprintln!(
                    "restored pid {} ({}) in {:.3} s",
                    restored.pid,
                    restored.comm,
                    restored.elapsed.as_secs_f64()
                );
            }
            if detach {
                return Ok(ExitCode::SUCCESS);
            }
            // Like the original program in a shell: wait, and pass its status on.
            match stasis::sys::syscalls::waitpid(restored.pid, 0) {
                Ok(stasis::sys::syscalls::WaitStatus::Exited(code)) => {
                    Ok(ExitCode::from(code as u8))
                }
                Ok(stasis::sys::syscalls::WaitStatus::Signaled(sig)) => {
                    Ok(ExitCode::from(128 + sig as u8))
                }
                Ok(other) => Err(Failure::new(
                    exit::FAILED,
                    format!("unexpected wait status {other:?}"),
                )),
                Err(err) => Err(Failure::new(
                    exit::FAILED,
                    format!("waiting for pid {}: {err}", restored.pid),
                )),
            }
        }
        Command::Check { pid, json } => {
            let report = stasis::check::check_tree(pid).map_err(|err| {
                Failure::new(exit::CHECK_ERROR, format!("cannot check pid {pid}: {err}"))
            })?;
            if json {
                println!("{}", check_json(&report));
            } else {
                print_check(&report);
            }
            Ok(if report.checkpointable() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(exit::FAILED)
            })
        }
        Command::Show { path } => {
            let value = stasis_image::show(&path).map_err(|err| Failure::new(exit::FAILED, err))?;
            let text = serde_json::to_string_pretty(&value)
                .map_err(|err| Failure::new(exit::FAILED, err))?;
            println!("{text}");
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn print_check(report: &stasis::check::CheckReport) {
    for task in &report.tasks {
        if task.zombie {
            println!(
                "pid {} ({}): zombie, saved with its exit status",
                task.pid, task.comm
            );
            continue;
        }
        println!("pid {} ({}):", task.pid, task.comm);
        for item in &task.items {
            let verdict = if item.supported { "ok" } else { "NO" };
            println!(
                "  {verdict:<2}  {:<28} {}: {}",
                item.location, item.what, item.why
            );
        }
    }
    if report.checkpointable() {
        println!(
            "pid {}: the tree of {} process(es) can be checkpointed",
            report.root,
            report.tasks.len()
        );
    } else {
        println!(
            "pid {}: the tree cannot be checkpointed ({} problem(s)):",
            report.root,
            report.blockers.len()
        );
        for blocker in &report.blockers {
            println!("  {blocker}");
        }
    }
}

fn check_json(report: &stasis::check::CheckReport) -> String {
    let tasks: Vec<serde_json::Value> = report
        .tasks
        .iter()
        .map(|t| {
            serde_json::json!({
                "pid": t.pid,
                "comm": t.comm,
                "zombie": t.zombie,
                "items": t.items.iter().map(|i| serde_json::json!({
                    "location": i.location,
                    "what": i.what,
                    "supported": i.supported,
                    "why": i.why,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let blockers: Vec<serde_json::Value> = report
        .blockers
        .iter()
        .map(|b| {
            serde_json::json!({
                "pid": b.pid,
                "comm": b.comm,
                "location": b.location,
                "what": b.what,
                "why": b.why,
            })
        })
        .collect();
    serde_json::to_string_pretty(&serde_json::json!({
        "root": report.root,
        "checkpointable": report.checkpointable(),
        "tasks": tasks,
        "blockers": blockers,
    }))
    .unwrap_or_default()
}

fn print_dump_stats(summary: &stasis::dump::DumpSummary) {
    let s = &summary.stats;
    let ms = |us: u64| us as f64 / 1000.0;
    eprintln!("dump of pid {} ({}):", summary.pid, summary.comm);
    eprintln!("  freezing time      {:10.3} ms", ms(s.freezing_time_us));
    eprintln!("  frozen time        {:10.3} ms", ms(s.frozen_time_us));
    eprintln!("  memory scan time   {:10.3} ms", ms(s.memory_dump_time_us));
    eprintln!(
        "  memory write time  {:10.3} ms",
        ms(s.memory_write_time_us)
    );
    eprintln!("  total time         {:10.3} ms", ms(s.total_time_us));
    eprintln!("  pages scanned      {:10}", s.pages_scanned);
    eprintln!("  pages written      {:10}", s.pages_written);
    eprintln!("  pages skipped      {:10}", s.pages_skipped);
}
