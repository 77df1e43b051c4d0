//! ImageWriter: writes the files of one dump directory and, last, the inventory that lists
//! them with their sizes and checksums. The inventory is renamed into place only after every
//! other file is fsynced, so a directory with inventory.img always holds a complete dump.

use std::collections::BTreeMap;
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::checksum::size_and_crc32c;
use crate::error::ImageError;
use crate::frame::{encode_image, ImageKind, FORMAT_VERSION};
use crate::names::{inventory_name, is_plain_file_name, INVENTORY_TEMP_NAME};
use crate::pb;

/// A dump holds the memory of the dumped tree (keys, passwords): owner-only access.
const DIR_MODE: u32 = 0o700;
const FILE_MODE: u32 = 0o600;

/// Writes images into a dump directory. The directory is created 0700 if missing; files 0600.
pub struct ImageWriter {
    dir: PathBuf,
    /// name -> (size, crc32c); a BTreeMap so the inventory lists them sorted by name.
    recorded: BTreeMap<String, (u64, u32)>,
}

impl ImageWriter {
    /// Creates/opens `dir`. Refuses (ImageError::AlreadyHoldsDump) if dir already holds
    /// inventory.img unless `force` (then it removes the old *.img files first).
    pub fn create(dir: &Path, force: bool) -> Result<Self, ImageError> {
        match fs::metadata(dir) {
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                DirBuilder::new()
                    .recursive(true)
                    .mode(DIR_MODE)
                    .create(dir)
                    .map_err(|err| ImageError::io(dir, "create dump directory", err))?;
            }
            Err(err) => return Err(ImageError::io(dir, "inspect dump directory", err)),
            Ok(meta) if !meta.is_dir() => {
                return Err(ImageError::NotADirectory { path: dir.into() })
            }
            Ok(_) => {
                let inventory = dir.join(inventory_name());
                if inventory.symlink_metadata().is_ok() {
                    if !force {
                        return Err(ImageError::AlreadyHoldsDump { dir: dir.into() });
                    }
                    remove_old_dump(dir)?;
                }
            }
        }
        Ok(ImageWriter {
            dir: dir.into(),
            recorded: BTreeMap::new(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Frames and writes one metadata image; records its name/size/crc32c for the inventory.
    pub fn write_image<M: prost::Message>(
        &mut self,
        name: &str,
        kind: ImageKind,
        msg: &M,
    ) -> Result<(), ImageError> {
        self.check_new_name(name)?;
        let bytes = encode_image(kind, msg);
        let path = self.dir.join(name);
        let mut file = create_file(&path)?;
        file.write_all(&bytes)
            .map_err(|err| ImageError::io(&path, "write image", err))?;
        self.recorded.insert(
            name.to_string(),
            (bytes.len() as u64, crc32c::crc32c(&bytes)),
        );
        Ok(())
    }

    /// Opens a raw file (e.g. pages image) for writing, 0600, O_CLOEXEC. The caller writes
    /// it; then calls `record_raw`.
    pub fn create_raw(&mut self, name: &str) -> Result<File, ImageError> {
        self.check_new_name(name)?;
        create_file(&self.dir.join(name))
    }

    /// Records a raw file already written; the writer reads it back to compute size+crc32c,
    /// unless `crc32c` is given (then only its size is read).
    pub fn record_raw(&mut self, name: &str, crc32c: Option<u32>) -> Result<(), ImageError> {
        self.check_new_name(name)?;
        let path = self.dir.join(name);
        let file = File::open(&path).map_err(|err| ImageError::io(&path, "open raw image", err))?;
        let entry = match crc32c {
            Some(crc) => {
                let meta = file
                    .metadata()
                    .map_err(|err| ImageError::io(&path, "inspect raw image", err))?;
                (meta.len(), crc)
            }
            None => size_and_crc32c(file)
                .map_err(|err| ImageError::io(&path, "read back raw image", err))?,
        };
        self.recorded.insert(name.to_string(), entry);
        Ok(())
    }

    /// fsyncs every file written, fills inventory.images with the recorded entries (sorted
    /// by name), writes inventory.img via a temp file + fsync + rename + fsync of the
    /// directory. Only after this is the dump "finished".
    pub fn finish(self, mut inventory: pb::Inventory) -> Result<(), ImageError> {
        // Files are reopened rather than kept open: a tree of thousands of tasks would
        // otherwise hold thousands of fds. fsync through any fd flushes the file.
        for name in self.recorded.keys() {
            let path = self.dir.join(name);
            File::open(&path)
                .and_then(|file| file.sync_all())
                .map_err(|err| ImageError::io(&path, "fsync image", err))?;
        }
        // Make the other files' directory entries durable before the inventory's.
        sync_dir(&self.dir)?;

        inventory.format_version = FORMAT_VERSION;
        inventory.images = self
            .recorded
            .iter()
            .map(|(name, &(size, crc32c))| pb::ImageFileEntry {
                name: name.clone(),
                size,
                crc32c,
            })
            .collect();
        let bytes = encode_image(ImageKind::Inventory, &inventory);
        let temp = self.dir.join(INVENTORY_TEMP_NAME);
        let mut file = create_file(&temp)?;
        file.write_all(&bytes)
            .and_then(|()| file.sync_all())
            .map_err(|err| ImageError::io(&temp, "write inventory", err))?;
        drop(file);
        let final_path = self.dir.join(inventory_name());
        fs::rename(&temp, &final_path)
            .map_err(|err| ImageError::io(&final_path, "rename into place", err))?;
        sync_dir(&self.dir)
    }

    fn check_new_name(&self, name: &str) -> Result<(), ImageError> {
        if !is_plain_file_name(name) || name == inventory_name() || name == INVENTORY_TEMP_NAME {
            return Err(ImageError::InvalidName { name: name.into() });
        }
        if self.recorded.contains_key(name) {
            return Err(ImageError::DuplicateImage { name: name.into() });
        }
        Ok(())
    }
}

/// Creates `path` afresh with mode 0600. An existing file is removed first: opening it would
/// keep its old (maybe wider) mode, and O_EXCL refuses to follow a planted symlink.
/// std opens every file with O_CLOEXEC.
fn create_file(path: &Path) -> Result<File, ImageError> {
    match fs::remove_file(path) {
        Err(err) if err.kind() != io::ErrorKind::NotFound => {
            return Err(ImageError::io(path, "remove old file", err))
        }
        _ => {}
    }
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(path)
        .map_err(|err| ImageError::io(path, "create image", err))
}

/// Removes a previous dump: its inventory first, so an interruption leaves an unfinished
/// dump rather than an old inventory describing new files.
fn remove_old_dump(dir: &Path) -> Result<(), ImageError> {
    let inventory = dir.join(inventory_name());
    fs::remove_file(&inventory).map_err(|err| ImageError::io(&inventory, "remove", err))?;
    sync_dir(dir)?;
    let entries = fs::read_dir(dir).map_err(|err| ImageError::io(dir, "list", err))?;
    for entry in entries {
        let entry = entry.map_err(|err| ImageError::io(dir, "list", err))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
        if !is_dir && (name.ends_with(".img") || name == INVENTORY_TEMP_NAME) {
            let path = entry.path();
            fs::remove_file(&path).map_err(|err| ImageError::io(&path, "remove", err))?;
        }
    }
    Ok(())
}

fn sync_dir(dir: &Path) -> Result<(), ImageError> {
    File::open(dir)
        .and_then(|handle| handle.sync_all())
        .map_err(|err| ImageError::io(dir, "fsync directory", err))
}
