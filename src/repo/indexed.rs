//! The indexed state of a repository: an opened [`Repository`] plus the index of every blob, so
//! that reading a blob, deduplicating against stored ones or writing new packs cannot be
//! written before the index is loaded (the type has no such methods otherwise).
//!
//! Index files are read in one place ([`read_index_leniently`]); a handle is made either from
//! what it reads ([`Repository::indexed`]) or from index files a command already read strictly
//! ([`Repository::indexed_from`]: prune, verify).

use std::ops::Deref;
use std::sync::{Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use rayon::prelude::*;

use super::{BlobKind, FileType, IdSet, Index, IndexFile, Location, PackWriter, Repository};
use crate::error::{Error, Result};
use crate::id::Id;

/// A repository whose index is loaded: everything [`Repository`] does (through `Deref`), and
/// reading blobs, locating them and writing new ones.
pub struct IndexedRepo {
    repo: Repository,
    index: RwLock<Index>,
    /// Every index file this handle read: what it may have deduplicated against (see
    /// [`IndexedRepo::secure_references`]).
    index_seen: Mutex<IdSet>,
}

impl std::fmt::Debug for IndexedRepo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Indexed{:?}", self.repo)
    }
}

impl Deref for IndexedRepo {
    type Target = Repository;

    fn deref(&self) -> &Repository {
        &self.repo
    }
}

impl Repository {
    /// Load every index file (in parallel) into a handle that can read and write blobs.
    /// A damaged index file is skipped with a notice: the blobs it alone lists become
    /// unavailable, everything else stays usable. (`prune` reads index files strictly and
    /// uses [`Repository::indexed_from`].)
    ///
    /// Commands that lock the repository call this after taking the lock, so the index is
    /// that moment's: a prune that ran before may have replaced index files and packs.
    pub fn indexed(&self) -> Result<IndexedRepo> {
        let (index, seen) = read_index_leniently(self)?;
        Ok(IndexedRepo {
            repo: self.clone(),
            index: RwLock::new(index),
            index_seen: Mutex::new(seen),
        })
    }

    /// A handle whose index is `index`, not read from the repository: a write-only host's
    /// (its own uploads and the owner's verified list, FORMAT.md §13.4).
    pub fn indexed_with(&self, index: Index) -> IndexedRepo {
        IndexedRepo {
            repo: self.clone(),
            index: RwLock::new(index),
            index_seen: Mutex::new(IdSet::default()),
        }
    }

    /// A handle whose index is made of `files`, index files the caller already read.
    pub fn indexed_from(&self, files: &[(Id, IndexFile)]) -> IndexedRepo {
        let mut index = Index::default();
        index.add_files(files.iter().map(|(_, f)| f));
        IndexedRepo {
            repo: self.clone(),
            index: RwLock::new(index),
            index_seen: Mutex::new(files.iter().map(|(id, _)| *id).collect()),
        }
    }
}

/// Read every index file, skipping damaged ones with a notice. Returns the index and the IDs
/// of every index file listed (the damaged ones too: they were seen).
fn read_index_leniently(repo: &Repository) -> Result<(Index, IdSet)> {
    let ids = repo.list_ids(FileType::Index)?;
    let files: Vec<(Id, Result<IndexFile>)> = ids
        .par_iter()
        .map(|id| (*id, repo.load_sealed::<IndexFile>(FileType::Index, id)))
        .collect();
    let mut good = Vec::with_capacity(files.len());
    for (_, f) in files {
        match f {
            Ok(f) => good.push(f),
            Err(e) if e.is_integrity() => repo.notice(&format!(
                "{e}; skipped (blobs listed only there are unavailable; `lifeboat verify` shows the extent)"
            )),
            Err(e) => return Err(e),
        }
    }
    let mut index = Index::default();
    index.add_owned_files(good);
    Ok((index, ids.into_iter().collect()))
}

impl IndexedRepo {
    /// The opened repository underneath (what `Deref` gives, named).
    pub fn repository(&self) -> &Repository {
        &self.repo
    }

    pub fn index(&self) -> RwLockReadGuard<'_, Index> {
        self.index.read().expect("index lock")
    }

    /// Writers add the blobs they stored.
    pub(super) fn index_mut(&self) -> RwLockWriteGuard<'_, Index> {
        self.index.write().expect("index lock")
    }

    /// Read the index files again: a fresh view (another process's prune may have replaced
    /// index files and packs since this handle looked, and stale entries would point into
    /// deleted packs).
    fn reload(&self) -> Result<()> {
        let (index, seen) = read_index_leniently(&self.repo)?;
        *self.index_mut() = index;
        self.index_seen
            .lock()
            .expect("index files seen")
            .extend(seen);
        Ok(())
    }

    /// Where a blob is stored, checking that it is stored as `kind`.
    pub fn locate(&self, kind: BlobKind, id: &Id) -> Result<Location> {
        let loc = self.index().get(id).ok_or(Error::MissingBlob(*id))?;
        if loc.kind != kind {
            return Err(Error::corrupt(
                format!("blob {id}"),
                format!(
                    "indexed as {} but used as {}",
                    loc.kind.label(),
                    kind.label()
                ),
            ));
        }
        Ok(loc)
    }

    /// Read, authenticate, decompress and verify one blob.
    pub fn read_blob(&self, kind: BlobKind, id: &Id) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.read_blob_into(kind, id, &mut out)?;
        Ok(out)
    }

    /// Like [`IndexedRepo::read_blob`], into `out` (replacing what it held), so a reader that
    /// loops over blobs reuses one buffer.
    /// A copy that fails to authenticate gives way to the next copy the index knows (another
    /// pack, another run's claim), so one damaged or forged copy hides no good one.
    pub fn read_blob_into(&self, kind: BlobKind, id: &Id, out: &mut Vec<u8>) -> Result<()> {
        let first = self.locate(kind, id)?;
        let read = |loc: &Location, out: &mut Vec<u8>| {
            self.read_packed(&loc.pack, u64::from(loc.offset), loc.stored_len as usize)
                .and_then(|mut sealed| self.open_located(kind, id, loc, &mut sealed, out))
        };
        let failure = match read(&first, out) {
            Err(e) if e.is_integrity() => e,
            done => return done,
        };
        // Only now are the other copies looked up: the usual read costs no more than before.
        let others: Vec<Location> = self
            .index()
            .copies(id)
            .filter(|l| *l != first && l.kind == kind)
            .collect();
        for loc in &others {
            self.notice(&format!("{failure}; another copy is read"));
            match read(loc, out) {
                Ok(()) => return Ok(()),
                Err(e) if e.is_integrity() => {}
                Err(e) => return Err(e),
            }
        }
        Err(failure)
    }

    /// Open a blob read from `loc` (a location this index gave), with the keys of the run
    /// that sealed its pack.
    pub fn open_located(
        &self,
        kind: BlobKind,
        id: &Id,
        loc: &Location,
        sealed: &mut [u8],
        out: &mut Vec<u8>,
    ) -> Result<()> {
        let run = self.index().run_key(loc).copied();
        self.open_blob_into(kind, id, loc, run.as_ref(), sealed, out)
    }

    /// Start writing blobs, deduplicated against this index.
    pub fn pack_writer(&self) -> PackWriter<'_> {
        PackWriter::new(self)
    }

    /// Before a new snapshot file refers to blobs it found in the index rather than wrote:
    /// make sure a prune that ran meanwhile did not take them away (FORMAT.md §11).
    ///
    /// Index files are only ever deleted by a prune, so when every file this handle ever read
    /// is still there, no prune has condemned anything since and every blob found then is
    /// still in a live pack. Otherwise the index is read again
    /// and each of `blobs` is checked: one that now lives only in a condemned pack is copied
    /// into a new pack (so no later prune deletes it), and one that is gone fails the commit.
    pub fn secure_references(&self, blobs: impl Fn() -> Result<IdSet>) -> Result<usize> {
        let now: IdSet = self.list_ids(FileType::Index)?.into_iter().collect();
        let untouched = self
            .index_seen
            .lock()
            .expect("index files seen")
            .iter()
            .all(|id| now.contains(id));
        if untouched {
            return Ok(0);
        }
        self.reload()?;
        // Reading the new snapshot's trees fails when a prune deleted a tree blob it reused.
        let blobs = blobs().map_err(|e| {
            Error::Invalid(format!(
                "data this run found already stored and reused was deleted by a prune that ran meanwhile ({e}); nothing was saved: run it again"
            ))
        })?;
        let mut copy = Vec::new();
        for id in &blobs {
            let index = self.index();
            match index.get(id) {
                Some(loc) if index.is_condemned(&loc.pack) => copy.push((*id, loc)),
                Some(_) => {}
                None => {
                    return Err(Error::Invalid(format!(
                        "data this run found already stored and reused was deleted by a prune that ran meanwhile (blob {id}); nothing was saved: run it again"
                    )));
                }
            }
        }
        if copy.is_empty() {
            return Ok(0);
        }
        let writer = self.pack_writer();
        for (id, loc) in &copy {
            let sealed =
                self.read_packed(&loc.pack, u64::from(loc.offset), loc.stored_len as usize)?;
            let run = self.index().run_key(loc).copied();
            let sealed = self.reseal_blob(loc.kind, id, loc, run.as_ref(), &sealed)?;
            writer.add(loc.kind, *id, loc.raw_len, sealed)?;
        }
        writer.finish()?;
        Ok(copy.len())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::crypto::KdfParams;
    use crate::repo::{Backend, LocalBackend};

    #[test]
    fn read_blob_into_reuses_the_buffer_and_checks_the_kind() {
        let d = tempfile::tempdir().unwrap();
        let b: Arc<dyn Backend> = Arc::new(LocalBackend::new(d.path().join("r")));
        let r = Repository::init(b.clone(), b"pw", KdfParams::new(8192, 1, 1))
            .unwrap()
            .indexed()
            .unwrap();
        let w = r.pack_writer();
        let long = w.store(BlobKind::Data, &[7u8; 5000], 0).unwrap();
        let short = w.store(BlobKind::Data, b"short", 0).unwrap();
        w.finish().unwrap();
        let r = Repository::open(b, b"pw").unwrap().indexed().unwrap();
        let mut buf = Vec::new();
        r.read_blob_into(BlobKind::Data, &long, &mut buf).unwrap();
        assert_eq!(buf, [7u8; 5000]);
        let cap = buf.capacity();
        r.read_blob_into(BlobKind::Data, &short, &mut buf).unwrap();
        assert_eq!(buf, b"short");
        assert_eq!(buf.capacity(), cap, "the buffer is reused");
        assert!(r.read_blob_into(BlobKind::Tree, &short, &mut buf).is_err());
        assert!(matches!(
            r.read_blob(BlobKind::Data, &Id::random()),
            Err(Error::MissingBlob(_))
        ));
    }
}
