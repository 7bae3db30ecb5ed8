//! Writing one file's content into its staged copy: chunks fetched and decoded in parallel,
//! written in order (through sparse extents), the whole hashed and checked against the
//! snapshot's SHA-256, with early writeback so the final flush is short.

use std::os::unix::fs::FileExt;

use rayon::prelude::*;
use sha2::{Digest, Sha256};

use super::Ctx;
use crate::error::{Error, Result};
use crate::id::Id;
use crate::repo::{BlobKind, Location};
use crate::snapshot::entry::{Content, Entry};

/// Chunks of one file decoded in parallel.
const WINDOW: usize = 8;

/// Write a file's chunks (decoded in parallel, written in order) and verify its SHA-256.
pub(super) fn write_content(
    ctx: &Ctx<'_>,
    file: &std::fs::File,
    e: &Entry,
    content: &Content,
) -> Result<u64> {
    let object = format!("file {}", e.path_str());
    let locs = content
        .chunks
        .iter()
        .map(|id| ctx.repo.locate(BlobKind::Data, id))
        .collect::<Result<Vec<_>>>()?;
    let stored: u64 = locs.iter().map(|l| u64::from(l.raw_len)).sum();
    let expected = content
        .extents
        .as_ref()
        .map_or(e.size, |x| x.iter().map(|r| r.1).sum());
    if stored != expected {
        return Err(Error::corrupt(
            &object,
            format!("chunks hold {stored} bytes, the entry expects {expected}"),
        ));
    }
    let mut placer = Placer::new(content.extents.as_deref(), e.size);
    if content.extents.is_some() {
        file.set_len(e.size)
            .map_err(|err| Error::io(&object, err))?;
    }
    // Decode window i+1 in parallel while window i is hashed and written in order.
    let decode = |ids: &[Id], locs: &[Location]| fetch_and_open(ctx, ids, locs);
    let mut windows = content.chunks.chunks(WINDOW).zip(locs.chunks(WINDOW));
    let mut ready = match windows.next() {
        Some((ids, locs)) => decode(ids, locs)?,
        None => Vec::new(),
    };
    // Start writing back what earlier windows wrote, so the final flush (`sync`) has little
    // left to wait for; written pages are dropped from the cache once clean.
    let mut writeback = Writeback::new(ctx.opts.sync);
    loop {
        crate::interrupt::check()?;
        let next = windows.next();
        let (written, decoded) = rayon::join(
            || -> Result<()> {
                for data in &ready {
                    placer
                        .write(file, data)
                        .map_err(|err| Error::io(&object, err))?;
                    ctx.progress.advance(data.len() as u64);
                }
                writeback.advance(file, placer.pos);
                Ok(())
            },
            || next.map(|(ids, locs)| decode(ids, locs)),
        );
        written?;
        match decoded {
            Some(d) => std::mem::replace(&mut ready, d?)
                .into_iter()
                .for_each(crate::bufpool::give),
            None => break,
        }
    }
    let digest = placer.finish();
    if digest != content.sha256 {
        return Err(Error::corrupt(
            &object,
            "SHA-256 of the restored bytes differs from the snapshot's",
        ));
    }
    Ok(expected)
}

/// Read and open the blobs of one window. Neighbouring blobs of one pack (the usual case:
/// a file's chunks were packed in order) are fetched with one read, so a network store sees
/// one ranged request per run instead of one per chunk; runs are fetched, and blobs opened,
/// in parallel.
fn fetch_and_open(ctx: &Ctx<'_>, ids: &[Id], locs: &[Location]) -> Result<Vec<Vec<u8>>> {
    let runs = contiguous_runs(locs);
    let mut fetched = runs
        .par_iter()
        .map(|r| {
            let (first, last) = (&locs[r.start], &locs[r.end - 1]);
            let end = u64::from(last.offset) + u64::from(last.stored_len);
            let len = end - u64::from(first.offset);
            ctx.repo
                .read_packed(&first.pack, u64::from(first.offset), len as usize)
        })
        .collect::<Result<Vec<Vec<u8>>>>()?;
    // Cut each run's buffer into its blobs' sealed bytes (disjoint, opened in place).
    let mut sealed: Vec<&mut [u8]> = Vec::with_capacity(locs.len());
    for (r, buf) in runs.iter().zip(fetched.iter_mut()) {
        let mut rest = buf.as_mut_slice();
        for loc in &locs[r.clone()] {
            let (blob, tail) = rest.split_at_mut(loc.stored_len as usize);
            sealed.push(blob);
            rest = tail;
        }
    }
    let opened = ids
        .par_iter()
        .zip(locs.par_iter())
        .zip(sealed.into_par_iter())
        .map(|((id, loc), blob)| {
            let mut out = crate::bufpool::take(loc.raw_len as usize);
            match ctx
                .repo
                .open_located(BlobKind::Data, id, loc, blob, &mut out)
            {
                Ok(()) => Ok(out),
                // A damaged or forged copy: the index may know another (read_blob tries each).
                Err(e) if e.is_integrity() && ctx.repo.index().copies(id).nth(1).is_some() => {
                    ctx.repo.read_blob(BlobKind::Data, id)
                }
                Err(e) => Err(e),
            }
        })
        .collect();
    fetched.into_iter().for_each(crate::bufpool::give);
    opened
}

/// Index ranges of `locs` whose blobs lie back to back in one pack.
fn contiguous_runs(locs: &[Location]) -> Vec<std::ops::Range<usize>> {
    let mut runs: Vec<std::ops::Range<usize>> = Vec::new();
    for (i, loc) in locs.iter().enumerate() {
        let extends = runs.last().is_some_and(|r| {
            let prev = &locs[r.end - 1];
            prev.pack == loc.pack
                && u64::from(prev.offset) + u64::from(prev.stored_len) == u64::from(loc.offset)
        });
        match runs.last_mut() {
            Some(r) if extends => r.end = i + 1,
            _ => runs.push(i..i + 1),
        }
    }
    runs
}

/// Early, asynchronous writeback of a file being restored. `POSIX_FADV_DONTNEED` makes Linux
/// start writing the range's dirty pages without waiting for them (and drop the clean ones),
/// which overlaps the disk writes with decoding instead of leaving them all to the final
/// `syncfs`. Advice only: failures are ignored.
struct Writeback {
    enabled: bool,
    /// End of the range already handed to the kernel.
    started: u64,
}

impl Writeback {
    /// Ranges smaller than this are left to the final flush.
    const MIN_RANGE: u64 = 8 << 20;

    fn new(enabled: bool) -> Self {
        Writeback {
            enabled,
            started: 0,
        }
    }

    fn advance(&mut self, file: &std::fs::File, written_to: u64) {
        if !self.enabled || written_to < self.started + Self::MIN_RANGE {
            return;
        }
        let len = std::num::NonZeroU64::new(written_to - self.started);
        let _ = rustix::fs::fadvise(file, self.started, len, rustix::fs::Advice::DontNeed);
        self.started = written_to;
    }
}

/// Maps the chunk stream onto file offsets (through sparse extents) and hashes the logical
/// file, holes included.
struct Placer<'x> {
    extents: Option<&'x [(u64, u64)]>,
    size: u64,
    idx: usize,
    used: u64,
    pos: u64,
    sha: Sha256,
}

impl<'x> Placer<'x> {
    fn new(extents: Option<&'x [(u64, u64)]>, size: u64) -> Self {
        Placer {
            extents,
            size,
            idx: 0,
            used: 0,
            pos: 0,
            sha: Sha256::new(),
        }
    }

    fn hash_zeros_to(&mut self, end: u64) {
        if end > self.pos {
            crate::util::sha256_zeros(&mut self.sha, end - self.pos);
            self.pos = end;
        }
    }

    fn write(&mut self, file: &std::fs::File, mut data: &[u8]) -> std::io::Result<()> {
        let Some(ext) = self.extents else {
            file.write_all_at(data, self.pos)?;
            self.sha.update(data);
            self.pos += data.len() as u64;
            return Ok(());
        };
        while !data.is_empty() {
            let &(off, len) = ext
                .get(self.idx)
                .ok_or_else(|| std::io::Error::other("more data than extents"))?;
            let room = (len - self.used) as usize;
            if room == 0 {
                self.idx += 1;
                self.used = 0;
                continue;
            }
            let k = room.min(data.len());
            let at = off + self.used;
            self.hash_zeros_to(at);
            file.write_all_at(&data[..k], at)?;
            self.sha.update(&data[..k]);
            self.pos = at + k as u64;
            self.used += k as u64;
            data = &data[k..];
        }
        Ok(())
    }

    fn finish(mut self) -> [u8; 32] {
        self.hash_zeros_to(self.size);
        self.sha.finalize().into()
    }
}
