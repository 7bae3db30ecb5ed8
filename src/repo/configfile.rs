//! The `config` file (FORMAT.md §5, §13.2): version 1 is sealed whole under the master's
//! metadata key; version 2 has a public part signed by the owner (what a host key reads,
//! trusting only the owner's key in its key file) and a sealed part with the owner's secrets.

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::RepoConfig;
use crate::crypto::recipient::{OwnerPublic, OwnerSecret};
use crate::crypto::{self, MasterKeys};
use crate::error::{Error, Result};

pub const MAGIC: &[u8; 8] = b"LBREPO\0\x01";
/// The newest format this lifeboat writes.
pub const FORMAT_VERSION: u32 = 2;
const SIGNATURE_CONTEXT: &[u8] = b"lifeboat/v2/config";
/// Largest public part a reader accepts.
const MAX_PUBLIC: u32 = 64 << 10;

/// The owner's secrets, sealed in a version 2 config under the master's metadata key: every
/// password that opens the master secret is an owner.
#[derive(Serialize, Deserialize)]
struct Private {
    #[serde(with = "serde_bytes")]
    owner_x25519: Vec<u8>,
    #[serde(with = "serde_bytes")]
    owner_ed25519: Vec<u8>,
}

impl Drop for Private {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.owner_x25519.zeroize();
        self.owner_ed25519.zeroize();
    }
}

fn header(version: u32) -> [u8; 12] {
    let mut h = [0u8; 12];
    h[..8].copy_from_slice(MAGIC);
    h[8..].copy_from_slice(&version.to_le_bytes());
    h
}

fn config_ad(header: &[u8]) -> Vec<u8> {
    let mut ad = b"lifeboat/v1/config/".to_vec();
    ad.extend_from_slice(header);
    ad
}

fn to_cbor<T: Serialize>(value: &T) -> Vec<u8> {
    let mut cbor = Vec::new();
    ciborium::into_writer(value, &mut cbor).expect("config serializes");
    cbor
}

/// A version 1 config: `MAGIC || 1 || SEAL(meta_key, ad, cbor)`.
pub fn encode_v1(config: &RepoConfig, master: &MasterKeys) -> Vec<u8> {
    let h = header(1);
    let mut file = h.to_vec();
    file.extend_from_slice(&crypto::seal(
        &master.meta_key,
        &config_ad(&h),
        &to_cbor(config),
    ));
    file
}

/// A version 2 config: `MAGIC || 2 || len[u32] || public-cbor || sig[64] || SEAL(meta_key,
/// ad, private-cbor)`. `config` must carry the owner's public keys.
pub fn encode_v2(config: &RepoConfig, master: &MasterKeys, owner: &OwnerSecret) -> Vec<u8> {
    let public = to_cbor(config);
    let h = header(2);
    let mut file = h.to_vec();
    file.extend_from_slice(&(public.len() as u32).to_le_bytes());
    file.extend_from_slice(&public);
    file.extend_from_slice(&owner.sign(SIGNATURE_CONTEXT, &public));
    let secrets = owner.to_bytes();
    let private = Private {
        owner_x25519: secrets[..32].to_vec(),
        owner_ed25519: secrets[32..].to_vec(),
    };
    let plain = Zeroizing::new(to_cbor(&private));
    let ad = config_ad(&file);
    file.extend_from_slice(&crypto::seal(&master.meta_key, &ad, &plain));
    file
}

/// A config file split into its parts (nothing checked but the layout).
pub struct Parsed<'f> {
    /// Version 2: the public CBOR and the owner's signature on it.
    public: Option<(&'f [u8], [u8; 64])>,
    /// What the sealed part's associated data covers (everything before it).
    authenticated: &'f [u8],
    sealed: &'f [u8],
}

/// Split `file` (already checked to start with the magic and a known version).
pub fn parse<'f>(file: &'f [u8], version: u32, object: &str) -> Result<Parsed<'f>> {
    if version == 1 {
        return Ok(Parsed {
            public: None,
            authenticated: &file[..12],
            sealed: &file[12..],
        });
    }
    let bad = || Error::corrupt(object, "truncated");
    let len = u32::from_le_bytes(file.get(12..16).ok_or_else(bad)?.try_into().expect("4"));
    if len > MAX_PUBLIC {
        return Err(Error::hostile(
            object,
            format!("public part of {len} bytes"),
        ));
    }
    let end = 16 + len as usize;
    let public = file.get(16..end).ok_or_else(bad)?;
    let sig: [u8; 64] = file
        .get(end..end + 64)
        .ok_or_else(bad)?
        .try_into()
        .expect("64");
    Ok(Parsed {
        public: Some((public, sig)),
        authenticated: &file[..end + 64],
        sealed: &file[end + 64..],
    })
}

fn decode_config(cbor: &[u8], object: &str) -> Result<RepoConfig> {
    ciborium::from_reader(cbor).map_err(|e| Error::corrupt(object, format!("cbor: {e}")))
}

impl Parsed<'_> {
    /// The owner's view: the configuration and, in version 2, the owner's secrets (checked
    /// against the public keys the config announces, and the config's signature checked).
    pub fn open_as_owner(
        &self,
        master: &MasterKeys,
        object: &str,
    ) -> Result<(RepoConfig, Option<OwnerSecret>)> {
        let plain = Zeroizing::new(
            crypto::open(
                &master.meta_key,
                &config_ad(self.authenticated),
                self.sealed,
            )
            .map_err(|e| Error::corrupt(object, e))?,
        );
        let Some((public, sig)) = self.public else {
            return Ok((decode_config(&plain, object)?, None));
        };
        let private: Private = ciborium::from_reader(&plain[..])
            .map_err(|e| Error::corrupt(object, format!("cbor: {e}")))?;
        let (x, e): (&[u8; 32], &[u8; 32]) = match (
            private.owner_x25519.as_slice().try_into(),
            private.owner_ed25519.as_slice().try_into(),
        ) {
            (Ok(x), Ok(e)) => (x, e),
            _ => return Err(Error::corrupt(object, "owner keys of the wrong length")),
        };
        let owner = OwnerSecret::from_bytes(x, e);
        let config = self.verified(&owner.public(), public, &sig, object)?;
        Ok((config, Some(owner)))
    }

    /// A host's view: the public part, trusted only if `owner` (from the host's own key file)
    /// signed it and it names the same owner keys.
    pub fn open_as_host(&self, owner: &OwnerPublic, object: &str) -> Result<RepoConfig> {
        let Some((public, sig)) = self.public else {
            return Err(Error::Invalid(format!(
                "{object}: a version 1 repository, which host keys cannot write to until its owner migrates it"
            )));
        };
        self.verified(owner, public, &sig, object)
    }

    fn verified(
        &self,
        owner: &OwnerPublic,
        public: &[u8],
        sig: &[u8; 64],
        object: &str,
    ) -> Result<RepoConfig> {
        owner.verify(SIGNATURE_CONTEXT, public, sig, object)?;
        let config = decode_config(public, object)?;
        if config.owner_x25519.as_deref() != Some(&owner.x25519[..])
            || config.owner_ed25519.as_deref() != Some(&owner.ed25519[..])
        {
            return Err(Error::corrupt(object, "names other owner keys"));
        }
        Ok(config)
    }
}
