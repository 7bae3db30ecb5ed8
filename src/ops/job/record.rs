//! What a job leaves behind: its run record (read by `lifeboat status` and by the next run to
//! tell whether a prune is due) and its Prometheus metrics for node_exporter's textfile
//! collector.

use std::path::Path;

use chrono::{DateTime, Utc};

use crate::error::Result;
use crate::observer::{Observer, Warning};
use crate::ops::metrics::{RunMetrics, StepMetrics, write_textfile};
use crate::ops::runlog::{self, RunRecord, StepRecord};
use crate::repo::{FileType, Repository};

use super::{JobReport, StepStatus};

/// Write the run record `lifeboat status` reads; failing to write it is a warning.
pub(super) fn record(report: &JobReport, state_dir: &Path, observer: &dyn Observer) {
    let record = RunRecord {
        job: report.job.clone(),
        started: report.started,
        finished: Utc::now(),
        success: report.success,
        steps: report
            .ran()
            .map(|s| StepRecord {
                name: s.step.name().to_string(),
                ok: s.status == StepStatus::Ok,
                message: (!s.detail.is_empty()).then(|| s.detail.clone()),
                duration_ms: s.duration.as_millis() as u64,
            })
            .collect(),
        snapshot: report.snapshot.clone(),
    };
    if let Err(e) = runlog::record(state_dir, &record) {
        observer.warn(Warning::advice(format!(
            "could not write the run record in {}: {e}",
            state_dir.display()
        )));
    }
}

/// Prometheus metrics of the run and the repository, to node_exporter's textfile.
pub(super) fn write_metrics(report: &JobReport, file: &Path, repo: &Repository) -> Result<()> {
    let (count, bytes) = repo_totals(repo).unwrap_or((0, 0));
    let m = RunMetrics {
        job: report.job.clone(),
        started: report.started,
        duration: report.duration,
        success: report.success,
        steps: report
            .ran()
            .map(|s| StepMetrics {
                name: s.step.name().to_string(),
                ok: s.status == StepStatus::Ok,
                duration: s.duration,
                bytes_added: s.bytes_added,
                files: s.files,
                errors: s.errors,
            })
            .collect(),
        snapshot_count: count,
        repo_bytes: bytes,
    };
    write_textfile(file, &m)
}

/// When step `name` of `job` last succeeded, from the run records.
pub(super) fn last_ok_step(state_dir: &Path, job: &str, name: &str) -> Option<DateTime<Utc>> {
    runlog::history(state_dir, job)
        .ok()?
        .iter()
        .rev()
        .find(|r| r.steps.iter().any(|s| s.name == name && s.ok))
        .map(|r| r.finished)
}

/// Snapshot count and the bytes the repository's packs take.
pub fn repo_totals(repo: &Repository) -> std::io::Result<(u64, u64)> {
    let b = repo.backend();
    let count = b.list(FileType::Snapshot)?.len() as u64;
    let bytes = b
        .list_with_sizes(FileType::Pack)?
        .iter()
        .map(|(_, size)| size)
        .sum();
    Ok((count, bytes))
}
