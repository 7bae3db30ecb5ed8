//! The owner's register of write-only host keys (FORMAT.md §13.2): one signed record per host
//! key in `keys/host-<host id>`, naming its public signing key and, once `key rotate-host`
//! revoked it, when. Snapshots are signed by the key that wrote them; the owner's verify and
//! status judge them against this register.

use serde::{Deserialize, Serialize};

use super::{Capability, FileType, Repository};
use crate::crypto::recipient::{OwnerPublic, verify_signature};
use crate::error::{Error, Result};

const PREFIX: &str = "host-";
const CONTEXT: &[u8] = b"lifeboat/v2/host";
/// What a snapshot's signature covers (with the snapshot's ID and a BLAKE3 hash of its sealed
/// bytes).
pub const SNAPSHOT_CONTEXT: &[u8] = b"lifeboat/v2/snapshot";
/// The signer ID of snapshots the owner wrote.
pub const OWNER_SIGNER: [u8; 16] = [0; 16];

/// One registered host key.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct HostRecord {
    /// Hex of the 16-byte host ID.
    pub host_id: String,
    pub hostname: String,
    /// Hex of the host's Ed25519 public key.
    pub public: String,
    pub added: String,
    /// When the owner revoked the key (RFC 3339); snapshots it signed after that are refused
    /// by verify and flagged by status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked: Option<String>,
}

/// A record with the owner's signature, as stored.
#[derive(Serialize, Deserialize)]
struct Signed {
    #[serde(flatten)]
    record: HostRecord,
    signature: String,
}

impl HostRecord {
    fn signed_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("record serializes")
    }

    /// The public signing key, when it is well formed.
    pub fn public_key(&self) -> Option<[u8; 32]> {
        let mut k = [0u8; 32];
        hex::decode_to_slice(&self.public, &mut k).ok().map(|()| k)
    }

    /// Whether the key was revoked before `time` (RFC 3339): a snapshot made then is not to be
    /// trusted. An unreadable time counts as after the revocation.
    pub fn revoked_before(&self, time: &str) -> bool {
        let Some(revoked) = &self.revoked else {
            return false;
        };
        match (
            chrono::DateTime::parse_from_rfc3339(revoked),
            chrono::DateTime::parse_from_rfc3339(time),
        ) {
            (Ok(r), Ok(t)) => t >= r,
            _ => true,
        }
    }
}

/// Check the owner's signature on a stored record.
fn parse(name: &str, bytes: &[u8], owner: &OwnerPublic) -> Result<HostRecord> {
    let object = format!("host record {name}");
    let signed: Signed = serde_json::from_slice(bytes)
        .map_err(|e| Error::corrupt(&object, format!("not a host record: {e}")))?;
    let mut sig = [0u8; 64];
    hex::decode_to_slice(&signed.signature, &mut sig)
        .map_err(|_| Error::corrupt(&object, "signature is not hex"))?;
    verify_signature(
        &owner.ed25519,
        "the owner's",
        CONTEXT,
        &signed.record.signed_bytes(),
        &sig,
        &object,
    )?;
    if name != format!("{PREFIX}{}", signed.record.host_id) {
        return Err(Error::corrupt(&object, "names another host"));
    }
    Ok(signed.record)
}

impl Repository {
    /// Every registered host key (version 2; none in version 1). A record the owner did not
    /// sign is damage.
    pub fn host_records(&self) -> Result<Vec<HostRecord>> {
        let Some(owner) = self.keys().owner_public().copied() else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for name in self
            .backend()
            .list(FileType::Key)
            .map_err(|e| Error::io("keys", e))?
            .into_iter()
            .filter(|n| n.starts_with(PREFIX))
        {
            let bytes = self
                .backend()
                .read(FileType::Key, &name)
                .map_err(|e| Error::io(format!("keys/{name}"), e))?;
            out.push(parse(&name, &bytes, &owner)?);
        }
        out.sort_by(|a, b| (&a.hostname, &a.added).cmp(&(&b.hostname, &b.added)));
        Ok(out)
    }

    /// Write (or replace) a host record, signed by the owner.
    pub fn put_host_record(&self, record: &HostRecord) -> Result<()> {
        self.require(Capability::Write)?;
        let owner = self.keys().owner_secret().ok_or_else(|| {
            Error::Invalid("host keys need a version 2 repository and its owner".into())
        })?;
        let signature = hex::encode(owner.sign(CONTEXT, &record.signed_bytes()));
        let mut bytes = serde_json::to_vec_pretty(&Signed {
            record: record.clone(),
            signature,
        })
        .expect("record serializes");
        bytes.push(b'\n');
        let name = format!("{PREFIX}{}", record.host_id);
        self.backend()
            .replace(FileType::Key, &name, &bytes)
            .map_err(|e| Error::io(format!("keys/{name}"), e))
    }
}
