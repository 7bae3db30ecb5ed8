//! Sealing and opening blobs, and reading packs: the byte ranges of FORMAT.md §6 through the
//! handle's keys ([`super::Keyring`]).

use super::{Capability, FileType, Location, Repository, pack, pack_read_error, packcache};
use crate::chunk;
use crate::crypto::{self, NONCE_LEN};
use crate::error::{Error, Result};
use crate::id::Id;
use crate::repo::BlobKind;

impl Repository {
    /// Encode (compression filters) and seal a chunk. `offset` is its position in its stream,
    /// which aligns the float byte-grouping filter.
    pub fn seal_blob(&self, kind: BlobKind, id: &Id, data: &[u8], offset: u64) -> Vec<u8> {
        let mut buf = crate::bufpool::take(NONCE_LEN + data.len() + 64 + crypto::TAG_LEN);
        buf.resize(NONCE_LEN, 0);
        chunk::encode_into(&mut buf, data, offset, self.compression);
        self.keys.seal_blob_in_place(kind, id, &mut buf);
        buf
    }

    /// Open a sealed blob read from its pack and check it hashes to its ID. `run` is the
    /// public key of the run that sealed the pack (from its header or the index; `None`: a
    /// version 1 pack).
    pub fn open_blob(
        &self,
        kind: BlobKind,
        id: &Id,
        loc: &Location,
        run: Option<&[u8; 32]>,
        sealed: &[u8],
    ) -> Result<Vec<u8>> {
        let mut data = Vec::new();
        self.open_blob_into(kind, id, loc, run, &mut sealed.to_vec(), &mut data)?;
        Ok(data)
    }

    /// Like [`Repository::open_blob`], decrypting in the caller's buffer and decoding into
    /// `out` (replacing its contents).
    pub fn open_blob_into(
        &self,
        kind: BlobKind,
        id: &Id,
        loc: &Location,
        run: Option<&[u8; 32]>,
        sealed: &mut [u8],
        out: &mut Vec<u8>,
    ) -> Result<()> {
        self.open_checked(kind, id, loc, run, sealed, out).map(drop)
    }

    /// A blob read from `loc` (sealed by `run`), checked, and sealed again with this handle's
    /// keys for a new pack (prune's repack, a writer's copy out of a condemned pack): the
    /// encoded form is kept, only the seal changes.
    pub fn reseal_blob(
        &self,
        kind: BlobKind,
        id: &Id,
        loc: &Location,
        run: Option<&[u8; 32]>,
        sealed: &[u8],
    ) -> Result<Vec<u8>> {
        let mut buf = sealed.to_vec();
        let encoded = self.open_checked(kind, id, loc, run, &mut buf, &mut Vec::new())?;
        let mut fresh = Vec::with_capacity(NONCE_LEN + encoded.len() + crypto::TAG_LEN);
        fresh.resize(NONCE_LEN, 0);
        fresh.extend_from_slice(encoded);
        self.keys.seal_blob_in_place(kind, id, &mut fresh);
        Ok(fresh)
    }

    /// Every blob read ends here: decrypt `sealed` in place, decode it into `out` and check
    /// that it hashes to its ID. Returns the encoded form (inside `sealed`).
    fn open_checked<'b>(
        &self,
        kind: BlobKind,
        id: &Id,
        loc: &Location,
        run: Option<&[u8; 32]>,
        sealed: &'b mut [u8],
        out: &mut Vec<u8>,
    ) -> Result<&'b [u8]> {
        self.require(Capability::Read)?;
        let object = self.object_name(format_args!(
            "{} blob {id} (pack {})",
            kind.label(),
            loc.pack
        ));
        let encoded = self
            .keys
            .open_blob_in_place(kind, id, run, sealed, &object)?;
        chunk::decode_into(encoded, loc.raw_len as usize, &object, out)?;
        if self.keys.chunk_id(out) != *id {
            out.clear();
            return Err(Error::corrupt(&object, "content does not hash to its id"));
        }
        Ok(encoded)
    }

    /// Bytes of a pack that hold blobs, for reading those blobs: a ranged read on a local
    /// backend; on a remote one, a slice of the whole pack, fetched once and kept while it is
    /// among the last few used (one request instead of one per blob).
    pub fn read_packed(&self, pack: &Id, offset: u64, len: usize) -> Result<Vec<u8>> {
        let Some(cache) = &self.packs else {
            return self.read_pack_range(pack, offset, len);
        };
        let whole = cache
            .get(pack, || {
                self.backend
                    .read(FileType::Pack, &pack.to_hex())
                    .map_err(|e| {
                        pack_read_error(
                            &self.object_name(format_args!("pack {pack}")),
                            e,
                            offset,
                            len,
                        )
                    })
            })
            .map_err(|e| match e {
                packcache::FetchError::Own(e) => e,
                packcache::FetchError::Other(text) => {
                    Error::io(format!("pack {pack}"), std::io::Error::other(text))
                }
            })?;
        let end = offset.saturating_add(len as u64);
        if end > whole.len() as u64 {
            return Err(Error::corrupt(
                format!("pack {pack}"),
                format!("truncated: no bytes at {offset}+{len}"),
            ));
        }
        Ok(whole[offset as usize..end as usize].to_vec())
    }

    /// Exactly the bytes `offset..offset+len` of a pack (headers, a verify's whole body).
    pub fn read_pack_range(&self, pack: &Id, offset: u64, len: usize) -> Result<Vec<u8>> {
        self.backend
            .read_at(FileType::Pack, &pack.to_hex(), offset, len)
            .map_err(|e| {
                pack_read_error(
                    &self.object_name(format_args!("pack {pack}")),
                    e,
                    offset,
                    len,
                )
            })
    }

    /// Read and authenticate a pack's header: its blobs, and the public key of the run that
    /// sealed it (`None`: a version 1 pack).
    pub fn read_pack_header(&self, pack: &Id) -> Result<pack::PackHeader> {
        let object = self.object_name(format_args!("pack {pack}"));
        let name = pack.to_hex();
        let size = self
            .backend
            .size(FileType::Pack, &name)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => Error::corrupt(&object, "pack file is missing"),
                _ => Error::io(&object, e),
            })?;
        if size < 4 {
            return Err(Error::corrupt(&object, "truncated"));
        }
        let last4 = self.read_pack_range(pack, size - 4, 4)?;
        let hl = pack::header_len_from_tail(&last4, size, &object)?;
        let body = size - 4 - u64::from(hl);
        let sealed = self.read_pack_range(pack, body, hl as usize)?;
        pack::open_header(&self.keys, pack, &sealed, body)
    }
}
