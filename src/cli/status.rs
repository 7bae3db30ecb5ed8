//! `lifeboat status`: is the backup healthy? The last run of each job, the age of the newest
//! snapshot (with a warning when it is older than the schedule allows), the repository's size
//! and deduplication, and the installed timers.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;
use chrono::Utc;
use lifeboat::ops::job::repo_totals;
use lifeboat::ops::runlog::{self, RunRecord};
use lifeboat::ops::schedule::TimerStatus;
use lifeboat::util::human_bytes;

use super::{Exit, Global, print_json};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Where run records are kept [default: monitoring.state_dir, or /var/lib/lifeboat].
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Warn when this host's newest snapshot is older than this [default: schedule.max_age,
    /// or 26h for a daily schedule].
    #[arg(long, value_name = "DURATION", value_parser = super::parse_duration)]
    pub max_age: Option<Duration>,
    /// Only snapshots recorded with this hostname count [default: this machine's].
    #[arg(long, value_name = "HOST")]
    pub hostname: Option<String>,
}

/// How old the newest snapshot may be for a calendar: one period plus slack for the random
/// delay and the run itself.
fn allowed_age(on_calendar: &str) -> Duration {
    let h = 3600;
    Duration::from_secs(match on_calendar.trim() {
        "hourly" => 2 * h,
        "weekly" => 8 * 24 * h,
        "monthly" => 32 * 24 * h,
        _ => 26 * h,
    })
}

pub fn run(g: &Global, a: &Args) -> Result<Exit> {
    let cfg = g.settings();
    let state_dir = a
        .state_dir
        .clone()
        .unwrap_or_else(|| cfg.monitoring.state_dir.clone());
    let max_age = a
        .max_age
        .or(cfg.schedule.max_age)
        .unwrap_or_else(|| allowed_age(&cfg.schedule.on_calendar));
    let hostname = a
        .hostname
        .clone()
        .or_else(|| cfg.hostname.clone())
        .unwrap_or_else(lifeboat::util::hostname);
    let mut warnings = Vec::new();

    let jobs = last_runs(&state_dir, &mut warnings)?;

    // Run records are local: they are shown even when the repository cannot be opened.
    let repo_view = match g.open() {
        // A write-only host key reads nothing: this host's own run records are its status.
        Ok(repo) if repo.keys().is_host() => {
            if !g.json && !g.quiet {
                println!(
                    "repository: not read (a write-only host key); the owner's `status` shows its snapshots"
                );
            }
            None
        }
        Ok(repo) => Some(repo_view(&repo, &hostname, max_age, &mut warnings)?),
        Err(e) => {
            warnings.push(format!("repository: {}", super::errors::chain(&e)));
            None
        }
    };
    let timers = if lifeboat::ops::schedule::systemd_running() {
        lifeboat::ops::schedule::status(Path::new(lifeboat::ops::schedule::DEFAULT_UNIT_DIR), true)
            .unwrap_or_default()
    } else {
        Vec::new()
    };

    if g.json {
        print_json(&serde_json::json!({
            "jobs": jobs,
            "newest_snapshot": repo_view.as_ref().and_then(|v| v.newest.as_ref()).map(|(id, time, age)| serde_json::json!({
                "id": id, "time": time, "age_s": age.as_secs(),
            })),
            "max_age_s": max_age.as_secs(),
            "repository": repo_view.as_ref().map(|v| serde_json::json!({
                "snapshots": v.count,
                "stored_bytes": v.stored,
                "logical_bytes": v.logical,
                "dedup_ratio": v.ratio,
            })),
            "timers": timers,
            "warnings": warnings,
        }))?;
    } else {
        let view = repo_view.as_ref();
        show_text(&jobs, &state_dir, &hostname, view, &timers, &warnings);
    }
    Ok(if warnings.is_empty() {
        Exit::Success
    } else {
        Exit::Partial
    })
}

/// The last run of every job with records in `state_dir` (none when it does not exist); a
/// failed run is a warning naming the step that failed.
fn last_runs(state_dir: &Path, warnings: &mut Vec<String>) -> Result<Vec<RunRecord>> {
    let mut jobs = Vec::new();
    if !state_dir.is_dir() {
        return Ok(jobs);
    }
    for job in runlog::jobs(state_dir)? {
        match runlog::last(state_dir, &job) {
            Ok(Some(r)) => {
                if !r.success {
                    let failed = r.steps.iter().find(|s| !s.ok);
                    warnings.push(format!(
                        "job {job}: the last run ({}) failed{}",
                        r.finished.format("%Y-%m-%d %H:%M"),
                        failed.map_or(String::new(), |s| format!(
                            " at {}: {}",
                            s.name,
                            s.message.as_deref().unwrap_or("")
                        ))
                    ));
                }
                jobs.push(r);
            }
            Ok(None) => {}
            Err(e) => warnings.push(super::errors::describe(&e)),
        }
    }
    Ok(jobs)
}

/// The status as text: a line per job, the newest snapshot and the repository, the timers,
/// then the warnings.
fn show_text(
    jobs: &[RunRecord],
    state_dir: &Path,
    hostname: &str,
    repo_view: Option<&RepoView>,
    timers: &[TimerStatus],
    warnings: &[String],
) {
    for r in jobs {
        println!(
            "job {:<12} last run {} ({}, {:.0}s){}",
            r.job,
            r.finished
                .with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M"),
            if r.success { "ok" } else { "FAILED" },
            (r.finished - r.started).num_milliseconds() as f64 / 1000.0,
            r.snapshot.as_deref().map_or(String::new(), |s| format!(
                ", snapshot {}",
                &s[..8.min(s.len())]
            ))
        );
    }
    if jobs.is_empty() {
        println!("no runs recorded in {}", state_dir.display());
    }
    if let Some(v) = repo_view {
        if let Some((id, time, age)) = &v.newest {
            println!(
                "newest snapshot of {hostname}: {} at {time} ({} ago)",
                &id[..8],
                human_duration(*age)
            );
        }
        println!(
            "repository: {} snapshot(s), {} stored for {} of snapshots ({:.1}x)",
            v.count,
            human_bytes(v.stored),
            human_bytes(v.logical),
            v.ratio
        );
    }
    for t in timers {
        println!(
            "timer {}: {} next {}",
            t.timer,
            match t.enabled {
                Some(true) => "enabled",
                Some(false) => "disabled",
                None => "?",
            },
            t.next.as_deref().unwrap_or("-")
        );
    }
    for w in warnings {
        super::log::warn(w);
    }
}

fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..120 => format!("{s}s"),
        120..7200 => format!("{}m", s / 60),
        7200..172_800 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86400),
    }
}

/// What `status` shows of the repository.
struct RepoView {
    /// Newest snapshot of this host: ID, time, age.
    newest: Option<(String, String, Duration)>,
    count: u64,
    stored: u64,
    logical: u64,
    ratio: f64,
}

/// Version 2: a warning for each snapshot a host key wrote after the owner revoked it.
fn revoked_writers(
    repo: &lifeboat::repo::Repository,
    snaps: &[(lifeboat::id::Id, lifeboat::snapshot::manifest::Snapshot)],
    warnings: &mut Vec<String>,
) -> Result<()> {
    if !repo.host_records()?.iter().any(|h| h.revoked.is_some()) {
        return Ok(());
    }
    for (id, s) in snaps {
        if let Some(lifeboat::repo::Signer::Host(h)) = repo.snapshot_signer(id)?
            && h.revoked_before(&s.time)
        {
            warnings.push(format!(
                "snapshot {} was written by host key {} of {} after the owner revoked it: do not trust it",
                id.short(),
                &h.host_id[..8],
                h.hostname
            ));
        }
    }
    Ok(())
}

fn repo_view(
    repo: &lifeboat::repo::Repository,
    hostname: &str,
    max_age: Duration,
    warnings: &mut Vec<String>,
) -> Result<RepoView> {
    let snaps = lifeboat::snapshot::select::all(repo)?;
    // Internal snapshots (pre-update, host-undo, ...) are not backups of the job.
    let newest = snaps
        .iter()
        .rev()
        .find(|(_, s)| s.hostname == hostname && s.internal().is_none());
    let age = newest
        .and_then(|(_, s)| s.time())
        .map(|t| (Utc::now() - t).to_std().unwrap_or_default());
    match age {
        None => warnings.push(format!("no snapshot of host {hostname} yet")),
        Some(a) if a > max_age => warnings.push(format!(
            "the newest snapshot of {hostname} is {} old, more than the {} the schedule allows",
            human_duration(a),
            human_duration(max_age)
        )),
        Some(_) => {}
    }
    revoked_writers(repo, &snaps, warnings)?;
    let (count, stored) = repo_totals(repo)?;
    let logical: u64 = snaps
        .iter()
        .map(|(_, s)| s.summary.bytes + s.deployment.as_ref().map_or(0, |d| d.summary.bytes))
        .sum();
    let ratio = if stored > 0 {
        logical as f64 / stored as f64
    } else {
        0.0
    };
    Ok(RepoView {
        newest: newest.and_then(|(id, s)| age.map(|a| (id.to_hex(), s.time.clone(), a))),
        count,
        stored,
        logical,
        ratio,
    })
}
