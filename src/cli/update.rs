//! `lifeboat update CONTAINER | --all | --recover`: replace a container by one from a newer image
//! with the same settings, behind a `pre-update` snapshot and a health gate, rolled back on
//! failure (see docs/DOCKER.md, "Safe updates").

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use lifeboat::docker::Engine;
use lifeboat::docker::apply::{Step, short};
use lifeboat::ops::update::execute::{Outcome, UpdateOptions, UpdateReport, execute};
use lifeboat::ops::update::plan::{Plan, outdated, plan};
use lifeboat::ops::update::recover::{Recovery, recover};
use lifeboat::snapshot::tags::PRE_UPDATE_TAG;

use super::{Exit, Global, parse_duration, print_json};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The container to update (name or ID).
    #[arg(value_name = "CONTAINER", required_unless_present_any = ["all", "recover"])]
    pub container: Option<String>,

    /// Update every container whose image tag now names another image than the one it runs
    /// (with --pull: after pulling), one at a time, stopping at the first failure.
    #[arg(long, conflicts_with_all = ["container", "image"])]
    pub all: bool,

    /// Create the new container from this image (a local image: a tag or an ID) instead of
    /// the container's own image reference.
    #[arg(long, value_name = "REF")]
    pub image: Option<String>,

    /// Pull the image reference (the container's own, or --image) from its registry first.
    #[arg(long)]
    pub pull: bool,

    /// Without a healthcheck, the new container must run this long without a restart
    /// [default: update.healthy_after from the configuration, or 30s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub healthy_after: Option<Duration>,

    /// Roll back when the new container is not healthy after this long [default:
    /// update.health_timeout from the configuration, or 5m].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub health_timeout: Option<Duration>,

    /// Show what would be done; change nothing (a --pull still pulls).
    #[arg(long)]
    pub dry_run: bool,

    /// Repair what an interrupted update left (the old container aside, a half-started new
    /// one) and exit. Any update does this first.
    #[arg(long, conflicts_with_all = ["container", "all", "image", "pull", "dry_run"])]
    pub recover: bool,

    /// Where update journals are kept (in `updates/`) [default: monitoring.state_dir from the
    /// configuration, or /var/lib/lifeboat].
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
}

pub fn run(g: &Global, a: &Args) -> Result<Exit> {
    let cfg = g.settings();
    let a = &Resolved {
        healthy_after: a.healthy_after.unwrap_or(cfg.update.healthy_after),
        health_timeout: a.health_timeout.unwrap_or(cfg.update.health_timeout),
        state_dir: a
            .state_dir
            .clone()
            .unwrap_or_else(|| cfg.monitoring.state_dir.clone()),
        args: a,
    };
    run_resolved(g, a)
}

/// The arguments with the configuration's defaults filled in.
struct Resolved<'a> {
    healthy_after: Duration,
    health_timeout: Duration,
    state_dir: PathBuf,
    args: &'a Args,
}

impl std::ops::Deref for Resolved<'_> {
    type Target = Args;
    fn deref(&self) -> &Args {
        self.args
    }
}

fn run_resolved(g: &Global, a: &Resolved<'_>) -> Result<Exit> {
    let engine = Engine::connect().context("Docker")?;
    let mut recovered = recover(&engine, &a.state_dir).with_context(|| {
        format!(
            "repairing interrupted updates recorded in {}",
            a.state_dir.join("updates").display()
        )
    })?;
    super::errors::describe_recoveries(&mut recovered);
    if a.recover {
        return recover_only(g, a, &recovered);
    }
    let recovery_failed = recovered.iter().any(|r| r.error.is_some());
    if !g.json {
        show_recoveries(&recovered);
    }
    if recovery_failed {
        bail!(
            "an interrupted update could not be repaired (see above); fix it, then run `lifeboat update --recover`"
        );
    }

    let plans = find_plans(g, &engine, a)?;

    let mut reports: Vec<UpdateReport> = Vec::new();
    let mut json_plans = Vec::new();
    let mut repo = None;
    let opts = UpdateOptions {
        healthy_after: a.healthy_after,
        health_timeout: a.health_timeout,
        state_dir: a.state_dir.clone(),
    };
    if a.all && plans.is_empty() && !g.json {
        println!("every container is up to date");
    }
    let mut exit = Exit::Success;
    for p in &plans {
        if p.up_to_date() {
            if g.json {
                json_plans.push(serde_json::json!({ "plan": p, "outcome": "up-to-date" }));
            } else {
                println!(
                    "{}: already up to date ({} is image {})",
                    p.container,
                    p.image,
                    short_image(&p.new_image_id)
                );
            }
            continue;
        }
        if a.dry_run {
            if g.json {
                json_plans.push(serde_json::json!({ "plan": p, "outcome": "would-update" }));
            } else {
                show_plan(p);
            }
            continue;
        }
        if repo.is_none() {
            repo = Some(g.open()?);
        }
        let Some(repo) = &repo else { continue };
        let bar = g.progress();
        let quiet = g.quiet || g.json;
        let say = |s: &Step| {
            if !quiet {
                bar.suspend(|| println!("{:<22} {}", s.action, s.object));
            }
        };
        let r = execute(&engine, repo, p, &opts, &bar, &say)
            .with_context(|| format!("updating {}", p.container))?;
        drop(bar);
        let failed = r.outcome == Outcome::RolledBack;
        if !g.json {
            show_report(&r, g.quiet);
        }
        reports.push(r);
        if failed {
            exit = if lifeboat::interrupt::is_set() {
                Exit::Interrupted
            } else {
                Exit::Failure
            };
            if a.all && !g.json {
                eprintln!("stopped at the first failure; the containers after it were not updated");
            }
            break;
        }
    }
    if g.json {
        print_json(&serde_json::json!({
            "recovered": recovered,
            "plans": json_plans,
            "updates": reports,
            "dry_run": a.dry_run,
        }))?;
    } else if a.dry_run && plans.iter().any(|p| !p.up_to_date()) {
        println!("dry run: nothing changed");
    }
    Ok(exit)
}

/// `--recover`: report what the repair of interrupted updates did; failure when one could
/// not be repaired.
fn recover_only(g: &Global, a: &Resolved<'_>, recovered: &[Recovery]) -> Result<Exit> {
    let recovery_failed = recovered.iter().any(|r| r.error.is_some());
    if g.json {
        print_json(&serde_json::json!({ "recovered": recovered }))?;
    } else {
        show_recoveries(recovered);
        if recovered.is_empty() {
            println!(
                "no interrupted update found in {}",
                a.state_dir.join("updates").display()
            );
        }
    }
    Ok(if recovery_failed {
        Exit::Failure
    } else {
        Exit::Success
    })
}

/// The updates asked for: every outdated container (`--all`), or the one named.
fn find_plans(g: &Global, engine: &Engine, a: &Resolved<'_>) -> Result<Vec<Plan>> {
    Ok(if a.all {
        let log = super::progress::Log {
            tally: g.tally.clone(),
        };
        outdated(engine, a.pull, &log).context(
            "finding containers to update (nothing was changed; without a registry, drop --pull)",
        )?
    } else {
        let name = a.container.as_deref().unwrap_or_default();
        vec![
            plan(engine, name, a.image.as_deref(), a.pull).with_context(|| {
                if a.pull {
                    format!(
                        "updating {name}: nothing was changed (no registry reachable? build or load the image and use --image)"
                    )
                } else {
                    format!("updating {name}: nothing was changed")
                }
            })?,
        ]
    })
}

fn short_image(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    hex.get(..12).unwrap_or(hex)
}

fn show_plan(p: &Plan) {
    println!(
        "would update {} ({}): image {} -> {} ({})",
        p.container,
        short(&p.old_id),
        short_image(&p.old_image_id),
        short_image(&p.new_image_id),
        p.image
    );
    println!(
        "would snapshot         {} (tag {PRE_UPDATE_TAG})",
        p.container
    );
    if p.running {
        println!("would stop             {}", p.container);
    }
    println!(
        "would rename aside     {} -> {}",
        p.container,
        lifeboat::docker::apply::aside_name(&p.container, &p.old_id)
    );
    println!("would create container {} from {}", p.container, p.image);
    if p.running {
        println!("would start and wait   until healthy, then remove the old container");
    } else {
        println!("would remove           the old container (it was not running: not started)");
    }
}

fn show_report(r: &UpdateReport, quiet: bool) {
    for w in &r.warnings {
        super::log::warn(&w.to_string());
    }
    let name = &r.plan.container;
    match r.outcome {
        Outcome::Updated if quiet => {}
        Outcome::Updated => println!(
            "updated {name}: image {} -> {} ({}) in {:.1}s; undo with `lifeboat rollback {name}` (snapshot {})",
            short_image(&r.plan.old_image_id),
            short_image(&r.plan.new_image_id),
            r.plan.image,
            r.seconds,
            short_id(&r.snapshot)
        ),
        Outcome::RolledBack => {
            eprintln!(
                "error: the update of {name} to {} failed: {}",
                r.plan.image,
                lifeboat::escape::controls(r.reason.as_deref().unwrap_or("unknown reason"))
            );
            eprintln!(
                "rolled back: {name} is the original container again ({}){}",
                short(&r.plan.old_id),
                if r.plan.running { ", running" } else { "" }
            );
            if !r.logs.is_empty() {
                eprintln!("last {} log line(s) of the new container:", r.logs.len());
                for l in &r.logs {
                    // The container's own output: escaped, it cannot drive the terminal.
                    eprintln!("  | {}", lifeboat::escape::text(l));
                }
            }
            eprintln!(
                "hint: the new image stays on the engine; try it by hand with `docker run --rm -it {}`",
                r.plan.image
            );
        }
    }
}

pub(super) fn show_recoveries(rs: &[Recovery]) {
    for r in rs {
        for a in &r.actions {
            println!("recovered {}: {a}", r.container);
        }
        if let Some(e) = &r.error {
            eprintln!(
                "error: interrupted update of {} (step {:?}) could not be repaired: {e}",
                r.container, r.step
            );
        }
    }
}

/// The first 8 hex digits of a snapshot ID, as `lifeboat snapshots` shows them.
fn short_id(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}
