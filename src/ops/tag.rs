//! Changing the tags of existing snapshots (restic's `tag`). A snapshot file is sealed under
//! its ID, so a changed snapshot is saved as a new file with a new ID that records the first
//! ID in `original`; the old file is deleted only once the new one is durable, so a crash in
//! between leaves both, never neither.

use serde::Serialize;

use crate::error::{Error, Result, TagProblem};
use crate::id::Id;
use crate::repo::{FileType, LockKind, Repository};
use crate::snapshot::select::{self, Filter};

/// What to do to each selected snapshot's tags.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TagChange {
    /// Tags to add (kept in order, never duplicated).
    pub add: Vec<String>,
    /// Tags to remove.
    pub remove: Vec<String>,
    /// Replace all tags with these (empty strings are dropped, so `[""]` clears the tags).
    pub set: Option<Vec<String>>,
}

impl TagChange {
    /// Refuse changes that cannot be meant: nothing to do, `set` mixed with `add`/`remove`,
    /// empty tags to add or remove.
    pub fn check(&self) -> Result<()> {
        if self.set.is_none() && self.add.is_empty() && self.remove.is_empty() {
            return Err(Error::Tags(TagProblem::NothingToChange));
        }
        if self.set.is_some() && !(self.add.is_empty() && self.remove.is_empty()) {
            return Err(Error::Tags(TagProblem::SetWithAddOrRemove));
        }
        if self.add.iter().chain(&self.remove).any(String::is_empty) {
            return Err(Error::Tags(TagProblem::EmptyTag));
        }
        Ok(())
    }

    /// The tags `tags` become.
    pub fn apply(&self, tags: &[String]) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let base = self.set.as_deref().unwrap_or(tags);
        for t in base.iter().chain(&self.add) {
            if !t.is_empty() && !self.remove.contains(t) && !out.contains(t) {
                out.push(t.clone());
            }
        }
        out
    }
}

/// Which snapshots to change: the named ones, or else every snapshot the filter matches.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// `latest` or ID prefixes.
    pub specs: Vec<String>,
    pub filter: Filter,
}

/// One snapshot whose tags changed.
#[derive(Debug, Clone, Serialize)]
pub struct Retagged {
    /// The ID it had.
    pub old: Id,
    /// The ID it has now.
    pub new: Id,
    /// The ID it was first saved under.
    pub original: Id,
    pub tags: Vec<String>,
}

/// What [`retag`] did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TagReport {
    pub changed: Vec<Retagged>,
    /// Selected snapshots that already had the resulting tags (left as they were).
    pub unchanged: Vec<Id>,
}

/// Apply `change` to the selected snapshots under an exclusive lock.
pub fn retag(repo: &Repository, selection: &Selection, change: &TagChange) -> Result<TagReport> {
    change.check()?;
    let _lock = repo.lock(LockKind::Exclusive, "tag")?;
    // Resolved under the lock: no other process adds, forgets or rewrites snapshots meanwhile.
    let mut targets = select::pick(repo, &selection.specs, &selection.filter)?;
    let mut report = TagReport::default();
    for (old, mut snap) in targets.drain(..) {
        crate::interrupt::check()?;
        let tags = change.apply(&snap.tags);
        if tags == snap.tags {
            report.unchanged.push(old);
            continue;
        }
        let original = *snap.original.get_or_insert(old);
        snap.tags.clone_from(&tags);
        let new = repo.save_sealed(FileType::Snapshot, &snap)?;
        repo.delete_snapshot(&old).map_err(|e| match e {
            Error::Io { source, .. } => Error::io(
                format!("snapshot {old} (its retagged copy {new} is saved; remove the old file with `lifeboat forget {}`)", old.short()),
                source,
            ),
            other => other,
        })?;
        report.changed.push(Retagged {
            old,
            new,
            original,
            tags,
        });
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(x: &[&str]) -> Vec<String> {
        x.iter().map(|s| (*s).to_string()).collect()
    }

    #[test]
    fn add_remove_and_set_follow_restic() {
        let add = TagChange {
            add: v(&["b", "c", "b"]),
            ..Default::default()
        };
        assert_eq!(add.apply(&v(&["a", "b"])), v(&["a", "b", "c"]));
        let remove = TagChange {
            remove: v(&["a", "zz"]),
            ..Default::default()
        };
        assert_eq!(remove.apply(&v(&["a", "b"])), v(&["b"]));
        let both = TagChange {
            add: v(&["x"]),
            remove: v(&["a"]),
            ..Default::default()
        };
        assert_eq!(both.apply(&v(&["a", "b"])), v(&["b", "x"]));
        let set = TagChange {
            set: Some(v(&["y", "x"])),
            ..Default::default()
        };
        assert_eq!(set.apply(&v(&["a"])), v(&["y", "x"]));
        let clear = TagChange {
            set: Some(v(&[""])),
            ..Default::default()
        };
        assert_eq!(clear.apply(&v(&["a"])), Vec::<String>::new());
        clear.check().unwrap();
    }

    #[test]
    fn changes_that_cannot_be_meant_are_refused() {
        assert!(TagChange::default().check().is_err());
        let mixed = TagChange {
            add: v(&["a"]),
            set: Some(v(&["b"])),
            ..Default::default()
        };
        assert!(mixed.check().is_err());
        let empty = TagChange {
            add: v(&[""]),
            ..Default::default()
        };
        assert!(empty.check().is_err());
    }
}
