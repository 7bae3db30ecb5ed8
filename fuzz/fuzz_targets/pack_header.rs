//! Fuzz the plaintext pack header parser and the tail-length check (FORMAT.md §6): a hostile
//! pack must be refused cleanly, and accepted entries must respect the documented limits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lifeboat::repo::pack::{self, MAX_BLOB_LEN, MAX_BLOBS_PER_PACK};

fuzz_target!(|data: &[u8]| {
    if let Ok(entries) = pack::decode_header(data, "fuzz") {
        assert!(entries.len() <= MAX_BLOBS_PER_PACK as usize);
        assert!(entries.iter().all(|e| e.raw_len <= MAX_BLOB_LEN));
    }
    // The last 4 bytes as the tail, the whole input's length (and a huge one) as the file size.
    let tail = &data[data.len().saturating_sub(4)..];
    for file_len in [data.len() as u64, u64::MAX] {
        if let Ok(n) = pack::header_len_from_tail(tail, file_len, "fuzz") {
            assert!(u64::from(n) + 4 <= file_len);
        }
    }
});
