//! Writes a small seed corpus of valid inputs for every fuzz target into `fuzz/corpus/<target>/`,
//! so the fuzzer starts from real encodings instead of having to discover CBOR, zstd frames
//! and plane headers from nothing.
//!
//! `cargo run --release --manifest-path fuzz/Cargo.toml --example seed_corpus [DIR]`

use std::path::{Path, PathBuf};

use lifeboat::Id;
use lifeboat::chunk::{Compression, encode_into};
use lifeboat::crypto::{self, KdfParams, MasterKeys, SecretKey};
use lifeboat::repo::index::{IndexFile, IndexPack};
use lifeboat::repo::keys::KeyFile;
use lifeboat::repo::pack::{self, BlobKind, PackEntry};
use lifeboat::snapshot::{Content, Entry, Kind, Snapshot};

fn write(dir: &Path, target: &str, name: &str, bytes: &[u8]) {
    let d = dir.join(target);
    std::fs::create_dir_all(&d).expect("create corpus dir");
    std::fs::write(d.join(name), bytes).expect("write seed");
}

fn cbor<T: serde::Serialize>(v: &T) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::into_writer(v, &mut out).expect("cbor");
    out
}

fn id(b: u8) -> Id {
    Id([b; 32])
}

/// Deterministic bytes: `lcg(n, seed)`.
fn lcg(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed;
    (0..n)
        .map(|_| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (x >> 33) as u8
        })
        .collect()
}

fn chunk_seeds(dir: &Path) {
    let noise = lcg(16384, 1);
    // fp16-like: random mantissa byte, narrow exponent byte (grouped, stride 2).
    let fp16: Vec<u8> = noise
        .chunks(2)
        .flat_map(|p| [p[0], 0x20 + p[1] % 6])
        .collect();
    // fp32-like (grouped, stride 4).
    let fp32: Vec<u8> = noise
        .chunks(4)
        .flat_map(|p| [p[0], p[1], 0x80 | (p[2] & 0x7f), 0x3c + p[3] % 2])
        .collect();
    let text = b"the quick brown fox jumps over the lazy dog\n".repeat(200);
    let inputs: [(&str, &[u8], u64, Compression); 7] = [
        ("fp16", &fp16, 0, Compression::default()),
        ("fp16-odd", &fp16[1..], 1, Compression::default()),
        ("fp32", &fp32, 2, Compression::default()),
        ("text", &text, 0, Compression::default()),
        ("random", &noise, 0, Compression::default()),
        ("off", &text[..100], 0, Compression::Off),
        ("empty", b"", 0, Compression::default()),
    ];
    for (name, data, offset, c) in inputs {
        // 3-byte little-endian raw length, then the encoding (see fuzz_targets/chunk_decode.rs).
        let mut seed = (data.len() as u32).to_le_bytes()[..3].to_vec();
        encode_into(&mut seed, data, offset, c);
        let back = lifeboat::chunk::decode(&seed[3..], data.len(), "seed").expect("seed decodes");
        assert_eq!(back, data);
        write(dir, "chunk_decode", name, &seed);
    }
}

fn pack_seeds(dir: &Path) {
    let entries: Vec<PackEntry> = (0..3)
        .map(|i| PackEntry {
            kind: BlobKind::Data,
            id: id(i),
            stored_len: 1000 + u32::from(i),
            raw_len: 900,
        })
        .collect();
    let mut header = pack::encode_header(&entries);
    assert_eq!(
        pack::decode_header(&header, "seed").expect("seed parses"),
        entries
    );
    write(dir, "pack_header", "three", &header);
    // A header followed by a plausible tail length.
    let len = (header.len() + crypto::SEAL_OVERHEAD) as u32;
    header.extend_from_slice(&len.to_le_bytes());
    write(dir, "pack_header", "three-tail", &header);
    write(dir, "pack_header", "empty", &pack::encode_header(&[]));
}

fn tree_seeds(dir: &Path) {
    let mut stream = Vec::new();
    let mut push = |e: Entry| ciborium::into_writer(&e, &mut stream).expect("cbor");
    push(Entry::new(b"/".to_vec(), Kind::Dir));
    push(Entry::new(b"/etc".to_vec(), Kind::Dir));
    let mut f = Entry::new(b"/etc/hosts".to_vec(), Kind::File);
    f.size = 10;
    f.nlink = 2;
    f.user = Some("root".into());
    f.xattrs.push(lifeboat::snapshot::entry::Xattr(
        b"user.k".to_vec(),
        b"v".to_vec(),
    ));
    f.content = Some(Content {
        chunks: vec![id(1)],
        sha256: [2; 32],
        extents: Some(vec![(0, 4), (6, 4)]),
    });
    push(f);
    let mut h = Entry::new(b"/etc/hosts2".to_vec(), Kind::Hardlink);
    h.target = Some(b"/etc/hosts".to_vec());
    push(h);
    let mut l = Entry::new(b"/etc/link".to_vec(), Kind::Symlink);
    l.target = Some(b"hosts".to_vec());
    push(l);
    let mut d = Entry::new(b"/etc/null".to_vec(), Kind::Chardev);
    d.rdev = Some(0x103);
    push(d);
    push(Entry::new(b"/var".to_vec(), Kind::Dir));
    let n = lifeboat::snapshot::tree::parse_stream(&stream).expect("seed is a valid stream");
    assert_eq!(n.len(), 7);
    write(dir, "tree_stream", "small", &stream);
}

fn index_seeds(dir: &Path) {
    let file = IndexFile {
        packs: vec![
            IndexPack {
                id: id(9),
                blobs: vec![
                    (BlobKind::Data, id(1), 0, 1041, 1000),
                    (BlobKind::Data, id(2), 1041, 541, 500),
                ],
                condemned: None,
                run: None,
            },
            IndexPack {
                id: id(8),
                blobs: vec![(BlobKind::Tree, id(3), 0, 100, 60)],
                condemned: Some("2026-12-01T00:00:00Z".into()),
                run: Some(serde_bytes::ByteBuf::from(vec![7u8; 32])),
            },
        ],
    };
    write(dir, "index_file", "two-packs", &cbor(&file));
    write(dir, "index_file", "empty", &cbor(&IndexFile::default()));
}

fn snapshot_seeds(dir: &Path) {
    let s = Snapshot {
        version: 1,
        time: "2026-11-28T12:00:00.123456789Z".into(),
        hostname: "gpu-01".into(),
        username: "root".into(),
        tags: vec!["nightly".into()],
        paths: vec![serde_bytes::ByteBuf::from(b"/srv/models".to_vec())],
        parent: Some(id(4)),
        tree: vec![id(5), id(6)],
        summary: lifeboat::snapshot::Summary::default(),
        excludes: vec!["*.tmp".into()],
        program: "lifeboat 0.1.0".into(),
        deployment: None,
        host: None,
        selection: None,
        original: None,
    };
    write(dir, "snapshot_file", "full", &cbor(&s));
}

fn key_seeds(dir: &Path) {
    let keys = MasterKeys::from_master(*b"fuzzrepo", SecretKey::from_bytes([1; 32]));
    let (name, bytes) =
        KeyFile::create(&keys, b"password", KdfParams::new(8 * 1024, 1, 1)).expect("key file");
    KeyFile::parse(&name.to_hex(), &bytes).expect("seed parses");
    write(dir, "key_file", "valid", &bytes);
}

fn sealed_seeds(dir: &Path) {
    // Same fixed key as fuzz_targets/sealed_open.rs; first byte = length of the AD.
    let key = SecretKey::from_bytes([7u8; 32]);
    let ad = b"lifeboat/v1/index/";
    let mut seed = vec![ad.len() as u8];
    seed.extend_from_slice(ad);
    seed.extend_from_slice(&crypto::seal(&key, ad, b"hello, sealed world"));
    assert!(crypto::open(&key, ad, &seed[1 + ad.len()..]).is_ok());
    write(dir, "sealed_open", "valid", &seed);
    let mut empty = vec![0u8];
    empty.extend_from_slice(&crypto::seal(&key, b"", b""));
    write(dir, "sealed_open", "empty", &empty);
}

fn main() {
    let dir = std::env::args_os().nth(1).map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("corpus"),
        PathBuf::from,
    );
    chunk_seeds(&dir);
    pack_seeds(&dir);
    tree_seeds(&dir);
    index_seeds(&dir);
    snapshot_seeds(&dir);
    key_seeds(&dir);
    sealed_seeds(&dir);
    println!("seed corpus written to {}", dir.display());
}
