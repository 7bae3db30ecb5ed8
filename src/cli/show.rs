//! `lifeboat show SNAPSHOT`: what a snapshot's Docker deployment holds.

use anyhow::Result;
use lifeboat::escape::text as esc;
use lifeboat::snapshot::select::{self, Need};
use lifeboat::util::human_bytes;

use super::{Exit, Global, print_json};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// `latest` (the newest snapshot with a deployment), `latest~N`, or an ID prefix of at
    /// least 8 hex digits.
    #[arg(value_name = "SNAPSHOT")]
    pub snapshot: String,
    /// With `latest`: only snapshots of this hostname (default: this host's, when it has any).
    #[arg(long = "hostname", value_name = "HOST")]
    pub hosts: Vec<String>,
    /// With `latest`: only snapshots with this tag (repeatable; names an internal tag such as
    /// pre-update to reach those snapshots).
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Show environment values (masked as KEY=*** by default).
    #[arg(long)]
    pub show_secrets: bool,
}

pub fn run(g: &Global, a: &Args) -> Result<Exit> {
    let repo = g.open()?.indexed()?;
    let (id, snap) = select::resolve(
        &repo,
        &a.snapshot,
        &g.filter(&a.hosts, &a.tags),
        &Need::deployment(),
    )?;
    let Some(dep) = &snap.deployment else {
        // Not an error: the snapshot is fine, it just holds files only.
        if g.json {
            print_json(&serde_json::json!({
                "snapshot": id.to_hex(),
                "time": snap.time,
                "deployment": null,
                "paths": snap.paths_display(),
            }))?;
        } else {
            println!(
                "snapshot {} of {} at {} holds no Docker deployment (taken without --container); files: {}",
                id.short(),
                esc(&snap.hostname),
                snap.time,
                snap.paths
                    .iter()
                    .map(|p| lifeboat::util::show(p))
                    .collect::<Vec<_>>()
                    .join(" ")
            );
            println!("`lifeboat ls {}` lists them", id.short());
        }
        return Ok(Exit::Success);
    };
    let o = lifeboat::docker::report::overview(&repo, dep, a.show_secrets)?;
    if g.json {
        print_json(&serde_json::json!({
            "snapshot": id.to_hex(),
            "time": snap.time,
            "engine": dep.engine,
            "deployment": o,
        }))?;
        return Ok(Exit::Success);
    }
    println!(
        "snapshot {} of {} at {} (Docker {}, API {})",
        id.short(),
        esc(&snap.hostname),
        snap.time,
        esc(&dep.engine.version),
        esc(&dep.engine.api_version)
    );
    println!("\ncontainers:");
    for c in &o.containers {
        println!("  {} ({})", esc(&c.name), esc(&c.state));
        println!(
            "    image    {} ({})",
            esc(&c.image),
            esc(short(&c.image_id))
        );
        if !c.ports.is_empty() {
            println!("    ports    {}", esc(&c.ports.join(", ")));
        }
        for m in &c.mounts {
            println!("    mount    {}", esc(m));
        }
        if !c.networks.is_empty() {
            println!("    networks {}", esc(&c.networks.join(", ")));
        }
        for e in &c.env {
            println!("    env      {}", esc(e));
        }
    }
    if !o.volumes.is_empty() {
        println!("\nvolumes:");
        for v in &o.volumes {
            println!(
                "  {}{}  {} files, {}{}",
                esc(&v.name),
                if v.anonymous { " (anonymous)" } else { "" },
                v.files,
                human_bytes(v.bytes),
                if v.data { "" } else { ", data not captured" }
            );
        }
    }
    if !o.networks.is_empty() {
        println!("\nnetworks:");
        for n in &o.networks {
            println!(
                "  {}  {} {}{}",
                esc(&n.name),
                esc(&n.driver),
                esc(&n.subnets.join(", ")),
                if n.internal { " internal" } else { "" }
            );
        }
    }
    if !o.images.is_empty() {
        println!("\nimages:");
        for i in &o.images {
            println!(
                "  {}  {}  {}{}",
                esc(short(&i.id)),
                esc(&i.tags.join(", ")),
                human_bytes(i.size),
                if i.archived { "" } else { "  (reference only)" }
            );
        }
    }
    Ok(Exit::Success)
}

fn short(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    hex.get(..12).unwrap_or(hex)
}
