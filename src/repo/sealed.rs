//! Sealed files (FORMAT.md §6): snapshots and index files, each an authenticated, compressed
//! CBOR value bound to its file name. Writing, reading, listing and deleting them is here, so
//! no caller outside `repo/` touches these files through the backend.

use std::io::Read;

use rayon::prelude::*;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::cache::SealedCache;
use super::{
    Capability, FileType, IndexFile, MAX_SEALED_PLAIN, Repository, labelled_ad, sealed_label,
};
use crate::crypto;
use crate::error::{Error, Result};
use crate::id::Id;

impl Repository {
    /// Write a value as a sealed, compressed CBOR file under a fresh random ID.
    pub fn save_sealed<T: Serialize>(&self, t: FileType, value: &T) -> Result<Id> {
        self.require(Capability::Write)?;
        let mut cbor = Vec::new();
        ciborium::into_writer(value, &mut cbor)
            .map_err(|e| Error::Invalid(format!("encoding {}: {e}", t.label())))?;
        let mut plain = vec![1u8];
        plain.extend_from_slice(
            &zstd::bulk::compress(&cbor, 3).map_err(|e| Error::io(t.label(), e))?,
        );
        let id = Id::random();
        let sealed = crypto::seal(
            &self.keys.meta_key,
            &labelled_ad(sealed_label(t), &id.0),
            &plain,
        );
        self.backend
            .write(t, &id.to_hex(), &sealed)
            .map_err(|e| Error::io(t.label(), e))?;
        if let Some(c) = &self.cache {
            c.put(t, &id.to_hex(), &sealed);
        }
        Ok(id)
    }

    /// Read, authenticate, decompress and decode a sealed file: from the local cache when it
    /// holds a copy that authenticates, else from the store (and then cached).
    pub fn load_sealed<T: DeserializeOwned>(&self, t: FileType, id: &Id) -> Result<T> {
        self.require(Capability::Read)?;
        let name = id.to_hex();
        if let Some(cache) = self.cache.as_ref().filter(|_| SealedCache::holds(t))
            && let Some(sealed) = cache.get(t, &name)
        {
            match self.decode_sealed(t, id, &sealed) {
                Ok(v) => return Ok(v),
                // A damaged copy is the cache's problem, not the repository's.
                Err(_) => cache.remove(t, &name),
            }
        }
        let object = self.object_name(format_args!("{} {id}", t.label()));
        let sealed = self.backend.read(t, &name).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::corrupt(&object, "file is missing")
            } else {
                Error::io(&object, e)
            }
        })?;
        let value = self.decode_sealed(t, id, &sealed)?;
        if let Some(cache) = self.cache.as_ref().filter(|_| SealedCache::holds(t)) {
            cache.put(t, &name, &sealed);
        }
        Ok(value)
    }

    fn decode_sealed<T: DeserializeOwned>(&self, t: FileType, id: &Id, sealed: &[u8]) -> Result<T> {
        let object = self.object_name(format_args!("{} {id}", t.label()));
        let plain = crypto::open(
            &self.keys.meta_key,
            &labelled_ad(sealed_label(t), &id.0),
            sealed,
        )
        .map_err(|e| Error::corrupt(&object, e))?;
        let (&codec, body) = plain
            .split_first()
            .ok_or_else(|| Error::corrupt(&object, "empty"))?;
        let cbor = match codec {
            0 => body.to_vec(),
            1 => {
                let mut out = Vec::new();
                zstd::stream::read::Decoder::new(body)
                    .map_err(|e| Error::corrupt(&object, e))?
                    .take(MAX_SEALED_PLAIN + 1)
                    .read_to_end(&mut out)
                    .map_err(|e| Error::corrupt(&object, format!("zstd: {e}")))?;
                if out.len() as u64 > MAX_SEALED_PLAIN {
                    return Err(Error::hostile(&object, "expands beyond 64 MiB"));
                }
                out
            }
            c => {
                return Err(Error::corrupt(
                    &object,
                    format!("unknown compression codec {c}"),
                ));
            }
        };
        ciborium::from_reader(&cbor[..]).map_err(|e| Error::corrupt(&object, format!("cbor: {e}")))
    }

    pub fn list_ids(&self, t: FileType) -> Result<Vec<Id>> {
        let names = self.backend.list(t).map_err(|e| Error::io(t.label(), e))?;
        if let Some(cache) = &self.cache {
            cache.retain(t, &names.iter().cloned().collect());
        }
        Ok(names.iter().filter_map(|n| Id::parse(n).ok()).collect())
    }

    /// All index files with their IDs, each read strictly (a damaged one fails the call).
    pub fn read_index_files(&self) -> Result<Vec<(Id, IndexFile)>> {
        let ids = self.list_ids(FileType::Index)?;
        ids.par_iter()
            .map(|id| Ok((*id, self.load_sealed::<IndexFile>(FileType::Index, id)?)))
            .collect()
    }

    /// Delete a snapshot file (forget, a retag's old copy, a consumed host undo).
    pub fn delete_snapshot(&self, id: &Id) -> Result<()> {
        self.remove_file(FileType::Snapshot, id, "snapshot")
    }

    /// Delete an index file: only a prune does, once a complete new index is written.
    pub fn delete_index_file(&self, id: &Id) -> Result<()> {
        self.remove_file(FileType::Index, id, "index")
    }

    /// Delete a pack: only a prune does, once no index file lists it.
    pub fn delete_pack(&self, id: &Id) -> Result<()> {
        self.remove_file(FileType::Pack, id, "pack")
    }

    fn remove_file(&self, t: FileType, id: &Id, label: &str) -> Result<()> {
        self.require(Capability::Write)?;
        if let Some(cache) = &self.cache {
            cache.remove(t, &id.to_hex());
        }
        self.backend
            .remove(t, &id.to_hex())
            .map_err(|e| Error::io(format!("{label} {id}"), e))
    }
}
