//! Maintenance on top of the repository: verification, retention (forget), prune, diffs
//! between snapshots, and the records of scheduled runs (Prometheus metrics, run log).

pub mod diff;
pub mod find;
pub mod forget;
pub mod metrics;
pub mod prune;
pub mod runlog;
pub mod stats;
pub mod tag;
pub mod verify;

use crate::error::Result;
use crate::id::Id;
use crate::repo::Repository;
use crate::repo::index::IdSet;
use crate::snapshot::manifest::Snapshot;
use crate::snapshot::tree::TreeReader;

/// Every blob (tree and data) the given snapshots reference.
pub fn referenced_blobs(repo: &Repository, snapshots: &[(Id, Snapshot)]) -> Result<IdSet> {
    let mut used = IdSet::default();
    for (_, s) in snapshots {
        for tree in s.trees() {
            used.extend(tree.iter().copied());
            for e in TreeReader::new(repo, tree) {
                if let Some(c) = e?.content {
                    used.extend(c.chunks);
                }
            }
        }
    }
    Ok(used)
}
