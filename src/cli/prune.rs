//! `lifeboat prune`: free space.

use anyhow::{Result, bail};
use lifeboat::ops::prune::{PruneOptions, PruneReport, prune};
use lifeboat::util::human_bytes;

use super::{Exit, Global, print_json};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Repack a pack when at least this percentage of it is unused.
    #[arg(long, default_value_t = 20, value_name = "PERCENT")]
    pub repack_unused: u8,
    /// Delete unused data only this long after a prune first found it unused, so that a
    /// snapshot running meanwhile (on any host, whatever its locks say) never loses data it
    /// deduplicated against [default: `prune.grace` of the configuration, else 23h]. With 0s
    /// the next prune deletes what this one found unused.
    #[arg(long, value_name = "DURATION", value_parser = super::parse_duration)]
    pub grace: Option<std::time::Duration>,
    /// Show what would be done, change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Prune options from the configuration and the command line (`grace` when given).
pub fn options(g: &Global, grace: Option<std::time::Duration>) -> PruneOptions {
    PruneOptions {
        grace: grace.unwrap_or(g.settings().prune.grace),
        ..PruneOptions::default()
    }
}

pub fn print(r: &PruneReport, dry: bool) {
    let (deleted, condemned) = if dry {
        ("would delete", "would mark")
    } else {
        ("deleted", "marked")
    };
    println!(
        "{deleted} {} of {} packs ({} freed of {}), repacked {} ({} moved)",
        r.packs_deleted,
        r.packs_total,
        human_bytes(r.bytes_freed),
        human_bytes(r.bytes_before),
        r.packs_repacked,
        human_bytes(r.bytes_repacked),
    );
    if r.packs_condemned > 0 || r.packs_pending > 0 {
        println!(
            "{condemned} {} pack(s) unused ({} in all waiting for deletion); a prune after {} deletes them",
            r.packs_condemned,
            human_bytes(r.bytes_pending),
            r.next_deletion.as_deref().unwrap_or("the grace period"),
        );
    }
    if r.packs_rescued > 0 {
        println!(
            "took {} pack(s) marked unused back into use: a snapshot references them",
            r.packs_rescued
        );
    }
}

pub fn run(g: &Global, a: &Args) -> Result<Exit> {
    if a.repack_unused > 100 {
        bail!("--repack-unused is a percentage (0..=100)");
    }
    let repo = g.open()?;
    let opts = PruneOptions {
        repack_threshold: f64::from(a.repack_unused) / 100.0,
        dry_run: a.dry_run,
        ..options(g, a.grace)
    };
    let bar = g.progress();
    let r = prune(&repo, &opts, &bar)?;
    if g.json {
        print_json(&r)?;
    } else if !g.quiet {
        print(&r, a.dry_run);
    }
    Ok(Exit::Success)
}
