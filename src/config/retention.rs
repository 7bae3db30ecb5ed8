//! A retention policy as the configuration and `lifeboat forget` give it: counts per time
//! bucket, tag lists and a calendar duration (`keep_within`). Plain data, below the operations:
//! [`crate::ops::forget`] applies it.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Days, Local, Months, Utc};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    pub last: Option<u32>,
    pub hourly: Option<u32>,
    pub daily: Option<u32>,
    pub weekly: Option<u32>,
    pub monthly: Option<u32>,
    pub yearly: Option<u32>,
    /// Tag lists: a snapshot is kept when it has every tag of any one list. Each entry is a
    /// comma-separated list (`"release,gpu"`); `""` matches untagged snapshots.
    pub tags: Vec<String>,
    /// Keep everything newer than this before the newest snapshot of the group (snapshots in
    /// the future do not count as the newest).
    pub within: Option<Within>,
}

impl Policy {
    /// True when no rule would keep anything: no counts above 0, no tags, no duration. Such a
    /// policy keeps every snapshot (restic refuses to act on it).
    pub fn is_empty(&self) -> bool {
        [
            self.last,
            self.hourly,
            self.daily,
            self.weekly,
            self.monthly,
            self.yearly,
        ]
        .iter()
        .all(|n| n.unwrap_or(0) == 0)
            && self.tags.is_empty()
            && self.within.is_none_or(|w| w.is_zero())
    }
}

/// A `--keep-within` duration in restic's calendar units: `1y2m3d4h` is one year, two months,
/// three days and four hours (`m` is months, not minutes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Within {
    pub years: u32,
    pub months: u32,
    pub days: u32,
    pub hours: u32,
}

impl Within {
    pub fn is_zero(&self) -> bool {
        *self == Within::default()
    }

    /// The instant `self` before `t`, in the local calendar (so "1m" before 31 March is the
    /// last day of February, where restic, via Go's AddDate, would say 3 March).
    pub fn before(&self, t: DateTime<Utc>) -> DateTime<Utc> {
        let months = Months::new(self.years.saturating_mul(12).saturating_add(self.months));
        let local = t.with_timezone(&Local);
        let date_part = local
            .checked_sub_months(months)
            .and_then(|l| l.checked_sub_days(Days::new(u64::from(self.days))))
            .map(|l| l.with_timezone(&Utc))
            // A local time that does not exist (DST gap): count in UTC instead.
            .or_else(|| {
                t.checked_sub_months(months)?
                    .checked_sub_days(Days::new(u64::from(self.days)))
            })
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        date_part
            .checked_sub_signed(chrono::Duration::hours(i64::from(self.hours)))
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }
}

impl FromStr for Within {
    type Err = String;

    fn from_str(s: &str) -> Result<Within, String> {
        let bad = || {
            format!(
                "{s:?} is not a duration like 7d, 36h, 6m or 1y2m3d4h (y years, m months, d days, h hours)"
            )
        };
        let mut w = Within::default();
        let mut num = String::new();
        for c in s.trim().chars() {
            if c.is_ascii_digit() {
                num.push(c);
                continue;
            }
            let n: u32 = num.parse().map_err(|_| bad())?;
            num.clear();
            let slot = match c {
                'y' => &mut w.years,
                'm' => &mut w.months,
                'd' => &mut w.days,
                'h' => &mut w.hours,
                _ => return Err(bad()),
            };
            *slot = slot.checked_add(n).ok_or_else(bad)?;
        }
        if !num.is_empty() || s.trim().is_empty() {
            return Err(bad());
        }
        Ok(w)
    }
}

impl fmt::Display for Within {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_zero() {
            return f.write_str("0h");
        }
        for (n, unit) in [
            (self.years, 'y'),
            (self.months, 'm'),
            (self.days, 'd'),
            (self.hours, 'h'),
        ] {
            if n > 0 {
                write!(f, "{n}{unit}")?;
            }
        }
        Ok(())
    }
}
