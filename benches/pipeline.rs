//! Throughput of each stage of the snapshot pipeline, on realistic data generated here.
//!
//! Stages: content-defined chunking, SHA-256 per file, keyed BLAKE3 chunk IDs, the compression
//! filters (encode and decode) on fp16/bf16/fp32 tensors, English-like text, random bytes and
//! database-like pages, a plain zstd -3 baseline on the same tensors (so the byte-grouping gain
//! is visible), and XChaCha20-Poly1305 seal/open. Every input comes from a fixed-seed PRNG, so
//! runs are comparable. Compressed size ratios are printed once before the timings, since
//! criterion only measures time. Run with `cargo bench --bench pipeline`; numbers go to
//! docs/BENCHMARKS.md.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use lifeboat::chunk::cdc::{Chunker, ChunkerParams, Gear};
use lifeboat::chunk::{Compression, decode, encode_into};
use lifeboat::crypto::{self, MasterKeys, SecretKey};
use sha2::{Digest, Sha256};

const MIB: usize = 1 << 20;
/// Size of the buffer the chunker and SHA-256 run over.
const STREAM_LEN: usize = 64 * MIB;
/// One chunk: the average data chunk size (FORMAT.md §5).
const CHUNK_LEN: usize = MIB;

/// xorshift64*: small, fast and deterministic.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// Standard normal pair (Box-Muller).
    fn normal_pair(&mut self) -> (f64, f64) {
        let u = 1.0 - self.unit();
        let v = self.unit();
        let r = (-2.0 * u.ln()).sqrt();
        let t = std::f64::consts::TAU * v;
        (r * t.cos(), r * t.sin())
    }
}

/// IEEE 754 binary32 to binary16 bits, round to nearest even (subnormals, overflow to inf).
fn f32_to_f16(x: f32) -> u16 {
    let b = x.to_bits();
    let sign = ((b >> 16) & 0x8000) as u16;
    let exp = ((b >> 23) & 0xff) as i32;
    let mant = b & 0x7f_ffff;
    if exp == 0xff {
        return sign | 0x7c00 | if mant == 0 { 0 } else { 0x200 };
    }
    let e = exp - 127 + 15;
    if e >= 0x1f {
        return sign | 0x7c00;
    }
    if e <= 0 {
        if e < -10 {
            return sign;
        }
        let m = mant | 0x80_0000;
        let shift = (14 - e) as u32;
        let rounded = m + (1 << (shift - 1)) - 1 + ((m >> shift) & 1);
        return sign | (rounded >> shift) as u16;
    }
    let rounded = mant + 0xfff + ((mant >> 13) & 1);
    let v = ((e as u32) << 10) + (rounded >> 13);
    if v >= 0x7c00 {
        sign | 0x7c00
    } else {
        sign | v as u16
    }
}

/// binary32 to bfloat16 bits, round to nearest even (no NaNs occur here).
fn f32_to_bf16(x: f32) -> u16 {
    let b = x.to_bits();
    ((b + 0x7fff + ((b >> 16) & 1)) >> 16) as u16
}

/// `n` bytes of weights drawn from N(0, 0.02²), the usual initialisation scale of transformer
/// layers, stored with `width` bytes per element by `store`.
fn weights(n: usize, seed: u64, width: usize, store: impl Fn(f32, &mut Vec<u8>)) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    let mut out = Vec::with_capacity(n + 2 * width);
    while out.len() < n {
        let (a, b) = rng.normal_pair();
        store((a * 0.02) as f32, &mut out);
        store((b * 0.02) as f32, &mut out);
    }
    out.truncate(n);
    out
}

fn fp16(n: usize, seed: u64) -> Vec<u8> {
    weights(n, seed, 2, |x, o| {
        o.extend_from_slice(&f32_to_f16(x).to_le_bytes());
    })
}

fn bf16(n: usize, seed: u64) -> Vec<u8> {
    weights(n, seed, 2, |x, o| {
        o.extend_from_slice(&f32_to_bf16(x).to_le_bytes());
    })
}

fn fp32(n: usize, seed: u64) -> Vec<u8> {
    weights(n, seed, 4, |x, o| o.extend_from_slice(&x.to_le_bytes()))
}

fn random(n: usize, seed: u64) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    let mut out = Vec::with_capacity(n + 8);
    while out.len() < n {
        out.extend_from_slice(&rng.next_u64().to_le_bytes());
    }
    out.truncate(n);
    out
}

const WORDS: &[&str] = &[
    "the",
    "of",
    "and",
    "to",
    "a",
    "in",
    "is",
    "that",
    "for",
    "it",
    "as",
    "was",
    "with",
    "be",
    "by",
    "on",
    "not",
    "he",
    "this",
    "are",
    "or",
    "his",
    "from",
    "at",
    "which",
    "but",
    "have",
    "an",
    "had",
    "they",
    "you",
    "were",
    "their",
    "one",
    "all",
    "we",
    "can",
    "her",
    "has",
    "there",
    "been",
    "if",
    "more",
    "when",
    "will",
    "would",
    "who",
    "so",
    "no",
    "model",
    "weights",
    "training",
    "inference",
    "container",
    "volume",
    "network",
    "backup",
    "restore",
    "snapshot",
    "configuration",
    "server",
    "request",
    "response",
    "latency",
    "throughput",
    "memory",
    "gradient",
    "attention",
    "layer",
    "token",
    "batch",
    "checkpoint",
    "deployment",
    "security",
    "between",
    "through",
    "without",
    "another",
    "however",
    "because",
    "although",
    "important",
];

/// English-like prose: Zipf-distributed words, sentences and paragraphs.
fn text(n: usize, seed: u64) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    // Zipf weights 1/(rank+1), sampled through a cumulative table.
    let cum: Vec<f64> = WORDS
        .iter()
        .enumerate()
        .scan(0.0, |s, (i, _)| {
            *s += 1.0 / (i as f64 + 1.0);
            Some(*s)
        })
        .collect();
    let total = *cum.last().expect("words");
    let mut out = Vec::with_capacity(n + 64);
    let mut sentence = 0;
    while out.len() < n {
        let x = rng.unit() * total;
        let w = WORDS[cum.partition_point(|&c| c < x).min(WORDS.len() - 1)];
        if sentence == 0 {
            let mut c = w.as_bytes().to_vec();
            c[0] = c[0].to_ascii_uppercase();
            out.extend_from_slice(&c);
        } else {
            out.extend_from_slice(w.as_bytes());
        }
        sentence += 1;
        if sentence > 6 && rng.below(8) == 0 {
            out.extend_from_slice(if rng.below(6) == 0 { b".\n\n" } else { b". " });
            sentence = 0;
        } else if rng.below(12) == 0 {
            out.extend_from_slice(b", ");
        } else {
            out.push(b' ');
        }
    }
    out.truncate(n);
    out
}

/// Database-like 8 KiB pages: a header, a line-pointer array, free space (zeros), and rows at
/// the end with sequential keys, timestamps, small integers, a float column and short text.
fn db_pages(n: usize, seed: u64) -> Vec<u8> {
    const PAGE: usize = 8192;
    let mut rng = Rng::new(seed);
    let mut out = Vec::with_capacity(n + PAGE);
    let mut key = 1_000_000u64;
    let mut ts = 1_790_000_000_000u64;
    let mut lsn = 0x1_0000_0000u64;
    while out.len() < n {
        let mut page = vec![0u8; PAGE];
        lsn += 1 + rng.below(4096) as u64;
        page[..8].copy_from_slice(&lsn.to_le_bytes());
        page[8..10].copy_from_slice(&(rng.next_u64() as u16).to_le_bytes()); // checksum
        let mut rows = Vec::new();
        let mut end = PAGE;
        // Fill between 40% and 95% of the page.
        let fill = PAGE * (40 + rng.below(56)) / 100;
        while PAGE - end < fill {
            let mut row = Vec::with_capacity(96);
            key += 1;
            ts += rng.below(2000) as u64;
            row.extend_from_slice(&key.to_le_bytes());
            row.extend_from_slice(&ts.to_le_bytes());
            row.extend_from_slice(&(rng.below(16) as u32).to_le_bytes());
            row.extend_from_slice(&((rng.unit() * 100.0) as f32).to_le_bytes());
            let words = 2 + rng.below(8);
            for _ in 0..words {
                row.extend_from_slice(WORDS[rng.below(WORDS.len())].as_bytes());
                row.push(b' ');
            }
            if end < 24 + 4 * (rows.len() + 1) + row.len() {
                break;
            }
            end -= row.len();
            page[end..end + row.len()].copy_from_slice(&row);
            rows.push((end as u16, row.len() as u16));
        }
        page[10..12].copy_from_slice(&(rows.len() as u16).to_le_bytes());
        for (i, (off, len)) in rows.iter().enumerate() {
            let at = 24 + 4 * i;
            page[at..at + 2].copy_from_slice(&off.to_le_bytes());
            page[at + 2..at + 4].copy_from_slice(&len.to_le_bytes());
        }
        out.extend_from_slice(&page);
    }
    out.truncate(n);
    out
}

/// The chunk inputs of the compression benches: (name, 1 MiB of data).
fn chunk_inputs() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("fp16", fp16(CHUNK_LEN, 1)),
        ("bf16", bf16(CHUNK_LEN, 2)),
        ("fp32", fp32(CHUNK_LEN, 3)),
        ("text", text(CHUNK_LEN, 4)),
        ("random", random(CHUNK_LEN, 5)),
        ("db_pages", db_pages(CHUNK_LEN, 6)),
    ]
}

fn lifeboat_encode(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 64);
    encode_into(&mut out, data, 0, Compression::default());
    out
}

fn keys() -> MasterKeys {
    MasterKeys::from_master(*b"benchrep", SecretKey::from_bytes([42; 32]))
}

/// Print compressed sizes once: criterion reports only time.
fn report_ratios(inputs: &[(&str, Vec<u8>)]) {
    eprintln!("compressed size of one 1 MiB chunk (ratio = original / compressed):");
    eprintln!(
        "  {:<9} {:>9} {:>7} {:>6} {:>9} {:>7}",
        "input", "zstd -3", "ratio", "codec", "lifeboat", "ratio"
    );
    for (name, data) in inputs {
        let z = zstd::bulk::compress(data, 3).expect("zstd").len();
        let enc = lifeboat_encode(data);
        let codec = match enc[0] {
            0 => "raw",
            1 => "zstd",
            2 => "planes",
            _ => "?",
        };
        let r = |n: usize| data.len() as f64 / n as f64;
        eprintln!(
            "  {:<9} {:>9} {:>7.3} {:>6} {:>9} {:>7.3}",
            name,
            z,
            r(z),
            codec,
            enc.len(),
            r(enc.len())
        );
    }
}

fn bench_chunking(c: &mut Criterion) {
    // A stream shaped like a model file: fp16 weights.
    let data = fp16(STREAM_LEN, 11);
    let gear = Gear::new(ChunkerParams::DATA, 0x5eed);
    let mut g = c.benchmark_group("cdc");
    // One iteration takes ~0.1 s: equal iteration counts per sample fit the time budget.
    g.sampling_mode(SamplingMode::Flat);
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.bench_function("fastcdc_64MiB", |b| {
        b.iter(|| {
            let mut n = 0usize;
            for chunk in Chunker::new(&gear, black_box(&data[..])) {
                n += chunk.expect("in-memory read").1.len();
            }
            assert_eq!(n, data.len());
        });
    });
    g.finish();
}

fn bench_hashing(c: &mut Criterion) {
    let stream = random(STREAM_LEN, 12);
    let mut g = c.benchmark_group("hash");
    g.sampling_mode(SamplingMode::Flat);
    g.throughput(Throughput::Bytes(stream.len() as u64));
    g.bench_function("sha256_64MiB", |b| {
        b.iter(|| Sha256::digest(black_box(&stream[..])));
    });
    let chunk = &stream[..CHUNK_LEN];
    let k = keys();
    g.throughput(Throughput::Bytes(chunk.len() as u64));
    g.bench_function("blake3_keyed_chunk_id_1MiB", |b| {
        b.iter(|| k.chunk_id(black_box(chunk)));
    });
    g.finish();
}

fn bench_compression(c: &mut Criterion) {
    let inputs = chunk_inputs();
    report_ratios(&inputs);
    let mut g = c.benchmark_group("compress");
    g.throughput(Throughput::Bytes(CHUNK_LEN as u64));
    for (name, data) in &inputs {
        let mut out = Vec::with_capacity(CHUNK_LEN + 64);
        g.bench_function(*name, |b| {
            b.iter(|| {
                out.clear();
                encode_into(&mut out, black_box(data), 0, Compression::default());
                out.len()
            });
        });
    }
    let mut z = zstd::bulk::Compressor::new(3).expect("zstd");
    for (name, data) in inputs
        .iter()
        .filter(|(n, _)| n.starts_with("fp") || n.starts_with("bf"))
    {
        let mut out = Vec::with_capacity(zstd::zstd_safe::compress_bound(CHUNK_LEN));
        g.bench_function(format!("{name}_plain_zstd3"), |b| {
            b.iter(|| {
                out.clear();
                z.compress_to_buffer(black_box(&data[..]), &mut out)
                    .expect("zstd")
            });
        });
    }
    g.finish();

    let mut g = c.benchmark_group("decompress");
    g.throughput(Throughput::Bytes(CHUNK_LEN as u64));
    for (name, data) in &inputs {
        let enc = lifeboat_encode(data);
        assert_eq!(&decode(&enc, data.len(), "bench").expect("decode"), data);
        g.bench_function(*name, |b| {
            b.iter(|| decode(black_box(&enc), CHUNK_LEN, "bench").expect("decode"));
        });
    }
    let mut d = zstd::bulk::Decompressor::new().expect("zstd");
    for (name, data) in inputs
        .iter()
        .filter(|(n, _)| n.starts_with("fp") || n.starts_with("bf"))
    {
        let enc = zstd::bulk::compress(data, 3).expect("zstd");
        let mut out = Vec::with_capacity(CHUNK_LEN);
        g.bench_function(format!("{name}_plain_zstd3"), |b| {
            b.iter(|| {
                out.clear();
                d.decompress_to_buffer(black_box(&enc[..]), &mut out)
                    .expect("zstd")
            });
        });
    }
    g.finish();
}

fn bench_crypto(c: &mut Criterion) {
    let k = keys();
    let data = random(CHUNK_LEN, 13);
    let ad = b"lifeboat/v1/blob/\0bench";
    let sealed = crypto::seal(&k.data_key, ad, &data);
    let mut g = c.benchmark_group("aead");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.bench_function("xchacha20poly1305_seal_1MiB", |b| {
        b.iter(|| crypto::seal(&k.data_key, ad, black_box(&data)));
    });
    g.bench_function("xchacha20poly1305_open_1MiB", |b| {
        b.iter(|| crypto::open(&k.data_key, ad, black_box(&sealed)).expect("authentic"));
    });
    // RustCrypto's portable AEAD, which lifeboat used before (same bytes): the gain.
    let reference = {
        use chacha20poly1305::KeyInit;
        chacha20poly1305::XChaCha20Poly1305::new(&(*k.data_key.expose()).into())
    };
    g.bench_function("xchacha20poly1305_seal_1MiB_rustcrypto", |b| {
        use chacha20poly1305::aead::{Aead, Payload};
        let nonce = [9u8; crypto::NONCE_LEN];
        b.iter(|| {
            let msg = Payload {
                msg: black_box(&data[..]),
                aad: ad,
            };
            reference.encrypt(&nonce.into(), msg).expect("seal")
        });
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = pipeline;
    config = config();
    targets = bench_chunking, bench_hashing, bench_compression, bench_crypto
}
criterion_main!(pipeline);
