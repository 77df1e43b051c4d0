//! Tests across modules: a synthetic one-task dump written by ImageWriter, loaded back by
//! LoadedDump, damaged in specific ways, and shown as JSON.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::pb;
use crate::*;

const PID: i32 = 100;
const PAGE: u64 = 4096;

/// A fresh directory under the system temp dir, removed on drop.
struct TestDir(PathBuf);

impl TestDir {
    fn new() -> TestDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "stasis-image-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&path);
        TestDir(path)
    }

    /// A dump directory inside, not yet created.
    fn dump(&self) -> PathBuf {
        self.0.join("dump")
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn inventory() -> pb::Inventory {
    pb::Inventory {
        tool_version: "test".into(),
        root_pid: PID,
        tasks: vec![pb::TaskEntry {
            pid: PID,
            ppid: 1,
            comm: "sleeper".into(),
        }],
        kernel_release: "6.18.0".into(),
        page_size: PAGE as u32,
        ..Default::default()
    }
}

fn task() -> pb::TaskImage {
    pb::TaskImage {
        pid: PID,
        ppid: 1,
        pgid: PID,
        sid: PID,
        comm: "sleeper".into(),
        threads: vec![pb::ThreadState {
            tid: PID,
            regs: Some(pb::GeneralRegisters {
                rip: 0x40_1000,
                rsp: 0x7ffd_1ff0,
                ..Default::default()
            }),
            xsave: vec![0xde, 0xad, 0xbe, 0xef],
            pending: vec![pb::SigInfo {
                signo: 10,
                raw: vec![0; SIGINFO_SIZE],
            }],
            ..Default::default()
        }],
        sigactions: (1..=64)
            .map(|signo| pb::SignalAction {
                signo,
                ..Default::default()
            })
            .collect(),
        cwd: "/".into(),
        root: "/".into(),
        ..Default::default()
    }
}

fn mm() -> pb::MmImage {
    pb::MmImage {
        pid: PID,
        vmas: vec![
            pb::Vma {
                start: 0x40_0000,
                end: 0x40_2000,
                kind: pb::VmaKind::File as i32,
                path: "/usr/bin/sleeper".into(),
                ..Default::default()
            },
            pb::Vma {
                start: 0x7ffd_0000,
                end: 0x7ffd_2000,
                kind: pb::VmaKind::Stack as i32,
                name: "[stack]".into(),
                ..Default::default()
            },
        ],
        pages: vec![
            pb::PageRun {
                address: 0x40_0000,
                nr_pages: 1,
            },
            pb::PageRun {
                address: 0x7ffd_0000,
                nr_pages: 2,
            },
        ],
        pages_size: 3 * PAGE,
        auxv: vec![1, 2, 3],
        exe_path: "/usr/bin/sleeper".into(),
        ..Default::default()
    }
}

fn fds() -> pb::FdTableImage {
    let fd = |fd, file_id| pb::FdEntry {
        fd,
        file_id,
        cloexec: false,
    };
    pb::FdTableImage {
        pid: PID,
        fds: vec![fd(0, 1), fd(1, 1), fd(3, 2)],
        ..Default::default()
    }
}

fn files() -> pb::FilesImage {
    pb::FilesImage {
        files: vec![
            pb::OpenFile {
                id: 1,
                flags: 2,
                position: 0,
                kind: Some(pb::open_file::Kind::CharDevice(pb::CharDevice {
                    path: "/dev/null".into(),
                    major: 1,
                    minor: 3,
                })),
                ..Default::default()
            },
            pb::OpenFile {
                id: 2,
                flags: 0,
                position: 17,
                kind: Some(pb::open_file::Kind::Regular(pb::RegularFile {
                    path: "/etc/hostname".into(),
                    ..Default::default()
                })),
                ..Default::default()
            },
            pb::OpenFile {
                id: 3,
                flags: 1,
                position: 0,
                kind: Some(pb::open_file::Kind::Pipe(pb::PipeEnd {
                    pipe_id: 77,
                    write_end: true,
                })),
                ..Default::default()
            },
            pb::OpenFile {
                id: 4,
                flags: 2,
                kind: Some(pb::open_file::Kind::Timerfd(pb::TimerFd {
                    clockid: 1,
                    ticks: 3,
                    settime_flags: 0,
                    value_ns: 250_000_000,
                    interval_ns: 1_000_000_000,
                })),
                ..Default::default()
            },
            pb::OpenFile {
                id: 5,
                flags: 2,
                kind: Some(pb::open_file::Kind::Epoll(pb::EventPoll {
                    items: vec![pb::EpollItem {
                        fd: 3,
                        file_id: 3,
                        events: 0x8000_0004,
                        data: 0xfeed,
                    }],
                })),
                ..Default::default()
            },
        ],
        pipes: vec![pb::Pipe {
            pipe_id: 77,
            size: 4096,
            data: b"buffered".to_vec(),
        }],
        ..Default::default()
    }
}

fn pages() -> Vec<u8> {
    (0..3 * PAGE).map(|i| (i % 251) as u8).collect()
}

/// Writes every image of the synthetic dump but not the inventory.
fn write_images(dir: &Path, force: bool) -> ImageWriter {
    let mut writer = ImageWriter::create(dir, force).unwrap();
    writer
        .write_image(&task_image_name(PID), ImageKind::Task, &task())
        .unwrap();
    writer
        .write_image(&mm_image_name(PID), ImageKind::Mm, &mm())
        .unwrap();
    writer
        .write_image(&fd_table_image_name(PID), ImageKind::FdTable, &fds())
        .unwrap();
    writer
        .write_image(files_image_name(), ImageKind::Files, &files())
        .unwrap();
    let mut raw = writer.create_raw(&pages_image_name(PID)).unwrap();
    raw.write_all(&pages()).unwrap();
    drop(raw);
    writer.record_raw(&pages_image_name(PID), None).unwrap();
    writer
}

fn write_dump(dir: &Path) {
    write_images(dir, false).finish(inventory()).unwrap();
}

/// Replaces one image and updates its inventory entry, so only the change itself is wrong.
fn replace_image<M: prost::Message>(dir: &Path, name: &str, kind: ImageKind, msg: &M) {
    let bytes = encode_image(kind, msg);
    fs::write(dir.join(name), &bytes).unwrap();
    edit_inventory(dir, |inventory| {
        let entry = inventory
            .images
            .iter_mut()
            .find(|entry| entry.name == name)
            .unwrap();
        entry.size = bytes.len() as u64;
        entry.crc32c = crc32c::crc32c(&bytes);
    });
}

fn edit_inventory(dir: &Path, edit: impl FnOnce(&mut pb::Inventory)) {
    let path = dir.join(inventory_name());
    let mut inventory: pb::Inventory =
        decode_image(ImageKind::Inventory, &fs::read(&path).unwrap()).unwrap();
    edit(&mut inventory);
    fs::write(&path, encode_image(ImageKind::Inventory, &inventory)).unwrap();
}

fn load_err(dir: &Path) -> ImageError {
    match LoadedDump::load(dir) {
        Ok(_) => panic!("load of a bad dump succeeded"),
        Err(err) => err,
    }
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn write_then_load_round_trip() {
    let tmp = TestDir::new();
    let dir = tmp.dump();
    write_dump(&dir);

    let dump = LoadedDump::load(&dir).unwrap();
    assert_eq!(dump.dir, dir);
    assert_eq!(dump.inventory.format_version, FORMAT_VERSION);
    assert_eq!(dump.inventory.root_pid, PID);
    let names: Vec<&str> = dump
        .inventory
        .images
        .iter()
        .map(|entry| entry.name.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "fds-100.img",
            "files.img",
            "mm-100.img",
            "pages-100.img",
            "task-100.img"
        ]
    );
    let pages_entry = &dump.inventory.images[3];
    assert_eq!(pages_entry.size, 3 * PAGE);
    assert_eq!(pages_entry.crc32c, crc32c::crc32c(&pages()));
    assert_eq!(dump.files, files());
    assert_eq!(dump.tasks.len(), 1);
    let loaded = &dump.tasks[0];
    assert_eq!(loaded.task, task());
    assert_eq!(loaded.mm, mm());
    assert_eq!(loaded.fds, fds());
    assert_eq!(loaded.pages_path, dir.join("pages-100.img"));
    assert_eq!(fs::read(&loaded.pages_path).unwrap(), pages());
    // The temp file is gone once the inventory is in place.
    assert!(!dir.join("inventory.img.tmp").exists());
}

#[test]
fn record_raw_with_given_crc() {
    let tmp = TestDir::new();
    let dir = tmp.dump();
    let mut writer = ImageWriter::create(&dir, false).unwrap();
    let mut raw = writer.create_raw("pages-1.img").unwrap();
    raw.write_all(b"abc").unwrap();
    drop(raw);
    writer.record_raw("pages-1.img", Some(0x1234)).unwrap();
    writer.finish(inventory()).unwrap();
    let inventory: pb::Inventory = decode_image(
        ImageKind::Inventory,
        &fs::read(dir.join(inventory_name())).unwrap(),
    )
    .unwrap();
    assert_eq!(
        inventory.images,
        [pb::ImageFileEntry {
            name: "pages-1.img".into(),
            size: 3,
            crc32c: 0x1234
        }]
    );
}

#[test]
fn modes_are_owner_only() {
    let tmp = TestDir::new();
    let dir = tmp.dump();
    write_dump(&dir);
    assert_eq!(mode(&dir), 0o700);
    for name in [
        "inventory.img",
        "task-100.img",
        "pages-100.img",
        "files.img",
    ] {
        assert_eq!(mode(&dir.join(name)), 0o600, "{name}");
    }
}

#[test]
fn existing_file_gets_owner_only_mode() {
    let tmp = TestDir::new();
    let dir = tmp.dump();
    fs::create_dir_all(&dir).unwrap();
    let path = dir.join(task_image_name(PID));
    fs::write(&path, b"old").unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    let mut writer = ImageWriter::create(&dir, false).unwrap();
    writer
        .write_image(&task_image_name(PID), ImageKind::Task, &task())
        .unwrap();
    assert_eq!(mode(&path), 0o600);
}

#[test]
fn writer_refuses_finished_dump_without_force() {
    let tmp = TestDir::new();
    let dir = tmp.dump();
    write_dump(&dir);
    let err = ImageWriter::create(&dir, false).err().unwrap();
    assert!(matches!(err, ImageError::AlreadyHoldsDump { .. }), "{err}");
    assert!(err.to_string().contains("--force"), "{err}");

    // With force, old images go (including ones the new dump will not write).
    fs::write(dir.join("task-999.img"), b"stale").unwrap();
    fs::write(dir.join("notes.txt"), b"keep").unwrap();
    let writer = ImageWriter::create(&dir, true).unwrap();
    assert!(!dir.join("inventory.img").exists());
    assert!(!dir.join("task-999.img").exists());
    assert!(!dir.join("task-100.img").exists());
    assert!(dir.join("notes.txt").exists());
    drop(writer);
    write_images(&dir, false).finish(inventory()).unwrap();
    LoadedDump::load(&dir).unwrap();
}

#[test]
fn writer_rejects_bad_and_duplicate_names() {
    let tmp = TestDir::new();
    let mut writer = ImageWriter::create(&tmp.dump(), false).unwrap();
    for name in ["", "..", "../escape.img", "a/b.img", "inventory.img"] {
        let err = writer
            .write_image(name, ImageKind::Files, &files())
            .unwrap_err();
        assert!(
            matches!(err, ImageError::InvalidName { .. }),
            "{name:?}: {err}"
        );
    }
    writer
        .write_image("files.img", ImageKind::Files, &files())
        .unwrap();
    let err = writer
        .write_image("files.img", ImageKind::Files, &files())
        .unwrap_err();
    assert!(matches!(err, ImageError::DuplicateImage { .. }), "{err}");
}

#[test]
fn writer_refuses_a_file_as_directory() {
    let tmp = TestDir::new();
    fs::create_dir_all(&tmp.0).unwrap();
    let file = tmp.0.join("plain");
    fs::write(&file, b"").unwrap();
    let err = ImageWriter::create(&file, false).err().unwrap();
    assert!(matches!(err, ImageError::NotADirectory { .. }), "{err}");
}

#[test]
fn load_refuses_empty_and_missing_dirs() {
    let tmp = TestDir::new();
    let dir = tmp.dump();
    let err = load_err(&dir);
    assert!(matches!(err, ImageError::DirNotFound { .. }), "{err}");

    fs::create_dir_all(&dir).unwrap();
    let err = load_err(&dir);
    assert!(matches!(err, ImageError::NoInventory { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("not a finished dump: inventory.img missing"),
        "{err}"
    );

    let file = tmp.0.join("plain");
    fs::write(&file, b"").unwrap();
    assert!(matches!(load_err(&file), ImageError::NotADirectory { .. }));
}

#[test]
fn load_refuses_unfinished_dump() {
    let tmp = TestDir::new();
    let dir = tmp.dump();
    drop(write_images(&dir, false));
    let err = load_err(&dir);
    assert!(matches!(err, ImageError::NoInventory { .. }), "{err}");
}

#[test]
fn load_refuses_truncated_pages() {
    let tmp = TestDir::new();
    let dir = tmp.dump();
    write_dump(&dir);
    let path = dir.join("pages-100.img");
    fs::write(&path, &pages()[..PAGE as usize]).unwrap();
    let err = load_err(&dir);
    assert!(
        matches!(&err, ImageError::Truncated { path: p, expected, found }
            if p == &path && *expected == 3 * PAGE && *found == PAGE),
        "{err}"
    );
    assert!(err.to_string().contains("pages-100.img"), "{err}");
}

#[test]
fn load_refuses_grown_file() {
    let tmp = TestDir::new();
    let dir = tmp.dump();
    write_dump(&dir);
    let mut grown = pages();
    grown.push(0);
    fs::write(dir.join("pages-100.img"), grown).unwrap();
    assert!(matches!(load_err(&dir), ImageError::SizeMismatch { .. }));
}

#[test]
fn load_refuses_missing_listed_image() {
    let tmp = TestDir::new();
    let dir = tmp.dump();
    write_dump(&dir);
    fs::remove_file(dir.join("mm-100.img")).unwrap();
    let err = load_err(&dir);
    assert!(matches!(err, ImageError::ImageMissing { .. }), "{err}");
    assert!(err.to_string().contains("mm-100.img"), "{err}");
}

#[test]
fn load_refuses_flipped_byte_in_task_image() {
    let tmp = TestDir::new();
    let dir = tmp.dump();
    write_dump(&dir);
    let path = dir.join("task-100.img");
    let original = fs::read(&path).unwrap();
    for position in 0..original.len() {
        let mut damaged = original.clone();
        damaged[position] ^= 0x04;
        fs::write(&path, &damaged).unwrap();
        let err = load_err(&dir);
        assert!(
            matches!(&err, ImageError::ChecksumMismatch { path: p, .. } if p == &path),
            "byte {position}: {err}"
        );
    }
    let text = load_err(&dir).to_string();
    assert!(
        text.contains("task-100.img is corrupt: checksum mismatch"),
        "{text}"
    );
}

#[test]
fn load_refuses_flipped_byte_in_pages() {
    let tmp = TestDir::new();
    let dir = tmp.dump();
    write_dump(&dir);
    let path = dir.join("pages-100.img");
    let mut damaged = pages();
    damaged[5000] ^= 1;
    fs::write(&path, damaged).unwrap();
    assert!(matches!(
        load_err(&dir),
        ImageError::ChecksumMismatch { .. }
    ));
}

#[test]
fn load_refuses_damaged_inventory() {
    let tmp = TestDir::new();
    let dir = tmp.dump();
    write_dump(&dir);
    let path = dir.join(inventory_name());
    let mut bytes = fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x20;
    fs::write(&path, bytes).unwrap();
    let err = load_err(&dir);
    assert!(
        matches!(&err, ImageError::BadFrame { path: p, .. } if p == &path),
        "{err}"
    );
}

#[test]
fn load_refuses_unknown_file_id() {
    let tmp = TestDir::new();
    let dir = tmp.dump();
    write_dump(&dir);
    let mut table = fds();
    table.fds[2].file_id = 42;
    replace_image(&dir, "fds-100.img", ImageKind::FdTable, &table);
    let err = load_err(&dir);
    assert!(
        matches!(
            &err,
            ImageError::Inconsistent {
                problem: Inconsistency::UnknownFileId {
                    pid: PID,
                    fd: 3,
                    file_id: 42
                },
                ..
            }
        ),
        "{err}"
    );
    let text = err.to_string();
    assert!(
        text.contains("fds-100.img") && text.contains("pid 100 fd 3") && text.contains("42"),
        "{text}"
    );
}

#[test]
fn load_refuses_page_run_outside_vmas() {
    let tmp = TestDir::new();
    let dir = tmp.dump();
    write_dump(&dir);
    let mut image = mm();
    image.pages[1].address = 0x5000_0000;
    replace_image(&dir, "mm-100.img", ImageKind::Mm, &image);
    let err = load_err(&dir);
    assert!(
        matches!(
            &err,
            ImageError::Inconsistent {
                problem: Inconsistency::PageRunOutsideVmas {
                    address: 0x5000_0000,
                    ..
                },
                ..
            }
        ),
        "{err}"
    );
    let text = err.to_string();
    assert!(
        text.contains("mm-100.img") && text.contains("0x50000000"),
        "{text}"
    );
}

#[test]
fn load_refuses_other_cross_reference_problems() {
    type Damage = fn(&Path);
    type Expect = fn(&Inconsistency) -> bool;
    let cases: [(&str, Damage, Expect); 8] = [
        (
            "pid mismatch",
            |dir| {
                let mut image = task();
                image.pid = 101;
                replace_image(dir, "task-100.img", ImageKind::Task, &image);
            },
            |p| {
                matches!(
                    p,
                    Inconsistency::PidMismatch {
                        expected: 100,
                        found: 101
                    }
                )
            },
        ),
        (
            "thread without regs",
            |dir| {
                let mut image = task();
                image.threads[0].regs = None;
                replace_image(dir, "task-100.img", ImageKind::Task, &image);
            },
            |p| matches!(p, Inconsistency::MissingRegisters { pid: 100, tid: 100 }),
        ),
        (
            "63 sigactions",
            |dir| {
                let mut image = task();
                image.sigactions.pop();
                replace_image(dir, "task-100.img", ImageKind::Task, &image);
            },
            |p| matches!(p, Inconsistency::BadSigactionCount { count: 63, .. }),
        ),
        (
            "duplicate fd",
            |dir| {
                let mut table = fds();
                table.fds[1].fd = 0;
                replace_image(dir, "fds-100.img", ImageKind::FdTable, &table);
            },
            |p| matches!(p, Inconsistency::DuplicateFd { pid: 100, fd: 0 }),
        ),
        (
            "duplicate file id",
            |dir| {
                let mut image = files();
                image.files[1].id = 1;
                replace_image(dir, "files.img", ImageKind::Files, &image);
            },
            |p| matches!(p, Inconsistency::DuplicateFileId { id: 1 }),
        ),
        (
            "overlapping vmas",
            |dir| {
                let mut image = mm();
                image.vmas[1].start = 0x40_1000;
                replace_image(dir, "mm-100.img", ImageKind::Mm, &image);
            },
            |p| matches!(p, Inconsistency::OverlappingVmas { .. }),
        ),
        (
            "task image not listed",
            |dir| {
                edit_inventory(dir, |inventory| {
                    inventory
                        .images
                        .retain(|entry| entry.name != "task-100.img")
                });
            },
            |p| matches!(p, Inconsistency::MissingTaskImage { pid: 100, .. }),
        ),
        (
            "path traversal in inventory",
            |dir| {
                edit_inventory(dir, |inventory| {
                    inventory.images[0].name = "../x.img".into()
                });
            },
            |p| matches!(p, Inconsistency::BadImageName { .. }),
        ),
    ];
    for (what, damage, expect) in cases {
        let tmp = TestDir::new();
        let dir = tmp.dump();
        write_dump(&dir);
        damage(&dir);
        let err = load_err(&dir);
        assert!(
            matches!(&err, ImageError::Inconsistent { problem, .. } if expect(problem)),
            "{what}: {err}"
        );
    }
}

#[test]
fn load_refuses_wrong_kind_under_right_name() {
    let tmp = TestDir::new();
    let dir = tmp.dump();
    write_dump(&dir);
    replace_image(&dir, "task-100.img", ImageKind::Mm, &mm());
    let err = load_err(&dir);
    assert!(
        matches!(
            &err,
            ImageError::BadFrame {
                source: FrameError::WrongKind { .. },
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn show_directory() {
    let tmp = TestDir::new();
    let dir = tmp.dump();
    write_dump(&dir);
    let value = show(&dir).unwrap();
    let object = value.as_object().unwrap();
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "fds-100.img",
            "files.img",
            "inventory",
            "mm-100.img",
            "pages-100.img",
            "task-100.img"
        ]
    );
    assert_eq!(
        value["pages-100.img"],
        serde_json::json!({"raw_pages": true, "size": 3 * PAGE})
    );
    assert_eq!(value["inventory"]["root_pid"], PID);
    assert_eq!(
        value["task-100.img"]["threads"][0]["regs"]["rip"],
        0x40_1000
    );
    assert_eq!(value["task-100.img"]["threads"][0]["xsave"], "deadbeef");
    assert_eq!(value["mm-100.img"]["auxv"], "010203");
    assert_eq!(value["mm-100.img"]["vmas"][1]["kind"], "stack");
    assert_eq!(
        value["files.img"]["files"][4]["kind"]["epoll"]["items"][0]["data"],
        0xfeed
    );
    assert_eq!(
        value["files.img"]["files"][0]["kind"]["char_device"]["path"],
        "/dev/null"
    );
}

#[test]
fn show_single_files() {
    let tmp = TestDir::new();
    let dir = tmp.dump();
    write_dump(&dir);
    let value = show(&dir.join("task-100.img")).unwrap();
    assert!(value.to_string().contains("\"rip\""), "{value}");
    assert_eq!(value["comm"], "sleeper");
    let value = show(&dir.join("inventory.img")).unwrap();
    assert_eq!(value["images"].as_array().unwrap().len(), 5);
    let value = show(&dir.join("pages-100.img")).unwrap();
    assert_eq!(value["raw_pages"], true);
}

#[test]
fn show_names_a_bad_image() {
    let tmp = TestDir::new();
    let dir = tmp.dump();
    write_dump(&dir);
    let path = dir.join("mm-100.img");
    let mut bytes = fs::read(&path).unwrap();
    bytes[0] = b'X';
    fs::write(&path, bytes).unwrap();
    let err = show(&dir).unwrap_err();
    assert!(err.to_string().contains("mm-100.img"), "{err}");
    let err = show(&path).unwrap_err();
    assert!(
        matches!(
            err,
            ImageError::BadFrame {
                source: FrameError::BadMagic { .. },
                ..
            }
        ),
        "{err}"
    );
}

/// Adds to a written dump a memfd whose content is in a raw image, listed in
/// the inventory; returns the content image's name.
fn add_memfd(dir: &Path) -> String {
    let name = memfd_content_image_name(8, 9);
    let content = b"hello";
    fs::write(dir.join(&name), content).unwrap();
    edit_inventory(dir, |inventory| {
        inventory.images.push(pb::ImageFileEntry {
            name: name.clone(),
            size: content.len() as u64,
            crc32c: crc32c::crc32c(content),
        })
    });
    let mut files = files();
    files.files.push(pb::OpenFile {
        id: 40,
        flags: 2,
        position: 1,
        kind: Some(pb::open_file::Kind::Memfd(pb::InodeRef {
            dev: 8,
            inode: 9,
        })),
        ..Default::default()
    });
    files.memfds.push(pb::Memfd {
        dev: 8,
        inode: 9,
        name: "buf".into(),
        size: 4096,
        content_image: name.clone(),
        extents: vec![pb::Extent {
            offset: 100,
            length: content.len() as u64,
        }],
        ..Default::default()
    });
    replace_image(dir, files_image_name(), ImageKind::Files, &files);
    name
}

#[test]
fn content_images_load_and_show_as_raw() {
    let tmp = TestDir::new();
    let dir = tmp.dump();
    write_dump(&dir);
    let name = add_memfd(&dir);
    let dump = LoadedDump::load(&dir).unwrap();
    assert_eq!(dump.files.memfds[0].content_image, name);
    let value = show(&dir).unwrap();
    assert_eq!(
        value[name.as_str()],
        serde_json::json!({"raw_file_content": true, "size": 5})
    );
    assert_eq!(show(&dir.join(&name)).unwrap()["size"], 5);
}

#[test]
fn content_images_are_checksummed_at_load_not_later() {
    let tmp = TestDir::new();
    let dir = tmp.dump();
    write_dump(&dir);
    let name = add_memfd(&dir);
    fs::write(dir.join(&name), b"jello").unwrap();
    // Restore writes the content into a new file before the deferred
    // (page) checksums are in: a damaged content image must fail the load itself.
    match LoadedDump::load_deferring_raw_checksums(&dir) {
        Err(ImageError::ChecksumMismatch { path, .. }) => assert_eq!(path, dir.join(&name)),
        other => panic!("expected a checksum mismatch on {name}, got {other:?}"),
    }
}

#[test]
fn load_refuses_an_unlisted_content_image() {
    let tmp = TestDir::new();
    let dir = tmp.dump();
    write_dump(&dir);
    let name = add_memfd(&dir);
    edit_inventory(&dir, |inventory| {
        inventory.images.retain(|e| e.name != name)
    });
    let err = load_err(&dir);
    assert!(
        matches!(
            &err,
            ImageError::Inconsistent {
                problem: Inconsistency::MissingContentImage { .. },
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains(&name), "{err}");
}
