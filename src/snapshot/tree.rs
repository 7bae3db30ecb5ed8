//! The tree stream: a snapshot's entries as one sorted CBOR sequence, cut into tree blobs by
//! content-defined chunking so unchanged stretches of metadata dedup between snapshots.
//!
//! [`TreeReader`] is the only way entries come back out of a repository, and it rejects any
//! stream that breaks the rules of FORMAT.md §8 (order, normalised paths, parents that are
//! directories, hard links to earlier files), so every consumer sees validated entries.

use std::collections::HashSet;

use super::entry::{Entry, Kind};
use crate::error::{Error, Result};
use crate::id::Id;
use crate::repo::{BlobKind, IdSet, IndexedRepo, PackWriter};
use crate::util::{parent, path_cmp, path_problem};

/// Serializes entries and stores the stream as tree blobs.
pub struct TreeWriter<'w, 'r> {
    writer: &'w PackWriter<'r>,
    buf: Vec<u8>,
    offset: u64,
    ids: Vec<Id>,
    last: Option<Vec<u8>>,
}

impl<'w, 'r> TreeWriter<'w, 'r> {
    pub fn new(writer: &'w PackWriter<'r>) -> Self {
        TreeWriter {
            writer,
            buf: Vec::new(),
            offset: 0,
            ids: Vec::new(),
            last: None,
        }
    }

    /// Append an entry. Entries must come in stream order.
    pub fn push(&mut self, e: &Entry) -> Result<()> {
        if let Some(last) = &self.last
            && path_cmp(last, &e.path) != std::cmp::Ordering::Less
        {
            return Err(Error::Internal(format!(
                "entries out of order: {} after {}",
                e.path_str(),
                crate::util::show(last)
            )));
        }
        self.last = Some(e.path.clone());
        ciborium::into_writer(e, &mut self.buf)
            .map_err(|err| Error::Invalid(format!("encoding entry: {err}")))?;
        let max = self.writer.repo().tree_gear().params().max as usize;
        if self.buf.len() >= 2 * max {
            self.cut(false)?;
        }
        Ok(())
    }

    fn cut(&mut self, all: bool) -> Result<()> {
        let gear = self.writer.repo().tree_gear();
        let max = gear.params().max as usize;
        let mut pos = 0;
        while self.buf.len() - pos >= max || (all && pos < self.buf.len()) {
            let n = gear.cut(&self.buf[pos..]);
            let id = self
                .writer
                .store(BlobKind::Tree, &self.buf[pos..pos + n], self.offset)?;
            self.ids.push(id);
            self.offset += n as u64;
            pos += n;
        }
        self.buf.drain(..pos);
        Ok(())
    }

    /// Store what is left; returns the tree blob IDs.
    pub fn finish(mut self) -> Result<Vec<Id>> {
        self.cut(true)?;
        Ok(self.ids)
    }
}

/// The rules of a tree stream (FORMAT.md §8), checked entry by entry.
#[derive(Default)]
pub struct Validator {
    last: Option<Vec<u8>>,
    /// Directories enclosing the current position, outermost first.
    dirs: Vec<Vec<u8>>,
    /// Files that later hard links may point to.
    link_targets: HashSet<Vec<u8>>,
}

/// Decode and validate a whole tree stream held in memory (tests, fuzzing, tools).
pub fn parse_stream(mut bytes: &[u8]) -> Result<Vec<Entry>> {
    let mut v = Validator::default();
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let e: Entry = ciborium::from_reader(&mut bytes)
            .map_err(|e| Error::corrupt("tree stream", format!("bad entry: {e}")))?;
        v.check(&e)?;
        out.push(e);
    }
    Ok(out)
}

/// Every blob (tree and data) the given snapshots reference: their tree blobs and the chunks
/// of every file in them.
pub fn referenced_blobs<'s>(
    repo: &IndexedRepo,
    snapshots: impl IntoIterator<Item = &'s super::manifest::Snapshot>,
) -> Result<IdSet> {
    let mut used = IdSet::default();
    for s in snapshots {
        for tree in s.trees() {
            used.extend(tree.iter().copied());
            for e in TreeReader::new(repo, tree) {
                if let Some(c) = e?.content {
                    used.extend(c.chunks);
                }
            }
        }
    }
    Ok(used)
}

/// Reads and validates a tree stream.
pub struct TreeReader<'r> {
    repo: &'r IndexedRepo,
    ids: Vec<Id>,
    next_blob: usize,
    /// The blob just read (its allocation reused for the next).
    blob: Vec<u8>,
    buf: Vec<u8>,
    pos: usize,
    rules: Validator,
    failed: bool,
}

impl<'r> TreeReader<'r> {
    pub fn new(repo: &'r IndexedRepo, ids: &[Id]) -> Self {
        TreeReader {
            repo,
            ids: ids.to_vec(),
            next_blob: 0,
            blob: Vec::new(),
            buf: Vec::new(),
            pos: 0,
            rules: Validator::default(),
            failed: false,
        }
    }

    fn load_next_blob(&mut self) -> Result<bool> {
        let Some(id) = self.ids.get(self.next_blob).copied() else {
            return Ok(false);
        };
        self.next_blob += 1;
        self.repo
            .read_blob_into(BlobKind::Tree, &id, &mut self.blob)?;
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(&self.blob);
        Ok(true)
    }

    fn next_raw(&mut self) -> Result<Option<Entry>> {
        loop {
            if self.pos < self.buf.len() {
                let mut slice = &self.buf[self.pos..];
                let before = slice.len();
                match ciborium::from_reader::<Entry, _>(&mut slice) {
                    Ok(e) => {
                        self.pos += before - slice.len();
                        return Ok(Some(e));
                    }
                    Err(ciborium::de::Error::Io(_)) => {
                        // The entry continues in the next blob.
                        if !self.load_next_blob()? {
                            return Err(Error::corrupt(
                                "tree stream",
                                "truncated in the middle of an entry",
                            ));
                        }
                    }
                    Err(e) => return Err(Error::corrupt("tree stream", format!("bad entry: {e}"))),
                }
            } else if !self.load_next_blob()? {
                return Ok(None);
            }
        }
    }
}

impl Validator {
    /// Check the next entry of a stream against every rule; remembers what it needs.
    pub fn check(&mut self, e: &Entry) -> Result<()> {
        let hostile = |why: &str| Err(Error::hostile(format!("tree entry {}", e.path_str()), why));
        if let Some(p) = path_problem(&e.path) {
            return hostile(p);
        }
        if let Some(last) = &self.last
            && path_cmp(last, &e.path) != std::cmp::Ordering::Less
        {
            return hostile("out of order or duplicate path (tampered tree stream)");
        }
        match parent(&e.path) {
            None => {
                if e.kind != Kind::Dir || self.last.is_some() {
                    return hostile("'/' must be the first entry and a directory");
                }
            }
            Some(p) => {
                while self
                    .dirs
                    .last()
                    .is_some_and(|d| !crate::util::is_within(p, d))
                {
                    self.dirs.pop();
                }
                if self.dirs.last().map(Vec::as_slice) != Some(p) {
                    return hostile(
                        "its parent directory is not in the snapshot, or is not a directory",
                    );
                }
            }
        }
        match e.kind {
            Kind::Dir => self.dirs.push(e.path.clone()),
            Kind::File => {
                if e.content.is_none() {
                    return hostile("regular file without content");
                }
                if e.nlink > 1 {
                    self.link_targets.insert(e.path.clone());
                }
            }
            Kind::Symlink if e.target.is_none() => return hostile("symlink without target"),
            Kind::Hardlink => {
                let ok = e
                    .target
                    .as_ref()
                    .is_some_and(|t| self.link_targets.contains(t));
                if !ok {
                    return hostile(
                        "hard link to a path that is not an earlier file of this snapshot",
                    );
                }
            }
            Kind::Chardev | Kind::Blockdev if e.rdev.is_none() => {
                return hostile("device without number");
            }
            _ => {}
        }
        if e.kind != Kind::File && e.content.is_some() {
            return hostile("content on a non-file entry");
        }
        if let Some(c) = &e.content
            && let Some(ext) = &c.extents
        {
            let mut end = 0u64;
            for &(off, len) in ext {
                if off < end || off.checked_add(len).is_none_or(|x| x > e.size) {
                    return hostile("sparse extents overlap or exceed the file size");
                }
                end = off + len;
            }
        }
        self.last = Some(e.path.clone());
        Ok(())
    }
}

impl Iterator for TreeReader<'_> {
    type Item = Result<Entry>;

    fn next(&mut self) -> Option<Result<Entry>> {
        if self.failed {
            return None;
        }
        let r = match self.next_raw() {
            Ok(Some(e)) => self.rules.check(&e).map(|()| e),
            Ok(None) => return None,
            Err(e) => Err(e),
        };
        if r.is_err() {
            self.failed = true;
        }
        Some(r)
    }
}

/// The entries of a tree stream below `root`, with paths as if `root` were `/`: what
/// `SNAPSHOT:SUBPATH` stands for. A hard link keeps its target's original path when that lies
/// outside the subtree (restore turns such a link into a file). `root` `/` is the whole tree.
/// A `root` that is missing, or not a directory, ends the walk with an error.
pub struct Subtree<'r> {
    inner: TreeReader<'r>,
    root: Vec<u8>,
    /// Whether the root entry was seen (entries below it are contiguous, so the walk can stop
    /// at the first entry after them).
    seen: bool,
    done: bool,
}

impl<'r> Subtree<'r> {
    pub fn new(repo: &'r IndexedRepo, ids: &[Id], root: Option<&[u8]>) -> Self {
        Subtree {
            inner: TreeReader::new(repo, ids),
            root: root.unwrap_or(b"/").to_vec(),
            seen: false,
            done: false,
        }
    }
}

/// `path` relative to `root` as an absolute path, or `None` outside it.
pub fn rebase(path: &[u8], root: &[u8]) -> Option<Vec<u8>> {
    if root == b"/" {
        return Some(path.to_vec());
    }
    if path == root {
        return Some(b"/".to_vec());
    }
    let rest = path.strip_prefix(root)?;
    rest.starts_with(b"/").then(|| rest.to_vec())
}

impl Iterator for Subtree<'_> {
    type Item = Result<Entry>;

    fn next(&mut self) -> Option<Result<Entry>> {
        while !self.done {
            let mut e = match self.inner.next() {
                Some(Ok(e)) => e,
                Some(Err(err)) => return Some(Err(err)),
                None => {
                    self.done = true;
                    if self.seen || self.root == b"/" {
                        return None;
                    }
                    return Some(Err(Error::Invalid(format!(
                        "{} is not in this snapshot (see `lifeboat ls`)",
                        crate::util::show(&self.root)
                    ))));
                }
            };
            let Some(p) = rebase(&e.path, &self.root) else {
                if self.seen {
                    self.done = true;
                }
                continue;
            };
            if !self.seen && e.kind != Kind::Dir {
                self.done = true;
                return Some(Err(Error::Invalid(format!(
                    "{} is not a directory in this snapshot",
                    crate::util::show(&self.root)
                ))));
            }
            self.seen = true;
            e.path = p;
            if e.kind == Kind::Hardlink
                && let Some(t) = e.target.as_deref().and_then(|t| rebase(t, &self.root))
            {
                e.target = Some(t);
            }
            return Some(Ok(e));
        }
        None
    }
}
