//! Where repository files live. The [`Backend`] trait is the whole storage contract (get, ranged
//! get, put, list, delete of named immutable files); [`LocalBackend`] stores them in a
//! directory with atomic, durable writes, [`super::s3::S3Backend`] in a bucket.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io;
use std::os::unix::fs::{DirBuilderExt, FileExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::util::TMP_PREFIX;

/// The kinds of files in a repository (FORMAT.md §2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FileType {
    Config,
    Key,
    Snapshot,
    Index,
    Pack,
    Lock,
}

impl FileType {
    pub fn label(self) -> &'static str {
        match self {
            FileType::Config => "config",
            FileType::Key => "key file",
            FileType::Snapshot => "snapshot",
            FileType::Index => "index",
            FileType::Pack => "pack",
            FileType::Lock => "lock",
        }
    }
}

/// Storage for a repository's files. Files are immutable once written: `write` either creates
/// the complete file or leaves nothing under its name.
pub trait Backend: Send + Sync + std::fmt::Debug {
    /// Human-readable location, for messages.
    fn location(&self) -> String;
    /// Whether a repository (its `config`) exists here.
    fn exists(&self) -> io::Result<bool>;
    /// Prepare an empty location for a new repository.
    fn create(&self) -> io::Result<()>;
    fn read(&self, t: FileType, name: &str) -> io::Result<Vec<u8>>;
    fn read_at(&self, t: FileType, name: &str, offset: u64, len: usize) -> io::Result<Vec<u8>>;
    fn size(&self, t: FileType, name: &str) -> io::Result<u64>;
    /// Create a file atomically and durably. Fails if it exists (names are unique).
    fn write(&self, t: FileType, name: &str, data: &[u8]) -> io::Result<()>;
    /// [`Backend::write`] of the concatenation of `parts` (packs are assembled from blobs),
    /// taken by value so a network store sends them without a copy.
    fn write_parts(&self, t: FileType, name: &str, parts: Vec<Vec<u8>>) -> io::Result<()> {
        self.write(t, name, &parts.concat())
    }
    /// Replace a file atomically (it appears whole, old or new, never absent): only the
    /// owner's rewrites of `config` (`migrate`) and of a host record (a revocation) need it.
    fn replace(&self, t: FileType, name: &str, _data: &[u8]) -> io::Result<()> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!("{} {name} cannot be replaced here", t.label()),
        ))
    }
    /// Names of all files of a type (no temporary files).
    fn list(&self, t: FileType) -> io::Result<Vec<String>>;
    /// Names and sizes of all files of a type (a store's listing carries the sizes).
    fn list_with_sizes(&self, t: FileType) -> io::Result<Vec<(String, u64)>> {
        let mut out = Vec::new();
        for name in self.list(t)? {
            let size = self.size(t, &name)?;
            out.push((name, size));
        }
        Ok(out)
    }
    fn remove(&self, t: FileType, name: &str) -> io::Result<()>;
    /// Remove leftovers of interrupted writes older than `max_age`; returns how many.
    fn clean_temporary(&self, max_age: std::time::Duration) -> io::Result<usize>;
    /// The directory holding the repository, when it is on a local filesystem (snapshots
    /// never descend into it).
    fn local_root(&self) -> Option<&Path> {
        None
    }
    /// Whether every request costs a network round trip: callers then batch reads (whole
    /// packs for blob reads) and cache what they can.
    fn is_remote(&self) -> bool {
        false
    }
    /// How many requests to have in flight at once: packs written, packs read for a restore
    /// (a network store wants more than a disk).
    fn concurrency(&self) -> usize {
        2
    }
    /// Whether this storage refuses every change (a single-file archive): a repository opened
    /// on it may only read, and its locks are not written (see `lock::acquire`).
    fn is_read_only(&self) -> bool {
        false
    }
    /// The error for a change read-only storage refuses (`what` says which change).
    fn refusal(&self, what: &str) -> crate::Error {
        crate::Error::Invalid(format!("{}: read-only storage: {what}", self.location()))
    }
    /// For read-only storage: check that everything stored is whole and undamaged before a
    /// command relies on it (an archive compares every member with the digest its table of
    /// contents records). Called when a shared lock is taken, so what reads the data (restore,
    /// verify) refuses a damaged archive before writing anything. Checked once per backend.
    fn check_intact(&self) -> crate::Result<()> {
        Ok(())
    }
    /// What holds the repository, when that is worth naming in messages about the objects
    /// inside it (`archive /srv/host.lbx`); `None` for a plain repository.
    fn container(&self) -> Option<String> {
        None
    }
}

/// Refuse a file name that is not lowercase hex of a sane length (packs: at least two digits,
/// their folder). Names come from listings and manifests, so every backend checks them.
pub(crate) fn check_name(t: FileType, name: &str) -> io::Result<()> {
    // Object IDs are lowercase hex; `keys/` also holds version 2's signed records
    // (`host-<id>`, `verified-<time>-<id>`, FORMAT.md §13): lowercase letters, digits, `-`, `.`.
    let allowed = |b: u8| match t {
        FileType::Key => b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.',
        _ => b.is_ascii_hexdigit() && !b.is_ascii_uppercase(),
    };
    let valid = !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name.bytes().all(allowed);
    if !valid {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("invalid file name {name:?}"),
        ));
    }
    if t == FileType::Pack && name.len() < 2 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "pack name too short",
        ));
    }
    Ok(())
}

/// A repository in a local directory.
#[derive(Debug)]
pub struct LocalBackend {
    root: PathBuf,
    open_packs: Mutex<HashMap<String, Arc<File>>>,
}

const MAX_OPEN_PACKS: usize = 128;

impl LocalBackend {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        LocalBackend {
            root: root.into(),
            open_packs: Mutex::new(HashMap::new()),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn dir(&self, t: FileType) -> PathBuf {
        self.root.join(match t {
            FileType::Config => "",
            FileType::Key => "keys",
            FileType::Snapshot => "snapshots",
            FileType::Index => "index",
            FileType::Pack => "data",
            FileType::Lock => "locks",
        })
    }

    fn path(&self, t: FileType, name: &str) -> io::Result<PathBuf> {
        if t == FileType::Config {
            return Ok(self.root.join("config"));
        }
        check_name(t, name)?;
        if t == FileType::Pack {
            return Ok(self.dir(t).join(&name[..2]).join(name));
        }
        Ok(self.dir(t).join(name))
    }

    fn write_slices(&self, t: FileType, name: &str, parts: &[&[u8]]) -> io::Result<()> {
        let path = self.path(t, name)?;
        let dir = path.parent().expect("repository files live in a directory");
        // Every file is written once: locks are refreshed under new names.
        atomic_write_parts(dir, path_name(&path), parts, false)
    }

    fn open_pack(&self, name: &str, path: &Path) -> io::Result<Arc<File>> {
        let mut cache = self.open_packs.lock().expect("pack cache poisoned");
        if let Some(f) = cache.get(name) {
            return Ok(f.clone());
        }
        let f = Arc::new(File::open(path)?);
        if cache.len() >= MAX_OPEN_PACKS {
            cache.clear();
        }
        cache.insert(name.to_string(), f.clone());
        Ok(f)
    }
}

/// The file name of a repository path (checked names are ASCII).
fn path_name(path: &Path) -> &str {
    path.file_name()
        .and_then(|n| n.to_str())
        .expect("repository file names are checked ASCII")
}

/// Write `data` to `dir/name` atomically: temporary file, fsync, rename, fsync directory.
/// The file gets mode 0600 whatever the umask. On error nothing is left behind.
pub fn atomic_write(dir: &Path, name: &str, data: &[u8], replace: bool) -> io::Result<()> {
    atomic_write_parts(dir, name, &[data], replace)
}

/// [`atomic_write`] of several buffers, written one after the other.
pub fn atomic_write_parts(
    dir: &Path,
    name: &str,
    parts: &[&[u8]],
    replace: bool,
) -> io::Result<()> {
    crate::util::atomic_write_mode(dir, name, parts, 0o600, replace)
}

pub use crate::util::random_suffix;

fn create_dir_0700(p: &Path) -> io::Result<()> {
    match fs::DirBuilder::new().mode(0o700).create(p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && p.is_dir() => Ok(()),
        Err(e) => Err(e),
    }
}

impl Backend for LocalBackend {
    fn local_root(&self) -> Option<&Path> {
        Some(&self.root)
    }

    fn location(&self) -> String {
        self.root.display().to_string()
    }

    fn exists(&self) -> io::Result<bool> {
        match fs::metadata(self.root.join("config")) {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn create(&self) -> io::Result<()> {
        if self.root.exists() {
            let non_empty = fs::read_dir(&self.root)?.next().is_some();
            if non_empty {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("{} exists and is not empty", self.root.display()),
                ));
            }
        } else {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&self.root)?;
        }
        fs::set_permissions(&self.root, fs::Permissions::from_mode(0o700))?;
        for t in [
            FileType::Key,
            FileType::Snapshot,
            FileType::Index,
            FileType::Pack,
            FileType::Lock,
        ] {
            create_dir_0700(&self.dir(t))?;
        }
        for b in 0..=255u8 {
            create_dir_0700(&self.dir(FileType::Pack).join(format!("{b:02x}")))?;
        }
        File::open(&self.root)?.sync_all()
    }

    fn read(&self, t: FileType, name: &str) -> io::Result<Vec<u8>> {
        fs::read(self.path(t, name)?)
    }

    fn read_at(&self, t: FileType, name: &str, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        let path = self.path(t, name)?;
        let f = if t == FileType::Pack {
            self.open_pack(name, &path)?
        } else {
            Arc::new(File::open(&path)?)
        };
        // A restore reads a window of packs at a time and gives the buffers back: reuse them
        // rather than have fresh zeroed pages faulted in for every window.
        let mut buf = crate::bufpool::take(len);
        buf.resize(len, 0);
        f.read_exact_at(&mut buf, offset)?;
        Ok(buf)
    }

    fn size(&self, t: FileType, name: &str) -> io::Result<u64> {
        Ok(fs::metadata(self.path(t, name)?)?.len())
    }

    fn write(&self, t: FileType, name: &str, data: &[u8]) -> io::Result<()> {
        self.write_slices(t, name, &[data])
    }

    fn write_parts(&self, t: FileType, name: &str, parts: Vec<Vec<u8>>) -> io::Result<()> {
        let slices: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
        let written = self.write_slices(t, name, &slices);
        parts.into_iter().for_each(crate::bufpool::give);
        written
    }

    fn replace(&self, t: FileType, name: &str, data: &[u8]) -> io::Result<()> {
        let path = self.path(t, name)?;
        let dir = path.parent().expect("repository files live in a directory");
        atomic_write_parts(dir, path_name(&path), &[data], true)
    }

    fn list(&self, t: FileType) -> io::Result<Vec<String>> {
        let mut out = Vec::new();
        let mut push_dir = |d: &Path| -> io::Result<()> {
            for e in fs::read_dir(d)? {
                let e = e?;
                if let Some(n) = e.file_name().to_str()
                    && !n.starts_with('.')
                    && e.file_type()?.is_file()
                {
                    out.push(n.to_string());
                }
            }
            Ok(())
        };
        match t {
            FileType::Config => {
                if self.exists()? {
                    out.push("config".into());
                }
            }
            FileType::Pack => {
                for e in fs::read_dir(self.dir(t))? {
                    let e = e?;
                    if e.file_type()?.is_dir() {
                        push_dir(&e.path())?;
                    }
                }
            }
            _ => push_dir(&self.dir(t))?,
        }
        out.sort();
        Ok(out)
    }

    fn remove(&self, t: FileType, name: &str) -> io::Result<()> {
        let path = self.path(t, name)?;
        if t == FileType::Pack {
            self.open_packs
                .lock()
                .expect("pack cache poisoned")
                .remove(name);
        }
        fs::remove_file(&path)?;
        File::open(path.parent().expect("in a directory"))?.sync_all()
    }

    fn clean_temporary(&self, max_age: std::time::Duration) -> io::Result<usize> {
        let mut dirs = vec![self.root.clone()];
        for t in [
            FileType::Key,
            FileType::Snapshot,
            FileType::Index,
            FileType::Lock,
        ] {
            dirs.push(self.dir(t));
        }
        for b in 0..=255u8 {
            dirs.push(self.dir(FileType::Pack).join(format!("{b:02x}")));
        }
        let mut removed = 0;
        for d in dirs {
            let Ok(rd) = fs::read_dir(&d) else { continue };
            for e in rd.flatten() {
                let is_tmp = e
                    .file_name()
                    .to_str()
                    .is_some_and(|n| n.starts_with(TMP_PREFIX));
                let old = e
                    .metadata()
                    .and_then(|m| m.modified())
                    .map(|m| m.elapsed().unwrap_or_default() >= max_age)
                    .unwrap_or(false);
                if is_tmp && old && fs::remove_file(e.path()).is_ok() {
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_is_atomic_private_and_exclusive() {
        let dir = tempfile::tempdir().unwrap();
        let b = LocalBackend::new(dir.path().join("repo"));
        b.create().unwrap();
        b.write(FileType::Index, "abcd", b"one").unwrap();
        assert!(
            b.write(FileType::Index, "abcd", b"two").is_err(),
            "objects are never overwritten"
        );
        assert_eq!(b.read(FileType::Index, "abcd").unwrap(), b"one");
        let mode = fs::metadata(dir.path().join("repo/index/abcd"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(b.list(FileType::Index).unwrap(), vec!["abcd".to_string()]);
        b.write(FileType::Pack, "ff00", b"0123456789").unwrap();
        assert_eq!(b.read_at(FileType::Pack, "ff00", 2, 3).unwrap(), b"234");
        assert_eq!(b.list(FileType::Pack).unwrap(), vec!["ff00".to_string()]);
        assert!(
            b.read(FileType::Index, "../config").is_err(),
            "names are validated"
        );
        b.remove(FileType::Pack, "ff00").unwrap();
        assert!(b.list(FileType::Pack).unwrap().is_empty());
        let leftovers = fs::read_dir(dir.path().join("repo/index")).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary files remain");
    }

    #[test]
    fn create_refuses_non_empty_directory() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("x"), b"").unwrap();
        assert!(LocalBackend::new(dir.path()).create().is_err());
    }
}
