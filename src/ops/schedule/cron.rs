//! The cron.d form of a schedule, for hosts where systemd is not running: the systemd calendar
//! expression translated into cron's five fields, or refused when cron cannot say it.

use std::fmt::Write as _;

use super::{MARKER, Schedule};
use crate::error::{Error, Result};

/// The cron.d file for a schedule (with the user field), or an error when the calendar
/// expression has no cron equivalent.
pub fn render_cron(s: &Schedule) -> Result<String> {
    s.validate()?;
    let when = cron_schedule(&s.on_calendar)?;
    let cmd = s
        .command()
        .iter()
        .map(|a| shell_quote(a))
        .collect::<Vec<_>>()
        .join(" ")
        // cron turns an unescaped % into a newline, even inside quotes.
        .replace('%', "\\%");
    let mut out = String::new();
    let _ = writeln!(out, "{MARKER}");
    let _ = writeln!(
        out,
        "# lifeboat backup job {} (OnCalendar={}). Remove with `lifeboat schedule remove --job {} --cron-file <this file>`.",
        s.job, s.on_calendar, s.job
    );
    if !s.randomized_delay.is_zero() {
        let _ = writeln!(
            out,
            "# cron has no randomized delay; the run starts exactly at the time below."
        );
    }
    let _ = writeln!(
        out,
        "# cron does not catch up on runs missed while the host was off (systemd's Persistent=)."
    );
    out.push_str(
        "SHELL=/bin/sh\nPATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n",
    );
    let _ = writeln!(out, "{when} root {cmd}");
    Ok(out)
}

fn shell_quote(arg: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "/_.,:@+=-".contains(c);
    if !arg.is_empty() && arg.chars().all(plain) {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', "'\\''"))
    }
}

/// Translate a systemd calendar expression into the five cron fields (`M H DOM MON DOW`).
///
/// Handles the shorthands (minutely, hourly, daily, weekly, monthly, quarterly,
/// semiannually, yearly/annually) and `[WEEKDAYS] [*-MONTH-DAY] HOUR:MINUTE[:00]` with `*`,
/// lists, `a..b` ranges and `a/n` repetition. Fails for what cron cannot say: seconds other than
/// 0, a year, time zones, `~` (last days), and a weekday together with a day of month (cron ORs
/// those, systemd ANDs them).
pub fn cron_schedule(spec: &str) -> Result<String> {
    let fail = |why: &str| {
        Error::Invalid(format!(
            "cannot translate calendar expression {spec:?} to cron: {why} (use a form like daily, hourly or \"*-*-* 03:30:00\")"
        ))
    };
    let spec = spec.trim();
    if spec.is_empty() {
        return Err(fail("it is empty"));
    }
    let expanded = match spec.to_ascii_lowercase().as_str() {
        "minutely" => "*-*-* *:*:00",
        "hourly" => "*-*-* *:00:00",
        "daily" => "*-*-* 00:00:00",
        "weekly" => "Mon *-*-* 00:00:00",
        "monthly" => "*-*-01 00:00:00",
        "quarterly" => "*-01,04,07,10-01 00:00:00",
        "semiannually" => "*-01,07-01 00:00:00",
        "yearly" | "annually" => "*-01-01 00:00:00",
        _ => spec,
    };
    let mut tokens: Vec<&str> = expanded.split_whitespace().collect();
    let mut dow = "*".to_string();
    if tokens
        .first()
        .is_some_and(|t| t.starts_with(|c: char| c.is_ascii_alphabetic()))
    {
        dow = weekdays(tokens.remove(0)).map_err(|e| fail(&e))?;
    }
    let (mut date, mut time) = ("*-*-*", "00:00:00");
    match tokens.as_slice() {
        [] => {}
        [one] if one.contains(':') => time = one,
        [one] if one.contains('-') => date = one,
        [d, t] if d.contains('-') && t.contains(':') => (date, time) = (d, t),
        _ => return Err(fail("expected [WEEKDAYS] [DATE] [TIME]")),
    }
    let date_parts: Vec<&str> = date.split('-').collect();
    let (month, day) = match date_parts.as_slice() {
        [year, m, d] => {
            if *year != "*" {
                return Err(fail("cron has no year field"));
            }
            (*m, *d)
        }
        [m, d] => (*m, *d),
        _ => return Err(fail("unrecognised date")),
    };
    let time_parts: Vec<&str> = time.split(':').collect();
    let (hour, minute) = match time_parts.as_slice() {
        [h, m] => (*h, *m),
        [h, m, s] => {
            if !matches!(s.trim_start_matches('0'), "") {
                return Err(fail("cron cannot run at a second other than :00"));
            }
            (*h, *m)
        }
        _ => return Err(fail("unrecognised time")),
    };
    let month = field(month, 1, 12).map_err(|e| fail(&format!("month: {e}")))?;
    let day = field(day, 1, 31).map_err(|e| fail(&format!("day: {e}")))?;
    let hour = field(hour, 0, 23).map_err(|e| fail(&format!("hour: {e}")))?;
    let minute = field(minute, 0, 59).map_err(|e| fail(&format!("minute: {e}")))?;
    if dow != "*" && day != "*" {
        return Err(fail(
            "cron treats a weekday and a day of month as either-or, systemd as both",
        ));
    }
    Ok(format!("{minute} {hour} {day} {month} {dow}"))
}

/// One numeric calendar field (`*`, `5`, `1,15`, `1..5`, `0/15`, `*/2`) as a cron field.
fn field(v: &str, min: u32, max: u32) -> std::result::Result<String, String> {
    let num = |s: &str| -> std::result::Result<u32, String> {
        let n: u32 = s.parse().map_err(|_| format!("{v:?} is not understood"))?;
        if n < min || n > max {
            return Err(format!("{n} is outside {min}..{max}"));
        }
        Ok(n)
    };
    if v == "*" {
        return Ok("*".into());
    }
    let mut items = Vec::new();
    for item in v.split(',') {
        if let Some((start, step)) = item.split_once('/') {
            let step: u32 = step
                .parse()
                .ok()
                .filter(|s| *s > 0)
                .ok_or_else(|| format!("{v:?}: bad repetition"))?;
            let start = if start == "*" { min } else { num(start)? };
            items.push(if start == min {
                format!("*/{step}")
            } else {
                format!("{start}-{max}/{step}")
            });
        } else if let Some((a, b)) = item.split_once("..") {
            let (a, b) = (num(a)?, num(b)?);
            if a > b {
                return Err(format!("{item:?}: range runs backwards"));
            }
            items.push(format!("{a}-{b}"));
        } else {
            items.push(num(item)?.to_string());
        }
    }
    Ok(items.join(","))
}

/// Weekday names (`Mon`, `Monday`, lists, `a..b` ranges) as a cron day-of-week field.
fn weekdays(v: &str) -> std::result::Result<String, String> {
    const DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
    const LONG: [&str; 7] = [
        "sunday",
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
    ];
    let day = |s: &str| -> std::result::Result<usize, String> {
        let l = s.to_ascii_lowercase();
        DAYS.iter()
            .position(|d| *d == l)
            .or_else(|| LONG.iter().position(|d| *d == l))
            .ok_or_else(|| format!("{s:?} is not a weekday"))
    };
    let mut items = Vec::new();
    for item in v.split(',') {
        if let Some((a, b)) = item.split_once("..") {
            // systemd weeks run Monday..Sunday; cron's Sunday is 0 (and 7).
            let (a, b) = (day(a)?, day(b)?);
            let (a, b) = (if a == 0 { 7 } else { a }, if b == 0 { 7 } else { b });
            if a > b {
                return Err(format!("{item:?}: weekday range runs backwards"));
            }
            items.push(format!("{a}-{b}"));
        } else {
            items.push(day(item)?.to_string());
        }
    }
    Ok(items.join(","))
}

#[cfg(test)]
mod tests {
    use super::super::tests::sched;
    use super::*;

    #[test]
    fn cron_translation() {
        for (systemd, cron) in [
            ("hourly", "0 * * * *"),
            ("daily", "0 0 * * *"),
            ("weekly", "0 0 * * 1"),
            ("monthly", "0 0 1 * *"),
            ("yearly", "0 0 1 1 *"),
            ("quarterly", "0 0 1 1,4,7,10 *"),
            ("*-*-* 03:30:00", "30 3 * * *"),
            ("*-*-* 03:30", "30 3 * * *"),
            ("03:30", "30 3 * * *"),
            ("*-*-* 00/6:15:00", "15 */6 * * *"),
            ("*:0/15", "*/15 * * * *"),
            ("*-*-* 2,14:05:00", "5 2,14 * * *"),
            ("Mon..Fri 02:30", "30 2 * * 1-5"),
            ("Sat,Sun *-*-* 04:00:00", "0 4 * * 6,0"),
            ("Fri..Sun 01:00", "0 1 * * 5-7"),
            ("*-*-15 12:00:00", "0 12 15 * *"),
            ("*-02-01 06:00:00", "0 6 1 2 *"),
            ("  Daily ", "0 0 * * *"),
        ] {
            assert_eq!(cron_schedule(systemd).unwrap(), cron, "{systemd}");
        }
        for bad in [
            "*-*-* 03:30:15",
            "2027-*-* 03:00",
            "*-*-* 03:00 UTC",
            "*-*~01 00:00",
            "Mon *-*-01 00:00",
            "Funday 03:00",
            "*-*-* 25:00",
            "*-13-01 00:00",
            "*-*-* 05..02:00",
            "*-*-* 00/0:00",
            "",
            "bogus",
        ] {
            let e = cron_schedule(bad).unwrap_err().to_string();
            assert!(e.contains("cannot translate"), "{bad}: {e}");
        }
    }

    #[test]
    fn cron_file_has_user_field_and_escapes() {
        let mut s = sched();
        s.config = "/srv/my conf/50%.toml".into();
        let text = render_cron(&s).unwrap();
        assert!(text.starts_with(MARKER));
        assert!(text.ends_with(
            "0 0 * * * root /usr/local/bin/lifeboat run --config '/srv/my conf/50\\%.toml' --job default\n"
        ), "{text}");
        assert!(text.contains("no randomized delay"));
        s.on_calendar = "*-*-* 03:00:07".into();
        assert!(render_cron(&s).is_err());
    }
}
