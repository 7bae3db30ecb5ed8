//! The compression stage of a blob: choose, per chunk, between storing it raw, zstd, or
//! splitting float data into byte planes first (FORMAT.md §6).
//!
//! Why byte planes: in fp16/bf16/fp32 tensors the byte holding the sign and exponent is highly
//! predictable while mantissa bytes are nearly random. Mixed together, zstd sees noise; split
//! apart, the exponent plane compresses well and the mantissa planes are stored raw without
//! spending CPU on them (the ZipNN observation). The choice is made from byte entropy of a
//! sample, with planes aligned to the chunk's offset in its file, since content-defined cuts
//! fall on arbitrary bytes.

use crate::error::{Error, Result};

const CODEC_RAW: u8 = 0;
const CODEC_ZSTD: u8 = 1;
const CODEC_GROUPED: u8 = 2;

/// Largest raw chunk any decoder accepts (FORMAT.md §6).
pub const MAX_RAW_LEN: usize = 16 << 20;

/// Plane entropy (bits/byte) above which a plane is stored raw.
const RAW_PLANE_ENTROPY: f64 = 7.9;
/// Whole-chunk entropy above which a trial compression decides.
const HIGH_ENTROPY: f64 = 7.95;
/// Zstd level for planes: they are entropy-coded, matches do not help, level 1 is as small.
const PLANE_LEVEL: i32 = 1;

/// How hard to compress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// Store every chunk raw.
    Off,
    /// Adaptive: raw for incompressible data, byte planes for floats, else zstd at this level.
    Auto(i32),
}

impl Default for Compression {
    fn default() -> Self {
        Compression::Auto(3)
    }
}

/// What the analysis of a chunk decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    Raw,
    Zstd,
    /// Byte planes with this stride; bit `j` of the mask set means plane `j` is stored raw.
    Grouped(usize, u8),
}

/// Byte histograms of a sample, split by position class `(offset + i) mod 4`.
struct Histogram {
    counts: Box<[[u32; 256]; 4]>,
}

impl Histogram {
    fn of(data: &[u8], phase: usize) -> Self {
        const WINDOW: usize = 4096;
        const WINDOWS: usize = 32;
        let mut counts = Box::new([[0u32; 256]; 4]);
        let mut add = |start: usize, bytes: &[u8]| {
            for (i, &b) in bytes.iter().enumerate() {
                counts[(start + i + phase) & 3][b as usize] += 1;
            }
        };
        if data.len() <= WINDOW * WINDOWS {
            add(0, data);
        } else {
            let step = data.len() / WINDOWS;
            for w in 0..WINDOWS {
                let s = w * step;
                add(s, &data[s..s + WINDOW]);
            }
        }
        Histogram { counts }
    }

    /// Entropy in bits per byte of the union of the given position classes.
    fn entropy(&self, classes: &[usize]) -> f64 {
        let mut merged = [0u64; 256];
        for &c in classes {
            for (m, &n) in merged.iter_mut().zip(self.counts[c].iter()) {
                *m += u64::from(n);
            }
        }
        entropy_of(&merged)
    }
}

fn entropy_of(counts: &[u64; 256]) -> f64 {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return 0.0;
    }
    let t = total as f64;
    counts
        .iter()
        .filter(|&&n| n > 0)
        .map(|&n| {
            let p = n as f64 / t;
            -p * p.log2()
        })
        .sum()
}

/// Decide how a chunk at `file_offset` should be stored.
pub fn analyze(data: &[u8], file_offset: u64) -> Layout {
    // Small chunks (configs, sources) are text far more often than tensors: skip the analysis.
    if data.len() < 4096 {
        return Layout::Zstd;
    }
    let phase = (file_offset % 4) as usize;
    let h = Histogram::of(data, phase);
    let whole = h.entropy(&[0, 1, 2, 3]);
    let halves = [h.entropy(&[0, 2]), h.entropy(&[1, 3])];
    let quarters = [
        h.entropy(&[0]),
        h.entropy(&[1]),
        h.entropy(&[2]),
        h.entropy(&[3]),
    ];
    let two = (halves[0] + halves[1]) / 2.0;
    let four = quarters.iter().sum::<f64>() / 4.0;
    // Planes are numbered from the element start; classes from the file offset.
    let raw_mask = |ents: &[f64]| {
        let k = ents.len();
        (0..k).fold(0u8, |m, j| {
            if ents[j % k] > RAW_PLANE_ENTROPY {
                m | (1 << j)
            } else {
                m
            }
        })
    };
    // Floats look random as a whole (their mantissas are) but some planes are not.
    if whole > 6.0 {
        if four + 0.5 < whole && four + 0.25 < two {
            return Layout::Grouped(4, raw_mask(&quarters));
        }
        if two + 0.5 < whole {
            return Layout::Grouped(2, raw_mask(&halves));
        }
    }
    if whole > HIGH_ENTROPY {
        // Order-0 entropy misses repeats; a small trial tells for sure.
        let sample = &data[..data.len().min(64 << 10)];
        let z = zstd::bulk::compress(sample, 1)
            .map(|c| c.len())
            .unwrap_or(sample.len());
        if z * 100 >= sample.len() * 98 {
            return Layout::Raw;
        }
    }
    Layout::Zstd
}

/// Append the encoded form of `data` (a chunk that starts at `file_offset` of its stream) to
/// `out`. Never fails: anything zstd cannot shrink is stored raw.
pub fn encode_into(out: &mut Vec<u8>, data: &[u8], file_offset: u64, compression: Compression) {
    let level = match compression {
        Compression::Off => return raw_into(out, data),
        Compression::Auto(level) => level,
    };
    match analyze(data, file_offset) {
        Layout::Raw => raw_into(out, data),
        Layout::Zstd => zstd_into(out, data, level),
        Layout::Grouped(k, raw) => {
            grouped_into(out, data, k, (file_offset % k as u64) as usize, raw)
        }
    }
}

fn raw_into(out: &mut Vec<u8>, data: &[u8]) {
    out.reserve(1 + data.len());
    out.push(CODEC_RAW);
    out.extend_from_slice(data);
}

fn zstd_into(out: &mut Vec<u8>, data: &[u8], level: i32) {
    let start = out.len();
    out.push(CODEC_ZSTD);
    if !zstd_append(out, data, level) {
        out.truncate(start);
        raw_into(out, data);
    }
}

thread_local! {
    static COMPRESSOR: std::cell::RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> =
        const { std::cell::RefCell::new(None) };
    static DECOMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        const { std::cell::RefCell::new(None) };
}

/// Append one zstd frame of `data` to `out` if it is smaller than `data`; returns whether it
/// did (on false `out` is unchanged). Compression contexts are cached per thread.
fn zstd_append(out: &mut Vec<u8>, data: &[u8], level: i32) -> bool {
    let start = out.len();
    out.reserve(zstd::zstd_safe::compress_bound(data.len()));
    // A cursor at the end makes zstd write into the spare capacity: no zero-filling.
    let mut cursor = std::io::Cursor::new(std::mem::take(out));
    cursor.set_position(start as u64);
    let n = COMPRESSOR.with(|c| {
        let mut c = c.borrow_mut();
        if c.as_ref().is_none_or(|(l, _)| *l != level) {
            *c = zstd::bulk::Compressor::new(level).ok().map(|z| (level, z));
        }
        let (_, z) = c.as_mut()?;
        z.include_contentsize(true).ok()?;
        z.compress_to_buffer(data, &mut cursor).ok()
    });
    *out = cursor.into_inner();
    match n {
        Some(n) if n < data.len() => {
            out.truncate(start + n);
            true
        }
        _ => {
            out.truncate(start);
            false
        }
    }
}

fn grouped_into(out: &mut Vec<u8>, data: &[u8], k: usize, phase: usize, raw_planes: u8) {
    out.push(CODEC_GROUPED);
    out.push(k as u8);
    out.push(phase as u8);
    let desc_at = out.len();
    out.resize(desc_at + 5 * k, 0);
    PLANES.with(|scratch| {
        let mut scratch = scratch.borrow_mut();
        if scratch.len() < data.len() {
            scratch.resize(data.len(), 0);
        }
        let planes = &mut scratch[..data.len()];
        split_planes_into(data, k, phase, planes);
        let mut at = 0;
        for j in 0..k {
            let plane = &planes[at..at + plane_len(data.len(), k, phase, j)];
            at += plane.len();
            let before = out.len();
            let mut codec = CODEC_RAW;
            if raw_planes & (1 << j) == 0 && zstd_append(out, plane, PLANE_LEVEL) {
                codec = CODEC_ZSTD;
            }
            if codec == CODEC_RAW {
                out.extend_from_slice(plane);
            }
            let len = (out.len() - before) as u32;
            out[desc_at + 5 * j] = codec;
            out[desc_at + 5 * j + 1..desc_at + 5 * j + 5].copy_from_slice(&len.to_le_bytes());
        }
    });
}

thread_local! {
    /// Each encoder thread's plane buffer, kept between chunks: a fresh zeroed allocation per
    /// chunk costs page faults and a memset on every byte of every tensor.
    static PLANES: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Number of bytes of a chunk of length `n` that fall into plane `j`.
fn plane_len(n: usize, k: usize, phase: usize, j: usize) -> usize {
    let first = (j + k - phase) % k;
    if first >= n {
        0
    } else {
        (n - first).div_ceil(k)
    }
}

/// Byte `i` goes to plane `(i + phase) % k`.
pub fn split_planes(data: &[u8], k: usize, phase: usize) -> Vec<Vec<u8>> {
    let mut all = vec![0u8; data.len()];
    split_planes_into(data, k, phase, &mut all);
    let mut at = 0;
    (0..k)
        .map(|j| {
            let n = plane_len(data.len(), k, phase, j);
            at += n;
            all[at - n..at].to_vec()
        })
        .collect()
}

/// [`split_planes`] into one buffer of `data.len()` bytes holding the planes one after the
/// other (plane `j` starts after the [`plane_len`]s of the planes before it).
fn split_planes_into(data: &[u8], k: usize, phase: usize, out: &mut [u8]) {
    let n = data.len();
    debug_assert_eq!(out.len(), n);
    let mut planes: Vec<&mut [u8]> = Vec::with_capacity(k);
    let mut rest = out;
    for j in 0..k {
        let (plane, tail) = rest.split_at_mut(plane_len(n, k, phase, j));
        planes.push(plane);
        rest = tail;
    }
    let mut pos = vec![0usize; k];
    let head = ((k - phase) % k).min(n);
    for (i, &b) in data[..head].iter().enumerate() {
        let j = (i + phase) % k;
        planes[j][pos[j]] = b;
        pos[j] += 1;
    }
    let body = &data[head..];
    // Whole 8-byte words are transposed with shifts and masks; the remainder bytewise.
    let words = if k == 2 || k == 4 { body.len() / 8 } else { 0 };
    if k == 2 {
        let [p0, p1] = &mut planes[..] else {
            unreachable!("two planes")
        };
        let (a, b) = (&mut p0[pos[0]..], &mut p1[pos[1]..]);
        for ((w, x), y) in body[..words * 8]
            .chunks_exact(8)
            .zip(a.chunks_exact_mut(4))
            .zip(b.chunks_exact_mut(4))
        {
            let v = u64::from_le_bytes(w.try_into().expect("8 bytes"));
            x.copy_from_slice(&gather2(v).to_le_bytes());
            y.copy_from_slice(&gather2(v >> 8).to_le_bytes());
        }
    } else if k == 4 {
        let [p0, p1, p2, p3] = &mut planes[..] else {
            unreachable!("four planes")
        };
        let outs = p0[pos[0]..]
            .chunks_exact_mut(2)
            .zip(p1[pos[1]..].chunks_exact_mut(2))
            .zip(p2[pos[2]..].chunks_exact_mut(2))
            .zip(p3[pos[3]..].chunks_exact_mut(2));
        for (w, (((a, b), c), d)) in body[..words * 8].chunks_exact(8).zip(outs) {
            a.copy_from_slice(&[w[0], w[4]]);
            b.copy_from_slice(&[w[1], w[5]]);
            c.copy_from_slice(&[w[2], w[6]]);
            d.copy_from_slice(&[w[3], w[7]]);
        }
    }
    let per_plane = words * 8 / k;
    for p in pos.iter_mut() {
        *p += per_plane;
    }
    for (i, &b) in body[words * 8..].iter().enumerate() {
        let j = i % k;
        planes[j][pos[j]] = b;
        pos[j] += 1;
    }
}

/// Bytes 0, 2, 4, 6 of `x` packed into the low 4 bytes.
fn gather2(x: u64) -> u32 {
    let mut e = x & 0x00FF_00FF_00FF_00FF;
    e = (e | (e >> 8)) & 0x0000_FFFF_0000_FFFF;
    e = (e | (e >> 16)) & 0x0000_0000_FFFF_FFFF;
    e as u32
}

/// Inverse of [`split_planes`].
pub fn join_planes(planes: &[Vec<u8>], k: usize, phase: usize, n: usize) -> Vec<u8> {
    let planes: Vec<&[u8]> = planes.iter().map(Vec::as_slice).collect();
    let mut out = Vec::new();
    join_planes_into(&planes, k, phase, n, &mut out);
    out
}

/// [`join_planes`] into `out` (cleared first; its allocation is reused).
fn join_planes_into(planes: &[&[u8]], k: usize, phase: usize, n: usize, out: &mut Vec<u8>) {
    out.clear();
    out.reserve(n);
    let head = ((k - phase) % k).min(n);
    let mut pos = vec![0usize; k];
    for i in 0..head {
        let j = (i + phase) % k;
        out.push(planes[j][pos[j]]);
        pos[j] += 1;
    }
    let body = n - head;
    let groups = body / k;
    // Interleaving through exact-size output chunks vectorizes (about 5x the shift-and-mask
    // form on one core); the zero fill of `resize` costs far less than it saves.
    let start = out.len();
    if k == 2 {
        out.resize(start + groups * 2, 0);
        let (a, b) = (&planes[0][pos[0]..], &planes[1][pos[1]..]);
        for ((o, x), y) in out[start..].chunks_exact_mut(2).zip(a).zip(b) {
            o[0] = *x;
            o[1] = *y;
        }
        pos[0] += groups;
        pos[1] += groups;
    } else if k == 4 {
        out.resize(start + groups * 4, 0);
        let ins = planes[0][pos[0]..]
            .iter()
            .zip(&planes[1][pos[1]..])
            .zip(&planes[2][pos[2]..])
            .zip(&planes[3][pos[3]..]);
        for (o, (((a, b), c), d)) in out[start..].chunks_exact_mut(4).zip(ins) {
            o.copy_from_slice(&[*a, *b, *c, *d]);
        }
        for p in pos.iter_mut() {
            *p += groups;
        }
    } else {
        for g in 0..groups {
            for (j, p) in planes.iter().enumerate() {
                out.push(p[pos[j] + g]);
            }
        }
        for p in pos.iter_mut() {
            *p += groups;
        }
    }
    for (j, p) in pos.iter().enumerate().take(body - groups * k) {
        out.push(planes[j][*p]);
    }
}

/// Decode an encoded blob whose raw length is known from the index. `object` names the blob
/// in errors. Refuses unknown codecs, lying lengths and output beyond `raw_len`.
pub fn decode(encoded: &[u8], raw_len: usize, object: &str) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    decode_into(encoded, raw_len, object, &mut out)?;
    Ok(out)
}

/// Like [`decode`], into `out` (its contents replaced, its allocation reused where the codec
/// allows), so a reader looping over blobs keeps one buffer.
pub fn decode_into(encoded: &[u8], raw_len: usize, object: &str, out: &mut Vec<u8>) -> Result<()> {
    out.clear();
    let bad = |why: String| Error::corrupt(object, why);
    if raw_len > MAX_RAW_LEN {
        return Err(bad(format!(
            "raw length {raw_len} exceeds the 16 MiB limit"
        )));
    }
    let (&codec, body) = encoded
        .split_first()
        .ok_or_else(|| bad("empty encoding".into()))?;
    match codec {
        CODEC_RAW => {
            if body.len() != raw_len {
                return Err(bad(format!(
                    "raw blob holds {} bytes, index says {raw_len}",
                    body.len()
                )));
            }
            out.extend_from_slice(body);
            Ok(())
        }
        CODEC_ZSTD => unzstd_into(body, raw_len, out).map_err(bad),
        CODEC_GROUPED => {
            let (&k, rest) = body
                .split_first()
                .ok_or_else(|| bad("truncated plane header".into()))?;
            let k = k as usize;
            if !matches!(k, 2 | 4 | 8) {
                return Err(bad(format!("unknown byte-group stride {k}")));
            }
            let (&phase, mut rest) = rest
                .split_first()
                .ok_or_else(|| bad("truncated plane header".into()))?;
            let phase = phase as usize;
            if phase >= k {
                return Err(bad(format!("phase {phase} not below stride {k}")));
            }
            if rest.len() < 5 * k {
                return Err(bad("truncated plane descriptors".into()));
            }
            let (desc, data) = rest.split_at(5 * k);
            rest = data;
            let mut planes: Vec<std::borrow::Cow<'_, [u8]>> = Vec::with_capacity(k);
            for j in 0..k {
                let d = &desc[5 * j..5 * j + 5];
                let stored = u32::from_le_bytes(d[1..5].try_into().expect("4 bytes")) as usize;
                if stored > rest.len() {
                    return Err(bad(format!(
                        "plane {j} claims {stored} bytes, {} remain",
                        rest.len()
                    )));
                }
                let (pdata, next) = rest.split_at(stored);
                rest = next;
                let want = plane_len(raw_len, k, phase, j);
                let plane = match d[0] {
                    CODEC_RAW if pdata.len() == want => std::borrow::Cow::Borrowed(pdata),
                    CODEC_RAW => {
                        return Err(bad(format!(
                            "plane {j} holds {} bytes, expected {want}",
                            pdata.len()
                        )));
                    }
                    CODEC_ZSTD => std::borrow::Cow::Owned(
                        unzstd(pdata, want).map_err(|e| bad(format!("plane {j}: {e}")))?,
                    ),
                    c => return Err(bad(format!("unknown plane codec {c}"))),
                };
                planes.push(plane);
            }
            if !rest.is_empty() {
                return Err(bad(format!(
                    "{} bytes of trailing garbage after planes",
                    rest.len()
                )));
            }
            let planes: Vec<&[u8]> = planes.iter().map(AsRef::as_ref).collect();
            join_planes_into(&planes, k, phase, raw_len, out);
            Ok(())
        }
        c => Err(bad(format!("unknown compression codec {c}"))),
    }
}

/// Decompress one zstd frame into exactly `want` bytes, never allocating more.
fn unzstd(frame: &[u8], want: usize) -> std::result::Result<Vec<u8>, String> {
    let mut out = Vec::new();
    unzstd_into(frame, want, &mut out)?;
    Ok(out)
}

/// Like [`unzstd`], into the empty `out`, reusing its allocation when it is large enough.
fn unzstd_into(frame: &[u8], want: usize, out: &mut Vec<u8>) -> std::result::Result<(), String> {
    match zstd::zstd_safe::get_frame_content_size(frame) {
        Ok(Some(n)) if n != want as u64 => {
            return Err(format!("zstd frame declares {n} bytes, expected {want}"));
        }
        Err(_) => return Err("malformed zstd frame header".into()),
        _ => {}
    }
    out.clear();
    out.reserve(want);
    let n = DECOMPRESSOR.with(|d| {
        let mut d = d.borrow_mut();
        if d.is_none() {
            *d = Some(zstd::bulk::Decompressor::new().map_err(|e| format!("zstd: {e}"))?);
        }
        let d = d.as_mut().expect("set above");
        d.decompress_to_buffer(frame, out)
            .map_err(|e| format!("zstd: {e}"))
    })?;
    if n != want {
        out.clear();
        return Err(format!("zstd produced {n} bytes, expected {want}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lcg(n: usize, seed: u64) -> Vec<u8> {
        let mut x = seed;
        (0..n)
            .map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (x >> 33) as u8
            })
            .collect()
    }

    /// fp16-like: random low byte, high byte drawn from a narrow exponent range.
    fn fake_fp16(n_elems: usize, lead: usize) -> Vec<u8> {
        let noise = lcg(n_elems * 2, 5);
        let mut v = vec![0xAAu8; lead];
        for i in 0..n_elems {
            v.push(noise[2 * i]);
            v.push(0x20 + (noise[2 * i + 1] % 6));
        }
        v
    }

    fn round_trip(data: &[u8], off: u64) -> usize {
        let mut enc = Vec::new();
        encode_into(&mut enc, data, off, Compression::default());
        assert_eq!(decode(&enc, data.len(), "t").unwrap(), data);
        enc.len()
    }

    #[test]
    fn planes_round_trip_every_phase_and_length() {
        for k in [2, 4, 8] {
            for phase in 0..k {
                for n in [0, 1, 2, 3, 5, 8, 13, 64, 1001] {
                    let d = lcg(n, n as u64 + 1);
                    let p = split_planes(&d, k, phase);
                    for (j, plane) in p.iter().enumerate() {
                        assert_eq!(plane.len(), plane_len(n, k, phase, j));
                    }
                    assert_eq!(join_planes(&p, k, phase, n), d, "k={k} phase={phase} n={n}");
                }
            }
        }
    }

    #[test]
    fn floats_are_grouped_by_file_alignment() {
        let data = fake_fp16(100_000, 0);
        assert!(
            matches!(analyze(&data, 0), Layout::Grouped(2, 0b01)),
            "{:?}",
            analyze(&data, 0)
        );
        // A chunk cut at an odd offset of the file is still grouped by element.
        let enc_len = round_trip(&data[1..], 1);
        let mut enc = Vec::new();
        encode_into(&mut enc, &data[1..], 1, Compression::default());
        assert_eq!(enc[0], CODEC_GROUPED);
        assert_eq!(enc[2], 1, "phase follows the file offset");
        assert!(
            enc_len < data.len() * 80 / 100,
            "exponent plane compressed: {enc_len}"
        );
    }

    #[test]
    fn random_data_is_stored_raw_and_text_is_zstd() {
        let r = lcg(200_000, 3);
        assert_eq!(analyze(&r, 0), Layout::Raw);
        let n = round_trip(&r, 0);
        assert_eq!(n, r.len() + 1);
        let text = b"the quick brown fox jumps over the lazy dog ".repeat(5000);
        assert_eq!(analyze(&text, 0), Layout::Zstd);
        assert!(round_trip(&text, 0) < text.len() / 10);
        round_trip(b"", 0);
        round_trip(b"x", 7);
    }

    #[test]
    fn decoder_refuses_lies_and_bombs() {
        let text = b"abcabcabc".repeat(1000);
        let mut enc = Vec::new();
        encode_into(&mut enc, &text, 0, Compression::default());
        assert!(
            decode(&enc, text.len() - 1, "t").is_err(),
            "shorter raw length"
        );
        assert!(
            decode(&enc, text.len() + 1, "t").is_err(),
            "longer raw length"
        );
        assert!(
            decode(&[9, 1, 2], 2, "t")
                .unwrap_err()
                .to_string()
                .contains("unknown compression codec 9")
        );
        assert!(decode(&[], 0, "t").is_err());
        assert!(
            decode(&[2, 3, 0], 0, "t")
                .unwrap_err()
                .to_string()
                .contains("stride 3")
        );
        // A bomb: 16 MiB of zeros in a tiny frame, claimed as 100 bytes.
        let bomb = zstd::bulk::compress(&vec![0u8; 16 << 20], 19).unwrap();
        let mut b = vec![CODEC_ZSTD];
        b.extend_from_slice(&bomb);
        assert!(decode(&b, 100, "t").is_err());
        assert!(decode(&b, 64 << 20, "t").is_err(), "over the raw limit");
        // Trailing garbage after planes.
        let f = fake_fp16(10_000, 0);
        let mut enc = Vec::new();
        encode_into(&mut enc, &f, 0, Compression::default());
        enc.push(0);
        assert!(decode(&enc, f.len(), "t").is_err());
    }
}
