//! Lists the owner publishes for write-only hosts (FORMAT.md §13.4), signed with the owner's
//! Ed25519 key, in `keys/`, where a host credential may read:
//!
//! - `keys/verified-<time>-<rand>`: blobs an owner's `verify --read-data` decrypted and found
//!   to hash to their IDs, with the packs that hold them. Hosts deduplicate against these and
//!   their own uploads only, never against another host's unverified ones (a host that
//!   uploads garbage under a chunk's ID poisons nothing).
//! - `keys/condemned-<time>-<rand>`: packs a prune condemned. A host stops deduplicating
//!   against blobs in them, and checks for new ones just before it saves a snapshot.
//!
//! Both are `zstd(CBOR) || signature[64]`, the signature over the file's name and the
//! compressed bytes, so a list cannot be replayed under another name or kind.

use serde::{Deserialize, Serialize};

use super::{BlobKind, Capability, FileType, Repository};
use crate::crypto::recipient::OwnerPublic;
use crate::error::{Error, Result};
use crate::id::Id;

const CONTEXT: &[u8] = b"lifeboat/v2/published";
pub const VERIFIED: &str = "verified-";
pub const CONDEMNED: &str = "condemned-";
/// Largest list a reader expands (about 6 million blobs).
const MAX_PLAIN: u64 = 512 << 20;

/// A blob an owner read and found intact: its kind, ID, pack, offset and lengths.
pub type VerifiedBlob = (BlobKind, Id, Id, u32, u32, u32);

#[derive(Serialize, Deserialize, Debug, Default)]
pub struct VerifiedList {
    #[serde(with = "serde_bytes")]
    pub repository: Vec<u8>,
    pub time: String,
    pub blobs: Vec<VerifiedBlob>,
}

#[derive(Serialize, Deserialize, Debug, Default)]
pub struct CondemnedList {
    #[serde(with = "serde_bytes")]
    pub repository: Vec<u8>,
    pub time: String,
    pub packs: Vec<Id>,
}

/// A sortable name for a list made now: `<prefix><UTC time>-<random>`.
fn new_name(prefix: &str) -> String {
    let mut r = [0u8; 4];
    crate::crypto::fill_random(&mut r);
    format!(
        "{prefix}{}-{}",
        chrono::Utc::now().format("%Y%m%dt%H%M%S%.9fz"),
        hex::encode(r)
    )
}

fn signed(name: &str, body: &[u8]) -> Vec<u8> {
    let mut m = name.as_bytes().to_vec();
    m.push(0);
    m.extend_from_slice(body);
    m
}

impl Repository {
    fn publish<T: Serialize>(&self, prefix: &str, list: &T) -> Result<String> {
        self.require(Capability::Write)?;
        let owner = self.keys().owner_secret().ok_or_else(|| {
            Error::Invalid("only the owner of a version 2 repository publishes lists".into())
        })?;
        let mut cbor = Vec::new();
        ciborium::into_writer(list, &mut cbor).expect("list serializes");
        let mut body = zstd::bulk::compress(&cbor, 3).map_err(|e| Error::io(prefix, e))?;
        let name = new_name(prefix);
        let sig = owner.sign(CONTEXT, &signed(&name, &body));
        body.extend_from_slice(&sig);
        self.backend()
            .write(FileType::Key, &name, &body)
            .map_err(|e| Error::io(format!("keys/{name}"), e))?;
        Ok(name)
    }

    /// Publish the blobs a `verify --read-data` found intact, replacing older verified lists.
    pub fn publish_verified(&self, blobs: Vec<VerifiedBlob>) -> Result<String> {
        let older = self.published_names(VERIFIED)?;
        let name = self.publish(
            VERIFIED,
            &VerifiedList {
                repository: self.keys().repo_id().to_vec(),
                time: crate::util::now_rfc3339(),
                blobs,
            },
        )?;
        for old in older {
            self.backend()
                .remove(FileType::Key, &old)
                .map_err(|e| Error::io(format!("keys/{old}"), e))?;
        }
        Ok(name)
    }

    /// Publish the packs a prune condemned.
    pub fn publish_condemned(&self, packs: Vec<Id>) -> Result<String> {
        self.publish(
            CONDEMNED,
            &CondemnedList {
                repository: self.keys().repo_id().to_vec(),
                time: crate::util::now_rfc3339(),
                packs,
            },
        )
    }

    /// The names of the published lists of one kind, oldest first.
    pub fn published_names(&self, prefix: &str) -> Result<Vec<String>> {
        let mut names: Vec<String> = self
            .backend()
            .list(FileType::Key)
            .map_err(|e| Error::io("keys", e))?
            .into_iter()
            .filter(|n| n.starts_with(prefix))
            .collect();
        names.sort();
        Ok(names)
    }

    /// Read a published list, trusting it only if the owner (as this handle knows the owner:
    /// from the host key file, or the owner's own secrets) signed it for this repository.
    pub fn read_published<T: serde::de::DeserializeOwned + HasRepository>(
        &self,
        name: &str,
    ) -> Result<T> {
        let object = format!("published list {name}");
        let owner: OwnerPublic = *self
            .keys()
            .owner_public()
            .ok_or_else(|| Error::corrupt(&object, "in a version 1 repository"))?;
        let bytes = self
            .backend()
            .read(FileType::Key, name)
            .map_err(|e| Error::io(format!("keys/{name}"), e))?;
        if bytes.len() < 64 {
            return Err(Error::corrupt(&object, "truncated"));
        }
        let (body, sig) = bytes.split_at(bytes.len() - 64);
        owner.verify(
            CONTEXT,
            &signed(name, body),
            sig.try_into().expect("64 bytes"),
            &object,
        )?;
        let mut cbor = Vec::new();
        use std::io::Read;
        zstd::stream::read::Decoder::new(body)
            .map_err(|e| Error::corrupt(&object, e))?
            .take(MAX_PLAIN + 1)
            .read_to_end(&mut cbor)
            .map_err(|e| Error::corrupt(&object, format!("zstd: {e}")))?;
        if cbor.len() as u64 > MAX_PLAIN {
            return Err(Error::hostile(&object, "expands beyond 512 MiB"));
        }
        let list: T = ciborium::from_reader(&cbor[..])
            .map_err(|e| Error::corrupt(&object, format!("cbor: {e}")))?;
        if list.repository() != self.keys().repo_id() {
            return Err(Error::corrupt(&object, "published for another repository"));
        }
        Ok(list)
    }
}

/// A list that names the repository it was published for.
pub trait HasRepository {
    fn repository(&self) -> &[u8];
}

impl HasRepository for VerifiedList {
    fn repository(&self) -> &[u8] {
        &self.repository
    }
}

impl HasRepository for CondemnedList {
    fn repository(&self) -> &[u8] {
        &self.repository
    }
}
