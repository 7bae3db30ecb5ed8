//! Copying snapshots from one repository into another (restic's `copy`), on any backend.
//!
//! Chunk IDs are keyed by each repository's secret, so a copy cannot move packs: every blob a
//! snapshot references is read from the source (authenticated there), stored in the
//! destination under its destination ID (deduplicated against what the destination holds,
//! sealed with its keys), and every structure that names blob IDs is rewritten: the tree
//! streams (re-encoded with the translated chunk IDs) and the snapshot description (its tree
//! lists). [`translate`] is that one translation, for every tree stream a snapshot has
//! ([`Snapshot::trees_mut`]), so a section with a tree of its own (the deployment's volume data
//! and image archives) needs nothing of its own here.
//!
//! A copy keeps everything the user sees: time, hostname, username, paths, tags, selection,
//! excludes, summary, the deployment and host sections. It records the source snapshot's first
//! ID in `original` (as restic does), and a source snapshot is skipped when the destination
//! holds a snapshot with that `original` and the same time, hostname, username, paths, tags
//! and excludes: a second run copies nothing. `parent` names the copy of the source's parent
//! when the destination holds one, else nothing.
//!
//! Data blobs keep the source's chunk boundaries (the destination's chunker is not run again),
//! which is what lets [`ChunkMap::learn`] pair the chunks of an earlier copy with the source's
//! without reading data: a snapshot sharing most of its data with one copied before reads only
//! its new chunks.
//!
//! Locks: a shared lock on the source and one on the destination (as a snapshot takes). The
//! destination's packs are indexed at checkpoints and when a snapshot's blobs are done, and the
//! snapshot file is written last, after the commit check of FORMAT.md §11: an interrupted copy
//! leaves a valid destination whose stored blobs the next run reuses.

mod translate;

use std::collections::HashMap;

use serde::Serialize;

pub use translate::{ChunkMap, Moved};

use crate::error::{Error, Result};
use crate::id::Id;
use crate::progress::Progress;
use crate::repo::index::IdSet;
use crate::repo::writer::WriteStats;
use crate::repo::{Capability, FileType, IndexedRepo, LockKind, Repository};
use crate::snapshot::group::Group;
use crate::snapshot::manifest::Snapshot;
use crate::snapshot::select::{self, Filter};

/// Which repository an error or a message is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Source,
    Destination,
}

impl Side {
    pub fn label(self) -> &'static str {
        match self {
            Side::Source => "source",
            Side::Destination => "destination",
        }
    }

    /// `source repository /srv/lifeboat`: how messages name the repository.
    pub fn name(self, repo: &Repository) -> String {
        format!("{} repository {}", self.label(), repo.backend().location())
    }
}

/// An error of one side's repository, naming it (`source repository /srv/a: pack ...`), with
/// its variant kept so that it maps to the same exit code.
pub fn named(side: Side, repo: &Repository, e: Error) -> Error {
    let name = side.name(repo);
    match e {
        Error::Corrupt { object, reason } => Error::Corrupt {
            object: format!("{name}: {object}"),
            reason,
        },
        Error::Hostile { object, reason } => Error::Hostile {
            object: format!("{name}: {object}"),
            reason,
        },
        Error::MissingBlob(id) => Error::corrupt(
            format!("{name}: blob {id}"),
            "not in the index (the repository is missing data)",
        ),
        Error::Locked(what) => Error::Locked(format!("{name}: {what}")),
        Error::NoSuchSnapshot(what) => Error::NoSuchSnapshot(format!("{what} in the {name}")),
        Error::NoSnapshots => Error::Invalid(format!("the {name} has no snapshots")),
        e @ (Error::Io { .. } | Error::Invalid(_) | Error::AmbiguousSnapshot(..)) => {
            Error::Invalid(format!("{name}: {e}"))
        }
        other => other,
    }
}

/// What to copy.
#[derive(Debug, Clone, Default)]
pub struct CopyOptions {
    /// Snapshots of the source by name (`latest`, ID prefixes); empty: every snapshot `filter`
    /// matches.
    pub specs: Vec<String>,
    pub filter: Filter,
    /// Decide what would be copied and read; write nothing.
    pub dry_run: bool,
}

/// One snapshot copied (or, in a dry run, to be copied).
#[derive(Debug, Clone, Serialize)]
pub struct Copied {
    /// Its ID in the source.
    pub source: Id,
    /// The copy's ID in the destination (`None` in a dry run).
    pub destination: Option<Id>,
    pub time: String,
    pub hostname: String,
    pub paths: Vec<String>,
    pub tags: Vec<String>,
    /// Data blobs read from the source for it (a dry run: to be read), and their bytes.
    pub blobs_read: u64,
    pub bytes_read: u64,
    /// What was stored in the destination for it (tree blobs included).
    pub stored: WriteStats,
}

/// A snapshot the destination already holds a copy of.
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    pub source: Id,
    /// The copy in the destination.
    pub destination: Id,
    pub time: String,
    pub hostname: String,
}

/// What [`copy`] did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CopyReport {
    pub dry_run: bool,
    pub copied: Vec<Copied>,
    pub skipped: Vec<Skipped>,
    /// Data blobs read from the source (a dry run: to be read), and their bytes.
    pub blobs_read: u64,
    pub bytes_read: u64,
    /// Chunks whose destination ID was learned from copies made before, without reading them.
    pub blobs_learned: u64,
    /// What was stored in the destination: new blobs (data and tree), their bytes before and
    /// after compression and encryption, packs.
    pub stored: WriteStats,
}

/// Whether `copy` (in the destination) is a copy of `s`, judged as restic does: everything the
/// user sees of the snapshot is the same (the trees cannot be compared: their IDs differ).
fn same_snapshot(s: &Snapshot, copy: &Snapshot) -> bool {
    let sorted = |t: &[String]| {
        let mut t = t.to_vec();
        t.sort();
        t
    };
    s.time == copy.time
        && s.hostname == copy.hostname
        && s.username == copy.username
        && s.paths == copy.paths
        && s.excludes == copy.excludes
        && sorted(&s.tags) == sorted(&copy.tags)
}

/// The source snapshot's identity, as its copies record it in `original`.
fn identity(id: Id, s: &Snapshot) -> Id {
    s.original.unwrap_or(id)
}

/// Copy the selected snapshots of `source` into `destination`.
pub fn copy(
    source: &Repository,
    destination: &Repository,
    opts: &CopyOptions,
    progress: &dyn Progress,
) -> Result<CopyReport> {
    let (s, d) = (Side::Source, Side::Destination);
    source
        .require(Capability::Read)
        .map_err(|e| named(s, source, e))?;
    if !opts.dry_run {
        destination
            .require(Capability::Write)
            .map_err(|e| named(d, destination, e))?;
    }
    if source.config().id == destination.config().id {
        return Err(Error::Invalid(format!(
            "the source ({}) and the destination ({}) are the same repository",
            source.backend().location(),
            destination.backend().location()
        )));
    }
    let _source_lock = source
        .lock(LockKind::Shared, "copy")
        .map_err(|e| named(s, source, e))?;
    let _destination_lock = destination
        .lock(LockKind::Shared, "copy")
        .map_err(|e| named(d, destination, e))?;
    // Indexed under the locks: no prune changes either index meanwhile.
    let src = &source.indexed().map_err(|e| named(s, source, e))?;
    let dst = &destination
        .indexed()
        .map_err(|e| named(d, destination, e))?;

    let picked = select::pick(src, &opts.specs, &opts.filter).map_err(|e| named(s, src, e))?;
    let everything = select::all(src).map_err(|e| named(s, src, e))?;
    let present = select::all(dst).map_err(|e| named(d, dst, e))?;
    // Source snapshot ID -> its copy in the destination.
    let mut copies = existing_copies(&everything, &present);

    let mut report = CopyReport {
        dry_run: opts.dry_run,
        ..CopyReport::default()
    };
    let mut todo: Vec<(Id, Snapshot)> = Vec::new();
    for (id, snap) in picked {
        match copies.get(&id) {
            Some(&copy) => report.skipped.push(Skipped {
                source: id,
                destination: copy,
                time: snap.time.clone(),
                hostname: snap.hostname.clone(),
            }),
            None => todo.push((id, snap)),
        }
    }
    // Oldest first, so that a parent's copy exists before its child's.
    todo.sort_by(|a, b| a.1.time().cmp(&b.1.time()).then(a.0.cmp(&b.0)));

    if todo.is_empty() {
        return Ok(report);
    }
    let mut map = ChunkMap::default();
    report.blobs_learned =
        learn_from_copies(&mut map, src, dst, &todo, &everything, &present, &copies);

    let planned = if opts.dry_run || progress.visible() {
        Some(plan(&map, src, dst, &todo)?)
    } else {
        None
    };
    if opts.dry_run {
        let per_snapshot = planned.map(|p| p.per_snapshot).unwrap_or_default();
        for ((id, snap), moved) in todo.iter().zip(per_snapshot) {
            report.blobs_read += moved.blobs;
            report.bytes_read += moved.bytes;
            report
                .copied
                .push(copied(*id, None, snap, moved, WriteStats::default()));
        }
        return Ok(report);
    }
    progress.start("copy", planned.as_ref().map(|p| p.total.bytes));
    if let Some(p) = &planned {
        progress.totals(p.total.bytes, p.files);
    }
    for (id, snap) in &todo {
        crate::interrupt::check()?;
        let (new, moved, stored) = copy_one(&mut map, src, dst, *id, snap, &copies, progress)?;
        copies.insert(*id, new);
        report.blobs_read += moved.blobs;
        report.bytes_read += moved.bytes;
        add_stats(&mut report.stored, &stored);
        report
            .copied
            .push(copied(*id, Some(new), snap, moved, stored));
    }
    progress.finish();
    Ok(report)
}

fn copied(id: Id, new: Option<Id>, snap: &Snapshot, moved: Moved, stored: WriteStats) -> Copied {
    Copied {
        source: id,
        destination: new,
        time: snap.time.clone(),
        hostname: snap.hostname.clone(),
        paths: snap.paths_display(),
        tags: snap.tags.clone(),
        blobs_read: moved.blobs,
        bytes_read: moved.bytes,
        stored,
    }
}

fn add_stats(total: &mut WriteStats, more: &WriteStats) {
    total.blobs += more.blobs;
    total.raw_bytes += more.raw_bytes;
    total.stored_bytes += more.stored_bytes;
    total.packs += more.packs;
}

/// Source snapshot ID -> the ID of its copy among the destination's snapshots.
fn existing_copies(source: &[(Id, Snapshot)], destination: &[(Id, Snapshot)]) -> HashMap<Id, Id> {
    // Keyed as the source's snapshots are: a snapshot copied back to where it came from is
    // the one it was copied from.
    let mut by_original: HashMap<Id, Vec<(Id, &Snapshot)>> = HashMap::new();
    for (id, s) in destination {
        by_original
            .entry(identity(*id, s))
            .or_default()
            .push((*id, s));
    }
    let mut out = HashMap::new();
    for (id, s) in source {
        let found = by_original
            .get(&identity(*id, s))
            .and_then(|v| v.iter().find(|(_, c)| same_snapshot(s, c)));
        if let Some((copy, _)) = found {
            out.insert(*id, *copy);
        }
    }
    out
}

/// Teach `map` the chunks of earlier copies related to what is to be copied: for each snapshot
/// to copy, the copy of its parent, or else of the newest copied snapshot of its group. Returns
/// the number of chunks learned.
fn learn_from_copies(
    map: &mut ChunkMap,
    src: &IndexedRepo,
    dst: &IndexedRepo,
    todo: &[(Id, Snapshot)],
    everything: &[(Id, Snapshot)],
    present: &[(Id, Snapshot)],
    copies: &HashMap<Id, Id>,
) -> u64 {
    let by_id = |list: &[(Id, Snapshot)], id: Id| -> Option<Snapshot> {
        list.iter().find(|(i, _)| *i == id).map(|(_, s)| s.clone())
    };
    let mut learned_from: IdSet = IdSet::default();
    let mut learned = 0;
    for (_, snap) in todo {
        let group = Group::of(snap);
        let related = snap.parent.filter(|p| copies.contains_key(p)).or_else(|| {
            everything
                .iter()
                .rev()
                .filter(|(i, s)| {
                    copies.contains_key(i) && s.time() <= snap.time() && Group::of(s) == group
                })
                .map(|(i, _)| *i)
                .next()
        });
        let Some(from_id) = related else { continue };
        let copy_id = copies[&from_id];
        if !learned_from.insert(copy_id) {
            continue;
        }
        if let (Some(from), Some(copy)) = (by_id(everything, from_id), by_id(present, copy_id)) {
            learned += map.learn(src, &from, dst, &copy);
        }
    }
    learned
}

/// What a copy of `todo` would read from the source.
struct Plan {
    per_snapshot: Vec<Moved>,
    total: Moved,
    files: u64,
}

fn plan(
    map: &ChunkMap,
    src: &IndexedRepo,
    dst: &IndexedRepo,
    todo: &[(Id, Snapshot)],
) -> Result<Plan> {
    let mut planned = IdSet::default();
    let mut p = Plan {
        per_snapshot: Vec::with_capacity(todo.len()),
        total: Moved::default(),
        files: 0,
    };
    for (_, snap) in todo {
        let (moved, files) = map.plan(src, dst, snap, &mut planned)?;
        p.total.blobs += moved.blobs;
        p.total.bytes += moved.bytes;
        p.files += files;
        p.per_snapshot.push(moved);
    }
    Ok(p)
}

/// Copy one snapshot: translate its trees into the destination, then save its description
/// there (after the commit check). Returns the copy's ID, what was read and what was stored.
fn copy_one(
    map: &mut ChunkMap,
    src: &IndexedRepo,
    dst: &IndexedRepo,
    id: Id,
    snap: &Snapshot,
    copies: &HashMap<Id, Id>,
    progress: &dyn Progress,
) -> Result<(Id, Moved, WriteStats)> {
    let d = Side::Destination;
    let mut copy = snap.clone();
    let mut moved = Moved::default();
    let writer = dst.pack_writer();
    let run = copy.trees_mut().try_for_each(|tree| {
        let (ids, m) = map.translate_tree(src, &writer, tree, progress)?;
        *tree = ids;
        moved.blobs += m.blobs;
        moved.bytes += m.bytes;
        Ok::<(), Error>(())
    });
    // Even a failed or interrupted copy indexes the packs it wrote, so the next run reuses them.
    let finished = writer.finish();
    run?;
    let stored = finished.map_err(|e| named(d, dst, e))?.stats;
    copy.original = Some(identity(id, snap));
    copy.parent = snap.parent.and_then(|p| copies.get(&p).copied());
    // What this copy reused rather than wrote must still be there (a prune may have run).
    dst.secure_references(|| crate::snapshot::tree::referenced_blobs(dst, [&copy]))
        .map_err(|e| named(d, dst, e))?;
    let new = dst
        .save_sealed(FileType::Snapshot, &copy)
        .map_err(|e| named(d, dst, e))?;
    Ok((new, moved, stored))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::crypto::KdfParams;
    use crate::repo::{Backend, LocalBackend};

    fn snap(time: &str, tags: &[&str]) -> Snapshot {
        Snapshot {
            version: 1,
            time: time.into(),
            hostname: "h".into(),
            username: "u".into(),
            tags: tags.iter().map(|t| (*t).to_string()).collect(),
            paths: vec![serde_bytes::ByteBuf::from(b"/srv".to_vec())],
            parent: None,
            original: None,
            tree: vec![Id::random()],
            summary: Default::default(),
            excludes: vec![],
            program: String::new(),
            deployment: None,
            host: None,
            selection: None,
        }
    }

    #[test]
    fn a_copy_is_found_by_original_and_what_users_see() {
        let (a, b, c) = (Id::random(), Id::random(), Id::random());
        let source = vec![
            (a, snap("2026-01-01T00:00:00Z", &["x", "y"])),
            (b, snap("2026-01-02T00:00:00Z", &[])),
            (c, snap("2026-01-03T00:00:00Z", &[])),
        ];
        let copy_of = |id: Id, s: &Snapshot| Snapshot {
            original: Some(id),
            tree: vec![Id::random()],
            ..s.clone()
        };
        let (ca, cb) = (Id::random(), Id::random());
        let mut retagged = copy_of(b, &source[1].1);
        retagged.tags = vec!["changed".into()];
        let mut reordered = copy_of(a, &source[0].1);
        reordered.tags = vec!["y".into(), "x".into()];
        let destination = vec![(ca, reordered), (cb, retagged)];
        let found = existing_copies(&source, &destination);
        assert_eq!(found.get(&a), Some(&ca), "tags compare as a set");
        assert_eq!(found.get(&b), None, "different tags: not the same snapshot");
        assert_eq!(found.get(&c), None);
        // A snapshot copied back: the destination's copy names it as its original.
        let back = existing_copies(&destination, &source);
        assert_eq!(back.get(&ca), Some(&a));
    }

    #[test]
    fn errors_name_their_repository_and_keep_their_class() {
        let d = tempfile::tempdir().unwrap();
        let b: Arc<dyn Backend> = Arc::new(LocalBackend::new(d.path().join("r")));
        let repo = Repository::init(b, b"pw", KdfParams::new(8192, 1, 1)).unwrap();
        let id = Id::random();
        for (e, integrity) in [
            (Error::MissingBlob(id), true),
            (Error::corrupt("pack 1", "truncated"), true),
            (Error::hostile("tree entry /x", "out of order"), true),
            (Error::Invalid("bad".into()), false),
            (
                Error::io("pack 1", std::io::Error::other("disk on fire")),
                false,
            ),
        ] {
            let named = named(Side::Source, &repo, e);
            assert_eq!(named.is_integrity(), integrity, "{named}");
            assert!(
                named.to_string().starts_with("source repository "),
                "{named}"
            );
        }
        let locked = named(Side::Destination, &repo, Error::Locked("held".into()));
        assert!(matches!(&locked, Error::Locked(m) if m.starts_with("destination repository")));
        assert!(matches!(
            named(Side::Source, &repo, Error::Interrupted),
            Error::Interrupted
        ));
    }
}
