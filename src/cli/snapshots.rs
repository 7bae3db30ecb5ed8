//! `lifeboat snapshots`: list snapshots.

use anyhow::Result;
use lifeboat::snapshot::select::{self, Filter};
use lifeboat::util::human_bytes;

use super::{Exit, Global, print_json};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Only snapshots of this hostname (repeatable).
    #[arg(long = "hostname", value_name = "HOST")]
    pub hosts: Vec<String>,
    /// Not a filter here: `--host` is the host profile flag of snapshot and restore.
    #[arg(long = "host", value_name = "HOST", hide = true)]
    pub old_host: Vec<String>,
    /// Only snapshots with this tag (repeatable: all must match).
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Only snapshots of this path (repeatable).
    #[arg(long = "path", value_name = "PATH")]
    pub paths: Vec<String>,
    /// Only the N newest snapshots of each group (host and selection; internal snapshots
    /// apart), as restic's `snapshots --latest N`.
    #[arg(long, value_name = "N")]
    pub latest: Option<usize>,
}

/// `--host NAME` where a hostname filter was meant (restic's habit): say which flag it is.
pub(super) fn refuse_host_filter(given: &[String]) -> Result<()> {
    if let Some(h) = given.first() {
        crate::usage!(
            "--host is the host profile flag (snapshot --host, restore --host); filter by hostname with `--hostname {h}`"
        );
    }
    Ok(())
}

pub fn run(g: &Global, a: &Args) -> Result<Exit> {
    refuse_host_filter(&a.old_host)?;
    let repo = g.open()?;
    let filter = Filter {
        hosts: a.hosts.clone(),
        tags: a.tags.clone(),
        paths: a.paths.clone(),
        this_host: None,
    };
    let mut list: Vec<_> = select::all(&repo)?
        .into_iter()
        .filter(|(_, s)| filter.matches(s))
        .collect();
    if let Some(n) = a.latest {
        list = lifeboat::snapshot::group::newest_per_group(list, n);
    }
    if g.json {
        let v: Vec<_> = list
            .iter()
            .map(|(id, s)| {
                serde_json::json!({
                    "id": id.to_hex(),
                    "short_id": id.short(),
                    "time": s.time,
                    "hostname": s.hostname,
                    "username": s.username,
                    "tags": s.tags,
                    "paths": s.paths_display(),
                    "parent": s.parent.map(|p| p.to_hex()),
                    "summary": s.summary,
                    "size": s.total_bytes(),
                    "containers": s.deployment.as_ref().map(|d| d.containers.iter().map(|c| &c.name).collect::<Vec<_>>()),
                    "host_profile": s.host.is_some(),
                    "program": s.program,
                    "group": lifeboat::snapshot::group::Group::of(s).to_string(),
                })
            })
            .collect();
        print_json(&v)?;
        return Ok(Exit::Success);
    }
    println!(
        "{:<10} {:<20} {:<16} {:<20} {:>10}  paths",
        "ID", "time (local)", "host", "tags", "size"
    );
    for (id, s) in &list {
        let t = s.time().map(super::ls::local_time).unwrap_or_default();
        println!(
            "{:<10} {:<20} {:<16} {:<20} {:>10}  {}",
            id.short(),
            t,
            s.hostname,
            s.tags.join(","),
            human_bytes(s.total_bytes()),
            what_it_holds(s)
        );
    }
    println!("{} snapshot(s)", list.len());
    Ok(Exit::Success)
}

/// The paths, and the containers of the deployment, if any.
fn what_it_holds(s: &lifeboat::snapshot::Snapshot) -> String {
    let mut parts: Vec<String> = s.paths.iter().map(|p| lifeboat::util::show(p)).collect();
    if let Some(d) = &s.deployment {
        let names: Vec<&str> = d.containers.iter().map(|c| c.name.as_str()).collect();
        parts.push(format!(
            "containers: {}",
            lifeboat::escape::text(&names.join(","))
        ));
    }
    parts.join(" ")
}
