//! File names inside a dump directory, and which names a dump may contain at all: names
//! come from inventory.img on disk, so they must never lead out of the directory.

/// The inventory, written last: its presence marks a finished dump.
pub fn inventory_name() -> &'static str {
    "inventory.img"
}

/// Where the writer builds the inventory before renaming it into place.
pub(crate) const INVENTORY_TEMP_NAME: &str = "inventory.img.tmp";

pub fn task_image_name(pid: i32) -> String {
    format!("task-{pid}.img")
}

pub fn mm_image_name(pid: i32) -> String {
    format!("mm-{pid}.img")
}

pub fn fd_table_image_name(pid: i32) -> String {
    format!("fds-{pid}.img")
}

pub fn files_image_name() -> &'static str {
    "files.img"
}

/// Raw page data of one task, not framed; indexed by MmImage.pages.
pub fn pages_image_name(pid: i32) -> String {
    format!("pages-{pid}.img")
}

/// Raw content of a deleted regular file, by the device and inode it had at dump time.
pub fn deleted_content_image_name(dev: u64, inode: u64) -> String {
    format!("deleted-{dev}-{inode}.img")
}

/// Raw content of a memfd, by the device and inode it had at dump time.
pub fn memfd_content_image_name(dev: u64, inode: u64) -> String {
    format!("memfd-{dev}-{inode}.img")
}

/// Raw content of a SysV shared memory segment, by its id.
pub fn sysv_shm_content_image_name(shmid: i32, key: i32) -> String {
    format!("sysvshm-{}-{}.img", shmid as u32, key as u32)
}

/// True for names of raw file-content images ("deleted-<dev>-<ino>.img",
/// "memfd-<dev>-<ino>.img"), which carry no frame.
pub(crate) fn is_content_image_name(name: &str) -> bool {
    let Some(rest) = name
        .strip_prefix("deleted-")
        .or_else(|| name.strip_prefix("memfd-"))
        .or_else(|| name.strip_prefix("sysvshm-"))
        .and_then(|rest| rest.strip_suffix(".img"))
    else {
        return false;
    };
    rest.split_once('-')
        .is_some_and(|(dev, ino)| dev.parse::<u64>().is_ok() && ino.parse::<u64>().is_ok())
}

/// True for names of raw page files ("pages-<pid>.img"), which carry no frame.
pub(crate) fn is_pages_image_name(name: &str) -> bool {
    name.strip_prefix("pages-")
        .and_then(|rest| rest.strip_suffix(".img"))
        .is_some_and(|pid| pid.parse::<i32>().is_ok())
}

/// A name a dump may hold: one plain component inside the dump directory.
pub(crate) fn is_plain_file_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\0'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(inventory_name(), "inventory.img");
        assert_eq!(task_image_name(4121), "task-4121.img");
        assert_eq!(mm_image_name(4121), "mm-4121.img");
        assert_eq!(fd_table_image_name(4121), "fds-4121.img");
        assert_eq!(files_image_name(), "files.img");
        assert_eq!(pages_image_name(4121), "pages-4121.img");
    }

    #[test]
    fn pages_names() {
        assert!(is_pages_image_name(&pages_image_name(7)));
        assert!(!is_pages_image_name("pages-x.img"));
        assert!(!is_pages_image_name("task-7.img"));
    }

    #[test]
    fn content_names() {
        assert_eq!(deleted_content_image_name(2049, 17), "deleted-2049-17.img");
        assert_eq!(memfd_content_image_name(1, 2), "memfd-1-2.img");
        assert!(is_content_image_name(&deleted_content_image_name(2049, 17)));
        assert!(is_content_image_name(&memfd_content_image_name(1, 2)));
        assert!(!is_content_image_name("deleted-x-1.img"));
        assert!(!is_content_image_name("memfd-1.img"));
        assert!(!is_content_image_name("pages-1.img"));
    }

    #[test]
    fn plain_names() {
        assert!(is_plain_file_name("task-1.img"));
        for bad in ["", ".", "..", "../x.img", "a/b", "/etc/passwd", "a\0b"] {
            assert!(!is_plain_file_name(bad), "{bad:?}");
        }
    }
}
