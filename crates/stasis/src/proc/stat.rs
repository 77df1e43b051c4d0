//! /proc/<pid>/stat: the fields stasis needs.

use super::ParseError;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stat {
    pub pid: i32,
    pub comm: String,
    pub state: char,
    pub ppid: i32,
    pub pgid: i32,
    pub sid: i32,
    pub flags: u64,
    pub num_threads: i64,
    pub exit_signal: i32,
    pub start_code: u64,
    pub end_code: u64,
    pub start_stack: u64,
    pub start_data: u64,
    pub end_data: u64,
    pub start_brk: u64,
    pub arg_start: u64,
    pub arg_end: u64,
    pub env_start: u64,
    pub env_end: u64,
    /// Exit status as waitpid reports it (meaningful for zombies).
    pub exit_code: i32,
}

/// PF_KTHREAD in `Stat::flags`.
pub const PF_KTHREAD: u64 = 0x0020_0000;

pub fn parse_stat(text: &str) -> Result<Stat, ParseError> {
    // comm is in parentheses and may itself contain ") ", so split at the last ')'.
    let open = text
        .find('(')
        .ok_or_else(|| ParseError::new("stat", "no '('"))?;
    let close = text
        .rfind(')')
        .ok_or_else(|| ParseError::new("stat", "no ')'"))?;
    if close < open {
        return Err(ParseError::new("stat", "bad comm"));
    }
    let pid = text[..open]
        .trim()
        .parse()
        .map_err(|_| ParseError::new("stat", "bad pid"))?;
    let comm = text[open + 1..close].to_string();
    // Field numbers below follow proc(5): field 3 (state) is fields[0].
    let fields: Vec<&str> = text[close + 1..].split_whitespace().collect();
    let get = |n: usize| -> Result<&str, ParseError> {
        fields
            .get(n - 3)
            .copied()
            .ok_or_else(|| ParseError::new("stat", format!("missing field {n}")))
    };
    let num = |n: usize| -> Result<u64, ParseError> {
        get(n)?
            .parse::<i64>()
            .map(|v| v as u64)
            .map_err(|_| ParseError::new("stat", format!("bad field {n}")))
    };
    Ok(Stat {
        pid,
        comm,
        state: get(3)?.chars().next().unwrap_or('?'),
        ppid: num(4)? as i32,
        pgid: num(5)? as i32,
        sid: num(6)? as i32,
        flags: num(9)?,
        num_threads: num(20)? as i64,
        exit_signal: num(38)? as i32,
        start_code: num(26)?,
        end_code: num(27)?,
        start_stack: num(28)?,
        start_data: num(45)?,
        end_data: num(46)?,
        start_brk: num(47)?,
        arg_start: num(48)?,
        arg_end: num(49)?,
        env_start: num(50)?,
        env_end: num(51)?,
        exit_code: num(52).unwrap_or(0) as i32,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_comm_with_parens() {
        let text = "4121 (a) b) S 1 4121 4121 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 \
100 1000 10 18446744073709551615 94000 95000 140000 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 \
96000 97000 98000 140001 140010 140010 140020 0\n";
        let stat = parse_stat(text).unwrap();
        assert_eq!(stat.pid, 4121);
        assert_eq!(stat.comm, "a) b");
        assert_eq!(stat.state, 'S');
        assert_eq!(stat.ppid, 1);
        assert_eq!(stat.sid, 4121);
        assert_eq!(stat.num_threads, 1);
        assert_eq!(stat.start_code, 94000);
        assert_eq!(stat.exit_signal, 17);
        assert_eq!(stat.start_brk, 98000);
        assert_eq!(stat.env_end, 140020);
    }

    #[test]
    fn short_line_is_an_error() {
        assert!(parse_stat("1 (x) S 0").is_err());
    }
}
