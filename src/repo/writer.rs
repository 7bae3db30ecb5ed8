//! Storing new blobs: deduplication against the index, packing, and index checkpoints.
//!
//! A [`PackWriter`] is shared by all worker threads of one command. Workers `claim` a blob ID
//! (only the first claimant stores it) and `add` the sealed blob. Full packs go to flusher
//! threads that write and fsync them, so waiting for the disk never idles a CPU. Every few
//! packs an index file is written, so an interrupted run leaves reusable data behind, never a
//! broken repository.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crossbeam_channel::{Sender, bounded};

use super::backend::FileType;
use super::index::{IdSet, IndexFile, IndexPack};
use super::pack::{BlobKind, PackBuilder};
use super::{Capability, IndexedRepo};
use crate::error::{Error, Result};
use crate::id::Id;

/// Packs per index checkpoint.
const CHECKPOINT_PACKS: usize = 32;
/// Blobs per index checkpoint (keeps index files small with many tiny files).
const CHECKPOINT_BLOBS: usize = 100_000;
/// Blobs per pack, whatever their size.
const MAX_PACK_BLOBS: usize = 50_000;

#[derive(Debug, Default, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct WriteStats {
    /// New blobs stored.
    pub blobs: u64,
    /// Their plaintext bytes.
    pub raw_bytes: u64,
    /// Their stored (compressed, sealed) bytes.
    pub stored_bytes: u64,
    pub packs: u64,
}

/// State shared with the flusher threads.
#[derive(Default)]
struct Flushed {
    unindexed: Mutex<IndexFile>,
    written: Mutex<Vec<IndexPack>>,
    error: Mutex<Option<Error>>,
    packs: AtomicU64,
}

struct FullPack {
    id: Id,
    parts: Vec<Vec<u8>>,
    entry: IndexPack,
}

pub struct PackWriter<'r> {
    repo: &'r IndexedRepo,
    open: Mutex<[Option<PackBuilder>; 2]>,
    claimed: Mutex<IdSet>,
    flushed: Arc<Flushed>,
    to_flush: Mutex<Option<Sender<FullPack>>>,
    flushers: Mutex<Vec<JoinHandle<()>>>,
    index_files: Mutex<Vec<Id>>,
    blobs: AtomicU64,
    raw_bytes: AtomicU64,
    stored_bytes: AtomicU64,
    /// Blobs found in the index rather than written, when asked to keep them (a write-only
    /// host's commit check, FORMAT.md §13.4).
    reused: Option<Mutex<IdSet>>,
}

impl<'r> PackWriter<'r> {
    /// A writer deduplicating against `repo`'s index. Where the handle may not write (see
    /// [`super::Repository::require`]), the first blob added fails.
    pub fn new(repo: &'r IndexedRepo) -> Self {
        let flushed = Arc::new(Flushed::default());
        // One thread per write the backend takes at once (2 for a disk, more for a network
        // store); the queue holds one more pack, so memory stays at (flushers + 1) packs.
        let (tx, rx) = bounded::<FullPack>(1);
        let flushers = (0..repo.backend().concurrency())
            .map(|i| {
                let (rx, flushed, backend) = (rx.clone(), flushed.clone(), repo.backend().clone());
                std::thread::Builder::new()
                    .name(format!("flush-{i}"))
                    .spawn(move || {
                        for p in rx {
                            if flushed.error.lock().expect("error").is_some() {
                                continue;
                            }
                            match backend.write_parts(FileType::Pack, &p.id.to_hex(), p.parts) {
                                Ok(()) => {
                                    flushed.packs.fetch_add(1, Ordering::Relaxed);
                                    flushed
                                        .written
                                        .lock()
                                        .expect("written")
                                        .push(p.entry.clone());
                                    flushed
                                        .unindexed
                                        .lock()
                                        .expect("unindexed")
                                        .packs
                                        .push(p.entry);
                                }
                                Err(e) => {
                                    let mut slot = flushed.error.lock().expect("error");
                                    slot.get_or_insert(Error::io(format!("pack {}", p.id), e));
                                }
                            }
                        }
                    })
                    .expect("spawn pack flusher")
            })
            .collect();
        PackWriter {
            repo,
            open: Mutex::new([None, None]),
            claimed: Mutex::new(IdSet::default()),
            flushed,
            to_flush: Mutex::new(Some(tx)),
            flushers: Mutex::new(flushers),
            index_files: Mutex::new(Vec::new()),
            blobs: AtomicU64::new(0),
            raw_bytes: AtomicU64::new(0),
            stored_bytes: AtomicU64::new(0),
            reused: None,
        }
    }

    /// Keep the IDs of the blobs found in the index instead of written ([`Self::reused`]).
    pub fn track_reuse(mut self) -> Self {
        self.reused = Some(Mutex::new(IdSet::default()));
        self
    }

    /// The blobs found in the index instead of written (empty unless [`Self::track_reuse`]).
    pub fn reused(&self) -> IdSet {
        self.reused
            .as_ref()
            .map(|r| r.lock().expect("reused").clone())
            .unwrap_or_default()
    }

    fn note_reuse(&self, id: &Id) {
        if let Some(r) = &self.reused {
            r.lock().expect("reused").insert(*id);
        }
    }

    fn check_flushed(&self) -> Result<()> {
        match self.flushed.error.lock().expect("error").take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    pub fn repo(&self) -> &'r IndexedRepo {
        self.repo
    }

    /// True if the caller must store this blob: it is neither in a live pack of the index
    /// nor claimed by another worker of this writer.
    pub fn claim(&self, id: &Id) -> bool {
        if self.repo.index().is_live(id) {
            self.note_reuse(id);
            return false;
        }
        self.claimed.lock().expect("claims").insert(*id)
    }

    /// Whether a blob is already stored in a live pack or being stored.
    pub fn is_known(&self, id: &Id) -> bool {
        if self.repo.index().is_live(id) {
            self.note_reuse(id);
            return true;
        }
        self.claimed.lock().expect("claims").contains(id)
    }

    /// Hash, deduplicate, seal and store one chunk; returns its ID.
    pub fn store(&self, kind: BlobKind, data: &[u8], offset: u64) -> Result<Id> {
        let id = self.repo.keys().chunk_id(data);
        if self.claim(&id) {
            let sealed = self.repo.seal_blob(kind, &id, data, offset);
            self.add(kind, id, data.len() as u32, sealed)?;
        }
        Ok(id)
    }

    /// Add a sealed blob. Writes the pack when it is full.
    pub fn add(&self, kind: BlobKind, id: Id, raw_len: u32, sealed: Vec<u8>) -> Result<()> {
        self.repo.require(Capability::Write)?;
        self.blobs.fetch_add(1, Ordering::Relaxed);
        self.raw_bytes
            .fetch_add(u64::from(raw_len), Ordering::Relaxed);
        self.stored_bytes
            .fetch_add(sealed.len() as u64, Ordering::Relaxed);
        let full = {
            let mut open = self.open.lock().expect("open packs");
            let slot = &mut open[kind as usize];
            let target = self.repo.config().pack_size as usize;
            let b = slot.get_or_insert_with(|| PackBuilder::new(kind));
            b.add(id, raw_len, sealed);
            if b.len() >= target || b.blob_count() >= MAX_PACK_BLOBS {
                slot.take()
            } else {
                None
            }
        };
        match full {
            Some(b) => self.write_pack(b),
            None => Ok(()),
        }
    }

    /// Seal a full pack and hand it to a flusher; write an index checkpoint when due.
    fn write_pack(&self, b: PackBuilder) -> Result<()> {
        self.check_flushed()?;
        let (id, parts, located) = b.finish(self.repo.keys());
        let entry = IndexPack {
            id,
            blobs: located
                .iter()
                .map(|(e, off)| (e.kind, e.id, *off, e.stored_len, e.raw_len))
                .collect(),
            condemned: None,
            run: self
                .repo
                .keys()
                .run_public()
                .map(|e| serde_bytes::ByteBuf::from(e.to_vec())),
        };
        let tx = self.to_flush.lock().expect("flush queue").clone();
        match tx {
            Some(tx) if tx.send(FullPack { id, parts, entry }).is_ok() => {}
            _ => return Err(Error::Internal("pack flushers stopped".into())),
        }
        let checkpoint = {
            let mut u = self.flushed.unindexed.lock().expect("unindexed");
            if u.packs.len() >= CHECKPOINT_PACKS || u.blob_count() >= CHECKPOINT_BLOBS {
                Some(std::mem::take(&mut *u))
            } else {
                None
            }
        };
        if let Some(f) = checkpoint {
            self.write_index(&f)?;
        }
        Ok(())
    }

    /// Wait for every handed-over pack to be on disk.
    fn drain_flushers(&self) -> Result<()> {
        self.to_flush.lock().expect("flush queue").take();
        for h in self.flushers.lock().expect("flushers").drain(..) {
            if h.join().is_err() {
                return Err(Error::Internal("a pack flusher panicked".into()));
            }
        }
        self.check_flushed()
    }

    fn write_index(&self, f: &IndexFile) -> Result<()> {
        let id = self.repo.save_sealed(FileType::Index, f)?;
        self.index_files.lock().expect("index files").push(id);
        Ok(())
    }

    /// Write the open packs and the last index file; make everything visible in the
    /// repository's in-memory index.
    pub fn finish(self) -> Result<Finished> {
        let open: Vec<PackBuilder> = {
            let mut o = self.open.lock().expect("open packs");
            o.iter_mut()
                .filter_map(Option::take)
                .filter(|b| !b.is_empty())
                .collect()
        };
        for b in open {
            self.write_pack(b)?;
        }
        self.drain_flushers()?;
        let rest = std::mem::take(&mut *self.flushed.unindexed.lock().expect("unindexed"));
        if !rest.packs.is_empty() {
            self.write_index(&rest)?;
        }
        // Nothing is claimed any more: the claims (an ID for every new blob) go before the
        // index takes the new blobs, so the two are never held at once.
        drop(std::mem::take(&mut *self.claimed.lock().expect("claims")));
        self.repo
            .index_mut()
            .add_packs(&self.flushed.written.lock().expect("written"));
        let stats = WriteStats {
            blobs: self.blobs.load(Ordering::Relaxed),
            raw_bytes: self.raw_bytes.load(Ordering::Relaxed),
            stored_bytes: self.stored_bytes.load(Ordering::Relaxed),
            packs: self.flushed.packs.load(Ordering::Relaxed),
        };
        let index_files = std::mem::take(&mut *self.index_files.lock().expect("index files"));
        let packs = std::mem::take(&mut *self.flushed.written.lock().expect("written"));
        Ok(Finished {
            stats,
            index_files,
            packs,
        })
    }
}

impl Drop for PackWriter<'_> {
    /// An abandoned writer (error path) still waits for its flushers, so no thread outlives it.
    fn drop(&mut self) {
        let _ = self.drain_flushers();
    }
}

/// What a finished [`PackWriter`] wrote.
#[derive(Debug)]
pub struct Finished {
    pub stats: WriteStats,
    /// Index files written (checkpoints and the last one).
    pub index_files: Vec<Id>,
    /// Every pack written, with its blobs.
    pub packs: Vec<IndexPack>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::KdfParams;
    use crate::repo::{Backend, LocalBackend, Repository};
    use std::sync::Arc;

    #[test]
    fn store_dedups_and_reads_back() {
        let d = tempfile::tempdir().unwrap();
        let b: Arc<dyn Backend> = Arc::new(LocalBackend::new(d.path().join("r")));
        let r = Repository::init(b.clone(), b"pw", KdfParams::new(8192, 1, 1))
            .unwrap()
            .indexed()
            .unwrap();
        let w = r.pack_writer();
        let a = w.store(BlobKind::Data, b"hello world", 0).unwrap();
        let a2 = w.store(BlobKind::Data, b"hello world", 5).unwrap();
        let t = w.store(BlobKind::Tree, b"tree bytes", 0).unwrap();
        assert_eq!(a, a2);
        let f = w.finish().unwrap();
        assert_eq!(f.stats.blobs, 2);
        assert_eq!(f.stats.packs, 2, "kinds never share a pack");
        assert_eq!(f.index_files.len(), 1);
        assert_eq!(f.packs.len(), 2);
        assert_eq!(r.read_blob(BlobKind::Data, &a).unwrap(), b"hello world");
        assert!(r.read_blob(BlobKind::Tree, &a).is_err(), "role is bound");
        let r2 = Repository::open(b, b"pw").unwrap().indexed().unwrap();
        assert_eq!(r2.read_blob(BlobKind::Tree, &t).unwrap(), b"tree bytes");
        let loc = r2.locate(BlobKind::Data, &a).unwrap();
        assert_eq!(r2.read_pack_header(&loc.pack).unwrap().entries.len(), 1);
    }
}
