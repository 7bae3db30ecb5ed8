//! What can stop a host-profile capture, diff, apply or undo (`host/`). Re-exported as
//! `host::HostError`; shown as they are by [`crate::Error::Host`]. The CLI adds which command
//! helps.

#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("host root {0} is not a directory")]
    RootNotDirectory(String),

    /// The snapshot was taken without the host profile.
    #[error("this snapshot holds no host profile")]
    NoProfile,

    /// Writing failed before any file changed (the undo snapshot was removed again).
    #[error("applying the host profile failed: {0}; nothing was written")]
    NothingWritten(String),

    #[error("applying the host profile failed and was rolled back: {0}")]
    RolledBack(String),

    /// Writing failed and putting the previous files back failed too.
    #[error(
        "applying the host profile failed ({failure}), and putting the previous files back failed too ({undo})"
    )]
    UndoFailed { failure: String, undo: String },

    /// The files are in place but loading a firewall rule set from them failed.
    #[error("the host files are in place, but loading {file} failed: {output}")]
    FirewallLoad { file: String, output: String },

    /// A check tool (`sshd -t`, `iptables-restore --test`) did not finish within its time
    /// limit (`host.tool_timeout`) and was killed.
    #[error(
        "refusing to install the snapshot's {file}: `{tool}` {}; nothing was written",
        crate::child::Failure::TimedOut(*.limit)
    )]
    CheckTimedOut {
        file: String,
        tool: String,
        limit: std::time::Duration,
    },

    /// A check tool rejects the snapshot's file.
    #[error(
        "refusing to install the snapshot's {file}: `{tool}` rejects it ({output}); nothing was written"
    )]
    SshdRejects {
        file: String,
        tool: String,
        output: String,
    },

    #[error(
        "refusing to apply: `{tool}` rejects the snapshot's {file} ({output}); nothing was written"
    )]
    FirewallRejects {
        file: String,
        tool: String,
        output: String,
    },

    /// Applying the firewall was asked for but its check tool is not installed.
    #[error(
        "{tool} is not installed, so {file} can be neither checked nor loaded; nothing was written"
    )]
    FirewallToolMissing { tool: String, file: String },

    /// Undo found no snapshot made by an apply to this host root.
    #[error("nothing to undo: no `{tag}` snapshot of host root {root} (an apply makes one)")]
    NothingToUndo { tag: &'static str, root: String },
}
