//! Differences between two snapshots, by merging their (sorted) tree streams. It reads only
//! entries, so it is part of the format layer: `diff` and Docker's volume drift report use it.

use std::cmp::Ordering;

use serde::Serialize;

use super::entry::Entry;
use super::manifest::Snapshot;
use super::tree::{Subtree, TreeReader};
use crate::error::Result;
use crate::id::Id;
use crate::repo::IndexedRepo;
use crate::util::path_cmp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    Added,
    Removed,
    /// Content differs.
    Modified,
    /// The kind of object differs (file became symlink, ...).
    Type,
    /// Only metadata differs (mode, owner, times, xattrs, link target).
    Metadata,
}

impl Change {
    pub fn symbol(self) -> char {
        match self {
            Change::Added => '+',
            Change::Removed => '-',
            Change::Modified => 'M',
            Change::Type => 'T',
            Change::Metadata => 'U',
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct DiffItem {
    pub change: Change,
    /// The exact path (`path`, and `path_hex` when it is not UTF-8, in JSON); shown to people
    /// through [`crate::util::show`].
    #[serde(flatten, serialize_with = "crate::escape::path_fields")]
    pub path: Vec<u8>,
    /// Which metadata fields differ (for `metadata` changes).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<&'static str>,
}

#[derive(Debug, Default, Serialize)]
pub struct DiffSummary {
    pub added: u64,
    pub removed: u64,
    pub modified: u64,
    pub type_changed: u64,
    pub metadata: u64,
    pub bytes_added: u64,
    pub bytes_removed: u64,
}

fn compare(a: &Entry, b: &Entry) -> Option<(Change, Vec<&'static str>)> {
    if a.kind != b.kind {
        return Some((Change::Type, Vec::new()));
    }
    let content = |e: &Entry| e.content.as_ref().map(|c| c.sha256);
    if a.size != b.size || content(a) != content(b) {
        return Some((Change::Modified, Vec::new()));
    }
    let mut fields = Vec::new();
    if a.mode != b.mode {
        fields.push("mode");
    }
    if a.uid != b.uid || a.gid != b.gid {
        fields.push("owner");
    }
    if a.mtime != b.mtime {
        fields.push("mtime");
    }
    if a.xattrs != b.xattrs {
        fields.push("xattrs");
    }
    if a.target != b.target {
        fields.push("target");
    }
    if a.rdev != b.rdev {
        fields.push("rdev");
    }
    if fields.is_empty() {
        None
    } else {
        Some((Change::Metadata, fields))
    }
}

/// Walk both snapshots' file trees and report every difference (calls `each` in path order).
/// Their deployments are compared by `docker::report::deployment_diff`.
pub fn diff(
    repo: &IndexedRepo,
    old: &Snapshot,
    new: &Snapshot,
    each: impl FnMut(&DiffItem),
) -> Result<DiffSummary> {
    diff_subtrees(repo, (old, None), (new, None), each)
}

/// [`diff`] of the subtrees below the given directories (`SNAPSHOT:SUBPATH`), each as if it
/// were `/`; `None` is the whole snapshot.
pub fn diff_subtrees(
    repo: &IndexedRepo,
    (old, old_root): (&Snapshot, Option<&[u8]>),
    (new, new_root): (&Snapshot, Option<&[u8]>),
    each: impl FnMut(&DiffItem),
) -> Result<DiffSummary> {
    diff_entries(
        Subtree::new(repo, &old.tree, old_root),
        Subtree::new(repo, &new.tree, new_root),
        each,
    )
}

/// Walk two trees (a snapshot's file tree or deployment tree) and report every difference.
pub fn diff_trees(
    repo: &IndexedRepo,
    old: &[Id],
    new: &[Id],
    each: impl FnMut(&DiffItem),
) -> Result<DiffSummary> {
    diff_entries(TreeReader::new(repo, old), TreeReader::new(repo, new), each)
}

/// Merge two entry streams, each in tree order, and report every difference.
pub fn diff_entries(
    old: impl Iterator<Item = Result<Entry>>,
    new: impl Iterator<Item = Result<Entry>>,
    mut each: impl FnMut(&DiffItem),
) -> Result<DiffSummary> {
    let mut sum = DiffSummary::default();
    let mut a = old.peekable();
    let mut b = new.peekable();
    loop {
        let order = match (a.peek(), b.peek()) {
            (None, None) => break,
            (Some(Err(_)), _) => return Err(a.next().and_then(Result::err).expect("peeked error")),
            (_, Some(Err(_))) => return Err(b.next().and_then(Result::err).expect("peeked error")),
            (Some(Ok(x)), Some(Ok(y))) => path_cmp(&x.path, &y.path),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
        };
        let item = match order {
            Ordering::Less => {
                let x = a.next().expect("peeked")?;
                sum.removed += 1;
                sum.bytes_removed += x.size;
                Some(DiffItem {
                    change: Change::Removed,
                    path: x.path.clone(),
                    fields: Vec::new(),
                })
            }
            Ordering::Greater => {
                let y = b.next().expect("peeked")?;
                sum.added += 1;
                sum.bytes_added += y.size;
                Some(DiffItem {
                    change: Change::Added,
                    path: y.path.clone(),
                    fields: Vec::new(),
                })
            }
            Ordering::Equal => {
                let x = a.next().expect("peeked")?;
                let y = b.next().expect("peeked")?;
                compare(&x, &y).map(|(change, fields)| {
                    match change {
                        Change::Modified => {
                            sum.modified += 1;
                            sum.bytes_added += y.size;
                            sum.bytes_removed += x.size;
                        }
                        Change::Type => sum.type_changed += 1,
                        _ => sum.metadata += 1,
                    }
                    DiffItem {
                        change,
                        path: y.path.clone(),
                        fields,
                    }
                })
            }
        };
        if let Some(i) = item {
            each(&i);
        }
    }
    Ok(sum)
}
