//! `stats`: how big snapshots are, in restic's three ways of counting: as restored
//! (`restore-size`), as stored (`raw-data`: the deduplicated blobs they reference, with the
//! index's stored and raw sizes) and by unique file contents (`files-by-contents`).
//!
//! Every tree a snapshot holds is counted: its files and, for Docker snapshots, the deployment
//! tree (volume data and image archives). Trees are walked in parallel; snapshots with the very
//! same tree are walked once.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use rayon::prelude::*;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::id::Id;
use crate::repo::IndexedRepo;
use crate::repo::index::IdSet;
use crate::snapshot::entry::Kind;
use crate::snapshot::manifest::Snapshot;
use crate::snapshot::tree::TreeReader;

/// Blob IDs gathered by one walker before they are merged into the shared set.
const BATCH: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Size of the files as a restore writes them, and their number.
    RestoreSize,
    /// The blobs the snapshots reference, each once: count, stored and raw bytes.
    RawData,
    /// Files with distinct contents (by SHA-256), each counted once.
    FilesByContents,
}

impl Mode {
    pub fn parse(s: &str) -> std::result::Result<Mode, String> {
        match s {
            "restore-size" => Ok(Mode::RestoreSize),
            "raw-data" => Ok(Mode::RawData),
            "files-by-contents" => Ok(Mode::FilesByContents),
            _ => Err(format!(
                "unknown mode {s:?}: restore-size, raw-data or files-by-contents"
            )),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Mode::RestoreSize => "restore-size",
            Mode::RawData => "raw-data",
            Mode::FilesByContents => "files-by-contents",
        }
    }
}

/// The result, with restic's JSON field names.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Stats {
    pub mode: String,
    pub snapshots_count: u64,
    /// restore-size and files-by-contents: bytes of the files; raw-data: bytes stored in packs.
    pub total_size: u64,
    /// restore-size: regular files and hard links; files-by-contents: distinct contents.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_file_count: Option<u64>,
    /// raw-data: distinct blobs (data and tree).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_blob_count: Option<u64>,
    /// raw-data: the blobs' bytes before compression and encryption.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_uncompressed_size: Option<u64>,
    /// raw-data: uncompressed / stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compression_ratio: Option<f64>,
    /// raw-data: referenced blobs the index does not know (their data is lost).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missing_blobs: Option<u64>,
}

/// Accumulated while walking.
#[derive(Default)]
struct Tally {
    size: u64,
    files: u64,
}

/// Count `snapshots` in `mode`. The index must be loaded.
pub fn stats(repo: &IndexedRepo, snapshots: &[(Id, Snapshot)], mode: Mode) -> Result<Stats> {
    // The distinct trees, with how many times each occurs.
    let mut trees: HashMap<&[Id], u64> = HashMap::new();
    for (_, s) in snapshots {
        for t in s.trees() {
            *trees.entry(t).or_default() += 1;
        }
    }
    let trees: Vec<(&[Id], u64)> = trees.into_iter().collect();
    let blobs = Mutex::new(IdSet::default());
    let contents: Mutex<HashSet<[u8; 32]>> = Mutex::new(HashSet::new());
    let unique = Mutex::new(Tally::default());
    let tallies: Vec<Tally> = trees
        .par_iter()
        .map(|&(tree, times)| -> Result<Tally> {
            let mut t = Tally::default();
            let mut batch: Vec<Id> = Vec::new();
            if mode == Mode::RawData {
                batch.extend_from_slice(tree);
            }
            for e in TreeReader::new(repo, tree) {
                crate::interrupt::check()?;
                let e = e?;
                match mode {
                    Mode::RestoreSize => {
                        if matches!(e.kind, Kind::File | Kind::Hardlink) {
                            t.files += times;
                            t.size = t.size.saturating_add(e.size.saturating_mul(times));
                        }
                    }
                    Mode::RawData => {
                        if let Some(c) = e.content {
                            batch.extend(c.chunks);
                            if batch.len() >= BATCH {
                                blobs.lock().expect("blob set").extend(batch.drain(..));
                            }
                        }
                    }
                    Mode::FilesByContents => {
                        if let Some(c) = &e.content
                            && contents.lock().expect("content set").insert(c.sha256)
                        {
                            let mut u = unique.lock().expect("tally");
                            u.files += 1;
                            u.size += e.size;
                        }
                    }
                }
            }
            blobs.lock().expect("blob set").extend(batch);
            Ok(t)
        })
        .collect::<Result<_>>()?;
    let mut out = Stats {
        mode: mode.name().into(),
        snapshots_count: snapshots.len() as u64,
        ..Stats::default()
    };
    match mode {
        Mode::RestoreSize => {
            out.total_size = tallies.iter().map(|t| t.size).sum();
            out.total_file_count = Some(tallies.iter().map(|t| t.files).sum());
        }
        Mode::FilesByContents => {
            let u = unique.into_inner().map_err(|_| poisoned())?;
            out.total_size = u.size;
            out.total_file_count = Some(u.files);
        }
        Mode::RawData => {
            let blobs = blobs.into_inner().map_err(|_| poisoned())?;
            let index = repo.index();
            let (mut stored, mut raw, mut missing) = (0u64, 0u64, 0u64);
            for id in &blobs {
                match index.get(id) {
                    Some(loc) => {
                        stored += u64::from(loc.stored_len);
                        raw += u64::from(loc.raw_len);
                    }
                    None => missing += 1,
                }
            }
            out.total_size = stored;
            out.total_blob_count = Some(blobs.len() as u64);
            out.total_uncompressed_size = Some(raw);
            out.compression_ratio = Some(if stored == 0 {
                1.0
            } else {
                raw as f64 / stored as f64
            });
            out.missing_blobs = Some(missing);
        }
    }
    Ok(out)
}

fn poisoned() -> Error {
    Error::Internal("a stats worker panicked".into())
}
