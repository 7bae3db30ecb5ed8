//! Content-defined chunking (FastCDC 2020) over any `Read`, with a per-repository gear seed so
//! chunk boundaries do not reveal known content.
//!
//! The chunker keeps one buffer of twice the maximum chunk size and copies each chunk out, so
//! memory stays flat whatever the input size.

use std::borrow::Cow;
use std::io::{self, Read};

use fastcdc::v2020::{Normalization, cut_gear, get_gear_with_seed, select_masks};
use serde::{Deserialize, Serialize};

/// Chunk size bounds (FORMAT.md §5). All three must be even.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkerParams {
    pub min: u32,
    pub avg: u32,
    pub max: u32,
}

impl ChunkerParams {
    /// File data: 256 KiB / 1 MiB / 4 MiB.
    pub const DATA: ChunkerParams = ChunkerParams {
        min: 256 << 10,
        avg: 1 << 20,
        max: 4 << 20,
    };
    /// The tree stream: smaller chunks so one changed file rewrites little metadata.
    pub const TREE: ChunkerParams = ChunkerParams {
        min: 64 << 10,
        avg: 256 << 10,
        max: 1 << 20,
    };

    /// Bounds a repository may choose; anything else in a config is refused.
    pub fn is_sane(&self) -> bool {
        let even =
            self.min.is_multiple_of(2) && self.avg.is_multiple_of(2) && self.max.is_multiple_of(2);
        even && (4096..=(1 << 24)).contains(&self.min)
            && self.min < self.avg
            && self.avg < self.max
            && self.max <= (16 << 20)
            && self.avg >= 1 << 13
    }
}

/// Pre-computed gear tables and masks, shared by every chunker of one repository.
#[derive(Clone, Debug)]
pub struct Gear {
    params: ChunkerParams,
    gear: Cow<'static, [u64]>,
    gear_ls: Cow<'static, [u64]>,
    mask_s: u64,
    mask_l: u64,
}

impl Gear {
    pub fn new(params: ChunkerParams, seed: u64) -> Self {
        let (mask_s, mask_l) = select_masks(params.avg as usize, Normalization::Level1);
        let (gear, gear_ls) = get_gear_with_seed(seed);
        Gear {
            params,
            gear,
            gear_ls,
            mask_s,
            mask_l,
        }
    }

    pub fn params(&self) -> ChunkerParams {
        self.params
    }

    /// Length of the next chunk at the start of `data`. `data` must hold at least `max` bytes
    /// unless it is the end of the stream.
    pub fn cut(&self, data: &[u8]) -> usize {
        let p = self.params;
        let (_, n) = cut_gear(
            data,
            p.min as usize,
            p.avg as usize,
            p.max as usize,
            self.mask_s,
            self.mask_l,
            self.mask_s << 1,
            self.mask_l << 1,
            &self.gear,
            &self.gear_ls,
        );
        n
    }
}

/// A streaming chunker: yields `(offset, bytes)` for each chunk of the reader's stream.
pub struct Chunker<'g, R> {
    gear: &'g Gear,
    reader: R,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    eof: bool,
    offset: u64,
}

impl<'g, R: Read> Chunker<'g, R> {
    pub fn new(gear: &'g Gear, reader: R) -> Self {
        Chunker {
            gear,
            reader,
            buf: Vec::new(),
            start: 0,
            end: 0,
            eof: false,
            offset: 0,
        }
    }

    /// Make at least `max` bytes available after `start` (unless the stream ends). The buffer
    /// holds three maximal chunks, so the leftover is moved to the front at most once per two
    /// maximal chunks consumed: well under one extra copy per byte.
    fn fill(&mut self) -> io::Result<()> {
        let max = self.gear.params.max as usize;
        if self.buf.is_empty() {
            // Reuse this thread's buffer: allocating and zeroing it per small file would cost
            // more than reading the file.
            self.buf = BUFFERS.with(|b| b.borrow_mut().pop()).unwrap_or_default();
            self.buf.resize(3 * max, 0);
        }
        if self.start + max > self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        while !self.eof && self.end - self.start < max {
            match self.reader.read(&mut self.buf[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(n) => self.end += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// The next chunk and its offset in the stream, or `None` at the end.
    pub fn next_chunk(&mut self) -> io::Result<Option<(u64, Vec<u8>)>> {
        if !self.eof && self.end - self.start < self.gear.params.max as usize {
            self.fill()?;
        }
        if self.start == self.end {
            return Ok(None);
        }
        let n = self.gear.cut(&self.buf[self.start..self.end]);
        let mut chunk = crate::bufpool::take(n);
        chunk.extend_from_slice(&self.buf[self.start..self.start + n]);
        self.start += n;
        let off = self.offset;
        self.offset += n as u64;
        Ok(Some((off, chunk)))
    }
}

thread_local! {
    static BUFFERS: std::cell::RefCell<Vec<Vec<u8>>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl<R> Drop for Chunker<'_, R> {
    fn drop(&mut self) {
        let buf = std::mem::take(&mut self.buf);
        if !buf.is_empty() {
            BUFFERS.with(|b| {
                let mut b = b.borrow_mut();
                if b.len() < 2 {
                    b.push(buf);
                }
            });
        }
    }
}

impl<R: Read> Iterator for Chunker<'_, R> {
    type Item = io::Result<(u64, Vec<u8>)>;
    fn next(&mut self) -> Option<Self::Item> {
        self.next_chunk().transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pseudo_random(n: usize, seed: u64) -> Vec<u8> {
        let mut x = seed | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    /// A reader that returns at most 7 bytes per call, to exercise refills.
    struct Trickle<'a>(&'a [u8]);
    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(7).min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn chunks_cover_input_and_respect_bounds() {
        let p = ChunkerParams {
            min: 4096,
            avg: 16384,
            max: 65536,
        };
        let gear = Gear::new(p, 42);
        let data = pseudo_random(1_000_000, 7);
        let chunks: Vec<_> = Chunker::new(&gear, &data[..]).map(|c| c.unwrap()).collect();
        let mut off = 0u64;
        for (i, (o, c)) in chunks.iter().enumerate() {
            assert_eq!(*o, off);
            assert!(c.len() <= 65536);
            if i + 1 < chunks.len() {
                assert!(c.len() >= 4096);
            }
            off += c.len() as u64;
        }
        assert_eq!(off, 1_000_000);
        let slow: Vec<_> = Chunker::new(&gear, Trickle(&data))
            .map(|c| c.unwrap())
            .collect();
        assert_eq!(slow, chunks, "cut points do not depend on read sizes");
    }

    #[test]
    fn boundaries_resynchronise_after_an_insert() {
        let p = ChunkerParams {
            min: 4096,
            avg: 16384,
            max: 65536,
        };
        let gear = Gear::new(p, 1);
        let data = pseudo_random(500_000, 3);
        let mut edited = data.clone();
        edited.splice(1000..1000, [1u8, 2, 3]);
        let a: std::collections::HashSet<Vec<u8>> = Chunker::new(&gear, &data[..])
            .map(|c| c.unwrap().1)
            .collect();
        let b: Vec<Vec<u8>> = Chunker::new(&gear, &edited[..])
            .map(|c| c.unwrap().1)
            .collect();
        let shared = b.iter().filter(|c| a.contains(*c)).count();
        assert!(
            shared + 2 >= b.len(),
            "only the edited chunk differs: {shared}/{}",
            b.len()
        );
    }

    #[test]
    fn seed_changes_boundaries() {
        let p = ChunkerParams {
            min: 4096,
            avg: 16384,
            max: 65536,
        };
        let data = pseudo_random(300_000, 9);
        let g1 = Gear::new(p, 1);
        let g2 = Gear::new(p, 2);
        let a: Vec<u64> = Chunker::new(&g1, &data[..]).map(|c| c.unwrap().0).collect();
        let b: Vec<u64> = Chunker::new(&g2, &data[..]).map(|c| c.unwrap().0).collect();
        assert_ne!(a, b);
    }

    #[test]
    fn empty_input_has_no_chunks() {
        let gear = Gear::new(ChunkerParams::DATA, 0);
        assert!(Chunker::new(&gear, &b""[..]).next().is_none());
        assert!(ChunkerParams::DATA.is_sane() && ChunkerParams::TREE.is_sane());
    }
}
