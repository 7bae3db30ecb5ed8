//! What one snapshot takes, as `lifeboat snapshot` and the nightly job both ask for it: paths,
//! model directories, a Docker selection, the host profile, excludes, tags, hostname; and
//! taking it: the Docker capture planned, the host profile captured, the containers quiesced
//! while the pipeline runs.

use std::path::PathBuf;

use crate::config::Config;
use crate::docker::capture::{
    BindOptions, BindPlan, Capture, CaptureOptions, Selection, SkipReason, VolumeAccess,
};
use crate::error::Result;
use crate::files::walk::Excludes;
use crate::host::HostOptions;
use crate::observer::{Event, Observer, Warning};
use crate::ops::snapshot::{ParentChoice, SnapshotOptions, SnapshotResult, create_with};
use crate::repo::Repository;

use super::JobError;

/// One snapshot, as asked for (from the configuration or from command-line flags).
#[derive(Debug, Clone)]
pub struct SnapshotRequest {
    /// Files and directories.
    pub paths: Vec<PathBuf>,
    /// Model directories: snapshotted, and every file in them counts as a model.
    pub models: Vec<PathBuf>,
    /// The containers to capture with their images, networks and volumes.
    pub containers: Selection,
    /// Store image content (not only references).
    pub images: bool,
    pub volume_access: VolumeAccess,
    /// Capture the sources of the containers' bind mounts as file paths (see
    /// `docker::capture::binds`); off, they are only named in warnings.
    pub bind_data: bool,
    /// Capture the host profile.
    pub host: bool,
    /// The host profile's root, additions and removals, and whether its tools run.
    pub host_options: HostOptions,
    /// Published checksum lists (`sha256sum` format) the snapshot's files must match.
    pub expect_sha256: Vec<PathBuf>,
    /// Save the snapshot anyway when files do not match, with warnings.
    pub allow_mismatch: bool,
    pub tags: Vec<String>,
    /// Exclude globs.
    pub excludes: Vec<String>,
    /// Files of exclude globs, one per line.
    pub exclude_files: Vec<PathBuf>,
    pub one_file_system: bool,
    pub exclude_caches: bool,
    pub parent: ParentChoice,
    /// Recorded instead of the machine's hostname.
    pub hostname: Option<String>,
}

impl Default for SnapshotRequest {
    fn default() -> Self {
        SnapshotRequest {
            paths: Vec::new(),
            models: Vec::new(),
            containers: Selection::default(),
            images: true,
            volume_access: VolumeAccess::Auto,
            bind_data: true,
            host: false,
            host_options: HostOptions {
                root: PathBuf::from("/"),
                commands: true,
                ..HostOptions::default()
            },
            expect_sha256: Vec::new(),
            allow_mismatch: false,
            tags: Vec::new(),
            excludes: Vec::new(),
            exclude_files: Vec::new(),
            one_file_system: false,
            exclude_caches: false,
            parent: ParentChoice::Auto,
            hostname: None,
        }
    }
}

/// A snapshot taken, and the bind mounts of the captured containers: those whose sources it
/// holds, and those it left out (each named in a warning that does not make the snapshot
/// partial: nothing the snapshot set out to read was missed).
#[derive(Debug)]
pub struct Taken {
    pub result: SnapshotResult,
    pub binds: BindPlan,
}

impl SnapshotRequest {
    /// The configuration's job.
    pub fn from_config(c: &Config) -> SnapshotRequest {
        SnapshotRequest {
            paths: c.snapshot.paths.clone(),
            models: c.models.dirs.clone(),
            containers: Selection {
                names: c.containers.names.clone(),
                all: c.containers.all,
                compose_projects: c.containers.compose_projects.clone(),
                labels: c.containers.labels.clone(),
            },
            images: c.containers.images,
            volume_access: if c.containers.volumes_via_api {
                VolumeAccess::Api
            } else {
                VolumeAccess::Auto
            },
            bind_data: c.containers.bind_data,
            host: c.host.enabled,
            host_options: HostOptions {
                root: c.host.root.clone(),
                include: c.host.include.clone(),
                exclude: c.host.exclude.clone(),
                commands: c.host.commands,
            },
            expect_sha256: c.models.expect_sha256.clone(),
            allow_mismatch: c.models.allow_mismatch,
            tags: c.snapshot.tags.clone(),
            excludes: c.snapshot.exclude.clone(),
            exclude_files: Vec::new(),
            one_file_system: c.snapshot.one_file_system,
            exclude_caches: c.snapshot.exclude_caches,
            parent: ParentChoice::Auto,
            hostname: c.hostname.clone(),
        }
    }

    /// Whether it names anything to back up.
    pub fn has_selection(&self) -> bool {
        !self.paths.is_empty()
            || !self.models.is_empty()
            || !self.containers.is_empty()
            || self.host
    }

    /// The excludes it gives: patterns, those of the exclude files, file system and
    /// cache-directory rules.
    fn excludes(&self) -> Result<Excludes, JobError> {
        let mut excludes = Excludes {
            patterns: self.excludes.clone(),
            one_file_system: self.one_file_system,
            caches: self.exclude_caches,
            paths: Vec::new(),
        };
        for f in &self.exclude_files {
            let more = Excludes::read_file(f)
                .map_err(|e| JobError::new(format!("reading exclude file {}", f.display()), e))?;
            excludes.patterns.extend(more);
        }
        Ok(excludes)
    }

    /// With the host profile asked for: this machine's, its files added to `paths`.
    fn host_profile(
        &self,
        paths: &mut Vec<PathBuf>,
    ) -> Result<Option<crate::snapshot::host::HostSection>, JobError> {
        if !self.host {
            return Ok(None);
        }
        let root = &self.host_options.root;
        let (section, found) = crate::host::capture(&self.host_options)
            .map_err(|e| JobError::new(format!("--host-root {}", root.display()), e))?;
        paths.extend(found);
        Ok(Some(section))
    }
}

/// Take the snapshot `req` describes: plan the Docker capture, capture the host profile, and
/// run the pipeline with the containers quiesced as their capture asks.
pub fn take_snapshot(
    repo: &Repository,
    req: &SnapshotRequest,
    observer: &dyn Observer,
) -> Result<Taken, JobError> {
    let excludes = req.excludes()?;
    let engine = if req.containers.is_empty() {
        None
    } else {
        Some(crate::docker::Engine::connect().map_err(|e| JobError::new("Docker", e))?)
    };
    let capture = match &engine {
        Some(engine) => Some(
            Capture::plan(
                engine,
                &CaptureOptions {
                    selection: req.containers.clone(),
                    images: req.images,
                    volume_access: req.volume_access,
                },
            )
            .map_err(|e| JobError::new("planning the Docker capture", e))?,
        ),
        None => None,
    };
    let mut paths = req.paths.clone();
    paths.extend(req.models.iter().cloned());
    let host = req.host_profile(&mut paths)?;
    let mut binds = BindPlan::default();
    if let Some(c) = &capture {
        for n in &c.notices {
            observer.event(Event::Notice(n.to_string()));
        }
        paths.extend(c.compose_files());
        let opts = BindOptions {
            capture: req.bind_data,
            refuse: repo
                .backend()
                .local_root()
                .map(PathBuf::from)
                .into_iter()
                .collect(),
        };
        binds = c.bind_plan(&paths, &opts);
        paths.extend(binds.add.iter().cloned());
    }
    for b in binds.skipped.iter().filter(|b| b.reason.warns()) {
        let m = &b.mount;
        observer.warn(Warning::advice(match b.reason {
            SkipReason::Disabled => format!(
                "container {}: bind mount {} -> {} not captured: {} (add the path to the snapshot: lifeboat snapshot {} --container {})",
                m.container, m.source, m.destination, b.why, m.source, m.container
            ),
            _ => format!(
                "container {}: bind mount {} -> {} not captured: {}",
                m.container, m.source, m.destination, b.why
            ),
        }));
    }
    let opts = SnapshotOptions {
        paths,
        selection: Some(selection_of(req)?),
        tags: req.tags.clone(),
        excludes,
        parent: req.parent.clone(),
        hostname: req.hostname.clone(),
        host,
        expected_sha256: {
            let mut all = Vec::new();
            for f in &req.expect_sha256 {
                all.extend(crate::models::checksums::parse_sha256sums(f)?);
            }
            all
        },
        allow_mismatch: req.allow_mismatch,
        ..Default::default()
    };
    let result = match &capture {
        Some(c) => c.quiesced(observer, || create_with(repo, &opts, Some(c), observer))?,
        None => create_with(repo, &opts, None, observer)?,
    };
    Ok(Taken { result, binds })
}

/// What was asked for: the snapshot's group (latest, retention, parent).
fn selection_of(req: &SnapshotRequest) -> Result<crate::snapshot::group::Selection> {
    let c = &req.containers;
    crate::snapshot::group::Selection::new(
        &req.paths,
        &req.models,
        Some(crate::snapshot::group::Containers::new(
            &c.names,
            c.all,
            &c.compose_projects,
            &c.labels,
        )),
    )
}
