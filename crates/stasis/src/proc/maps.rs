//! /proc/<pid>/maps and the VmFlags lines of /proc/<pid>/smaps.

use super::ParseError;

/// One line of /proc/<pid>/maps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapsEntry {
    pub start: u64,
    pub end: u64,
    pub read: bool,
    pub write: bool,
    pub exec: bool,
    pub shared: bool,
    pub offset: u64,
    pub dev_major: u32,
    pub dev_minor: u32,
    pub inode: u64,
    /// Path or pseudo-name ("[heap]", "[vdso]", ...); empty for anonymous memory.
    pub path: String,
}

impl MapsEntry {
    pub fn len(&self) -> u64 {
        self.end - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }

    /// PROT_* bits.
    pub fn prot(&self) -> u32 {
        (if self.read { libc::PROT_READ } else { 0 }
            | if self.write { libc::PROT_WRITE } else { 0 }
            | if self.exec { libc::PROT_EXEC } else { 0 }) as u32
    }
}

fn hex(s: &str, what: &str) -> Result<u64, ParseError> {
    u64::from_str_radix(s, 16).map_err(|_| ParseError::new("maps", format!("bad {what} {s:?}")))
}

/// Parses the whole of /proc/<pid>/maps.
pub fn parse_maps(text: &str) -> Result<Vec<MapsEntry>, ParseError> {
    text.lines()
        .filter(|l| !l.is_empty())
        .map(parse_line)
        .collect()
}

fn parse_line(line: &str) -> Result<MapsEntry, ParseError> {
    // Fields are separated by single spaces except before the path, which is
    // padded; the path itself may contain spaces.
    let mut rest = line;
    let mut fields = Vec::with_capacity(5);
    for _ in 0..5 {
        let trimmed = rest.trim_start();
        let end = trimmed.find(' ').unwrap_or(trimmed.len());
        fields.push(&trimmed[..end]);
        rest = &trimmed[end..];
    }
    let path = rest.trim_start().to_string();
    let bad = || ParseError::new("maps", format!("bad line {line:?}"));
    let (start, end) = fields[0].split_once('-').ok_or_else(bad)?;
    let perms = fields[1].as_bytes();
    if perms.len() != 4 {
        return Err(bad());
    }
    let (major, minor) = fields[3].split_once(':').ok_or_else(bad)?;
    Ok(MapsEntry {
        start: hex(start, "start")?,
        end: hex(end, "end")?,
        read: perms[0] == b'r',
        write: perms[1] == b'w',
        exec: perms[2] == b'x',
        shared: perms[3] == b's',
        offset: hex(fields[2], "offset")?,
        dev_major: hex(major, "device")? as u32,
        dev_minor: hex(minor, "device")? as u32,
        inode: fields[4].parse().map_err(|_| bad())?,
        path,
    })
}

/// The VmFlags of every VMA in /proc/<pid>/smaps, keyed by start address, in order.
pub fn parse_smaps_vmflags(text: &str) -> Vec<(u64, String)> {
    let mut out = Vec::new();
    let mut current: Option<u64> = None;
    for line in text.lines() {
        if let Some(flags) = line.strip_prefix("VmFlags:") {
            if let Some(start) = current.take() {
                out.push((start, flags.trim().to_string()));
            }
        } else if let Some((range, _)) = line.split_once(' ') {
            if let Some((start, _)) = range.split_once('-') {
                if let Ok(start) = u64::from_str_radix(start, 16) {
                    current = Some(start);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_typical_lines() {
        let text = "\
55d4c0a00000-55d4c0a02000 r--p 00000000 fe:01 1234                       /usr/bin/cat
7ffd1c000000-7ffd1c021000 rw-p 00000000 00:00 0                          [stack]
7f0000000000-7f0000001000 rw-s 00000000 00:01 99                         /tmp/my file (deleted)
7f0000002000-7f0000003000 ---p 00000000 00:00 0 
";
        let maps = parse_maps(text).unwrap();
        assert_eq!(maps.len(), 4);
        assert_eq!(maps[0].start, 0x55d4c0a00000);
        assert_eq!(maps[0].path, "/usr/bin/cat");
        assert_eq!(maps[0].dev_major, 0xfe);
        assert!(maps[1].write && !maps[1].shared);
        assert_eq!(maps[1].path, "[stack]");
        assert!(maps[2].shared);
        assert_eq!(maps[2].path, "/tmp/my file (deleted)");
        assert_eq!(maps[3].path, "");
        assert_eq!(maps[3].prot(), 0);
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse_maps("hello world\n").is_err());
    }

    #[test]
    fn vmflags_by_start() {
        let text = "\
7f0000000000-7f0000001000 rw-p 00000000 00:00 0
Size:                  4 kB
VmFlags: rd wr mr mw me ac
7f0000002000-7f0000003000 rw-p 00000000 00:00 0   [stack]
Rss:                  4 kB
VmFlags: rd wr mr mw me gd ac
";
        let flags = parse_smaps_vmflags(text);
        assert_eq!(flags[0], (0x7f0000000000, "rd wr mr mw me ac".to_string()));
        assert_eq!(flags[1].1, "rd wr mr mw me gd ac");
    }
}
