//! Fuzz the decoding of a snapshot description's CBOR (FORMAT.md §8) and the accessors that
//! commands call on it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lifeboat::snapshot::Snapshot;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = ciborium::from_reader::<Snapshot, _>(data) {
        let _ = s.time();
        let _ = s.paths_display();
    }
});
