//! `prune`: delete data no snapshot references and repack packs that are mostly unused, in two
//! phases (FORMAT.md §11).
//!
//! A snapshot that began before a prune may have deduplicated against blobs no saved snapshot
//! references yet; locks are meant to keep prune out meanwhile, but a lock can be misjudged
//! (a host whose clock runs ahead, a crashed host's lock cleared by hand, object storage with no
//! atomic rename). So no prune deletes data it has just found unused. Phase 1 *condemns* the
//! packs nothing references (and the packs it repacked): they stay readable, but writers stop
//! deduplicating against them. Phase 2, in a later prune at least the grace period after the
//! condemnation, deletes a condemned pack only if still no snapshot needs a blob that lives
//! only there; a condemned pack a snapshot needs is taken back into use. A writer whose run
//! outlasts the grace period is caught at commit (`repo::commit`).
//!
//! Order of work makes every interruption harmless: (1) copy still-used blobs out of packs to
//! be repacked into new packs; (2) write a complete new index; (3) delete the old index files;
//! (4) delete the packs phase 2 allows. Until (2) the old index is valid; after (2) the new
//! one is; data is deleted only once no index points at it.

use std::time::Duration;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::id::Id;
use crate::progress::Progress;
use crate::repo::index::{IdMap, IdSet, IndexBlob, IndexFile, IndexPack};
use crate::repo::{FileType, IndexedRepo, LockKind, Repository};
use crate::snapshot::select;

/// How long a condemned pack stays before a prune may delete it. Just under a day, so that a
/// daily prune deletes what the previous day's prune condemned.
pub const DEFAULT_GRACE: Duration = crate::config::PRUNE_GRACE;

#[derive(Debug, Clone)]
pub struct PruneOptions {
    /// Repack a pack when at least this share of it is unused (0.0 ..= 1.0).
    pub repack_threshold: f64,
    /// How long after its condemnation a pack may be deleted.
    pub grace: Duration,
    pub dry_run: bool,
}

impl Default for PruneOptions {
    fn default() -> Self {
        PruneOptions {
            repack_threshold: 0.2,
            grace: DEFAULT_GRACE,
            dry_run: false,
        }
    }
}

#[derive(Debug, Default, Serialize)]
pub struct PruneReport {
    pub packs_total: usize,
    /// Packs deleted by this run (condemned by an earlier run, grace period over).
    pub packs_deleted: usize,
    /// Packs this run condemned: nothing references them (or their blobs were repacked).
    pub packs_condemned: usize,
    /// Condemned packs still within their grace period.
    pub packs_pending: usize,
    /// Condemned packs taken back into use because a snapshot references them.
    pub packs_rescued: usize,
    pub packs_repacked: usize,
    /// Packs found on storage that no index listed (a writer still running, or one that
    /// died): condemned like unused packs, never deleted at once.
    pub packs_unindexed: usize,
    pub blobs_used: usize,
    pub blobs_removed: usize,
    pub bytes_before: u64,
    /// Bytes deleted by this run.
    pub bytes_freed: u64,
    /// Bytes condemned or pending: freed by a later prune after the grace period.
    pub bytes_pending: u64,
    pub bytes_repacked: u64,
    /// When the earliest pending pack may be deleted (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_deletion: Option<String>,
    pub index_files_replaced: usize,
    pub temporary_files_removed: usize,
}

const BLOBS_PER_INDEX_FILE: usize = 100_000;

/// A pack as every index file together describes it.
struct Known {
    pack: IndexPack,
    /// Earliest condemnation in any index file.
    condemned: Option<chrono::DateTime<chrono::Utc>>,
    /// Index files disagree on the run that sealed the pack (one of them is damaged or a
    /// host's forgery): its own header decides.
    disputed: bool,
}

fn parse_time(t: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(t)
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
}

fn stored_size(p: &IndexPack) -> u64 {
    p.blobs.iter().map(|b| u64::from(b.3)).sum()
}

/// Prune: decide for every pack (keep, repack, condemn, rescue, delete) from the index files
/// and the snapshots, then carry the decision out in the order the module comment gives.
pub fn prune(
    repo: &Repository,
    opts: &PruneOptions,
    progress: &dyn Progress,
) -> Result<PruneReport> {
    let _lock = repo.lock(LockKind::Exclusive, "prune")?;
    let now = chrono::Utc::now();
    let grace = chrono::Duration::from_std(opts.grace).unwrap_or(chrono::Duration::MAX);
    let mut report = PruneReport::default();
    let index_files = repo.read_index_files()?;
    // Blobs are read for repacking through the index: it is this moment's, read strictly under
    // the lock (a prune that ran before may have replaced index files and packs).
    let repo = &repo.indexed_from(&index_files);
    let old_index_ids: Vec<Id> = index_files.iter().map(|(id, _)| *id).collect();

    let mut known = known_packs(&index_files, now);
    settle_disputed_runs(repo, &mut known)?;
    let on_disk: IdSet = repo.list_ids(FileType::Pack)?.into_iter().collect();
    for (id, k) in &known {
        if k.condemned.is_none() && !on_disk.contains(id) {
            return Err(Error::corrupt(
                format!("pack {id}"),
                "indexed but missing; run `lifeboat verify` and fix the repository before pruning",
            ));
        }
    }
    let unindexed = unindexed_packs(repo, &on_disk, &known)?;
    report.packs_unindexed = unindexed.len();

    let snapshots = select::all_strict(repo)?;
    let used = super::referenced_blobs(repo, &snapshots)?;
    for id in &used {
        if !repo.index().contains(id)
            && !unindexed.iter().any(|p| p.blobs.iter().any(|b| b.1 == *id))
        {
            return Err(Error::MissingBlob(*id));
        }
    }
    report.blobs_used = used.len();
    report.packs_total = on_disk.len();

    let mut d = Decision::default();
    d.phase1(&known, unindexed, &used, opts.repack_threshold, &mut report);
    report.packs_condemned = d.condemn.len();
    d.phase2(&known, &on_disk, &used, now, grace, &mut report)?;
    d.summarize(now, grace, &mut report);
    let nothing_to_do = d.delete.is_empty()
        && d.repack.is_empty()
        && d.condemn.is_empty()
        && report.packs_rescued == 0
        && report.packs_unindexed == 0;
    if opts.dry_run || (nothing_to_do && index_files.len() <= 1 + d.keep.len() / 1000) {
        if !opts.dry_run {
            report.temporary_files_removed = repo
                .backend()
                .clean_temporary(Duration::from_secs(86400))
                .unwrap_or(0);
        }
        return Ok(report);
    }

    // (1) Repack: copy authenticated live blobs into new packs.
    let finished = repack(repo, &d.repack, report.bytes_repacked, progress)?;
    // (2) A complete new index: live packs, then the condemned ones with their time.
    let delete = std::mem::take(&mut d.delete);
    let condemned_now: Vec<Id> = d.condemn.iter().map(|p| p.id).collect();
    d.write_index(repo, finished.packs, now)?;
    // Version 2: tell write-only hosts, which cannot read the index, to stop deduplicating
    // against these packs (FORMAT.md §13.4).
    if !condemned_now.is_empty() && repo.keys().owner_secret().is_some() {
        repo.publish_condemned(condemned_now)?;
    }
    // (3) Old index files, including the checkpoints the repack wrote.
    for id in old_index_ids.iter().chain(finished.index_files.iter()) {
        repo.delete_index_file(id)?;
    }
    report.index_files_replaced = old_index_ids.len();
    // (4) Packs condemned long enough ago that nothing needs.
    for id in &delete {
        repo.delete_pack(id)?;
    }
    report.temporary_files_removed = repo
        .backend()
        .clean_temporary(Duration::from_secs(86400))
        .unwrap_or(0);
    Ok(report)
}

/// Every pack the index files list, with all the blobs any of them lists for it and its
/// earliest condemnation.
fn known_packs(
    index_files: &[(Id, IndexFile)],
    now: chrono::DateTime<chrono::Utc>,
) -> IdMap<Known> {
    let mut known: IdMap<Known> = IdMap::default();
    for (_, f) in index_files {
        for p in &f.packs {
            let k = known.entry(p.id).or_insert_with(|| Known {
                pack: IndexPack {
                    id: p.id,
                    blobs: Vec::new(),
                    condemned: None,
                    run: p.run.clone(),
                },
                condemned: None,
                disputed: false,
            });
            k.disputed |= k.pack.run != p.run;
            for b in &p.blobs {
                if !k.pack.blobs.iter().any(|x| x.1 == b.1) {
                    k.pack.blobs.push(*b);
                }
            }
            if let Some(t) = &p.condemned {
                // An unreadable time counts as "just now": the pack waits a full grace period.
                let t = parse_time(t).unwrap_or(now);
                k.condemned = Some(k.condemned.map_or(t, |c| c.min(t)));
            }
        }
    }
    known
}

/// The run of every pack whose index entries disagree on it, from the pack's header (an
/// unreadable header leaves the first claim).
fn settle_disputed_runs(repo: &Repository, known: &mut IdMap<Known>) -> Result<()> {
    for (id, k) in known.iter_mut().filter(|(_, k)| k.disputed) {
        match repo.read_pack_header(id) {
            Ok(h) => k.pack.run = h.run.map(|e| serde_bytes::ByteBuf::from(e.to_vec())),
            Err(e) if e.is_integrity() => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Packs no index lists: a writer that is still running (it indexes its packs at checkpoints)
/// or one that died. Indexed from their own headers, by ID.
fn unindexed_packs(
    repo: &Repository,
    on_disk: &IdSet,
    known: &IdMap<Known>,
) -> Result<Vec<IndexPack>> {
    let mut unindexed: Vec<IndexPack> = Vec::new();
    let mut ids: Vec<&Id> = on_disk.iter().filter(|p| !known.contains_key(*p)).collect();
    ids.sort();
    for id in ids {
        let (blobs, run) = match repo.read_pack_header(id) {
            Ok(header) => {
                let mut offset = 0u32;
                let blobs = header
                    .entries
                    .iter()
                    .map(|e| {
                        let b = (e.kind, e.id, offset, e.stored_len, e.raw_len);
                        offset = offset.saturating_add(e.stored_len);
                        b
                    })
                    .collect();
                (blobs, header.run)
            }
            // A damaged leftover: nothing can use it; it goes after the grace period.
            Err(e) if e.is_integrity() => (Vec::new(), None),
            Err(e) => return Err(e),
        };
        unindexed.push(IndexPack {
            id: *id,
            blobs,
            condemned: None,
            run: run.map(|e| serde_bytes::ByteBuf::from(e.to_vec())),
        });
    }
    Ok(unindexed)
}

/// A pack whose used blobs are copied out: its ID, the run that sealed it, those blobs.
type Repack = (Id, Option<[u8; 32]>, Vec<IndexBlob>);

/// What happens to every pack, decided in full before anything is written.
#[derive(Default)]
struct Decision {
    /// Used blobs already kept: each is kept in one pack only.
    seen: IdSet,
    keep: Vec<IndexPack>,
    /// Condemned by this run (with the packs repacked).
    condemn: Vec<IndexPack>,
    /// Packs whose used blobs are copied out.
    repack: Vec<Repack>,
    /// Condemned earlier and still within the grace period, with their condemnation time.
    pending: Vec<(IndexPack, chrono::DateTime<chrono::Utc>)>,
    /// Condemned earlier, grace period over, nothing needs them.
    delete: Vec<Id>,
}

impl Decision {
    /// Phase 1 over the live packs: keep, repack or condemn; then the unindexed packs: anything
    /// a snapshot uses is taken into use, the rest is condemned.
    fn phase1(
        &mut self,
        known: &IdMap<Known>,
        unindexed: Vec<IndexPack>,
        used: &IdSet,
        repack_threshold: f64,
        report: &mut PruneReport,
    ) {
        let mut live_ids: Vec<&Id> = known
            .iter()
            .filter(|(_, k)| k.condemned.is_none())
            .map(|(id, _)| id)
            .collect();
        live_ids.sort();
        for pid in live_ids {
            let p = &known[pid].pack;
            let size = stored_size(p);
            report.bytes_before += size;
            let mut live = Vec::new();
            let mut live_bytes = 0u64;
            for b in &p.blobs {
                if used.contains(&b.1) && self.seen.insert(b.1) {
                    live.push(*b);
                    live_bytes += u64::from(b.3);
                }
            }
            report.blobs_removed += p.blobs.len() - live.len();
            if live.is_empty() {
                self.condemn.push(p.clone());
            } else if live.len() < p.blobs.len()
                && (size - live_bytes) as f64 >= repack_threshold * size as f64
            {
                report.bytes_repacked += live_bytes;
                self.repack.push((*pid, p.run_key(), live));
                self.condemn.push(p.clone());
            } else {
                // Unused blobs of a kept pack stay indexed: a running writer may use them.
                self.keep.push(p.clone());
            }
        }
        for p in unindexed {
            report.bytes_before += stored_size(&p);
            if p.blobs
                .iter()
                .any(|b| used.contains(&b.1) && self.seen.insert(b.1))
            {
                self.keep.push(p);
            } else {
                self.condemn.push(p);
            }
        }
    }

    /// Phase 2 over the packs condemned earlier: rescue what a snapshot needs, delete what the
    /// grace period allows, carry the rest.
    fn phase2(
        &mut self,
        known: &IdMap<Known>,
        on_disk: &IdSet,
        used: &IdSet,
        now: chrono::DateTime<chrono::Utc>,
        grace: chrono::Duration,
        report: &mut PruneReport,
    ) -> Result<()> {
        let mut condemned_ids: Vec<(&Id, chrono::DateTime<chrono::Utc>)> = known
            .iter()
            .filter_map(|(id, k)| Some((id, k.condemned?)))
            .collect();
        condemned_ids.sort();
        for (pid, when) in condemned_ids {
            let k = &known[pid];
            let size = stored_size(&k.pack);
            report.bytes_before += size;
            let needed = k
                .pack
                .blobs
                .iter()
                .filter(|b| used.contains(&b.1) && !self.seen.contains(&b.1))
                .count();
            if !on_disk.contains(pid) {
                if needed > 0 {
                    return Err(Error::corrupt(
                        format!("pack {pid}"),
                        format!(
                            "condemned and gone, yet {needed} blob(s) only it held are referenced; run `lifeboat verify`"
                        ),
                    ));
                }
                // Deleted by an interrupted prune after its index was written: forget it.
                continue;
            }
            if needed > 0 {
                for b in &k.pack.blobs {
                    self.seen.insert(b.1);
                }
                report.packs_rescued += 1;
                self.keep.push(k.pack.clone());
            } else if when + grace <= now {
                report.bytes_freed += size;
                self.delete.push(*pid);
            } else {
                report.bytes_pending += size;
                self.pending.push((k.pack.clone(), when));
            }
        }
        Ok(())
    }

    /// The report's counts of what was decided, and when the next deletion is due.
    fn summarize(
        &self,
        now: chrono::DateTime<chrono::Utc>,
        grace: chrono::Duration,
        report: &mut PruneReport,
    ) {
        report.packs_deleted = self.delete.len();
        report.packs_pending = self.pending.len() + self.condemn.len();
        report.packs_repacked = self.repack.len();
        report.bytes_pending += self
            .condemn
            .iter()
            .map(stored_size)
            .sum::<u64>()
            .saturating_sub(report.bytes_repacked);
        let next = self
            .pending
            .iter()
            .map(|(_, t)| *t)
            .chain((!self.condemn.is_empty()).then_some(now))
            .min();
        report.next_deletion = next.map(|t| (t + grace).to_rfc3339());
    }

    /// Step (2): a complete new index of the kept packs, the `repacked` ones, then the
    /// condemned ones with their time (this run's condemnations stamped `now`).
    fn write_index(
        self,
        repo: &Repository,
        repacked: Vec<IndexPack>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<()> {
        let stamp = now.to_rfc3339();
        let mut all: Vec<IndexPack> = self.keep;
        all.extend(repacked);
        all.extend(self.condemn.into_iter().map(|mut p| {
            p.condemned = Some(stamp.clone());
            p
        }));
        all.extend(self.pending.into_iter().map(|(mut p, t)| {
            p.condemned = Some(t.to_rfc3339());
            p
        }));
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
        Ok(())
    }
}

/// Step (1): copy the authenticated live blobs of the packs to repack into new packs.
fn repack(
    repo: &IndexedRepo,
    repack: &[Repack],
    bytes: u64,
    progress: &dyn Progress,
) -> Result<crate::repo::writer::Finished> {
    let writer = repo.pack_writer();
    progress.start("repack", Some(bytes));
    for (pid, run, live) in repack {
        crate::interrupt::check()?;
        for &(kind, id, offset, stored_len, raw_len) in live {
            let loc = crate::repo::Location {
                pack: *pid,
                kind,
                offset,
                stored_len,
                raw_len,
                run: crate::repo::Location::NO_RUN,
            };
            let sealed = repo.read_packed(pid, u64::from(offset), stored_len as usize)?;
            let sealed = repo.reseal_blob(kind, &id, &loc, run.as_ref(), &sealed)?;
            writer.add(kind, id, raw_len, sealed)?;
            progress.advance(u64::from(stored_len));
        }
    }
    let finished = writer.finish()?;
    progress.finish();
    Ok(finished)
}
