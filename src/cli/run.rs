//! `lifeboat run`: the configured job, as a timer runs it every night: `before` hooks, the
//! snapshot, `forget` by the retention policy, `prune` when it is due, and `verify` of a
//! rotating slice of the packs; then one summary, a run record for `lifeboat status`, and
//! Prometheus metrics. A failed snapshot never lets `forget` age out the good ones.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use chrono::Utc;
use lifeboat::config::Config;
use lifeboat::ops::forget::{GroupBy, forget_by_policy};
use lifeboat::ops::metrics::{RunMetrics, StepMetrics, write_textfile};
use lifeboat::ops::prune::prune;
use lifeboat::ops::runlog::{self, RunRecord, StepRecord};
use lifeboat::ops::verify::{VerifyOptions, verify};
use lifeboat::repo::Repository;
use lifeboat::snapshot::select::Filter;
use lifeboat::util::human_bytes;

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

/// One step's outcome, as the summary, the run record and the metrics need it.
struct Step {
    name: &'static str,
    ok: bool,
    skipped: bool,
    message: String,
    duration: Duration,
    bytes_added: u64,
    files: u64,
    errors: u64,
}

impl Step {
    fn new(name: &'static str) -> Step {
        Step {
            name,
            ok: true,
            skipped: false,
            message: String::new(),
            duration: Duration::ZERO,
            bytes_added: 0,
            files: 0,
            errors: 0,
        }
    }

    fn skipped(name: &'static str, why: &str) -> Step {
        Step {
            skipped: true,
            message: why.to_string(),
            ..Step::new(name)
        }
    }
}

/// Run `f` as step `name`: timed, logged, its error turned into a failed step.
fn step(name: &'static str, f: impl FnOnce(&mut Step) -> Result<()>) -> Step {
    let mut s = Step::new(name);
    log::event(
        "info",
        "step_start",
        &format!("{name}: starting"),
        serde_json::json!({ "step": name }),
    );
    let t = Instant::now();
    if let Err(e) = f(&mut s) {
        s.ok = false;
        s.errors += 1;
        s.message = super::errors::chain(&e);
    }
    s.duration = t.elapsed();
    let level = if s.ok { "info" } else { "error" };
    log::event(
        level,
        "step_end",
        &format!(
            "{name}: {} in {:.1}s{}",
            if s.ok { "ok" } else { "FAILED" },
            s.duration.as_secs_f64(),
            if s.message.is_empty() {
                String::new()
            } else {
                format!(": {}", s.message)
            }
        ),
        serde_json::json!({ "step": name, "ok": s.ok, "duration_s": s.duration.as_secs_f64(), "detail": s.message }),
    );
    s
}

/// The job: hooks, snapshot, forget, prune when due, verify of a slice; then the after (or
/// on-error) hooks, the run record, the metrics and the summary.
pub fn run(g: &Global, a: &Args) -> Result<Exit> {
    let Some(cfg) = g.cfg() else {
        bail!(
            "no configuration: `lifeboat run` runs the job in /etc/lifeboat/lifeboat.toml or --config FILE (see `lifeboat config example`)"
        );
    };
    let job = a.job.clone().unwrap_or_else(|| cfg.job().to_string());
    runlog::validate_job(&job)?;
    let state_dir = a
        .state_dir
        .clone()
        .or_else(|| cfg.monitoring.state_dir.clone())
        .unwrap_or_else(|| PathBuf::from(lifeboat::config::DEFAULT_STATE_DIR));
    let metrics_file = a
        .metrics_file
        .clone()
        .or_else(|| cfg.monitoring.metrics_file.clone());
    let started = Utc::now();
    let clock = Instant::now();
    log::event(
        "info",
        "run_start",
        &format!("job {job}: starting"),
        serde_json::json!({ "job": job }),
    );
    let repo = g.open()?;
    let hook_timeout = Config::duration(&cfg.hooks.timeout).unwrap_or(Duration::from_secs(300));
    let mut steps: Vec<Step> = Vec::new();

    let hooks = step("hooks", |_| {
        run_hooks(&cfg.hooks.before, &job, None, hook_timeout)
    });
    let hooks_ok = hooks.ok;
    steps.push(hooks);
    // The new snapshot's ID, and whether it was partial.
    let mut taken = None;
    let snap = if hooks_ok {
        step("snapshot", |s| {
            taken = Some(take_snapshot(g, &repo, cfg, s)?);
            Ok(())
        })
    } else {
        Step::skipped("snapshot", "a before hook failed")
    };
    let snap_ok = snap.ok && !snap.skipped;
    steps.push(snap);
    let (snapshot_id, partial) = taken.map_or((None, false), |(id, p)| (Some(id), p));
    let forget = forget_step(&repo, cfg, snap_ok);
    let forget_ok = forget.ok;
    steps.push(forget);
    steps.push(prune_step(g, a, &repo, cfg, &state_dir, &job, forget_ok));
    steps.push(verify_step(g, a, &repo, cfg));

    let failed = steps.iter().find(|s| !s.ok);
    let success = failed.is_none();
    let after = match failed {
        None => run_hooks(&cfg.hooks.after, &job, None, hook_timeout),
        Some(f) => run_hooks(
            &cfg.hooks.on_error,
            &job,
            Some(&format!("{}: {}", f.name, f.message)),
            hook_timeout,
        ),
    };
    if let Err(e) = after {
        log::warn(&format!(
            "after/on_error hook: {}",
            super::errors::chain(&e)
        ));
    }

    let outcome = Outcome {
        job: &job,
        started,
        duration: clock.elapsed(),
        success,
        steps: &steps,
        snapshot: snapshot_id.as_deref(),
    };
    outcome.record(&state_dir);
    if let Some(file) = &metrics_file {
        outcome
            .write_metrics(file, &repo)
            .with_context(|| format!("writing metrics to {}", file.display()))?;
    }
    outcome.print(g)?;
    Ok(match failed.map(|s| s.name) {
        None if partial => Exit::Partial,
        None => Exit::Success,
        Some("hooks") => Exit::RunHook,
        Some("snapshot") => Exit::RunSnapshot,
        Some("forget") => Exit::RunForget,
        Some("prune") => Exit::RunPrune,
        Some(_) => Exit::RunVerify,
    })
}

/// The snapshot step: the configured snapshot, as `lifeboat snapshot` takes it. Returns its
/// ID and whether it had warnings (shown as they happened).
fn take_snapshot(
    g: &Global,
    repo: &Repository,
    cfg: &Config,
    s: &mut Step,
) -> Result<(String, bool)> {
    let args = super::snapshot::Args::from_config(cfg);
    if !cfg.has_job() {
        bail!("the configuration names nothing to back up");
    }
    let r = super::snapshot::execute(g, repo, &args)?;
    let sum = &r.snapshot.summary;
    s.bytes_added = sum.stored_added;
    s.files = sum.files_new + sum.files_changed + sum.files_unmodified;
    s.errors = r.warnings.len() as u64;
    let partial = !r.warnings.is_empty();
    s.message = format!(
        "snapshot {}: {} files, {} added",
        r.id.short(),
        s.files,
        human_bytes(sum.stored_added)
    );
    Ok((r.id.to_hex(), partial))
}

/// `forget` by the retention policy, only after a new snapshot.
fn forget_step(repo: &Repository, cfg: &Config, snap_ok: bool) -> Step {
    let policy = cfg.policy();
    if !snap_ok {
        return Step::skipped("forget", "no new snapshot: old ones are kept");
    }
    if policy.is_empty() {
        return Step::skipped("forget", "no retention policy configured");
    }
    step("forget", |s| {
        let hostname = cfg
            .hostname
            .clone()
            .unwrap_or_else(lifeboat::util::hostname);
        let filter = Filter {
            hosts: vec![hostname],
            ..Filter::default()
        };
        // Grouped like `lifeboat forget` (host and selection): a manual snapshot of other
        // paths or containers is its own group, not an older member of the job's, and
        // internal snapshots (pre-update, ...) are retained in their own groups.
        let group_by = GroupBy::DEFAULT;
        let r = forget_by_policy(repo, &policy, group_by, &filter, false)?;
        s.message = format!("{} snapshot(s) removed", r.removed.len());
        Ok(())
    })
}

/// `prune` when it is due (`prune.every` since the last successful one, default a week) or
/// asked for, only after `forget` went through.
fn prune_step(
    g: &Global,
    a: &Args,
    repo: &Repository,
    cfg: &Config,
    state_dir: &Path,
    job: &str,
    forget_ok: bool,
) -> Step {
    let prune_every =
        cfg.prune
            .every
            .as_deref()
            .map_or(Some(Duration::from_secs(7 * 86400)), |v| {
                lifeboat::util::parse_duration(v)
                    .ok()
                    .filter(|d| !d.is_zero())
            });
    let prune_due = a.prune
        || (!a.no_prune
            && prune_every.is_some_and(|every| {
                last_ok_step(state_dir, job, "prune")
                    .is_none_or(|t| (Utc::now() - t).to_std().unwrap_or_default() >= every)
            }));
    if !forget_ok {
        Step::skipped("prune", "forget failed")
    } else if a.no_prune {
        Step::skipped("prune", "--no-prune")
    } else if !prune_due {
        Step::skipped("prune", "not due")
    } else {
        step("prune", |s| {
            let bar = g.progress();
            let r = prune(repo, &super::prune::options(g, None), &bar)?;
            s.message = format!("{} freed", human_bytes(r.bytes_freed));
            Ok(())
        })
    }
}

/// `verify --read-data` of today's slice of the packs (`verify.read_data_subset`, default
/// 1/30: every pack read once a month).
fn verify_step(g: &Global, a: &Args, repo: &Repository, cfg: &Config) -> Step {
    if a.no_verify {
        return Step::skipped("verify", "--no-verify");
    }
    step("verify", |s| {
        let fraction = cfg
            .verify
            .read_data_subset
            .as_deref()
            .map_or(Ok(1.0 / 30.0), lifeboat::config::parse_subset)
            .map_err(anyhow::Error::msg)?;
        let slices = ((1.0 / fraction).round() as u32).max(1);
        let day = (Utc::now().timestamp() / 86400) as u64;
        let slice = (day % u64::from(slices)) as u32 + 1;
        let bar = g.progress();
        let r = verify(
            repo,
            &VerifyOptions {
                read_data: true,
                subset: Some((slice, slices)),
            },
            &bar,
        )?;
        s.errors = r.errors.len() as u64;
        for e in &r.errors {
            log::error(e);
        }
        if !r.ok() {
            bail!(
                "{} error(s) in slice {slice}/{slices}: run `lifeboat verify --read-data`",
                r.errors.len()
            );
        }
        s.message = format!(
            "slice {slice}/{slices}: {} packs ({}) read, no errors",
            r.packs_read,
            human_bytes(r.bytes_read)
        );
        Ok(())
    })
}

/// What a run did, for its record, its metrics and its summary.
struct Outcome<'a> {
    job: &'a str,
    started: chrono::DateTime<Utc>,
    duration: Duration,
    success: bool,
    steps: &'a [Step],
    /// The new snapshot (hex ID).
    snapshot: Option<&'a str>,
}

impl Outcome<'_> {
    /// The run record `lifeboat status` reads; failing to write it is a warning.
    fn record(&self, state_dir: &Path) {
        let record = RunRecord {
            job: self.job.to_string(),
            started: self.started,
            finished: Utc::now(),
            success: self.success,
            steps: self
                .steps
                .iter()
                .filter(|s| !s.skipped)
                .map(|s| StepRecord {
                    name: s.name.to_string(),
                    ok: s.ok,
                    message: (!s.message.is_empty()).then(|| s.message.clone()),
                    duration_ms: s.duration.as_millis() as u64,
                })
                .collect(),
            snapshot: self.snapshot.map(str::to_string),
        };
        if let Err(e) = runlog::record(state_dir, &record) {
            log::warn(&format!(
                "could not write the run record in {}: {e}",
                state_dir.display()
            ));
        }
    }

    /// Prometheus metrics of the run and the repository, to node_exporter's textfile.
    fn write_metrics(&self, file: &Path, repo: &Repository) -> lifeboat::Result<()> {
        let (count, bytes) = repo_totals(repo).unwrap_or((0, 0));
        let m = RunMetrics {
            job: self.job.to_string(),
            started: self.started,
            duration: self.duration,
            success: self.success,
            steps: self
                .steps
                .iter()
                .filter(|s| !s.skipped)
                .map(|s| StepMetrics {
                    name: s.name.to_string(),
                    ok: s.ok,
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

    /// The summary: JSON, or a line per step (only on failure with `--quiet`).
    fn print(&self, g: &Global) -> Result<()> {
        let (job, success, steps) = (self.job, self.success, self.steps);
        if g.json {
            print_json(&serde_json::json!({
                "job": job,
                "success": success,
                "snapshot": self.snapshot,
                "duration_s": self.duration.as_secs_f64(),
                "steps": steps.iter().map(|s| serde_json::json!({
                    "name": s.name,
                    "status": if s.skipped { "skipped" } else if s.ok { "ok" } else { "failed" },
                    "detail": s.message,
                    "duration_s": s.duration.as_secs_f64(),
                })).collect::<Vec<_>>(),
            }))?;
        } else if !g.quiet || !success {
            println!("job {job}: {}", if success { "ok" } else { "FAILED" });
            for s in steps {
                let status = if s.skipped {
                    "skipped"
                } else if s.ok {
                    "ok"
                } else {
                    "FAILED"
                };
                println!(
                    "  {:<9} {:<8} {:>6.1}s  {}",
                    s.name,
                    status,
                    s.duration.as_secs_f64(),
                    s.message
                );
            }
        }
        Ok(())
    }
}

/// When step `name` of `job` last succeeded, from the run records.
fn last_ok_step(state_dir: &Path, job: &str, name: &str) -> Option<chrono::DateTime<Utc>> {
    runlog::history(state_dir, job)
        .ok()?
        .iter()
        .rev()
        .find(|r| r.steps.iter().any(|s| s.name == name && s.ok))
        .map(|r| r.finished)
}

/// Snapshot count and the bytes the repository's packs take.
pub fn repo_totals(repo: &Repository) -> Result<(u64, u64)> {
    use lifeboat::repo::FileType;
    let b = repo.backend();
    let count = b.list(FileType::Snapshot)?.len() as u64;
    let mut bytes = 0;
    for name in b.list(FileType::Pack)? {
        bytes += b.size(FileType::Pack, &name).unwrap_or(0);
    }
    Ok((count, bytes))
}

/// How a hook is named in logs and errors: its position and program, never its arguments
/// (a command line may carry a credential).
fn hook_name(i: usize, h: &str) -> String {
    format!("hook #{} ({})", i + 1, lifeboat::child::program_name(h))
}

/// Run shell hooks in order; the first failure stops them. `error` is exported to `on_error`
/// hooks as LIFEBOAT_ERROR. Hooks start through [`lifeboat::child`]: no password or other
/// secret in their environment, their process group killed after `timeout`.
fn run_hooks(hooks: &[String], job: &str, error: Option<&str>, timeout: Duration) -> Result<()> {
    use lifeboat::child::{self, Failure, Input, Options, Sink};
    for (i, h) in hooks.iter().enumerate() {
        let name = hook_name(i, h);
        log::event(
            "info",
            "hook",
            &format!("running {name}"),
            serde_json::json!({ "hook": i + 1 }),
        );
        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg(h).env("LIFEBOAT_JOB", job);
        if let Some(e) = error {
            cmd.env("LIFEBOAT_ERROR", e);
        }
        // A hook's output goes to stderr: stdout carries the run's summary (`--json`).
        let opts = Options {
            stdin: Input::Null,
            stdout: Sink::Stderr,
            stderr: Sink::Inherit,
            timeout,
            ..Options::default()
        };
        let status = match child::run(&mut cmd, &opts) {
            Ok(done) => done.status,
            Err(Failure::TimedOut(_)) => bail!(
                "{name} ran longer than {} and was killed",
                child::show_duration(timeout)
            ),
            Err(Failure::Interrupted) => return Err(lifeboat::Error::Interrupted.into()),
            Err(e) => bail!("{name} {e}"),
        };
        if !status.success() {
            bail!("{name} failed ({status})");
        }
    }
    Ok(())
}
