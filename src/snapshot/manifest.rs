//! The snapshot description stored in `snapshots/<id>` (FORMAT.md §8): when, where, what was
//! asked, the tree stream's blobs, and a summary of the run.

use serde::{Deserialize, Serialize};

use crate::id::Id;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub files: u64,
    pub dirs: u64,
    pub others: u64,
    /// Total size of regular files.
    pub bytes: u64,
    pub files_new: u64,
    pub files_changed: u64,
    pub files_unmodified: u64,
    /// Bytes read from files this run.
    pub bytes_read: u64,
    pub blobs_added: u64,
    pub raw_added: u64,
    pub stored_added: u64,
    pub duration_ms: u64,
    pub warnings: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub version: u32,
    pub time: String,
    pub hostname: String,
    pub username: String,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub paths: Vec<serde_bytes::ByteBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<Id>,
    /// The ID this snapshot was first saved under, when it was rewritten since (`lifeboat tag`
    /// saves a changed copy under a new ID and deletes the old file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original: Option<Id>,
    pub tree: Vec<Id>,
    #[serde(default)]
    pub summary: Summary,
    #[serde(default)]
    pub excludes: Vec<String>,
    #[serde(default)]
    pub program: String,
    /// Docker objects and their data (FORMAT.md §8.1), when the snapshot captured any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<super::deployment::Deployment>,
    /// The host security profile (which items were present, tool outputs); its files are in
    /// the file tree, under `host.root`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<super::host::HostSection>,
    /// What was asked for: the snapshot's group (FORMAT.md §8). Absent in snapshots made before
    /// it was recorded; [`Snapshot::selection`] derives it for those.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selection: Option<super::group::Selection>,
}

impl Snapshot {
    pub fn time(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        chrono::DateTime::parse_from_rfc3339(&self.time)
            .ok()
            .map(|t| t.with_timezone(&chrono::Utc))
    }

    /// Every tree stream the snapshot holds: the files', and the deployment's (volume data and
    /// image archives). Whatever walks a snapshot's data (prune, verify) must walk them all.
    pub fn trees(&self) -> impl Iterator<Item = &[Id]> {
        std::iter::once(self.tree.as_slice())
            .chain(self.deployment.as_ref().map(|d| d.tree.as_slice()))
    }

    /// [`Snapshot::trees`], to be replaced: what rewrites a snapshot's blob references (a copy
    /// into another repository, whose blob IDs differ) rewrites every tree stream through it.
    pub fn trees_mut(&mut self) -> impl Iterator<Item = &mut Vec<Id>> {
        std::iter::once(&mut self.tree).chain(self.deployment.as_mut().map(|d| &mut d.tree))
    }

    /// The size of everything the snapshot holds: its files, and its deployment's volume data
    /// and image archives (what `snapshots` lists as its size).
    pub fn total_bytes(&self) -> u64 {
        self.summary.bytes + self.deployment.as_ref().map_or(0, |d| d.summary.bytes)
    }

    /// The paths as text for data (filters, `--json`): exact when UTF-8 (people see them
    /// through [`crate::util::show`]).
    pub fn paths_display(&self) -> Vec<String> {
        self.paths.iter().map(|p| crate::escape::lossy(p)).collect()
    }
}
