//! The pre-scan: the totals a snapshot's progress shows before its own walk, throttled by the
//! readers, has seen everything (docs/BENCHMARKS.md has what it costs).

use std::collections::HashSet;
use std::ffi::OsStr;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use super::walk::{Excludes, is_cache_dir};
use crate::error::Result;

/// Sizes and number of the regular files a walk of `roots` with `excludes` records (hard links
/// once), from metadata alone: the totals a snapshot without a parent shows while its walk is
/// still throttled by the readers. Follows the walk's rules (excludes, one file system,
/// CACHEDIR.TAG, symlinks not followed); reads no file and no extended attribute. Returns
/// `None` when `stop` is set before it is done.
pub fn prescan(
    roots: &[PathBuf],
    excludes: &Excludes,
    stop: &AtomicBool,
) -> Result<Option<(u64, u64)>> {
    let matcher = excludes.matcher()?;
    let (mut bytes, mut files) = (0u64, 0u64);
    let mut links: HashSet<(u64, u64)> = HashSet::new();
    let mut caches: HashSet<PathBuf> = HashSet::new();
    for root in roots {
        let mut it = walkdir::WalkDir::new(root)
            .follow_links(false)
            .follow_root_links(false)
            .same_file_system(excludes.one_file_system)
            .into_iter();
        while let Some(next) = it.next() {
            if stop.load(Ordering::Relaxed) {
                return Ok(None);
            }
            let Ok(de) = next else { continue };
            let path = de.path();
            let is_dir = de.file_type().is_dir();
            if de.depth() > 0 && matcher.excludes(path) {
                if is_dir {
                    it.skip_current_dir();
                }
                continue;
            }
            if excludes.caches && de.depth() > 0 {
                let in_cache = path.parent().is_some_and(|p| caches.contains(p));
                if in_cache && de.file_name() != OsStr::new("CACHEDIR.TAG") {
                    if is_dir {
                        it.skip_current_dir();
                    }
                    continue;
                }
            }
            if is_dir {
                if excludes.caches && is_cache_dir(path) {
                    caches.insert(path.to_path_buf());
                }
                continue;
            }
            if !de.file_type().is_file() {
                continue;
            }
            let Ok(md) = de.metadata() else { continue };
            if md.nlink() > 1 && !links.insert((md.dev(), md.ino())) {
                continue;
            }
            files += 1;
            bytes = bytes.saturating_add(md.size());
        }
    }
    Ok(Some((bytes, files)))
}
