//! `lifeboat rollback`: a container brought back as its latest `pre-update` snapshot recorded
//! it, through the Docker apply with `replace`, optionally with its volume data.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::journal::{ContainerLock, journal_path, updates_dir};
use super::snapshot_container;
use crate::docker::Engine;
use crate::docker::apply::{self, ApplyOptions, ApplyReport, VolumeData};
use crate::error::{Error, Result, UpdateError};
use crate::id::Id;
use crate::progress::Progress;
use crate::repo::Repository;
use crate::snapshot::deployment::jstr;
use crate::snapshot::manifest::Snapshot;
use crate::snapshot::select;
use crate::snapshot::tags::{PRE_ROLLBACK_TAG, PRE_UPDATE_TAG};

#[derive(Debug, Clone, Default)]
pub struct RollbackOptions {
    /// A snapshot ID prefix; default: the newest `pre-update` snapshot of this host holding the
    /// container as another container than the one running now.
    pub snapshot: Option<String>,
    /// Also bring back volume data (exactly the snapshot's files); without it existing volumes
    /// keep their data and anonymous volumes are carried over.
    pub volumes: bool,
    pub dry_run: bool,
    /// Where update journals and per-container locks are kept (in `updates/`), as for
    /// [`super::execute::UpdateOptions::state_dir`]: a rollback holds the container's lock, so an update and a
    /// rollback of one container never run at once, and refuses while an interrupted update of
    /// it is recorded there.
    pub state_dir: PathBuf,
}

#[derive(Debug, Serialize)]
pub struct RollbackReport {
    pub container: String,
    /// The snapshot gone back to (full ID) and its time.
    pub snapshot: String,
    pub snapshot_time: String,
    /// With `--volumes`: the snapshot of what was overwritten.
    pub pre_rollback_snapshot: Option<String>,
    pub apply: ApplyReport,
}

/// Bring `name` back as it was in its latest `pre-update` snapshot (or `opts.snapshot`; one that
/// recorded the container running now, left by an update that was rolled back, is skipped): the
/// container config and image exactly as recorded, through [`apply::apply`] with `replace`.
/// With `volumes`, its volume data too: the container is snapshotted first (tag
/// `pre-rollback`) and stopped, then its volumes are made to hold exactly the snapshot's files.
pub fn rollback(
    engine: &Engine,
    repo: &Repository,
    name: &str,
    opts: &RollbackOptions,
    progress: &dyn Progress,
) -> Result<RollbackReport> {
    let _lock = if opts.dry_run {
        None
    } else {
        Some(lock_container(name, &opts.state_dir)?)
    };
    let current = engine.inspect_container(name)?;
    let current_id = current.as_ref().map(|c| jstr(c, "Id").to_string());
    let (id, snap) = pick_snapshot(repo, name, opts.snapshot.as_deref(), current_id.as_deref())?;
    let dep = snap
        .deployment
        .as_ref()
        .ok_or_else(|| UpdateError::NoContainers(id.short()))?;
    if dep.container(name).is_none() {
        return Err(UpdateError::NotInSnapshot {
            container: name.to_string(),
            snapshot: id.short(),
        }
        .into());
    }
    let mut pre_rollback = None;
    if opts.volumes && !opts.dry_run && current.is_some() {
        pre_rollback =
            Some(snapshot_container(engine, repo, name, PRE_ROLLBACK_TAG, progress)?.to_hex());
    }
    // The current container is stopped and set aside before any volume data is written, and
    // put back (running again) when the rollback fails.
    let applied = apply::apply(
        engine,
        repo,
        dep,
        &ApplyOptions {
            names: vec![name.to_string()],
            replace: true,
            dry_run: opts.dry_run,
            via_api: false,
            volume_data: if opts.volumes {
                VolumeData::Exact
            } else {
                VolumeData::Keep
            },
        },
        progress,
    );
    let mut applied = applied?;
    // The update moved the tag (a pull, a build): the old image comes back by ID, as the
    // warning says. That is what a rollback is for, not a difference.
    let recorded = dep.container(name).map(|c| c.image_id.clone());
    for (_, diffs) in &mut applied.differences {
        diffs.retain(|d| !(d.field == "Config.Image" && d.actual.as_str() == recorded.as_deref()));
    }
    applied.differences.retain(|(_, d)| !d.is_empty());
    Ok(RollbackReport {
        container: name.to_string(),
        snapshot: id.to_hex(),
        snapshot_time: snap.time.clone(),
        pre_rollback_snapshot: pre_rollback,
        apply: applied,
    })
}

/// The container's update lock, refused while an update or rollback of it runs or an
/// interrupted update of it is recorded.
fn lock_container(name: &str, state_dir: &Path) -> Result<ContainerLock> {
    let dir = updates_dir(state_dir)?;
    let lock = ContainerLock::take(&dir, name)?.ok_or_else(|| UpdateError::Busy {
        container: name.to_string(),
        lock: dir.join(format!("{name}.lock")),
    })?;
    if journal_path(&dir, name).exists() {
        return Err(UpdateError::Interrupted {
            container: name.to_string(),
            journal: journal_path(&dir, name),
            state_dir: Some(state_dir.to_path_buf()),
        }
        .into());
    }
    Ok(lock)
}

/// The snapshot to go back to: `chosen`, else the newest `pre-update` snapshot of this host
/// holding the container as another container than `current_id` (the one running now).
fn pick_snapshot(
    repo: &Repository,
    name: &str,
    chosen: Option<&str>,
    current_id: Option<&str>,
) -> Result<(Id, Snapshot)> {
    if let Some(spec) = chosen {
        return select::resolve(
            repo,
            spec,
            &select::Filter::default(),
            &select::Need::default(),
        );
    }
    // A snapshot that recorded the very container running now belongs to an update that was
    // rolled back (or never happened): going back to it would change nothing.
    let host = crate::util::hostname();
    select::all(repo)?
        .into_iter()
        .rev()
        .find(|(_, s)| {
            s.hostname == host
                && s.tags.iter().any(|t| t == PRE_UPDATE_TAG)
                && s.deployment
                    .as_ref()
                    .and_then(|d| d.container(name))
                    .is_some_and(|c| Some(c.id.as_str()) != current_id)
        })
        .ok_or_else(|| {
            Error::NoSuchSnapshot(format!(
                "latest {PRE_UPDATE_TAG} snapshot of container {name} on {host} taken before an update that went through"
            ))
        })
}
