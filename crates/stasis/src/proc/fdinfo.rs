//! /proc/<pid>/fdinfo/<fd>.

use super::ParseError;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FdInfo {
    pub pos: u64,
    /// Status flags as the kernel prints them (octal), including O_CLOEXEC.
    pub flags: u32,
    pub mnt_id: u32,
    pub ino: u64,
}

pub fn parse_fdinfo(text: &str) -> Result<FdInfo, ParseError> {
    let mut info = FdInfo::default();
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        let bad = || ParseError::new("fdinfo", format!("bad {key} {value:?}"));
        match key {
            "pos" => info.pos = value.parse().map_err(|_| bad())?,
            "flags" => info.flags = u32::from_str_radix(value, 8).map_err(|_| bad())?,
            "mnt_id" => info.mnt_id = value.parse().map_err(|_| bad())?,
            "ino" => info.ino = value.parse().map_err(|_| bad())?,
            _ => {}
        }
    }
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fdinfo() {
        let info = parse_fdinfo("pos:\t42\nflags:\t02102001\nmnt_id:\t27\nino:\t1234\n").unwrap();
        assert_eq!(info.pos, 42);
        assert_eq!(info.flags, 0o2102001);
        assert_eq!(info.ino, 1234);
    }
}
