//! A dry run's question "is this object already what the restore would make?" for the kinds a
//! restore always recreates (links, nodes), so that a check of a restored tree (`recover`)
//! finds an exact copy equal.

use std::os::fd::OwnedFd;

use rustix::fs::{AtFlags, FileType};

use super::Ctx;
use crate::snapshot::entry::{Entry, Kind};

/// In a dry run: whether the object at `name` in `dir` already is what `e` restores (a
/// symlink with the same target, a hard link to the same inode as its first name, a node of
/// the same type and device number), so that a check of a restored tree finds it equal.
pub(super) fn already_there(ctx: &Ctx<'_>, e: &Entry, dir: &OwnedFd, name: &[u8]) -> bool {
    let Ok(st) = rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) else {
        return false;
    };
    let ty = FileType::from_raw_mode(st.st_mode);
    match e.kind {
        Kind::Symlink => {
            ty == FileType::Symlink
                && rustix::fs::readlinkat(dir, name, Vec::new())
                    .is_ok_and(|t| Some(t.as_bytes()) == e.target.as_deref())
        }
        Kind::Hardlink => {
            let Some(first) = e.target.as_deref() else {
                return false;
            };
            ctx.target.as_ref().is_some_and(|t| {
                t.parent_of(first, false).is_ok_and(|(fd, fname)| {
                    rustix::fs::statat(&fd, fname, AtFlags::SYMLINK_NOFOLLOW)
                        .is_ok_and(|f| f.st_dev == st.st_dev && f.st_ino == st.st_ino)
                })
            })
        }
        Kind::Fifo => ty == FileType::Fifo,
        Kind::Socket => ty == FileType::Socket,
        Kind::Chardev => ty == FileType::CharacterDevice && Some(st.st_rdev) == e.rdev,
        Kind::Blockdev => ty == FileType::BlockDevice && Some(st.st_rdev) == e.rdev,
        _ => false,
    }
}
