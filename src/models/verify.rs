//! Live model files compared with what a snapshot recorded: size first, then SHA-256, files in
//! parallel (rayon, largest first), then the scanned directories searched for model files the
//! snapshot does not have. A size that differs from the recorded one is a modification found
//! without reading the file.

use std::collections::{BTreeMap, HashSet};
use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use rayon::prelude::*;
use serde::Serialize;

use super::hash::hash_file;
use super::{ScanDir, is_model_path};
use crate::error::Result;
use crate::files::walk::open_for_read;
use crate::progress::Progress;
use crate::snapshot::entry::Entry;

/// What a live model file was found to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Same size and SHA-256 as recorded.
    Unchanged,
    /// Different size, different SHA-256, or no longer a regular file.
    Modified,
    /// Nothing at the path.
    Missing,
    /// Present but could not be read (permissions, I/O error): not verified.
    Unreadable,
}

impl Status {
    pub fn label(self) -> &'static str {
        match self {
            Status::Unchanged => "unchanged",
            Status::Modified => "modified",
            Status::Missing => "missing",
            Status::Unreadable => "unreadable",
        }
    }
}

/// One recorded model compared with the live file.
#[derive(Debug, Clone, Serialize)]
pub struct ModelCheck {
    pub path: String,
    pub status: Status,
    /// Size recorded in the snapshot.
    pub size: u64,
    /// Size of the live file, when there is one.
    pub size_now: Option<u64>,
    /// SHA-256 recorded in the snapshot (hex).
    pub sha256: String,
    /// SHA-256 of the live file (hex), when it was hashed.
    pub sha256_now: Option<String>,
    /// Why the file is not unchanged, in words.
    pub detail: Option<String>,
}

/// A model file on the host that the snapshot does not have.
#[derive(Debug, Clone, Serialize)]
pub struct NewFile {
    pub path: String,
    pub size: u64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Counts {
    pub models: u64,
    pub unchanged: u64,
    pub modified: u64,
    pub missing: u64,
    pub unreadable: u64,
    pub new: u64,
}

/// The result of [`verify_live`].
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    pub counts: Counts,
    /// Recorded models in the order given.
    pub models: Vec<ModelCheck>,
    /// Model files found in the scanned directories that the snapshot does not have.
    pub new: Vec<NewFile>,
    pub scanned: Vec<ScanDir>,
    /// Bytes of live files hashed.
    pub bytes_hashed: u64,
    /// Problems while scanning directories (not about recorded models).
    pub warnings: Vec<String>,
}

impl VerifyReport {
    /// Every recorded model unchanged and nothing new.
    pub fn ok(&self) -> bool {
        self.counts.unchanged == self.counts.models && self.counts.new == 0
    }
}

/// Compare the live files at the recorded models' paths with the snapshot: size first, then
/// SHA-256, files in parallel. Then look in `scan` for model files the snapshot lacks.
/// Entries must be files with content (what [`super::recorded_models`] returns).
pub fn verify_live(
    models: &[Entry],
    scan: &[ScanDir],
    progress: &dyn Progress,
) -> Result<VerifyReport> {
    let total: u64 = models.iter().map(|m| m.size).sum();
    progress.start("verify", Some(total));
    // Largest first, so one big file does not start last and run alone.
    let mut order: Vec<usize> = (0..models.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(models[i].size));
    let hashed = AtomicU64::new(0);
    let mut checks: Vec<(usize, ModelCheck)> = order
        .into_par_iter()
        .with_max_len(1)
        .map(|i| (i, check_one(&models[i], progress, &hashed)))
        .collect();
    progress.finish();
    crate::interrupt::check()?;
    checks.sort_by_key(|(i, _)| *i);
    let checks: Vec<ModelCheck> = checks.into_iter().map(|(_, c)| c).collect();

    let recorded: HashSet<&[u8]> = models.iter().map(|m| m.path.as_slice()).collect();
    let mut warnings = Vec::new();
    let new = find_new(scan, &recorded, &mut warnings);
    for w in &warnings {
        progress.warn(crate::observer::Warning::advice(w.clone()));
    }

    let mut counts = Counts {
        models: checks.len() as u64,
        new: new.len() as u64,
        ..Counts::default()
    };
    for c in &checks {
        match c.status {
            Status::Unchanged => counts.unchanged += 1,
            Status::Modified => counts.modified += 1,
            Status::Missing => counts.missing += 1,
            Status::Unreadable => counts.unreadable += 1,
        }
    }
    Ok(VerifyReport {
        counts,
        models: checks,
        new,
        scanned: scan.to_vec(),
        bytes_hashed: hashed.into_inner(),
        warnings,
    })
}

fn check_one(m: &Entry, progress: &dyn Progress, hashed: &AtomicU64) -> ModelCheck {
    let recorded = m.content.as_ref().map(|c| c.sha256).unwrap_or_default();
    let mut check = ModelCheck {
        path: crate::escape::lossy(&m.path),
        status: Status::Unchanged,
        size: m.size,
        size_now: None,
        sha256: hex::encode(recorded),
        sha256_now: None,
        detail: None,
    };
    let set = |check: &mut ModelCheck, status: Status, detail: String| {
        check.status = status;
        check.detail = Some(detail);
    };
    if crate::interrupt::is_set() {
        set(&mut check, Status::Unreadable, "interrupted".into());
        return check;
    }
    let path = Path::new(OsStr::from_bytes(&m.path));
    let file = match open_for_read(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            set(&mut check, Status::Missing, "no file at this path".into());
            return check;
        }
        // O_NOFOLLOW on a symlink.
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            set(
                &mut check,
                Status::Modified,
                "now a symbolic link, recorded as a regular file".into(),
            );
            return check;
        }
        Err(e) => {
            set(&mut check, Status::Unreadable, format!("cannot open: {e}"));
            return check;
        }
    };
    let meta = match file.metadata() {
        Ok(md) => md,
        Err(e) => {
            set(&mut check, Status::Unreadable, format!("cannot stat: {e}"));
            return check;
        }
    };
    if !meta.is_file() {
        set(
            &mut check,
            Status::Modified,
            "no longer a regular file".into(),
        );
        return check;
    }
    check.size_now = Some(meta.len());
    if meta.len() != m.size {
        set(
            &mut check,
            Status::Modified,
            format!("size {} bytes, recorded {}", meta.len(), m.size),
        );
        return check;
    }
    progress.item(&check.path);
    match hash_file(file, meta.len(), progress) {
        Ok((digest, n)) => {
            hashed.fetch_add(n, Ordering::Relaxed);
            check.sha256_now = Some(hex::encode(digest));
            if n != m.size {
                check.size_now = Some(n);
                set(
                    &mut check,
                    Status::Modified,
                    format!("size changed while reading: {n} bytes"),
                );
            } else if digest != recorded {
                set(&mut check, Status::Modified, "SHA-256 differs".into());
            }
        }
        Err(e) if e.kind() == io::ErrorKind::Interrupted => {
            set(&mut check, Status::Unreadable, "interrupted".into());
        }
        Err(e) => set(&mut check, Status::Unreadable, format!("read error: {e}")),
    }
    check
}

/// Regular files in the scan directories that pass the model test and were not recorded.
fn find_new(
    scan: &[ScanDir],
    recorded: &HashSet<&[u8]>,
    warnings: &mut Vec<String>,
) -> Vec<NewFile> {
    let mut found: BTreeMap<Vec<u8>, u64> = BTreeMap::new();
    for d in scan {
        let root = Path::new(OsStr::from_bytes(&d.path));
        let walker = walkdir::WalkDir::new(root)
            .follow_links(false)
            .min_depth(1)
            .max_depth(if d.recursive { usize::MAX } else { 1 });
        for de in walker {
            let de = match de {
                Ok(de) => de,
                // A model directory that is gone: its models are already reported missing.
                Err(e)
                    if e.depth() == 0
                        && e.io_error().map(io::Error::kind) == Some(io::ErrorKind::NotFound) =>
                {
                    break;
                }
                Err(e) => {
                    warnings.push(format!("scanning {}: {e}", root.display()));
                    continue;
                }
            };
            if !de.file_type().is_file() {
                continue;
            }
            let p = de.path().as_os_str().as_bytes();
            if recorded.contains(p) || found.contains_key(p) || !(d.every_file || is_model_path(p))
            {
                continue;
            }
            match de.metadata() {
                Ok(md) => {
                    found.insert(p.to_vec(), md.len());
                }
                Err(e) => warnings.push(format!("{}: {e}", de.path().display())),
            }
        }
    }
    found
        .into_iter()
        .map(|(p, size)| NewFile {
            path: crate::escape::lossy(&p),
            size,
        })
        .collect()
}
