//! A file's content from the repository as a plain [`Read`], every chunk authenticated and the
//! whole checked against the recorded SHA-256 before the last byte is handed out, so a consumer
//! that streams it elsewhere (an image load, a tar upload) never receives unverified data's end.

use std::io::Read;

use sha2::{Digest, Sha256};

use crate::error::Error;
use crate::repo::{BlobKind, Repository};
use crate::snapshot::entry::Content;

pub struct ContentReader<'r> {
    repo: &'r Repository,
    content: &'r Content,
    object: String,
    next: usize,
    buf: Vec<u8>,
    pos: usize,
    sha: Sha256,
}

impl<'r> ContentReader<'r> {
    pub fn new(repo: &'r Repository, content: &'r Content, object: impl Into<String>) -> Self {
        ContentReader {
            repo,
            content,
            object: object.into(),
            next: 0,
            buf: Vec::new(),
            pos: 0,
            sha: Sha256::new(),
        }
    }

    fn fill(&mut self) -> crate::Result<bool> {
        let Some(id) = self.content.chunks.get(self.next) else {
            return Ok(false);
        };
        self.next += 1;
        let loc = self.repo.locate(BlobKind::Data, id)?;
        let mut sealed =
            self.repo
                .read_pack_range(&loc.pack, u64::from(loc.offset), loc.stored_len as usize)?;
        self.buf = self
            .repo
            .open_blob_in_place(BlobKind::Data, id, &loc, &mut sealed)?;
        self.pos = 0;
        self.sha.update(&self.buf);
        if self.next == self.content.chunks.len() {
            let digest: [u8; 32] = self.sha.clone().finalize().into();
            if digest != self.content.sha256 {
                return Err(Error::corrupt(
                    &self.object,
                    "SHA-256 of the stored bytes differs from the snapshot's",
                ));
            }
        }
        Ok(true)
    }
}

impl Read for ContentReader<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.pos == self.buf.len() {
            match self.fill() {
                Ok(true) => {}
                Ok(false) => {
                    if self.content.chunks.is_empty() {
                        let digest: [u8; 32] = self.sha.clone().finalize().into();
                        if digest != self.content.sha256 {
                            return Err(std::io::Error::other(format!(
                                "{}: SHA-256 of the stored bytes differs from the snapshot's",
                                self.object
                            )));
                        }
                    }
                    return Ok(0);
                }
                Err(e) => return Err(std::io::Error::other(e.to_string())),
            }
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}
