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
    /// Show what would be done, change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

pub fn print(r: &PruneReport, dry: bool) {
    println!(
        "{}{} of {} packs deleted, {} repacked ({} moved), {} unindexed packs removed; {} freed of {}",
        if dry { "would prune: " } else { "" },
        r.packs_deleted,
        r.packs_total,
        r.packs_repacked,
        human_bytes(r.bytes_repacked),
        r.packs_unindexed_deleted,
        human_bytes(r.bytes_freed),
        human_bytes(r.bytes_before)
    );
}

pub fn run(g: &Global, a: &Args) -> Result<Exit> {
    if a.repack_unused > 100 {
        bail!("--repack-unused is a percentage (0..=100)");
    }
    let repo = g.open()?;
    let opts = PruneOptions {
        repack_threshold: f64::from(a.repack_unused) / 100.0,
        dry_run: a.dry_run,
        lock_wait: g.lock_wait,
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
