//! Fuzz key-file parsing (FORMAT.md §4): once with the name that matches the content (so the
//! JSON and the KDF bounds are reached), once with a wrong name (the content check).
#![no_main]

use libfuzzer_sys::fuzz_target;
use lifeboat::repo::keys::KeyFile;

fuzz_target!(|data: &[u8]| {
    let name = hex::encode(blake3::hash(data).as_bytes());
    if let Ok((_, params)) = KeyFile::parse(&name, data) {
        params
            .check_bounds("fuzz")
            .expect("parse accepted out-of-bounds KDF parameters");
    }
    assert!(
        KeyFile::parse(&"0".repeat(64), data).is_err() || name == "0".repeat(64),
        "a key file whose content does not match its name was accepted"
    );
    let _ = KeyFile::parse("short", data);
});
