//! The keys an opened repository holds, and every seal and open of a stored object with them
//! (FORMAT.md §3-§8, §13), so that which key opens which object is decided in one place.
//!
//! - An **owner** (a password) holds the master secret: the version 1 keys, which open every
//!   object of a version 1 repository and those a version 2 repository kept from before its
//!   migration, and in version 2 the owner's X25519 and Ed25519 secrets.
//! - A **host key** (a write-only key file) holds the chunk ID key, the chunker seed and the
//!   owner's public keys. It seals and never opens.
//!
//! In version 2 every handle that writes seals to the owner: it makes one ephemeral key pair
//! when it is opened (its *run*), and every pack header, index and snapshot file it writes
//! carries the run's public key. The ephemeral secret is gone once the run keys are derived.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use zeroize::Zeroizing;

use super::hostkey::HostKey;
use crate::crypto::recipient::{OwnerPublic, OwnerSecret, RunKeys};
use crate::crypto::{self, MasterKeys, SEAL_OVERHEAD, SecretKey};
use crate::error::{Error, Result};
use crate::id::Id;

use super::pack::BlobKind;

/// The first byte of a version 2 sealed object (a pack header, an index or snapshot file):
/// `0x02 || E[32] || SEAL(...)`.
pub const SEALED_V2: u8 = 2;
/// Bytes a version 2 object adds before its seal: the marker and the run's public key.
pub const V2_PREFIX: usize = 33;

/// Who holds the keys (see the module comment).
#[derive(Debug)]
enum Holder {
    Owner {
        master: MasterKeys,
        /// Version 2 repositories only.
        owner: Option<OwnerSecret>,
    },
    Host(HostKey),
}

/// What a handle seals new objects with: the master's version 1 keys (a version 1 owner), or
/// its run's keys and the public key its objects carry (version 2).
struct Sealer {
    data: SecretKey,
    meta: SecretKey,
    run: Option<[u8; 32]>,
}

impl Sealer {
    fn of_run((ephemeral, keys): ([u8; 32], RunKeys)) -> Sealer {
        Sealer {
            data: keys.data,
            meta: keys.meta,
            run: Some(ephemeral),
        }
    }
}

pub struct Keyring {
    version: u32,
    repo_id: [u8; 8],
    holder: Holder,
    owner_public: Option<OwnerPublic>,
    /// The keys this handle seals with.
    sealer: Sealer,
    /// Run keys the owner derived for the objects it opened, by their public key.
    opened: Mutex<HashMap<[u8; 32], Arc<RunKeys>>>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Keyring(v{}, repo {}, {})",
            self.version,
            hex::encode(self.repo_id),
            if self.is_host() { "host" } else { "owner" }
        )
    }
}

fn ad(version: u32, label: &str, id: &[u8]) -> Vec<u8> {
    let mut ad = format!("lifeboat/v{version}/{label}/").into_bytes();
    ad.extend_from_slice(id);
    ad
}

impl Keyring {
    /// An owner's keys: `owner` is required in a version 2 repository.
    pub fn owner(version: u32, master: MasterKeys, owner: Option<OwnerSecret>) -> Result<Self> {
        let owner_public = owner.as_ref().map(OwnerSecret::public);
        if version >= 2 && owner_public.is_none() {
            return Err(Error::Internal(
                "a version 2 owner without its key pair".into(),
            ));
        }
        let sealer = match &owner_public {
            Some(p) => Sealer::of_run(p.seal_run()?),
            None => Sealer {
                data: master.data_key.clone(),
                meta: master.meta_key.clone(),
                run: None,
            },
        };
        Ok(Keyring {
            version,
            repo_id: master.repo_id,
            holder: Holder::Owner { master, owner },
            owner_public,
            sealer,
            opened: Mutex::new(HashMap::new()),
        })
    }

    /// A write-only host key's keys (version 2 only).
    pub fn host(key: HostKey) -> Result<Self> {
        let owner_public = key.owner;
        let sealer = Sealer::of_run(owner_public.seal_run()?);
        Ok(Keyring {
            version: 2,
            repo_id: key.repo_id,
            holder: Holder::Host(key),
            owner_public: Some(owner_public),
            sealer,
            opened: Mutex::new(HashMap::new()),
        })
    }

    pub fn version(&self) -> u32 {
        self.version
    }

    pub fn repo_id(&self) -> [u8; 8] {
        self.repo_id
    }

    /// Whether these are a write-only host key's.
    pub fn is_host(&self) -> bool {
        matches!(self.holder, Holder::Host(_))
    }

    /// The host key, when these are one.
    pub fn host_key(&self) -> Option<&HostKey> {
        match &self.holder {
            Holder::Host(h) => Some(h),
            Holder::Owner { .. } => None,
        }
    }

    /// The master keys, for an owner.
    pub fn master(&self) -> Option<&MasterKeys> {
        match &self.holder {
            Holder::Owner { master, .. } => Some(master),
            Holder::Host(_) => None,
        }
    }

    /// The owner's secrets (version 2, an owner).
    pub fn owner_secret(&self) -> Option<&OwnerSecret> {
        match &self.holder {
            Holder::Owner { owner, .. } => owner.as_ref(),
            Holder::Host(_) => None,
        }
    }

    /// The owner's public keys (version 2).
    pub fn owner_public(&self) -> Option<&OwnerPublic> {
        self.owner_public.as_ref()
    }

    fn id_key(&self) -> &SecretKey {
        match &self.holder {
            Holder::Owner { master, .. } => master.id_key(),
            Holder::Host(h) => &h.id_key,
        }
    }

    /// Chunk ID: keyed BLAKE3 of the plaintext, so IDs do not reveal content.
    pub fn chunk_id(&self, data: &[u8]) -> Id {
        crypto::chunk_id(self.id_key(), data)
    }

    pub fn chunker_seed(&self) -> u64 {
        match &self.holder {
            Holder::Owner { master, .. } => master.chunker_seed,
            Holder::Host(h) => h.chunker_seed,
        }
    }

    /// The public key this handle's objects carry (version 2).
    pub fn run_public(&self) -> Option<[u8; 32]> {
        self.sealer.run
    }

    /// The key that seals a new blob of `kind`.
    fn sealing_key(&self, kind: BlobKind) -> &SecretKey {
        match kind {
            BlobKind::Data => &self.sealer.data,
            BlobKind::Tree => &self.sealer.meta,
        }
    }

    /// The version-1 keys of an owner, for objects without a run; a host has none.
    fn master_for_open(&self, object: &str) -> Result<&MasterKeys> {
        match &self.holder {
            Holder::Owner { master, .. } => Ok(master),
            Holder::Host(h) => Err(Error::WriteOnly {
                hostname: h.hostname.clone(),
                refused: format!("open {object}"),
            }),
        }
    }

    /// The keys of the run whose objects carry `ephemeral` (derived once per run).
    fn run_keys(&self, ephemeral: &[u8; 32], object: &str) -> Result<Arc<RunKeys>> {
        let owner = match &self.holder {
            Holder::Owner { owner: Some(o), .. } => o,
            Holder::Owner { owner: None, .. } => {
                return Err(Error::corrupt(
                    object,
                    "sealed to an owner key in a version 1 repository",
                ));
            }
            Holder::Host(h) => {
                return Err(Error::WriteOnly {
                    hostname: h.hostname.clone(),
                    refused: format!("open {object}"),
                });
            }
        };
        if let Some(k) = self.opened.lock().expect("run keys").get(ephemeral) {
            return Ok(k.clone());
        }
        let keys = Arc::new(owner.open_run(ephemeral, object)?);
        self.opened
            .lock()
            .expect("run keys")
            .insert(*ephemeral, keys.clone());
        Ok(keys)
    }

    // ---- blobs ----

    /// Seal an encoded blob in place: `buf` holds `NONCE_LEN` placeholder bytes, then the
    /// encoded chunk.
    pub fn seal_blob_in_place(&self, kind: BlobKind, id: &Id, buf: &mut Vec<u8>) {
        let ad = blob_ad(self.sealing_version(), kind, id);
        crypto::seal_in_place(self.sealing_key(kind), &ad, buf);
    }

    /// Seal an encoded blob (tests and tools that assemble packs by hand).
    pub fn seal_blob(&self, kind: BlobKind, id: &Id, encoded: &[u8]) -> Vec<u8> {
        let mut buf = vec![0u8; crypto::NONCE_LEN];
        buf.extend_from_slice(encoded);
        self.seal_blob_in_place(kind, id, &mut buf);
        buf
    }

    /// Open a sealed blob in place. `run` is the public key of the pack's run (`None`: a
    /// version 1 pack, sealed with the master's keys).
    pub fn open_blob_in_place<'b>(
        &self,
        kind: BlobKind,
        id: &Id,
        run: Option<&[u8; 32]>,
        sealed: &'b mut [u8],
        object: &str,
    ) -> Result<&'b mut [u8]> {
        match run {
            None => {
                let master = self.master_for_open(object)?;
                crypto::open_in_place(kind.key(master), &blob_ad(1, kind, id), sealed)
                    .map_err(|e| Error::corrupt(object, e))
            }
            Some(e) => {
                let keys = self.run_keys(e, object)?;
                let key = match kind {
                    BlobKind::Data => &keys.data,
                    BlobKind::Tree => &keys.meta,
                };
                crypto::open_in_place(key, &blob_ad(2, kind, id), sealed)
                    .map_err(|e| Error::corrupt(object, e))
            }
        }
    }

    fn sealing_version(&self) -> u32 {
        if self.sealer.run.is_some() { 2 } else { 1 }
    }

    // ---- sealed objects: pack headers, index and snapshot files, config ----

    /// Seal a metadata object (`label`: `pack-header`, `index`, `snapshot`) bound to `id`:
    /// version 1 `SEAL(meta_key, ad, plain)`, version 2 `0x02 || E || SEAL(run meta, ad, plain)`.
    pub fn seal_object(&self, label: &str, id: &[u8], plain: &[u8]) -> Vec<u8> {
        let version = self.sealing_version();
        let sealed = crypto::seal(&self.sealer.meta, &ad(version, label, id), plain);
        match &self.sealer.run {
            None => sealed,
            Some(e) => {
                let mut out = Vec::with_capacity(V2_PREFIX + sealed.len());
                out.push(SEALED_V2);
                out.extend_from_slice(e);
                out.extend_from_slice(&sealed);
                out
            }
        }
    }

    /// Open what [`Keyring::seal_object`] sealed. Returns the plaintext and the run's public
    /// key (`None`: a version 1 object). In a version 2 repository an object without a run
    /// (kept from before a migration) opens with the master's keys.
    pub fn open_object(
        &self,
        label: &str,
        id: &[u8],
        sealed: &[u8],
        object: &str,
    ) -> Result<(Vec<u8>, Option<[u8; 32]>)> {
        if let Holder::Host(h) = &self.holder {
            return Err(Error::WriteOnly {
                hostname: h.hostname.clone(),
                refused: format!("open {object}"),
            });
        }
        let mut failure = None;
        if self.version >= 2 && sealed.len() >= V2_PREFIX + SEAL_OVERHEAD && sealed[0] == SEALED_V2
        {
            let e: [u8; 32] = sealed[1..V2_PREFIX].try_into().expect("32 bytes");
            match self.run_keys(&e, object) {
                Ok(keys) => match crypto::open(&keys.meta, &ad(2, label, id), &sealed[V2_PREFIX..])
                {
                    Ok(plain) => return Ok((plain, Some(e))),
                    Err(err) => failure = Some(Error::corrupt(object, err)),
                },
                Err(err) => failure = Some(err),
            }
        }
        let master = self.master_for_open(object)?;
        match crypto::open(&master.meta_key, &ad(1, label, id), sealed) {
            Ok(plain) => Ok((plain, None)),
            Err(err) => Err(failure.unwrap_or_else(|| Error::corrupt(object, err))),
        }
    }
}

/// Bytes a version 2 snapshot file ends with: `signer[16] || Ed25519 signature[64]`.
pub const SIGNATURE_TRAILER: usize = 80;

/// What a snapshot's signature covers: its ID and a BLAKE3 hash of its sealed bytes.
pub fn snapshot_signed_bytes(id: &Id, sealed: &[u8]) -> Vec<u8> {
    let mut m = id.0.to_vec();
    m.extend_from_slice(blake3::hash(sealed).as_bytes());
    m
}

impl Keyring {
    /// Append the signer and signature to a version 2 snapshot file: the host key's, or the
    /// owner's (signer all zeros).
    pub fn sign_snapshot(&self, id: &Id, sealed: &mut Vec<u8>) {
        let message = snapshot_signed_bytes(id, sealed);
        let context = super::hosts::SNAPSHOT_CONTEXT;
        let (signer, sig) = match &self.holder {
            Holder::Host(h) => (h.host_id, h.signing.sign(context, &message)),
            Holder::Owner { owner, .. } => (
                super::hosts::OWNER_SIGNER,
                owner
                    .as_ref()
                    .expect("a version 2 owner holds its key pair")
                    .sign(context, &message),
            ),
        };
        sealed.extend_from_slice(&signer);
        sealed.extend_from_slice(&sig);
    }
}

/// Associated data of a sealed blob: binds the format version, its kind and ID.
pub fn blob_ad(version: u32, kind: BlobKind, id: &Id) -> Vec<u8> {
    ad(version, "blob", &[&[kind as u8][..], &id.0].concat())
}

/// The keys a host key file holds, as bytes, for tests that try every secret in it against
/// every object (FORMAT.md §13.6).
pub fn host_secrets(key: &HostKey) -> Vec<Zeroizing<[u8; 32]>> {
    vec![
        Zeroizing::new(*key.id_key.expose()),
        Zeroizing::new(*key.cache_key.expose()),
        key.signing.to_bytes(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::recipient::OwnerSecret;

    fn owner_v2() -> (Keyring, HostKey) {
        let master = MasterKeys::generate();
        let owner = OwnerSecret::generate();
        let host = HostKey::generate(
            master.repo_id,
            "h",
            owner.public(),
            master.id_key(),
            master.chunker_seed,
        );
        (Keyring::owner(2, master, Some(owner)).unwrap(), host)
    }

    #[test]
    fn the_owner_opens_what_a_host_sealed_and_the_host_opens_nothing() {
        let (owner, host_key) = owner_v2();
        let host = Keyring::host(host_key).unwrap();
        let id = Id::random();
        let sealed = host.seal_object("index", &id.0, b"index body");
        assert_eq!(sealed[0], SEALED_V2);
        assert_eq!(&sealed[1..V2_PREFIX], &host.run_public().unwrap());
        let (plain, run) = owner.open_object("index", &id.0, &sealed, "index").unwrap();
        assert_eq!(plain, b"index body");
        assert_eq!(run, host.run_public());
        assert!(
            owner.open_object("snapshot", &id.0, &sealed, "x").is_err(),
            "label bound"
        );
        assert!(matches!(
            host.open_object("index", &id.0, &sealed, "index"),
            Err(Error::WriteOnly { .. })
        ));
        let blob = host.seal_blob(BlobKind::Data, &id, b"\0chunk");
        let mut b = blob.clone();
        let run = host.run_public();
        assert_eq!(
            owner
                .open_blob_in_place(BlobKind::Data, &id, run.as_ref(), &mut b, "blob")
                .unwrap(),
            b"\0chunk"
        );
        let mut b = blob.clone();
        assert!(
            host.open_blob_in_place(BlobKind::Data, &id, run.as_ref(), &mut b, "blob")
                .is_err()
        );
        let mut b = blob;
        assert!(
            owner
                .open_blob_in_place(BlobKind::Tree, &id, run.as_ref(), &mut b, "blob")
                .is_err(),
            "kind bound"
        );
        assert_eq!(
            host.chunk_id(b"x"),
            owner.chunk_id(b"x"),
            "hosts deduplicate with owners"
        );
    }

    #[test]
    fn version_1_objects_open_after_a_migration() {
        let master = MasterKeys::generate();
        let payload = master.wrap_payload();
        let v1 = Keyring::owner(1, master, None).unwrap();
        let id = Id::random();
        let old = v1.seal_object("snapshot", &id.0, b"old");
        assert_eq!(v1.run_public(), None);
        let v2 = Keyring::owner(
            2,
            MasterKeys::from_payload(&payload, "k").unwrap(),
            Some(OwnerSecret::generate()),
        )
        .unwrap();
        let (plain, run) = v2.open_object("snapshot", &id.0, &old, "s").unwrap();
        assert_eq!((plain.as_slice(), run), (&b"old"[..], None));
        let new = v2.seal_object("snapshot", &id.0, b"new");
        assert_eq!(
            v2.open_object("snapshot", &id.0, &new, "s").unwrap().0,
            b"new"
        );
        assert!(v1.open_object("snapshot", &id.0, &new, "s").is_err());
    }
}
