//! A file's content from the repository as a plain [`Read`] of its logical bytes (holes of a
//! sparse file read as zeros), every chunk authenticated and the whole checked against the
//! recorded SHA-256 before end-of-file is reported, so a consumer that streams it elsewhere (an
//! image load, a tar upload to a volume) never gets a silently wrong file. Part of the format
//! layer, so Docker, the host profile, models and the audit read stored files without depending
//! on the files restore.

use std::io::Read;

use sha2::{Digest, Sha256};

use super::entry::Content;
use crate::error::Error;
use crate::repo::{BlobKind, IndexedRepo};

pub struct ContentReader<'r> {
    repo: &'r IndexedRepo,
    content: &'r Content,
    object: String,
    size: u64,
    /// Logical position in the file.
    pos: u64,
    /// Next chunk to fetch, the current chunk's bytes and how many were used.
    next: usize,
    buf: Vec<u8>,
    used: usize,
    /// Sparse files: current extent and how much of it was emitted.
    extent: usize,
    in_extent: u64,
    sha: Sha256,
    checked: bool,
}

impl<'r> ContentReader<'r> {
    pub fn new(
        repo: &'r IndexedRepo,
        content: &'r Content,
        size: u64,
        object: impl Into<String>,
    ) -> Self {
        ContentReader {
            repo,
            content,
            object: object.into(),
            size,
            pos: 0,
            next: 0,
            buf: Vec::new(),
            used: 0,
            extent: 0,
            in_extent: 0,
            sha: Sha256::new(),
            checked: false,
        }
    }

    /// The library error travels inside the `io::Error` (see [`Error::from_io`]), so a
    /// consumer can still tell damage from a failed write.
    fn corrupt(&self, why: &str) -> std::io::Error {
        std::io::Error::other(Error::corrupt(&self.object, why))
    }

    /// Up to `max` stored bytes, fetching the next chunk when needed.
    fn stored(&mut self, max: usize) -> std::io::Result<&[u8]> {
        if self.used == self.buf.len() {
            let Some(id) = self.content.chunks.get(self.next) else {
                return Err(self.corrupt("chunks end before the file does"));
            };
            self.next += 1;
            self.repo
                .read_blob_into(BlobKind::Data, id, &mut self.buf)
                .map_err(std::io::Error::other)?;
            self.used = 0;
        }
        let n = max.min(self.buf.len() - self.used);
        let start = self.used;
        self.used += n;
        Ok(&self.buf[start..start + n])
    }

    fn finish(&mut self) -> std::io::Result<()> {
        if self.checked {
            return Ok(());
        }
        self.checked = true;
        if self.used != self.buf.len() || self.next != self.content.chunks.len() {
            return Err(self.corrupt("chunks hold more bytes than the file"));
        }
        let digest: [u8; 32] = self.sha.clone().finalize().into();
        if digest != self.content.sha256 {
            return Err(self.corrupt("SHA-256 of the stored bytes differs from the snapshot's"));
        }
        Ok(())
    }
}

impl Read for ContentReader<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.pos >= self.size || out.is_empty() {
            self.finish()?;
            return Ok(0);
        }
        let left = usize::try_from(self.size - self.pos).unwrap_or(usize::MAX);
        let want = out.len().min(left);
        let content = self.content;
        if let Some(ext) = &content.extents {
            while ext.get(self.extent).is_some_and(|e| e.1 == 0) {
                self.extent += 1;
            }
        }
        let n = match &content.extents {
            None => {
                let data = self.stored(want)?;
                let n = data.len();
                out[..n].copy_from_slice(data);
                n
            }
            Some(ext) => match ext.get(self.extent).copied() {
                // Before the current extent, or after the last: a hole.
                Some((off, _)) if self.pos < off => {
                    let n = want.min(usize::try_from(off - self.pos).unwrap_or(usize::MAX));
                    out[..n].fill(0);
                    n
                }
                None => {
                    out[..want].fill(0);
                    want
                }
                Some((_, len)) => {
                    let room = usize::try_from(len - self.in_extent).unwrap_or(usize::MAX);
                    let data = self.stored(want.min(room))?;
                    let n = data.len();
                    out[..n].copy_from_slice(data);
                    self.in_extent += n as u64;
                    if self.in_extent == len {
                        self.extent += 1;
                        self.in_extent = 0;
                    }
                    n
                }
            },
        };
        self.sha.update(&out[..n]);
        self.pos += n as u64;
        if self.pos == self.size {
            self.finish()?;
        }
        Ok(n)
    }
}
