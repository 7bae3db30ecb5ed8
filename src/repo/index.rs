//! The index: for every blob, the pack and byte range that hold it (FORMAT.md §7). Kept in
//! memory as a hash map; stored as sealed index files that are only ever added or replaced
//! whole (by prune).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use serde::{Deserialize, Serialize};

use super::pack::BlobKind;
use crate::id::Id;

/// Where a blob is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Location {
    pub pack: Id,
    pub kind: BlobKind,
    pub offset: u32,
    pub stored_len: u32,
    pub raw_len: u32,
}

/// IDs are uniformly random (keyed hashes or CSPRNG output), so their first 8 bytes are already
/// a perfect hash; SipHash over 32 bytes would only cost time.
#[derive(Default)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.0 = self.0.rotate_left(5) ^ u64::from_le_bytes(b);
        }
    }
    fn write_usize(&mut self, _: usize) {}
}

pub type IdMap<V> = HashMap<Id, V, BuildHasherDefault<IdHasher>>;
pub type IdSet = std::collections::HashSet<Id, BuildHasherDefault<IdHasher>>;

#[derive(Default, Debug)]
pub struct Index {
    blobs: IdMap<Location>,
}

impl Index {
    pub fn insert(&mut self, id: Id, loc: Location) {
        self.blobs.entry(id).or_insert(loc);
    }

    pub fn get(&self, id: &Id) -> Option<&Location> {
        self.blobs.get(id)
    }

    pub fn contains(&self, id: &Id) -> bool {
        self.blobs.contains_key(id)
    }

    pub fn len(&self) -> usize {
        self.blobs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.blobs.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Id, &Location)> {
        self.blobs.iter()
    }

    pub fn add_file(&mut self, f: &IndexFile) {
        for p in &f.packs {
            for b in &p.blobs {
                self.insert(
                    b.1,
                    Location {
                        pack: p.id,
                        kind: b.0,
                        offset: b.2,
                        stored_len: b.3,
                        raw_len: b.4,
                    },
                );
            }
        }
    }
}

/// The CBOR content of one index file.
#[derive(Serialize, Deserialize, Debug, Default, Clone)]
pub struct IndexFile {
    pub packs: Vec<IndexPack>,
}

/// `[kind, id, offset, stored_len, raw_len]` of one blob in an index file.
pub type IndexBlob = (BlobKind, Id, u32, u32, u32);

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct IndexPack {
    pub id: Id,
    pub blobs: Vec<IndexBlob>,
}

impl IndexFile {
    pub fn blob_count(&self) -> usize {
        self.packs.iter().map(|p| p.blobs.len()).sum()
    }
}
