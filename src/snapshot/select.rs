//! Finding snapshots: list them all, resolve `latest` or an ID prefix, and pick the parent
//! of a new snapshot.

use rayon::prelude::*;

use super::manifest::Snapshot;
use crate::error::{Error, Result};
use crate::id::Id;
use crate::repo::{FileType, Repository};

/// Every snapshot, oldest first.
pub fn all(repo: &Repository) -> Result<Vec<(Id, Snapshot)>> {
    let ids = repo.list_ids(FileType::Snapshot)?;
    let mut out: Vec<(Id, Snapshot)> = ids
        .par_iter()
        .map(|id| Ok((*id, repo.load_sealed::<Snapshot>(FileType::Snapshot, id)?)))
        .collect::<Result<_>>()?;
    out.sort_by(|a, b| a.1.time().cmp(&b.1.time()).then(a.0.cmp(&b.0)));
    Ok(out)
}

/// Filters shared by commands that pick snapshots.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub hosts: Vec<String>,
    pub tags: Vec<String>,
    pub paths: Vec<String>,
}

impl Filter {
    pub fn matches(&self, s: &Snapshot) -> bool {
        (self.hosts.is_empty() || self.hosts.contains(&s.hostname))
            && self.tags.iter().all(|t| s.tags.contains(t))
            && (self.paths.is_empty() || self.paths.iter().all(|p| s.paths_display().contains(p)))
    }
}

/// Resolve `latest` or a hex ID prefix (at least 8 digits) to one snapshot.
pub fn resolve(repo: &Repository, spec: &str, filter: &Filter) -> Result<(Id, Snapshot)> {
    if spec == "latest" {
        let mut list = all(repo)?;
        list.retain(|(_, s)| filter.matches(s));
        return list
            .pop()
            .ok_or_else(|| Error::NoSuchSnapshot("latest".into()));
    }
    let valid = spec.len() >= 8 && spec.len() <= 64 && spec.bytes().all(|b| b.is_ascii_hexdigit());
    if !valid {
        return Err(Error::Invalid(format!(
            "{spec:?} is not a snapshot: use `latest` or at least 8 hex digits of an ID (see `lifeboat snapshots`)"
        )));
    }
    let spec_lc = spec.to_ascii_lowercase();
    let ids: Vec<Id> = repo
        .list_ids(FileType::Snapshot)?
        .into_iter()
        .filter(|id| id.to_hex().starts_with(&spec_lc))
        .collect();
    match ids.as_slice() {
        [] => Err(Error::NoSuchSnapshot(spec.into())),
        [id] => Ok((*id, repo.load_sealed(FileType::Snapshot, id)?)),
        many => Err(Error::AmbiguousSnapshot(
            spec.into(),
            many.iter().map(Id::short).collect::<Vec<_>>().join(", "),
        )),
    }
}

/// The newest snapshot of the same host with the same paths: the parent for change detection.
pub fn parent_for(
    repo: &Repository,
    hostname: &str,
    paths: &[Vec<u8>],
) -> Result<Option<(Id, Snapshot)>> {
    let list = all(repo)?;
    Ok(list.into_iter().rev().find(|(_, s)| {
        s.hostname == hostname
            && s.paths.len() == paths.len()
            && s.paths
                .iter()
                .zip(paths)
                .all(|(a, b)| a.as_slice() == b.as_slice())
    }))
}
