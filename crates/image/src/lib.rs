//! stasis-image: the on-disk format of a stasis dump. Schemas (pb), the frame around each
//! metadata image, file names, writing a dump directory, and loading one back verified.
//! No libc, no ptrace: this crate builds and tests anywhere.

mod checksum;
mod error;
mod frame;
mod hex;
mod load;
mod names;
pub mod pb;
mod show;
mod verify;
mod writer;

pub use error::ImageError;
pub use frame::{
    decode_image, encode_image, FrameError, ImageKind, RawKind, FORMAT_VERSION, MAGIC,
};
pub use load::{LoadedDump, LoadedTask, PendingChecksums};
pub use names::{
    deleted_content_image_name, fd_table_image_name, files_image_name, inventory_name,
    memfd_content_image_name, mm_image_name, pages_image_name, sysv_shm_content_image_name,
    task_image_name,
};
pub use show::show;
pub use verify::{Inconsistency, SIGINFO_SIZE, SIGNAL_COUNT};
pub use writer::ImageWriter;

#[cfg(test)]
mod tests;
