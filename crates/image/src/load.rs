//! LoadedDump: reads a whole dump directory and verifies it (sizes and checksums from the
//! inventory, frames, then cross-references in verify.rs) so restore starts only from a
//! dump known to be complete and consistent.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use crate::checksum::size_and_crc32c;
use crate::error::ImageError;
use crate::frame::{decode_image, ImageKind};
use crate::names::{
    fd_table_image_name, files_image_name, inventory_name, mm_image_name, pages_image_name,
    task_image_name,
};
use crate::pb;
use crate::verify::{self, Inconsistency};

/// A whole dump, loaded and verified, before restore touches the system.
#[derive(Debug)]
pub struct LoadedDump {
    pub dir: PathBuf,
    pub inventory: pb::Inventory,
    /// In inventory order (root first).
    pub tasks: Vec<LoadedTask>,
    pub files: pb::FilesImage,
}

#[derive(Debug)]
pub struct LoadedTask {
    pub task: pb::TaskImage,
    pub mm: pb::MmImage,
    pub fds: pb::FdTableImage,
    /// pages-<pid>.img, already checked against its size and crc32c.
    pub pages_path: PathBuf,
}

impl LoadedDump {
    /// Loads and verifies every image of the dump in `dir`; see verify.rs for what is
    /// cross-checked. Every error names the image file and the offending item.
    pub fn load(dir: &Path) -> Result<LoadedDump, ImageError> {
        let (dump, pending) = Self::load_deferring_raw_checksums(dir)?;
        pending.verify()?;
        Ok(dump)
    }

    /// Like [`LoadedDump::load`], but the checksums of the raw files (the page
    /// images, which can be gigabytes) are left to the returned
    /// [`PendingChecksums`], so that the caller can verify them while it does
    /// other work. Their sizes are checked here.
    pub fn load_deferring_raw_checksums(
        dir: &Path,
    ) -> Result<(LoadedDump, PendingChecksums), ImageError> {
        check_is_dir(dir)?;
        let inventory = read_inventory(dir)?;
        let inventory_path = dir.join(inventory_name());
        verify::check_inventory(&inventory).map_err(inconsistent(&inventory_path))?;

        let listed: HashMap<&str, &pb::ImageFileEntry> = inventory
            .images
            .iter()
            .map(|entry| (entry.name.as_str(), entry))
            .collect();
        let lookup = |name: &str, pid: i32| {
            listed
                .get(name)
                .copied()
                .ok_or_else(|| ImageError::Inconsistent {
                    path: inventory_path.clone(),
                    problem: Inconsistency::MissingTaskImage {
                        pid,
                        name: name.into(),
                    },
                })
        };

        // Which files are framed metadata (read whole) and which are raw (streamed).
        let mut metadata = HashSet::new();
        for task in &inventory.tasks {
            for name in [
                task_image_name(task.pid),
                mm_image_name(task.pid),
                fd_table_image_name(task.pid),
            ] {
                lookup(&name, task.pid)?;
                metadata.insert(name);
            }
            lookup(&pages_image_name(task.pid), task.pid)?;
        }
        if !listed.contains_key(files_image_name()) {
            return Err(ImageError::Inconsistent {
                path: inventory_path.clone(),
                problem: Inconsistency::MissingFilesImage,
            });
        }
        metadata.insert(files_image_name().to_string());

        let mut contents: HashMap<&str, Vec<u8>> = HashMap::new();
        let mut pending = PendingChecksums { raw: Vec::new() };
        for entry in &inventory.images {
            if metadata.contains(&entry.name) {
                contents.insert(&entry.name, read_listed(dir, entry)?);
            } else {
                check_listed_raw_size(dir, entry)?;
                pending.raw.push((dir.to_path_buf(), entry.clone()));
            }
        }
        let files: pb::FilesImage =
            decode_listed(dir, &contents, ImageKind::Files, files_image_name())?;
        let file_ids =
            verify::check_files(&files).map_err(inconsistent(&dir.join(files_image_name())))?;
        verify::check_content_images(&files, |name| listed.get(name).map(|entry| entry.size))
            .map_err(inconsistent(&dir.join(files_image_name())))?;
        // Contents of deleted files and memfds are checksummed now, not while the
        // tasks are built like page images: they are written into new files
        // before any task exists to verify them against, and are usually small.
        let content_names: HashSet<&str> = files
            .deleted_files
            .iter()
            .map(|d| d.content_image.as_str())
            .chain(files.memfds.iter().map(|m| m.content_image.as_str()))
            .chain(files.sysv_shms.iter().map(|s| s.content_image.as_str()))
            .collect();
        let mut deferred = Vec::with_capacity(pending.raw.len());
        for (raw_dir, entry) in pending.raw.drain(..) {
            if content_names.contains(entry.name.as_str()) {
                check_listed_raw(&raw_dir, &entry)?;
            } else {
                deferred.push((raw_dir, entry));
            }
        }
        pending.raw = deferred;

        let page_size = inventory.page_size;
        let mut tasks = Vec::with_capacity(inventory.tasks.len());
        for entry in &inventory.tasks {
            let pid = entry.pid;
            let (task_name, mm_name, fds_name, pages_name) = (
                task_image_name(pid),
                mm_image_name(pid),
                fd_table_image_name(pid),
                pages_image_name(pid),
            );
            let task: pb::TaskImage = decode_listed(dir, &contents, ImageKind::Task, &task_name)?;
            let mm: pb::MmImage = decode_listed(dir, &contents, ImageKind::Mm, &mm_name)?;
            let fds: pb::FdTableImage =
                decode_listed(dir, &contents, ImageKind::FdTable, &fds_name)?;
            verify::check_task(entry, &task).map_err(inconsistent(&dir.join(&task_name)))?;
            let pages_size = lookup(&pages_name, pid)?.size;
            verify::check_mm(pid, &mm, page_size, &pages_name, pages_size)
                .map_err(inconsistent(&dir.join(&mm_name)))?;
            verify::check_fd_table(pid, &fds, &file_ids)
                .map_err(inconsistent(&dir.join(&fds_name)))?;
            tasks.push(LoadedTask {
                task,
                mm,
                fds,
                pages_path: dir.join(pages_name),
            });
        }

        Ok((
            LoadedDump {
                dir: dir.into(),
                inventory,
                tasks,
                files,
            },
            pending,
        ))
    }
}

/// Checksums of raw image files still to be verified (see
/// [`LoadedDump::load_deferring_raw_checksums`]).
#[derive(Debug)]
pub struct PendingChecksums {
    raw: Vec<(PathBuf, pb::ImageFileEntry)>,
}

impl PendingChecksums {
    /// Reads every raw file and compares its crc32c with the inventory's.
    pub fn verify(self) -> Result<(), ImageError> {
        for (dir, entry) in &self.raw {
            check_listed_raw(dir, entry)?;
        }
        Ok(())
    }
}

/// Decodes a metadata image already read (and checksummed) by `read_listed`.
fn decode_listed<M: prost::Message + Default>(
    dir: &Path,
    contents: &HashMap<&str, Vec<u8>>,
    kind: ImageKind,
    name: &str,
) -> Result<M, ImageError> {
    let bytes = contents.get(name).map(Vec::as_slice).unwrap_or_default();
    decode_image(kind, bytes).map_err(|source| ImageError::BadFrame {
        path: dir.join(name),
        source,
    })
}

fn inconsistent(path: &Path) -> impl Fn(Inconsistency) -> ImageError + '_ {
    move |problem| ImageError::Inconsistent {
        path: path.into(),
        problem,
    }
}

pub(crate) fn check_is_dir(dir: &Path) -> Result<(), ImageError> {
    match fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => Err(ImageError::NotADirectory { path: dir.into() }),
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            Err(ImageError::DirNotFound { dir: dir.into() })
        }
        Err(err) => Err(ImageError::io(dir, "inspect dump directory", err)),
    }
}

/// Reads and decodes inventory.img; its absence means the dump never finished.
pub(crate) fn read_inventory(dir: &Path) -> Result<pb::Inventory, ImageError> {
    let path = dir.join(inventory_name());
    let bytes = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            return Err(ImageError::NoInventory { dir: dir.into() })
        }
        Err(err) => return Err(ImageError::io(&path, "read", err)),
    };
    decode_image(ImageKind::Inventory, &bytes)
        .map_err(|source| ImageError::BadFrame { path, source })
}

/// Reads a file listed in the inventory whole, checking its size and crc32c.
pub(crate) fn read_listed(dir: &Path, entry: &pb::ImageFileEntry) -> Result<Vec<u8>, ImageError> {
    let path = dir.join(&entry.name);
    let bytes = fs::read(&path).map_err(|err| missing_or_io(&path, err))?;
    check_size(&path, entry, bytes.len() as u64)?;
    check_crc(&path, entry, crc32c::crc32c(&bytes))?;
    Ok(bytes)
}

/// Checks only the size of a raw file listed in the inventory: truncation is found
/// without reading it.
fn check_listed_raw_size(dir: &Path, entry: &pb::ImageFileEntry) -> Result<(), ImageError> {
    let path = dir.join(&entry.name);
    let size = fs::metadata(&path)
        .map_err(|err| missing_or_io(&path, err))?
        .len();
    check_size(&path, entry, size)
}

/// Checks the size and crc32c of a (possibly huge) raw file listed in the inventory without
/// holding it in memory. The size is checked first, so truncation is found without reading.
pub(crate) fn check_listed_raw(dir: &Path, entry: &pb::ImageFileEntry) -> Result<(), ImageError> {
    let path = dir.join(&entry.name);
    let file = File::open(&path).map_err(|err| missing_or_io(&path, err))?;
    let size = file
        .metadata()
        .map_err(|err| ImageError::io(&path, "inspect", err))?
        .len();
    check_size(&path, entry, size)?;
    let (size, crc) = size_and_crc32c(file).map_err(|err| ImageError::io(&path, "read", err))?;
    // The file may have changed since the first look.
    check_size(&path, entry, size)?;
    check_crc(&path, entry, crc)
}

fn missing_or_io(path: &Path, err: io::Error) -> ImageError {
    if err.kind() == io::ErrorKind::NotFound {
        ImageError::ImageMissing { path: path.into() }
    } else {
        ImageError::io(path, "read", err)
    }
}

fn check_size(path: &Path, entry: &pb::ImageFileEntry, found: u64) -> Result<(), ImageError> {
    let expected = entry.size;
    if found < expected {
        return Err(ImageError::Truncated {
            path: path.into(),
            expected,
            found,
        });
    }
    if found > expected {
        return Err(ImageError::SizeMismatch {
            path: path.into(),
            expected,
            found,
        });
    }
    Ok(())
}

fn check_crc(path: &Path, entry: &pb::ImageFileEntry, computed: u32) -> Result<(), ImageError> {
    if computed != entry.crc32c {
        return Err(ImageError::ChecksumMismatch {
            path: path.into(),
            stored: entry.crc32c,
            computed,
        });
    }
    Ok(())
}
