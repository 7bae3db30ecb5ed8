//! A write-only host's memory of its own uploads (FORMAT.md §13.4), since it cannot read the
//! repository's index or its own old snapshots:
//!
//! - the blobs it stored (kind, ID, pack, place), so an unchanged chunk is not uploaded again;
//! - per snapshot group, the regular files of its last snapshot with their (size, mtime,
//!   ctime, inode) and chunk lists, so an unchanged file is not even read;
//! - the newest condemned list it applied.
//!
//! One file per host key, `<cache>/<repository id>/host-<host id>.cache`, sealed with the key
//! file's `cache_key` (XChaCha20-Poly1305) and replaced atomically. It holds what the host
//! itself has on disk now, never older contents. Losing it, or a copy that does not
//! authenticate, costs one snapshot that reads every file again; the blobs that snapshot
//! stores once more are later repacked away by the owner's prune. Nothing is lost.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::entry::{Entry, Kind};
use super::group::Group;
use crate::crypto;
use crate::error::{Error, Result};
use crate::id::Id;
use crate::repo::index::{IdSet, Index, Location};
use crate::repo::published::{CONDEMNED, CondemnedList, VERIFIED, VerifiedList};
use crate::repo::{BlobKind, HostKey, Repository};

const VERSION: u32 = 1;
/// Largest cache a host expands (about 3 million files).
const MAX_PLAIN: u64 = 1 << 30;

/// A stored blob as the cache keeps it: kind, ID, pack, offset, stored and raw length.
type CachedBlob = (BlobKind, Id, Id, u32, u32, u32);

#[derive(Serialize, Deserialize, Default)]
pub struct HostCache {
    version: u32,
    blobs: Vec<CachedBlob>,
    /// The newest condemned list applied to `blobs`.
    condemned_seen: Option<String>,
    /// Group key → the files of the group's last snapshot (sorted by path, as in the tree).
    groups: BTreeMap<String, Vec<Entry>>,
    /// Group key → the group's last deployment: its archived images and its tree's files.
    #[serde(default)]
    deployments: BTreeMap<String, RecordedDeployment>,
}

/// What a host keeps of its last deployment (see [`super::deployment::Previous::Recorded`]).
#[derive(Serialize, Deserialize, Default)]
pub struct RecordedDeployment {
    /// Archived images: ID and tags.
    pub images: Vec<(String, Vec<String>)>,
    pub files: Vec<Entry>,
}

/// The key a group's files are kept under.
pub fn group_key(g: &Group) -> String {
    format!("{g:?}")
}

/// The cache file of `key` under `dir`.
pub fn path_for(dir: &Path, key: &HostKey) -> PathBuf {
    dir.join(hex::encode(key.repo_id))
        .join(format!("host-{}.cache", hex::encode(key.host_id)))
}

fn ad(key: &HostKey) -> Vec<u8> {
    let mut ad = b"lifeboat/v2/host-cache/".to_vec();
    ad.extend_from_slice(&key.repo_id);
    ad.extend_from_slice(&key.host_id);
    ad
}

/// What a file entry needs to be recognised unchanged: its state and its content.
fn trimmed(e: &Entry) -> Entry {
    let mut t = Entry::new(e.path.clone(), Kind::File);
    t.size = e.size;
    t.mtime = e.mtime;
    t.ctime = e.ctime;
    t.ino = e.ino;
    t.dev = e.dev;
    t.content = e.content.clone();
    t
}

impl HostCache {
    /// Read the cache; a missing one is empty, a damaged one is empty with a warning.
    pub fn load(path: &Path, key: &HostKey, warn: &mut Vec<String>) -> HostCache {
        let sealed = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return HostCache::default(),
            Err(e) => {
                warn.push(format!(
                    "host cache {}: {e}; every file is read again",
                    crate::util::show_path(path)
                ));
                return HostCache::default();
            }
        };
        match Self::decode(&sealed, key) {
            Ok(c) => c,
            Err(why) => {
                warn.push(format!(
                    "host cache {}: {why}; every file is read again",
                    crate::util::show_path(path)
                ));
                HostCache::default()
            }
        }
    }

    fn decode(sealed: &[u8], key: &HostKey) -> std::result::Result<HostCache, String> {
        let z = crypto::open(&key.cache_key, &ad(key), sealed).map_err(|e| e.to_string())?;
        let mut cbor = Vec::new();
        zstd::stream::read::Decoder::new(&z[..])
            .map_err(|e| e.to_string())?
            .take(MAX_PLAIN + 1)
            .read_to_end(&mut cbor)
            .map_err(|e| e.to_string())?;
        let c: HostCache = ciborium::from_reader(&cbor[..]).map_err(|e| e.to_string())?;
        if c.version != VERSION {
            return Err(format!("version {}", c.version));
        }
        Ok(c)
    }

    /// Write the cache atomically (a temporary file, fsync, rename), mode 0600.
    pub fn save(&mut self, path: &Path, key: &HostKey) -> Result<()> {
        self.version = VERSION;
        let mut cbor = Vec::new();
        ciborium::into_writer(&*self, &mut cbor).expect("cache serializes");
        let z = zstd::bulk::compress(&cbor, 1).map_err(|e| Error::io(path, e))?;
        let sealed = crypto::seal(&key.cache_key, &ad(key), &z);
        if let Some(dir) = path.parent() {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| Error::io(dir, e))?;
        }
        crate::util::write_file_atomic(path, &sealed, 0o600)
    }

    /// The index a host deduplicates against: its own blobs and the owner's newest verified
    /// list, minus every pack a condemned list names that is newer than what the cache (for
    /// its own blobs) or the verified list (for the list's) already took into account.
    pub fn dedup_index(&mut self, repo: &Repository, warn: &mut Vec<String>) -> Result<Index> {
        let condemned_names = repo.published_names(CONDEMNED)?;
        let verified_name = repo.published_names(VERIFIED)?.pop();
        // The list's time is in its name: condemned lists after it may name its packs.
        let verified_after = verified_name
            .as_ref()
            .map(|n| format!("{CONDEMNED}{}", n.trim_start_matches(VERIFIED)));
        let newer = |name: &str, after: Option<&str>| after.is_none_or(|a| name > a);
        // Each condemned list either threshold needs, read once.
        let mut lists: Vec<(String, Vec<Id>)> = Vec::new();
        for name in condemned_names.iter().filter(|n| {
            newer(n, self.condemned_seen.as_deref())
                || verified_after.as_deref().is_some_and(|a| newer(n, Some(a)))
        }) {
            let list: CondemnedList = repo.read_published(name)?;
            lists.push((name.clone(), list.packs));
        }
        let condemned_since = |after: Option<&str>| -> IdSet {
            lists
                .iter()
                .filter(|(n, _)| newer(n, after))
                .flat_map(|(_, packs)| packs.iter().copied())
                .collect()
        };
        // Own blobs: drop those in packs condemned since the cache last looked.
        let own_gone = condemned_since(self.condemned_seen.as_deref());
        if !own_gone.is_empty() {
            self.blobs.retain(|b| !own_gone.contains(&b.2));
        }
        self.condemned_seen = condemned_names
            .last()
            .cloned()
            .or(self.condemned_seen.take());
        let mut index = Index::default();
        for &(kind, id, pack, offset, stored_len, raw_len) in &self.blobs {
            index.insert(id, location(kind, pack, offset, stored_len, raw_len));
        }
        if let Some(name) = verified_name {
            let gone = condemned_since(verified_after.as_deref());
            match repo.read_published::<VerifiedList>(&name) {
                Ok(list) => {
                    for (kind, id, pack, offset, stored_len, raw_len) in list.blobs {
                        if !gone.contains(&pack) {
                            index.insert(id, location(kind, pack, offset, stored_len, raw_len));
                        }
                    }
                }
                // Replaced by a newer list meanwhile: this run uses its own blobs only.
                Err(Error::Io { .. }) => {}
                Err(e) => warn.push(format!(
                    "{e}; this host deduplicates against its own uploads only"
                )),
            }
        }
        Ok(index)
    }

    /// Just before a snapshot is saved (the host's commit check, FORMAT.md §13.4): the blobs
    /// of `reused` (found in `index`, not written by this run) that a condemned list published
    /// since this run started names. They may be deleted after the grace period, so the
    /// snapshot must not be saved; the cache forgets every blob of those packs, so the next
    /// run stores them again.
    /// Also says whether one of `own` (packs this run wrote) was named.
    pub fn condemned_meanwhile(
        &mut self,
        repo: &Repository,
        index: &Index,
        reused: &IdSet,
        own: &IdSet,
    ) -> Result<(Vec<Id>, bool)> {
        let mut hit = IdSet::default();
        let mut newest = None;
        for name in repo.published_names(CONDEMNED)?.into_iter().filter(|n| {
            self.condemned_seen
                .as_deref()
                .is_none_or(|s| n.as_str() > s)
        }) {
            let list: CondemnedList = repo.read_published(&name)?;
            hit.extend(list.packs);
            newest = Some(name);
        }
        if hit.is_empty() {
            return Ok((Vec::new(), false));
        }
        self.blobs.retain(|b| !hit.contains(&b.2));
        self.condemned_seen = newest;
        let lost = reused
            .iter()
            .filter(|id| index.get(id).is_some_and(|l| hit.contains(&l.pack)))
            .copied()
            .collect();
        Ok((lost, own.iter().any(|p| hit.contains(p))))
    }

    /// Remember the blobs of packs this run wrote.
    pub fn add_packs(&mut self, packs: &[crate::repo::index::IndexPack]) {
        for p in packs {
            for &(kind, id, offset, stored_len, raw_len) in &p.blobs {
                self.blobs
                    .push((kind, id, p.id, offset, stored_len, raw_len));
            }
        }
        let mut seen = IdSet::default();
        self.blobs.retain(|b| seen.insert(b.1));
    }

    /// The files of the group's last snapshot, sorted by path.
    pub fn files(&self, group: &str) -> &[Entry] {
        self.groups.get(group).map_or(&[], Vec::as_slice)
    }

    /// Keep the regular files of the group's new snapshot (the parent of its next one).
    pub fn set_files(&mut self, group: &str, entries: &[Entry]) {
        self.groups.insert(group.to_string(), files_of(entries));
    }

    /// The group's last deployment, when this host recorded one.
    pub fn deployment(&self, group: &str) -> Option<&RecordedDeployment> {
        self.deployments.get(group)
    }

    /// Keep the group's new deployment: the images it archived and its tree's files.
    pub fn set_deployment(
        &mut self,
        group: &str,
        d: &super::deployment::Deployment,
        entries: &[Entry],
    ) {
        let images = d
            .images
            .iter()
            .filter(|i| i.archive.is_some())
            .map(|i| (i.id.clone(), i.tags.clone()))
            .collect();
        self.deployments.insert(
            group.to_string(),
            RecordedDeployment {
                images,
                files: files_of(entries),
            },
        );
    }
}

fn files_of(entries: &[Entry]) -> Vec<Entry> {
    entries
        .iter()
        .filter(|e| e.kind == Kind::File && e.content.is_some())
        .map(trimmed)
        .collect()
}

fn location(kind: BlobKind, pack: Id, offset: u32, stored_len: u32, raw_len: u32) -> Location {
    Location {
        pack,
        kind,
        offset,
        stored_len,
        raw_len,
        run: Location::NO_RUN,
    }
}
