//! Errors of the restore pipeline. Each names the task and the step; when one is
//! returned, no half-restored process is left behind.

use std::path::PathBuf;

use stasis_image::ImageError;

#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error(transparent)]
    Image(#[from] ImageError),

    #[error("cannot plan the restore: {0}")]
    Plan(#[from] super::plan::PlanError),

    #[error("pid {pid} is in use by a running process ({holder}); stop that process, or restore on a machine where pid {pid} is free")]
    PidTaken { pid: i32, holder: String },

    #[error("the image was made on an incompatible system: {what}")]
    Incompatible { what: String },

    #[error("pid {pid} ({comm}): {what} {path}: {source}; the file must exist at the same path as when the dump was taken")]
    MissingFile {
        pid: i32,
        comm: String,
        what: String,
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("pid {pid} ({comm}) fd {fd}: {path}: {what}; the process would work on a file it never opened. Put the original file back, or restore with --allow-changed-files to use the file that is there now")]
    ChangedFile {
        pid: i32,
        comm: String,
        fd: i32,
        path: PathBuf,
        what: String,
    },

    #[error("pid {pid} ({comm}): cannot create the process: {source}")]
    Spawn {
        pid: i32,
        comm: String,
        source: std::io::Error,
    },

    #[error("pid {pid} ({comm}): {step}: {source}")]
    Step {
        pid: i32,
        comm: String,
        step: String,
        source: std::io::Error,
    },

    #[error("{message}")]
    Helper { message: String },

    #[error("cannot write pid file {path}: {source}")]
    PidFile {
        path: PathBuf,
        source: std::io::Error,
    },
}
