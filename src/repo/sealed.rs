//! Sealed files (FORMAT.md §6): snapshots and index files, each an authenticated, compressed
//! CBOR value bound to its file name. Writing, reading, listing and deleting them is here, so
//! no caller outside `repo/` touches these files through the backend.

use std::io::Read;

use rayon::prelude::*;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::cache::SealedCache;
use super::{Capability, FileType, IndexFile, MAX_SEALED_PLAIN, Repository, sealed_label};
use crate::error::{Error, Result};
use crate::id::Id;

/// Who signed a version 2 snapshot.
#[derive(Debug, Clone)]
pub enum Signer {
    Owner,
    Host(super::hosts::HostRecord),
}

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
        let mut sealed = self.keys.seal_object(sealed_label(t), &id.0, &plain);
        if t == FileType::Snapshot && self.keys.version() >= 2 {
            self.keys.sign_snapshot(&id, &mut sealed);
        }
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
        let plain = match t {
            FileType::Snapshot => self.open_snapshot_file(id, sealed, &object)?.0,
            _ => {
                self.keys
                    .open_object(sealed_label(t), &id.0, sealed, &object)?
                    .0
            }
        };
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

    /// The sealed part of a version 2 snapshot file (one that starts with the marker) and who
    /// signed it, the signature checked against the owner's key or a registered host key
    /// (FORMAT.md §13.3).
    fn check_snapshot_signature<'f>(
        &self,
        id: &Id,
        file: &'f [u8],
        object: &str,
    ) -> Result<(&'f [u8], Signer)> {
        use super::keyring::SIGNATURE_TRAILER;
        let (sealed, trailer) = file.split_at(file.len() - SIGNATURE_TRAILER);
        let signer: [u8; 16] = trailer[..16].try_into().expect("16 bytes");
        let sig: [u8; 64] = trailer[16..].try_into().expect("64 bytes");
        let message = super::keyring::snapshot_signed_bytes(id, sealed);
        let owner = *self
            .keys
            .owner_public()
            .ok_or_else(|| Error::corrupt(object, "signed, in a version 1 repository"))?;
        if signer == super::hosts::OWNER_SIGNER {
            owner.verify(super::hosts::SNAPSHOT_CONTEXT, &message, &sig, object)?;
            return Ok((sealed, Signer::Owner));
        }
        let hosts = self.hosts_cached()?;
        let record = hosts
            .iter()
            .find(|h| h.host_id == hex::encode(signer))
            .ok_or_else(|| {
                Error::corrupt(
                    object,
                    format!(
                        "signed by host key {} that the owner never registered",
                        hex::encode(signer)
                    ),
                )
            })?;
        let public = record
            .public_key()
            .ok_or_else(|| Error::corrupt(object, "its host's public key is malformed"))?;
        crate::crypto::recipient::verify_signature(
            &public,
            &format!("host {}'s", record.hostname),
            super::hosts::SNAPSHOT_CONTEXT,
            &message,
            &sig,
            object,
        )?;
        Ok((sealed, Signer::Host(record.clone())))
    }

    /// Who signed a snapshot file (version 2; `None`: unsigned, from before a migration).
    pub fn snapshot_signer(&self, id: &Id) -> Result<Option<Signer>> {
        self.require(Capability::Read)?;
        let object = self.object_name(format_args!("snapshot {id}"));
        let file = self
            .backend
            .read(FileType::Snapshot, &id.to_hex())
            .map_err(|e| Error::io(&object, e))?;
        Ok(self.open_snapshot_file(id, &file, &object)?.1)
    }

    /// Open a snapshot file: in version 2 its signature is checked first. A file kept from
    /// before a migration has none (and may start with the version 2 marker by chance): it
    /// must then open with the master's version 1 keys.
    fn open_snapshot_file(
        &self,
        id: &Id,
        file: &[u8],
        object: &str,
    ) -> Result<(Vec<u8>, Option<Signer>)> {
        use super::keyring::{SEALED_V2, SIGNATURE_TRAILER};
        let label = sealed_label(FileType::Snapshot);
        let unsigned = || {
            self.keys
                .open_object(label, &id.0, file, object)
                .map(|(p, _)| (p, None))
        };
        let marked = file.first() == Some(&SEALED_V2) && file.len() >= SIGNATURE_TRAILER;
        if self.keys.version() < 2 || !marked {
            return unsigned();
        }
        let signed =
            self.check_snapshot_signature(id, file, object)
                .and_then(|(sealed, signer)| {
                    let (plain, _) = self.keys.open_object(label, &id.0, sealed, object)?;
                    Ok((plain, Some(signer)))
                });
        // A version 1 file may start with the marker by chance: it opens with the master's keys.
        signed.or_else(|e| unsigned().map_err(|_| e))
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
        self.require(Capability::Delete)?;
        if let Some(cache) = &self.cache {
            cache.remove(t, &id.to_hex());
        }
        self.backend
            .remove(t, &id.to_hex())
            .map_err(|e| Error::io(format!("{label} {id}"), e))
    }
}
