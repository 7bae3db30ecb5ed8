//! `prune`: delete data no snapshot references and repack packs that are mostly unused.
//!
//! Order of work makes every interruption harmless: (1) copy still-used blobs out of packs to
//! be repacked into new packs; (2) write a complete new index; (3) delete the old index files;
//! (4) delete the emptied packs. Until (2) the old index is valid; after (2) the new one is;
//! data is deleted only once no index points at it. Leftover packs of an interrupted run are
//! simply unindexed and removed by the next prune.

use serde::Serialize;

use crate::error::{Error, Result};
use crate::id::Id;
use crate::progress::Progress;
use crate::repo::index::{IdMap, IdSet, IndexBlob, IndexFile, IndexPack};
use crate::repo::{FileType, LockKind, Repository};
use crate::snapshot::select;

#[derive(Debug, Clone)]
pub struct PruneOptions {
    /// Repack a pack when at least this share of it is unused (0.0 ..= 1.0).
    pub repack_threshold: f64,
    pub dry_run: bool,
    pub lock_wait: std::time::Duration,
}

impl Default for PruneOptions {
    fn default() -> Self {
        PruneOptions {
            repack_threshold: 0.2,
            dry_run: false,
            lock_wait: std::time::Duration::ZERO,
        }
    }
}

#[derive(Debug, Default, Serialize)]
pub struct PruneReport {
    pub packs_total: usize,
    pub packs_deleted: usize,
    pub packs_repacked: usize,
    pub packs_unindexed_deleted: usize,
    pub blobs_used: usize,
    pub blobs_removed: usize,
    pub bytes_before: u64,
    pub bytes_freed: u64,
    pub bytes_repacked: u64,
    pub index_files_replaced: usize,
    pub temporary_files_removed: usize,
}

const BLOBS_PER_INDEX_FILE: usize = 100_000;

pub fn prune(
    repo: &Repository,
    opts: &PruneOptions,
    progress: &dyn Progress,
) -> Result<PruneReport> {
    let _lock = repo.lock(LockKind::Exclusive, "prune", opts.lock_wait)?;
    let mut report = PruneReport::default();
    let index_files = repo.read_index_files()?;
    // Blobs are read for repacking through the index: make it this moment's, not the one
    // loaded before the lock (another prune may have run in between).
    let mut current = crate::repo::Index::default();
    for (_, f) in &index_files {
        current.add_file(f);
    }
    repo.replace_index(current);
    let old_index_ids: Vec<Id> = index_files.iter().map(|(id, _)| *id).collect();
    // Packs in the index, with their blobs; the first copy of a blob wins.
    let mut packs: IdMap<IndexPack> = IdMap::default();
    for (_, f) in &index_files {
        for p in &f.packs {
            packs
                .entry(p.id)
                .or_insert_with(|| IndexPack {
                    id: p.id,
                    blobs: Vec::new(),
                })
                .blobs
                .extend(p.blobs.iter().copied());
        }
    }
    let on_disk: IdSet = repo.list_ids(FileType::Pack)?.into_iter().collect();
    for id in packs.keys() {
        if !on_disk.contains(id) {
            return Err(Error::corrupt(
                format!("pack {id}"),
                "indexed but missing; run `lifeboat verify` and fix the repository before pruning",
            ));
        }
    }
    repo.load_index()?;
    let snapshots = select::all_strict(repo)?;
    let used = super::referenced_blobs(repo, &snapshots)?;
    for id in &used {
        if !repo.index().contains(id) {
            return Err(Error::MissingBlob(*id));
        }
    }
    report.blobs_used = used.len();
    report.packs_total = on_disk.len();

    // Classify packs.
    let mut seen = IdSet::default();
    let mut keep: Vec<IndexPack> = Vec::new();
    let mut delete: Vec<Id> = Vec::new();
    let mut repack: Vec<(Id, Vec<IndexBlob>)> = Vec::new();
    let mut ids: Vec<&Id> = packs.keys().collect();
    ids.sort();
    for pid in ids {
        let p = &packs[pid];
        let size: u64 = p.blobs.iter().map(|b| u64::from(b.3)).sum();
        report.bytes_before += size;
        let mut live = Vec::new();
        let mut live_bytes = 0u64;
        for b in &p.blobs {
            if used.contains(&b.1) && seen.insert(b.1) {
                live.push(*b);
                live_bytes += u64::from(b.3);
            }
        }
        report.blobs_removed += p.blobs.len() - live.len();
        if live.is_empty() {
            delete.push(*pid);
            report.bytes_freed += size;
        } else if live.len() == p.blobs.len() {
            keep.push(p.clone());
        } else if (size - live_bytes) as f64 >= opts.repack_threshold * size as f64 {
            report.bytes_freed += size - live_bytes;
            report.bytes_repacked += live_bytes;
            repack.push((*pid, live));
        } else {
            keep.push(IndexPack {
                id: *pid,
                blobs: live,
            });
        }
    }
    let unindexed: Vec<Id> = on_disk
        .iter()
        .filter(|p| !packs.contains_key(*p))
        .copied()
        .collect();
    report.packs_deleted = delete.len();
    report.packs_repacked = repack.len();
    report.packs_unindexed_deleted = unindexed.len();
    let nothing_to_do =
        delete.is_empty() && repack.is_empty() && unindexed.is_empty() && keep.len() == packs.len();
    if opts.dry_run || (nothing_to_do && index_files.len() <= 1 + keep.len() / 1000) {
        if !opts.dry_run {
            report.temporary_files_removed = repo
                .backend()
                .clean_temporary(std::time::Duration::from_secs(86400))
                .unwrap_or(0);
        }
        return Ok(report);
    }

    // (1) Repack: copy authenticated live blobs into new packs.
    let writer = repo.pack_writer();
    progress.start("repack", Some(report.bytes_repacked));
    for (pid, live) in &repack {
        crate::interrupt::check()?;
        for &(kind, id, offset, stored_len, raw_len) in live {
            let loc = crate::repo::Location {
                pack: *pid,
                kind,
                offset,
                stored_len,
                raw_len,
            };
            let sealed = repo.read_pack_range(pid, u64::from(offset), stored_len as usize)?;
            repo.open_blob(kind, &id, &loc, &sealed)?;
            writer.add(kind, id, raw_len, sealed)?;
            progress.advance(u64::from(stored_len));
        }
    }
    let finished = writer.finish()?;
    progress.finish();

    // (2) A complete new index.
    let mut all: Vec<IndexPack> = keep;
    all.extend(finished.packs);
    let mut file = IndexFile::default();
    for p in all {
        file.packs.push(p);
        if file.blob_count() >= BLOBS_PER_INDEX_FILE {
            repo.save_sealed(FileType::Index, &std::mem::take(&mut file))?;
        }
    }
    if !file.packs.is_empty() {
        repo.save_sealed(FileType::Index, &file)?;
    }
    // (3) Old index files, including the checkpoints the repack wrote.
    for id in old_index_ids.iter().chain(finished.index_files.iter()) {
        repo.backend()
            .remove(FileType::Index, &id.to_hex())
            .map_err(|e| Error::io(format!("index {id}"), e))?;
    }
    report.index_files_replaced = old_index_ids.len();
    // (4) Packs no index points at any more.
    for id in delete
        .iter()
        .chain(repack.iter().map(|(p, _)| p))
        .chain(unindexed.iter())
    {
        repo.backend()
            .remove(FileType::Pack, &id.to_hex())
            .map_err(|e| Error::io(format!("pack {id}"), e))?;
    }
    report.temporary_files_removed = repo
        .backend()
        .clean_temporary(std::time::Duration::from_secs(86400))
        .unwrap_or(0);
    repo.replace_index(crate::repo::Index::default());
    repo.load_index()?;
    Ok(report)
}
