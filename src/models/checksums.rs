//! A snapshot held to a published checksum list (`SHA256SUMS`): `snapshot --expect-sha256`
//! fails when a listed file's recorded SHA-256 differs or the file is missing.

use std::collections::{HashMap, HashSet};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::error::{Error, Result};
use crate::id::Id;
use crate::repo::IndexedRepo;
use crate::snapshot::entry::Entry;
use crate::snapshot::tree::TreeReader;

/// A published checksum list (`sha256sum` output, `SHA256SUMS`): `HEX  NAME` or `HEX *NAME` per
/// line; relative names are relative to the list's directory. Returns absolute path bytes and
/// digests.
pub fn parse_sha256sums(list: &Path) -> Result<Vec<(Vec<u8>, [u8; 32])>> {
    let text = std::fs::read_to_string(list).map_err(|e| Error::io(list, e))?;
    let dir = list.parent().map(Path::to_path_buf).unwrap_or_default();
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
    repo: &IndexedRepo,
    tree: &[Id],
    expected: &[(Vec<u8>, [u8; 32])],
) -> Result<Vec<String>> {
    check_expected_in(TreeReader::new(repo, tree), expected)
}

/// Like [`check_expected`], over entries the caller has (a write-only host's record of the
/// tree it wrote, which it cannot read back).
pub fn check_expected_in(
    entries: impl IntoIterator<Item = Result<Entry>>,
    expected: &[(Vec<u8>, [u8; 32])],
) -> Result<Vec<String>> {
    let want: HashMap<&[u8], &[u8; 32]> = expected.iter().map(|(p, d)| (p.as_slice(), d)).collect();
    let mut seen = HashSet::new();
    let mut problems = Vec::new();
    for e in entries {
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
