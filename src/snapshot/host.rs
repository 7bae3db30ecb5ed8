//! The host section of a snapshot (FORMAT.md §8.2): the host root, each profile pattern with
//! what it matched, and the live-state tools' outputs. A format type, so it lives with the
//! snapshot description below `host/`, which captures and applies it.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostSection {
    /// The host root the items were read under (`/` on a real host).
    pub root: String,
    pub items: Vec<ItemState>,
    pub commands: Vec<CommandOutput>,
}

/// One profile pattern and what it matched.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemState {
    pub pattern: String,
    /// Matching paths (relative to the host: `/etc/...`); empty means absent.
    pub found: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandOutput {
    pub name: String,
    pub argv: Vec<String>,
    /// `ok`, `failed` (ran, non-zero exit), `missing` (not installed), `timeout`, `error`.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(default)]
    pub stdout: String,
    #[serde(default)]
    pub stderr: String,
}

/// A host path (`/etc/...`) under a host root: where the section's files are in the snapshot's
/// file tree (`root || P`), and where they are on a live host with that root.
pub fn join(root: &Path, host_path: &Path) -> PathBuf {
    root.join(host_path.strip_prefix("/").unwrap_or(host_path))
}
