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
    pub status: CommandStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(default)]
    pub stdout: String,
    #[serde(default)]
    pub stderr: String,
}

/// How a live-state tool's run ended. Stored as its name (`ok`, `failed`, `missing`,
/// `timeout`, `error`); a name this version does not know is kept as it was read, so a
/// snapshot written by a newer lifeboat reads and re-encodes unchanged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum CommandStatus {
    /// Ran and exited with status 0.
    Ok,
    /// Ran and exited non-zero.
    Failed,
    /// Not installed.
    Missing,
    /// Ran longer than allowed and was killed.
    Timeout,
    /// Could not be run for another reason.
    Error,
    /// A status written by another version of lifeboat.
    Other(String),
}

impl CommandStatus {
    /// The stored name.
    pub fn as_str(&self) -> &str {
        match self {
            CommandStatus::Ok => "ok",
            CommandStatus::Failed => "failed",
            CommandStatus::Missing => "missing",
            CommandStatus::Timeout => "timeout",
            CommandStatus::Error => "error",
            CommandStatus::Other(s) => s,
        }
    }

    pub fn is_ok(&self) -> bool {
        *self == CommandStatus::Ok
    }
}

impl From<String> for CommandStatus {
    fn from(s: String) -> Self {
        match s.as_str() {
            "ok" => CommandStatus::Ok,
            "failed" => CommandStatus::Failed,
            "missing" => CommandStatus::Missing,
            "timeout" => CommandStatus::Timeout,
            "error" => CommandStatus::Error,
            _ => CommandStatus::Other(s),
        }
    }
}

impl From<&str> for CommandStatus {
    fn from(s: &str) -> Self {
        CommandStatus::from(s.to_string())
    }
}

impl From<CommandStatus> for String {
    fn from(s: CommandStatus) -> Self {
        match s {
            CommandStatus::Other(s) => s,
            known => known.as_str().to_string(),
        }
    }
}

impl std::fmt::Display for CommandStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A host path (`/etc/...`) under a host root: where the section's files are in the snapshot's
/// file tree (`root || P`), and where they are on a live host with that root.
pub fn join(root: &Path, host_path: &Path) -> PathBuf {
    root.join(host_path.strip_prefix("/").unwrap_or(host_path))
}

#[cfg(test)]
mod tests {
    use super::CommandStatus;

    #[test]
    fn command_status_keeps_its_stored_name() {
        for name in [
            "ok",
            "failed",
            "missing",
            "timeout",
            "error",
            "from-the-future",
        ] {
            let status = CommandStatus::from(name);
            assert_eq!(status.as_str(), name);
            let json = serde_json::to_string(&status).unwrap();
            assert_eq!(json, format!("{name:?}"));
            assert_eq!(
                serde_json::from_str::<CommandStatus>(&json).unwrap(),
                status
            );
        }
        assert_eq!(CommandStatus::from("ok"), CommandStatus::Ok);
    }
}
