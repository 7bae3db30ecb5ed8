//! `lifeboat tag`: add, remove or replace the tags of existing snapshots.

use anyhow::Result;
use lifeboat::ops::tag::{Selection, TagChange, retag};

use super::filter::FilterArgs;
use super::{Exit, Global, print_json};

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  lifeboat tag --add keep 1a2b3c4d                 # one snapshot
  lifeboat tag --remove nightly --add weekly latest
  lifeboat tag --set release-7 --set gpu 1a2b3c4d  # exactly these tags
  lifeboat tag --set '' 1a2b3c4d                   # no tags
  lifeboat tag --hostname gpu-01 --add migrated    # every snapshot of that host

A changed snapshot is saved under a new ID (it records the first one as `original`) and the old
file is deleted: use the new IDs printed here.")]
pub struct Args {
    /// Snapshots to change (`latest` or ID prefixes); without them, every snapshot the filters
    /// match.
    #[arg(value_name = "SNAPSHOT")]
    pub snapshots: Vec<String>,
    /// Add this tag (repeatable).
    #[arg(long, value_name = "TAG", help_heading = "Tags")]
    pub add: Vec<String>,
    /// Remove this tag (repeatable).
    #[arg(long, value_name = "TAG", help_heading = "Tags")]
    pub remove: Vec<String>,
    /// Replace all tags with these (repeatable; `--set ''` removes every tag).
    #[arg(long, value_name = "TAG", help_heading = "Tags", conflicts_with_all = ["add", "remove"])]
    pub set: Vec<String>,
    #[command(flatten)]
    pub filter: FilterArgs,
}

pub fn run(g: &Global, a: &Args) -> Result<Exit> {
    let change = TagChange {
        add: a.add.clone(),
        remove: a.remove.clone(),
        set: (!a.set.is_empty()).then(|| a.set.clone()),
    };
    if let Err(e) = change.check() {
        return Err(super::UsageError(super::errors::describe(&e)).into());
    }
    let repo = g.open()?;
    let selection = Selection {
        specs: a.snapshots.clone(),
        filter: a.filter.filter(g),
    };
    let report = retag(&repo, &selection, &change)?;
    if g.json {
        print_json(&serde_json::json!({
            "changed": report.changed.iter().map(|r| serde_json::json!({
                "old": r.old.to_hex(),
                "new": r.new.to_hex(),
                "original": r.original.to_hex(),
                "tags": r.tags,
            })).collect::<Vec<_>>(),
            "unchanged": report.unchanged.iter().map(|i| i.to_hex()).collect::<Vec<_>>(),
        }))?;
    } else if !g.quiet {
        for r in &report.changed {
            println!(
                "{} -> {}  tags: {}",
                r.old.short(),
                r.new.short(),
                if r.tags.is_empty() {
                    "(none)".to_string()
                } else {
                    r.tags.join(",")
                }
            );
        }
        println!(
            "{} snapshot(s) changed, {} already as asked",
            report.changed.len(),
            report.unchanged.len()
        );
    }
    Ok(Exit::Success)
}
