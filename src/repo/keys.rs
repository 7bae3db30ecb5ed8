//! Key files: one per password, each wrapping the repository's master secret under a
//! password-derived key (FORMAT.md §4). Telling "wrong password" from "damaged key file" is
//! this module's job.

use serde::{Deserialize, Serialize};

use crate::crypto::{self, KdfParams, MasterKeys};
use crate::error::{Error, Result};
use crate::id::Id;

const AD_PREFIX: &[u8] = b"lifeboat/v1/key/";

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct KdfJson {
    pub algorithm: String,
    pub version: u32,
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
    pub salt: String,
}

impl KdfJson {
    /// The JSON form of `params`.
    pub fn of(params: &KdfParams) -> KdfJson {
        KdfJson {
            algorithm: "argon2id".into(),
            version: 19,
            memory_kib: params.memory_kib,
            iterations: params.iterations,
            parallelism: params.parallelism,
            salt: hex::encode(&params.salt),
        }
    }

    /// The parameters, refused as hostile when outside the bounds of FORMAT.md §4.
    pub fn params(&self, object: &str) -> Result<KdfParams> {
        if self.algorithm != "argon2id" || self.version != 19 {
            return Err(Error::hostile(
                object,
                format!(
                    "unknown key derivation {} v{}",
                    self.algorithm, self.version
                ),
            ));
        }
        let salt =
            hex::decode(&self.salt).map_err(|_| Error::corrupt(object, "salt is not hex"))?;
        let params = KdfParams {
            memory_kib: self.memory_kib,
            iterations: self.iterations,
            parallelism: self.parallelism,
            salt,
        };
        params.check_bounds(object)?;
        Ok(params)
    }
}

/// Whether `name` in `keys/` is a password's key file (64 hex digits); the other files there
/// are version 2's signed records (FORMAT.md §13).
pub fn is_key_file_name(name: &str) -> bool {
    name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The JSON document stored in `keys/<id>`.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct KeyFile {
    pub version: u32,
    pub created: String,
    pub hostname: String,
    pub username: String,
    pub kdf: KdfJson,
    pub check: String,
    pub wrapped: String,
}

/// What `key list` shows.
#[derive(Debug, Clone, Serialize)]
pub struct KeyInfo {
    pub id: String,
    /// `password` (an owner: opens everything) or `host` (write-only, FORMAT.md §13).
    pub kind: &'static str,
    /// A host key the owner revoked: when.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked: Option<String>,
    pub created: String,
    pub hostname: String,
    pub username: String,
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
    /// Whether this is the key the password in use opened.
    pub current: bool,
}

impl KeyFile {
    /// Wrap `keys` under `password`. Returns the file's ID (BLAKE3 of its bytes) and bytes.
    pub fn create(keys: &MasterKeys, password: &[u8], params: KdfParams) -> Result<(Id, Vec<u8>)> {
        if password.is_empty() {
            return Err(Error::Password(
                "empty password: a repository key needs a password".into(),
            ));
        }
        let kek = crypto::derive_kek(password, &params)?;
        let ad = ad(&params);
        let wrapped = crypto::seal(&kek, &ad, &keys.wrap_payload());
        let file = KeyFile {
            version: 1,
            created: crate::util::now_rfc3339(),
            hostname: crate::util::hostname(),
            username: crate::util::username(),
            kdf: KdfJson::of(&params),
            check: hex::encode(crypto::key_check(&kek)),
            wrapped: hex::encode(wrapped),
        };
        let mut bytes = serde_json::to_vec_pretty(&file).expect("key file serializes");
        bytes.push(b'\n');
        Ok((Id(*blake3::hash(&bytes).as_bytes()), bytes))
    }

    /// Parse and validate a key file read from `keys/<name>`. Damage and hostile parameters are
    /// reported here, before any password is tried.
    pub fn parse(name: &str, bytes: &[u8]) -> Result<(KeyFile, KdfParams)> {
        let object = format!("key file {}", short(name));
        if hex::encode(blake3::hash(bytes).as_bytes()) != name {
            return Err(Error::corrupt(
                &object,
                "content does not match its name (file is damaged)",
            ));
        }
        let kf: KeyFile = serde_json::from_slice(bytes)
            .map_err(|e| Error::corrupt(&object, format!("not a valid key file: {e}")))?;
        if kf.version != 1 {
            return Err(Error::UnsupportedVersion(object, u64::from(kf.version)));
        }
        let params = kf.kdf.params(&object)?;
        Ok((kf, params))
    }

    /// Try `password` on this key file.
    pub fn unlock(&self, name: &str, params: &KdfParams, password: &[u8]) -> Result<Unlock> {
        let object = format!("key file {}", short(name));
        let check = hex::decode(&self.check)
            .map_err(|_| Error::corrupt(&object, "check value is not hex"))?;
        let wrapped = hex::decode(&self.wrapped)
            .map_err(|_| Error::corrupt(&object, "wrapped key is not hex"))?;
        let kek = crypto::derive_kek(password, params)?;
        if check != crypto::key_check(&kek) {
            return Ok(Unlock::WrongPassword);
        }
        let payload = zeroize::Zeroizing::new(
            crypto::open(&kek, &ad(params), &wrapped)
                .map_err(|e| Error::corrupt(&object, format!("wrapped key: {e}")))?,
        );
        Ok(Unlock::Opened(MasterKeys::from_payload(&payload, &object)?))
    }

    pub fn info(&self, name: &str) -> KeyInfo {
        KeyInfo {
            id: name.to_string(),
            kind: "password",
            revoked: None,
            created: self.created.clone(),
            hostname: self.hostname.clone(),
            username: self.username.clone(),
            memory_kib: self.kdf.memory_kib,
            iterations: self.kdf.iterations,
            parallelism: self.kdf.parallelism,
            current: false,
        }
    }
}

impl KeyInfo {
    /// A registered write-only host key.
    pub fn host(h: &super::hosts::HostRecord) -> KeyInfo {
        KeyInfo {
            id: h.host_id.clone(),
            kind: "host",
            revoked: h.revoked.clone(),
            created: h.added.clone(),
            hostname: h.hostname.clone(),
            username: String::new(),
            memory_kib: 0,
            iterations: 0,
            parallelism: 0,
            current: false,
        }
    }
}

#[derive(Debug)]
pub enum Unlock {
    Opened(MasterKeys),
    WrongPassword,
}

fn ad(params: &KdfParams) -> Vec<u8> {
    let mut ad = AD_PREFIX.to_vec();
    ad.extend_from_slice(&params.canonical_bytes());
    ad
}

fn short(name: &str) -> &str {
    &name[..name.len().min(8)]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> KdfParams {
        KdfParams::new(8 * 1024, 1, 1)
    }

    #[test]
    fn right_wrong_and_damaged() {
        let keys = MasterKeys::generate();
        let (id, bytes) = KeyFile::create(&keys, b"secret", cheap()).unwrap();
        let name = id.to_hex();
        let (kf, p) = KeyFile::parse(&name, &bytes).unwrap();
        match kf.unlock(&name, &p, b"secret").unwrap() {
            Unlock::Opened(k) => assert_eq!(k.repo_id, keys.repo_id),
            Unlock::WrongPassword => panic!("right password refused"),
        }
        assert!(matches!(
            kf.unlock(&name, &p, b"nope").unwrap(),
            Unlock::WrongPassword
        ));
        // A flipped bit anywhere is caught by the content check.
        let mut bad = bytes.clone();
        bad[40] ^= 1;
        assert!(
            KeyFile::parse(&name, &bad)
                .unwrap_err()
                .to_string()
                .contains("damaged")
        );
        // Damage that keeps the name right (recomputed by an attacker) but breaks the wrap.
        let mut kf2 = kf.clone();
        let mut w = hex::decode(&kf2.wrapped).unwrap();
        w[30] ^= 1;
        kf2.wrapped = hex::encode(w);
        assert!(kf2.unlock(&name, &p, b"secret").unwrap_err().is_integrity());
        assert!(
            KeyFile::create(&keys, b"", cheap()).is_err(),
            "empty password refused"
        );
    }

    #[test]
    fn hostile_parameters_refused_before_kdf() {
        let keys = MasterKeys::generate();
        let (_, bytes) = KeyFile::create(&keys, b"pw", cheap()).unwrap();
        let mut kf: KeyFile = serde_json::from_slice(&bytes).unwrap();
        kf.kdf.memory_kib = 4 * 1024 * 1024;
        let evil = serde_json::to_vec(&kf).unwrap();
        let name = hex::encode(blake3::hash(&evil).as_bytes());
        let err = KeyFile::parse(&name, &evil).unwrap_err();
        assert!(matches!(err, Error::Hostile { .. }), "{err}");
        kf.kdf.memory_kib = 8192;
        kf.kdf.algorithm = "scrypt".into();
        let evil = serde_json::to_vec(&kf).unwrap();
        let name = hex::encode(blake3::hash(&evil).as_bytes());
        assert!(KeyFile::parse(&name, &evil).is_err());
        kf.kdf.algorithm = "argon2id".into();
        kf.version = 7;
        let evil = serde_json::to_vec(&kf).unwrap();
        let name = hex::encode(blake3::hash(&evil).as_bytes());
        assert!(matches!(
            KeyFile::parse(&name, &evil),
            Err(Error::UnsupportedVersion(..))
        ));
    }
}
