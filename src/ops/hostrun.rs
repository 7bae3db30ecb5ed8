//! A snapshot taken with a write-only host key (FORMAT.md §13.4, §13.5): no lock, no index
//! and no parent snapshot to read, so the host's own cache stands in for them. It gives the
//! index to deduplicate against (this host's uploads and the owner's verified list) and the
//! parent's files; it learns what the run wrote; and just before the snapshot is saved it
//! checks that no prune condemned, meanwhile, data the run reused.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::repo::Repository;
use crate::repo::index::{IdSet, Index, IndexPack};
use crate::snapshot::deployment::{Deployment, Previous};
use crate::snapshot::entry::Entry;
use crate::snapshot::group::Group;
use crate::snapshot::hostcache::{self, HostCache};

/// How long a host run may take and still save its snapshot when a prune condemned one of
/// the packs it wrote meanwhile: well under the owner's grace period (23 h by default), so
/// the snapshot is saved before any prune may delete the pack, and the next prune rescues it.
const MAX_RUN_WITH_CONDEMNED_PACKS: Duration = Duration::from_secs(12 * 3600);

pub struct HostRun {
    path: Option<PathBuf>,
    cache: HostCache,
    group: String,
    started: Instant,
    pub warnings: Vec<String>,
}

impl HostRun {
    /// For a handle opened with a host key: the run and the index to deduplicate against.
    pub fn start(repo: &Repository, group: &Group) -> Result<Option<(HostRun, Index)>> {
        let Some(key) = repo.keys().host_key() else {
            return Ok(None);
        };
        let mut warnings = Vec::new();
        let path = repo
            .options()
            .host_cache_dir
            .as_deref()
            .map(|d| hostcache::path_for(d, key));
        let mut cache = match &path {
            Some(p) => HostCache::load(p, key, &mut warnings),
            None => HostCache::default(),
        };
        let index = cache.dedup_index(repo, &mut warnings)?;
        Ok(Some((
            HostRun {
                path,
                cache,
                group: hostcache::group_key(group),
                started: Instant::now(),
                warnings,
            },
            index,
        )))
    }

    /// The regular files of this group's last snapshot by this host (the parent).
    pub fn parent_files(&self) -> &[Entry] {
        self.cache.files(&self.group)
    }

    /// What this host recorded of the group's last deployment.
    pub fn previous_deployment(&self) -> Option<Previous<'_>> {
        self.cache
            .deployment(&self.group)
            .map(|d| Previous::Recorded {
                images: &d.images,
                files: &d.files,
            })
    }

    /// Remember the group's new deployment (saved with the cache).
    pub fn record_deployment(&mut self, d: &Deployment, files: &[Entry]) {
        self.cache.set_deployment(&self.group, d, files);
    }

    /// Remember the packs a run wrote (also when it failed: they are stored, and indexed).
    pub fn wrote(&mut self, packs: &[IndexPack]) {
        self.cache.add_packs(packs);
    }

    /// The commit check: refuse to save the snapshot when a prune condemned, since this run
    /// began, a pack holding data it reused, or (after a very long run) one it wrote.
    pub fn check_commit(
        &mut self,
        repo: &Repository,
        index: &Index,
        reused: &IdSet,
        written: &[IndexPack],
    ) -> Result<()> {
        let own: IdSet = written.iter().map(|p| p.id).collect();
        let (lost, own_condemned) = self.cache.condemned_meanwhile(repo, index, reused, &own)?;
        if !lost.is_empty()
            || (own_condemned && self.started.elapsed() > MAX_RUN_WITH_CONDEMNED_PACKS)
        {
            self.save(repo, None)?;
            return Err(Error::Invalid(format!(
                "a prune condemned data this run reused ({} blob(s)) while it ran; nothing was saved: run it again (it stores that data anew)",
                lost.len()
            )));
        }
        Ok(())
    }

    /// Save the cache; with the snapshot's recorded files, they become the group's parent.
    pub fn save(&mut self, repo: &Repository, files: Option<&[Entry]>) -> Result<()> {
        if let Some(f) = files {
            self.cache.set_files(&self.group, f);
        }
        match (&self.path, repo.keys().host_key()) {
            (Some(p), Some(key)) => self.cache.save(p, key),
            _ => Ok(()),
        }
    }
}
