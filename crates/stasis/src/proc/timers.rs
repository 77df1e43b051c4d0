//! /proc/<pid>/timers: the POSIX timers of a process (CONFIG_CHECKPOINT_RESTORE).

use super::ParseError;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TimerInfo {
    pub id: i32,
    pub signo: i32,
    pub sigev_value: u64,
    /// SIGEV_SIGNAL (0), SIGEV_NONE (1) or SIGEV_THREAD (2), plus SIGEV_THREAD_ID (4)
    /// when the notification goes to one thread.
    pub notify: i32,
    /// The process or thread notified.
    pub target: i32,
    pub clock: i32,
}

pub fn parse_timers(text: &str) -> Result<Vec<TimerInfo>, ParseError> {
    let mut timers: Vec<TimerInfo> = Vec::new();
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        let bad = || ParseError::new("timers", format!("bad {key} line {value:?}"));
        if key == "ID" {
            timers.push(TimerInfo {
                id: value.parse().map_err(|_| bad())?,
                ..Default::default()
            });
            continue;
        }
        let Some(timer) = timers.last_mut() else {
            return Err(bad());
        };
        match key {
            "signal" => {
                let (signo, sigval) = value.split_once('/').ok_or_else(bad)?;
                timer.signo = signo.parse().map_err(|_| bad())?;
                timer.sigev_value = u64::from_str_radix(sigval, 16).map_err(|_| bad())?;
            }
            "notify" => {
                let (how, target) = value.split_once('/').ok_or_else(bad)?;
                timer.notify = match how {
                    "signal" => 0,
                    "none" => 1,
                    "thread" => 2,
                    _ => return Err(bad()),
                };
                let (kind, id) = target.split_once('.').ok_or_else(bad)?;
                if kind == "tid" {
                    timer.notify |= 4;
                }
                timer.target = id.parse().map_err(|_| bad())?;
            }
            "ClockID" => timer.clock = value.parse().map_err(|_| bad())?,
            _ => {}
        }
    }
    Ok(timers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kernel_output() {
        let text = "ID: 2\nsignal: 0/0000000000000000\nnotify: none/pid.17976\nClockID: 7\n\
ID: 1\nsignal: 12/0000000000000000\nnotify: signal/tid.17977\nClockID: 0\n\
ID: 0\nsignal: 34/000000000000004d\nnotify: signal/pid.17976\nClockID: 1\n";
        let timers = parse_timers(text).unwrap();
        assert_eq!(timers.len(), 3);
        assert_eq!(
            timers[0],
            TimerInfo {
                id: 2,
                signo: 0,
                sigev_value: 0,
                notify: 1,
                target: 17976,
                clock: 7
            }
        );
        assert_eq!(timers[1].notify, 4);
        assert_eq!(timers[1].target, 17977);
        assert_eq!(timers[2].sigev_value, 0x4d);
        assert_eq!(timers[2].signo, 34);
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse_timers("signal: 1/0\n").is_err());
    }
}
