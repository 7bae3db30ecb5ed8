//! `lifeboat diff SNAP1 SNAP2`: what changed; `lifeboat diff SNAP --live`: how the running
//! engine drifted from a snapshot's deployment.

use anyhow::Result;
use lifeboat::escape::text as esc;
use lifeboat::snapshot::diff::{Change, diff_subtrees};
use lifeboat::snapshot::group::Group;
use lifeboat::snapshot::select::{self, Need};
use lifeboat::util::{human_bytes, show};

use super::{Exit, Global, print_json};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The older snapshot (`latest~1`, an ID prefix; `SNAPSHOT:/DIR` compares that directory).
    pub old: String,
    /// The newer snapshot; `latest` here is the newest of the older one's group. Files are
    /// compared, and so are the deployments (containers field by field, networks, volumes with
    /// their contents, images).
    #[arg(required_unless_present = "live")]
    pub new: Option<String>,
    /// Compare the snapshot's containers, networks and volume contents with the live engine
    /// (exit 3 when anything drifted).
    #[arg(long, conflicts_with = "new")]
    pub live: bool,
    /// Show environment values in differences.
    #[arg(long)]
    pub show_secrets: bool,
    /// Also list entries whose metadata alone changed.
    #[arg(long)]
    pub metadata: bool,
}

pub fn run(g: &Global, a: &Args) -> Result<Exit> {
    let repo = g.open()?.indexed()?;
    let filter = g.filter(&[], &[]);
    let Some(new) = &a.new else {
        let (_, old) = select::resolve(&repo, &a.old, &filter, &Need::deployment())?;
        return live(g, a, &repo, &old);
    };
    // A relative name (`latest`, `latest~1`) resolves within the group of the other snapshot,
    // so `diff ID latest` compares like with like.
    let relative = |s: &str| s.starts_with("latest");
    let within = |s: &lifeboat::snapshot::Snapshot| Need {
        group: Some(Group::of(s)),
        ..Need::default()
    };
    let ((_, old, old_root), (_, new, new_root)) = if relative(&a.old) && !relative(new) {
        let n = select::resolve_subtree(&repo, new, &filter, &Need::default())?;
        let o = select::resolve_subtree(&repo, &a.old, &filter, &within(&n.1))?;
        (o, n)
    } else {
        let o = select::resolve_subtree(&repo, &a.old, &filter, &Need::default())?;
        let need = if relative(new) {
            within(&o.1)
        } else {
            Need::default()
        };
        let n = select::resolve_subtree(&repo, new, &filter, &need)?;
        (o, n)
    };
    let mut items = Vec::new();
    let old_at = (&old, old_root.as_deref());
    let new_at = (&new, new_root.as_deref());
    let summary = diff_subtrees(&repo, old_at, new_at, |i| {
        let listed = a.metadata || i.change != Change::Metadata;
        if g.json {
            if listed {
                items.push(i.clone());
            }
        } else if listed {
            let fields = if i.fields.is_empty() {
                String::new()
            } else {
                format!("  ({})", i.fields.join(", "))
            };
            println!("{}  {}{}", i.change.symbol(), show(&i.path), fields);
        }
    })?;
    let deployment = deployment(a, &repo, &old, &new)?;
    if g.json {
        let mut v = serde_json::json!({ "changes": items, "summary": summary });
        if let Some(d) = &deployment {
            v["deployment"] = serde_json::to_value(d)?;
        }
        print_json(&v)?;
    } else {
        if let Some(d) = &deployment {
            print_deployment(d);
        }
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

/// The deployments of two snapshots compared (`None` when neither has one), environment
/// values masked unless `--show-secrets`.
fn deployment(
    a: &Args,
    repo: &lifeboat::repo::IndexedRepo,
    old: &lifeboat::snapshot::Snapshot,
    new: &lifeboat::snapshot::Snapshot,
) -> Result<Option<lifeboat::docker::report::DeploymentDiff>> {
    if old.deployment.is_none() && new.deployment.is_none() {
        return Ok(None);
    }
    let mut d = lifeboat::docker::report::deployment_diff(
        repo,
        old.deployment.as_ref(),
        new.deployment.as_ref(),
    )?;
    if !a.show_secrets {
        d.mask_secrets();
    }
    Ok(Some(d))
}

/// A deployment comparison in the words of `diff --live`.
fn print_deployment(d: &lifeboat::docker::report::DeploymentDiff) {
    for x in &d.added {
        println!("added     {}", esc(x));
    }
    for x in &d.removed {
        println!("removed   {}", esc(x));
    }
    for (kind, list) in [
        ("container", &d.containers),
        ("network", &d.networks),
        ("volume", &d.volumes),
    ] {
        for (name, diffs) in list {
            for x in diffs {
                println!(
                    "changed   {kind} {}: {}: {} -> {}",
                    esc(name),
                    esc(&x.field),
                    esc(&x.expected.to_string()),
                    esc(&x.actual.to_string())
                );
            }
        }
    }
    for v in &d.data {
        for (sym, list) in [("+", &v.added), ("-", &v.removed), ("M", &v.modified)] {
            for p in list {
                println!("{sym}  volume {}:{}", esc(&v.name), esc(p));
            }
        }
    }
    if d.is_empty() {
        println!("docker: no change in containers, networks, volumes or images");
    }
}

fn live(
    g: &Global,
    a: &Args,
    repo: &lifeboat::repo::IndexedRepo,
    snap: &lifeboat::snapshot::Snapshot,
) -> Result<Exit> {
    use anyhow::Context;
    use lifeboat::docker::compare::mask_difference;
    let Some(dep) = &snap.deployment else {
        anyhow::bail!("this snapshot holds no containers: nothing to compare with the engine");
    };
    let engine = lifeboat::docker::Engine::connect().context("Docker")?;
    let mut drift = lifeboat::docker::report::live_drift(&engine, repo, dep)?;
    if !a.show_secrets {
        for (_, diffs) in drift.containers.iter_mut().chain(drift.networks.iter_mut()) {
            *diffs = diffs.iter().map(mask_difference).collect();
        }
    }
    if g.json {
        print_json(&serde_json::json!({ "drift": drift, "clean": drift.is_empty() }))?;
    } else {
        for m in &drift.missing {
            println!("missing   {}", esc(m));
        }
        for (kind, list) in [
            ("container", &drift.containers),
            ("network", &drift.networks),
        ] {
            for (name, diffs) in list {
                for d in diffs {
                    println!(
                        "changed   {kind} {}: {}: {} -> {}",
                        esc(name),
                        esc(&d.field),
                        d.expected,
                        d.actual
                    );
                }
            }
        }
        for v in &drift.volumes {
            if let Some(why) = &v.unchecked {
                println!("unchecked volume {}: {}", esc(&v.name), esc(why));
            }
            for (sym, list) in [("+", &v.added), ("-", &v.removed), ("M", &v.modified)] {
                for p in list {
                    println!("{sym}  volume {}:{}", esc(&v.name), esc(p));
                }
            }
        }
        if drift.is_empty() {
            println!("no drift: the engine matches snapshot {}", snap.time);
        }
    }
    Ok(if drift.is_empty() {
        Exit::Success
    } else {
        Exit::Partial
    })
}
