//! The steps of a job after the snapshot: `forget` by the retention policy, `prune` when it is
//! due, `verify` of today's slice of the packs; and the runner that times each step, tells the
//! observer, and turns its error into a failed step.

use std::time::{Duration, Instant};

use chrono::Utc;

use crate::observer::{Event, Observer};
use crate::ops::forget::{GroupBy, forget_by_policy};
use crate::ops::prune::prune;
use crate::ops::verify::{VerifyOptions, verify};
use crate::repo::Repository;
use crate::snapshot::select::Filter;
use crate::util::human_bytes;

use super::record::last_ok_step;
use super::{JobError, JobPlan, PruneWhen, Step, StepOutcome, StepStatus};

/// Run `f` as `step`: timed, observed, its error turned into a failed step.
pub(super) fn run_step(
    step: Step,
    observer: &dyn Observer,
    f: impl FnOnce(&mut StepOutcome) -> Result<(), JobError>,
) -> StepOutcome {
    let mut s = StepOutcome::new(step, StepStatus::Ok, String::new());
    observer.event(Event::StepStarted { step: step.name() });
    let t = Instant::now();
    if let Err(e) = f(&mut s) {
        s.status = StepStatus::Failed;
        s.errors += 1;
        s.detail = e.text(observer);
    }
    s.duration = t.elapsed();
    observer.event(Event::StepFinished {
        step: step.name(),
        ok: s.status == StepStatus::Ok,
        duration: s.duration,
        detail: s.detail.clone(),
    });
    s
}

/// `forget` by the retention policy, only after a new snapshot.
pub(super) fn forget_step(
    repo: &Repository,
    plan: &JobPlan,
    snapshot_ok: bool,
    observer: &dyn Observer,
) -> StepOutcome {
    if !snapshot_ok {
        return StepOutcome::skipped(Step::Forget, "no new snapshot: old ones are kept");
    }
    if plan.retention.is_empty() {
        return StepOutcome::skipped(Step::Forget, "no retention policy configured");
    }
    run_step(Step::Forget, observer, |s| {
        let filter = Filter {
            hosts: vec![plan.hostname()],
            ..Filter::default()
        };
        // Grouped like `lifeboat forget` (host and selection): a manual snapshot of other
        // paths or containers is its own group, not an older member of the job's, and
        // internal snapshots (pre-update, ...) are retained in their own groups.
        let group_by = GroupBy::DEFAULT;
        let r = forget_by_policy(repo, &plan.retention, group_by, &filter, false)?;
        s.detail = format!("{} snapshot(s) removed", r.removed.len());
        Ok(())
    })
}

/// `prune` when it is due (`every` since the last successful one) or asked for, only after
/// `forget` went through.
pub(super) fn prune_step(
    repo: &Repository,
    plan: &JobPlan,
    forget_ok: bool,
    observer: &dyn Observer,
) -> StepOutcome {
    let due = match plan.prune {
        PruneWhen::Now => true,
        PruneWhen::Never => false,
        PruneWhen::Every(every) => every.is_some_and(|every| {
            last_ok_step(&plan.state_dir, &plan.job, Step::Prune.name())
                .is_none_or(|t| (Utc::now() - t).to_std().unwrap_or_default() >= every)
        }),
    };
    if !forget_ok {
        StepOutcome::skipped(Step::Prune, "forget failed")
    } else if plan.prune == PruneWhen::Never {
        StepOutcome::skipped(Step::Prune, "--no-prune")
    } else if !due {
        StepOutcome::skipped(Step::Prune, "not due")
    } else {
        run_step(Step::Prune, observer, |s| {
            let r = prune(repo, &plan.prune_options, observer)?;
            s.detail = format!("{} freed", human_bytes(r.bytes_freed));
            Ok(())
        })
    }
}

/// Which slice of how many (1-based) a verification reading `fraction` of the packs reads
/// today: every pack is read once in `1 / fraction` days.
pub fn verify_slice(fraction: f64, now: chrono::DateTime<Utc>) -> (u32, u32) {
    let slices = ((1.0 / fraction).round() as u32).max(1);
    let day = (now.timestamp() / 86400) as u64;
    let slice = (day % u64::from(slices)) as u32 + 1;
    (slice, slices)
}

/// `verify --read-data` of today's slice of the packs.
pub(super) fn verify_step(
    repo: &Repository,
    plan: &JobPlan,
    observer: &dyn Observer,
) -> StepOutcome {
    let Some(fraction) = plan.verify else {
        return StepOutcome::skipped(Step::Verify, "--no-verify");
    };
    run_step(Step::Verify, observer, |s| {
        let (slice, slices) = verify_slice(fraction, Utc::now());
        let r = verify(
            repo,
            &VerifyOptions {
                read_data: true,
                subset: Some((slice, slices)),
            },
            observer,
        )?;
        s.errors = r.errors.len() as u64;
        for e in &r.errors {
            observer.event(Event::Damage(e.clone()));
        }
        if !r.ok() {
            return Err(crate::Error::Invalid(format!(
                "{} error(s) in slice {slice}/{slices}: run `lifeboat verify --read-data`",
                r.errors.len()
            ))
            .into());
        }
        s.detail = format!(
            "slice {slice}/{slices}: {} packs ({}) read, no errors",
            r.packs_read,
            human_bytes(r.bytes_read)
        );
        Ok(())
    })
}

impl StepOutcome {
    pub(super) fn new(step: Step, status: StepStatus, detail: String) -> StepOutcome {
        StepOutcome {
            step,
            status,
            detail,
            duration: Duration::ZERO,
            bytes_added: 0,
            files: 0,
            errors: 0,
        }
    }

    pub(super) fn skipped(step: Step, why: &str) -> StepOutcome {
        StepOutcome::new(step, StepStatus::Skipped, why.to_string())
    }
}
