//! Applying a snapshot's host profile as an operation: [`crate::host::apply`] checks and writes
//! the files, and calls back here for the `host-undo` snapshot it keeps first, because taking a
//! snapshot ([`super::snapshot`]) is an operation above `host/`.

use crate::error::Result;
use crate::host::apply::{ApplyOptions, ApplyReport, UndoSnapshot};
use crate::progress::Progress;
use crate::repo::Repository;
use crate::snapshot::Snapshot;
use crate::snapshot::tags::HOST_UNDO_TAG;

use super::snapshot::{ParentChoice, SnapshotOptions, create_with};

/// Apply `snap`'s host profile to `opts.live_root`, keeping what it replaces in a `host-undo`
/// snapshot (no parent: every kept file is read) recorded under `opts.hostname`. A repository
/// that cannot be written (a portable archive) keeps no undo snapshot, and the report says so.
pub fn apply(
    repo: &Repository,
    snap: &Snapshot,
    opts: &ApplyOptions,
    progress: &dyn Progress,
) -> Result<ApplyReport> {
    let keep_undo = |u: UndoSnapshot| {
        if !repo.access().write {
            return Ok(None);
        }
        let so = SnapshotOptions {
            paths: u.paths,
            tags: vec![HOST_UNDO_TAG.to_string()],
            parent: ParentChoice::None,
            hostname: opts.hostname.clone(),
            host: Some(u.section),
            ..SnapshotOptions::default()
        };
        Ok(Some(create_with(repo, &so, None, progress)?.id))
    };
    crate::host::apply::apply(repo, snap, opts, &keep_undo, progress)
}
