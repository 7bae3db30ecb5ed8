//! Retention: which snapshots a `--keep-*` policy keeps, with restic's semantics, so
//! operators can carry their policies over unchanged.
//!
//! Snapshots are grouped (by host and paths by default) and walked newest first. `last` keeps
//! the newest n. Each time bucket (hour, day, ISO week, month, year) keeps the newest snapshot
//! of each of its n most recent periods that have snapshots. `tags` keeps every snapshot with
//! any of those tags. A snapshot is kept if any rule keeps it.

use chrono::{DateTime, Datelike, Local, Timelike, Utc};
use serde::Serialize;

use crate::id::Id;
use crate::snapshot::manifest::Snapshot;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    pub last: Option<u32>,
    pub hourly: Option<u32>,
    pub daily: Option<u32>,
    pub weekly: Option<u32>,
    pub monthly: Option<u32>,
    pub yearly: Option<u32>,
    pub tags: Vec<String>,
    /// Keep everything newer than this, relative to the newest snapshot of the group.
    pub within: Option<std::time::Duration>,
}

impl Policy {
    pub fn is_empty(&self) -> bool {
        self.last.is_none()
            && self.hourly.is_none()
            && self.daily.is_none()
            && self.weekly.is_none()
            && self.monthly.is_none()
            && self.yearly.is_none()
            && self.tags.is_empty()
            && self.within.is_none()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GroupBy {
    pub host: bool,
    pub paths: bool,
    pub tags: bool,
}

impl GroupBy {
    pub fn parse(s: &str) -> Result<GroupBy, String> {
        let mut g = GroupBy::default();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part {
                "host" => g.host = true,
                "paths" => g.paths = true,
                "tags" => g.tags = true,
                other => {
                    return Err(format!(
                        "unknown group-by field {other:?} (use host, paths, tags)"
                    ));
                }
            }
        }
        Ok(g)
    }

    fn key(&self, s: &Snapshot) -> String {
        let mut k = Vec::new();
        if self.host {
            k.push(format!("host={}", s.hostname));
        }
        if self.paths {
            k.push(format!("paths={}", s.paths_display().join(",")));
        }
        if self.tags {
            let mut t = s.tags.clone();
            t.sort();
            k.push(format!("tags={}", t.join(",")));
        }
        k.join(" ")
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Decision {
    pub id: String,
    pub time: String,
    pub keep: bool,
    pub reasons: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct GroupDecision {
    pub group: String,
    pub decisions: Vec<Decision>,
}

struct Bucket {
    name: &'static str,
    count: Option<u32>,
    last: Option<i64>,
    key: fn(&DateTime<Local>) -> i64,
}

/// Apply `policy` to snapshots (any order); returns decisions per group, newest first.
pub fn apply(
    snapshots: &[(Id, Snapshot)],
    policy: &Policy,
    group_by: GroupBy,
) -> Vec<GroupDecision> {
    let mut groups: std::collections::BTreeMap<String, Vec<&(Id, Snapshot)>> = Default::default();
    for s in snapshots {
        groups.entry(group_by.key(&s.1)).or_default().push(s);
    }
    groups
        .into_iter()
        .map(|(group, mut list)| {
            list.sort_by(|a, b| b.1.time().cmp(&a.1.time()).then(b.0.cmp(&a.0)));
            GroupDecision {
                group,
                decisions: decide(&list, policy),
            }
        })
        .collect()
}

fn decide(newest_first: &[&(Id, Snapshot)], policy: &Policy) -> Vec<Decision> {
    let mut buckets = [
        Bucket {
            name: "hourly",
            count: policy.hourly,
            last: None,
            key: |t| {
                i64::from(t.year()) * 1_000_000 + i64::from(t.ordinal()) * 100 + i64::from(t.hour())
            },
        },
        Bucket {
            name: "daily",
            count: policy.daily,
            last: None,
            key: |t| i64::from(t.year()) * 1000 + i64::from(t.ordinal()),
        },
        Bucket {
            name: "weekly",
            count: policy.weekly,
            last: None,
            key: |t| {
                let w = t.iso_week();
                i64::from(w.year()) * 100 + i64::from(w.week())
            },
        },
        Bucket {
            name: "monthly",
            count: policy.monthly,
            last: None,
            key: |t| i64::from(t.year()) * 100 + i64::from(t.month()),
        },
        Bucket {
            name: "yearly",
            count: policy.yearly,
            last: None,
            key: |t| i64::from(t.year()),
        },
    ];
    let newest = newest_first.first().and_then(|s| s.1.time());
    newest_first
        .iter()
        .enumerate()
        .map(|(nr, (id, s))| {
            let mut reasons = Vec::new();
            if policy.tags.iter().any(|t| s.tags.contains(t)) {
                reasons.push("tag".to_string());
            }
            if policy.last.is_some_and(|n| (nr as u64) < u64::from(n)) {
                reasons.push("last snapshot".to_string());
            }
            let time: Option<DateTime<Utc>> = s.time();
            if let (Some(within), Some(t), Some(newest)) = (policy.within, time, newest) {
                if (newest - t).to_std().is_ok_and(|age| age <= within) {
                    reasons.push("within".to_string());
                }
            }
            if let Some(t) = time {
                let local = t.with_timezone(&Local);
                for b in buckets.iter_mut() {
                    let Some(left) = b.count else { continue };
                    let k = (b.key)(&local);
                    if left > 0 && b.last != Some(k) {
                        b.last = Some(k);
                        b.count = Some(left - 1);
                        reasons.push(format!("{} snapshot", b.name));
                    }
                }
            }
            Decision {
                id: id.to_hex(),
                time: s.time.clone(),
                keep: !reasons.is_empty(),
                reasons,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn snap(t: DateTime<Local>, tags: &[&str]) -> (Id, Snapshot) {
        (
            Id::random(),
            Snapshot {
                version: 1,
                time: t.with_timezone(&Utc).to_rfc3339(),
                hostname: "h".into(),
                username: "u".into(),
                tags: tags.iter().map(|s| s.to_string()).collect(),
                paths: vec![serde_bytes::ByteBuf::from(b"/data".to_vec())],
                parent: None,
                tree: vec![],
                summary: Default::default(),
                excludes: vec![],
                program: String::new(),
                deployment: None,
                host: None,
            },
        )
    }

    fn kept(list: &[(Id, Snapshot)], p: &Policy) -> Vec<String> {
        let d = apply(list, p, GroupBy::parse("host,paths").unwrap());
        assert_eq!(d.len(), 1);
        d[0].decisions
            .iter()
            .filter(|d| d.keep)
            .map(|d| d.time.clone())
            .collect()
    }

    /// Four snapshots a day (00, 06, 12, 18h) for 60 days from 2026-01-01.
    fn history() -> Vec<(Id, Snapshot)> {
        let mut v = Vec::new();
        for day in 0..60 {
            for h in [0, 6, 12, 18] {
                let t = Local.with_ymd_and_hms(2026, 1, 1, h, 0, 0).unwrap()
                    + chrono::Duration::days(day);
                v.push(snap(
                    t,
                    if day == 3 && h == 6 {
                        &["release"]
                    } else {
                        &[]
                    },
                ));
            }
        }
        v
    }

    fn at(y: i32, m: u32, d: u32, h: u32) -> String {
        Local
            .with_ymd_and_hms(y, m, d, h, 0, 0)
            .unwrap()
            .with_timezone(&Utc)
            .to_rfc3339()
    }

    #[test]
    fn keep_last() {
        let h = history();
        let k = kept(
            &h,
            &Policy {
                last: Some(3),
                ..Default::default()
            },
        );
        assert_eq!(
            k,
            vec![at(2026, 3, 1, 18), at(2026, 3, 1, 12), at(2026, 3, 1, 6)]
        );
    }

    #[test]
    fn keep_daily_takes_the_newest_of_each_day() {
        let h = history();
        let k = kept(
            &h,
            &Policy {
                daily: Some(3),
                ..Default::default()
            },
        );
        assert_eq!(
            k,
            vec![at(2026, 3, 1, 18), at(2026, 2, 28, 18), at(2026, 2, 27, 18)]
        );
    }

    #[test]
    fn keep_weekly_uses_iso_weeks() {
        let h = history();
        // 2026-03-01 is a Sunday (end of ISO week 9); the week before ends 2026-02-22.
        let k = kept(
            &h,
            &Policy {
                weekly: Some(2),
                ..Default::default()
            },
        );
        assert_eq!(k, vec![at(2026, 3, 1, 18), at(2026, 2, 22, 18)]);
    }

    #[test]
    fn keep_monthly_and_yearly_and_union_of_rules() {
        let h = history();
        let k = kept(
            &h,
            &Policy {
                monthly: Some(6),
                ..Default::default()
            },
        );
        assert_eq!(
            k,
            vec![at(2026, 3, 1, 18), at(2026, 2, 28, 18), at(2026, 1, 31, 18)]
        );
        let k = kept(
            &h,
            &Policy {
                yearly: Some(5),
                ..Default::default()
            },
        );
        assert_eq!(k, vec![at(2026, 3, 1, 18)]);
        let k = kept(
            &h,
            &Policy {
                last: Some(1),
                daily: Some(2),
                tags: vec!["release".into()],
                ..Default::default()
            },
        );
        assert_eq!(
            k,
            vec![at(2026, 3, 1, 18), at(2026, 2, 28, 18), at(2026, 1, 4, 6)]
        );
    }

    #[test]
    fn hourly_counts_only_periods_with_snapshots() {
        let h = history();
        let k = kept(
            &h,
            &Policy {
                hourly: Some(2),
                ..Default::default()
            },
        );
        assert_eq!(k, vec![at(2026, 3, 1, 18), at(2026, 3, 1, 12)]);
    }

    #[test]
    fn groups_are_separate() {
        let mut h = history();
        let mut other = snap(Local.with_ymd_and_hms(2025, 6, 1, 0, 0, 0).unwrap(), &[]);
        other.1.hostname = "other".into();
        h.push(other);
        let d = apply(
            &h,
            &Policy {
                last: Some(1),
                ..Default::default()
            },
            GroupBy::parse("host").unwrap(),
        );
        assert_eq!(d.len(), 2);
        assert!(
            d.iter()
                .all(|g| g.decisions.iter().filter(|x| x.keep).count() == 1)
        );
        assert!(GroupBy::parse("host,bogus").is_err());
    }
}
