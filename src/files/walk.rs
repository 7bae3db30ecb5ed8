//! The filesystem walk that feeds a snapshot: walks paths (walkdir, sorted, never following
//! symlinks), records every kind of object with full metadata, and reads changed files on
//! parallel reader threads.
//!
//! Unchanged files (same size, mtime, ctime and inode as in the parent snapshot) are not read
//! again. A file that vanishes or changes while being read is a warning, not a failure.

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::fs::{File, Metadata, OpenOptions};
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use crossbeam_channel::bounded;
use sha2::{Digest, Sha256};

use super::pattern::Matcher;
use crate::error::{Error, Result};
use crate::snapshot::entry::{Entry, Kind, Xattr};
use crate::snapshot::pipeline::{DigestSource, Session, Slot};
use crate::util::{path_cmp, show, show_path};

const CACHEDIR_SIGNATURE: &[u8] = b"Signature: 8a477f597d28d172789f06886806bc55";

/// What to leave out of a filesystem snapshot.
#[derive(Debug, Clone, Default)]
pub struct Excludes {
    /// Glob patterns. With a `/` they match the absolute path, else any path component's name.
    pub patterns: Vec<String>,
    /// Do not cross filesystem boundaries below each snapshot path.
    pub one_file_system: bool,
    /// Skip the contents of directories holding a valid `CACHEDIR.TAG`.
    pub caches: bool,
    /// Absolute paths never entered (the repository itself).
    pub paths: Vec<PathBuf>,
}

impl Excludes {
    /// Read patterns from an exclude file: one per line, `#` comments and blank lines ignored.
    pub fn read_file(path: &Path) -> Result<Vec<String>> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Ok(text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(String::from)
            .collect())
    }

    /// The matcher of what the walk leaves out: the patterns, and each of `paths` with
    /// everything below it.
    pub(crate) fn matcher(&self) -> Result<Matcher> {
        Ok(Matcher::globs(&self.patterns, false, "exclude pattern")?.with_paths(&self.paths))
    }
}

/// Names of users and groups, looked up once each.
#[derive(Default)]
struct Names {
    users: HashMap<u32, Option<String>>,
    groups: HashMap<u32, Option<String>>,
}

impl Names {
    fn user(&mut self, uid: u32) -> Option<String> {
        self.users
            .entry(uid)
            .or_insert_with(|| {
                uzers::get_user_by_uid(uid).map(|u| u.name().to_string_lossy().into_owned())
            })
            .clone()
    }
    fn group(&mut self, gid: u32) -> Option<String> {
        self.groups
            .entry(gid)
            .or_insert_with(|| {
                uzers::get_group_by_gid(gid).map(|g| g.name().to_string_lossy().into_owned())
            })
            .clone()
    }
}

fn ns(secs: i64, nsec: i64) -> i64 {
    secs.saturating_mul(1_000_000_000).saturating_add(nsec)
}

/// Read all extended attributes of `path` without following a symlink.
pub fn read_xattrs(path: &Path) -> io::Result<Vec<Xattr>> {
    let names = match xattr::list(path) {
        Ok(n) => n,
        Err(e) if e.raw_os_error() == Some(libc::ENOTSUP) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for name in names {
        match xattr::get(path, &name) {
            Ok(Some(v)) => out.push(Xattr(name.as_bytes().to_vec(), v)),
            Ok(None) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENODATA) => {}
            Err(e) => return Err(e),
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// Build an entry from `lstat` metadata (content not read).
fn entry_from(path: &Path, md: &Metadata, names: &mut Names) -> io::Result<Entry> {
    let kind = Kind::of(md.file_type());
    let mut e = Entry::new(path.as_os_str().as_bytes().to_vec(), kind);
    e.mode = md.mode() & 0o7777;
    e.uid = md.uid();
    e.gid = md.gid();
    e.user = names.user(e.uid);
    e.group = names.group(e.gid);
    e.mtime = ns(md.mtime(), md.mtime_nsec());
    e.atime = ns(md.atime(), md.atime_nsec());
    e.ctime = ns(md.ctime(), md.ctime_nsec());
    e.ino = md.ino();
    e.dev = md.dev();
    e.nlink = md.nlink();
    e.size = if kind == Kind::File { md.size() } else { 0 };
    if matches!(kind, Kind::Chardev | Kind::Blockdev) {
        e.rdev = Some(md.rdev());
    }
    if kind == Kind::Symlink {
        e.target = Some(std::fs::read_link(path)?.as_os_str().as_bytes().to_vec());
    }
    e.xattrs = read_xattrs(path)?;
    Ok(e)
}

/// Streams the parent snapshot's entries alongside the walk (both are in stream order), so
/// finding a path's previous state costs no memory.
pub struct ParentCursor<I: Iterator<Item = Result<Entry>>> {
    iter: std::iter::Peekable<I>,
    broken: bool,
}

impl<I: Iterator<Item = Result<Entry>>> ParentCursor<I> {
    pub fn new(iter: I) -> Self {
        ParentCursor {
            iter: iter.peekable(),
            broken: false,
        }
    }

    /// The parent's entry at `path`, if any. Paths must be asked in increasing order.
    pub fn find(&mut self, path: &[u8], s: &Session<'_, '_>) -> Option<Entry> {
        if self.broken {
            return None;
        }
        loop {
            match self.iter.peek() {
                None => return None,
                Some(Err(_)) => {
                    if let Some(Err(e)) = self.iter.next() {
                        s.warn(format!(
                            "parent snapshot unreadable, reading every file: {e}"
                        ));
                    }
                    self.broken = true;
                    return None;
                }
                Some(Ok(e)) => match path_cmp(&e.path, path) {
                    std::cmp::Ordering::Less => {
                        self.iter.next();
                    }
                    std::cmp::Ordering::Equal => return self.iter.next().and_then(Result::ok),
                    std::cmp::Ordering::Greater => return None,
                },
            }
        }
    }
}

struct ReadJob {
    slot: Slot,
    entry: Entry,
    path: PathBuf,
}

/// Walk `roots` (already normalised) and push every entry into the session. Changed files are
/// read by `readers` threads. Once the walk is done (readers may still be busy), the exact
/// totals of the files it recorded are announced to the progress receiver.
pub fn walk<I>(
    s: &Session<'_, '_>,
    roots: &[PathBuf],
    excludes: &Excludes,
    parent: Option<ParentCursor<I>>,
    readers: usize,
) -> Result<()>
where
    I: Iterator<Item = Result<Entry>>,
{
    walk_inner(s, roots, None, excludes, parent, readers, true).map(drop)
}

/// Walk one directory but record it under another name: `root` itself becomes `as_path` and
/// everything below keeps its relative path (a Docker volume's mountpoint recorded as
/// `/volumes/NAME`). No ancestors are emitted: the caller records them. Returns the parent
/// cursor, so one cursor serves several walks in stream order.
pub fn walk_rebased<I>(
    s: &Session<'_, '_>,
    root: &Path,
    as_path: &[u8],
    excludes: &Excludes,
    parent: Option<ParentCursor<I>>,
    readers: usize,
) -> Result<Option<ParentCursor<I>>>
where
    I: Iterator<Item = Result<Entry>>,
{
    let rebase = (root.as_os_str().as_bytes().to_vec(), as_path.to_vec());
    walk_inner(
        s,
        &[root.to_path_buf()],
        Some(rebase),
        excludes,
        parent,
        readers,
        false,
    )
}

fn walk_inner<I>(
    s: &Session<'_, '_>,
    roots: &[PathBuf],
    rebase: Option<(Vec<u8>, Vec<u8>)>,
    excludes: &Excludes,
    parent: Option<ParentCursor<I>>,
    readers: usize,
    announce_totals: bool,
) -> Result<Option<ParentCursor<I>>>
where
    I: Iterator<Item = Result<Entry>>,
{
    let matcher = excludes.matcher()?;
    let (tx, rx) = bounded::<ReadJob>(readers * 4);
    std::thread::scope(|scope| {
        for i in 0..readers {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("read-{i}"))
                .spawn_scoped(scope, move || {
                    for job in rx {
                        read_file(s, job);
                    }
                })
                .expect("spawn reader");
        }
        drop(rx);
        let mut w = Walker {
            s,
            matcher,
            excludes,
            parent,
            names: Names::default(),
            links: HashMap::new(),
            caches: HashSet::new(),
            last: None,
            rebase,
            tx,
            total_bytes: 0,
            total_files: 0,
        };
        let r = roots.iter().try_for_each(|root| w.walk_root(root));
        if announce_totals && r.is_ok() && !s.has_failed() {
            s.progress().totals(w.total_bytes, w.total_files);
        }
        let cursor = w.parent.take();
        drop(w);
        r.map(|()| cursor)
    })
}

struct Walker<'a, 's, 'r, I: Iterator<Item = Result<Entry>>> {
    s: &'a Session<'s, 'r>,
    matcher: Matcher,
    excludes: &'a Excludes,
    parent: Option<ParentCursor<I>>,
    names: Names,
    links: HashMap<(u64, u64), Vec<u8>>,
    caches: HashSet<PathBuf>,
    last: Option<Vec<u8>>,
    /// (real root, recorded name): paths below the root are recorded below the name.
    rebase: Option<(Vec<u8>, Vec<u8>)>,
    tx: crossbeam_channel::Sender<ReadJob>,
    /// Sizes and number of the regular files emitted so far (hard links not counted).
    total_bytes: u64,
    total_files: u64,
}

impl<I: Iterator<Item = Result<Entry>>> Walker<'_, '_, '_, I> {
    fn walk_root(&mut self, root: &Path) -> Result<()> {
        // Ancestors first, as directories with their real metadata.
        let mut ancestors: Vec<&Path> = if self.rebase.is_some() {
            Vec::new()
        } else {
            root.ancestors().skip(1).collect()
        };
        ancestors.reverse();
        for a in ancestors {
            let b = a.as_os_str().as_bytes();
            if self
                .last
                .as_deref()
                .is_some_and(|l| path_cmp(b, l) != std::cmp::Ordering::Greater)
            {
                continue;
            }
            let md = std::fs::symlink_metadata(a).map_err(|e| Error::io(a, e))?;
            let e = entry_from(a, &md, &mut self.names).map_err(|e| Error::io(a, e))?;
            self.emit(e, a);
        }
        let one_fs = self.excludes.one_file_system;
        let caches = self.excludes.caches;
        if std::fs::symlink_metadata(root).is_ok_and(|m| m.file_type().is_symlink()) {
            let to = std::fs::read_link(root).map(show_path).unwrap_or_default();
            // A notice, not a warning: nothing was lost, but it is rarely what was meant.
            self.s
                .progress()
                .warn(crate::observer::Warning::advice(format!(
                    "{} is a symlink to {to}: only the link is recorded (name the target to include its contents)",
                    show_path(root)
                )));
        }
        let walker = walkdir::WalkDir::new(root)
            .follow_links(false)
            .follow_root_links(false)
            .same_file_system(one_fs)
            .sort_by(|a, b| a.file_name().as_bytes().cmp(b.file_name().as_bytes()));
        let mut it = walker.into_iter();
        while let Some(next) = it.next() {
            if self.s.has_failed() {
                return Ok(());
            }
            let de = match next {
                Ok(de) => de,
                Err(err) => {
                    let p = err.path().map(show_path).unwrap_or_default();
                    self.s.warn(format!(
                        "{p}: {}",
                        err.io_error()
                            .map_or_else(|| err.to_string(), ToString::to_string)
                    ));
                    continue;
                }
            };
            let path = de.path();
            if de.depth() > 0 && self.matcher.excludes(path) {
                if de.file_type().is_dir() {
                    it.skip_current_dir();
                }
                continue;
            }
            if caches && de.depth() > 0 {
                let in_cache = path.parent().is_some_and(|p| self.caches.contains(p));
                if in_cache && de.file_name() != OsStr::new("CACHEDIR.TAG") {
                    if de.file_type().is_dir() {
                        it.skip_current_dir();
                    }
                    continue;
                }
            }
            let md = match de.metadata() {
                Ok(md) => md,
                Err(err) => {
                    self.s.warn(format!("{}: {err}", show_path(path)));
                    continue;
                }
            };
            if caches && md.is_dir() && is_cache_dir(path) {
                self.caches.insert(path.to_path_buf());
            }
            let e = match entry_from(path, &md, &mut self.names) {
                Ok(e) => e,
                Err(err) if err.kind() == io::ErrorKind::NotFound => {
                    self.s
                        .warn(format!("{}: vanished during the snapshot", show_path(path)));
                    continue;
                }
                Err(err) => {
                    self.s.warn(format!("{}: {err}", show_path(path)));
                    continue;
                }
            };
            self.emit(e, path);
        }
        Ok(())
    }

    fn emit(&mut self, mut e: Entry, path: &Path) {
        if let Some((root, name)) = &self.rebase {
            let rest = e.path.strip_prefix(root.as_slice()).unwrap_or(&e.path);
            let mut p = name.clone();
            p.extend_from_slice(rest);
            e.path = p;
        }
        self.last = Some(e.path.clone());
        let previous = self.parent.as_mut().and_then(|p| p.find(&e.path, self.s));
        if e.kind != Kind::File {
            self.s.push(e);
            return;
        }
        if e.nlink > 1 {
            match self.links.get(&(e.dev, e.ino)) {
                Some(first) => {
                    e.kind = Kind::Hardlink;
                    e.target = Some(first.clone());
                    e.size = 0;
                    self.s.push(e);
                    return;
                }
                None => {
                    self.links.insert((e.dev, e.ino), e.path.clone());
                }
            }
        }
        self.total_files += 1;
        self.total_bytes = self.total_bytes.saturating_add(e.size);
        if let Some(prev) = previous {
            let reusable = prev.same_file_state(&e)
                && prev
                    .content
                    .as_ref()
                    .is_some_and(|c| c.chunks.iter().all(|id| self.s.writer().is_known(id)));
            if reusable {
                e.content = prev.content;
                self.s.files_unmodified.fetch_add(1, Ordering::Relaxed);
                // Done without reading: counted, but not shown as the file being read.
                self.s.progress().advance(e.size);
                self.s.progress().item(&e.path_str());
                self.s.push(e);
                return;
            }
            self.s.files_changed.fetch_add(1, Ordering::Relaxed);
        } else {
            self.s.files_new.fetch_add(1, Ordering::Relaxed);
        }
        let slot = self.s.reserve();
        if self
            .tx
            .send(ReadJob {
                slot,
                entry: e,
                path: path.to_path_buf(),
            })
            .is_err()
        {
            self.s
                .fail(Error::Internal("reader threads stopped".into()));
        }
    }
}

pub(crate) fn is_cache_dir(dir: &Path) -> bool {
    let mut buf = [0u8; 43];
    File::open(dir.join("CACHEDIR.TAG"))
        .and_then(|mut f| f.read_exact(&mut buf))
        .is_ok_and(|()| buf == CACHEDIR_SIGNATURE)
}

/// Open without following a final symlink and, where allowed, without updating the atime.
pub(crate) fn open_for_read(path: &Path) -> io::Result<File> {
    let base = libc::O_NOFOLLOW | libc::O_CLOEXEC;
    match OpenOptions::new()
        .read(true)
        .custom_flags(base | libc::O_NOATIME)
        .open(path)
    {
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
            OpenOptions::new().read(true).custom_flags(base).open(path)
        }
        r => r,
    }
}

fn read_file(s: &Session<'_, '_>, job: ReadJob) {
    let ReadJob {
        slot,
        mut entry,
        path,
    } = job;
    // The size the walk saw and announced in the totals: what this file adds to the progress,
    // whether it is read, skipped or turns out to have holes.
    let walked = entry.size;
    let name = show(&entry.path);
    let skip = |slot: Slot| {
        s.progress().advance(walked);
        s.progress().item(&name);
        s.skip(slot);
    };
    if s.has_failed() {
        s.skip(slot);
        return;
    }
    let file = match open_for_read(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            s.warn(format!("{}: vanished during the snapshot", show_path(path)));
            skip(slot);
            return;
        }
        Err(e) => {
            s.warn(format!("{}: {e}", show_path(path)));
            skip(slot);
            return;
        }
    };
    let before = match file.metadata() {
        Ok(md) if md.is_file() && md.ino() == entry.ino => md,
        Ok(_) => {
            s.warn(format!(
                "{}: replaced by another file during the snapshot",
                show_path(path)
            ));
            skip(slot);
            return;
        }
        Err(e) => {
            s.warn(format!("{}: {e}", show_path(path)));
            skip(slot);
            return;
        }
    };
    let extents = if before.blocks() * 512 < before.size() {
        data_extents(&file, before.size())
    } else {
        None
    };
    s.progress().reading(&name);
    let result = match &extents {
        Some(ext) => s.ingest_source(SparseReader::new(&file, ext.clone(), before.size())),
        None => s.ingest(&file),
    };
    match result {
        Ok((mut content, n)) => {
            let after = file.metadata().ok();
            let changed = after.as_ref().is_none_or(|a| {
                a.size() != before.size()
                    || a.mtime_nsec() != before.mtime_nsec()
                    || a.mtime() != before.mtime()
                    || a.ctime() != before.ctime()
                    || a.ctime_nsec() != before.ctime_nsec()
            });
            let expected: u64 = extents
                .as_ref()
                .map_or(before.size(), |x| x.iter().map(|e| e.1).sum());
            if changed || n != expected {
                s.warn(format!(
                    "{}: changed while being read; the snapshot holds what was read",
                    show_path(path)
                ));
            }
            if extents.is_none() {
                entry.size = n;
            }
            content.extents = extents;
            entry.content = Some(content);
            // Holes (and a file that shrank) were not read but count as done.
            s.progress().advance(walked.saturating_sub(n));
            s.progress().item(&name);
            s.complete(slot, entry);
        }
        Err(e) if s.has_failed() => {
            let _ = e;
            s.progress().item(&name);
            s.skip(slot);
        }
        Err(e) => {
            s.warn(format!("{}: read failed: {e}", show_path(path)));
            s.progress().item(&name);
            s.skip(slot);
        }
    }
}

/// The data ranges of a sparse file, from `SEEK_DATA`/`SEEK_HOLE`. `None` when the file has no
/// holes after all or the filesystem cannot tell.
fn data_extents(file: &File, size: u64) -> Option<Vec<(u64, u64)>> {
    use rustix::fs::{SeekFrom, seek};
    let mut out = Vec::new();
    let mut pos = 0u64;
    while pos < size {
        let data = match seek(file, SeekFrom::Data(pos)) {
            Ok(d) => d,
            Err(rustix::io::Errno::NXIO) => break,
            Err(_) => return None,
        };
        if data >= size {
            break;
        }
        let hole = seek(file, SeekFrom::Hole(data)).ok()?.min(size);
        out.push((data, hole - data));
        pos = hole;
    }
    if out.len() == 1 && out[0] == (0, size) {
        return None;
    }
    Some(out)
}

/// Yields only the data ranges of a sparse file while hashing the whole file (holes as zeros).
struct SparseReader<'f> {
    file: &'f File,
    extents: Vec<(u64, u64)>,
    size: u64,
    idx: usize,
    pos: u64,
    hashed_to: u64,
    sha: Sha256,
    n: u64,
}

impl<'f> SparseReader<'f> {
    fn new(file: &'f File, extents: Vec<(u64, u64)>, size: u64) -> Self {
        SparseReader {
            file,
            extents,
            size,
            idx: 0,
            pos: 0,
            hashed_to: 0,
            sha: Sha256::new(),
            n: 0,
        }
    }

    fn hash_zeros_to(&mut self, end: u64) {
        if end > self.hashed_to {
            crate::util::sha256_zeros(&mut self.sha, end - self.hashed_to);
            self.hashed_to = end;
        }
    }
}

impl Read for SparseReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        use std::os::unix::fs::FileExt;
        while let Some(&(off, len)) = self.extents.get(self.idx) {
            if self.pos < off {
                self.pos = off;
            }
            if self.pos >= off + len {
                self.idx += 1;
                continue;
            }
            self.hash_zeros_to(self.pos);
            let want = buf.len().min((off + len - self.pos) as usize);
            let n = self.file.read_at(&mut buf[..want], self.pos)?;
            if n == 0 {
                // Truncated while reading: stop here.
                self.extents.truncate(self.idx);
                return Ok(0);
            }
            self.sha.update(&buf[..n]);
            self.pos += n as u64;
            self.hashed_to = self.pos;
            self.n += n as u64;
            return Ok(n);
        }
        Ok(0)
    }
}

impl DigestSource for SparseReader<'_> {
    fn bytes_read(&self) -> u64 {
        self.n
    }
    fn digest(&mut self) -> [u8; 32] {
        self.hash_zeros_to(self.size);
        std::mem::take(&mut self.sha).finalize().into()
    }
}
