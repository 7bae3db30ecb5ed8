//! Every cryptographic primitive lifeboat uses, and nothing else.
//!
//! The rest of the crate sees sealed byte strings, chunk IDs and key handles; only this module
//! touches Argon2id, XChaCha20-Poly1305 ([`xchacha`]), BLAKE3, and (in [`recipient`], for format version 2)
//! X25519, Ed25519 and HKDF directly (docs/FORMAT.md §3, §4, §13). Key
//! material lives in types that zeroize on drop and never implement `Display`.

pub mod recipient;
mod xchacha;

use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::error::{Error, Result};
use crate::id::Id;

pub const NONCE_LEN: usize = 24;
pub const TAG_LEN: usize = 16;
/// Bytes a sealed message adds to its plaintext.
pub const SEAL_OVERHEAD: usize = NONCE_LEN + TAG_LEN;

/// Fill `buf` from the OS CSPRNG. Failure of the OS RNG is unrecoverable and unsafe to ignore.
pub fn fill_random(buf: &mut [u8]) {
    getrandom::fill(buf).expect("the operating system's random number generator failed");
}

/// Argon2id parameters of one key file, bounded so a hostile file cannot make us allocate or
/// compute without limit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KdfParams {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
    pub salt: Vec<u8>,
}

impl KdfParams {
    pub const MIN_MEMORY_KIB: u32 = 8 * 1024;
    pub const MAX_MEMORY_KIB: u32 = 1024 * 1024;
    pub const MAX_ITERATIONS: u32 = 64;
    pub const MAX_PARALLELISM: u32 = 16;

    /// Defaults for new keys: 64 MiB, 3 passes, 2 lanes (about 0.2 s on one modern core).
    pub fn new_default() -> Self {
        Self::new(64 * 1024, 3, 2)
    }

    pub fn new(memory_kib: u32, iterations: u32, parallelism: u32) -> Self {
        let mut salt = vec![0u8; 32];
        fill_random(&mut salt);
        KdfParams {
            memory_kib,
            iterations,
            parallelism,
            salt,
        }
    }

    /// Refuse parameters outside the documented bounds (FORMAT.md §4) before any allocation.
    pub fn check_bounds(&self, object: &str) -> Result<()> {
        let bad = |what: String| Err(Error::hostile(object, what));
        if !(Self::MIN_MEMORY_KIB..=Self::MAX_MEMORY_KIB).contains(&self.memory_kib) {
            return bad(format!(
                "argon2 memory {} KiB outside {}..={} KiB",
                self.memory_kib,
                Self::MIN_MEMORY_KIB,
                Self::MAX_MEMORY_KIB
            ));
        }
        if !(1..=Self::MAX_ITERATIONS).contains(&self.iterations) {
            return bad(format!(
                "argon2 iterations {} outside 1..=64",
                self.iterations
            ));
        }
        if !(1..=Self::MAX_PARALLELISM).contains(&self.parallelism) {
            return bad(format!(
                "argon2 parallelism {} outside 1..=16",
                self.parallelism
            ));
        }
        if !(16..=64).contains(&self.salt.len()) {
            return bad(format!("salt of {} bytes outside 16..=64", self.salt.len()));
        }
        Ok(())
    }

    /// The canonical byte form bound into the wrapped key's associated data.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(13 + self.salt.len());
        v.extend_from_slice(&self.memory_kib.to_le_bytes());
        v.extend_from_slice(&self.iterations.to_le_bytes());
        v.extend_from_slice(&self.parallelism.to_le_bytes());
        v.push(self.salt.len() as u8);
        v.extend_from_slice(&self.salt);
        v
    }
}

/// A 32-byte symmetric key that is wiped when dropped.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SecretKey([u8; 32]);

impl SecretKey {
    pub fn random() -> Self {
        let mut k = [0u8; 32];
        fill_random(&mut k);
        SecretKey(k)
    }

    pub fn from_bytes(b: [u8; 32]) -> Self {
        SecretKey(b)
    }

    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

/// Derive the key-encryption key from a password (Argon2id, RFC 9106).
pub fn derive_kek(password: &[u8], params: &KdfParams) -> Result<SecretKey> {
    params.check_bounds("key file")?;
    let p = argon2::Params::new(
        params.memory_kib,
        params.iterations,
        params.parallelism,
        Some(32),
    )
    .map_err(|e| Error::hostile("key file", format!("argon2 parameters: {e}")))?;
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, p);
    let mut out = Zeroizing::new([0u8; 32]);
    argon
        .hash_password_into(password, &params.salt, out.as_mut())
        .map_err(|e| Error::hostile("key file", format!("argon2: {e}")))?;
    Ok(SecretKey(*out))
}

/// The key-check value that tells a wrong password from a damaged key file.
pub fn key_check(kek: &SecretKey) -> [u8; 16] {
    let d = Zeroizing::new(blake3::derive_key("lifeboat v1 key check", kek.expose()));
    let mut out = [0u8; 16];
    out.copy_from_slice(&d[..16]);
    out
}

/// `nonce[24] || ciphertext || tag[16]` with a fresh random nonce.
pub fn seal(key: &SecretKey, ad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(plaintext.len() + SEAL_OVERHEAD);
    out.resize(NONCE_LEN, 0);
    fill_random(&mut out[..NONCE_LEN]);
    out.extend_from_slice(plaintext);
    seal_in_place(key, ad, &mut out);
    out
}

/// Seal a buffer that already holds `NONCE_LEN` placeholder bytes followed by the plaintext,
/// avoiding a copy of large chunks. The nonce is drawn here.
pub fn seal_in_place(key: &SecretKey, ad: &[u8], buf: &mut Vec<u8>) {
    let mut nonce = [0u8; NONCE_LEN];
    fill_random(&mut nonce);
    buf[..NONCE_LEN].copy_from_slice(&nonce);
    let tag = xchacha::seal_detached(&key.0, &nonce, ad, &mut buf[NONCE_LEN..]);
    buf.extend_from_slice(&tag);
}

/// Open a sealed message. The error carries no detail: authentication failed, which means the
/// data is damaged, was tampered with, or belongs to another object or repository.
pub fn open(key: &SecretKey, ad: &[u8], sealed: &[u8]) -> std::result::Result<Vec<u8>, AuthError> {
    if sealed.len() < SEAL_OVERHEAD {
        return Err(AuthError);
    }
    let (nonce, rest) = sealed.split_at(NONCE_LEN);
    let nonce: &[u8; NONCE_LEN] = nonce.try_into().map_err(|_| AuthError)?;
    let mut out = rest.to_vec();
    let plain = xchacha::open_in_place(&key.0, nonce, ad, &mut out)?.len();
    out.truncate(plain);
    Ok(out)
}

/// Open a sealed message in place; returns the plaintext part of `sealed` (no allocation).
pub fn open_in_place<'b>(
    key: &SecretKey,
    ad: &[u8],
    sealed: &'b mut [u8],
) -> std::result::Result<&'b mut [u8], AuthError> {
    if sealed.len() < SEAL_OVERHEAD {
        return Err(AuthError);
    }
    let (nonce, rest) = sealed.split_at_mut(NONCE_LEN);
    let nonce: &[u8; NONCE_LEN] = (&*nonce).try_into().map_err(|_| AuthError)?;
    xchacha::open_in_place(&key.0, nonce, ad, rest)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthError;

impl std::fmt::Display for AuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("authentication failed (corrupted or tampered)")
    }
}

/// Chunk ID under `id_key`: keyed BLAKE3 of the plaintext (FORMAT.md §3).
pub fn chunk_id(id_key: &SecretKey, data: &[u8]) -> Id {
    Id(*blake3::keyed_hash(id_key.expose(), data).as_bytes())
}

/// The working keys of one repository, derived from its master secret (FORMAT.md §4).
pub struct MasterKeys {
    pub repo_id: [u8; 8],
    master: SecretKey,
    id_key: SecretKey,
    pub data_key: SecretKey,
    pub meta_key: SecretKey,
    pub chunker_seed: u64,
}

impl MasterKeys {
    pub fn generate() -> Self {
        let mut repo_id = [0u8; 8];
        fill_random(&mut repo_id);
        Self::from_master(repo_id, SecretKey::random())
    }

    pub fn from_master(repo_id: [u8; 8], master: SecretKey) -> Self {
        let derive = |ctx: &str| SecretKey(blake3::derive_key(ctx, master.expose()));
        let seed_key = derive("lifeboat v1 chunker seed");
        let chunker_seed = u64::from_le_bytes(seed_key.expose()[..8].try_into().expect("8 bytes"));
        MasterKeys {
            repo_id,
            id_key: derive("lifeboat v1 chunk id key"),
            data_key: derive("lifeboat v1 data key"),
            meta_key: derive("lifeboat v1 metadata key"),
            chunker_seed,
            master,
        }
    }

    /// Chunk ID: keyed BLAKE3 of the plaintext, so IDs do not reveal content.
    pub fn chunk_id(&self, data: &[u8]) -> Id {
        chunk_id(&self.id_key, data)
    }

    /// The chunk ID key, which a write-only host key also holds (FORMAT.md §13.2).
    pub fn id_key(&self) -> &SecretKey {
        &self.id_key
    }

    /// The 41-byte payload wrapped in key files: `version || repo_id || master`.
    pub fn wrap_payload(&self) -> Zeroizing<Vec<u8>> {
        let mut v = Zeroizing::new(Vec::with_capacity(41));
        v.push(1);
        v.extend_from_slice(&self.repo_id);
        v.extend_from_slice(self.master.expose());
        v
    }

    pub fn from_payload(p: &[u8], object: &str) -> Result<Self> {
        if p.len() != 41 || p[0] != 1 {
            return Err(Error::corrupt(
                object,
                "wrapped key payload has the wrong layout",
            ));
        }
        let repo_id: [u8; 8] = p[1..9].try_into().expect("8 bytes");
        let master: [u8; 32] = p[9..41].try_into().expect("32 bytes");
        Ok(Self::from_master(repo_id, SecretKey(master)))
    }
}

impl std::fmt::Debug for MasterKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MasterKeys(repo {})", hex::encode(self.repo_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip_and_binding() {
        let k = SecretKey::random();
        let sealed = seal(&k, b"ad-1", b"hello");
        assert_eq!(sealed.len(), 5 + SEAL_OVERHEAD);
        assert_eq!(open(&k, b"ad-1", &sealed).unwrap(), b"hello");
        assert!(
            open(&k, b"ad-2", &sealed).is_err(),
            "associated data is bound"
        );
        assert!(
            open(&SecretKey::random(), b"ad-1", &sealed).is_err(),
            "key is bound"
        );
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 1;
            assert!(open(&k, b"ad-1", &bad).is_err(), "bit flip at {i} detected");
        }
        assert!(open(&k, b"ad-1", &sealed[..20]).is_err());
        let mut copy = sealed.clone();
        assert_eq!(open_in_place(&k, b"ad-1", &mut copy).unwrap(), b"hello");
        let mut bad = sealed.clone();
        bad[25] ^= 4;
        assert!(open_in_place(&k, b"ad-1", &mut bad).is_err());
    }

    #[test]
    fn nonces_are_fresh() {
        let k = SecretKey::random();
        assert_ne!(
            seal(&k, b"", b"x")[..NONCE_LEN],
            seal(&k, b"", b"x")[..NONCE_LEN]
        );
    }

    #[test]
    fn kdf_bounds_are_checked_before_work() {
        let mut p = KdfParams::new(8 * 1024, 1, 1);
        p.check_bounds("k").unwrap();
        p.memory_kib = 4 * 1024 * 1024;
        assert!(matches!(derive_kek(b"pw", &p), Err(Error::Hostile { .. })));
        let mut p = KdfParams::new(8 * 1024, 0, 1);
        assert!(p.check_bounds("k").is_err());
        p.iterations = 1;
        p.salt.truncate(4);
        assert!(p.check_bounds("k").is_err());
    }

    #[test]
    fn key_check_differs_per_password() {
        let p = KdfParams::new(8 * 1024, 1, 1);
        let a = derive_kek(b"one", &p).unwrap();
        let b = derive_kek(b"two", &p).unwrap();
        assert_ne!(key_check(&a), key_check(&b));
        assert_eq!(key_check(&a), key_check(&derive_kek(b"one", &p).unwrap()));
    }

    #[test]
    fn payload_round_trip() {
        let k = MasterKeys::generate();
        let back = MasterKeys::from_payload(&k.wrap_payload(), "k").unwrap();
        assert_eq!(back.repo_id, k.repo_id);
        assert_eq!(back.chunk_id(b"x"), k.chunk_id(b"x"));
        assert_eq!(back.chunker_seed, k.chunker_seed);
        assert!(MasterKeys::from_payload(&[0u8; 40], "k").is_err());
    }
}
