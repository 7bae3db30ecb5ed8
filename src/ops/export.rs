//! Exporting one snapshot into a single-file archive (`lifeboat export`): a repository of its
//! own, with fresh keys and its own password, holding exactly what the snapshot needs (its
//! files, its Docker deployment with image archives and volume data, its host profile), in one
//! file that `--from FILE` reads in place (docs/FORMAT.md §12).
//!
//! An export is a copy (`ops::copy`) into a new repository made on an
//! [`ArchiveWriter`](crate::repo::ArchiveWriter): the copy re-encrypts every blob under the
//! archive's keys and rewrites the snapshot's trees with the archive's chunk IDs. The archive
//! repository gets the source's chunking and pack parameters and compression. The file is
//! written under a temporary name beside the output and renamed only when complete, so an
//! export that fails or is interrupted leaves no archive under the output's name.

use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;

use crate::crypto::KdfParams;
use crate::error::{Error, Result};
use crate::id::Id;
use crate::observer::Renamed;
use crate::ops::copy::{CopyOptions, copy};
use crate::progress::Progress;
use crate::repo::{ArchiveMeta, ArchiveWriter, Backend, Capability, Repository};
use crate::snapshot::select::{self, Filter, Need};

/// What to export, and where.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    /// The snapshot (`latest` or an ID prefix), within `filter`.
    pub spec: String,
    pub filter: Filter,
    /// The archive file to write.
    pub output: PathBuf,
    /// Replace an existing file at `output`.
    pub replace: bool,
    /// Say what would be exported and read; write no archive.
    pub dry_run: bool,
    /// Key derivation for the archive's password.
    pub kdf: KdfParams,
}

/// What [`export`] did.
#[derive(Debug, Clone, Serialize)]
pub struct ExportReport {
    pub dry_run: bool,
    /// The archive file.
    pub archive: PathBuf,
    /// The snapshot's ID in the repository it was exported from.
    pub source_snapshot: Id,
    /// Its ID in the archive (`None` in a dry run).
    pub snapshot: Option<Id>,
    /// The archive repository's ID, hex (`None` in a dry run).
    pub repository: Option<String>,
    pub time: String,
    pub hostname: String,
    pub paths: Vec<String>,
    pub tags: Vec<String>,
    /// Size of the archive file (0 in a dry run).
    pub bytes: u64,
    /// Blobs stored in the archive (data and tree), their bytes before compression, packs.
    pub blobs: u64,
    pub raw_bytes: u64,
    pub packs: u64,
    /// Data blobs read from the source (a dry run: to be read), and their bytes.
    pub blobs_read: u64,
    pub bytes_read: u64,
}

/// Export the snapshot `opts.spec` of `source` into a new archive protected by `password`.
pub fn export(
    source: &Repository,
    password: &[u8],
    opts: &ExportOptions,
    progress: &dyn Progress,
) -> Result<ExportReport> {
    source.require(Capability::Read)?;
    let (source_id, snap) = select::resolve(source, &opts.spec, &opts.filter, &Need::default())?;
    if source.password_opens(password)? {
        return Err(Error::Invalid(format!(
            "the archive password also opens the repository {}: an archive needs a password of its own",
            source.backend().location()
        )));
    }
    let writer = Arc::new(ArchiveWriter::start(&opts.output, opts.replace)?);
    let backend: Arc<dyn Backend> = writer.clone();
    let mut archive = Repository::init_with(
        backend,
        password,
        opts.kdf.clone(),
        &source.config().layout(),
    )?;
    archive.set_compression(source.compression());
    let copied = copy(
        source,
        &archive,
        &CopyOptions {
            specs: vec![source_id.to_hex()],
            filter: opts.filter.clone(),
            dry_run: opts.dry_run,
        },
        &Renamed {
            inner: progress,
            phase: "export",
        },
    )?;
    let one = match copied.copied.as_slice() {
        [one] if one.source == source_id => one.clone(),
        _ => {
            return Err(Error::Internal(format!(
                "export of snapshot {source_id} copied {} snapshot(s)",
                copied.copied.len()
            )));
        }
    };
    let mut report = ExportReport {
        dry_run: opts.dry_run,
        archive: opts.output.clone(),
        source_snapshot: source_id,
        snapshot: one.destination,
        repository: None,
        time: snap.time.clone(),
        hostname: snap.hostname.clone(),
        paths: snap.paths_display(),
        tags: snap.tags.clone(),
        bytes: 0,
        blobs: copied.stored.blobs,
        raw_bytes: copied.stored.raw_bytes,
        packs: copied.stored.packs,
        blobs_read: copied.blobs_read,
        bytes_read: copied.bytes_read,
    };
    let Some(new) = one.destination else {
        // A dry run: the writer removes its temporary file when dropped.
        return Ok(report);
    };
    crate::interrupt::check()?;
    let meta = ArchiveMeta {
        repository: archive.config().id.clone(),
        snapshot: new,
        source_snapshot: Some(source_id),
    };
    report.repository = Some(hex::encode(&meta.repository));
    drop(archive);
    report.bytes = writer.finish(&meta, opts.replace)?;
    Ok(report)
}
