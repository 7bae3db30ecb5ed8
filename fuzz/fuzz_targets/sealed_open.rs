//! Fuzz AEAD opening (FORMAT.md §3) with a fixed key: arbitrary bytes, including ones shorter
//! than nonce + tag, must fail authentication cleanly, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lifeboat::crypto::{self, SEAL_OVERHEAD, SecretKey};

fuzz_target!(|data: &[u8]| {
    let key = SecretKey::from_bytes([7u8; 32]);
    // The first byte picks how much of the input is associated data.
    let (ad, sealed) = match data.split_first() {
        Some((&n, rest)) => rest.split_at((n as usize).min(rest.len())),
        None => (&[][..], data),
    };
    if let Ok(plain) = crypto::open(&key, ad, sealed) {
        // Forging a tag by chance is not expected; if it happens the lengths must still agree.
        assert_eq!(plain.len() + SEAL_OVERHEAD, sealed.len());
    }
});
