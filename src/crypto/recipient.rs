//! Sealing to the repository's owner, for write-only host keys (format version 2, FORMAT.md
//! §13): each backup run makes an ephemeral X25519 key pair, derives its data and metadata
//! keys from the shared secret with the owner's public key (HKDF-SHA256), and forgets the
//! ephemeral secret when the run ends, so only the owner's secret opens what it wrote. The
//! owner also signs (Ed25519) what hosts may trust: the public configuration, the verified
//! blob list, the condemned packs.

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use hkdf::Hkdf;
use sha2::Sha256;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

use super::{SecretKey, fill_random};
use crate::error::{Error, Result};

/// Context strings of the key derivation (FORMAT.md §13.3).
const DATA_INFO: &[u8] = b"lifeboat v2 data key";
const META_INFO: &[u8] = b"lifeboat v2 metadata key";

/// The keys of one backup run, as the host derives them when sealing and the owner when
/// opening.
#[derive(Debug)]
pub struct RunKeys {
    pub data: SecretKey,
    pub meta: SecretKey,
}

/// The owner's public halves: what a host key file and the public configuration carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OwnerPublic {
    pub x25519: [u8; 32],
    pub ed25519: [u8; 32],
}

/// The owner's secret halves (wrapped by owner passwords); wiped when dropped (the dalek types
/// zeroize themselves).
pub struct OwnerSecret {
    x25519: StaticSecret,
    ed25519: SigningKey,
}

impl std::fmt::Debug for OwnerSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OwnerSecret(<redacted>)")
    }
}

fn random32() -> Zeroizing<[u8; 32]> {
    let mut b = Zeroizing::new([0u8; 32]);
    fill_random(b.as_mut());
    b
}

/// The run keys for `shared`, bound to both public keys (as age binds its recipient stanza).
fn derive(shared: &[u8; 32], ephemeral: &[u8; 32], owner: &[u8; 32]) -> RunKeys {
    let mut salt = [0u8; 64];
    salt[..32].copy_from_slice(ephemeral);
    salt[32..].copy_from_slice(owner);
    let hk = Hkdf::<Sha256>::new(Some(&salt), shared);
    let expand = |info: &[u8]| {
        let mut k = Zeroizing::new([0u8; 32]);
        hk.expand(info, k.as_mut())
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        SecretKey::from_bytes(*k)
    };
    RunKeys {
        data: expand(DATA_INFO),
        meta: expand(META_INFO),
    }
}

impl OwnerSecret {
    /// A new owner key pair (X25519 and Ed25519) from the OS's random source.
    pub fn generate() -> OwnerSecret {
        OwnerSecret::from_bytes(&random32(), &random32())
    }

    pub fn from_bytes(x25519: &[u8; 32], ed25519: &[u8; 32]) -> OwnerSecret {
        OwnerSecret {
            x25519: StaticSecret::from(*x25519),
            ed25519: SigningKey::from_bytes(ed25519),
        }
    }

    /// Both secrets, X25519 first, for wrapping in an owner key file.
    pub fn to_bytes(&self) -> Zeroizing<[u8; 64]> {
        let mut out = Zeroizing::new([0u8; 64]);
        out[..32].copy_from_slice(self.x25519.as_bytes());
        out[32..].copy_from_slice(&self.ed25519.to_bytes());
        out
    }

    pub fn public(&self) -> OwnerPublic {
        OwnerPublic {
            x25519: PublicKey::from(&self.x25519).to_bytes(),
            ed25519: self.ed25519.verifying_key().to_bytes(),
        }
    }

    /// The keys of the run whose objects carry `ephemeral`. A low-order point (which would
    /// make the shared secret known to anyone) is refused as hostile.
    pub fn open_run(&self, ephemeral: &[u8; 32], object: &str) -> Result<RunKeys> {
        let shared = self.x25519.diffie_hellman(&PublicKey::from(*ephemeral));
        if !shared.was_contributory() {
            return Err(Error::hostile(
                object,
                "its ephemeral key is a low-order point",
            ));
        }
        Ok(derive(
            shared.as_bytes(),
            ephemeral,
            &PublicKey::from(&self.x25519).to_bytes(),
        ))
    }

    /// Sign `message` for `context` (a `lifeboat/v2/...` label, FORMAT.md §13).
    pub fn sign(&self, context: &[u8], message: &[u8]) -> [u8; 64] {
        self.ed25519
            .sign(&signed_bytes(context, message))
            .to_bytes()
    }
}

impl OwnerPublic {
    /// Start a run that seals to this owner: its ephemeral public key (carried by every object
    /// the run writes) and its keys. The ephemeral secret is wiped before this returns: from
    /// then on only the owner can derive the keys again.
    pub fn seal_run(&self) -> Result<([u8; 32], RunKeys)> {
        let secret = StaticSecret::from(*random32());
        let ephemeral = PublicKey::from(&secret).to_bytes();
        let shared = secret.diffie_hellman(&PublicKey::from(self.x25519));
        if !shared.was_contributory() {
            return Err(Error::hostile(
                "the owner's public key",
                "it is a low-order point",
            ));
        }
        Ok((
            ephemeral,
            derive(shared.as_bytes(), &ephemeral, &self.x25519),
        ))
    }

    /// Check the owner's signature on `message` for `context` (strict Ed25519 verification).
    pub fn verify(
        &self,
        context: &[u8],
        message: &[u8],
        signature: &[u8; 64],
        object: &str,
    ) -> Result<()> {
        verify_signature(
            &self.ed25519,
            "the owner's",
            context,
            message,
            signature,
            object,
        )
    }
}

/// A host's Ed25519 signing key (FORMAT.md §13.3: it signs the snapshots the host writes);
/// wiped when dropped.
pub struct SigningSecret(SigningKey);

impl std::fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningSecret(<redacted>)")
    }
}

impl SigningSecret {
    pub fn generate() -> SigningSecret {
        SigningSecret(SigningKey::from_bytes(&random32()))
    }

    pub fn from_bytes(secret: &[u8; 32]) -> SigningSecret {
        SigningSecret(SigningKey::from_bytes(secret))
    }

    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.0.to_bytes())
    }

    pub fn public(&self) -> [u8; 32] {
        self.0.verifying_key().to_bytes()
    }

    /// Sign `message` for `context` (a `lifeboat/v2/...` label).
    pub fn sign(&self, context: &[u8], message: &[u8]) -> [u8; 64] {
        self.0.sign(&signed_bytes(context, message)).to_bytes()
    }
}

/// Check `whose` (for messages: "the owner's", "host gpu-01's") Ed25519 signature on `message`
/// for `context`, strictly (RFC 8032 with the small-order and malleability checks).
pub fn verify_signature(
    public: &[u8; 32],
    whose: &str,
    context: &[u8],
    message: &[u8],
    signature: &[u8; 64],
    object: &str,
) -> Result<()> {
    let key = VerifyingKey::from_bytes(public)
        .map_err(|_| Error::hostile(object, format!("{whose} signing key is not a valid point")))?;
    key.verify_strict(
        &signed_bytes(context, message),
        &Signature::from_bytes(signature),
    )
    .map_err(|_| Error::corrupt(object, format!("{whose} signature does not match")))
}

/// `len(context)[u8] || context || message`: a signature for one purpose never verifies for
/// another.
fn signed_bytes(context: &[u8], message: &[u8]) -> Vec<u8> {
    let len = u8::try_from(context.len()).expect("contexts are short labels");
    let mut v = Vec::with_capacity(1 + context.len() + message.len());
    v.push(len);
    v.extend_from_slice(context);
    v.extend_from_slice(message);
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{open, seal};

    #[test]
    fn the_owner_opens_what_a_run_sealed_and_nobody_else_does() {
        let owner = OwnerSecret::generate();
        let public = owner.public();
        let (ephemeral, run) = public.seal_run().unwrap();
        let sealed = seal(&run.data, b"ad", b"model weights");
        let opened = owner.open_run(&ephemeral, "pack").unwrap();
        assert_eq!(opened.data.expose(), run.data.expose());
        assert_eq!(opened.meta.expose(), run.meta.expose());
        assert_ne!(run.data.expose(), run.meta.expose());
        assert_eq!(
            open(&opened.data, b"ad", &sealed).unwrap(),
            b"model weights"
        );
        // Another owner, or the same owner with another run's key, gets other keys.
        let other = OwnerSecret::generate();
        let wrong = other.open_run(&ephemeral, "pack").unwrap();
        assert!(open(&wrong.data, b"ad", &sealed).is_err());
        let (ephemeral2, _) = public.seal_run().unwrap();
        assert_ne!(ephemeral, ephemeral2, "every run has its own key pair");
        let run2 = owner.open_run(&ephemeral2, "pack").unwrap();
        assert!(open(&run2.data, b"ad", &sealed).is_err());
    }

    #[test]
    fn what_a_host_holds_derives_no_run_key() {
        // Everything public about the run and the owner, tried as the key material a host
        // could feed the derivation: none of it gives the run's keys.
        let owner = OwnerSecret::generate();
        let public = owner.public();
        let (ephemeral, run) = public.seal_run().unwrap();
        for guess in [ephemeral, public.x25519, public.ed25519, [0u8; 32]] {
            let k = derive(&guess, &ephemeral, &public.x25519);
            assert_ne!(k.data.expose(), run.data.expose());
            assert_ne!(k.meta.expose(), run.meta.expose());
        }
    }

    #[test]
    fn low_order_ephemeral_keys_are_refused() {
        let owner = OwnerSecret::generate();
        // The identity and a point of order 8 on Curve25519.
        let mut order8 = [0u8; 32];
        hex::decode_to_slice(
            "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
            &mut order8,
        )
        .unwrap();
        for bad in [[0u8; 32], order8] {
            let e = owner.open_run(&bad, "pack 1a2b").unwrap_err();
            assert!(e.to_string().contains("low-order"), "{e}");
            assert!(e.is_integrity());
        }
    }

    #[test]
    fn secrets_round_trip_and_signatures_bind_their_context() {
        let owner = OwnerSecret::generate();
        let again = {
            let b = owner.to_bytes();
            let (x, e) = b.split_at(32);
            OwnerSecret::from_bytes(x.try_into().unwrap(), e.try_into().unwrap())
        };
        assert_eq!(again.public(), owner.public());
        let public = owner.public();
        let sig = owner.sign(b"lifeboat/v2/verified", b"ids");
        public
            .verify(b"lifeboat/v2/verified", b"ids", &sig, "verified list")
            .unwrap();
        let other_context = public.verify(b"lifeboat/v2/config", b"ids", &sig, "config");
        assert!(other_context.is_err());
        assert!(
            public
                .verify(b"lifeboat/v2/verified", b"idz", &sig, "list")
                .is_err()
        );
        let mut bent = sig;
        bent[5] ^= 1;
        assert!(
            public
                .verify(b"lifeboat/v2/verified", b"ids", &bent, "list")
                .is_err()
        );
        assert!(format!("{owner:?}").contains("redacted"));
    }
}
