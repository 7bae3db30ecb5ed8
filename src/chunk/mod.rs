//! Turning byte streams into stored blobs: content-defined chunking and the compression
//! filters (raw, zstd, float byte-grouping). Everything here is pure computation; the
//! repository decides where the results go.

pub mod cdc;
pub mod codec;

pub use cdc::{Chunker, ChunkerParams};
pub use codec::{Compression, decode, decode_into, encode_into};
