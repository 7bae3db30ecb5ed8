//! Model integrity: which files of a snapshot are model weights, whether the copies live on
//! this host still have the bytes the snapshot recorded, and what a stored `.safetensors` file
//! holds. A tampered or bit-rotted model on an ML host serves wrong answers without any error;
//! the snapshot's per-file SHA-256 is a trusted reference to check the live files against, and
//! re-hashing them must run at the speed of the disk to be usable on hundreds of GiB of weights.
//!
//! Here: what counts as a model and which a snapshot recorded. [`verify`] compares them with the
//! live files (hashing in `hash`), [`safetensors`] reads a header, [`checksums`] holds a
//! snapshot to a published `SHA256SUMS` list.

pub mod checksums;
mod hash;
pub mod safetensors;
pub mod verify;

use std::collections::{BTreeSet, HashMap};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::repo::IndexedRepo;
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
    repo: &IndexedRepo,
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
                if e.nlink > 1
                    && let Some(c) = &e.content
                {
                    linked.insert(e.path.clone(), (e.size, c.clone()));
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

/// A directory [`verify::verify_live`] looks in for model files the snapshot does not have.
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

fn ser_path<S: serde::Serializer>(p: &[u8], s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&crate::escape::lossy(p))
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
}
