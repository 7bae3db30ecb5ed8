//! Write-only host key files (FORMAT.md §13.2): what a host needs to add snapshots to a
//! version 2 repository and nothing that opens one. The file lives on the host (0600, like an
//! SSH key), never in the repository; an optional passphrase wraps it as a password wraps a
//! repository key (Argon2id + XChaCha20-Poly1305, §4).

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::keys::KdfJson;
use crate::crypto::recipient::{OwnerPublic, SigningSecret};
use crate::crypto::{self, KdfParams, SecretKey};
use crate::error::{Error, Result};

const KIND: &str = "lifeboat host key";
const AD_PREFIX: &[u8] = b"lifeboat/v2/host-key/";

/// A host key, unwrapped: it seals to the owner, computes chunk IDs, signs its snapshots and
/// encrypts its local cache.
pub struct HostKey {
    pub repo_id: [u8; 8],
    pub hostname: String,
    pub host_id: [u8; 16],
    pub owner: OwnerPublic,
    pub id_key: SecretKey,
    pub chunker_seed: u64,
    pub signing: SigningSecret,
    pub cache_key: SecretKey,
}

impl std::fmt::Debug for HostKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "HostKey({} {} <redacted>)",
            self.hostname,
            hex::encode(self.host_id)
        )
    }
}

/// The secret part (CBOR), plain or wrapped by a passphrase.
#[derive(Serialize, Deserialize)]
struct Secret {
    version: u32,
    #[serde(with = "serde_bytes")]
    repository: Vec<u8>,
    hostname: String,
    #[serde(with = "serde_bytes")]
    host_id: Vec<u8>,
    #[serde(with = "serde_bytes")]
    owner_x25519: Vec<u8>,
    #[serde(with = "serde_bytes")]
    owner_ed25519: Vec<u8>,
    #[serde(with = "serde_bytes")]
    id_key: Vec<u8>,
    chunker_seed: u64,
    #[serde(with = "serde_bytes")]
    host_ed25519_secret: Vec<u8>,
    #[serde(with = "serde_bytes")]
    cache_key: Vec<u8>,
}

impl Drop for Secret {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.id_key.zeroize();
        self.host_ed25519_secret.zeroize();
        self.cache_key.zeroize();
    }
}

/// The JSON document of a host key file.
#[derive(Serialize, Deserialize)]
struct FileJson {
    kind: String,
    version: u32,
    repository: String,
    hostname: String,
    host_id: String,
    created: String,
    /// Present when a passphrase wraps `secret`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kdf: Option<KdfJson>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    check: Option<String>,
    /// Hex of the CBOR secret, or of `SEAL(KEK, ad, CBOR)` with a passphrase.
    secret: String,
}

/// A parsed host key file, before its passphrase (if any) is given.
pub struct HostKeyFile {
    json: FileJson,
    kdf: Option<KdfParams>,
    object: String,
}

impl HostKey {
    /// A new host key for `hostname` of the repository the owner's `master` opens.
    pub fn generate(
        repo_id: [u8; 8],
        hostname: &str,
        owner: OwnerPublic,
        id_key: &SecretKey,
        chunker_seed: u64,
    ) -> HostKey {
        let mut host_id = [0u8; 16];
        crypto::fill_random(&mut host_id);
        HostKey {
            repo_id,
            hostname: hostname.to_string(),
            host_id,
            owner,
            id_key: id_key.clone(),
            chunker_seed,
            signing: SigningSecret::generate(),
            cache_key: SecretKey::random(),
        }
    }

    /// The host's public signing key, which the owner registers (FORMAT.md §13.2).
    pub fn public(&self) -> [u8; 32] {
        self.signing.public()
    }

    /// The file's bytes: JSON, the secret wrapped by `passphrase` when one is given.
    pub fn to_file(&self, passphrase: Option<(&[u8], KdfParams)>) -> Result<Zeroizing<Vec<u8>>> {
        let secret = Secret {
            version: 2,
            repository: self.repo_id.to_vec(),
            hostname: self.hostname.clone(),
            host_id: self.host_id.to_vec(),
            owner_x25519: self.owner.x25519.to_vec(),
            owner_ed25519: self.owner.ed25519.to_vec(),
            id_key: self.id_key.expose().to_vec(),
            chunker_seed: self.chunker_seed,
            host_ed25519_secret: self.signing.to_bytes().to_vec(),
            cache_key: self.cache_key.expose().to_vec(),
        };
        let mut cbor = Zeroizing::new(Vec::new());
        ciborium::into_writer(&secret, &mut *cbor).expect("host key serializes");
        let (kdf, check, secret) = match passphrase {
            None => (None, None, hex::encode(&*cbor)),
            Some((pass, params)) => {
                if pass.is_empty() {
                    return Err(Error::Password("empty passphrase".into()));
                }
                let kek = crypto::derive_kek(pass, &params)?;
                let sealed = crypto::seal(&kek, &wrap_ad(&params), &cbor);
                (
                    Some(KdfJson::of(&params)),
                    Some(hex::encode(crypto::key_check(&kek))),
                    hex::encode(sealed),
                )
            }
        };
        let json = FileJson {
            kind: KIND.into(),
            version: 2,
            repository: hex::encode(self.repo_id),
            hostname: self.hostname.clone(),
            host_id: hex::encode(self.host_id),
            created: crate::util::now_rfc3339(),
            kdf,
            check,
            secret,
        };
        let mut bytes = Zeroizing::new(serde_json::to_vec_pretty(&json).expect("json"));
        bytes.push(b'\n');
        Ok(bytes)
    }
}

fn wrap_ad(params: &KdfParams) -> Vec<u8> {
    let mut ad = AD_PREFIX.to_vec();
    ad.extend_from_slice(&params.canonical_bytes());
    ad
}

impl HostKeyFile {
    /// Parse a host key file (`object` names it in errors: its path).
    pub fn parse(bytes: &[u8], object: &str) -> Result<HostKeyFile> {
        let json: FileJson = serde_json::from_slice(bytes)
            .map_err(|e| Error::Invalid(format!("{object}: not a lifeboat host key file ({e})")))?;
        if json.kind != KIND {
            return Err(Error::Invalid(format!(
                "{object}: not a lifeboat host key file"
            )));
        }
        if json.version != 2 {
            return Err(Error::UnsupportedVersion(
                object.to_string(),
                u64::from(json.version),
            ));
        }
        let kdf = match &json.kdf {
            None => None,
            Some(k) => Some(k.params(object)?),
        };
        Ok(HostKeyFile {
            json,
            kdf,
            object: object.to_string(),
        })
    }

    /// Whether a passphrase protects the file.
    pub fn needs_passphrase(&self) -> bool {
        self.kdf.is_some()
    }

    pub fn hostname(&self) -> &str {
        &self.json.hostname
    }

    /// The key itself; `passphrase` is required exactly when [`Self::needs_passphrase`].
    pub fn unlock(&self, passphrase: Option<&[u8]>) -> Result<HostKey> {
        let object = &self.object;
        let raw = Zeroizing::new(
            hex::decode(&self.json.secret)
                .map_err(|_| Error::corrupt(object, "secret is not hex"))?,
        );
        let cbor = match (&self.kdf, passphrase) {
            (None, _) => raw,
            (Some(_), None) => {
                return Err(Error::Password(format!(
                    "{object} is protected by a passphrase"
                )));
            }
            (Some(params), Some(pass)) => {
                let kek = crypto::derive_kek(pass, params)?;
                let check = self.json.check.as_deref().unwrap_or_default();
                if hex::decode(check).ok().as_deref() != Some(&crypto::key_check(&kek)[..]) {
                    return Err(Error::WrongPassword);
                }
                Zeroizing::new(
                    crypto::open(&kek, &wrap_ad(params), &raw)
                        .map_err(|e| Error::corrupt(object, format!("wrapped secret: {e}")))?,
                )
            }
        };
        let s: Secret = ciborium::from_reader(&cbor[..])
            .map_err(|e| Error::corrupt(object, format!("secret: {e}")))?;
        let arr32 = |v: &[u8], what: &str| -> Result<[u8; 32]> {
            v.try_into()
                .map_err(|_| Error::corrupt(object, format!("{what} is not 32 bytes")))
        };
        let repo_id: [u8; 8] = s
            .repository
            .as_slice()
            .try_into()
            .map_err(|_| Error::corrupt(object, "repository id is not 8 bytes"))?;
        let host_id: [u8; 16] = s
            .host_id
            .as_slice()
            .try_into()
            .map_err(|_| Error::corrupt(object, "host id is not 16 bytes"))?;
        if s.version != 2
            || hex::encode(repo_id) != self.json.repository
            || hex::encode(host_id) != self.json.host_id
            || s.hostname != self.json.hostname
        {
            return Err(Error::corrupt(
                object,
                "the secret part does not match the file's header",
            ));
        }
        Ok(HostKey {
            repo_id,
            hostname: s.hostname.clone(),
            host_id,
            owner: OwnerPublic {
                x25519: arr32(&s.owner_x25519, "owner X25519 key")?,
                ed25519: arr32(&s.owner_ed25519, "owner Ed25519 key")?,
            },
            id_key: SecretKey::from_bytes(arr32(&s.id_key, "chunk id key")?),
            chunker_seed: s.chunker_seed,
            signing: SigningSecret::from_bytes(&arr32(&s.host_ed25519_secret, "signing key")?),
            cache_key: SecretKey::from_bytes(arr32(&s.cache_key, "cache key")?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::recipient::OwnerSecret;

    fn key() -> HostKey {
        HostKey::generate(
            *b"repo-id!",
            "gpu-01",
            OwnerSecret::generate().public(),
            &SecretKey::random(),
            7,
        )
    }

    #[test]
    fn plain_and_passphrase_files_round_trip() {
        let k = key();
        let plain = k.to_file(None).unwrap();
        let f = HostKeyFile::parse(&plain, "host.key").unwrap();
        assert!(!f.needs_passphrase());
        let back = f.unlock(None).unwrap();
        assert_eq!(back.host_id, k.host_id);
        assert_eq!(back.public(), k.public());
        assert_eq!(back.id_key.expose(), k.id_key.expose());
        assert_eq!(back.owner, k.owner);

        let wrapped = k
            .to_file(Some((b"pass", KdfParams::new(8192, 1, 1))))
            .unwrap();
        let text = String::from_utf8(wrapped.to_vec()).unwrap();
        assert!(!text.contains(&hex::encode(k.id_key.expose())));
        let f = HostKeyFile::parse(&wrapped, "host.key").unwrap();
        assert!(f.needs_passphrase());
        assert!(matches!(f.unlock(None), Err(Error::Password(_))));
        assert!(matches!(
            f.unlock(Some(b"wrong")),
            Err(Error::WrongPassword)
        ));
        assert_eq!(f.unlock(Some(b"pass")).unwrap().host_id, k.host_id);
    }

    #[test]
    fn a_header_that_lies_about_the_secret_is_refused() {
        let k = key();
        let bytes = k.to_file(None).unwrap();
        let mut json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        json["hostname"] = "other".into();
        let bent = serde_json::to_vec(&json).unwrap();
        let err = HostKeyFile::parse(&bent, "k")
            .unwrap()
            .unlock(None)
            .unwrap_err();
        assert!(err.to_string().contains("does not match"), "{err}");
        assert!(HostKeyFile::parse(b"{}", "k").is_err());
    }
}
