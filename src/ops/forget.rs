//! Retention: which snapshots a `--keep-*` policy keeps, with restic's semantics, so
//! operators can carry their policies over unchanged.
//!
//! Snapshots are grouped (by host and selection by default, see [`crate::snapshot::group`];
//! internal snapshots such as `pre-update` always apart, and the newest of each internal group
//! always kept) and walked newest first. `last` keeps
//! the newest n. Each time bucket (hour, day, ISO week, month, year, in local time) keeps the
//! newest snapshot of each of its n most recent periods that have snapshots, and the oldest
//! snapshot too while it has counts left (restic 0.17). `tags` keeps every snapshot that has all
//! tags of any one list. `within` keeps what is younger than a calendar duration before the
//! newest snapshot that is not in the future. A snapshot is kept if any rule keeps it; an empty
//! policy (all counts 0) keeps everything. `tests/retention.rs` checks these against restic's
//! documentation.

use chrono::{DateTime, Datelike, Local, Timelike, Utc};
use serde::Serialize;

use crate::id::Id;
use crate::snapshot::group::Group;
use crate::snapshot::manifest::Snapshot;

pub use crate::config::retention::{Policy, Within};

/// Whether a snapshot's tags include every tag of `list` (comma-separated); an empty entry
/// matches only untagged snapshots. Mirrors restic's `Snapshot.HasTags`.
fn has_tags(tags: &[String], list: &str) -> bool {
    for tag in list.split(',').map(str::trim) {
        if tag.is_empty() && tags.is_empty() {
            return true;
        }
        if !tags.iter().any(|t| t == tag) {
            return false;
        }
    }
    true
}

pub use crate::snapshot::group::GroupBy;

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

impl GroupDecision {
    /// True when the policy removes every snapshot of the group; restic refuses that ("refusing
    /// to delete last snapshot of snapshot group"), and so should every caller.
    pub fn keeps_nothing(&self) -> bool {
        !self.decisions.is_empty() && self.decisions.iter().all(|d| !d.keep)
    }
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
    let mut groups: std::collections::BTreeMap<(String, Group), Vec<&(Id, Snapshot)>> =
        Default::default();
    for s in snapshots {
        let g = group_by.group(&s.1);
        groups.entry((g.to_string(), g)).or_default().push(s);
    }
    groups
        .into_iter()
        .map(|((label, group), mut list)| {
            list.sort_by(|a, b| b.1.time().cmp(&a.1.time()).then(b.0.cmp(&a.0)));
            let mut decisions = decide(&list, policy);
            // The newest internal snapshot of its kind is the way back of the last update or
            // rollback: no policy ages it out.
            if let (Some(tag), Some(newest)) = (group.internal, decisions.first_mut())
                && !newest.keep
            {
                newest.keep = true;
                newest.reasons.push(format!("newest {tag} snapshot"));
            }
            GroupDecision {
                group: label,
                decisions,
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
    if policy.is_empty() {
        return newest_first
            .iter()
            .map(|(id, s)| Decision {
                id: id.to_hex(),
                time: s.time.clone(),
                keep: true,
                reasons: vec!["policy is empty".to_string()],
            })
            .collect();
    }
    // The newest snapshot that is not in the future: a wrong clock or a planted snapshot must
    // not move the window and take every real snapshot out of it.
    let now = Utc::now();
    let cutoff = policy.within.filter(|w| !w.is_zero()).map(|w| {
        newest_first
            .iter()
            .filter_map(|s| s.1.time())
            .filter(|t| *t < now)
            .max()
            .map_or(DateTime::<Utc>::MIN_UTC, |latest| w.before(latest))
    });
    let oldest = newest_first.len().saturating_sub(1);
    newest_first
        .iter()
        .enumerate()
        .map(|(nr, (id, s))| {
            let mut reasons = Vec::new();
            for list in &policy.tags {
                if has_tags(&s.tags, list) {
                    reasons.push(format!("has tags [{}]", list.replace(',', " ")));
                }
            }
            let last = policy.last.unwrap_or(0);
            if (nr as u64) < u64::from(last) {
                reasons.push("last snapshot".to_string());
            }
            let time: Option<DateTime<Utc>> = s.time();
            if let (Some(cutoff), Some(t), Some(w)) = (cutoff, time, policy.within)
                && t > cutoff
            {
                reasons.push(format!("within {w}"));
            }
            if let Some(t) = time {
                let local = t.with_timezone(&Local);
                for b in buckets.iter_mut() {
                    let left = b.count.unwrap_or(0);
                    if left == 0 {
                        continue;
                    }
                    let k = (b.key)(&local);
                    // While a count is left, the oldest snapshot is kept as well, to keep the
                    // longest history the policy allows (restic 0.17).
                    if b.last != Some(k) {
                        reasons.push(format!("{} snapshot", b.name));
                    } else if nr == oldest {
                        reasons.push(format!("oldest {} snapshot", b.name));
                    } else {
                        continue;
                    }
                    b.last = Some(k);
                    b.count = Some(left - 1);
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
                original: None,
                tree: vec![],
                summary: Default::default(),
                excludes: vec![],
                program: String::new(),
                deployment: None,
                host: None,
                selection: None,
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
        // Three months have snapshots and counts are left, so the oldest snapshot is kept too.
        assert_eq!(
            k,
            vec![
                at(2026, 3, 1, 18),
                at(2026, 2, 28, 18),
                at(2026, 1, 31, 18),
                at(2026, 1, 1, 0)
            ]
        );
        let k = kept(
            &h,
            &Policy {
                yearly: Some(5),
                ..Default::default()
            },
        );
        assert_eq!(k, vec![at(2026, 3, 1, 18), at(2026, 1, 1, 0)]);
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

/// What a policy run removed (or would remove).
#[derive(Debug, Default, Serialize)]
pub struct ForgetReport {
    pub groups: Vec<GroupDecision>,
    /// Removed snapshot IDs (hex).
    pub removed: Vec<String>,
}

/// Apply `policy` to the snapshots `filter` selects and remove what it does not keep, under the
/// exclusive lock. Refuses a policy that would empty a group.
pub fn forget_by_policy(
    repo: &crate::repo::Repository,
    policy: &Policy,
    group_by: GroupBy,
    filter: &crate::snapshot::select::Filter,
    dry_run: bool,
) -> crate::Result<ForgetReport> {
    if policy.is_empty() {
        return Err(crate::Error::Invalid(
            "the retention policy keeps everything: set at least one keep_* count".into(),
        ));
    }
    let _lock = repo.lock(crate::repo::LockKind::Exclusive, "forget")?;
    // What a host apply replaced is consumed by `restore --host --undo`, not aged out.
    let undo = crate::snapshot::tags::HOST_UNDO_TAG;
    let list: Vec<_> = crate::snapshot::select::all(repo)?
        .into_iter()
        .filter(|(_, s)| filter.matches(s) && !s.tags.iter().any(|t| t == undo))
        .collect();
    let groups = apply(&list, policy, group_by);
    if let Some(g) = groups.iter().find(|g| g.keeps_nothing()) {
        return Err(crate::Error::Invalid(format!(
            "refusing to remove every snapshot of group {:?}: the policy keeps none of its {} snapshot(s); check the keep rules (a keep-tag that matches nothing?), or forget them by ID",
            g.group,
            g.decisions.len()
        )));
    }
    let removed: Vec<String> = groups
        .iter()
        .flat_map(|g| g.decisions.iter().filter(|d| !d.keep).map(|d| d.id.clone()))
        .collect();
    if !dry_run {
        for id in &removed {
            repo.delete_snapshot(&crate::id::Id::parse(id)?)?;
        }
    }
    Ok(ForgetReport { groups, removed })
}
