//! `lifeboat run`: the configured job ([`lifeboat::ops::job`]), as a timer runs it every
//! night. This module maps the arguments onto the job's plan and renders its report: one
//! summary (text or `--json`) and the exit code of the step that failed.

use std::path::PathBuf;

use anyhow::{Result, bail};
use lifeboat::ops::job::{JobPlan, JobReport, PruneWhen, Step, StepStatus, run_job};

use super::{Exit, Global, log, print_json};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Job name for metrics and run records [default: the configuration's `name`, or
    /// `default`].
    #[arg(long, value_name = "NAME")]
    pub job: Option<String>,
    /// Write Prometheus metrics to this file (node_exporter's textfile collector)
    /// [default: monitoring.metrics_file].
    #[arg(long, value_name = "FILE")]
    pub metrics_file: Option<PathBuf>,
    /// Keep run records here [default: monitoring.state_dir, or /var/lib/lifeboat].
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Prune now, even if the last prune is recent.
    #[arg(long, conflicts_with = "no_prune")]
    pub prune: bool,
    /// Do not prune in this run.
    #[arg(long)]
    pub no_prune: bool,
    /// Do not verify in this run.
    #[arg(long)]
    pub no_verify: bool,
}

/// The job: the configuration's plan with the command line's overrides, carried out; then the
/// summary and the exit code.
pub fn run(g: &Global, a: &Args) -> Result<Exit> {
    let Some(cfg) = g.cfg() else {
        bail!(
            "no configuration: `lifeboat run` runs the job in /etc/lifeboat/lifeboat.toml or --config FILE (see `lifeboat config example`)"
        );
    };
    let plan = plan(cfg, a);
    plan.validate()?;
    log::event(
        "info",
        "run_start",
        &format!("job {}: starting", plan.job),
        serde_json::json!({ "job": plan.job }),
    );
    let repo = g.open()?;
    let bar = g.progress();
    let report = run_job(&repo, &plan, &bar).map_err(super::snapshot::job_error)?;
    print(g, &report)?;
    Ok(match report.failed().map(|s| s.step) {
        None if report.partial => Exit::Partial,
        None => Exit::Success,
        Some(Step::Hooks) => Exit::RunHook,
        Some(Step::Snapshot) => Exit::RunSnapshot,
        Some(Step::Forget) => Exit::RunForget,
        Some(Step::Prune) => Exit::RunPrune,
        Some(Step::Verify) => Exit::RunVerify,
    })
}

/// The configuration's job with the command line's overrides.
fn plan(cfg: &lifeboat::config::Config, a: &Args) -> JobPlan {
    let mut plan = JobPlan::from_config(cfg);
    if let Some(job) = &a.job {
        plan.job.clone_from(job);
    }
    if let Some(dir) = &a.state_dir {
        plan.state_dir.clone_from(dir);
    }
    if a.metrics_file.is_some() {
        plan.metrics_file.clone_from(&a.metrics_file);
    }
    if a.prune {
        plan.prune = PruneWhen::Now;
    } else if a.no_prune {
        plan.prune = PruneWhen::Never;
    }
    if a.no_verify {
        plan.verify = None;
    }
    plan
}

/// The summary: JSON, or a line per step (only on failure with `--quiet`).
fn print(g: &Global, r: &JobReport) -> Result<()> {
    if g.json {
        print_json(&serde_json::json!({
            "job": r.job,
            "success": r.success,
            "snapshot": r.snapshot,
            "duration_s": r.duration.as_secs_f64(),
            "steps": r.steps.iter().map(|s| serde_json::json!({
                "name": s.step.name(),
                "status": s.status.name(),
                "detail": s.detail,
                "duration_s": s.duration.as_secs_f64(),
            })).collect::<Vec<_>>(),
        }))?;
    } else if !g.quiet || !r.success {
        println!("job {}: {}", r.job, if r.success { "ok" } else { "FAILED" });
        for s in &r.steps {
            let status = match s.status {
                StepStatus::Failed => "FAILED",
                other => other.name(),
            };
            println!(
                "  {:<9} {:<8} {:>6.1}s  {}",
                s.step.name(),
                status,
                s.duration.as_secs_f64(),
                s.detail
            );
        }
    }
    Ok(())
}
