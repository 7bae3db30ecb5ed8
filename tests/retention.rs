//! The `forget` policy against restic's documented semantics (restic docs, "Removing snapshots
//! according to a policy", 060_forget), on synthetic snapshot histories, so operators can carry
//! their restic policies over unchanged. Each test quotes the rule it pins.
//!
//! Times are built in the local time zone because calendar buckets (days, ISO weeks, months)
//! follow the local calendar; noon is used where the hour does not matter, to stay clear of DST
//! changes.

mod common;

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Local, TimeZone, Utc};
use lifeboat::Id;
use lifeboat::ops::forget::{GroupBy, GroupDecision, Policy, Within, apply};
use lifeboat::snapshot::manifest::Snapshot;

fn snap_on(host: &str, t: DateTime<Local>, tags: &[&str]) -> (Id, Snapshot) {
    (
        Id::random(),
        Snapshot {
            version: 1,
            time: t.with_timezone(&Utc).to_rfc3339(),
            hostname: host.into(),
            username: "u".into(),
            tags: tags.iter().map(|s| s.to_string()).collect(),
            paths: vec![serde_bytes::ByteBuf::from(b"/srv/models".to_vec())],
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

fn snap(t: DateTime<Local>) -> (Id, Snapshot) {
    snap_on("h", t, &[])
}

fn at(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Local> {
    Local
        .with_ymd_and_hms(y, m, d, h, min, 0)
        .earliest()
        .expect("a local time that exists")
}

fn noon(y: i32, m: u32, d: u32) -> DateTime<Local> {
    at(y, m, d, 12, 0)
}

fn groups(list: &[(Id, Snapshot)], p: &Policy) -> Vec<GroupDecision> {
    apply(list, p, GroupBy::parse("host,paths").unwrap())
}

/// Times of the kept snapshots, newest first (one group expected).
fn kept(list: &[(Id, Snapshot)], p: &Policy) -> Vec<DateTime<Local>> {
    let g = groups(list, p);
    assert_eq!(g.len(), 1, "one group expected");
    g[0].decisions
        .iter()
        .filter(|d| d.keep)
        .map(|d| {
            DateTime::parse_from_rfc3339(&d.time)
                .unwrap()
                .with_timezone(&Local)
        })
        .collect()
}

fn kept_set(list: &[(Id, Snapshot)], p: &Policy) -> BTreeSet<String> {
    groups(list, p)
        .into_iter()
        .flat_map(|g| g.decisions)
        .filter(|d| d.keep)
        .map(|d| d.id)
        .collect()
}

/// How many kept snapshots carry `reason`.
fn with_reason(list: &[(Id, Snapshot)], p: &Policy, reason: &str) -> usize {
    groups(list, p)
        .iter()
        .flat_map(|g| &g.decisions)
        .filter(|d| d.reasons.iter().any(|r| r == reason))
        .count()
}

fn policy(f: impl FnOnce(&mut Policy)) -> Policy {
    let mut p = Policy::default();
    f(&mut p);
    p
}

/// "--keep-last n keep the n last (most recent) snapshots."
#[test]
fn keep_last_keeps_the_n_most_recent() {
    let list: Vec<_> = (1..=5).map(|d| snap(noon(2024, 3, d))).collect();
    let p = policy(|p| p.last = Some(2));
    assert_eq!(kept(&list, &p), [noon(2024, 3, 5), noon(2024, 3, 4)]);
    // Input order does not matter.
    let mut rev = list.clone();
    rev.reverse();
    assert_eq!(kept(&rev, &p), [noon(2024, 3, 5), noon(2024, 3, 4)]);
    // More than there are keeps them all.
    assert_eq!(kept(&list, &policy(|p| p.last = Some(10))).len(), 5);
}

/// "--keep-daily n for the last n days which have one or more snapshots, keep only the most
/// recent one for each day." Days without snapshots do not count.
#[test]
fn keep_daily_counts_only_days_with_snapshots_and_keeps_the_newest_of_each() {
    let list = vec![
        snap(at(2024, 3, 1, 8, 0)),
        snap(at(2024, 3, 1, 20, 0)),
        snap(at(2024, 3, 2, 9, 0)),
        // 3rd and 4th: nothing
        snap(at(2024, 3, 5, 0, 30)),
        snap(at(2024, 3, 5, 23, 30)),
        snap(at(2024, 3, 5, 12, 0)),
        // a week's gap
        snap(at(2024, 3, 12, 6, 0)),
    ];
    let p = policy(|p| p.daily = Some(3));
    assert_eq!(
        kept(&list, &p),
        [
            at(2024, 3, 12, 6, 0),
            at(2024, 3, 5, 23, 30),
            at(2024, 3, 2, 9, 0)
        ]
    );
}

/// The documentation's example: one backup every Sunday for 12 weeks; `forget --keep-daily 4`
/// keeps the last four Sundays and removes the other eight.
#[test]
fn restic_doc_example_weekly_backups_with_keep_daily() {
    let first = at(2019, 9, 1, 11, 0);
    let list: Vec<_> = (0..12).map(|w| snap(first + Duration::weeks(w))).collect();
    let p = policy(|p| p.daily = Some(4));
    assert_eq!(
        kept(&list, &p),
        [
            at(2019, 11, 17, 11, 0),
            at(2019, 11, 10, 11, 0),
            at(2019, 11, 3, 11, 0),
            at(2019, 10, 27, 11, 0)
        ]
    );
    assert_eq!(with_reason(&list, &p, "daily snapshot"), 4);
}

/// "Weeks are Monday 00:00 to Sunday 23:59" (ISO weeks, also across a year boundary).
#[test]
fn keep_weekly_uses_iso_weeks() {
    let list = vec![
        snap(at(2024, 1, 7, 23, 0)),  // Sunday: ISO week 2024-W01
        snap(at(2024, 1, 8, 1, 0)),   // Monday: 2024-W02
        snap(at(2024, 1, 14, 22, 0)), // Sunday: 2024-W02, newest of that week
    ];
    let p = policy(|p| p.weekly = Some(2));
    assert_eq!(
        kept(&list, &p),
        [at(2024, 1, 14, 22, 0), at(2024, 1, 7, 23, 0)]
    );
    // 2020-12-31 (Thursday) and 2021-01-03 (Sunday) are both in ISO week 2020-W53.
    let list = vec![
        snap(noon(2020, 12, 27)), // 2020-W52
        snap(noon(2020, 12, 31)),
        snap(noon(2021, 1, 3)),
        snap(noon(2021, 1, 4)), // 2021-W01
    ];
    let p = policy(|p| p.weekly = Some(3));
    assert_eq!(
        kept(&list, &p),
        [noon(2021, 1, 4), noon(2021, 1, 3), noon(2020, 12, 27)]
    );
}

/// "--keep-monthly n" and "--keep-yearly n": the most recent snapshot of each of the last n
/// months/years that have one.
#[test]
fn keep_monthly_and_yearly() {
    let list = vec![
        snap(noon(2022, 6, 1)),
        snap(noon(2022, 12, 31)),
        snap(noon(2023, 1, 15)),
        snap(noon(2023, 1, 31)),
        snap(noon(2023, 4, 2)),
        snap(noon(2023, 4, 30)),
        snap(noon(2024, 2, 29)),
    ];
    assert_eq!(
        kept(&list, &policy(|p| p.monthly = Some(3))),
        [noon(2024, 2, 29), noon(2023, 4, 30), noon(2023, 1, 31)]
    );
    assert_eq!(
        kept(&list, &policy(|p| p.yearly = Some(2))),
        [noon(2024, 2, 29), noon(2023, 4, 30)]
    );
}

/// "If there are not enough snapshots to keep one for each duration related --keep-{within-,}*
/// option, the oldest snapshot is kept additionally" (restic 0.17).
#[test]
fn oldest_snapshot_is_kept_while_a_bucket_has_counts_left() {
    // Three snapshots in one ISO week: keep-weekly 2 has a count left at the oldest.
    let list = vec![
        snap(noon(2024, 5, 6)),
        snap(noon(2024, 5, 7)),
        snap(noon(2024, 5, 8)),
    ];
    let p = policy(|p| p.weekly = Some(2));
    assert_eq!(kept(&list, &p), [noon(2024, 5, 8), noon(2024, 5, 6)]);
    assert_eq!(with_reason(&list, &p, "oldest weekly snapshot"), 1);
    // Counts used up: the oldest goes.
    let p = policy(|p| p.weekly = Some(1));
    assert_eq!(kept(&list, &p), [noon(2024, 5, 8)]);
}

/// "--keep-within duration keep all snapshots having a timestamp within the specified duration
/// of the latest snapshot, where duration is a number of years, months, days, and hours."
#[test]
fn keep_within_is_relative_to_the_latest_snapshot_in_calendar_units() {
    // Years old, so "within 3d of now" would keep nothing. June: no DST change nearby.
    let list = vec![
        snap(at(2019, 1, 1, 0, 0)),
        snap(at(2019, 6, 20, 12, 0)),
        snap(at(2019, 6, 28, 12, 0)),
        snap(at(2019, 6, 29, 12, 0)),
        snap(at(2019, 7, 1, 12, 0)),
    ];
    let within = |s: &str| policy(|p| p.within = Some(s.parse().unwrap()));
    assert_eq!(
        kept(&list, &within("4d")),
        [
            at(2019, 7, 1, 12, 0),
            at(2019, 6, 29, 12, 0),
            at(2019, 6, 28, 12, 0)
        ]
    );
    // A snapshot exactly at the edge is not within (restic: strictly after latest - d).
    for edge in ["3d", "72h"] {
        assert_eq!(
            kept(&list, &within(edge)),
            [at(2019, 7, 1, 12, 0), at(2019, 6, 29, 12, 0)],
            "{edge}"
        );
    }
    assert_eq!(kept(&list, &within("3d1h")).len(), 3);
    // `m` is months (not minutes), and units combine.
    assert_eq!(kept(&list, &within("11d")).len(), 3);
    assert_eq!(kept(&list, &within("1m")).len(), 4);
    assert_eq!(kept(&list, &within("6m")).len(), 4);
    assert_eq!(kept(&list, &within("6m1d")).len(), 5);
    assert_eq!(kept(&list, &within("1y")).len(), 5);
    for bad in ["", "7", "7w", "10s", "1d2x", "d", "-1d"] {
        assert!(bad.parse::<Within>().is_err(), "{bad:?}");
    }
    assert_eq!(
        "1y2m3d4h".parse::<Within>().unwrap().to_string(),
        "1y2m3d4h"
    );
}

/// "All duration related options ignore snapshots with a timestamp in the future ... and these
/// snapshots will hence not be removed."
#[test]
fn a_snapshot_in_the_future_does_not_move_the_keep_within_window() {
    let now = Local::now();
    let list = vec![
        snap(now - Duration::days(10)),
        snap(now - Duration::days(2)),
        snap(now - Duration::hours(1)),
        snap(now + Duration::days(400)), // a wrong clock, or planted
    ];
    let p = policy(|p| p.within = Some("7d".parse().unwrap()));
    let k = kept(&list, &p);
    assert_eq!(k.len(), 3, "{k:?}");
    assert!(k.contains(&list[1].1.time().unwrap().with_timezone(&Local)));
}

/// "--keep-tag keep all snapshots which have all tags specified by this option (can be
/// specified multiple times)" and "--keep-tag '' will match untagged snapshots only."
#[test]
fn keep_tag_needs_all_tags_of_one_list() {
    let list = vec![
        snap_on("h", noon(2024, 1, 1), &["release", "gpu"]),
        snap_on("h", noon(2024, 1, 2), &["release"]),
        snap_on("h", noon(2024, 1, 3), &["gpu"]),
        snap_on("h", noon(2024, 1, 4), &[]),
    ];
    let tags = |t: &[&str]| policy(|p| p.tags = t.iter().map(|s| s.to_string()).collect());
    assert_eq!(kept(&list, &tags(&["release,gpu"])), [noon(2024, 1, 1)]);
    assert_eq!(
        kept(&list, &tags(&["release"])),
        [noon(2024, 1, 2), noon(2024, 1, 1)]
    );
    // Several lists: any of them.
    assert_eq!(
        kept(&list, &tags(&["gpu", "release"])),
        [noon(2024, 1, 3), noon(2024, 1, 2), noon(2024, 1, 1)]
    );
    assert_eq!(kept(&list, &tags(&[""])), [noon(2024, 1, 4)]);
    assert!(kept(&list, &tags(&["nightly"])).is_empty());
    // Tags are not counted: they never use up another rule's count.
    let p = policy(|p| {
        p.tags = vec!["release".into()];
        p.last = Some(1);
    });
    assert_eq!(
        kept(&list, &p),
        [noon(2024, 1, 4), noon(2024, 1, 2), noon(2024, 1, 1)]
    );
}

/// "a snapshot only need to match a single option to be kept (the results are ORed)": a
/// combined policy keeps the union of what each option keeps alone.
#[test]
fn combined_policies_keep_the_union() {
    // Irregular history: 1-3 snapshots a day on most days of 2023 and early 2024.
    let mut list = Vec::new();
    let mut t = noon(2023, 1, 1);
    let mut i = 0u32;
    while t < noon(2024, 3, 1) {
        if i % 7 != 3 {
            for h in 0..=(i % 3) {
                list.push(snap_on(
                    "h",
                    t + Duration::hours(i64::from(h) * 3),
                    &if i.is_multiple_of(50) {
                        vec!["release"]
                    } else {
                        vec![]
                    },
                ));
            }
        }
        t += Duration::days(1);
        i += 1;
    }
    let parts = [
        policy(|p| p.last = Some(3)),
        policy(|p| p.hourly = Some(5)),
        policy(|p| p.daily = Some(10)),
        policy(|p| p.weekly = Some(6)),
        policy(|p| p.monthly = Some(8)),
        policy(|p| p.yearly = Some(3)),
        policy(|p| p.tags = vec!["release".into()]),
        policy(|p| p.within = Some("20d".parse().unwrap())),
    ];
    let combined = Policy {
        last: Some(3),
        hourly: Some(5),
        daily: Some(10),
        weekly: Some(6),
        monthly: Some(8),
        yearly: Some(3),
        tags: vec!["release".into()],
        within: Some("20d".parse().unwrap()),
    };
    let union: BTreeSet<String> = parts.iter().flat_map(|p| kept_set(&list, p)).collect();
    assert_eq!(kept_set(&list, &combined), union);
    assert!(union.len() < list.len());
}

/// The documentation's 100-year example: one backup a day; `--keep-daily 7 --keep-weekly 5
/// --keep-monthly 12 --keep-yearly 75` keeps 7 dailies, 5 weeklies, 12 monthlies and 75
/// yearlies, some of which coincide.
#[test]
fn restic_doc_example_a_century_of_daily_backups() {
    let mut list = Vec::new();
    let mut t = noon(1920, 1, 1);
    // Ends on a Sunday, so the 7 dailies are exactly one ISO week, as the example assumes.
    while t <= noon(2019, 12, 29) {
        list.push(snap(t));
        t += Duration::days(1);
    }
    let p = Policy {
        daily: Some(7),
        weekly: Some(5),
        monthly: Some(12),
        yearly: Some(75),
        ..Default::default()
    };
    assert_eq!(with_reason(&list, &p, "daily snapshot"), 7);
    assert_eq!(with_reason(&list, &p, "weekly snapshot"), 5);
    assert_eq!(with_reason(&list, &p, "monthly snapshot"), 12);
    assert_eq!(with_reason(&list, &p, "yearly snapshot"), 75);
    let k = kept(&list, &p);
    // 7 + 4 more weeklies + 11 or 12 monthlies + 74 or 75 yearlies.
    assert!(
        (7 + 4 + 11 + 74..=7 + 4 + 12 + 75).contains(&k.len()),
        "{}",
        k.len()
    );
    assert_eq!(k[0], noon(2019, 12, 29));
    assert_eq!(*k.last().unwrap(), noon(1945, 12, 31));
}

/// restic refuses an empty policy ("--keep-last 0" included): nothing is removed.
#[test]
fn empty_policy_keeps_everything_and_empty_repository_is_fine() {
    let list: Vec<_> = (1..=3).map(|d| snap(noon(2024, 3, d))).collect();
    for p in [
        Policy::default(),
        policy(|p| p.last = Some(0)),
        policy(|p| {
            p.daily = Some(0);
            p.within = Some("0d".parse().unwrap());
        }),
    ] {
        assert!(p.is_empty(), "{p:?}");
        assert_eq!(kept(&list, &p).len(), 3, "{p:?}");
        assert_eq!(with_reason(&list, &p, "policy is empty"), 3);
    }
    assert!(apply(&[], &policy(|p| p.last = Some(1)), GroupBy::default()).is_empty());
    assert!(apply(&[], &Policy::default(), GroupBy::default()).is_empty());
}

/// "The policy is then applied to each group of snapshots individually" (host and paths by
/// default).
#[test]
fn policy_applies_per_group() {
    let list = vec![
        snap_on("a", noon(2024, 1, 1), &[]),
        snap_on("a", noon(2024, 1, 2), &[]),
        snap_on("b", noon(2023, 1, 1), &[]),
    ];
    let g = groups(&list, &policy(|p| p.last = Some(1)));
    assert_eq!(g.len(), 2);
    let kept: usize = g
        .iter()
        .map(|g| g.decisions.iter().filter(|d| d.keep).count())
        .sum();
    assert_eq!(
        kept, 2,
        "the old snapshot of host b is the newest of its group"
    );
}

/// Through the binary: "forget will exit with an error if all snapshots in a snapshot group
/// would be removed as none of them have the specified tags", and `--keep-within 1m` is a
/// month.
#[test]
fn forget_refuses_to_remove_a_whole_group() {
    let e = common::Env::new();
    let d = e.path("data");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("f"), b"x").unwrap();
    e.snapshot(&d);
    e.snapshot(&d);
    let out = e.run(&["forget", "--keep-tag", "nightly"]);
    assert_eq!(common::code(&out), 1, "{}", common::stderr(&out));
    assert!(
        common::stderr(&out).contains("refusing to remove every snapshot of group"),
        "{}",
        common::stderr(&out)
    );
    let v = e.ok_json(&["snapshots"]);
    assert_eq!(v.as_array().map(Vec::len), Some(2), "{v}");
    // Both were made seconds ago: within one month of the newest.
    let v = e.ok_json(&["forget", "--keep-within", "1m", "--dry-run"]);
    assert_eq!(v["removed"].as_array().map(Vec::len), Some(0), "{v}");
    let out = e.run(&["forget", "--keep-within", "10s"]);
    assert_eq!(common::code(&out), 2, "{}", common::stderr(&out));
}

/// Internal snapshots (`pre-update`: what `lifeboat update` takes of one container) are a group
/// of their own, whatever `--group-by` says, and the newest of such a group is kept even by a
/// policy that matches none of it: it is the way back of the last update.
#[test]
fn internal_snapshots_are_their_own_group_and_keep_their_newest() {
    let list = vec![
        snap_on("h", noon(2024, 1, 1), &[]),
        snap_on("h", noon(2024, 1, 2), &["pre-update"]),
        snap_on("h", noon(2024, 1, 3), &["pre-update"]),
    ];
    let by_host = GroupBy::parse("host").unwrap();
    let g = apply(&list, &policy(|p| p.last = Some(1)), by_host);
    assert_eq!(g.len(), 2, "the regular and the pre-update group");
    let kept: Vec<&str> = g
        .iter()
        .flat_map(|g| &g.decisions)
        .filter(|d| d.keep)
        .map(|d| d.time.as_str())
        .collect();
    assert_eq!(kept.len(), 2, "{g:?}");
    assert!(
        kept.contains(&list[0].1.time.as_str()),
        "the regular one survives"
    );
    let g = apply(&list, &policy(|p| p.tags = vec!["nightly".into()]), by_host);
    let internal = g
        .iter()
        .find(|g| g.group.ends_with("internal=pre-update"))
        .unwrap();
    assert!(!internal.keeps_nothing());
    assert_eq!(
        internal.decisions[0].reasons,
        vec!["newest pre-update snapshot"]
    );
    assert!(!internal.decisions[1].keep);
}
