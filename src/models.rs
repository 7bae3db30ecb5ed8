//! Model integrity: which files of a snapshot are model weights, whether the copies live on
//! this host still have the bytes the snapshot recorded, and what a stored `.safetensors` file
//! holds. A tampered or bit-rotted model on an ML host serves wrong answers without any error;
//! the snapshot's per-file SHA-256 is a trusted reference to check the live files against, and
//! re-hashing them must run at the speed of the disk to be usable on hundreds of GiB of weights.
//!
//! Hashing is parallel across files (rayon, largest first); within a large file a reader thread
//! fills big buffers while the caller's thread hashes the previous one, since SHA-256 itself
//! cannot be split. A size that differs from the recorded one is a modification found without
//! reading the file.

use crate::files::walk::open_for_read;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use rayon::prelude::*;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::repo::Repository;
use crate::snapshot::entry::{Entry, Kind};
use crate::snapshot::manifest::Snapshot;
use crate::snapshot::tree::TreeReader;
use crate::util::{is_within, parent};

/// File extensions (lowercase, without the dot) that mark a file as model weights.
pub const MODEL_EXTENSIONS: &[&str] = &[
    "safetensors",
    "gguf",
    "onnx",
    "bin",
    "pt",
    "pth",
    "ckpt",
    "h5",
    "tflite",
];

/// Largest safetensors header [`safetensors_summary`] reads; a larger length is malformed.
pub const MAX_SAFETENSORS_HEADER: u64 = 100 << 20;

/// Read size of live files; large reads keep the disk streaming and the hasher busy.
const READ_BUF: usize = 8 << 20;
/// Files at least this large are read by a separate thread while the previous buffer hashes.
const PIPELINE_MIN: u64 = 16 << 20;

/// Whether the file name of `path` ends in a model extension (case-insensitive). A leading dot
/// alone is not an extension (`.bin` is a hidden file without one).
pub fn is_model_path(path: &[u8]) -> bool {
    let name = path.rsplit(|&c| c == b'/').next().unwrap_or(path);
    match name.iter().rposition(|&c| c == b'.') {
        Some(i) if i > 0 => {
            let ext = &name[i + 1..];
            MODEL_EXTENSIONS
                .iter()
                .any(|m| ext.eq_ignore_ascii_case(m.as_bytes()))
        }
        _ => false,
    }
}

/// Whether `path` counts as a model: with no `dirs`, by its extension; with `dirs` (normalised
/// absolute directories), every file strictly below one of them.
fn selected(path: &[u8], dirs: &[Vec<u8>]) -> bool {
    if dirs.is_empty() {
        is_model_path(path)
    } else {
        dirs.iter()
            .any(|d| path != d.as_slice() && is_within(path, d))
    }
}

/// The model files a snapshot recorded, in tree order. `dirs` empty: regular files with a
/// model extension; otherwise every regular file under those normalised absolute directories.
/// A hard link is returned as a file with its target's content, so every returned entry has
/// `kind == File` and `content` set. Docker volume data is not included (it has no host path).
pub fn recorded_models(
    repo: &Repository,
    snapshot: &Snapshot,
    dirs: &[Vec<u8>],
) -> Result<Vec<Entry>> {
    let mut out = Vec::new();
    // Files with more than one link, which later hard-link entries may name.
    let mut linked: HashMap<Vec<u8>, (u64, crate::snapshot::entry::Content)> = HashMap::new();
    for e in TreeReader::new(repo, &snapshot.tree) {
        let mut e = e?;
        match e.kind {
            Kind::File => {
                if e.nlink > 1 {
                    if let Some(c) = &e.content {
                        linked.insert(e.path.clone(), (e.size, c.clone()));
                    }
                }
                if selected(&e.path, dirs) {
                    out.push(e);
                }
            }
            Kind::Hardlink if selected(&e.path, dirs) => {
                let target = e.target.as_deref().and_then(|t| linked.get(t));
                let Some((size, content)) = target else {
                    return Err(Error::corrupt(
                        format!("tree entry {}", e.path_str()),
                        "hard link to a file without content",
                    ));
                };
                e.size = *size;
                e.content = Some(content.clone());
                e.kind = Kind::File;
                out.push(e);
            }
            _ => {}
        }
    }
    Ok(out)
}

/// A directory [`verify_live`] looks in for model files the snapshot does not have.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScanDir {
    #[serde(serialize_with = "ser_path")]
    pub path: Vec<u8>,
    /// Look in subdirectories too.
    pub recursive: bool,
    /// Every regular file counts, not only those with a model extension.
    pub every_file: bool,
}

/// Where new model files are looked for: the given directories (recursively, every file), or
/// with none given, the directories holding the recorded models (their direct children with a
/// model extension).
pub fn scan_dirs(models: &[Entry], dirs: &[Vec<u8>]) -> Vec<ScanDir> {
    if !dirs.is_empty() {
        return dirs
            .iter()
            .map(|d| ScanDir {
                path: d.clone(),
                recursive: true,
                every_file: true,
            })
            .collect();
    }
    let parents: BTreeSet<&[u8]> = models.iter().filter_map(|m| parent(&m.path)).collect();
    parents
        .into_iter()
        .map(|p| ScanDir {
            path: p.to_vec(),
            recursive: false,
            every_file: false,
        })
        .collect()
}

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
/// Entries must be files with content (what [`recorded_models`] returns).
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
        progress.warn(w);
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

/// Fill `buf` as far as the file goes; 0 means end of file.
fn read_full(f: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn stopped() -> io::Error {
    io::Error::new(io::ErrorKind::Interrupted, "interrupted")
}

/// SHA-256 and length of everything in `file`. Large files are read by a second thread into
/// rotating buffers so reading and hashing overlap. An `Interrupted` error means a stop was
/// requested.
fn hash_file(mut file: File, size: u64, progress: &dyn Progress) -> io::Result<([u8; 32], u64)> {
    let _ = rustix::fs::fadvise(&file, 0, None, rustix::fs::Advice::Sequential);
    let mut sha = Sha256::new();
    let mut total = 0u64;
    if size < PIPELINE_MIN {
        let mut buf = vec![0u8; (size as usize + 1).min(READ_BUF)];
        loop {
            let n = read_full(&mut file, &mut buf)?;
            if n == 0 {
                break;
            }
            sha.update(&buf[..n]);
            total += n as u64;
            progress.advance(n as u64);
            if crate::interrupt::is_set() {
                return Err(stopped());
            }
        }
        return Ok((sha.finalize().into(), total));
    }
    let (full_tx, full_rx) = crossbeam_channel::bounded::<(Vec<u8>, usize)>(2);
    let (free_tx, free_rx) = crossbeam_channel::bounded::<Vec<u8>>(3);
    for _ in 0..3 {
        let _ = free_tx.send(vec![0u8; READ_BUF]);
    }
    std::thread::scope(|s| {
        let reader = s.spawn(move || -> io::Result<()> {
            // Ends when the file does, or when the hasher hangs up (stop requested).
            while let Ok(mut buf) = free_rx.recv() {
                let n = read_full(&mut file, &mut buf)?;
                if n == 0 || full_tx.send((buf, n)).is_err() {
                    break;
                }
            }
            Ok(())
        });
        let mut stop = false;
        for (buf, n) in &full_rx {
            sha.update(&buf[..n]);
            total += n as u64;
            progress.advance(n as u64);
            if crate::interrupt::is_set() {
                stop = true;
                break;
            }
            let _ = free_tx.send(buf);
        }
        drop(full_rx);
        drop(free_tx);
        let read = reader
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("reader thread panicked")));
        read?;
        if stop {
            return Err(stopped());
        }
        Ok((sha.finalize().into(), total))
    })
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

fn ser_path<S: serde::Serializer>(p: &[u8], s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&crate::escape::lossy(p))
}

/// What the header of a `.safetensors` file declares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TensorSummary {
    /// Number of tensors (the `__metadata__` entry not counted).
    pub tensors: u64,
    /// Tensors per dtype (`F16`, `BF16`, `F32`, ...).
    pub dtypes: BTreeMap<String, u64>,
    /// Total number of elements over all tensors.
    pub parameters: u64,
    /// Length of the JSON header in bytes.
    pub header_len: u64,
    /// Whether the header has a `__metadata__` entry.
    pub has_metadata: bool,
}

/// One tensor's description in a safetensors header.
#[derive(serde::Deserialize)]
struct TensorInfo {
    dtype: String,
    shape: Vec<u64>,
    data_offsets: (u64, u64),
}

/// Bytes per element of the dtypes whose size is a whole number of bytes.
fn dtype_size(dtype: &str) -> Option<u64> {
    Some(match dtype {
        "BOOL" | "U8" | "I8" | "F8_E5M2" | "F8_E4M3" | "F8_E8M0" => 1,
        "U16" | "I16" | "F16" | "BF16" => 2,
        "U32" | "I32" | "F32" => 4,
        "U64" | "I64" | "F64" => 8,
        _ => return None,
    })
}

/// The header's entries, `__metadata__` skipped, without building a JSON tree of it.
struct Header(Vec<TensorInfo>, bool);

impl<'de> serde::Deserialize<'de> for Header {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Header, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Header;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a map of tensor names to tensor descriptions")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Header, A::Error> {
                let mut tensors = Vec::new();
                let mut meta = false;
                while let Some(key) = map.next_key::<String>()? {
                    if key == "__metadata__" {
                        map.next_value::<serde::de::IgnoredAny>()?;
                        meta = true;
                    } else {
                        tensors.push(map.next_value::<TensorInfo>()?);
                    }
                }
                Ok(Header(tensors, meta))
            }
        }
        d.deserialize_map(V)
    }
}

/// Summarise a safetensors file from its first bytes: an 8-byte little-endian header length N,
/// then N bytes of JSON. Reads only the header. `Ok(None)` when the header is malformed (too
/// short, longer than [`MAX_SAFETENSORS_HEADER`], not the expected JSON, inconsistent offsets);
/// `Err` only when the reader fails.
pub fn safetensors_summary(mut reader: impl Read) -> Result<Option<TensorSummary>> {
    let read_err = |e: io::Error| Error::Invalid(format!("reading the safetensors header: {e}"));
    let mut len = [0u8; 8];
    match reader.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(read_err(e)),
    }
    let n = u64::from_le_bytes(len);
    if !(2..=MAX_SAFETENSORS_HEADER).contains(&n) {
        return Ok(None);
    }
    // read_to_end grows as bytes arrive, so a lying length does not allocate up front.
    let mut header = Vec::new();
    reader
        .by_ref()
        .take(n)
        .read_to_end(&mut header)
        .map_err(read_err)?;
    if header.len() as u64 != n {
        return Ok(None);
    }
    let Ok(Header(tensors, has_metadata)) = serde_json::from_slice::<Header>(&header) else {
        return Ok(None);
    };
    let mut s = TensorSummary {
        tensors: tensors.len() as u64,
        dtypes: BTreeMap::new(),
        parameters: 0,
        header_len: n,
        has_metadata,
    };
    for t in tensors {
        let (begin, end) = t.data_offsets;
        let Some(elements) = t.shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d)) else {
            return Ok(None);
        };
        if begin > end {
            return Ok(None);
        }
        if let Some(size) = dtype_size(&t.dtype) {
            if elements.checked_mul(size) != Some(end - begin) {
                return Ok(None);
            }
        }
        let Some(p) = s.parameters.checked_add(elements) else {
            return Ok(None);
        };
        s.parameters = p;
        *s.dtypes.entry(t.dtype).or_default() += 1;
    }
    Ok(Some(s))
}

/// A published checksum list (`sha256sum` output, `SHA256SUMS`): `HEX  NAME` or `HEX *NAME` per
/// line; relative names are relative to the list's directory. Returns absolute path bytes and
/// digests.
pub fn parse_sha256sums(list: &std::path::Path) -> Result<Vec<(Vec<u8>, [u8; 32])>> {
    use std::os::unix::ffi::OsStrExt;
    let text = std::fs::read_to_string(list).map_err(|e| Error::io(list, e))?;
    let dir = list
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default();
    let dir = std::path::absolute(&dir).map_err(|e| Error::io(&dir, e))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_end();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = || {
            Error::Invalid(format!(
                "{}:{}: expected `SHA256  FILE`, got {line:?}",
                list.display(),
                n + 1
            ))
        };
        let (hex_part, rest) = line.split_once(' ').ok_or_else(bad)?;
        let name = rest
            .strip_prefix(' ')
            .or_else(|| rest.strip_prefix('*'))
            .ok_or_else(bad)?;
        let mut digest = [0u8; 32];
        hex::decode_to_slice(hex_part, &mut digest).map_err(|_| bad())?;
        let p = dir.join(name);
        let abs = crate::util::normalize_abs(p.as_os_str().as_bytes()).map_err(|_| bad())?;
        out.push((abs, digest));
    }
    Ok(out)
}

/// Files of a snapshot tree whose recorded SHA-256 differs from the expected one, or that are
/// missing: one line each, naming the file and both digests.
pub fn check_expected(
    repo: &crate::repo::Repository,
    tree: &[crate::id::Id],
    expected: &[(Vec<u8>, [u8; 32])],
) -> Result<Vec<String>> {
    let want: std::collections::HashMap<&[u8], &[u8; 32]> =
        expected.iter().map(|(p, d)| (p.as_slice(), d)).collect();
    let mut seen = std::collections::HashSet::new();
    let mut problems = Vec::new();
    for e in crate::snapshot::tree::TreeReader::new(repo, tree) {
        let e = e?;
        let Some(d) = want.get(e.path.as_slice()) else {
            continue;
        };
        seen.insert(e.path.clone());
        match &e.content {
            Some(c) if &c.sha256 == *d => {}
            Some(c) => problems.push(format!(
                "{}: SHA-256 {} but the list says {}",
                e.path_str(),
                hex::encode(c.sha256),
                hex::encode(d)
            )),
            None => problems.push(format!("{}: not a regular file", e.path_str())),
        }
    }
    for (p, _) in expected {
        if !seen.contains(p) {
            problems.push(format!(
                "{}: listed but not in the snapshot",
                crate::util::show(p)
            ));
        }
    }
    Ok(problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_extensions() {
        assert!(is_model_path(b"/m/model.safetensors"));
        assert!(is_model_path(b"/m/Model.GGUF"));
        assert!(is_model_path(b"/m/w.tar.pt"));
        assert!(!is_model_path(b"/m/config.json"));
        assert!(!is_model_path(b"/m/.bin"));
        assert!(!is_model_path(b"/m.bin/readme"));
        assert!(!is_model_path(b"/m/safetensors"));
    }

    fn st(json: &str) -> Vec<u8> {
        let mut v = (json.len() as u64).to_le_bytes().to_vec();
        v.extend_from_slice(json.as_bytes());
        v.extend_from_slice(&[0u8; 64]);
        v
    }

    #[test]
    fn safetensors_headers() {
        let ok = st(
            r#"{"__metadata__":{"format":"pt","shape":"x"},"a":{"dtype":"F16","shape":[2,3],"data_offsets":[0,12]},"b":{"dtype":"BF16","shape":[4],"data_offsets":[12,20]}}  "#,
        );
        let s = safetensors_summary(&ok[..]).unwrap().unwrap();
        assert_eq!(s.tensors, 2);
        assert_eq!(s.parameters, 10);
        assert!(s.has_metadata);
        assert_eq!(s.dtypes.keys().collect::<Vec<_>>(), ["BF16", "F16"]);
        for bad in [
            st("not json"),
            st(r#"{"a":{"dtype":"F16","shape":[2],"data_offsets":[0,5]}}"#),
            st(r#"{"a":{"dtype":"F16","shape":[2],"data_offsets":[4,0]}}"#),
            st(r#"{"a":{"dtype":"F16","shape":[18446744073709551615,2],"data_offsets":[0,4]}}"#),
            st(r#"{"a":1}"#),
            st("[]"),
            u64::MAX.to_le_bytes().to_vec(),
            100u64.to_le_bytes().to_vec(),
            vec![1, 2, 3],
        ] {
            assert_eq!(safetensors_summary(&bad[..]).unwrap(), None);
        }
    }
}
