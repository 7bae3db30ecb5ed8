//! Safe container updates (`lifeboat update`, `lifeboat rollback`): the flow operators do by
//! hand (stop, pull, run again with the same options) with a snapshot before it, a health gate
//! after it and a way back at every step. The old container is only renamed aside until the new
//! one is healthy; a small journal in the state directory names what is in flight, so an update
//! killed half-way is repaired by the next `lifeboat update` (or `--recover`).
//!
//! An operation over the Docker deployment, so it lives above `docker/` and uses it: [`plan`]
//! finds what an update would do, [`execute`] runs one, [`journal`] keeps what is in flight,
//! [`recover`] repairs what an interrupted update left and [`rollback`] goes back to the
//! snapshot taken before. [`snapshot_container`] is that snapshot, shared by update and
//! rollback.

pub mod execute;
pub mod journal;
pub mod plan;
pub mod recover;
pub mod rollback;

use crate::docker::Engine;
use crate::docker::capture::{Capture, CaptureOptions, LABEL_EXCLUDE, Selection, VolumeAccess};
use crate::error::Result;
pub use crate::error::UpdateError;
use crate::id::Id;
use crate::observer::Warning;
use crate::ops::snapshot::{ParentChoice, SnapshotOptions, create_with};
use crate::progress::Progress;
use crate::repo::Repository;

/// Lines of the failed container's output kept for the report.
pub const LOG_LINES: usize = 20;

/// Snapshot one container with its image and volumes, tagged `tag`, exactly as
/// `lifeboat snapshot --container NAME --tag TAG` does: its `lifeboat.pre-snapshot` hook runs and
/// it is stopped only when labelled `lifeboat.stop`; unchanged volume files are not read again
/// (the previous snapshot of this host is the parent).
pub fn snapshot_container(
    engine: &Engine,
    repo: &Repository,
    name: &str,
    tag: &str,
    progress: &dyn Progress,
) -> Result<Id> {
    let capture = Capture::plan(
        engine,
        &CaptureOptions {
            selection: Selection {
                names: vec![name.to_string()],
                ..Selection::default()
            },
            images: true,
            volume_access: VolumeAccess::Auto,
        },
    )?;
    for n in &capture.notices {
        progress.warn(Warning::advice(n.clone()));
    }
    if capture.deployment().container(name).is_none() {
        return Err(UpdateError::NotSnapshotted {
            container: name.to_string(),
            label: LABEL_EXCLUDE,
            tag: tag.to_string(),
        }
        .into());
    }
    let opts = SnapshotOptions {
        paths: capture.compose_files(),
        tags: vec![tag.to_string()],
        parent: ParentChoice::Auto,
        selection: Some(crate::snapshot::group::Selection::new(
            &capture.compose_files(),
            &[],
            Some(crate::snapshot::group::Containers::new(
                &[name.to_string()],
                false,
                &[],
                &[],
            )),
        )?),
        ..SnapshotOptions::default()
    };
    // The snapshot's own warnings reached `progress` as they came.
    let r = capture.quiesced(progress, || {
        create_with(repo, &opts, Some(&capture), progress)
    })?;
    Ok(r.id)
}
