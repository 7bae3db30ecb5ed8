//! Fuzz the decoding of an index file's CBOR (FORMAT.md §7) and loading it into the in-memory
//! index, as `Repository::indexed` does after authentication and decompression.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lifeboat::repo::{Index, IndexFile};

fuzz_target!(|data: &[u8]| {
    if let Ok(file) = ciborium::from_reader::<IndexFile, _>(data) {
        let mut index = Index::default();
        index.add_file(&file);
        assert!(index.len() <= file.blob_count());
    }
});
