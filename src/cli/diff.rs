//! `lifeboat diff SNAP1 SNAP2`: what changed.

use anyhow::Result;
use lifeboat::ops::diff::diff;
use lifeboat::snapshot::select::{self, Filter};
use lifeboat::util::human_bytes;

use super::{Exit, Global, print_json};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The older snapshot.
    pub old: String,
    /// The newer snapshot.
    pub new: String,
    /// Also list entries whose metadata alone changed.
    #[arg(long)]
    pub metadata: bool,
}

pub fn run(g: &Global, a: &Args) -> Result<Exit> {
    let repo = g.open()?;
    repo.load_index()?;
    let (_, old) = select::resolve(&repo, &a.old, &Filter::default())?;
    let (_, new) = select::resolve(&repo, &a.new, &Filter::default())?;
    let mut items = Vec::new();
    let summary = diff(&repo, &old, &new, |i| {
        let show = a.metadata || i.change != lifeboat::ops::diff::Change::Metadata;
        if g.json {
            if show {
                items.push(i.clone());
            }
        } else if show {
            let fields = if i.fields.is_empty() {
                String::new()
            } else {
                format!("  ({})", i.fields.join(", "))
            };
            println!("{}  {}{}", i.change.symbol(), i.path, fields);
        }
    })?;
    if g.json {
        print_json(&serde_json::json!({ "changes": items, "summary": summary }))?;
    } else {
        println!(
            "\n{} added, {} removed, {} modified, {} type changed, {} metadata only; +{} -{}",
            summary.added,
            summary.removed,
            summary.modified,
            summary.type_changed,
            summary.metadata,
            human_bytes(summary.bytes_added),
            human_bytes(summary.bytes_removed)
        );
    }
    Ok(Exit::Success)
}
