//! Confined filesystem operations under a restore target.
//!
//! Every path is resolved one component at a time with `openat(O_NOFOLLOW | O_DIRECTORY)` from
//! a descriptor of the target, and every final operation is an `*at` call on the parent's
//! descriptor that does not follow symlinks. A symlink already in the target, one restored
//! earlier, or one swapped in during the restore (CVE-2018-15664) therefore can never redirect
//! a write outside the target: resolution fails instead.

use std::collections::HashMap;
use std::fs::File;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, Timespec, Timestamps, XattrFlags};
use rustix::io::Errno;

use crate::error::{Error, Result};
use crate::snapshot::entry::{Entry, Kind, Xattr};
use crate::util::show;

const MAX_CACHED_DIRS: usize = 1024;

/// A directory that restored objects are confined to.
pub struct Target {
    root: Arc<OwnedFd>,
    root_path: PathBuf,
    dirs: Mutex<HashMap<Vec<u8>, Arc<OwnedFd>>>,
    /// When this restore began (ns): older temporary files are leftovers of an interrupted run.
    started: i128,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Target({})", self.root_path.display())
    }
}

fn dir_flags() -> OFlags {
    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC
}

pub fn errno_io(e: Errno) -> std::io::Error {
    std::io::Error::from_raw_os_error(e.raw_os_error())
}

impl Target {
    /// Open (creating if needed) the target directory. The target path itself may contain
    /// symlinks: the user chose it.
    pub fn open(path: &Path, create: bool) -> Result<Target> {
        if create {
            std::fs::create_dir_all(path).map_err(|e| Error::io(path, e))?;
        }
        let fd = rustix::fs::open(
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| Error::io(path, errno_io(e)))?;
        let started = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as i128);
        let t = Target {
            root: Arc::new(fd),
            root_path: path.to_path_buf(),
            dirs: Mutex::new(HashMap::new()),
            started,
        };
        t.clean_stale_temps(&t.root);
        Ok(t)
    }

    /// Remove what an interrupted earlier restore left in a directory: files with lifeboat's
    /// temporary names, last modified before this restore started.
    fn clean_stale_temps(&self, dir: &OwnedFd) {
        let Ok(mut d) = rustix::fs::Dir::read_from(dir) else {
            return;
        };
        while let Some(Ok(ent)) = d.read() {
            let name = ent.file_name().to_bytes();
            if !is_temp_name(name) {
                continue;
            }
            let stale = rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW).is_ok_and(|st| {
                let mtime = i128::from(st.st_mtime) * 1_000_000_000 + i128::from(st.st_mtime_nsec);
                FileType::from_raw_mode(st.st_mode) != FileType::Directory && mtime < self.started
            });
            if stale {
                let _ = rustix::fs::unlinkat(dir, name, AtFlags::empty());
            }
        }
    }

    pub fn root_fd(&self) -> &OwnedFd {
        &self.root
    }

    /// Where a snapshot path lands, for messages.
    pub fn display(&self, snap_path: &[u8]) -> String {
        show(&crate::util::under(&self.root_path, snap_path))
    }

    /// The descriptor of the directory at snapshot path `dir` (`/` is the target itself),
    /// creating missing directories (mode 0700 until their metadata is applied) when `create`.
    pub fn dir(&self, dir: &[u8], create: bool) -> Result<Arc<OwnedFd>> {
        if dir == b"/" {
            return Ok(self.root.clone());
        }
        if let Some(fd) = self.dirs.lock().expect("dir cache").get(dir) {
            return Ok(fd.clone());
        }
        let parent = crate::util::parent(dir)
            .ok_or_else(|| Error::Unsafe(format!("bad path {}", show(dir))))?;
        let name = &dir[parent.len() + usize::from(parent != b"/")..];
        let pfd = self.dir(parent, create)?;
        let fd = match rustix::fs::openat(&*pfd, name, dir_flags(), Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::NOENT) if create => {
                match rustix::fs::mkdirat(&*pfd, name, Mode::from_raw_mode(0o700)) {
                    Ok(()) | Err(Errno::EXIST) => {}
                    Err(e) => return Err(Error::io(self.display(dir), errno_io(e))),
                }
                rustix::fs::openat(&*pfd, name, dir_flags(), Mode::empty())
                    .map_err(|e| self.refuse_or_io(dir, e))?
            }
            Err(e) => return Err(self.refuse_or_io(dir, e)),
        };
        self.clean_stale_temps(&fd);
        let fd = Arc::new(fd);
        let mut cache = self.dirs.lock().expect("dir cache");
        if cache.len() >= MAX_CACHED_DIRS {
            cache.clear();
        }
        cache.insert(dir.to_vec(), fd.clone());
        Ok(fd)
    }

    fn refuse_or_io(&self, dir: &[u8], e: Errno) -> Error {
        match e {
            Errno::LOOP | Errno::NOTDIR => Error::Unsafe(format!(
                "{} is a symlink or not a directory; refusing to write through it",
                self.display(dir)
            )),
            e => Error::io(self.display(dir), errno_io(e)),
        }
    }

    /// The parent directory descriptor and final name of a snapshot path.
    pub fn parent_of<'p>(&self, path: &'p [u8], create: bool) -> Result<(Arc<OwnedFd>, &'p [u8])> {
        let parent = crate::util::parent(path)
            .ok_or_else(|| Error::Unsafe("cannot replace the target itself".into()))?;
        let name = &path[parent.len() + usize::from(parent != b"/")..];
        Ok((self.dir(parent, create)?, name))
    }

    /// Forget cached descriptors under `dir` (after it was replaced).
    pub fn forget(&self, dir: &[u8]) {
        self.dirs
            .lock()
            .expect("dir cache")
            .retain(|k, _| !crate::util::is_within(k, dir));
    }
}

/// A fresh temporary name in a directory.
pub fn temp_name() -> String {
    format!(".lifeboat-{}.tmp", crate::repo::backend::random_suffix())
}

/// Whether a name is one [`temp_name`] makes.
pub fn is_temp_name(name: &[u8]) -> bool {
    name.len() == 10 + 16 + 4
        && name.starts_with(b".lifeboat-")
        && name.ends_with(b".tmp")
        && name[10..26]
            .iter()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
}

/// Create an empty temporary file in `dir`, readable only by us.
pub fn create_temp(dir: &OwnedFd) -> std::io::Result<(String, File)> {
    loop {
        let name = temp_name();
        match rustix::fs::openat(
            dir,
            name.as_str(),
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        ) {
            Ok(fd) => return Ok((name, File::from(fd))),
            Err(Errno::EXIST) => continue,
            Err(e) => return Err(errno_io(e)),
        }
    }
}

fn ts(ns: i64) -> Timespec {
    Timespec {
        tv_sec: ns.div_euclid(1_000_000_000),
        tv_nsec: ns.rem_euclid(1_000_000_000),
    }
}

pub fn timestamps(e: &Entry) -> Timestamps {
    Timestamps {
        last_access: ts(e.atime),
        last_modification: ts(e.mtime),
    }
}

/// Which metadata could not be applied (not root, unsupported filesystem, ...).
#[derive(Debug, Default)]
pub struct MetaProblems(pub Vec<String>);

impl MetaProblems {
    fn note(&mut self, what: &str, e: Errno) {
        self.0.push(format!("{what}: {}", errno_io(e)));
    }
}

/// The object metadata is applied to, always by descriptor, never by name: a name in a
/// directory someone else can write may name another inode by the time it is used.
pub enum Obj<'a> {
    /// An open regular file or directory.
    Fd(BorrowedFd<'a>),
    /// An `O_PATH` descriptor of a symlink or special file, which are never opened for I/O
    /// (see [`open_created`]). Metadata goes through `/proc/self/fd/N`, which names exactly
    /// this inode: the kernel resolves the magic link to it and does not follow it further.
    Path { fd: BorrowedFd<'a>, symlink: bool },
}

impl Obj<'_> {
    fn proc_path(fd: BorrowedFd<'_>) -> String {
        format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&fd))
    }

    fn list_xattrs(&self) -> Result<Vec<Vec<u8>>, Errno> {
        let mut buf = vec![0u8; 4096];
        loop {
            let n = match self {
                Obj::Fd(fd) => rustix::fs::flistxattr(fd, &mut buf[..]),
                Obj::Path { fd, .. } => rustix::fs::listxattr(Self::proc_path(*fd), &mut buf[..]),
            };
            match n {
                Ok(n) => {
                    return Ok(buf[..n]
                        .split(|&b| b == 0)
                        .filter(|s| !s.is_empty())
                        .map(<[u8]>::to_vec)
                        .collect());
                }
                Err(Errno::RANGE) if buf.len() < (1 << 20) => buf.resize(buf.len() * 4, 0),
                Err(e) => return Err(e),
            }
        }
    }

    fn set_xattr(&self, xname: &[u8], value: &[u8]) -> Result<(), Errno> {
        match self {
            Obj::Fd(fd) => rustix::fs::fsetxattr(fd, xname, value, XattrFlags::empty()),
            Obj::Path { fd, .. } => {
                rustix::fs::setxattr(Self::proc_path(*fd), xname, value, XattrFlags::empty())
            }
        }
    }

    fn remove_xattr(&self, xname: &[u8]) -> Result<(), Errno> {
        match self {
            Obj::Fd(fd) => rustix::fs::fremovexattr(fd, xname),
            Obj::Path { fd, .. } => rustix::fs::removexattr(Self::proc_path(*fd), xname),
        }
    }
}

/// Open an object restore has just created under a temporary name in `dir`, for its metadata:
/// an `O_PATH` descriptor (a device or FIFO is never opened for I/O), checked to be what was
/// created (`kind`, one link, on `dir`'s filesystem). Someone who can write `dir` may have
/// swapped the name in between; then the restore of this object fails instead of changing
/// another inode.
pub fn open_created(dir: &OwnedFd, name: &[u8], kind: FileType) -> std::io::Result<OwnedFd> {
    let fd = rustix::fs::openat(
        dir,
        name,
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(errno_io)?;
    let st = rustix::fs::fstat(&fd).map_err(errno_io)?;
    let dir_dev = rustix::fs::fstat(dir).map_err(errno_io)?.st_dev;
    if FileType::from_raw_mode(st.st_mode) != kind || st.st_nlink != 1 || st.st_dev != dir_dev {
        return Err(std::io::Error::other(
            "replaced by another file while being restored; not touched",
        ));
    }
    Ok(fd)
}

/// A regular file already present where a file is to be restored, opened once: its size, its
/// content and, when it already holds the right bytes, its metadata are all read and changed
/// through this one descriptor.
pub struct Existing {
    pub file: File,
    pub stat: rustix::fs::Stat,
    /// Whether it lives on its directory's filesystem (not a file mounted over the name).
    pub same_dev: bool,
}

impl Existing {
    /// Open `name` in `dir` if it is a regular file (never following a symlink, never
    /// blocking on a FIFO swapped in, never becoming a controlling terminal).
    pub fn open(dir: &OwnedFd, name: &[u8]) -> Option<Existing> {
        let fd = rustix::fs::openat(
            dir,
            name,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .ok()?;
        let stat = rustix::fs::fstat(&fd).ok()?;
        if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
            return None;
        }
        let dir_dev = rustix::fs::fstat(dir).ok()?.st_dev;
        Some(Existing {
            file: File::from(fd),
            same_dev: stat.st_dev == dir_dev,
            stat,
        })
    }

    /// Modification time in nanoseconds since the epoch.
    pub fn mtime(&self) -> i64 {
        mtime_ns(&self.stat)
    }

    /// Whether `e`'s metadata can be applied to this inode without giving it away. A change
    /// of owner is only ever made on an inode restore created itself (a process of the
    /// present owner may hold it open for writing), and never on one that lives on another
    /// filesystem than its directory or has links the snapshot may not account for.
    pub fn in_place(&self, e: &Entry, owners: bool) -> InPlace {
        let owner_kept = !owners || (self.stat.st_uid == e.uid && self.stat.st_gid == e.gid);
        if !owner_kept || !self.same_dev {
            InPlace::No
        } else if self.stat.st_nlink == 1 {
            InPlace::Yes
        } else {
            InPlace::IfLinksAccountedFor
        }
    }
}

/// A stat's modification time in nanoseconds since the epoch (as entries record it).
pub fn mtime_ns(st: &rustix::fs::Stat) -> i64 {
    st.st_mtime
        .saturating_mul(1_000_000_000)
        .saturating_add(st.st_mtime_nsec as i64)
}

/// Whether an existing file's metadata may be fixed in place (see [`Existing::in_place`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InPlace {
    Yes,
    /// Only once every other link is known to be one of the snapshot's own names.
    IfLinksAccountedFor,
    No,
}

/// The mode to restore. When owners are not restored, set-user/group-ID bits of someone
/// else's file are dropped (as tar does): a restore must not mint set-ID programs of the
/// restoring user.
pub fn effective_mode(e: &Entry, owners: bool) -> u32 {
    let mut mode = e.mode & 0o7777;
    if !owners && e.kind != Kind::Dir {
        if e.uid != rustix::process::geteuid().as_raw() {
            mode &= !0o4000;
        }
        if e.gid != rustix::process::getegid().as_raw() {
            mode &= !0o2000;
        }
    }
    mode
}

/// Apply owner, mode, xattrs (exactly the snapshot's set: others, such as ACLs inherited from
/// a default ACL, are removed) and times. Order matters: chown clears set-ID bits and file
/// capabilities, so mode and xattrs come after it, and times come last.
pub fn apply_metadata(obj: Obj<'_>, e: &Entry, owners: bool, problems: &mut MetaProblems) {
    if owners {
        let uid = Some(rustix::process::Uid::from_raw(e.uid));
        let gid = Some(rustix::process::Gid::from_raw(e.gid));
        let r = match &obj {
            Obj::Fd(fd) => rustix::fs::fchown(fd, uid, gid),
            Obj::Path { fd, .. } => rustix::fs::chownat(fd, "", uid, gid, AtFlags::EMPTY_PATH),
        };
        if let Err(err) = r {
            problems.note("owner", err);
        }
    }
    let mode = effective_mode(e, owners);
    if mode != e.mode & 0o7777 {
        problems.0.push(format!(
            "set-ID bits dropped: the owner ({}:{}) was not restored",
            e.uid, e.gid
        ));
    }
    let r = match &obj {
        Obj::Fd(fd) => rustix::fs::fchmod(fd, Mode::from_raw_mode(mode)),
        // A symlink has no mode of its own on Linux.
        Obj::Path { symlink: true, .. } => Ok(()),
        Obj::Path { fd, .. } => rustix::fs::chmod(Obj::proc_path(*fd), Mode::from_raw_mode(mode)),
    };
    if let Err(err) = r {
        problems.note("mode", err);
    }
    match obj.list_xattrs() {
        Ok(present) => {
            for xname in present {
                // SELinux labels are the host's business, not the snapshot's.
                let wanted = e.xattrs.iter().any(|x| x.0 == xname) || xname == b"security.selinux";
                if !wanted && let Err(err) = obj.remove_xattr(&xname) {
                    problems.note(&format!("removing xattr {}", show(&xname)), err);
                }
            }
        }
        Err(Errno::NOTSUP) => {}
        Err(err) => problems.note("listing xattrs", err),
    }
    for Xattr(xname, value) in &e.xattrs {
        if let Err(err) = obj.set_xattr(xname, value) {
            problems.note(&format!("xattr {}", show(xname)), err);
        }
    }
    let r = match &obj {
        Obj::Fd(fd) => rustix::fs::futimens(fd, &timestamps(e)),
        Obj::Path { fd, .. } => rustix::fs::utimensat(
            rustix::fs::CWD,
            Obj::proc_path(*fd),
            &timestamps(e),
            AtFlags::empty(),
        ),
    };
    if let Err(err) = r {
        problems.note("times", err);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlinks_in_the_target_are_never_followed() {
        let d = tempfile::tempdir().unwrap();
        let outside = d.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        let target = d.path().join("t");
        std::fs::create_dir(&target).unwrap();
        std::os::unix::fs::symlink(&outside, target.join("etc")).unwrap();
        let t = Target::open(&target, false).unwrap();
        let err = t.dir(b"/etc", true).unwrap_err();
        assert!(matches!(err, Error::Unsafe(_)), "{err}");
        let err = t.parent_of(b"/etc/passwd", true).unwrap_err();
        assert!(matches!(err, Error::Unsafe(_)));
        assert_eq!(
            std::fs::read_dir(&outside).unwrap().count(),
            0,
            "nothing written outside"
        );
        let (fd, name) = t.parent_of(b"/a/b/c", true).unwrap();
        assert_eq!(name, b"c");
        let (_tmp, _f) = create_temp(&fd).unwrap();
        assert!(target.join("a/b").is_dir());
    }
}
