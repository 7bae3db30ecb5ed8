//! `lifeboat rollback CONTAINER [--volumes]`: put a container back as its latest `pre-update`
//! snapshot recorded it (config and image, with `--volumes` its volume data too), through the
//! same restore as `restore --container NAME --replace`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use lifeboat::docker::Engine;
use lifeboat::docker::compare::shown_differences;
use lifeboat::ops::update::recover::recover;
use lifeboat::ops::update::rollback::{RollbackOptions, rollback};
use lifeboat::snapshot::tags::{PRE_ROLLBACK_TAG, PRE_UPDATE_TAG};

use super::{Exit, Global, print_json};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The container to bring back (its name in the snapshot).
    #[arg(value_name = "CONTAINER")]
    pub container: String,

    /// Also bring back its volumes' data: they are made to hold exactly the snapshot's files
    /// (the container is stopped first, and what is overwritten is kept in a `pre-rollback`
    /// snapshot). Without it, volumes keep their current data.
    #[arg(long)]
    pub volumes: bool,

    /// Go back to this snapshot (ID prefix) instead of the newest `pre-update` snapshot of
    /// this host that holds the container.
    #[arg(long, value_name = "ID")]
    pub snapshot: Option<String>,

    /// Show what would be done; change nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Show secret values (environment) in reported differences.
    #[arg(long)]
    pub show_secrets: bool,

    /// Where update journals are kept (in `updates/`), as for `update` [default:
    /// monitoring.state_dir from the configuration, or /var/lib/lifeboat]. Interrupted updates
    /// recorded there are repaired first, and the rollback holds the container's update lock.
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
}

pub fn run(g: &Global, a: &Args) -> Result<Exit> {
    let repo = g.open()?;
    let engine = Engine::connect().context("Docker")?;
    let state_dir = a
        .state_dir
        .clone()
        .unwrap_or_else(|| g.settings().monitoring.state_dir.clone());
    if !a.dry_run {
        // As `update` does: what an interrupted update left is repaired first.
        let mut recovered = recover(&engine, &state_dir).with_context(|| {
            format!(
                "repairing interrupted updates recorded in {}",
                state_dir.join("updates").display()
            )
        })?;
        super::errors::describe_recoveries(&mut recovered);
        if !g.json {
            super::update::show_recoveries(&recovered);
        }
        if recovered.iter().any(|r| r.error.is_some()) {
            anyhow::bail!(
                "an interrupted update could not be repaired (see above); fix it, then run `lifeboat update --recover --state-dir {}`",
                state_dir.display()
            );
        }
    }
    let bar = g.progress();
    let opts = RollbackOptions {
        snapshot: a.snapshot.clone(),
        volumes: a.volumes,
        dry_run: a.dry_run,
        state_dir,
    };
    let r = rollback(&engine, &repo, &a.container, &opts, &bar).with_context(|| {
        format!(
            "rolling back {} (see `lifeboat snapshots --tag {PRE_UPDATE_TAG}`; pick one with --snapshot)",
            a.container
        )
    })?;
    drop(bar);
    let report = &r.apply;
    let shown = shown_differences(&report.differences, a.show_secrets);
    if g.json {
        print_json(&serde_json::json!({
            "container": r.container,
            "snapshot": r.snapshot,
            "snapshot_time": r.snapshot_time,
            "pre_rollback_snapshot": r.pre_rollback_snapshot,
            "steps": report.steps,
            "differences": shown,
            "failures": super::errors::failures(&report.failures),
            "warnings": report.warnings,
            "dry_run": a.dry_run,
        }))?;
    } else {
        if let Some(s) = &r.pre_rollback_snapshot {
            println!(
                "snapshot               {} (tag {PRE_ROLLBACK_TAG}: the data about to be overwritten)",
                short_id(s)
            );
        }
        for s in &report.steps {
            if a.dry_run || !g.quiet {
                println!(
                    "{}{:<22} {}",
                    if a.dry_run { "would " } else { "" },
                    s.action,
                    lifeboat::escape::text(&s.object)
                );
            }
        }
        super::restore::print_problems(report, &shown);
        if a.dry_run {
            println!("dry run: nothing changed");
        } else if report.failures.is_empty() {
            println!(
                "rolled back {} to snapshot {} ({}){}",
                r.container,
                short_id(&r.snapshot),
                r.snapshot_time,
                if a.volumes {
                    " with its volume data"
                } else {
                    "; volumes kept their current data"
                }
            );
        }
    }
    Ok(if !report.failures.is_empty() {
        Exit::Failure
    } else if !report.differences.is_empty() {
        Exit::Partial
    } else {
        Exit::Success
    })
}

/// The first 8 hex digits of a snapshot ID, as `lifeboat snapshots` shows them.
fn short_id(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}
