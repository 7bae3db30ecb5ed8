//! Operations, above the things backed up and the snapshot format: the nightly job ([`job`]),
//! taking a snapshot, applying
//! a host profile, verification, retention (forget), prune, find, stats, tags, copying snapshots
//! into another repository ([`copy`]) or into a single-file archive ([`export`]), bare-host
//! disaster recovery ([`recover`]), safe container
//! updates and rollbacks ([`update`]), running on a schedule ([`schedule`]) and the records of
//! scheduled runs (Prometheus metrics, run log).

pub mod copy;
pub mod export;
pub mod find;
pub mod forget;
pub mod health;
pub mod host_apply;
pub mod hostrun;
pub mod job;
pub mod metrics;
pub mod prune;
pub mod recover;
pub mod runlog;
pub mod schedule;
pub mod snapshot;
pub mod stats;
pub mod tag;
pub mod update;
pub mod verify;

use crate::error::Result;
use crate::id::Id;
use crate::repo::IndexedRepo;
use crate::repo::index::IdSet;
use crate::snapshot::manifest::Snapshot;

/// Every blob (tree and data) the given snapshots reference.
pub fn referenced_blobs(repo: &IndexedRepo, snapshots: &[(Id, Snapshot)]) -> Result<IdSet> {
    crate::snapshot::tree::referenced_blobs(repo, snapshots.iter().map(|(_, s)| s))
}
