//! `lifeboat restore SNAPSHOT --target DIR`: restore files.

use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use anyhow::{Result, bail};
use lifeboat::restore::{RestoreOptions, restore};
use lifeboat::snapshot::select::{self, Filter};
use lifeboat::util::human_bytes;

use super::{Exit, Global, print_json};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// `latest`, or an ID prefix of at least 8 hex digits.
    #[arg(value_name = "SNAPSHOT")]
    pub snapshot: String,

    /// Directory to restore into; files land at TARGET/<original absolute path>.
    #[arg(short, long, value_name = "DIR")]
    pub target: PathBuf,

    /// Restore only this absolute path of the snapshot and what is below it (repeatable).
    #[arg(short, long = "include", value_name = "PATH")]
    pub includes: Vec<PathBuf>,

    /// Show what would be written, write nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Do not restore file owners (the default when not running as root).
    #[arg(long)]
    pub no_owner: bool,

    /// Do not flush the target filesystem at the end (faster, not crash-safe).
    #[arg(long)]
    pub no_sync: bool,

    /// With `latest`: only snapshots of this host.
    #[arg(long = "host", value_name = "HOST")]
    pub hosts: Vec<String>,
    /// With `latest`: only snapshots with this tag.
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
}

pub fn run(g: &Global, a: &Args) -> Result<Exit> {
    for inc in &a.includes {
        if !inc.is_absolute() {
            bail!(
                "--include {} must be an absolute path as shown by `lifeboat ls`",
                inc.display()
            );
        }
    }
    let repo = g.open()?;
    let filter = Filter {
        hosts: a.hosts.clone(),
        tags: a.tags.clone(),
        paths: Vec::new(),
    };
    let (id, snap) = select::resolve(&repo, &a.snapshot, &filter)?;
    let mut opts = RestoreOptions::new(&a.target);
    opts.includes = a
        .includes
        .iter()
        .map(|p| lifeboat::util::normalize_abs(p.as_os_str().as_bytes()))
        .collect::<Result<_, _>>()
        .map_err(anyhow::Error::msg)?;
    opts.dry_run = a.dry_run;
    opts.owners = opts.owners && !a.no_owner;
    opts.report_unrestored_owners &= !a.no_owner;
    opts.sync = !a.no_sync;
    opts.lock_wait = g.lock_wait;
    let bar = g.progress();
    let r = restore(&repo, &snap, &opts, &bar)?;
    if g.json {
        print_json(
            &serde_json::json!({ "snapshot": id.to_hex(), "target": a.target, "report": r }),
        )?;
    } else {
        if a.dry_run {
            for p in &r.plan {
                println!("{:<8} {}{}", p.action, a.target.display(), p.path);
            }
            println!("dry run: {} action(s), nothing written", r.plan.len());
        } else if !r.errors.is_empty() {
            println!(
                "restore of snapshot {} to {} FAILED for {} object(s); {} files written ({}), {} unchanged",
                id.short(),
                a.target.display(),
                r.errors.len(),
                r.files_written,
                human_bytes(r.bytes_written),
                r.files_unchanged
            );
        } else if !g.quiet {
            println!(
                "restored snapshot {} to {}: {} files written ({}), {} unchanged, {} dirs, {} links, {} special",
                id.short(),
                a.target.display(),
                r.files_written,
                human_bytes(r.bytes_written),
                r.files_unchanged,
                r.dirs,
                r.links,
                r.special
            );
        }
        for w in &r.warnings {
            eprintln!("warning: {w}");
        }
        for e in &r.errors {
            eprintln!("error: {e}");
        }
    }
    Ok(if r.damaged > 0 {
        Exit::Integrity
    } else if !r.errors.is_empty() {
        Exit::Failure
    } else if !r.warnings.is_empty() {
        Exit::Partial
    } else {
        Exit::Success
    })
}
