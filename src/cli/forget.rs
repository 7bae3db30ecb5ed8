//! `lifeboat forget`: remove snapshots by ID or by a retention policy.

use anyhow::{Result, bail};
use lifeboat::ops::forget::{GroupBy, Policy, Within, forget_by_policy};
use lifeboat::ops::prune::prune;
use lifeboat::repo::LockKind;
use lifeboat::snapshot::select::{self, Filter, Need};

use super::{Exit, Global, print_json};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Snapshots to remove (IDs or prefixes); without them, the --keep-* policy decides.
    #[arg(value_name = "SNAPSHOT")]
    pub ids: Vec<String>,
    /// Keep the N newest snapshots.
    #[arg(long, value_name = "N", help_heading = "Policy")]
    pub keep_last: Option<u32>,
    /// Keep the newest snapshot of each of the last N hours that have one.
    #[arg(long, value_name = "N", help_heading = "Policy")]
    pub keep_hourly: Option<u32>,
    /// Keep the newest snapshot of each of the last N days that have one.
    #[arg(long, value_name = "N", help_heading = "Policy")]
    pub keep_daily: Option<u32>,
    /// Keep the newest snapshot of each of the last N ISO weeks that have one.
    #[arg(long, value_name = "N", help_heading = "Policy")]
    pub keep_weekly: Option<u32>,
    /// Keep the newest snapshot of each of the last N months that have one.
    #[arg(long, value_name = "N", help_heading = "Policy")]
    pub keep_monthly: Option<u32>,
    /// Keep the newest snapshot of each of the last N years that have one.
    #[arg(long, value_name = "N", help_heading = "Policy")]
    pub keep_yearly: Option<u32>,
    /// Keep every snapshot that has all of these comma-separated tags (repeatable: any of the
    /// lists; '' matches untagged snapshots).
    #[arg(long, value_name = "TAG[,TAG]", help_heading = "Policy")]
    pub keep_tag: Vec<String>,
    /// Keep snapshots made within this long before the newest one, in restic's units: y years,
    /// m months, d days, h hours (e.g. 7d, 36h, 1y6m).
    #[arg(long, value_name = "DURATION", help_heading = "Policy")]
    pub keep_within: Option<Within>,
    /// Apply the policy separately per combination of these: host, paths (everything the
    /// snapshot selected: paths, models, containers, host profile), tags. Internal snapshots
    /// (pre-update, pre-rollback) are always their own groups.
    #[arg(long, default_value = "host,paths", value_name = "FIELDS")]
    pub group_by: String,
    /// Only consider snapshots of this hostname (repeatable).
    #[arg(long = "hostname", value_name = "HOST")]
    pub hosts: Vec<String>,
    /// Not a filter here: `--host` is the host profile flag of snapshot and restore.
    #[arg(long = "host", value_name = "HOST", hide = true)]
    pub old_host: Vec<String>,
    /// Show what would be removed, remove nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Run `prune` afterwards.
    #[arg(long)]
    pub prune: bool,
}

pub fn run(g: &Global, a: &Args) -> Result<Exit> {
    super::snapshots::refuse_host_filter(&a.old_host)?;
    let repo = g.open()?;
    let policy = Policy {
        last: a.keep_last,
        hourly: a.keep_hourly,
        daily: a.keep_daily,
        weekly: a.keep_weekly,
        monthly: a.keep_monthly,
        yearly: a.keep_yearly,
        tags: a.keep_tag.clone(),
        within: a.keep_within,
    };
    if a.ids.is_empty() && policy.is_empty() {
        bail!(
            "nothing to do: name snapshots to forget or give a --keep-* policy (a count of 0 is no rule)"
        );
    }
    if !a.ids.is_empty() && !policy.is_empty() {
        bail!("give either snapshot IDs or a --keep-* policy, not both");
    }
    let group_by = GroupBy::parse(&a.group_by).map_err(anyhow::Error::msg)?;
    let (groups, remove) = if a.ids.is_empty() {
        let filter = Filter {
            hosts: a.hosts.clone(),
            ..Filter::default()
        };
        let r = forget_by_policy(&repo, &policy, group_by, &filter, a.dry_run)?;
        (r.groups, r.removed)
    } else {
        let lock = repo.lock(LockKind::Exclusive, "forget")?;
        let mut remove = Vec::new();
        for spec in &a.ids {
            // By ID without reading the file, so a damaged snapshot can be removed.
            let id = select::resolve_id(&repo, spec, &g.filter(&[], &[]), &Need::default())?;
            remove.push(id.to_hex());
        }
        if !a.dry_run {
            for id in &remove {
                repo.delete_snapshot(&lifeboat::id::Id::parse(id)?)?;
            }
        }
        drop(lock);
        (Vec::new(), remove)
    };
    if g.json {
        print_json(
            &serde_json::json!({ "groups": groups, "removed": remove, "dry_run": a.dry_run }),
        )?;
    } else {
        for grp in &groups {
            println!("group {}:", grp.group);
            for d in &grp.decisions {
                println!(
                    "  {} {} {:<32} {}",
                    if d.keep { "keep  " } else { "remove" },
                    &d.id[..8],
                    d.time,
                    d.reasons.join(", ")
                );
            }
        }
        println!(
            "{} {} snapshot(s)",
            if a.dry_run { "would remove" } else { "removed" },
            remove.len()
        );
    }
    if a.prune && !a.dry_run {
        let bar = g.progress();
        let r = prune(&repo, &super::prune::options(g, None), &bar)?;
        if !g.json && !g.quiet {
            super::prune::print(&r, false);
        }
    }
    Ok(Exit::Success)
}
