//! Fuzz the reading of a single-file archive (FORMAT.md §12): the tar headers, the padding and
//! end marker, the table of contents and its agreement with the members, and the digests, as
//! `--from FILE` checks a file before and when it is used.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(toc) = lifeboat::repo::archive::check_bytes(data) {
        // Whatever is accepted lies inside the input.
        for m in &toc.members {
            assert!(m.offset + m.size <= data.len() as u64);
        }
    }
});
