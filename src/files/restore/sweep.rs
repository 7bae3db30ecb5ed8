//! `restore --delete`: removing what the target holds and the snapshot does not, inside the
//! directories the restore owns.
//!
//! The tree stream is in path order, so a directory's children are all known once the stream
//! leaves it: a stack of the directories being visited, each with its children's names, is all
//! the memory this takes. Only directories at or below one of the snapshot's own paths (never
//! the ancestors that merely lead to them, such as `/` or `/srv`) and within what `--include`
//! selected are swept; names the snapshot holds are kept even when `--exclude` left them out,
//! and so is whatever `--exclude` matches in the target.
//! Removal goes through the confined descriptors of [`super::target::Target`] and never
//! follows a symlink.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::{AtFlags, FileType, Mode, OFlags};

use super::Ctx;
use super::target::{errno_io, is_temp_name};
use crate::error::{Error, Result};
use crate::files::pattern::Matcher;
use crate::snapshot::entry::{Entry, Kind};
use crate::util::is_within;

/// A directory of the stream whose children are being collected.
struct Open {
    path: Vec<u8>,
    names: HashSet<Vec<u8>>,
    /// Whether extra names in it are removed.
    swept: bool,
}

/// Collects children per directory and sweeps each directory when the stream leaves it.
pub(super) struct Sweep {
    /// Directories at or below which the restore owns the target's contents.
    roots: Vec<Vec<u8>>,
    /// `--exclude`: what it matches is not the restore's business, in the target either.
    keep: Option<Matcher>,
    stack: Vec<Open>,
}

impl Sweep {
    pub(super) fn new(roots: Vec<Vec<u8>>, excludes: &[String]) -> Result<Sweep> {
        let keep = if excludes.is_empty() {
            None
        } else {
            Some(Matcher::globs(excludes, false, "--exclude pattern")?)
        };
        Ok(Sweep {
            roots,
            keep,
            stack: Vec::new(),
        })
    }

    /// Account for the next entry of the stream (every entry, restored or left out); `owned`
    /// says whether the restore selected it (and so owns its contents, for a directory).
    pub(super) fn see(&mut self, ctx: &Ctx<'_>, e: &Entry, owned: bool) {
        while self
            .stack
            .last()
            .is_some_and(|d| !is_within(&e.path, &d.path) || e.path == d.path)
        {
            let done = self.stack.pop().expect("non-empty");
            self.sweep(ctx, &done);
        }
        if let Some(parent) = self.stack.last_mut()
            && let Some(name) = e.path.rsplit(|&b| b == b'/').next()
        {
            parent.names.insert(name.to_vec());
        }
        if e.kind == Kind::Dir {
            let swept = owned && self.roots.iter().any(|r| is_within(&e.path, r));
            self.stack.push(Open {
                path: e.path.clone(),
                names: HashSet::new(),
                swept,
            });
        }
    }

    /// The stream ended: sweep the directories still open.
    pub(super) fn finish(&mut self, ctx: &Ctx<'_>) {
        while let Some(done) = self.stack.pop() {
            self.sweep(ctx, &done);
        }
    }

    fn sweep(&self, ctx: &Ctx<'_>, d: &Open) {
        if !d.swept {
            return;
        }
        let Some(target) = &ctx.target else { return };
        // A directory that could not be restored (or does not exist in a dry run) has
        // nothing of the target's own to remove.
        let Ok(dir) = target.dir(&d.path, false) else {
            return;
        };
        let extra = match names_in(&dir) {
            Ok(names) => names
                .into_iter()
                .filter(|n| !d.names.contains(n) && !is_temp_name(n))
                .collect::<Vec<_>>(),
            Err(err) => {
                ctx.error_at(&d.path, &Error::io(ctx.show(&d.path), err));
                return;
            }
        };
        for name in extra {
            let mut path = d.path.clone();
            if path != b"/" {
                path.push(b'/');
            }
            path.extend_from_slice(&name);
            if self
                .keep
                .as_ref()
                .is_some_and(|m| m.is_match(Path::new(OsStr::from_bytes(&path))))
            {
                continue;
            }
            if ctx.opts.dry_run {
                ctx.plan_path("delete", path, 0);
                continue;
            }
            match remove_all(&dir, &name) {
                Ok(n) => ctx.report.lock().expect("report").deleted += n,
                Err(err) => ctx.error_at(&path, &Error::io(ctx.show(&path), err)),
            }
        }
    }
}

/// Remove whatever is at `name` in `dir` (snapshot path `path`), to make way for the
/// snapshot's object of another type; counted as deleted.
pub(super) fn clear(ctx: &Ctx<'_>, dir: &OwnedFd, name: &[u8], path: &[u8]) -> Result<()> {
    let n = remove_all(dir, name).map_err(|err| Error::io(ctx.show(path), err))?;
    ctx.target().forget(path);
    ctx.report.lock().expect("report").deleted += n;
    Ok(())
}

/// The names in a directory, `.` and `..` left out.
fn names_in(dir: &OwnedFd) -> std::io::Result<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    let mut d = rustix::fs::Dir::read_from(dir).map_err(errno_io)?;
    while let Some(ent) = d.read() {
        let ent = ent.map_err(errno_io)?;
        let name = ent.file_name().to_bytes();
        if name != b"." && name != b".." {
            out.push(name.to_vec());
        }
    }
    Ok(out)
}

/// Remove `name` in `dir` and, for a directory, everything below it, without following any
/// symlink. Returns how many objects were removed.
fn remove_all(dir: &OwnedFd, name: &[u8]) -> std::io::Result<u64> {
    let st = rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW).map_err(errno_io)?;
    if FileType::from_raw_mode(st.st_mode) != FileType::Directory {
        rustix::fs::unlinkat(dir, name, AtFlags::empty()).map_err(errno_io)?;
        return Ok(1);
    }
    let sub = rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(errno_io)?;
    let mut n = 0;
    for child in names_in(&sub)? {
        n += remove_all(&sub, &child)?;
    }
    rustix::fs::unlinkat(dir, name, AtFlags::REMOVEDIR).map_err(errno_io)?;
    Ok(n + 1)
}

/// The directories a `--delete` restore owns: the snapshot's own paths, seen through the
/// restore's rebase (a subtree restored as `/`).
pub(super) fn roots(paths: &[Vec<u8>], rebase: Option<&[u8]>) -> Vec<Vec<u8>> {
    let Some(prefix) = rebase else {
        return paths.to_vec();
    };
    let mut out = Vec::new();
    for p in paths {
        if is_within(prefix, p) {
            // The whole subtree lies inside one of the snapshot's paths.
            return vec![b"/".to_vec()];
        }
        if let Some(rest) = p.strip_prefix(prefix).filter(|r| r.starts_with(b"/")) {
            out.push(rest.to_vec());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_follow_the_rebase() {
        let paths = vec![b"/srv/app".to_vec(), b"/etc/ssh".to_vec()];
        assert_eq!(roots(&paths, None), paths);
        assert_eq!(roots(&paths, Some(b"/srv/app/data")), vec![b"/".to_vec()]);
        assert_eq!(roots(&paths, Some(b"/srv")), vec![b"/app".to_vec()]);
        assert!(roots(&paths, Some(b"/usr")).is_empty());
    }

    #[test]
    fn remove_all_never_follows_symlinks() {
        let d = tempfile::tempdir().unwrap();
        let outside = d.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(outside.join("keep"), b"x").unwrap();
        let t = d.path().join("t");
        std::fs::create_dir_all(t.join("extra/sub")).unwrap();
        std::fs::write(t.join("extra/sub/f"), b"y").unwrap();
        std::os::unix::fs::symlink(&outside, t.join("extra/link")).unwrap();
        let fd = rustix::fs::open(&t, OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty()).unwrap();
        assert_eq!(remove_all(&fd, b"extra").unwrap(), 4);
        assert!(!t.join("extra").exists());
        assert!(outside.join("keep").exists());
    }
}
