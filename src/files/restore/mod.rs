//! Restoring a snapshot's files into a target directory.
//!
//! Files land at `TARGET/<original absolute path>`. Each regular file is written under a
//! temporary name, its chunks verified as they are decoded and its SHA-256 checked against the
//! snapshot, then its metadata applied and only then renamed into place, so an existing file
//! is never replaced by anything unverified. Files that already match are left alone. All
//! writes go through [`target::Target`], which cannot be led outside the target.

mod batch;
mod choose;
mod links;
mod owners;
mod same;
mod sweep;
pub mod target;
mod write;

use std::collections::HashMap;
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::sync::Mutex;

use rustix::fs::{AtFlags, FileType, Mode};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::id::Id;
use crate::progress::Progress;
use crate::repo::{IndexedRepo, LockKind, Repository};
use crate::snapshot::entry::{Content, Entry, Kind};
use crate::snapshot::manifest::Snapshot;
use crate::snapshot::tree::TreeReader;
use target::{
    Existing, InPlace, MetaProblems, Obj, Target, apply_metadata, create_temp, errno_io,
    open_created,
};

/// Entries handled per batch: bounds memory on huge snapshots.
const BATCH: usize = 4096;

/// What to do with an object already at a restored file's place (restic 0.17's `--overwrite`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Overwrite {
    /// Replace it unless it holds the snapshot's bytes (checked by SHA-256); fix metadata.
    #[default]
    Always,
    /// Like `always`, but a file with the snapshot's size and modification time is taken to
    /// hold its bytes without reading it.
    IfChanged,
    /// Replace it only when the snapshot's version is newer (modification time).
    IfNewer,
    /// Leave every existing object as it is.
    Never,
}

#[derive(Debug, Clone)]
pub struct RestoreOptions {
    pub target: PathBuf,
    /// Absolute snapshot paths to restore (with everything below them); with no paths and no
    /// include patterns, everything is restored.
    pub includes: Vec<Vec<u8>>,
    /// Glob patterns (as `--exclude` of a snapshot reads them) of what to restore: a match
    /// brings everything below it, and the directories leading to it.
    pub include_patterns: Vec<String>,
    /// Glob patterns of what to leave out, with everything below it.
    pub exclude_patterns: Vec<String>,
    pub overwrite: Overwrite,
    /// Remove what the target holds and the snapshot does not, inside the directories the
    /// restore owns (see `sweep`).
    pub delete: bool,
    pub dry_run: bool,
    /// Restore owners (default: when running as root).
    pub owners: bool,
    /// With `owners`: keep the recorded uid/gid even where the recorded user or group name
    /// has another id on this host (`--numeric-owner`; Docker volume data, whose ids are the
    /// container's). By default a name known here decides (see `owners`).
    pub numeric_owner: bool,
    /// When owners are not restored, report objects owned by someone else (on by default for
    /// a non-root user; off when the caller asked not to restore owners).
    pub report_unrestored_owners: bool,
    /// Flush the target filesystem before reporting success.
    pub sync: bool,
    /// Restore only the entries below this tree path, as if it were `/` (Docker volume data).
    pub rebase: Option<Vec<u8>>,
    /// Give the target directory itself the metadata of the tree's root (a volume's root
    /// directory has its own owner and mode).
    pub root_metadata: bool,
    /// fsync each file before renaming it into place and its directory after (configuration
    /// files that must never be seen half-written after a crash, such as `sshd_config`).
    pub durable: bool,
}

impl RestoreOptions {
    pub fn new(target: impl Into<PathBuf>) -> Self {
        RestoreOptions {
            target: target.into(),
            includes: Vec::new(),
            include_patterns: Vec::new(),
            exclude_patterns: Vec::new(),
            overwrite: Overwrite::Always,
            delete: false,
            dry_run: false,
            owners: crate::util::is_root(),
            numeric_owner: false,
            report_unrestored_owners: !crate::util::is_root(),
            sync: true,
            rebase: None,
            root_metadata: false,
            durable: false,
        }
    }
}

/// One line of a dry run.
#[derive(Debug, Clone, Serialize)]
pub struct Planned {
    pub action: &'static str,
    /// The snapshot path, exact (see [`crate::escape::path_fields`]).
    #[serde(flatten, serialize_with = "crate::escape::path_fields")]
    pub path: Vec<u8>,
    pub size: u64,
}

#[derive(Debug, Default, Serialize)]
pub struct RestoreReport {
    pub files_written: u64,
    /// Of the files written, those that replaced an existing file with other bytes.
    pub files_replaced: u64,
    pub files_unchanged: u64,
    /// Objects given another uid or gid than the recorded one: their user or group name has
    /// that id on this host.
    pub owners_by_name: u64,
    /// Existing objects left as they were because of `--overwrite if-newer|never`.
    pub skipped_existing: u64,
    /// Objects removed by `--delete`.
    pub deleted: u64,
    pub bytes_written: u64,
    pub dirs: u64,
    pub links: u64,
    pub special: u64,
    pub warnings: Vec<String>,
    pub errors: Vec<String>,
    /// How many of the errors are damaged or tampered repository data.
    pub damaged: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub plan: Vec<Planned>,
}

enum FileOutcome {
    /// Bytes written, and whether an existing file with other bytes was replaced.
    Written(u64, bool),
    Unchanged,
    /// Left as it was by the `--overwrite` policy.
    Skipped,
    Planned(Planned),
}

struct Ctx<'a> {
    repo: &'a IndexedRepo,
    /// `None` only in a dry run whose target does not exist.
    target: Option<Target>,
    opts: &'a RestoreOptions,
    progress: &'a dyn Progress,
    report: Mutex<RestoreReport>,
    /// (device, inode) of each restored file that has further hard links in the snapshot, by
    /// path: later `hardlink` entries link to exactly that inode.
    linked: Mutex<HashMap<Vec<u8>, (u64, u64)>>,
    /// Files kept in place whose further links must be the snapshot's own before their
    /// metadata is applied (see `links::settle`).
    deferred: Mutex<HashMap<Vec<u8>, links::Deferred>>,
    /// For a remote repository: more threads than cores, so that as many packs are fetched
    /// at once as the store serves well (threads waiting on the network use no CPU).
    readers: Option<rayon::ThreadPool>,
}

impl Ctx<'_> {
    fn target(&self) -> &Target {
        self.target
            .as_ref()
            .expect("a target exists unless this is a dry run")
    }

    fn show(&self, path: &[u8]) -> String {
        crate::util::show(&crate::util::under(&self.opts.target, path))
    }

    fn warn(&self, path: &[u8], problems: MetaProblems) {
        if !problems.0.is_empty() {
            let mut r = self.report.lock().expect("report");
            for p in problems.0 {
                r.warnings.push(format!("{}: {p}", self.show(path)));
            }
        }
    }

    fn error(&self, e: &Entry, err: &Error) {
        self.error_at(&e.path, err);
    }

    fn error_at(&self, path: &[u8], err: &Error) {
        let mut r = self.report.lock().expect("report");
        r.errors.push(format!("{}: {err}", crate::util::show(path)));
        if err.is_integrity() {
            r.damaged += 1;
        }
    }

    /// Record the inode of a restored file that later `hardlink` entries may name.
    fn remember_link(&self, e: &Entry, file: &std::fs::File) {
        if e.nlink > 1
            && let Ok(st) = rustix::fs::fstat(file)
        {
            let mut linked = self.linked.lock().expect("links");
            linked.insert(e.path.clone(), (st.st_dev, st.st_ino));
        }
    }

    fn plan(&self, action: &'static str, e: &Entry) {
        self.plan_path(action, e.path.clone(), e.size);
    }

    fn plan_path(&self, action: &'static str, path: Vec<u8>, size: u64) {
        self.report
            .lock()
            .expect("report")
            .plan
            .push(Planned { action, path, size });
    }

    /// Whether the `--overwrite` policy leaves the object at `name` in `dir` (whatever it is)
    /// as it is; counted, and planned in a dry run.
    fn keeps_existing(&self, e: &Entry, dir: &OwnedFd, name: &[u8]) -> bool {
        let keep = match self.opts.overwrite {
            Overwrite::Always | Overwrite::IfChanged => false,
            Overwrite::Never => true,
            Overwrite::IfNewer => rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)
                .is_ok_and(|st| e.mtime <= target::mtime_ns(&st)),
        };
        if keep {
            if self.opts.dry_run {
                self.plan("skip", e);
            } else {
                self.report.lock().expect("report").skipped_existing += 1;
            }
        }
        keep
    }
}

/// Restore `snapshot` according to `opts`.
pub fn restore(
    repo: &Repository,
    snapshot: &Snapshot,
    opts: &RestoreOptions,
    progress: &dyn Progress,
) -> Result<RestoreReport> {
    let paths: Vec<Vec<u8>> = snapshot.paths.iter().map(|p| p.to_vec()).collect();
    let roots = sweep::roots(&paths, opts.rebase.as_deref());
    restore_stream(
        repo,
        &snapshot.tree,
        Some(snapshot.summary.bytes),
        &roots,
        opts,
        progress,
    )
}

/// `path` relative to `prefix` (as an absolute path), or `None` when it lies outside.
fn rebase_path(path: &[u8], prefix: &[u8]) -> Option<Vec<u8>> {
    if path == prefix {
        return Some(b"/".to_vec());
    }
    let rest = path.strip_prefix(prefix)?;
    rest.starts_with(b"/").then(|| rest.to_vec())
}

/// The `unrestored_links` key of a file outside the rebased tree.
fn outside_key(path: &[u8]) -> Vec<u8> {
    let mut k = vec![0];
    k.extend_from_slice(path);
    k
}

/// Restore the entries of any tree stream (a snapshot's files, or a Docker volume's data in the
/// deployment tree with [`RestoreOptions::rebase`]).
/// The whole tree is the caller's (a volume's data): `--delete` sweeps all of it.
pub fn restore_tree(
    repo: &Repository,
    tree: &[Id],
    total_bytes: Option<u64>,
    opts: &RestoreOptions,
    progress: &dyn Progress,
) -> Result<RestoreReport> {
    restore_stream(repo, tree, total_bytes, &[b"/".to_vec()], opts, progress)
}

/// [`restore_tree`], with `--delete` owning only what lies at or below `roots`.
fn restore_stream(
    repo: &Repository,
    tree: &[Id],
    total_bytes: Option<u64>,
    roots: &[Vec<u8>],
    opts: &RestoreOptions,
    progress: &dyn Progress,
) -> Result<RestoreReport> {
    let (mut chooser, mut sweep) = chooser_and_sweep(opts, roots)?;
    let _lock = repo.lock(LockKind::Shared, "restore")?;
    let repo = &repo.indexed()?;
    // A dry run into a target that does not exist yet opens nothing: everything is "create".
    let target = if opts.dry_run && !opts.target.exists() {
        None
    } else {
        Some(Target::open(&opts.target, !opts.dry_run)?)
    };
    let ctx = Ctx {
        repo,
        target,
        opts,
        progress,
        report: Mutex::new(RestoreReport::default()),
        linked: Mutex::new(HashMap::new()),
        deferred: Mutex::new(HashMap::new()),
        readers: batch::reader_pool(repo),
    };
    progress.start("restore", total_bytes);
    let mut dirs: Vec<Entry> = Vec::new();
    let mut batch: Vec<Entry> = Vec::new();
    // With --include, the first name of a hard-linked file may be left out while a later name
    // is wanted: that name then becomes the file, and further names link to it.
    let mut unrestored_links: HashMap<Vec<u8>, Entry> = HashMap::new();
    let mut link_alias: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
    let (euid, egid) = (
        rustix::process::geteuid().as_raw(),
        rustix::process::getegid().as_raw(),
    );
    let mut foreign_owned = 0u64;
    let mut names = (opts.owners && !opts.numeric_owner).then(owners::Owners::default);
    let mut by_name = 0u64;
    for entry in TreeReader::new(repo, tree) {
        crate::interrupt::check()?;
        let mut e = entry?;
        // Before anything compares or applies owners (hard links kept aside included).
        let remapped = names.as_mut().is_some_and(|n| n.map(&mut e));
        if let Some(prefix) = &opts.rebase
            && !rebase_entry(&mut e, prefix, &mut unrestored_links)?
        {
            continue;
        }
        let verdict = chooser.judge(&e);
        if let Some(sweep) = &mut sweep {
            sweep.see(
                &ctx,
                &e,
                matches!(verdict, choose::Verdict::Restore { owned: true, .. }),
            );
        }
        let choose::Verdict::Restore { ancestors, .. } = verdict else {
            if e.kind == Kind::File && e.nlink > 1 {
                unrestored_links.insert(e.path.clone(), e);
            }
            continue;
        };
        by_name += u64::from(remapped && e.path != b"/");
        for d in ancestors {
            restore_dir(&ctx, &d);
            dirs.push(d);
        }
        if !opts.owners
            && opts.report_unrestored_owners
            && e.path != b"/"
            && (e.uid != euid || e.gid != egid)
        {
            foreign_owned += 1;
        }
        if e.kind == Kind::Hardlink {
            adopt_link(&mut e, &mut link_alias, &mut unrestored_links);
        }
        if e.kind == Kind::Dir {
            restore_dir(&ctx, &e);
            dirs.push(e);
        } else {
            batch.push(e);
            if batch.len() >= BATCH {
                batch::process_batch(&ctx, std::mem::take(&mut batch));
            }
        }
    }
    batch::process_batch(&ctx, batch);
    if let Some(sweep) = &mut sweep {
        sweep.finish(&ctx);
    }
    crate::interrupt::check()?;
    if !opts.dry_run {
        links::settle(&ctx);
    }
    // An exclude that matches nothing is harmless; an include that does is a mistake.
    let (unmatched, _) = chooser.unmatched();
    if foreign_owned > 0 && !opts.dry_run {
        ctx.report.lock().expect("report").warnings.push(format!(
            "owners of {foreign_owned} object(s) were not restored: they belong to other users and this restore is not running as root"
        ));
    }
    if !unmatched.is_empty() {
        return Err(Error::IncludeMatchesNothing {
            patterns: unmatched,
        });
    }
    if !opts.dry_run {
        finish_dirs(&ctx, &dirs)?;
    }
    progress.finish();
    let mut report = ctx.report.into_inner().expect("report");
    report.owners_by_name = by_name;
    report
        .plan
        .sort_by(|a, b| crate::util::path_cmp(&a.path, &b.path));
    Ok(report)
}

/// What a restore writes (`--include`, `--exclude`) and, with `--delete`, what it removes
/// at or below `roots`.
fn chooser_and_sweep(
    opts: &RestoreOptions,
    roots: &[Vec<u8>],
) -> Result<(choose::Chooser, Option<sweep::Sweep>)> {
    let chooser = choose::Chooser::new(
        &opts.includes,
        &opts.include_patterns,
        &opts.exclude_patterns,
    )?;
    let sweep = if opts.delete {
        Some(sweep::Sweep::new(roots.to_vec(), &opts.exclude_patterns)?)
    } else {
        None
    };
    Ok((chooser, sweep))
}

/// A hard link whose file was left out (`--include`, `--rebase`) becomes the file, and further
/// names link to it (see `Ctx::remember_link`); a link to such a file links to its new name.
fn adopt_link(
    e: &mut Entry,
    link_alias: &mut HashMap<Vec<u8>, Vec<u8>>,
    unrestored_links: &mut HashMap<Vec<u8>, Entry>,
) {
    let t = e.target.clone().unwrap_or_default();
    if let Some(alias) = link_alias.get(&t) {
        e.target = Some(alias.clone());
    } else if let Some(first) = unrestored_links.remove(&t) {
        link_alias.insert(t, e.path.clone());
        e.kind = Kind::File;
        e.target = None;
        e.nlink = e.nlink.max(2);
        e.size = first.size;
        e.content = first.content;
    }
}

/// An entry moved under `--rebase`'s prefix; false when it lies outside (skipped, but kept in
/// `unrestored_links` when a later name inside may link to it: it then becomes the file, keyed
/// with a NUL first, which no tree path has, apart from the rebased paths).
fn rebase_entry(
    e: &mut Entry,
    prefix: &[u8],
    unrestored_links: &mut HashMap<Vec<u8>, Entry>,
) -> Result<bool> {
    let Some(p) = rebase_path(&e.path, prefix) else {
        if e.kind == Kind::File && e.nlink > 1 {
            unrestored_links.insert(outside_key(&e.path), e.clone());
        }
        return Ok(false);
    };
    e.path = p;
    if e.kind == Kind::Hardlink {
        let t = e.target.as_deref().unwrap_or_default();
        e.target = Some(match rebase_path(t, prefix) {
            Some(inside) => inside,
            None if unrestored_links.contains_key(&outside_key(t)) => outside_key(t),
            None => {
                return Err(Error::hostile(
                    e.path_str(),
                    "hard link to a file outside its tree",
                ));
            }
        });
    }
    Ok(true)
}

/// Directory metadata last, deepest first, so writing inside them does not disturb it; then
/// the target's filesystem flushed (`sync`).
fn finish_dirs(ctx: &Ctx<'_>, dirs: &[Entry]) -> Result<()> {
    let opts = ctx.opts;
    for d in dirs.iter().rev() {
        if d.path == b"/" && !opts.root_metadata {
            continue;
        }
        match ctx.target().dir(&d.path, false) {
            Ok(fd) => {
                let mut problems = MetaProblems::default();
                apply_metadata(Obj::Fd(fd.as_fd()), d, opts.owners, &mut problems);
                ctx.warn(&d.path, problems);
            }
            Err(err) => ctx.error(d, &err),
        }
    }
    if opts.sync {
        rustix::fs::syncfs(ctx.target().root_fd())
            .map_err(|e| Error::io(&opts.target, errno_io(e)))?;
    }
    Ok(())
}

fn restore_dir(ctx: &Ctx<'_>, e: &Entry) {
    if ctx.opts.dry_run {
        if ctx
            .target
            .as_ref()
            .is_none_or(|t| t.dir(&e.path, false).is_err())
        {
            ctx.plan("mkdir", e);
        }
        return;
    }
    if ctx.opts.delete && e.path != b"/" {
        // Something else where the snapshot has a directory: --delete makes way for it.
        if let Ok((parent, name)) = ctx.target().parent_of(&e.path, true) {
            let other = kind_at(&parent, name).is_some_and(|k| k != FileType::Directory);
            if other && let Err(err) = sweep::clear(ctx, &parent, name, &e.path) {
                ctx.error(e, &err);
                return;
            }
        }
    }
    match ctx.target().dir(&e.path, true) {
        Ok(_) => ctx.report.lock().expect("report").dirs += 1,
        Err(err) => ctx.error(e, &err),
    }
}

fn kind_at(dir: &OwnedFd, name: &[u8]) -> Option<FileType> {
    rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)
        .ok()
        .map(|st| FileType::from_raw_mode(st.st_mode))
}

fn restore_file(ctx: &Ctx<'_>, e: &Entry) -> Result<FileOutcome> {
    crate::interrupt::check()?;
    let content = e
        .content
        .as_ref()
        .ok_or_else(|| Error::hostile(e.path_str(), "file without content"))?;
    // In a dry run a missing parent just means "would be created".
    let (dir, name) = match &ctx.target {
        None => (None, &b""[..]),
        Some(t) => match t.parent_of(&e.path, !ctx.opts.dry_run) {
            Ok((d, n)) => (Some(d), n),
            Err(_) if ctx.opts.dry_run => (None, &b""[..]),
            Err(err) => return Err(err),
        },
    };
    let existing = dir.as_ref().and_then(|d| kind_at(d, name));
    if let (Some(d), Some(_)) = (&dir, existing)
        && ctx.keeps_existing(e, d, name)
    {
        return Ok(FileOutcome::Skipped);
    }
    if existing == Some(FileType::Directory) {
        match &dir {
            // --delete makes the target match: the directory goes, the file takes its place.
            Some(d) if ctx.opts.delete && !ctx.opts.dry_run => sweep::clear(ctx, d, name, &e.path)?,
            _ if ctx.opts.delete => {}
            _ => {
                return Err(Error::Unsafe(format!(
                    "{} is a directory; remove it (or restore with --delete) to restore this file",
                    ctx.show(&e.path)
                )));
            }
        }
    }
    // An existing regular file is opened once; everything decided about it goes through that
    // descriptor (see `Existing`), so a name swapped in meanwhile is never acted on.
    let present = match (&dir, existing) {
        (Some(d), Some(FileType::RegularFile)) => Existing::open(d, name),
        _ => None,
    };
    if let Some(old) = &present {
        let same_bytes = old.stat.st_size as u64 == e.size
            && ((ctx.opts.overwrite == Overwrite::IfChanged && old.mtime() == e.mtime)
                || crate::util::sha256_of(&old.file).ok() == Some(content.sha256));
        let in_place = match old.in_place(e, ctx.opts.owners) {
            // The other links are checked once every name of the snapshot is in place.
            InPlace::IfLinksAccountedFor if e.nlink > 1 => InPlace::IfLinksAccountedFor,
            InPlace::IfLinksAccountedFor => InPlace::No,
            other => other,
        };
        if same_bytes && in_place != InPlace::No {
            if ctx.opts.dry_run {
                return Ok(FileOutcome::Planned(Planned {
                    action: "keep",
                    path: e.path.clone(),
                    size: e.size,
                }));
            }
            ctx.remember_link(e, &old.file);
            if in_place == InPlace::Yes {
                let mut problems = MetaProblems::default();
                apply_metadata(Obj::Fd(old.file.as_fd()), e, ctx.opts.owners, &mut problems);
                ctx.warn(&e.path, problems);
            } else {
                links::defer(ctx, e, &old.stat);
            }
            return Ok(FileOutcome::Unchanged);
        }
        // Other bytes, or an inode that is linked elsewhere or belongs to someone else: a
        // fresh, verified copy replaces the name and the old inode is left as it was.
    }
    if ctx.opts.dry_run {
        let action = if existing.is_some() {
            "replace"
        } else {
            "create"
        };
        return Ok(FileOutcome::Planned(Planned {
            action,
            path: e.path.clone(),
            size: e.size,
        }));
    }
    let dir = dir.expect("created when not a dry run");
    let n = write_staged(ctx, e, content, &dir, name)?;
    Ok(FileOutcome::Written(n, present.is_some()))
}

/// Write a file under a temporary name in `dir`, verify it, give it its metadata and rename
/// it to `name`: an existing file is replaced only by a complete, verified one.
fn write_staged(
    ctx: &Ctx<'_>,
    e: &Entry,
    content: &Content,
    dir: &OwnedFd,
    name: &[u8],
) -> Result<u64> {
    let (tmp, file) = create_temp(dir).map_err(|err| Error::io(ctx.show(&e.path), err))?;
    let written = write::write_content(ctx, &file, e, content).and_then(|n| {
        let mut problems = MetaProblems::default();
        apply_metadata(Obj::Fd(file.as_fd()), e, ctx.opts.owners, &mut problems);
        ctx.warn(&e.path, problems);
        if ctx.opts.durable {
            file.sync_all()
                .map_err(|err| Error::io(ctx.show(&e.path), err))?;
        }
        ctx.remember_link(e, &file);
        rustix::fs::renameat(dir, tmp.as_str(), dir, name)
            .map_err(|err| Error::io(ctx.show(&e.path), errno_io(err)))?;
        if ctx.opts.durable {
            rustix::fs::fsync(dir).map_err(|err| Error::io(ctx.show(&e.path), errno_io(err)))?;
        }
        Ok(n)
    });
    if written.is_err() {
        let _ = rustix::fs::unlinkat(dir, tmp.as_str(), AtFlags::empty());
    }
    written
}

/// Symlinks, hard links, FIFOs, device nodes and sockets: created under a temporary name,
/// given their metadata, then renamed into place.
fn restore_other(ctx: &Ctx<'_>, e: &Entry) -> Result<()> {
    if ctx.opts.dry_run {
        let at = ctx
            .target
            .as_ref()
            .and_then(|t| t.parent_of(&e.path, false).ok());
        if let Some((d, n)) = &at
            && kind_at(d, n).is_some()
        {
            if ctx.keeps_existing(e, d, n) {
                return Ok(());
            }
            if same::already_there(ctx, e, d, n) {
                ctx.plan("same", e);
                return Ok(());
            }
        }
        ctx.plan(
            match e.kind {
                Kind::Symlink => "symlink",
                Kind::Hardlink => "hardlink",
                _ => "mknod",
            },
            e,
        );
        return Ok(());
    }
    let shown = ctx.show(&e.path);
    let (dir, name) = ctx.target().parent_of(&e.path, true)?;
    let existing = kind_at(&dir, name);
    if existing.is_some() && ctx.keeps_existing(e, &dir, name) {
        return Ok(());
    }
    if existing == Some(FileType::Directory) {
        if !ctx.opts.delete {
            return Err(Error::Unsafe(format!(
                "{shown} is a directory; remove it (or restore with --delete) to restore this {}",
                e.kind.label()
            )));
        }
        sweep::clear(ctx, &dir, name, &e.path)?;
    }
    let tmp = target::temp_name();
    let io = |err: rustix::io::Errno| Error::io(&shown, errno_io(err));
    let mut problems = MetaProblems::default();
    let created = match e.kind {
        Kind::Symlink => {
            let t = e.target.as_deref().unwrap_or_default();
            rustix::fs::symlinkat(t, &*dir, tmp.as_str()).map_err(io)?;
            Some(FileType::Symlink)
        }
        Kind::Hardlink => {
            links::link_restored(ctx, e, &dir, &tmp)?;
            None
        }
        Kind::Fifo | Kind::Chardev | Kind::Blockdev | Kind::Socket => {
            let ft = match e.kind {
                Kind::Fifo => FileType::Fifo,
                Kind::Chardev => FileType::CharacterDevice,
                Kind::Blockdev => FileType::BlockDevice,
                _ => FileType::Socket,
            };
            let is_device = matches!(e.kind, Kind::Chardev | Kind::Blockdev);
            if is_device && !crate::util::is_root() {
                ctx.report.lock().expect("report").warnings.push(format!(
                    "{shown}: device node skipped (creating devices needs root)"
                ));
                return Ok(());
            }
            rustix::fs::mknodat(
                &*dir,
                tmp.as_str(),
                ft,
                Mode::from_raw_mode(e.mode & 0o777),
                e.rdev.unwrap_or(0),
            )
            .map_err(io)?;
            Some(ft)
        }
        Kind::File | Kind::Dir => unreachable!("handled elsewhere"),
    };
    if let Some(kind) = created {
        // Metadata through a descriptor of exactly the object just made (see `open_created`).
        let fd = match open_created(&dir, tmp.as_bytes(), kind) {
            Ok(fd) => fd,
            Err(err) => {
                let _ = rustix::fs::unlinkat(&*dir, tmp.as_str(), AtFlags::empty());
                return Err(Error::io(&shown, err));
            }
        };
        let obj = Obj::Path {
            fd: fd.as_fd(),
            symlink: kind == FileType::Symlink,
        };
        apply_metadata(obj, e, ctx.opts.owners, &mut problems);
    }
    let renamed = rustix::fs::renameat(&*dir, tmp.as_str(), &*dir, name);
    // rename(2) between two links of the same inode succeeds without doing anything (a hard
    // link restored over itself); the temporary name must go in every case.
    let _ = rustix::fs::unlinkat(&*dir, tmp.as_str(), AtFlags::empty());
    renamed.map_err(io)?;
    ctx.warn(&e.path, problems);
    let mut r = ctx.report.lock().expect("report");
    if matches!(e.kind, Kind::Symlink | Kind::Hardlink) {
        r.links += 1
    } else {
        r.special += 1
    }
    Ok(())
}
