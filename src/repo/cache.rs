//! A local copy of a remote repository's sealed files (index and snapshots), so that a run
//! that finds nothing new does not download the index again. The cache is only an
//! accelerator: every file in it is authenticated against its sealed ID on each use (the same
//! check as a download), a file that fails is dropped and fetched again, files the repository
//! no longer lists are removed, and any error reading or writing the cache falls back to the
//! store. Files hold ciphertext only, and are private (0600 in 0700 directories).

use std::collections::HashSet;
use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use super::backend::FileType;

/// The cache of one repository: `ROOT/<repository id>/{index,snapshots}/<file id>`.
#[derive(Debug)]
pub struct SealedCache {
    dir: PathBuf,
}

impl SealedCache {
    /// The cache for repository `repo_id` under `root`, created when missing; `None` when
    /// it cannot be created (the run then reads everything from the store).
    pub fn open(root: &Path, repo_id: &[u8]) -> Option<SealedCache> {
        let dir = root.join(hex::encode(repo_id));
        for sub in ["index", "snapshots"] {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir.join(sub))
                .ok()?;
        }
        let tag = root.join("CACHEDIR.TAG");
        if !tag.exists() {
            // Backup tools (lifeboat included, with exclude_caches) skip tagged caches.
            let _ = crate::util::atomic_write_mode(
                root,
                "CACHEDIR.TAG",
                &[b"Signature: 8a477f597d28d172789f06886806bc55\n# lifeboat's cache of repository metadata: safe to delete\n"],
                0o600,
                true,
            );
        }
        Some(SealedCache { dir })
    }

    /// Whether files of this type are cached (the small, often read ones).
    pub fn holds(t: FileType) -> bool {
        matches!(t, FileType::Index | FileType::Snapshot)
    }

    fn sub(t: FileType) -> &'static str {
        if t == FileType::Index {
            "index"
        } else {
            "snapshots"
        }
    }

    fn path(&self, t: FileType, name: &str) -> Option<PathBuf> {
        let valid = Self::holds(t)
            && !name.is_empty()
            && name.len() <= 128
            && name.bytes().all(|b| b.is_ascii_hexdigit());
        valid.then(|| self.dir.join(Self::sub(t)).join(name))
    }

    /// The cached bytes of a file, unauthenticated: the caller checks them.
    pub fn get(&self, t: FileType, name: &str) -> Option<Vec<u8>> {
        fs::read(self.path(t, name)?).ok()
    }

    /// Keep a copy of a file just read or written (errors are ignored: a cache miss later).
    pub fn put(&self, t: FileType, name: &str, sealed: &[u8]) {
        if let Some(p) = self.path(t, name) {
            let dir = p.parent().expect("cache files live in a directory");
            let _ = crate::util::atomic_write_mode(dir, name, &[sealed], 0o600, true);
        }
    }

    pub fn remove(&self, t: FileType, name: &str) {
        if let Some(p) = self.path(t, name) {
            let _ = fs::remove_file(p);
        }
    }

    /// Remove the cached files of type `t` that the repository no longer lists.
    pub fn retain(&self, t: FileType, listed: &HashSet<String>) {
        if !Self::holds(t) {
            return;
        }
        let Ok(rd) = fs::read_dir(self.dir.join(Self::sub(t))) else {
            return;
        };
        for e in rd.flatten() {
            let name = e.file_name();
            let keep = name.to_str().is_some_and(|n| listed.contains(n));
            if !keep {
                let _ = fs::remove_file(e.path());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn cache_is_private_and_pruned_to_the_listing() {
        let d = tempfile::tempdir().unwrap();
        let c = SealedCache::open(d.path(), &[7u8; 32]).unwrap();
        c.put(FileType::Index, "aa", b"one");
        c.put(FileType::Index, "bb", b"two");
        c.put(FileType::Pack, "cc", b"never cached");
        assert_eq!(c.get(FileType::Index, "aa").unwrap(), b"one");
        assert!(c.get(FileType::Pack, "cc").is_none());
        assert!(c.get(FileType::Index, "../x").is_none());
        let dir = d.path().join(hex::encode([7u8; 32])).join("index");
        let mode = fs::metadata(&dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        let mode = fs::metadata(dir.join("aa")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        c.retain(FileType::Index, &HashSet::from(["bb".to_string()]));
        assert!(c.get(FileType::Index, "aa").is_none());
        assert_eq!(c.get(FileType::Index, "bb").unwrap(), b"two");
        assert!(d.path().join("CACHEDIR.TAG").exists());
    }
}
