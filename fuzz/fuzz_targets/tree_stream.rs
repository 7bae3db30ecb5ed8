//! Fuzz the tree stream decoder and validator (FORMAT.md §8): a tampered stream must be
//! rejected with an error, and every accepted entry must satisfy the path rules.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(entries) = lifeboat::snapshot::tree::parse_stream(data) {
        for e in &entries {
            assert!(
                lifeboat::util::path_problem(&e.path).is_none(),
                "accepted a path the format forbids: {:?}",
                e.path_str()
            );
        }
    }
});
