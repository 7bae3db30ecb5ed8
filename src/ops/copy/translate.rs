//! The one ID translation of a copy: source blob IDs to destination blob IDs.
//!
//! A blob's ID is keyed by its repository's secret, so the same chunk has another ID in the
//! destination; the only way to learn it is to hash the plaintext with the destination's key.
//! [`ChunkMap`] remembers every translation made (or learned from an earlier copy, see
//! [`ChunkMap::learn`]) so a chunk is read from the source at most once, and the source data of
//! a chunk the destination already holds is not read at all.
//!
//! Blob IDs appear in two places: the `content.chunks` of file entries (data blobs), and a
//! snapshot's lists of tree blobs ([`Snapshot::trees_mut`]: the files' tree and the deployment's).
//! A tree stream is translated as a whole: its entries are read from the source (validated by
//! [`TreeReader`]), their chunks translated, and the stream written again in the destination
//! (cut by the destination's tree chunker), which gives the new tree blob list. Everything
//! else in an entry, and in the snapshot description, is kept as it is.

use rayon::prelude::*;

use super::{Side, named};
use crate::error::{Error, Result};
use crate::id::Id;
use crate::progress::Progress;
use crate::repo::index::{IdMap, IdSet};
use crate::repo::{BlobKind, IndexedRepo, PackWriter};
use crate::snapshot::entry::{Entry, Kind};
use crate::snapshot::manifest::Snapshot;
use crate::snapshot::tree::{TreeReader, TreeWriter};

/// Blobs read from the source at a time (in parallel), at most.
const WINDOW_BLOBS: usize = 1024;
/// Their bytes, at most (more blobs than this are not waited for).
const WINDOW_BYTES: u64 = 256 << 20;
/// Entries held while their chunks are read, at most.
const WINDOW_ENTRIES: usize = 16 * 1024;

/// What translating moved: data blobs read from the source (and their bytes).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Moved {
    pub blobs: u64,
    pub bytes: u64,
}

/// Source data blob ID -> destination data blob ID, for every chunk translated or learned.
#[derive(Debug, Default)]
pub struct ChunkMap {
    map: IdMap<Id>,
}

impl ChunkMap {
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The destination ID of a source chunk, when it is known and the destination holds it in
    /// a live pack (or `writer` is storing it): then it need not be read again.
    fn known(&self, id: &Id, writer: Option<&PackWriter<'_>>, dst: &IndexedRepo) -> Option<Id> {
        let d = self.map.get(id)?;
        let held = match writer {
            Some(w) => w.is_known(d),
            None => dst.index().is_live(d),
        };
        held.then_some(*d)
    }

    /// Learn translations from a snapshot the destination already holds as a copy of `from`:
    /// the two tree streams are walked side by side, and for each pair of file entries that
    /// agree (same path, kind, size, SHA-256, sparse extents, number of chunks, and each pair
    /// of chunks of the same length in both indexes) the chunks are paired in order. A copy
    /// keeps the source's chunk boundaries, so for a genuine copy every pair is exact; a pair
    /// of entries that disagree ends the walk of that tree. Nothing is read but tree blobs.
    /// Returns the number of chunks learned; a tree that cannot be read teaches nothing.
    pub fn learn(
        &mut self,
        src: &IndexedRepo,
        from: &Snapshot,
        dst: &IndexedRepo,
        copy: &Snapshot,
    ) -> u64 {
        let trees_src: Vec<&[Id]> = from.trees().collect();
        let trees_dst: Vec<&[Id]> = copy.trees().collect();
        if trees_src.len() != trees_dst.len() {
            return 0;
        }
        let mut learned = 0;
        for (ts, td) in trees_src.into_iter().zip(trees_dst) {
            for pair in TreeReader::new(src, ts).zip(TreeReader::new(dst, td)) {
                let (Ok(a), Ok(b)) = pair else { break };
                match self.pair_entries(src, &a, dst, &b) {
                    Some(n) => learned += n,
                    None => break,
                }
            }
        }
        learned
    }

    /// Pair the chunks of two entries that agree; `None` when they do not.
    fn pair_entries(
        &mut self,
        src: &IndexedRepo,
        a: &Entry,
        dst: &IndexedRepo,
        b: &Entry,
    ) -> Option<u64> {
        if a.path != b.path || a.kind != b.kind || a.size != b.size {
            return None;
        }
        let (ca, cb) = match (&a.content, &b.content) {
            (None, None) => return Some(0),
            (Some(ca), Some(cb)) => (ca, cb),
            _ => return None,
        };
        if ca.sha256 != cb.sha256 || ca.extents != cb.extents || ca.chunks.len() != cb.chunks.len()
        {
            return None;
        }
        let mut pairs = Vec::with_capacity(ca.chunks.len());
        {
            let (is, id) = (src.index(), dst.index());
            for (x, y) in ca.chunks.iter().zip(&cb.chunks) {
                match (is.get(x), id.get(y)) {
                    (Some(lx), Some(ly)) if lx.raw_len == ly.raw_len => pairs.push((*x, *y)),
                    (Some(_), Some(_)) => return None,
                    // Missing on either side: nothing to learn from this chunk.
                    _ => {}
                }
            }
        }
        let n = pairs.len() as u64;
        self.map.extend(pairs);
        Some(n)
    }

    /// The data blobs of `snapshot`'s trees that a copy would read from the source (not known
    /// in the destination, and not in `planned` yet, which this adds them to), with their
    /// bytes, and the number of file entries.
    pub fn plan(
        &self,
        src: &IndexedRepo,
        dst: &IndexedRepo,
        snapshot: &Snapshot,
        planned: &mut IdSet,
    ) -> Result<(Moved, u64)> {
        let mut to_read = Moved::default();
        let mut files = 0;
        for tree in snapshot.trees() {
            for e in TreeReader::new(src, tree) {
                crate::interrupt::check()?;
                let e = e.map_err(|e| named(Side::Source, src, e))?;
                let Some(c) = &e.content else { continue };
                files += 1;
                for id in &c.chunks {
                    if self.known(id, None, dst).is_some() || !planned.insert(*id) {
                        continue;
                    }
                    let loc = src
                        .locate(BlobKind::Data, id)
                        .map_err(|e| named(Side::Source, src, e))?;
                    to_read.blobs += 1;
                    to_read.bytes += u64::from(loc.raw_len);
                }
            }
        }
        Ok((to_read, files))
    }

    /// Translate one tree stream of the source into the destination (through `writer`):
    /// returns the destination's tree blob IDs and what was read from the source.
    pub fn translate_tree(
        &mut self,
        src: &IndexedRepo,
        writer: &PackWriter<'_>,
        tree: &[Id],
        progress: &dyn Progress,
    ) -> Result<(Vec<Id>, Moved)> {
        let mut t = Tree {
            map: self,
            src,
            writer,
            progress,
            tw: TreeWriter::new(writer),
            window: Vec::new(),
            pending: Vec::new(),
            pending_set: IdSet::default(),
            pending_bytes: 0,
            moved: Moved::default(),
        };
        for e in TreeReader::new(src, tree) {
            crate::interrupt::check()?;
            let e = e.map_err(|e| named(Side::Source, src, e))?;
            t.add(e)?;
        }
        t.flush()?;
        let moved = t.moved;
        let ids = t.tw.finish().map_err(|e| to_destination(writer, e))?;
        Ok((ids, moved))
    }
}

fn to_destination(writer: &PackWriter<'_>, e: Error) -> Error {
    named(Side::Destination, writer.repo(), e)
}

/// A chunk to read from the source: its ID and its offset in its file's data (which aligns
/// the destination's float byte-grouping filter as a snapshot would).
struct Pending {
    id: Id,
    offset: u64,
}

/// One tree stream being translated: entries wait in a window while the chunks they need
/// are read from the source and stored in the destination in parallel.
struct Tree<'a, 'w, 'r> {
    map: &'a mut ChunkMap,
    src: &'a IndexedRepo,
    writer: &'w PackWriter<'r>,
    progress: &'a dyn Progress,
    tw: TreeWriter<'w, 'r>,
    window: Vec<Entry>,
    pending: Vec<Pending>,
    pending_set: IdSet,
    pending_bytes: u64,
    moved: Moved,
}

impl Tree<'_, '_, '_> {
    fn add(&mut self, e: Entry) -> Result<()> {
        if let Some(c) = &e.content {
            let waiting = self.pending.len();
            let mut offset = 0u64;
            for id in &c.chunks {
                let loc = self
                    .src
                    .locate(BlobKind::Data, id)
                    .map_err(|e| named(Side::Source, self.src, e))?;
                if self
                    .map
                    .known(id, Some(self.writer), self.writer.repo())
                    .is_none()
                    && self.pending_set.insert(*id)
                {
                    self.pending.push(Pending { id: *id, offset });
                    self.pending_bytes += u64::from(loc.raw_len);
                }
                offset += u64::from(loc.raw_len);
            }
            if self.pending.len() > waiting {
                self.progress.reading(&e.path_str());
            }
        }
        self.window.push(e);
        if self.pending.len() >= WINDOW_BLOBS
            || self.pending_bytes >= WINDOW_BYTES
            || self.window.len() >= WINDOW_ENTRIES
        {
            self.flush()?;
        }
        Ok(())
    }

    /// Read the pending chunks from the source and store them in the destination (in
    /// parallel), then write the waiting entries with their translated chunks.
    fn flush(&mut self) -> Result<()> {
        let (src, writer, progress) = (self.src, self.writer, self.progress);
        let done: Vec<(Id, Id, u64)> = self
            .pending
            .par_iter()
            .map(|p| -> Result<(Id, Id, u64)> {
                crate::interrupt::check()?;
                let data = src
                    .read_blob(BlobKind::Data, &p.id)
                    .map_err(|e| named(Side::Source, src, e))?;
                let to = writer
                    .store(BlobKind::Data, &data, p.offset)
                    .map_err(|e| to_destination(writer, e))?;
                progress.advance(data.len() as u64);
                Ok((p.id, to, data.len() as u64))
            })
            .collect::<Result<_>>()?;
        for (from, to, len) in done {
            self.map.map.insert(from, to);
            self.moved.blobs += 1;
            self.moved.bytes += len;
        }
        self.pending.clear();
        self.pending_set.clear();
        self.pending_bytes = 0;
        for mut e in self.window.drain(..) {
            if let Some(c) = &mut e.content {
                for id in &mut c.chunks {
                    *id = *self.map.map.get(id).ok_or_else(|| {
                        Error::Internal(format!("copy: chunk {id} was not translated"))
                    })?;
                }
            }
            if e.kind == Kind::File {
                progress.item(&e.path_str());
            }
            self.tw.push(&e).map_err(|e| to_destination(writer, e))?;
        }
        Ok(())
    }
}
