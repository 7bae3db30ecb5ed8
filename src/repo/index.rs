//! The index: for every blob, the pack and byte range that hold it (FORMAT.md §7). Kept in
//! memory as a table sorted by ID (see [`Index`]); stored as sealed index files that are only
//! ever added or replaced whole (by prune).
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

/// One blob's preferred copy as the index keeps it: its pack by number (56 bytes a blob with
/// the ID, where a [`Location`] in a hash map took about 90, twice that while the map grew).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Slot {
    pack: u32,
    offset: u32,
    stored_len: u32,
    raw_len: u32,
    run: u32,
    kind: BlobKind,
}

/// Blobs added one at a time are kept in the hash map until this many (or an eighth of the
/// sorted table, if more) have come together; bulk additions go straight into the table.
const FOLD_AT: usize = 4096;

/// Where every blob is. The bulk is one table sorted by ID and found through a directory of
/// ID prefixes (IDs are uniformly random, so each prefix holds a handful of blobs): memory is
/// 56 bytes a blob, without a hash map's empty buckets and its doubling while it grows. Blobs
/// added one at a time (a run's tree blobs) go into a small hash map beside it.
#[derive(Default, Debug)]
pub struct Index {
    /// The preferred copy of each blob, sorted by ID.
    sorted: Vec<(Id, Slot)>,
    /// `starts[p]..starts[p + 1]` is where the IDs whose first `bits` bits are `p` lie in
    /// `sorted`.
    starts: Vec<u32>,
    bits: u32,
    /// Blobs added one at a time since the table was built (never also in `sorted`).
    recent: IdMap<Slot>,
    /// Further copies of a blob listed in other packs (or claimed for another run): tried when
    /// the first fails to authenticate, so one damaged or forged copy does not hide a good one.
    others: IdMap<Vec<Location>>,
    /// Pack IDs by number ([`Slot::pack`]), whether each is condemned, and the numbers by ID.
    packs: Vec<Id>,
    condemned: Vec<bool>,
    pack_numbers: IdMap<u32>,
    /// Public keys of the runs that sealed packs: `Location::run` n is `runs[n - 1]`.
    runs: Vec<[u8; 32]>,
    run_numbers: HashMap<[u8; 32], u32>,
}

/// The first 64 bits of an ID, as a number that sorts like the ID.
fn prefix(id: &Id) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&id.0[..8]);
    u64::from_be_bytes(b)
}

impl Index {
    /// Record where a blob is. The first copy wins, except that a copy in a live pack
    /// replaces one in a condemned pack.
    pub fn insert(&mut self, id: Id, loc: Location) {
        let slot = self.slot(&loc);
        let current = if let Some(i) = self.position(&id) {
            &mut self.sorted[i].1
        } else if let Some(c) = self.recent.get_mut(&id) {
            c
        } else {
            self.recent.insert(id, slot);
            if self.recent.len() >= FOLD_AT.max(self.sorted.len() / 8) {
                self.rebuild(Vec::new());
            }
            return;
        };
        if *current == slot {
            return;
        }
        let other = if self.condemned[current.pack as usize] && !self.condemned[slot.pack as usize]
        {
            std::mem::replace(current, slot)
        } else {
            slot
        };
        let other = location(&self.packs, &other);
        add_other(&mut self.others, id, other);
    }

    /// Every known copy of a blob, the preferred one first.
    pub fn copies(&self, id: &Id) -> impl Iterator<Item = Location> + '_ {
        self.get(id)
            .into_iter()
            .chain(self.others.get(id).into_iter().flatten().copied())
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
    pub fn get(&self, id: &Id) -> Option<Location> {
        self.find(id).map(|s| location(&self.packs, &s))
    }

    /// Whether a blob can be read (from a live or a condemned pack).
    pub fn contains(&self, id: &Id) -> bool {
        self.find(id).is_some()
    }

    /// Whether a blob is in a live pack: what a writer may deduplicate against.
    pub fn is_live(&self, id: &Id) -> bool {
        self.find(id)
            .is_some_and(|s| !self.condemned[s.pack as usize])
    }

    /// Whether a prune marked this pack for deletion.
    pub fn is_condemned(&self, pack: &Id) -> bool {
        self.pack_numbers
            .get(pack)
            .is_some_and(|n| self.condemned[*n as usize])
    }

    pub fn len(&self) -> usize {
        self.sorted.len() + self.recent.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every blob with its preferred copy (in no particular order).
    pub fn iter(&self) -> impl Iterator<Item = (Id, Location)> + '_ {
        self.sorted
            .iter()
            .map(|(id, s)| (*id, *s))
            .chain(self.recent.iter().map(|(id, s)| (*id, *s)))
            .map(|(id, s)| (id, location(&self.packs, &s)))
    }

    /// Add one index file (see [`Index::add_files`]).
    pub fn add_file(&mut self, f: &IndexFile) {
        self.add_files([f]);
    }

    /// Add index files. A pack condemned in any file is condemned: an index file that lists
    /// it as live is one a prune has replaced and not yet deleted. Condemnations are taken
    /// first, so a live copy of a blob wins whatever the order of the files.
    pub fn add_files<'f>(&mut self, files: impl IntoIterator<Item = &'f IndexFile> + Clone) {
        let mut added = self.condemn(files.clone());
        for f in files {
            self.slots_of(&f.packs, &mut added);
        }
        self.add_slots(added);
    }

    /// Like [`Index::add_files`], dropping each file once its blobs are taken: the files and
    /// the index they make are not held whole at once.
    pub fn add_owned_files(&mut self, files: Vec<IndexFile>) {
        let mut added = self.condemn(&files);
        for f in files {
            self.slots_of(&f.packs, &mut added);
        }
        self.add_slots(added);
    }

    /// Take the condemnations of the files' packs; returns room for all their blobs.
    fn condemn<'f>(&mut self, files: impl IntoIterator<Item = &'f IndexFile>) -> Vec<(Id, Slot)> {
        let mut total = 0;
        for f in files {
            for p in f.packs.iter().filter(|p| p.condemned.is_some()) {
                let n = self.pack_number(&p.id);
                self.condemned[n as usize] = true;
            }
            total += f.blob_count();
        }
        Vec::with_capacity(total)
    }

    /// Add the packs a writer wrote (as [`Index::insert`] of each blob would).
    pub fn add_packs(&mut self, packs: &[IndexPack]) {
        let total = packs.iter().map(|p| p.blobs.len()).sum();
        let mut added = Vec::with_capacity(total);
        self.slots_of(packs, &mut added);
        self.add_slots(added);
    }

    /// The blobs of `packs` as slots, pack and run numbers assigned.
    fn slots_of(&mut self, packs: &[IndexPack], out: &mut Vec<(Id, Slot)>) {
        for p in packs {
            let run = match p.run_key() {
                Some(e) => self.run_number(&e),
                None => Location::NO_RUN,
            };
            let pack = self.pack_number(&p.id);
            out.extend(p.blobs.iter().map(|b| {
                let slot = Slot {
                    pack,
                    offset: b.2,
                    stored_len: b.3,
                    raw_len: b.4,
                    run,
                    kind: b.0,
                };
                (b.1, slot)
            }));
        }
    }

    /// A few blobs go through [`Index::insert`]; many are sorted into the table at once.
    fn add_slots(&mut self, added: Vec<(Id, Slot)>) {
        if added.len() < FOLD_AT.max(self.sorted.len() / 8) {
            for (id, slot) in added {
                let loc = location(&self.packs, &slot);
                self.insert(id, loc);
            }
        } else {
            self.rebuild(added);
        }
    }

    /// Sort the table, the recent blobs and `added` into one table. Copies of one blob keep
    /// the order in which their packs became known; the first in a live pack is preferred,
    /// else the first; the rest become other copies.
    fn rebuild(&mut self, mut added: Vec<(Id, Slot)>) {
        let mut all = std::mem::take(&mut self.sorted);
        // The larger of the two takes the other in (when one is empty, no copy at all).
        if added.capacity() > all.capacity() {
            std::mem::swap(&mut all, &mut added);
        }
        all.reserve_exact(self.recent.len() + added.len());
        all.extend(self.recent.drain());
        all.append(&mut added);
        drop(added);
        self.recent.shrink_to(0);
        all.sort_unstable_by_key(|a| (a.0, a.1.pack, a.1.offset));
        let mut kept = 0;
        let mut i = 0;
        while i < all.len() {
            let id = all[i].0;
            let end = i + all[i..].iter().take_while(|(x, _)| *x == id).count();
            let best = (i..end)
                .find(|&k| !self.condemned[all[k].1.pack as usize])
                .unwrap_or(i);
            for k in (i..end).filter(|&k| k != best && all[k].1 != all[best].1) {
                let other = location(&self.packs, &all[k].1);
                add_other(&mut self.others, id, other);
            }
            all[kept] = all[best];
            kept += 1;
            i = end;
        }
        all.truncate(kept);
        self.sorted = all;
        self.index_prefixes();
    }

    /// The directory of ID prefixes over `sorted`: about four blobs per prefix.
    fn index_prefixes(&mut self) {
        let n = self.sorted.len();
        self.bits = (n / 4).max(1).ilog2().min(24);
        let buckets = 1u64 << self.bits;
        self.starts = Vec::with_capacity(buckets as usize + 1);
        let mut i = 0;
        for b in 0..buckets {
            while i < n && self.bucket(&self.sorted[i].0) < b {
                i += 1;
            }
            self.starts.push(i as u32);
        }
        self.starts.push(n as u32);
    }

    fn bucket(&self, id: &Id) -> u64 {
        match self.bits {
            0 => 0,
            bits => prefix(id) >> (64 - bits),
        }
    }

    /// Where `id` is in the sorted table.
    fn position(&self, id: &Id) -> Option<usize> {
        if self.sorted.is_empty() {
            return None;
        }
        let b = self.bucket(id) as usize;
        let (lo, hi) = (self.starts[b] as usize, self.starts[b + 1] as usize);
        self.sorted[lo..hi]
            .binary_search_by(|(x, _)| x.cmp(id))
            .ok()
            .map(|i| lo + i)
    }

    fn find(&self, id: &Id) -> Option<Slot> {
        match self.position(id) {
            Some(i) => Some(self.sorted[i].1),
            None => self.recent.get(id).copied(),
        }
    }

    /// The number of a pack, given one when it is new.
    fn pack_number(&mut self, pack: &Id) -> u32 {
        if let Some(n) = self.pack_numbers.get(pack) {
            return *n;
        }
        let n = self.packs.len() as u32;
        self.packs.push(*pack);
        self.condemned.push(false);
        self.pack_numbers.insert(*pack, n);
        n
    }

    fn slot(&mut self, loc: &Location) -> Slot {
        Slot {
            pack: self.pack_number(&loc.pack),
            offset: loc.offset,
            stored_len: loc.stored_len,
            raw_len: loc.raw_len,
            run: loc.run,
            kind: loc.kind,
        }
    }
}

fn location(packs: &[Id], s: &Slot) -> Location {
    Location {
        pack: packs[s.pack as usize],
        kind: s.kind,
        offset: s.offset,
        stored_len: s.stored_len,
        raw_len: s.raw_len,
        run: s.run,
    }
}

/// Keep another copy of a blob (a few at most, each once).
fn add_other(others: &mut IdMap<Vec<Location>>, id: Id, other: Location) {
    let list = others.entry(id).or_default();
    if list.len() < MAX_OTHER_COPIES && !list.contains(&other) {
        list.push(other);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn pack(id: Id, blobs: &[Id], condemned: bool) -> IndexPack {
        IndexPack {
            id,
            blobs: blobs
                .iter()
                .enumerate()
                .map(|(i, b)| (BlobKind::Data, *b, i as u32 * 10, 10, 20))
                .collect(),
            condemned: condemned.then(|| "2026-01-01T00:00:00Z".to_string()),
            run: None,
        }
    }

    #[test]
    fn many_blobs_are_found_where_their_files_put_them() {
        let ids: Vec<Id> = (0..20_000).map(|_| Id::random()).collect();
        let packs: Vec<IndexPack> = ids
            .chunks(1000)
            .map(|c| pack(Id::random(), c, false))
            .collect();
        let mut index = Index::default();
        index.add_files([&IndexFile {
            packs: packs[..10].to_vec(),
        }]);
        index.add_file(&IndexFile {
            packs: packs[10..].to_vec(),
        });
        assert_eq!(index.len(), ids.len());
        for (i, id) in ids.iter().enumerate() {
            let loc = index.get(id).unwrap();
            assert_eq!(loc.pack, packs[i / 1000].id);
            assert_eq!(loc.offset, (i % 1000) as u32 * 10);
            assert!(index.is_live(id));
        }
        for _ in 0..1000 {
            assert!(!index.contains(&Id::random()));
        }
        assert_eq!(index.iter().count(), ids.len());
    }

    #[test]
    fn a_live_copy_wins_over_a_condemned_one_in_bulk_and_one_at_a_time() {
        let blob = Id::random();
        let (old, new) = (Id::random(), Id::random());
        let filler: Vec<Id> = (0..FOLD_AT * 2).map(|_| Id::random()).collect();
        for bulk in [false, true] {
            let mut index = Index::default();
            let mut first = pack(old, &[blob], true);
            if bulk {
                first.blobs.extend(pack(old, &filler, true).blobs);
            }
            // The condemned copy comes first; the live one still wins.
            index.add_files([
                &IndexFile { packs: vec![first] },
                &IndexFile {
                    packs: vec![pack(new, &[blob], false)],
                },
            ]);
            assert_eq!(index.get(&blob).unwrap().pack, new, "bulk {bulk}");
            assert!(index.is_live(&blob));
            assert!(index.is_condemned(&old) && !index.is_condemned(&new));
            let copies: Vec<Id> = index.copies(&blob).map(|l| l.pack).collect();
            assert_eq!(copies, [new, old]);
            // The same copy again adds nothing.
            index.add_file(&IndexFile {
                packs: vec![pack(new, &[blob], false)],
            });
            assert_eq!(index.copies(&blob).count(), 2);
        }
    }

    #[test]
    fn blobs_inserted_one_at_a_time_are_folded_into_the_table() {
        let mut index = Index::default();
        let packs: Vec<IndexPack> = (0..3)
            .map(|_| pack(Id::random(), &[Id::random(), Id::random()], false))
            .collect();
        index.add_file(&IndexFile { packs });
        let ids: Vec<Id> = (0..FOLD_AT * 3).map(|_| Id::random()).collect();
        let p = Id::random();
        for (i, id) in ids.iter().enumerate() {
            index.insert(
                *id,
                Location {
                    pack: p,
                    kind: BlobKind::Tree,
                    offset: i as u32,
                    stored_len: 1,
                    raw_len: 1,
                    run: Location::NO_RUN,
                },
            );
        }
        assert!(index.recent.len() < FOLD_AT, "folded");
        assert_eq!(index.len(), ids.len() + 6);
        for (i, id) in ids.iter().enumerate() {
            let loc = index.get(id).unwrap();
            assert_eq!(
                (loc.pack, loc.offset, loc.kind),
                (p, i as u32, BlobKind::Tree)
            );
        }
        // A second copy of a known blob is another copy, not a second entry.
        let mut again = index.get(&ids[0]).unwrap();
        again.pack = Id::random();
        index.insert(ids[0], again);
        assert_eq!(index.len(), ids.len() + 6);
        assert_eq!(index.get(&ids[0]).unwrap().pack, p);
        assert_eq!(index.copies(&ids[0]).nth(1).unwrap().pack, again.pack);
    }
}
