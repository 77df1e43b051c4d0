//! /proc/<pid>/status: credentials, capabilities, umask and a few flags.

use super::ParseError;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Status {
    pub name: String,
    /// real, effective, saved, filesystem
    pub uids: [u32; 4],
    pub gids: [u32; 4],
    pub groups: Vec<u32>,
    pub umask: u32,
    pub cap_inheritable: u64,
    pub cap_permitted: u64,
    pub cap_effective: u64,
    pub cap_bounding: u64,
    pub cap_ambient: u64,
    pub no_new_privs: bool,
    pub seccomp: u32,
    pub threads: u32,
    pub tracer_pid: i32,
    /// Namespace pids of the task (NSpid); more than one means a nested pid namespace.
    pub ns_pids: Vec<i32>,
}

pub fn parse_status(text: &str) -> Result<Status, ParseError> {
    let mut status = Status::default();
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        let bad = || ParseError::new("status", format!("bad {key} line {value:?}"));
        let ids = |v: &str| -> Result<[u32; 4], ParseError> {
            let parsed: Vec<u32> = v
                .split_whitespace()
                .map(|x| x.parse().map_err(|_| bad()))
                .collect::<Result<_, _>>()?;
            parsed.try_into().map_err(|_| bad())
        };
        let cap = |v: &str| u64::from_str_radix(v, 16).map_err(|_| bad());
        match key {
            "Name" => status.name = value.to_string(),
            "Uid" => status.uids = ids(value)?,
            "Gid" => status.gids = ids(value)?,
            "Groups" => {
                status.groups = value
                    .split_whitespace()
                    .map(|x| x.parse().map_err(|_| bad()))
                    .collect::<Result<_, _>>()?
            }
            "Umask" => status.umask = u32::from_str_radix(value, 8).map_err(|_| bad())?,
            "CapInh" => status.cap_inheritable = cap(value)?,
            "CapPrm" => status.cap_permitted = cap(value)?,
            "CapEff" => status.cap_effective = cap(value)?,
            "CapBnd" => status.cap_bounding = cap(value)?,
            "CapAmb" => status.cap_ambient = cap(value)?,
            "NoNewPrivs" => status.no_new_privs = value == "1",
            "Seccomp" => status.seccomp = value.parse().map_err(|_| bad())?,
            "Threads" => status.threads = value.parse().map_err(|_| bad())?,
            "TracerPid" => status.tracer_pid = value.parse().map_err(|_| bad())?,
            "NSpid" => {
                status.ns_pids = value
                    .split_whitespace()
                    .map(|x| x.parse().map_err(|_| bad()))
                    .collect::<Result<_, _>>()?
            }
            _ => {}
        }
    }
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ids_and_caps() {
        let text =
            "Name:\tsleep\nUmask:\t0027\nUid:\t1000\t1001\t1002\t1001\nGid:\t10\t10\t10\t10\n\
Groups:\t4 24 27 \nNSpid:\t55\nThreads:\t1\nTracerPid:\t0\nNoNewPrivs:\t1\nSeccomp:\t0\n\
CapInh:\t0000000000000000\nCapPrm:\t000001ffffffffff\nCapEff:\t000001ffffffffff\n\
CapBnd:\t000001ffffffffff\nCapAmb:\t0000000000000000\n";
        let status = parse_status(text).unwrap();
        assert_eq!(status.name, "sleep");
        assert_eq!(status.umask, 0o27);
        assert_eq!(status.uids, [1000, 1001, 1002, 1001]);
        assert_eq!(status.groups, vec![4, 24, 27]);
        assert_eq!(status.cap_permitted, 0x1ff_ffff_ffff);
        assert!(status.no_new_privs);
        assert_eq!(status.ns_pids, vec![55]);
    }
}
