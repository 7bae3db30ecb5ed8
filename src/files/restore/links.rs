//! Hard links in a restore, and the one case where an existing inode has several names.
//!
//! A `hardlink` entry is linked to exactly the inode this restore wrote (or kept) for the
//! entry's first name, through a descriptor checked to be that inode. A file that already
//! holds the right bytes but has further links is kept in place only if, once every name of
//! the snapshot is restored, all of its links are the snapshot's own names; otherwise a link
//! from outside the target (or one a user made to borrow the restore's privileges) could lend
//! an outside inode the snapshot's owner and mode. Such a file is then written afresh and its
//! names linked to the new copy, leaving the old inode as it was.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use rustix::fs::{AtFlags, Mode, OFlags};

use super::target::{Existing, InPlace, MetaProblems, Obj, apply_metadata, errno_io, temp_name};
use super::{Ctx, write_staged};
use crate::error::{Error, Result};
use crate::snapshot::entry::Entry;

/// A file kept in place whose metadata waits until its links are accounted for.
#[derive(Debug)]
pub struct Deferred {
    entry: Entry,
    /// The inode that was verified to hold the entry's bytes.
    inode: (u64, u64),
    /// The snapshot's further names of the file, linked to that inode by this restore.
    links: Vec<Vec<u8>>,
}

/// Keep `e` (whose existing inode `stat` holds the right bytes) until [`settle`].
pub(super) fn defer(ctx: &Ctx<'_>, e: &Entry, stat: &rustix::fs::Stat) {
    ctx.deferred.lock().expect("deferred").insert(
        e.path.clone(),
        Deferred {
            entry: e.clone(),
            inode: (stat.st_dev, stat.st_ino),
            links: Vec::new(),
        },
    );
}

/// Make the temporary name `tmp` in `dir` a hard link to the file this restore wrote (or
/// kept) for the entry's first name.
pub(super) fn link_restored(ctx: &Ctx<'_>, e: &Entry, dir: &OwnedFd, tmp: &str) -> Result<()> {
    let first = e.target.as_deref().unwrap_or_default();
    link_to(ctx, &ctx.show(&e.path), first, dir, tmp)?;
    if let Some(d) = ctx.deferred.lock().expect("deferred").get_mut(first) {
        d.links.push(e.path.clone());
    }
    Ok(())
}

/// Link `first` (a snapshot path restored in this run) as `tmp` in `dir`, through a
/// descriptor checked to be the inode recorded for it: a name swapped in meanwhile is refused,
/// never linked into the target.
fn link_to(ctx: &Ctx<'_>, shown: &str, first: &[u8], dir: &OwnedFd, tmp: &str) -> Result<()> {
    let refuse = |why: &str| {
        Error::io(
            shown,
            std::io::Error::other(format!("link to {}: {why}", crate::util::show(first))),
        )
    };
    let Some(want) = ctx.linked.lock().expect("links").get(first).copied() else {
        return Err(refuse("that file was not restored"));
    };
    let (fdir, fname) = ctx.target().parent_of(first, false)?;
    let fd = rustix::fs::openat(
        &*fdir,
        fname,
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|err| refuse(&errno_io(err).to_string()))?;
    let st = rustix::fs::fstat(&fd).map_err(|err| refuse(&errno_io(err).to_string()))?;
    if (st.st_dev, st.st_ino) != want {
        return Err(refuse(
            "replaced by another file while being restored; not linked",
        ));
    }
    let via = format!("/proc/self/fd/{}", fd.as_raw_fd());
    rustix::fs::linkat(
        rustix::fs::CWD,
        via.as_str(),
        dir,
        tmp,
        AtFlags::SYMLINK_FOLLOW,
    )
    .map_err(|err| refuse(&errno_io(err).to_string()))
}

/// After every entry is restored: apply the metadata of each deferred file whose links are
/// now all the snapshot's names, and replace the others with a fresh copy.
pub(super) fn settle(ctx: &Ctx<'_>) {
    let deferred = std::mem::take(&mut *ctx.deferred.lock().expect("deferred"));
    for (_, d) in deferred {
        if let Err(err) = settle_one(ctx, &d) {
            ctx.error(&d.entry, &err);
        }
    }
}

fn settle_one(ctx: &Ctx<'_>, d: &Deferred) -> Result<()> {
    let e = &d.entry;
    let (dir, name) = ctx.target().parent_of(&e.path, false)?;
    if let Some(old) = Existing::open(&dir, name) {
        let accounted = old.stat.st_nlink == 1 + d.links.len() as u64;
        if (old.stat.st_dev, old.stat.st_ino) == d.inode
            && accounted
            && old.in_place(e, ctx.opts.owners) != InPlace::No
        {
            let mut problems = MetaProblems::default();
            apply_metadata(Obj::Fd(old.file.as_fd()), e, ctx.opts.owners, &mut problems);
            ctx.warn(&e.path, problems);
            return Ok(());
        }
    }
    // A link the snapshot does not account for: a fresh copy under every name.
    let content = e
        .content
        .as_ref()
        .ok_or_else(|| Error::hostile(e.path_str(), "file without content"))?;
    let written = write_staged(ctx, e, content, &dir, name)?;
    {
        let mut r = ctx.report.lock().expect("report");
        r.files_unchanged -= 1;
        r.files_written += 1;
        r.bytes_written += written;
    }
    for link in &d.links {
        let shown = ctx.show(link);
        let (ldir, lname) = ctx.target().parent_of(link, false)?;
        let tmp = temp_name();
        link_to(ctx, &shown, &e.path, &ldir, &tmp)?;
        let renamed = rustix::fs::renameat(&*ldir, tmp.as_str(), &*ldir, lname);
        let _ = rustix::fs::unlinkat(&*ldir, tmp.as_str(), AtFlags::empty());
        renamed.map_err(|err| Error::io(&shown, errno_io(err)))?;
    }
    Ok(())
}
