//! Fuzz the blob decoder (raw, zstd, byte-grouped planes; FORMAT.md §6): any encoding and any
//! claimed raw length must give `Ok` or `Err`, never a panic or an allocation past the limit.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first 3 bytes are the raw length the index would claim, capped just above the
    // decoder's 16 MiB limit so the limit check itself is exercised.
    if data.len() < 3 {
        return;
    }
    let claimed = u32::from_le_bytes([data[0], data[1], data[2], 0]) as usize;
    let raw_len = claimed % (lifeboat::chunk::codec::MAX_RAW_LEN + 2);
    if let Ok(out) = lifeboat::chunk::decode(&data[3..], raw_len, "fuzz") {
        assert_eq!(
            out.len(),
            raw_len,
            "decoded length differs from the claimed one"
        );
    }
});
