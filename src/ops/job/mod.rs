//! The job: what `lifeboat run` does every night, as a plan (data) and its executor.
//!
//! A [`JobPlan`] is built from the configuration (or by hand: a daemon, a test); [`run_job`]
//! carries it out against an open repository: `before` hooks, the snapshot, `forget` by the
//! retention policy, `prune` when it is due, `verify` of a rotating slice of the packs; then
//! the `after` (or `on_error`) hooks, a run record and the Prometheus metrics. A failed
//! snapshot never lets `forget` age out the good ones. The result is a [`JobReport`], which the
//! caller renders; progress and events go to the [`Observer`].

mod hooks;
mod record;
mod request;
mod steps;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::config::Config;
use crate::error::Error;
use crate::observer::Observer;
use crate::ops::forget::Policy;
use crate::ops::prune::PruneOptions;
use crate::repo::Repository;
use crate::util::human_bytes;

pub use hooks::{Hooks, run_hooks};
pub use record::repo_totals;
pub use request::{SnapshotRequest, Taken, take_snapshot};
pub use steps::verify_slice;

/// A step of a job, by its name in run records and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Hooks,
    Snapshot,
    Forget,
    Prune,
    Verify,
}

impl Step {
    /// The stored name (run records, metrics, `--json`).
    pub fn name(self) -> &'static str {
        match self {
            Step::Hooks => "hooks",
            Step::Snapshot => "snapshot",
            Step::Forget => "forget",
            Step::Prune => "prune",
            Step::Verify => "verify",
        }
    }
}

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepStatus {
    Ok,
    Failed,
    /// Not run: a step before it failed, it is not due, or it was turned off.
    Skipped,
}

impl StepStatus {
    /// The stored name (`--json`).
    pub fn name(self) -> &'static str {
        match self {
            StepStatus::Ok => "ok",
            StepStatus::Failed => "failed",
            StepStatus::Skipped => "skipped",
        }
    }
}

/// When the job prunes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PruneWhen {
    /// In this run, however recent the last prune.
    Now,
    /// Not in this run.
    Never,
    /// When the last successful prune is this old (`None`: never by schedule).
    Every(Option<Duration>),
}

/// What a job does.
#[derive(Debug, Clone)]
pub struct JobPlan {
    /// Labels run records and metrics.
    pub job: String,
    pub snapshot: SnapshotRequest,
    pub hooks: Hooks,
    /// The retention policy (`forget` is skipped when it is empty).
    pub retention: Policy,
    pub prune: PruneWhen,
    pub prune_options: PruneOptions,
    /// The share of the packs read back by `verify` (`None`: no verify).
    pub verify: Option<f64>,
    /// Where run records live.
    pub state_dir: PathBuf,
    /// node_exporter textfile for the metrics.
    pub metrics_file: Option<PathBuf>,
}

impl JobPlan {
    /// The job the configuration describes.
    pub fn from_config(c: &Config) -> JobPlan {
        JobPlan {
            job: c.job().to_string(),
            snapshot: SnapshotRequest::from_config(c),
            hooks: c.hooks.clone(),
            retention: c.retention.clone(),
            prune: PruneWhen::Every(c.prune.every),
            prune_options: PruneOptions {
                grace: c.prune.grace,
                ..PruneOptions::default()
            },
            verify: Some(c.verify.read_data_subset),
            state_dir: c.monitoring.state_dir.clone(),
            metrics_file: c.monitoring.metrics_file.clone(),
        }
    }

    /// Refuse a job name that could not name a run record.
    pub fn validate(&self) -> crate::Result<()> {
        crate::ops::runlog::validate_job(&self.job)
    }

    /// The hostname the job's snapshots record (and `forget` keeps to).
    fn hostname(&self) -> String {
        self.snapshot
            .hostname
            .clone()
            .unwrap_or_else(crate::util::hostname)
    }
}

/// One step's outcome, as the summary, the run record and the metrics need it.
#[derive(Debug, Clone)]
pub struct StepOutcome {
    pub step: Step,
    pub status: StepStatus,
    /// What it did, why it failed, or why it was skipped.
    pub detail: String,
    pub duration: Duration,
    pub bytes_added: u64,
    pub files: u64,
    pub errors: u64,
}

/// What a job did.
#[derive(Debug)]
pub struct JobReport {
    pub job: String,
    pub started: DateTime<Utc>,
    pub duration: Duration,
    /// Every step went through (skipped ones count as such).
    pub success: bool,
    pub steps: Vec<StepOutcome>,
    /// The new snapshot (hex ID).
    pub snapshot: Option<String>,
    /// The snapshot has warnings (some files were not read completely).
    pub partial: bool,
}

impl JobReport {
    /// The first step that failed.
    pub fn failed(&self) -> Option<&StepOutcome> {
        self.steps.iter().find(|s| s.status == StepStatus::Failed)
    }

    /// The steps that ran (not skipped).
    pub fn ran(&self) -> impl Iterator<Item = &StepOutcome> {
        self.steps
            .iter()
            .filter(|s| s.status != StepStatus::Skipped)
    }
}

/// A library error with what was being done when it happened ("planning the Docker capture"),
/// for the caller to show as its context.
#[derive(Debug)]
pub struct JobError {
    pub context: Option<String>,
    pub error: Error,
}

impl JobError {
    pub fn new(context: impl Into<String>, error: Error) -> JobError {
        JobError {
            context: Some(context.into()),
            error,
        }
    }
}

impl From<Error> for JobError {
    fn from(error: Error) -> JobError {
        JobError {
            context: None,
            error,
        }
    }
}

impl JobError {
    /// The context, the error and its causes, each after a `: `, library errors as `observer`
    /// describes them.
    pub fn text(&self, observer: &dyn Observer) -> String {
        let mut text = self.context.clone().into_iter().collect::<Vec<_>>();
        text.push(observer.describe(&self.error));
        let mut cause = std::error::Error::source(&self.error);
        while let Some(c) = cause {
            text.push(match c.downcast_ref::<Error>() {
                Some(e) => observer.describe(e),
                None => c.to_string(),
            });
            cause = c.source();
        }
        text.join(": ")
    }
}

/// The context, the error and its causes, each after a `: `.
impl std::fmt::Display for JobError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(c) = &self.context {
            write!(f, "{c}: ")?;
        }
        write!(f, "{}", self.error)?;
        let mut cause = std::error::Error::source(&self.error);
        while let Some(c) = cause {
            write!(f, ": {c}")?;
            cause = c.source();
        }
        Ok(())
    }
}

/// Carry out `plan` against `repo`. The run record is written in every case; the only error is
/// a failure to write the metrics file (the run itself is in the record).
pub fn run_job(
    repo: &Repository,
    plan: &JobPlan,
    observer: &dyn Observer,
) -> Result<JobReport, JobError> {
    let started = Utc::now();
    let clock = Instant::now();
    let hooks = &plan.hooks;
    let mut steps = Vec::new();
    let before = steps::run_step(Step::Hooks, observer, |_| {
        Ok(run_hooks(
            &hooks.before,
            &plan.job,
            None,
            hooks.timeout,
            observer,
        )?)
    });
    let hooks_ok = before.status == StepStatus::Ok;
    steps.push(before);
    // The new snapshot's ID, and whether it was partial.
    let mut taken = None;
    let snap = if hooks_ok {
        steps::run_step(Step::Snapshot, observer, |s| {
            taken = Some(snapshot_step(repo, plan, s, observer)?);
            Ok(())
        })
    } else {
        StepOutcome::skipped(Step::Snapshot, "a before hook failed")
    };
    let snapshot_ok = snap.status == StepStatus::Ok;
    steps.push(snap);
    let (snapshot, partial) = taken.map_or((None, false), |(id, p)| (Some(id), p));
    if repo.keys().is_host() {
        // A write-only host key reads and deletes nothing: retention, prune and verify are
        // the owner's (FORMAT.md §13.5), so its scheduled job is the snapshot.
        for step in [Step::Forget, Step::Prune, Step::Verify] {
            steps.push(StepOutcome::skipped(
                step,
                "left to the owner (a write-only host key)",
            ));
        }
    } else {
        let forget = steps::forget_step(repo, plan, snapshot_ok, observer);
        let forget_ok = forget.status == StepStatus::Ok;
        steps.push(forget);
        steps.push(steps::prune_step(repo, plan, forget_ok, observer));
        steps.push(steps::verify_step(repo, plan, observer));
    }

    let mut report = JobReport {
        job: plan.job.clone(),
        started,
        duration: Duration::ZERO,
        success: true,
        steps,
        snapshot,
        partial,
    };
    let failure = report
        .failed()
        .map(|f| format!("{}: {}", f.step.name(), f.detail));
    report.success = failure.is_none();
    let after = match &failure {
        None => run_hooks(&hooks.after, &plan.job, None, hooks.timeout, observer),
        Some(error) => run_hooks(
            &hooks.on_error,
            &plan.job,
            Some(error),
            hooks.timeout,
            observer,
        ),
    };
    if let Err(e) = after {
        observer.warn(crate::observer::Warning::advice(format!(
            "after/on_error hook: {}",
            JobError::from(e).text(observer)
        )));
    }
    report.duration = clock.elapsed();
    record::record(&report, &plan.state_dir, observer);
    if let Some(file) = &plan.metrics_file {
        record::write_metrics(&report, file, repo)
            .map_err(|e| JobError::new(format!("writing metrics to {}", file.display()), e))?;
    }
    Ok(report)
}

/// The snapshot step: the job's snapshot. Returns its ID and whether it had warnings (the
/// observer was told of each as it happened).
fn snapshot_step(
    repo: &Repository,
    plan: &JobPlan,
    s: &mut StepOutcome,
    observer: &dyn Observer,
) -> Result<(String, bool), JobError> {
    if !plan.snapshot.has_selection() {
        return Err(Error::Invalid("the configuration names nothing to back up".into()).into());
    }
    let r = take_snapshot(repo, &plan.snapshot, observer)?.result;
    let sum = &r.snapshot.summary;
    s.bytes_added = sum.stored_added;
    s.files = sum.files_new + sum.files_changed + sum.files_unmodified;
    s.errors = r.warnings.len() as u64;
    let partial = !r.warnings.is_empty();
    s.detail = format!(
        "snapshot {}: {} files, {} added",
        r.id.short(),
        s.files,
        human_bytes(sum.stored_added)
    );
    Ok((r.id.to_hex(), partial))
}
