//! Pack files: many sealed blobs followed by a sealed header that lists them (FORMAT.md §6).
//! Building a pack happens in memory; a finished pack is one immutable file.

use serde::{Deserialize, Serialize};

use super::keyring::{Keyring, V2_PREFIX};
use crate::crypto::{self, MasterKeys, SEAL_OVERHEAD};
use crate::error::{Error, Result};
use crate::id::Id;

/// What a blob holds. Kinds never share a pack and use different keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(into = "u8", try_from = "u8")]
pub enum BlobKind {
    Data = 0,
    Tree = 1,
}

impl From<BlobKind> for u8 {
    fn from(k: BlobKind) -> u8 {
        k as u8
    }
}

impl TryFrom<u8> for BlobKind {
    type Error = String;
    fn try_from(v: u8) -> std::result::Result<Self, String> {
        match v {
            0 => Ok(BlobKind::Data),
            1 => Ok(BlobKind::Tree),
            _ => Err(format!("unknown blob kind {v}")),
        }
    }
}

impl BlobKind {
    pub fn key(self, keys: &MasterKeys) -> &crypto::SecretKey {
        match self {
            BlobKind::Data => &keys.data_key,
            BlobKind::Tree => &keys.meta_key,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            BlobKind::Data => "data",
            BlobKind::Tree => "tree",
        }
    }
}

/// A pack's authenticated header: its blobs and, in version 2, the public key of the run
/// that sealed them (FORMAT.md §13.3).
#[derive(Clone, Debug)]
pub struct PackHeader {
    pub entries: Vec<PackEntry>,
    pub run: Option<[u8; 32]>,
}

/// One blob as listed in a pack header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PackEntry {
    pub kind: BlobKind,
    pub id: Id,
    pub stored_len: u32,
    pub raw_len: u32,
}

pub const MAX_BLOB_LEN: u32 = 16 << 20;
pub const MAX_BLOBS_PER_PACK: u32 = 1_000_000;
const ENTRY_LEN: usize = 1 + 32 + 4 + 4;

pub fn encode_header(entries: &[PackEntry]) -> Vec<u8> {
    let mut h = Vec::with_capacity(5 + entries.len() * ENTRY_LEN);
    h.push(1);
    h.extend_from_slice(&(entries.len() as u32).to_le_bytes());
    for e in entries {
        h.push(e.kind as u8);
        h.extend_from_slice(&e.id.0);
        h.extend_from_slice(&e.stored_len.to_le_bytes());
        h.extend_from_slice(&e.raw_len.to_le_bytes());
    }
    h
}

pub fn decode_header(h: &[u8], object: &str) -> Result<Vec<PackEntry>> {
    let bad = |why: String| Error::corrupt(object, why);
    if h.len() < 5 {
        return Err(bad("pack header truncated".into()));
    }
    if h[0] != 1 {
        return Err(Error::UnsupportedVersion(
            object.to_string(),
            u64::from(h[0]),
        ));
    }
    let count = u32::from_le_bytes(h[1..5].try_into().expect("4 bytes"));
    if count > MAX_BLOBS_PER_PACK || h.len() != 5 + count as usize * ENTRY_LEN {
        return Err(bad(format!(
            "pack header claims {count} blobs but holds {} bytes",
            h.len()
        )));
    }
    h[5..]
        .chunks_exact(ENTRY_LEN)
        .map(|e| {
            let kind = BlobKind::try_from(e[0]).map_err(bad)?;
            let id = Id::from_slice(&e[1..33]).expect("32 bytes");
            let stored_len = u32::from_le_bytes(e[33..37].try_into().expect("4 bytes"));
            let raw_len = u32::from_le_bytes(e[37..41].try_into().expect("4 bytes"));
            let overhead = SEAL_OVERHEAD as u32 + 1;
            if stored_len > MAX_BLOB_LEN + overhead + 64
                || raw_len > MAX_BLOB_LEN
                || stored_len < overhead
            {
                return Err(bad(format!(
                    "blob {id} has impossible lengths {stored_len}/{raw_len}"
                )));
            }
            Ok(PackEntry {
                kind,
                id,
                stored_len,
                raw_len,
            })
        })
        .collect()
}

/// Seal the header and append it with its length: the tail of a pack file.
pub fn seal_header(keys: &Keyring, pack: &Id, entries: &[PackEntry]) -> Vec<u8> {
    let mut tail = keys.seal_object("pack-header", &pack.0, &encode_header(entries));
    let len = tail.len() as u32;
    tail.extend_from_slice(&len.to_le_bytes());
    tail
}

/// Split a pack's tail: given the last 4 bytes, how many bytes the sealed header takes.
pub fn header_len_from_tail(last4: &[u8], file_len: u64, object: &str) -> Result<u32> {
    let n = u32::from_le_bytes(
        last4
            .try_into()
            .map_err(|_| Error::corrupt(object, "pack truncated"))?,
    );
    let max = (V2_PREFIX + SEAL_OVERHEAD + 5 + MAX_BLOBS_PER_PACK as usize * ENTRY_LEN) as u64;
    if u64::from(n) + 4 > file_len || u64::from(n) > max || (n as usize) < SEAL_OVERHEAD + 5 {
        return Err(Error::corrupt(
            object,
            format!("pack header length {n} impossible for a {file_len}-byte file"),
        ));
    }
    Ok(n)
}

/// Open a sealed pack header and check that its blobs exactly cover the pack body.
pub fn open_header(keys: &Keyring, pack: &Id, sealed: &[u8], body_len: u64) -> Result<PackHeader> {
    let object = format!("pack {pack}");
    let (plain, run) = keys
        .open_object("pack-header", &pack.0, sealed, &object)
        .map_err(|e| match e {
            Error::Corrupt { object, reason } => Error::Corrupt {
                object,
                reason: format!("header: {reason}"),
            },
            e => e,
        })?;
    let entries = decode_header(&plain, &object)?;
    let covered: u64 = entries.iter().map(|e| u64::from(e.stored_len)).sum();
    if covered != body_len {
        return Err(Error::corrupt(
            &object,
            format!("header lists {covered} bytes of blobs, body has {body_len}"),
        ));
    }
    Ok(PackHeader { entries, run })
}

/// Sealed blobs below this size are copied into shared buffers rather than kept whole.
const SMALL_BLOB: usize = 64 << 10;
/// The largest shared buffer of small blobs.
const SHARED_BUFFER: usize = 1 << 20;

/// A pack under construction, written as consecutive parts. A large sealed blob is kept as it
/// is (no copy), its spare capacity given back; small ones are copied into shared buffers of up
/// to 1 MiB, so a pack of many small files costs a few allocations of its size, not one per
/// blob with the compressor's spare room in each (which held several times the pack's size).
pub struct PackBuilder {
    pub id: Id,
    pub kind: BlobKind,
    parts: Vec<Vec<u8>>,
    /// Whether the last part is a shared buffer that small blobs may still be appended to.
    shared_tail: bool,
    len: usize,
    entries: Vec<PackEntry>,
}

impl PackBuilder {
    pub fn new(kind: BlobKind) -> Self {
        PackBuilder {
            id: Id::random(),
            kind,
            parts: Vec::new(),
            shared_tail: false,
            len: 0,
            entries: Vec::new(),
        }
    }

    /// Append a sealed blob; returns its offset in the pack.
    pub fn add(&mut self, id: Id, raw_len: u32, mut sealed: Vec<u8>) -> u32 {
        let offset = self.len as u32;
        self.len += sealed.len();
        self.entries.push(PackEntry {
            kind: self.kind,
            id,
            stored_len: sealed.len() as u32,
            raw_len,
        });
        if sealed.len() >= SMALL_BLOB {
            if sealed.capacity() - sealed.len() > sealed.len() / 8 {
                sealed.shrink_to_fit();
            }
            self.parts.push(sealed);
            self.shared_tail = false;
            return offset;
        }
        match self.parts.last_mut() {
            Some(tail) if self.shared_tail && tail.capacity() - tail.len() >= sealed.len() => {
                tail.extend_from_slice(&sealed);
            }
            _ => {
                // Buffers grow with the pack: a pack of a few small blobs stays small.
                let size = self
                    .len
                    .next_power_of_two()
                    .clamp(SMALL_BLOB, SHARED_BUFFER);
                let mut tail = Vec::with_capacity(size);
                tail.extend_from_slice(&sealed);
                self.parts.push(tail);
                self.shared_tail = true;
            }
        }
        offset
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn blob_count(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The complete pack file (as consecutive parts) and its entries with offsets.
    pub fn finish(mut self, keys: &Keyring) -> (Id, Vec<Vec<u8>>, Vec<(PackEntry, u32)>) {
        self.parts.push(seal_header(keys, &self.id, &self.entries));
        let mut offset = 0u32;
        let located = self
            .entries
            .iter()
            .map(|e| {
                let o = offset;
                offset += e.stored_len;
                (*e, o)
            })
            .collect();
        (self.id, self.parts, located)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_blobs_share_buffers_and_keep_their_order() {
        let keys = Keyring::owner(1, MasterKeys::generate(), None).unwrap();
        let mut b = PackBuilder::new(BlobKind::Data);
        let mut expected = Vec::new();
        let mut offsets = Vec::new();
        for i in 0..3000u32 {
            // Small blobs with spare capacity, and now and then a large one.
            let len = if i % 1000 == 999 {
                100_000
            } else {
                100 + (i as usize * 37) % 4000
            };
            let mut blob = Vec::with_capacity(4 * len);
            blob.extend((0..len).map(|j| (i as usize + j) as u8));
            offsets.push(expected.len() as u32);
            expected.extend_from_slice(&blob);
            assert_eq!(b.add(Id::random(), len as u32, blob), offsets[i as usize]);
        }
        assert_eq!(b.len(), expected.len());
        let (_, parts, located) = b.finish(&keys);
        assert!(parts.len() < 40, "{} parts for 3000 blobs", parts.len());
        let held: usize = parts.iter().map(Vec::capacity).sum();
        assert!(
            held < 2 * expected.len(),
            "{held} bytes held for {}",
            expected.len()
        );
        let bytes = parts.concat();
        assert_eq!(&bytes[..expected.len()], &expected[..]);
        let got: Vec<u32> = located.iter().map(|(_, o)| *o).collect();
        assert_eq!(got, offsets);
    }

    #[test]
    fn header_round_trip_and_damage() {
        for keys in [
            Keyring::owner(1, MasterKeys::generate(), None).unwrap(),
            Keyring::owner(
                2,
                MasterKeys::generate(),
                Some(crate::crypto::recipient::OwnerSecret::generate()),
            )
            .unwrap(),
        ] {
            header_round_trip_and_damage_with(&keys);
        }
    }

    fn header_round_trip_and_damage_with(keys: &Keyring) {
        let mut b = PackBuilder::new(BlobKind::Data);
        let blob = vec![7u8; 100];
        b.add(Id::random(), 50, blob.clone());
        b.add(Id::random(), 60, blob);
        let (id, parts, located) = b.finish(keys);
        let bytes = parts.concat();
        assert_eq!(located[1].1, 100);
        let n = bytes.len() as u64;
        let hl = header_len_from_tail(&bytes[bytes.len() - 4..], n, "p").unwrap() as usize;
        let body = bytes.len() - 4 - hl;
        let header = open_header(keys, &id, &bytes[body..bytes.len() - 4], body as u64).unwrap();
        assert_eq!(header.entries.len(), 2);
        assert_eq!(header.run, keys.run_public());
        assert!(
            open_header(
                keys,
                &Id::random(),
                &bytes[body..bytes.len() - 4],
                body as u64
            )
            .is_err(),
            "bound to pack id"
        );
        assert!(
            open_header(keys, &id, &bytes[body..bytes.len() - 4], body as u64 - 1).is_err(),
            "coverage"
        );
        assert!(header_len_from_tail(&u32::MAX.to_le_bytes(), n, "p").is_err());
        assert!(decode_header(&[1, 5, 0, 0, 0], "p").is_err(), "count lies");
        assert!(
            decode_header(&[2, 0, 0, 0, 0], "p").is_err(),
            "unknown version"
        );
    }
}
