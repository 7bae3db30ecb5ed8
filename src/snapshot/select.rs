//! Finding snapshots: list them all, resolve `latest` or an ID prefix, and pick the parent
//! of a new snapshot.

use rayon::prelude::*;

use super::manifest::Snapshot;
use crate::error::{Error, Result};
use crate::id::Id;
use crate::repo::{FileType, Repository};

/// Every readable snapshot, oldest first. A damaged snapshot file is skipped with a notice, so
/// one bad file never stops backups or restores of the others.
pub fn all(repo: &Repository) -> Result<Vec<(Id, Snapshot)>> {
    let loaded = load_all(repo)?;
    for (_, e) in loaded.damaged {
        repo.notice(&format!("{e}; skipped"));
    }
    Ok(loaded.good)
}

/// Every snapshot, failing on the first damaged one (for `prune`, which must know every
/// snapshot's data before deleting anything).
pub fn all_strict(repo: &Repository) -> Result<Vec<(Id, Snapshot)>> {
    let loaded = load_all(repo)?;
    match loaded.damaged.into_iter().next() {
        Some((_, e)) => Err(e),
        None => Ok(loaded.good),
    }
}

/// Every snapshot file, split into the readable and the damaged.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Readable snapshots, oldest first.
    pub good: Vec<(Id, Snapshot)>,
    /// Snapshot files that failed authentication or decoding, with the error.
    pub damaged: Vec<(Id, Error)>,
}

/// Load every snapshot file; damaged ones are returned, not skipped silently.
pub fn load_all(repo: &Repository) -> Result<Loaded> {
    let ids = repo.list_ids(FileType::Snapshot)?;
    let loaded: Vec<(Id, Result<Snapshot>)> = ids
        .par_iter()
        .map(|id| (*id, repo.load_sealed::<Snapshot>(FileType::Snapshot, id)))
        .collect();
    let mut good = Vec::new();
    let mut damaged = Vec::new();
    for (id, r) in loaded {
        match r {
            Ok(s) => good.push((id, s)),
            Err(e) if e.is_integrity() => damaged.push((id, e)),
            Err(e) => return Err(e),
        }
    }
    good.sort_by(|a, b| a.1.time().cmp(&b.1.time()).then(a.0.cmp(&b.0)));
    Ok(Loaded { good, damaged })
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
        // What a host apply replaced is kept for `--undo`, not as anyone's "latest".
        let undo = crate::host::apply::UNDO_TAG.to_string();
        list.retain(|(_, s)| {
            filter.matches(s) && (!s.tags.contains(&undo) || filter.tags.contains(&undo))
        });
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
