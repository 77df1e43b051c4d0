//! /proc/<pid>/limits: resource limits, readable for tasks of any uid.

use super::ParseError;

/// (resource number, soft, hard); `u64::MAX` is "unlimited".
pub type Limit = (u32, u64, u64);

/// Row titles of /proc/<pid>/limits in RLIMIT_* order.
const NAMES: [&str; 16] = [
    "Max cpu time",
    "Max file size",
    "Max data size",
    "Max stack size",
    "Max core file size",
    "Max resident set",
    "Max processes",
    "Max open files",
    "Max locked memory",
    "Max address space",
    "Max file locks",
    "Max pending signals",
    "Max msgqueue size",
    "Max nice priority",
    "Max realtime priority",
    "Max realtime timeout",
];

pub fn parse_limits(text: &str) -> Result<Vec<Limit>, ParseError> {
    let mut out = Vec::new();
    for line in text.lines().skip(1) {
        let Some(resource) = NAMES.iter().position(|name| line.starts_with(name)) else {
            continue;
        };
        let rest = &line[NAMES[resource].len()..];
        let mut values = rest.split_whitespace();
        let mut value = || -> Result<u64, ParseError> {
            match values.next() {
                Some("unlimited") => Ok(u64::MAX),
                Some(v) => v
                    .parse()
                    .map_err(|_| ParseError::new("limits", format!("bad value {v:?}"))),
                None => Err(ParseError::new("limits", format!("short line {line:?}"))),
            }
        };
        let soft = value()?;
        let hard = value()?;
        out.push((resource as u32, soft, hard));
    }
    if out.len() != NAMES.len() {
        return Err(ParseError::new(
            "limits",
            format!("found {} of 16 limits", out.len()),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kernel_output() {
        let text =
            "Limit                     Soft Limit           Hard Limit           Units     \n\
Max cpu time              unlimited            unlimited            seconds   \n\
Max file size             unlimited            unlimited            bytes     \n\
Max data size             unlimited            unlimited            bytes     \n\
Max stack size            8388608              unlimited            bytes     \n\
Max core file size        0                    unlimited            bytes     \n\
Max resident set          unlimited            unlimited            bytes     \n\
Max processes             95435                95435                processes \n\
Max open files            1024                 524288               files     \n\
Max locked memory         8388608              8388608              bytes     \n\
Max address space         unlimited            unlimited            bytes     \n\
Max file locks            unlimited            unlimited            locks     \n\
Max pending signals       95435                95435                signals   \n\
Max msgqueue size         819200               819200               bytes     \n\
Max nice priority         0                    0                    \n\
Max realtime priority     0                    0                    \n\
Max realtime timeout      unlimited            unlimited            us        \n";
        let limits = parse_limits(text).unwrap();
        assert_eq!(limits.len(), 16);
        assert_eq!(limits[3], (3, 8388608, u64::MAX));
        assert_eq!(limits[7], (7, 1024, 524288));
    }
}
