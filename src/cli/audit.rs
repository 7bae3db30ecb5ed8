//! `lifeboat audit [SNAPSHOT | --live]`: the security report of a snapshot or of the live host,
//! grouped by severity, and an exit code scripts can gate on (21 low .. 24 critical).

use std::path::PathBuf;

use anyhow::{Context, Result};
use lifeboat::audit::{self, Inputs, Report, Severity, gather};
use lifeboat::snapshot::select::{self, Filter, Need};

use super::{Exit, Global, print_json};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// `latest`, or an ID prefix of at least 8 hex digits.
    #[arg(
        value_name = "SNAPSHOT",
        required_unless_present = "live",
        conflicts_with = "live"
    )]
    pub snapshot: Option<String>,

    /// Audit the live host: every container on the engine, the configuration under
    /// --host-root, the loaded firewall rules, and (with a repository) the live model files
    /// against the latest snapshot of this host.
    #[arg(long)]
    pub live: bool,

    /// With --live: read the host's configuration under this directory instead of `/` (the
    /// firewall tools, which read this machine's kernel, then do not run).
    #[arg(long, value_name = "DIR", default_value = "/", requires = "live")]
    pub host_root: PathBuf,

    /// Snapshots of this host only: for `latest`, and with --live for the model comparison
    /// (default there: this machine's hostname).
    #[arg(long = "hostname", value_name = "HOST")]
    pub hosts: Vec<String>,

    /// Hide findings below this severity; the exit code follows the findings shown.
    #[arg(
        long,
        value_name = "LEVEL",
        default_value = "info",
        value_parser = ["info", "low", "medium", "high", "critical"]
    )]
    pub min_severity: String,
}

pub fn run(g: &Global, a: &Args) -> Result<Exit> {
    let min: Severity = a.min_severity.parse().map_err(anyhow::Error::msg)?;
    let inputs = match &a.snapshot {
        Some(spec) => snapshot_inputs(g, a, spec)?,
        None => live_inputs(g, a)?,
    };
    let mut report = audit::run(&inputs);
    let total = report.findings.len();
    report.findings.retain(|f| f.severity >= min);
    let hidden = total - report.findings.len();
    let exit = exit_for(report.worst());
    if g.json {
        print_json(&serde_json::json!({
            "source": report.source,
            "checked": report.checked,
            "skipped": report.skipped,
            "findings": report.findings,
            "counts": report.counts(),
            "hidden": hidden,
            "worst": report.worst(),
            "exit_code": exit as u8,
        }))?;
    } else {
        print_text(&report, hidden, min);
    }
    Ok(exit)
}

/// 0 when nothing is above info, else 21 (low) .. 24 (critical).
fn exit_for(worst: Option<Severity>) -> Exit {
    match worst {
        None | Some(Severity::Info) => Exit::Success,
        Some(Severity::Low) => Exit::AuditLow,
        Some(Severity::Medium) => Exit::AuditMedium,
        Some(Severity::High) => Exit::AuditHigh,
        Some(Severity::Critical) => Exit::AuditCritical,
    }
}

fn snapshot_inputs(g: &Global, a: &Args, spec: &str) -> Result<Inputs> {
    let repo = g.open()?.indexed()?;
    let filter = g.filter(&a.hosts, &[]);
    let (id, snap) = select::resolve(&repo, spec, &filter, &Need::default())?;
    let all = select::all(&repo)?;
    Ok(gather::from_snapshot(&repo, &id, &snap, &all)?)
}

fn live_inputs(g: &Global, a: &Args) -> Result<Inputs> {
    let root = std::path::absolute(&a.host_root)
        .with_context(|| format!("--host-root {}", a.host_root.display()))?;
    if !root.is_dir() {
        anyhow::bail!("--host-root {}: not a directory", root.display());
    }
    let mut inputs = Inputs {
        source: format!(
            "live host {} (root {})",
            lifeboat::util::hostname(),
            root.display()
        ),
        ..Inputs::default()
    };
    match lifeboat::docker::Engine::connect().and_then(|e| gather::docker_live(&e)) {
        Ok(d) => inputs.docker = Some(d),
        Err(e) => {
            super::log::warn(&format!("container checks skipped: {e}"));
            inputs
                .skipped
                .push(format!("container-*: no Docker engine reachable ({e})"));
        }
    }
    inputs.host = Some(gather::host_live(&root));
    if g.repo.is_none() {
        inputs
            .skipped
            .push("model-changed: no repository given (--repo or LIFEBOAT_REPO)".into());
        return Ok(inputs);
    }
    let repo = g.open()?.indexed()?;
    let hosts = if a.hosts.is_empty() {
        vec![lifeboat::util::hostname()]
    } else {
        a.hosts.clone()
    };
    let filter = Filter {
        hosts: hosts.clone(),
        ..Filter::default()
    };
    // The model comparison needs the newest snapshot with files.
    let (id, snap) = match select::resolve(&repo, "latest", &filter, &Need::files()) {
        Ok(found) => found,
        Err(lifeboat::Error::NoSuchSnapshot(_) | lifeboat::Error::NoSnapshots) => {
            inputs.skipped.push(format!(
                "model-changed: no snapshot of {} in the repository",
                hosts.join(", ")
            ));
            return Ok(inputs);
        }
        Err(e) => return Err(e.into()),
    };
    let recorded = lifeboat::models::recorded_models(&repo, &snap, &[])?;
    if recorded.is_empty() {
        inputs.skipped.push(format!(
            "model-changed: snapshot {} holds no model files",
            id.short()
        ));
        return Ok(inputs);
    }
    let bar = g.progress();
    let r = lifeboat::models::verify::verify_live(&recorded, &[], &bar)?;
    inputs.models = Some(gather::models_from_verify(
        &r,
        format!("snapshot {} ({})", id.short(), snap.time),
    ));
    Ok(inputs)
}

fn print_text(r: &Report, hidden: usize, min: Severity) {
    use lifeboat::escape::text as esc;
    println!("audit of {}", esc(&r.source));
    for sev in Severity::ALL.iter().rev() {
        let group: Vec<_> = r.findings.iter().filter(|f| f.severity == *sev).collect();
        if group.is_empty() {
            continue;
        }
        println!("\n{} ({})", sev.label().to_ascii_uppercase(), group.len());
        for f in group {
            println!("  {:<28} {}: {}", f.id, esc(&f.subject), esc(&f.message));
            println!("  {:<28} {}", "", esc(&f.evidence));
        }
    }
    if !r.skipped.is_empty() {
        println!();
        for s in &r.skipped {
            println!("skipped: {}", esc(s));
        }
    }
    let counts = r.counts();
    let parts: Vec<String> = Severity::ALL
        .iter()
        .rev()
        .filter(|s| **s >= min)
        .map(|s| format!("{} {}", counts[s], s.label()))
        .collect();
    let hidden = if hidden > 0 {
        format!(", {hidden} below {} hidden", min.label())
    } else {
        String::new()
    };
    println!(
        "\n{} finding(s): {}{hidden}; {} check(s) run",
        r.findings.len(),
        parts.join(", "),
        r.checked.len()
    );
}
