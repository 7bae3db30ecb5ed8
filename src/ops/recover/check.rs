//! What a recovery wrote, checked against the snapshot by the restore's own comparison: a dry
//! run over the written tree, so every regular file is read back and its SHA-256 compared,
//! and anything missing, different or extra is named.

use std::path::Path;

use serde::Serialize;

use crate::error::Result;
use crate::files::restore::{Overwrite, RestoreOptions, restore, restore_tree};
use crate::id::Id;
use crate::observer::Renamed;
use crate::progress::Progress;
use crate::repo::Repository;
use crate::snapshot::Snapshot;

/// The result of checking one tree (a snapshot's files under a target, or one volume).
#[derive(Debug, Default, Clone, Serialize)]
pub struct TreeCheck {
    /// Regular files whose bytes (SHA-256) and place match the snapshot.
    pub files_verified: u64,
    pub bytes_verified: u64,
    /// Objects that are missing or differ (`create /srv/m/a.bin`, `replace ...`).
    pub differing: Vec<String>,
    /// Objects the snapshot does not have.
    pub extra: Vec<String>,
}

impl TreeCheck {
    pub fn exact(&self) -> bool {
        self.differing.is_empty() && self.extra.is_empty()
    }

    fn from_plan(r: &crate::files::restore::RestoreReport) -> TreeCheck {
        let mut c = TreeCheck::default();
        for p in &r.plan {
            let path = crate::util::show(&p.path);
            match p.action {
                "keep" => {
                    c.files_verified += 1;
                    c.bytes_verified += p.size;
                }
                // Links and nodes already as the snapshot has them.
                "same" => {}
                "delete" => c.extra.push(path),
                action => c.differing.push(format!("{action} {path}")),
            }
        }
        c.differing.extend(r.errors.iter().cloned());
        c
    }
}

fn dry_run(target: &Path) -> RestoreOptions {
    let mut o = RestoreOptions::new(target);
    o.dry_run = true;
    o.delete = true;
    o.overwrite = Overwrite::Always;
    o.sync = false;
    o.report_unrestored_owners = false;
    o
}

/// The snapshot's files under `target` (`/` for their own places).
/// What the files phase restored: `written` are its options, checked the same way (same
/// target, owners and exclusions) as a dry run.
pub fn check_files(
    repo: &Repository,
    snap: &Snapshot,
    written: &RestoreOptions,
    progress: &dyn Progress,
) -> Result<TreeCheck> {
    let progress = Renamed {
        inner: progress,
        phase: "verify files",
    };
    let mut o = dry_run(&written.target);
    o.numeric_owner = written.numeric_owner;
    o.exclude_patterns.clone_from(&written.exclude_patterns);
    let r = restore(repo, snap, &o, &progress)?;
    Ok(TreeCheck::from_plan(&r))
}

/// The part of a deployment tree below `rebase` (one volume's data) against `mountpoint`.
pub fn check_volume(
    repo: &Repository,
    tree: &[Id],
    rebase: &str,
    mountpoint: &Path,
    progress: &dyn Progress,
) -> Result<TreeCheck> {
    let mut o = dry_run(mountpoint);
    o.rebase = Some(rebase.as_bytes().to_vec());
    o.root_metadata = true;
    // Volume data keeps numeric owners: container users are not this host's.
    o.numeric_owner = true;
    let progress = Renamed {
        inner: progress,
        phase: "verify volume",
    };
    let r = restore_tree(repo, tree, None, &o, &progress)?;
    Ok(TreeCheck::from_plan(&r))
}
