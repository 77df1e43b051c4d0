//! VMAs and pages: which mappings stasis can recreate, which of their pages
//! hold data that must be saved, and how pages move to and from the images.

pub mod pages;

use stasis_image::pb;

use crate::proc::maps::{parse_maps, parse_smaps_vmflags, MapsEntry};

/// Which pages of a VMA must be saved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PagePolicy {
    /// None: the content comes back from the kernel or the file.
    Nothing,
    /// Private memory: pages present or swapped that are not plain file pages.
    Private,
    /// Shared anonymous memory: every populated page.
    Shared,
}

/// A VMA of the task with its verdict.
#[derive(Debug, Clone)]
pub struct VmaPlan {
    pub vma: pb::Vma,
    pub pages: PagePolicy,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsupportedVma {
    pub start: u64,
    pub end: u64,
    pub what: String,
    pub why: String,
}

/// Reads maps + smaps of a task.
pub fn read_vmas(pid: i32) -> std::io::Result<Vec<(MapsEntry, String)>> {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps"))?;
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps"))?;
    let entries = parse_maps(&maps)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?;
    let flags = parse_smaps_vmflags(&smaps);
    Ok(entries
        .into_iter()
        .map(|e| {
            let f = flags
                .iter()
                .find(|(start, _)| *start == e.start)
                .map(|(_, f)| f.clone())
                .unwrap_or_default();
            (e, f)
        })
        .collect())
}

fn has_flag(vm_flags: &str, flag: &str) -> bool {
    vm_flags.split_whitespace().any(|f| f == flag)
}

/// Decides how a VMA is checkpointed. Pure: takes the maps line and VmFlags.
pub fn classify(entry: &MapsEntry, vm_flags: &str) -> Result<VmaPlan, UnsupportedVma> {
    let refuse = |what: &str, why: &str| UnsupportedVma {
        start: entry.start,
        end: entry.end,
        what: what.to_string(),
        why: why.to_string(),
    };
    let path = entry.path.as_str();
    let kernel_special = matches!(path, "[vdso]" | "[vvar]" | "[vvar_vclock]" | "[vsyscall]");
    if has_flag(vm_flags, "ht") {
        return Err(refuse(path, "hugetlbfs mappings are not supported"));
    }
    if !kernel_special && (has_flag(vm_flags, "io") || has_flag(vm_flags, "pf")) {
        return Err(refuse(
            path,
            "device memory (VM_IO/VM_PFNMAP) cannot be checkpointed",
        ));
    }
    if has_flag(vm_flags, "um") || has_flag(vm_flags, "uw") {
        return Err(refuse(
            path,
            "memory registered with userfaultfd is not supported",
        ));
    }
    let (kind, pages) = match path {
        "[vdso]" => (pb::VmaKind::Vdso, PagePolicy::Nothing),
        "[vvar]" => (pb::VmaKind::Vvar, PagePolicy::Nothing),
        "[vvar_vclock]" => (pb::VmaKind::VvarVclock, PagePolicy::Nothing),
        "[vsyscall]" => (pb::VmaKind::Vsyscall, PagePolicy::Nothing),
        "[heap]" => (pb::VmaKind::Heap, PagePolicy::Private),
        "[stack]" => (pb::VmaKind::Stack, PagePolicy::Private),
        _ if path.is_empty() || path.starts_with("[anon:") => {
            if entry.shared {
                (pb::VmaKind::SharedAnonymous, PagePolicy::Shared)
            } else {
                (pb::VmaKind::Anonymous, PagePolicy::Private)
            }
        }
        _ if path.starts_with("[anon_shmem:")
            || (entry.shared && path == "/dev/zero (deleted)") =>
        {
            (pb::VmaKind::SharedAnonymous, PagePolicy::Shared)
        }
        // A SysV segment (its maps inode is the shmid): content saved once per
        // segment with the files, attached again with shmat.
        _ if path.starts_with("/SYSV") && entry.shared => {
            (pb::VmaKind::SysvShm, PagePolicy::Nothing)
        }
        // Their content is saved once per inode with the files (files/deleted.rs,
        // files/memfd.rs); a private mapping also saves the pages it changed.
        _ if path.starts_with("/memfd:") && path.ends_with(" (deleted)") => {
            if entry.shared {
                (pb::VmaKind::Memfd, PagePolicy::Nothing)
            } else {
                (pb::VmaKind::Memfd, PagePolicy::Private)
            }
        }
        _ if path.starts_with('/') && path.ends_with(" (deleted)") => {
            if entry.shared {
                (pb::VmaKind::DeletedFile, PagePolicy::Nothing)
            } else {
                (pb::VmaKind::DeletedFile, PagePolicy::Private)
            }
        }
        _ if path.starts_with('/') => {
            if entry.shared {
                (pb::VmaKind::File, PagePolicy::Nothing)
            } else {
                (pb::VmaKind::File, PagePolicy::Private)
            }
        }
        _ => return Err(refuse(path, "unknown kind of mapping")),
    };
    let mut map_flags = if entry.shared {
        libc::MAP_SHARED
    } else {
        libc::MAP_PRIVATE
    };
    let is_file = matches!(
        kind,
        pb::VmaKind::File | pb::VmaKind::DeletedFile | pb::VmaKind::Memfd | pb::VmaKind::SysvShm
    );
    if !is_file {
        map_flags |= libc::MAP_ANONYMOUS;
    }
    if has_flag(vm_flags, "gd") {
        map_flags |= libc::MAP_GROWSDOWN;
    }
    if has_flag(vm_flags, "nr") {
        map_flags |= libc::MAP_NORESERVE;
    }
    Ok(VmaPlan {
        vma: pb::Vma {
            start: entry.start,
            end: entry.end,
            prot: entry.prot(),
            map_flags: map_flags as u32,
            // Shared anonymous memory is a file too (in shmem): its offset matters
            // when another process maps the same object.
            file_offset: if is_file || kind == pb::VmaKind::SharedAnonymous {
                entry.offset
            } else {
                0
            },
            kind: kind as i32,
            path: if is_file {
                path.to_string()
            } else {
                String::new()
            },
            name: path.to_string(),
            dev: libc::makedev(entry.dev_major, entry.dev_minor),
            inode: entry.inode,
            vm_flags: vm_flags.to_string(),
            inherited: false,
        },
        pages,
    })
}

/// Whether restore recreates this VMA with mmap (vdso, vvar and vsyscall come from the kernel).
pub fn is_mapped_by_restore(vma: &pb::Vma) -> bool {
    !matches!(
        vma.kind(),
        pb::VmaKind::Vdso | pb::VmaKind::Vvar | pb::VmaKind::VvarVclock | pb::VmaKind::Vsyscall
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, shared: bool) -> MapsEntry {
        MapsEntry {
            start: 0x1000,
            end: 0x3000,
            read: true,
            write: true,
            exec: false,
            shared,
            offset: 0x2000,
            dev_major: 0,
            dev_minor: 0,
            inode: 0,
            path: path.to_string(),
        }
    }

    #[test]
    fn classifies_mappings() {
        let heap = classify(&entry("[heap]", false), "rd wr").unwrap();
        assert_eq!(heap.vma.kind(), pb::VmaKind::Heap);
        assert_eq!(heap.pages, PagePolicy::Private);
        let stack = classify(&entry("[stack]", false), "rd wr gd").unwrap();
        assert_ne!(stack.vma.map_flags & libc::MAP_GROWSDOWN as u32, 0);
        let file = classify(&entry("/usr/lib/libc.so.6", false), "rd").unwrap();
        assert_eq!(file.vma.file_offset, 0x2000);
        assert_eq!(file.pages, PagePolicy::Private);
        let shared = classify(&entry("/tmp/data", true), "rd sh").unwrap();
        assert_eq!(shared.pages, PagePolicy::Nothing);
        let shanon = classify(&entry("/dev/zero (deleted)", true), "rd sh").unwrap();
        assert_eq!(shanon.vma.kind(), pb::VmaKind::SharedAnonymous);
        assert_eq!(
            classify(&entry("/tmp/x (deleted)", false), "rd")
                .unwrap()
                .vma
                .kind(),
            pb::VmaKind::DeletedFile
        );
        assert_eq!(
            classify(&entry("/SYSV00000000 (deleted)", true), "rd sh")
                .unwrap()
                .vma
                .kind(),
            pb::VmaKind::SysvShm
        );
        assert!(classify(&entry("/dev/hugepages/x", true), "rd sh ht").is_err());
    }
}
