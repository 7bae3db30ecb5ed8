//! `verify`: prove the repository is whole. Structure: every index file opens, every indexed
//! blob is where its pack header says, every blob a snapshot uses is indexed. With
//! `read_data`: every blob of every pack is decrypted, decompressed and hashed.

use std::sync::Mutex;

use rayon::prelude::*;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::id::Id;
use crate::progress::Progress;
use crate::repo::index::{IdMap, IdSet};
use crate::repo::pack::{PackEntry, PackHeader};
use crate::repo::published::VerifiedBlob;
use crate::repo::{FileType, IndexedRepo, LockKind, Repository};
use crate::snapshot::select;
use crate::snapshot::tree::TreeReader;

#[derive(Debug, Default, Clone)]
pub struct VerifyOptions {
    pub read_data: bool,
    /// Only read packs whose ID falls in slice `n` of `m` (1-based), to spread reading over runs.
    pub subset: Option<(u32, u32)>,
}

#[derive(Debug, Default, Serialize)]
pub struct VerifyReport {
    pub snapshots: usize,
    pub index_files: usize,
    pub packs: usize,
    pub blobs: usize,
    pub packs_read: usize,
    pub bytes_read: u64,
    pub errors: Vec<String>,
    pub warnings: Vec<String>,
    /// The verified list this run published for write-only hosts (format version 2, a full
    /// `--read-data` without `--subset`): its name in `keys/`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub published: Option<String>,
    /// Blobs on that list.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified_blobs: Option<usize>,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.errors.is_empty()
    }
}

/// Verify the repository: the index files, the pack headers against them, the snapshots'
/// blobs against the index and, with `read_data`, every blob of the selected packs.
pub fn verify(
    repo: &Repository,
    opts: &VerifyOptions,
    progress: &dyn Progress,
) -> Result<VerifyReport> {
    let _lock = repo.lock(LockKind::Shared, "verify")?;
    let mut report = VerifyReport::default();
    let (indexed, by_pack) = load_index_files(repo, &mut report)?;
    let repo = &indexed;
    let headers = check_packs(repo, &by_pack, progress, &mut report)?;
    check_snapshots(repo, &mut report)?;
    if opts.read_data {
        let intact = read_data(repo, &headers, opts.subset, progress, &mut report)?;
        // The blobs hosts may deduplicate against: read in full and intact, in live packs.
        if opts.subset.is_none() && repo.keys().owner_secret().is_some() && repo.access().write {
            let index = repo.index();
            let live: Vec<VerifiedBlob> = intact
                .into_iter()
                .filter(|b| !index.is_condemned(&b.2))
                .collect();
            drop(index);
            report.verified_blobs = Some(live.len());
            report.published = Some(repo.publish_verified(live)?);
        }
    }
    Ok(report)
}

/// Where the index says a pack's blobs are.
type Listed = Vec<(Id, crate::repo::Location)>;

/// Index files: each must open on its own. Returns a handle indexed by what they hold, and
/// each pack's blobs as listed.
fn load_index_files(
    repo: &Repository,
    report: &mut VerifyReport,
) -> Result<(IndexedRepo, IdMap<Listed>)> {
    let mut by_pack: IdMap<Listed> = IdMap::default();
    let mut good = Vec::new();
    for id in repo.list_ids(FileType::Index)? {
        report.index_files += 1;
        match repo.load_sealed::<crate::repo::IndexFile>(FileType::Index, &id) {
            Ok(f) => {
                for p in &f.packs {
                    let list = by_pack.entry(p.id).or_default();
                    for &(kind, bid, offset, stored_len, raw_len) in &p.blobs {
                        list.push((
                            bid,
                            crate::repo::Location {
                                pack: p.id,
                                kind,
                                offset,
                                stored_len,
                                raw_len,
                                run: crate::repo::Location::NO_RUN,
                            },
                        ));
                    }
                }
                good.push((id, f));
            }
            Err(e) => report.errors.push(e.to_string()),
        }
    }
    let indexed = repo.indexed_from(&good);
    report.blobs = indexed.index().len();
    Ok((indexed, by_pack))
}

/// Packs: present, headers authentic and agreeing with the index. Returns the headers read.
fn check_packs(
    repo: &Repository,
    by_pack: &IdMap<Listed>,
    progress: &dyn Progress,
    report: &mut VerifyReport,
) -> Result<IdMap<PackHeader>> {
    let on_disk: IdSet = repo.list_ids(FileType::Pack)?.into_iter().collect();
    report.packs = on_disk.len();
    for p in &on_disk {
        if !by_pack.contains_key(p) {
            report.warnings.push(format!(
                "pack {p} is not in the index (left by an interrupted run; `prune` removes it)"
            ));
        }
    }
    let errors = Mutex::new(Vec::new());
    let packs: Vec<(&Id, &Listed)> = by_pack.iter().collect();
    progress.start("headers", Some(packs.len() as u64));
    let headers: IdMap<PackHeader> = packs
        .par_iter()
        .filter_map(|(pack, listed)| {
            progress.advance(1);
            if !on_disk.contains(pack) {
                errors.lock().expect("errors").push(format!(
                    "pack {pack}: indexed but missing ({} blobs lost)",
                    listed.len()
                ));
                return None;
            }
            match repo.read_pack_header(pack) {
                Ok(h) => {
                    let mut offsets = IdMap::default();
                    let mut off = 0u32;
                    for e in &h.entries {
                        offsets.insert(e.id, (off, e.stored_len, e.raw_len, e.kind));
                        off += e.stored_len;
                    }
                    for (bid, loc) in listed.iter() {
                        if offsets.get(bid)
                            != Some(&(loc.offset, loc.stored_len, loc.raw_len, loc.kind))
                        {
                            errors.lock().expect("errors").push(format!(
                                "pack {pack}: blob {bid} is not where the index says"
                            ));
                        }
                    }
                    Some((**pack, h))
                }
                Err(e) => {
                    errors.lock().expect("errors").push(e.to_string());
                    None
                }
            }
        })
        .collect();
    progress.finish();
    report.errors.extend(errors.into_inner().expect("errors"));
    Ok(headers)
}

/// Snapshots: every referenced blob indexed.
fn check_snapshots(repo: &IndexedRepo, report: &mut VerifyReport) -> Result<()> {
    let select::Loaded {
        good: snaps,
        damaged,
    } = select::load_all(repo)?;
    report.snapshots = snaps.len() + damaged.len();
    report
        .errors
        .extend(damaged.iter().map(|(_, e)| e.to_string()));
    for (sid, s) in &snaps {
        // Version 2: a snapshot by a host key signed after the owner revoked it is not trusted.
        if let Some(crate::repo::Signer::Host(h)) = repo.snapshot_signer(sid)?
            && h.revoked_before(&s.time)
        {
            report.errors.push(format!(
                "snapshot {sid}: written by host key {} of {} at {}, after the owner revoked it ({})",
                &h.host_id[..8],
                h.hostname,
                s.time,
                h.revoked.as_deref().unwrap_or_default()
            ));
        }
        let mut missing = 0usize;
        let mut first_missing = None;
        for tree in s.trees() {
            let before = missing;
            for t in tree {
                if !repo.index().contains(t) {
                    missing += 1;
                    first_missing.get_or_insert_with(|| format!("tree blob {t}"));
                }
            }
            if missing > before {
                continue;
            }
            for e in TreeReader::new(repo, tree) {
                match e {
                    Ok(e) => {
                        if let Some(c) = &e.content {
                            for id in &c.chunks {
                                if !repo.index().contains(id) {
                                    missing += 1;
                                    first_missing.get_or_insert_with(|| {
                                        format!("{} (blob {id})", e.path_str())
                                    });
                                }
                            }
                        }
                    }
                    Err(err) => {
                        report.errors.push(format!("snapshot {sid}: {err}"));
                        break;
                    }
                }
            }
        }
        if missing > 0 {
            report.errors.push(format!(
                "snapshot {sid}: {missing} blob(s) missing, first: {}",
                first_missing.unwrap_or_default()
            ));
        }
    }
    Ok(())
}

/// Read every blob of the packs in slice `subset` (all without one), in parallel.
/// Returns the blobs that were read and found intact.
fn read_data(
    repo: &Repository,
    headers: &IdMap<PackHeader>,
    subset: Option<(u32, u32)>,
    progress: &dyn Progress,
    report: &mut VerifyReport,
) -> Result<Vec<VerifiedBlob>> {
    let selected: Vec<(&Id, &PackHeader)> = headers
        .iter()
        .filter(|(id, _)| match subset {
            None => true,
            Some((n, m)) => u32::from(id.0[0]) % m == (n - 1) % m,
        })
        .collect();
    let total: u64 = selected
        .iter()
        .map(|(_, h)| {
            h.entries
                .iter()
                .map(|e| u64::from(e.stored_len))
                .sum::<u64>()
        })
        .sum();
    progress.start("read data", Some(total));
    let errs = Mutex::new(Vec::new());
    let intact = Mutex::new(Vec::new());
    selected.par_iter().for_each(|(pack, header)| {
        if crate::interrupt::is_set() {
            return;
        }
        let mut good = Vec::new();
        if let Err(e) = read_pack(repo, pack, header, &mut good, progress) {
            errs.lock().expect("errors").push(e.to_string());
        }
        intact.lock().expect("intact").extend(good);
    });
    progress.finish();
    crate::interrupt::check()?;
    report.packs_read = selected.len();
    report.bytes_read = total;
    report.errors.extend(errs.into_inner().expect("errors"));
    Ok(intact.into_inner().expect("intact"))
}

/// Decrypt, decompress and hash every blob of one pack; the intact ones go to `good`.
fn read_pack(
    repo: &Repository,
    pack: &Id,
    header: &PackHeader,
    good: &mut Vec<VerifiedBlob>,
    progress: &dyn Progress,
) -> Result<()> {
    let entries: &[PackEntry] = &header.entries;
    let body: u64 = entries.iter().map(|e| u64::from(e.stored_len)).sum();
    let bytes = repo.read_pack_range(pack, 0, body as usize)?;
    let mut off = 0usize;
    let mut first_err: Option<Error> = None;
    let mut bad = 0;
    for e in entries {
        let sealed = &bytes[off..off + e.stored_len as usize];
        let loc = crate::repo::Location {
            pack: *pack,
            kind: e.kind,
            offset: off as u32,
            stored_len: e.stored_len,
            raw_len: e.raw_len,
            run: crate::repo::Location::NO_RUN,
        };
        match repo.open_blob(e.kind, &e.id, &loc, header.run.as_ref(), sealed) {
            Ok(_) => good.push((e.kind, e.id, *pack, loc.offset, e.stored_len, e.raw_len)),
            Err(err) => {
                bad += 1;
                first_err.get_or_insert(err);
            }
        }
        off += e.stored_len as usize;
        progress.advance(u64::from(e.stored_len));
    }
    match first_err {
        None => Ok(()),
        Some(Error::Corrupt { object, reason }) if bad > 1 => Err(Error::Corrupt {
            object,
            reason: format!("{reason} (and {} more damaged blobs in this pack)", bad - 1),
        }),
        Some(e) => Err(e),
    }
}
