//! The index: for every blob, the pack and byte range that hold it (FORMAT.md §7). Kept in
//! memory as a hash map; stored as sealed index files that are only ever added or replaced
//! whole (by prune).
//!
//! A pack can be *condemned*: a prune found nothing referencing it and marked it for deletion
//! by a later prune, after a grace period (FORMAT.md §11). Its blobs can still be read (a
//! snapshot that started before the prune may have deduplicated against them), but new
//! writes never deduplicate against them.

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
    /// The run that sealed the pack (FORMAT.md §13.3), numbered by the index that holds this
    /// location ([`Index::run_key`]); [`Location::NO_RUN`]: a version 1 pack.
    pub run: u32,
}

impl Location {
    pub const NO_RUN: u32 = 0;
}

/// Copies of one blob beyond the first that an index keeps (a hostile index file could list
/// any number; a reader tries these when the first copy fails).
const MAX_OTHER_COPIES: usize = 4;

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
    /// Further copies of a blob listed in other packs (or claimed for another run): tried when
    /// the first fails to authenticate, so one damaged or forged copy does not hide a good one.
    others: IdMap<Vec<Location>>,
    /// Packs a prune marked for deletion.
    condemned: IdSet,
    /// Public keys of the runs that sealed packs: `Location::run` n is `runs[n - 1]`.
    runs: Vec<[u8; 32]>,
    run_numbers: HashMap<[u8; 32], u32>,
}

impl Index {
    /// Record where a blob is. The first copy wins, except that a copy in a live pack
    /// replaces one in a condemned pack.
    pub fn insert(&mut self, id: Id, loc: Location) {
        match self.blobs.entry(id) {
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(loc);
            }
            std::collections::hash_map::Entry::Occupied(mut o) => {
                if *o.get() == loc {
                    return;
                }
                let other = if self.condemned.contains(&o.get().pack)
                    && !self.condemned.contains(&loc.pack)
                {
                    o.insert(loc)
                } else {
                    loc
                };
                let others = self.others.entry(id).or_default();
                if others.len() < MAX_OTHER_COPIES && !others.contains(&other) {
                    others.push(other);
                }
            }
        }
    }

    /// Every known copy of a blob, the preferred one first.
    pub fn copies(&self, id: &Id) -> impl Iterator<Item = &Location> {
        self.blobs
            .get(id)
            .into_iter()
            .chain(self.others.get(id).into_iter().flatten())
    }

    /// The number [`Location::run`] gives the run with public key `ephemeral`.
    pub fn run_number(&mut self, ephemeral: &[u8; 32]) -> u32 {
        if let Some(n) = self.run_numbers.get(ephemeral) {
            return *n;
        }
        self.runs.push(*ephemeral);
        let n = self.runs.len() as u32;
        self.run_numbers.insert(*ephemeral, n);
        n
    }

    /// The public key of the run that sealed the pack `loc` is in (`None`: version 1).
    pub fn run_key(&self, loc: &Location) -> Option<&[u8; 32]> {
        match loc.run {
            Location::NO_RUN => None,
            n => self.runs.get(n as usize - 1),
        }
    }

    /// Where a blob can be read, live or condemned.
    pub fn get(&self, id: &Id) -> Option<&Location> {
        self.blobs.get(id)
    }

    /// Whether a blob can be read (from a live or a condemned pack).
    pub fn contains(&self, id: &Id) -> bool {
        self.blobs.contains_key(id)
    }

    /// Whether a blob is in a live pack: what a writer may deduplicate against.
    pub fn is_live(&self, id: &Id) -> bool {
        self.blobs
            .get(id)
            .is_some_and(|l| !self.condemned.contains(&l.pack))
    }

    /// Whether a prune marked this pack for deletion.
    pub fn is_condemned(&self, pack: &Id) -> bool {
        self.condemned.contains(pack)
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

    /// Add one index file (see [`Index::add_files`]).
    pub fn add_file(&mut self, f: &IndexFile) {
        self.add_files([f]);
    }

    /// Add index files. A pack condemned in any file is condemned: an index file that lists
    /// it as live is one a prune has replaced and not yet deleted. Condemnations are taken
    /// first, so a live copy of a blob wins whatever the order of the files.
    pub fn add_files<'f>(&mut self, files: impl IntoIterator<Item = &'f IndexFile> + Clone) {
        for f in files.clone() {
            for p in f.packs.iter().filter(|p| p.condemned.is_some()) {
                self.condemned.insert(p.id);
            }
        }
        for f in files {
            self.insert_file(f);
        }
    }

    fn insert_file(&mut self, f: &IndexFile) {
        for p in &f.packs {
            let run = match p.run_key() {
                Some(e) => self.run_number(&e),
                None => Location::NO_RUN,
            };
            for b in &p.blobs {
                self.insert(
                    b.1,
                    Location {
                        pack: p.id,
                        kind: b.0,
                        offset: b.2,
                        stored_len: b.3,
                        raw_len: b.4,
                        run,
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
    /// When a prune marked the pack for deletion (RFC 3339); absent for a live pack.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condemned: Option<String>,
    /// The public key of the run that sealed the pack (version 2, FORMAT.md §13.3); absent
    /// for a version 1 pack.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<serde_bytes::ByteBuf>,
}

impl IndexPack {
    /// The run's public key, when the entry names one of the right length.
    pub fn run_key(&self) -> Option<[u8; 32]> {
        self.run.as_ref().and_then(|r| r.as_slice().try_into().ok())
    }
}

impl IndexFile {
    pub fn blob_count(&self) -> usize {
        self.packs.iter().map(|p| p.blobs.len()).sum()
    }
}
