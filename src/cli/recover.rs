//! `lifeboat recover [SNAPSHOT]`: the whole deployment back onto this (fresh) host in one
//! command: host security profile, files and models, then images, networks, volumes and
//! containers; a plan first, a field-by-field report last.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use lifeboat::escape::text as esc;
use lifeboat::ops::recover::docker::{DockerPlan, Found, HealthOptions, describe_check};
use lifeboat::ops::recover::{self, Phase, Plan, RecoverOptions, Report};
use lifeboat::util::{human_bytes, show_path};

use super::{Exit, Global, print_json};

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  lifeboat recover --plan                    # what would be done, nothing written
  lifeboat recover                           # the newest snapshot of this host, all of it
  lifeboat recover --hostname gpu-01         # a dead host's newest snapshot, onto this one
  lifeboat recover --from gpu-01.lbx         # from a portable archive (lifeboat export)
  lifeboat recover --only docker             # just the containers (files and host already back)
  lifeboat recover --host-root /mnt --target /mnt    # into a disk mounted at /mnt

The order: (1) the host security profile, after `sshd -t` and firewall dry runs, keeping an
undo snapshot; (2) the snapshot's files (models, data, bind-mount sources), every file's
SHA-256 checked; (3) images loaded from the snapshot (no registry), networks with their IPAM
and static addresses, volumes with their data, containers in dependency order, started as
they were running; then the health gates and a report: each container's `docker inspect`
compared field by field with the snapshot, every volume and file read back and compared by
SHA-256, and `audit` of the result.

Interrupted? Run the same command again: what already matches is skipped, and what the
interrupted run left half-made (a volume half-written, a container not started) is made
again. Objects that existed before the recovery and differ are never touched: they are
reported. See docs/RECOVERY.md for the runbook.")]
pub struct Args {
    /// The snapshot (`latest`, an ID prefix) [default: the newest snapshot of this host, or of
    /// --hostname, that lifeboat did not take for itself (never a pre-update snapshot)].
    #[arg(value_name = "SNAPSHOT")]
    pub snapshot: Option<String>,

    /// Print the plan and stop; nothing is written.
    #[arg(long)]
    pub plan: bool,

    /// Run only these phases (repeatable or comma-separated).
    #[arg(long, value_enum, value_delimiter = ',', value_name = "PHASE")]
    pub only: Vec<PhaseArg>,

    /// Write the host profile under this root (a mounted disk) instead of `/`.
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub host_root: PathBuf,

    /// Restore the snapshot's files under this directory (TARGET/<original path>) instead of
    /// their own places. Containers still name their original bind-mount paths.
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub target: PathBuf,

    /// The Docker engine to recover onto (`unix:///path/docker.sock`, `tcp://host:2375`)
    /// [default: DOCKER_HOST, else the local socket].
    #[arg(long, value_name = "URL")]
    pub docker_host: Option<String>,

    /// Do not load the snapshot's firewall rule sets (they are loaded, after a dry run, only
    /// when --host-root is `/`).
    #[arg(long)]
    pub no_firewall: bool,

    /// Restore the recorded numeric owners, even where this host maps the user or group name
    /// to another ID.
    #[arg(long)]
    pub numeric_owner: bool,

    /// A container without a healthcheck must run this long without a restart.
    #[arg(long, value_name = "DURATION", value_parser = super::parse_duration, default_value = "2s")]
    pub healthy_after: Duration,

    /// How long the health gates wait for the containers to become healthy.
    #[arg(long, value_name = "DURATION", value_parser = super::parse_duration, default_value = "5m")]
    pub health_timeout: Duration,

    /// Where the recovery journal is kept between interrupted runs (in `recover/`) [default:
    /// monitoring.state_dir from the configuration, or /var/lib/lifeboat].
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,

    /// Do not flush the written files at the end (faster, not crash-safe).
    #[arg(long)]
    pub no_sync: bool,

    /// Snapshots of this hostname (default: this host's, when it has any).
    #[arg(long = "hostname", value_name = "HOST")]
    pub hosts: Vec<String>,

    /// Only snapshots with this tag.
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PhaseArg {
    Host,
    Files,
    Docker,
}

impl From<PhaseArg> for Phase {
    fn from(p: PhaseArg) -> Phase {
        match p {
            PhaseArg::Host => Phase::Host,
            PhaseArg::Files => Phase::Files,
            PhaseArg::Docker => Phase::Docker,
        }
    }
}

pub fn run(g: &Global, a: &Args) -> Result<Exit> {
    let repo = g.open()?;
    // Held for the whole recovery: a prune cannot take data from under it, and a portable
    // archive is checked against its table of contents before anything is planned.
    let _lock = repo.lock(lifeboat::repo::LockKind::Shared, "recover")?;
    let opts = options(g, a);
    let (id, snap) = recover::choose(&repo, a.snapshot.as_deref(), &g.filter(&a.hosts, &a.tags))?;
    let engine = match (&snap.deployment, opts.phases.contains(&Phase::Docker)) {
        (Some(_), true) => Some(
            lifeboat::docker::Engine::connect_to(opts.docker_host.as_deref())
                .context(
                    "the Docker engine to recover onto (start it, point --docker-host at it, or leave the Docker phase out with --only host,files)",
                )?,
        ),
        _ => None,
    };
    let bar = g.progress();
    let (plan, survey) = recover::plan(&repo, &id, &snap, &opts, engine.as_ref(), &bar)
        .context("planning the recovery")?;
    if a.plan {
        if g.json {
            print_json(&serde_json::json!({ "plan": plan, "dry_run": true }))?;
        } else {
            print_plan(g, &plan, &opts);
            println!("plan only: nothing was written (run without --plan to recover)");
        }
        return Ok(Exit::Success);
    }
    if !g.json && !g.quiet {
        print_plan(g, &plan, &opts);
    }
    let report = recover::recover(&repo, &snap, plan, survey, engine.as_ref(), &opts, &bar)?;
    let exit = if report.damaged() {
        Exit::Integrity
    } else if report.phases.iter().any(|p| p.status == "failed") {
        Exit::Failure
    } else if report.exact() {
        Exit::Success
    } else {
        Exit::Partial
    };
    if g.json {
        print_json(&serde_json::json!({
            "exact": report.exact(),
            "exit_code": exit as u8,
            "report": report,
        }))?;
    } else {
        print_report(g, &report);
    }
    Ok(exit)
}

fn options(g: &Global, a: &Args) -> RecoverOptions {
    let cfg = g.settings();
    let phases = if a.only.is_empty() {
        Phase::ALL.to_vec()
    } else {
        Phase::ALL
            .into_iter()
            .filter(|p| a.only.iter().any(|o| Phase::from(*o) == *p))
            .collect()
    };
    let at_root = std::fs::canonicalize(&a.host_root).is_ok_and(|p| p == std::path::Path::new("/"));
    RecoverOptions {
        phases,
        host_root: a.host_root.clone(),
        target: a.target.clone(),
        docker_host: a.docker_host.clone(),
        firewall: at_root && !a.no_firewall,
        numeric_owner: a.numeric_owner,
        health: HealthOptions {
            healthy_after: a.healthy_after,
            timeout: a.health_timeout,
        },
        state_dir: a
            .state_dir
            .clone()
            .unwrap_or_else(|| cfg.monitoring.state_dir.clone()),
        tool_timeout: cfg.host_tool_timeout(),
        sync: !a.no_sync,
    }
}

fn found(f: &Found) -> String {
    match f {
        Found::Missing => "create".into(),
        Found::Matches => "exists and matches: skip".into(),
        Found::Incomplete { reason } => {
            format!("left incomplete by an earlier run ({reason}): make again")
        }
        Found::Differs { reason } => format!("exists and {reason}: left alone"),
    }
}

fn print_plan(g: &Global, p: &Plan, opts: &RecoverOptions) {
    let tags = if p.tags.is_empty() {
        String::new()
    } else {
        format!(" [{}]", p.tags.join(", "))
    };
    println!(
        "recovery plan for snapshot {} of {} taken {}{}",
        &p.snapshot[..8],
        esc(&p.hostname),
        p.time,
        esc(&tags)
    );
    if let Some(h) = &p.host {
        println!(
            "1. host profile under {}: {} file(s) differ{}; checked with sshd -t{} before anything is written",
            show_path(&h.root),
            h.changes.len(),
            if h.firewall {
                ", firewall rule sets loaded"
            } else {
                ""
            },
            if h.firewall {
                " and firewall dry runs"
            } else {
                ""
            }
        );
        for c in h.changes.iter().filter(|_| !g.quiet) {
            println!("     {:<8} {}", c.change, esc(&c.path));
        }
    }
    if let Some(f) = &p.files {
        println!(
            "2. files into {}: {} file(s), {} under {}",
            show_path(&f.target),
            f.files,
            human_bytes(f.bytes),
            f.paths
                .iter()
                .map(|s| esc(s))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if let Some(d) = &p.docker {
        print_docker_plan(d, opts);
    }
    for s in &p.skipped {
        println!("   skipped {}: {}", esc(&s.what), esc(&s.why));
    }
}

fn print_docker_plan(d: &DockerPlan, opts: &RecoverOptions) {
    let engine = opts.docker_host.as_deref().unwrap_or("the default engine");
    println!("3. Docker deployment onto {}:", esc(engine));
    for i in &d.images {
        println!(
            "     image     {} {} ({}): {}",
            &i.id[..i.id.len().min(19)],
            esc(&i.tags.join(", ")),
            human_bytes(i.size),
            if i.present {
                "present: skip"
            } else {
                "load from the snapshot"
            }
        );
    }
    for n in &d.networks {
        println!("     network   {}: {}", esc(&n.name), esc(&found(&n.found)));
    }
    for v in &d.volumes {
        println!("     volume    {}: {}", esc(&v.name), esc(&found(&v.found)));
    }
    for c in &d.containers {
        let mut how = found(&c.found);
        if c.running && matches!(c.found, Found::Missing) {
            how.push_str(", start");
        }
        if !c.depends_on.is_empty() {
            how.push_str(&format!(" (after {})", c.depends_on.join(", ")));
        }
        println!("     container {}: {}", esc(&c.name), esc(&how));
    }
    println!("4. health gates, then every container, volume and file compared with the snapshot");
}

fn print_report(g: &Global, r: &Report) {
    for p in &r.phases {
        match &p.error {
            Some(e) => super::log::error(&format!("phase {} failed: {e}", p.phase.name())),
            None if p.status == "skipped" => {}
            None if !g.quiet => println!("phase {:<6} done in {:.1}s", p.phase.name(), p.seconds),
            None => {}
        }
    }
    if let Some(h) = &r.host {
        for w in &h.warnings {
            super::log::warn(w);
        }
        println!(
            "host: {} file(s) written{}",
            h.files_written,
            h.undo_snapshot
                .as_ref()
                .map(|u| format!(
                    " (undo: lifeboat restore --host --undo, snapshot {})",
                    &u[..8]
                ))
                .unwrap_or_default()
        );
    }
    if let Some(f) = &r.files {
        println!(
            "files: {} written ({}), {} already in place",
            f.files_written,
            human_bytes(f.bytes_written),
            f.files_unchanged
        );
        for w in &f.warnings {
            super::log::warn(w);
        }
        for e in &f.errors {
            super::log::error(e);
        }
    }
    if let Some(c) = &r.files_check {
        if c.exact() {
            println!(
                "files verified: {} file(s), {}, every SHA-256 equal to the snapshot's",
                c.files_verified,
                human_bytes(c.bytes_verified)
            );
        } else {
            super::log::error(&format!(
                "files differ from the snapshot: {}",
                describe_check(c)
            ));
        }
    }
    if let Some(d) = &r.docker {
        print_docker(d);
    }
    let findings = &r.audit.findings;
    let above_info = findings
        .iter()
        .filter(|f| f.severity > lifeboat::audit::Severity::Info)
        .count();
    println!(
        "audit: {} finding(s), {} above info{}",
        findings.len(),
        above_info,
        if above_info > 0 {
            " (lifeboat audit shows them)"
        } else {
            ""
        }
    );
    for f in findings
        .iter()
        .filter(|f| f.severity > lifeboat::audit::Severity::Info)
    {
        println!(
            "  {:<8} {} {}: {}",
            f.severity.label(),
            f.id,
            esc(&f.subject),
            esc(&f.message)
        );
    }
    println!(
        "recovered snapshot {} in {:.1}s: {}",
        &r.plan.snapshot[..8],
        r.seconds,
        if r.exact() {
            "exact"
        } else {
            "NOT exact (see above)"
        }
    );
}

fn print_docker(d: &lifeboat::ops::recover::docker::DockerOutcome) {
    for r in &d.redone {
        println!("redone: {}", esc(r));
    }
    for w in &d.warnings {
        super::log::warn(w);
    }
    for (what, why) in &d.failures {
        super::log::error(&format!("{}: {}", esc(what), esc(why)));
    }
    for c in &d.containers {
        let health = match &c.health {
            Some(Ok(h)) => h.clone(),
            Some(Err(e)) => format!("NOT healthy: {e}"),
            None if c.running => "running".into(),
            None => "stopped, as it was".into(),
        };
        let fidelity = if c.differences.is_empty() {
            format!(
                "inspect equal to the snapshot{}",
                if c.generated.is_empty() {
                    String::new()
                } else {
                    format!(
                        " but for {} generated value(s) ({})",
                        c.generated.len(),
                        c.generated.join(", ")
                    )
                }
            )
        } else {
            format!("{} field(s) differ", c.differences.len())
        };
        println!(
            "container {}: {}, {}; {}",
            esc(&c.name),
            c.outcome,
            esc(&health),
            fidelity
        );
        for diff in &c.differences {
            let shown = lifeboat::docker::compare::mask_difference(diff);
            eprintln!(
                "differs: container {}: {}: snapshot {} , now {}",
                esc(&c.name),
                esc(&shown.field),
                shown.expected,
                shown.actual
            );
        }
    }
    for v in &d.volumes {
        let name = if v.name == v.live {
            v.name.clone()
        } else {
            format!("{} (now {})", v.name, v.live)
        };
        match (&v.check, &v.unchecked) {
            (Some(c), _) if c.exact() => println!(
                "volume {}: {} file(s), {} verified by SHA-256",
                esc(&name),
                c.files_verified,
                human_bytes(c.bytes_verified)
            ),
            (Some(c), _) => {
                super::log::error(&format!("volume {}: {}", esc(&name), describe_check(c)))
            }
            (None, Some(why)) => println!("volume {}: not compared ({})", esc(&name), esc(why)),
            (None, None) => {}
        }
    }
}
