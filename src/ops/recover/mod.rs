//! `recover`: a whole deployment back from one snapshot, in the order a fresh host needs it
//! (host security profile, then files and models, then the Docker deployment), each phase
//! checked before it writes and verified after, and safe to run again after an interruption:
//! what already matches is skipped, what an interrupted run left incomplete is made again.

pub mod check;
pub mod docker;
pub mod journal;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;

use self::check::TreeCheck;
use self::docker::{DockerOutcome, DockerPlan, HealthOptions, Survey};
use crate::audit;
use crate::docker::Engine;
use crate::error::{Error, Result};
use crate::files::restore::{Overwrite, RestoreOptions, RestoreReport, restore};
use crate::host::FileDiff;
use crate::id::Id;
use crate::progress::Progress;
use crate::repo::Repository;
use crate::snapshot::Snapshot;
use crate::snapshot::select::{self, Filter, Need};
use crate::snapshot::tags::internal;

/// The phases, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Host,
    Files,
    Docker,
}

impl Phase {
    pub const ALL: [Phase; 3] = [Phase::Host, Phase::Files, Phase::Docker];

    pub fn name(self) -> &'static str {
        match self {
            Phase::Host => "host",
            Phase::Files => "files",
            Phase::Docker => "docker",
        }
    }
}

#[derive(Debug, Clone)]
pub struct RecoverOptions {
    /// The phases to run (`--only`); all by default.
    pub phases: Vec<Phase>,
    /// Where the host profile is written (`/`, or a mounted disk's root).
    pub host_root: PathBuf,
    /// Where the snapshot's files land (`/`: their own places).
    pub target: PathBuf,
    /// The engine to recover onto (`DOCKER_HOST` form); `None`: the default one.
    pub docker_host: Option<String>,
    /// Load the firewall rule sets after checking them (only sensible on the running host).
    pub firewall: bool,
    /// Restore numeric owners instead of mapping user and group names to this host's IDs.
    pub numeric_owner: bool,
    pub health: HealthOptions,
    /// Where the recovery journal is kept between interrupted runs.
    pub state_dir: PathBuf,
    /// Time limit of each host tool (`sshd -t`, firewall checks).
    pub tool_timeout: Duration,
    /// Flush the written files before the report.
    pub sync: bool,
}

/// The snapshot a recovery takes when none is named: the newest one the filter allows that
/// lifeboat did not take for itself (a `pre-update` snapshot holds one container only).
pub fn choose(repo: &Repository, spec: Option<&str>, filter: &Filter) -> Result<(Id, Snapshot)> {
    if let Some(spec) = spec.filter(|s| *s != "latest") {
        return select::resolve(repo, spec, filter, &Need::default());
    }
    let mut all = select::all(repo)?;
    let preferred: Vec<usize> = (0..all.len())
        .filter(|&i| {
            let s = &all[i].1;
            filter.matches(s)
                && internal(&s.tags).is_none()
                && filter.this_host.as_ref().is_none_or(|h| *h == s.hostname)
        })
        .collect();
    let pick = preferred.last().copied().or_else(|| {
        (0..all.len())
            .rev()
            .find(|&i| filter.matches(&all[i].1) && internal(&all[i].1.tags).is_none())
    });
    match pick {
        Some(i) => Ok(all.swap_remove(i)),
        None => Err(Error::Invalid(
            "no snapshot to recover: the repository has no snapshot (other than pre-update, pre-rollback and host-undo ones) for this filter; see `lifeboat snapshots`".into(),
        )),
    }
}

/// What a recovery will do: printed by `--plan`, and the first part of the report.
#[derive(Debug, Serialize)]
pub struct Plan {
    pub snapshot: String,
    pub time: String,
    pub hostname: String,
    pub tags: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<HostPlan>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub files: Option<FilesPlan>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub docker: Option<DockerPlan>,
    /// Phases or objects left out, and why.
    pub skipped: Vec<Skipped>,
}

#[derive(Debug, Serialize)]
pub struct HostPlan {
    pub root: PathBuf,
    /// Files of the profile that differ from the root's (written after the checks).
    pub changes: Vec<FileDiff>,
    pub firewall: bool,
}

#[derive(Debug, Serialize)]
pub struct FilesPlan {
    pub target: PathBuf,
    pub paths: Vec<String>,
    pub files: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    pub what: String,
    pub why: String,
}

/// Plan the recovery of `snap` (reads the engine and the target; writes nothing).
pub fn plan<'a>(
    repo: &'a Repository,
    id: &Id,
    snap: &'a Snapshot,
    opts: &RecoverOptions,
    engine: Option<&'a Engine>,
    progress: &dyn Progress,
) -> Result<(Plan, Option<Survey<'a>>)> {
    let mut p = Plan {
        snapshot: id.to_hex(),
        time: snap.time.clone(),
        hostname: snap.hostname.clone(),
        tags: snap.tags.clone(),
        host: None,
        files: None,
        docker: None,
        skipped: Vec::new(),
    };
    let mut skip = |what: &str, why: String| {
        p.skipped.push(Skipped {
            what: what.into(),
            why,
        });
    };
    let wanted = |ph: Phase| opts.phases.contains(&ph);
    let mut host = None;
    let mut files = None;
    let mut survey = None;
    if !wanted(Phase::Host) {
        skip("host", "not selected (--only)".into());
    } else if snap.host.is_none() {
        skip(
            "host",
            "the snapshot holds no host profile (snapshot --host)".into(),
        );
    } else {
        let root = canonical(&opts.host_root)?;
        host = Some(HostPlan {
            changes: crate::host::diff_live(&repo.indexed()?, snap, &root)?,
            root,
            firewall: opts.firewall,
        });
    }
    if !wanted(Phase::Files) {
        skip("files", "not selected (--only)".into());
    } else if snap.paths.is_empty() {
        skip("files", "the snapshot holds no files".into());
    } else if only_profile_paths(snap) {
        skip(
            "files",
            "the snapshot's only files are its host profile (phase 1 applies them)".into(),
        );
    } else {
        files = Some(FilesPlan {
            target: opts.target.clone(),
            paths: snap.paths_display(),
            files: snap.summary.files,
            bytes: snap.summary.bytes,
        });
    }
    if !wanted(Phase::Docker) {
        skip("docker", "not selected (--only)".into());
    } else if let Some(dep) = &snap.deployment {
        let engine = engine.ok_or_else(|| Error::Invalid("no Docker engine given".into()))?;
        let s = Survey::take(engine, repo, &id.to_hex(), dep, &opts.state_dir, progress)?;
        p.docker = Some(s.plan.clone());
        for i in dep.images.iter().filter(|i| i.archive.is_none()) {
            skip(
                &format!("image {}", i.id),
                format!(
                    "the snapshot holds only its reference ({}), not its content: the engine must have it or pull it",
                    i.tags.join(", ")
                ),
            );
        }
        survey = Some(s);
    } else {
        skip("docker", "the snapshot holds no Docker deployment".into());
    }
    p.host = host;
    p.files = files;
    Ok((p, survey))
}

/// How one phase went.
#[derive(Debug, Serialize)]
pub struct PhaseResult {
    pub phase: Phase,
    /// `done`, `failed`, or `skipped`.
    pub status: &'static str,
    pub seconds: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The error was damaged or tampered backup data.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub damaged: bool,
}

/// Everything a recovery did and found.
#[derive(Debug, Serialize)]
pub struct Report {
    pub plan: Plan,
    pub phases: Vec<PhaseResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<crate::host::apply::ApplyReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub files: Option<RestoreReport>,
    /// The written files read back and compared with the snapshot (SHA-256 of every file).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub files_check: Option<TreeCheck>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub docker: Option<DockerOutcome>,
    /// `audit` over the recovered host profile and the engine's containers.
    pub audit: audit::Report,
    pub seconds: f64,
}

impl Report {
    /// Whether everything recovered exactly: every phase done, nothing different.
    pub fn exact(&self) -> bool {
        self.phases.iter().all(|p| p.status != "failed")
            && self.files_check.as_ref().is_none_or(TreeCheck::exact)
            && self.files.as_ref().is_none_or(|f| f.errors.is_empty())
            && self.docker.as_ref().is_none_or(|d| {
                d.failures.is_empty()
                    && d.containers.iter().all(|c| c.differences.is_empty())
                    && d.volumes
                        .iter()
                        .all(|v| v.check.as_ref().is_none_or(TreeCheck::exact))
            })
    }

    /// Damaged or tampered repository data was met.
    pub fn damaged(&self) -> bool {
        self.files.as_ref().is_some_and(|f| f.damaged > 0) || self.phases.iter().any(|p| p.damaged)
    }
}

/// Run the planned recovery. A phase that fails is reported and the next phases still run
/// (a host whose sshd profile is refused still gets its models and containers back).
pub fn recover(
    repo: &Repository,
    snap: &Snapshot,
    plan: Plan,
    survey: Option<Survey<'_>>,
    engine: Option<&Engine>,
    opts: &RecoverOptions,
    progress: &dyn Progress,
) -> Result<Report> {
    let started = Instant::now();
    let mut report = Report {
        plan,
        phases: Vec::new(),
        host: None,
        files: None,
        files_check: None,
        docker: None,
        audit: audit::run(&audit::Inputs::default()),
        seconds: 0.0,
    };
    let mut survey = survey;
    for phase in Phase::ALL {
        crate::interrupt::check()?;
        let t = Instant::now();
        let planned = match phase {
            Phase::Host => report.plan.host.is_some(),
            Phase::Files => report.plan.files.is_some(),
            Phase::Docker => survey.is_some(),
        };
        if !planned {
            report.phases.push(PhaseResult {
                phase,
                status: "skipped",
                seconds: 0.0,
                error: None,
                damaged: false,
            });
            continue;
        }
        let r = match phase {
            Phase::Host => host_phase(repo, snap, opts, progress).map(|h| report.host = Some(h)),
            Phase::Files => files_phase(repo, snap, opts, progress).map(|(f, c)| {
                report.files = Some(f);
                report.files_check = Some(c);
            }),
            Phase::Docker => match survey.take() {
                Some(s) => s
                    .recover(opts.health, progress)
                    .map(|d| report.docker = Some(d)),
                None => Ok(()),
            },
        };
        if matches!(r, Err(Error::Interrupted)) {
            return Err(Error::Interrupted);
        }
        report.phases.push(PhaseResult {
            phase,
            status: if r.is_ok() { "done" } else { "failed" },
            seconds: t.elapsed().as_secs_f64(),
            damaged: r.as_ref().is_err_and(Error::is_integrity),
            error: r.err().map(|e| progress.describe(&e)),
        });
    }
    report.audit = audit_result(&report, engine, opts);
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// `audit` of what was recovered: the host profile under the host root and the containers of
/// the snapshot as the engine has them now.
fn audit_result(report: &Report, engine: Option<&Engine>, opts: &RecoverOptions) -> audit::Report {
    let mut inputs = audit::Inputs {
        source: "the recovered deployment".into(),
        ..audit::Inputs::default()
    };
    if report.host.is_some() {
        inputs.host = Some(audit::gather::host_live(&opts.host_root));
    }
    if let (Some(engine), Some(plan)) = (engine, &report.plan.docker) {
        match audit::gather::docker_live(engine) {
            Ok(mut d) => {
                d.containers
                    .retain(|c| plan.containers.iter().any(|p| p.name == c.name));
                inputs.docker = Some(d);
            }
            Err(e) => inputs
                .skipped
                .push(format!("containers: the engine could not be read ({e})")),
        }
    }
    audit::run(&inputs)
}

fn canonical(root: &Path) -> Result<PathBuf> {
    std::fs::canonicalize(root).map_err(|e| Error::io(root.display().to_string(), e))
}

fn host_phase(
    repo: &Repository,
    snap: &Snapshot,
    opts: &RecoverOptions,
    progress: &dyn Progress,
) -> Result<crate::host::apply::ApplyReport> {
    let ho = crate::host::apply::ApplyOptions {
        live_root: opts.host_root.clone(),
        firewall: opts.firewall,
        delete_extra: false,
        dry_run: false,
        hostname: None,
        tool_timeout: opts.tool_timeout,
    };
    crate::ops::host_apply::apply(repo, snap, &ho, progress)
}

fn files_phase(
    repo: &Repository,
    snap: &Snapshot,
    opts: &RecoverOptions,
    progress: &dyn Progress,
) -> Result<(RestoreReport, TreeCheck)> {
    std::fs::create_dir_all(&opts.target)
        .map_err(|e| Error::io(opts.target.display().to_string(), e))?;
    let mut ro = RestoreOptions::new(&opts.target);
    ro.overwrite = Overwrite::Always;
    ro.sync = opts.sync;
    ro.numeric_owner = opts.numeric_owner;
    ro.exclude_patterns = profile_paths(snap)
        .iter()
        .map(|p| literal_glob(p))
        .collect();
    let r = restore(repo, snap, &ro, progress)?;
    let c = check::check_files(repo, snap, &ro, progress)?;
    Ok((r, c))
}

/// The snapshot paths of its host profile (under the root the profile was read from). They
/// are the host phase's alone: written only after `sshd -t` and the firewall dry runs, never
/// by the files phase (also not with `--only files`).
fn profile_paths(snap: &Snapshot) -> Vec<String> {
    let Some(host) = &snap.host else {
        return Vec::new();
    };
    let root = Path::new(&host.root);
    host.items
        .iter()
        .flat_map(|i| i.found.iter())
        .map(|f| crate::util::show(&crate::util::under(root, f.as_bytes())))
        .collect()
}

/// Whether every path of the snapshot is a file of its host profile.
fn only_profile_paths(snap: &Snapshot) -> bool {
    let profile = profile_paths(snap);
    snap.paths_display().iter().all(|p| profile.contains(p))
}

/// A glob matching exactly `path` (every glob character escaped).
fn literal_glob(path: &str) -> String {
    let mut out = String::with_capacity(path.len() + 8);
    for c in path.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '{' | '}' | ',' | '!' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
