//! The library's error type.
//!
//! Rules: messages are short, lowercase, and name the object that is wrong ("pack 3f2a9c01:
//! ..."). A wrong password, a damaged repository and a hostile input are different variants so
//! the CLI can give each its own exit code and advice. Secrets never enter an error message.
//! Messages carry data, not CLI advice: no flag or `lifeboat` command is named here; the CLI
//! matches the variant and adds the command that helps. An area with errors of its own (Docker,
//! updates, the host profile) has its enum in a file of this module, wrapped by [`Error`] and
//! re-exported by its area, so a caller matches on what went wrong.

mod archive;
mod docker;
mod host;
mod storage;
mod update;

use std::path::PathBuf;

pub use archive::{ArchiveError, ArchiveProblem};
pub use docker::DockerError;
pub use host::HostError;
pub use storage::{StorageError, StorageErrorKind};
pub use update::UpdateError;

use crate::id::Id;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no repository at {0}")]
    NoRepository(String),

    #[error("repository already exists at {0}")]
    RepositoryExists(String),

    #[error("wrong password: no key file in the repository opens with it")]
    WrongPassword,

    #[error("{0}")]
    Password(String),

    /// The handle was opened with a write-only host key and was asked for something only the
    /// owner may do (FORMAT.md §13.6).
    #[error(
        "this is a write-only host key (host {hostname}): it cannot {refused}; that takes the repository owner's key"
    )]
    WriteOnly { hostname: String, refused: String },

    /// Stored data failed authentication, decoding or a consistency check.
    #[error("{object}: {reason}")]
    Corrupt { object: String, reason: String },

    /// Input that is not damage but an attack or out-of-bounds request (hostile KDF parameters,
    /// path traversal in a manifest).
    #[error("{object}: refused: {reason}")]
    Hostile { object: String, reason: String },

    #[error("{0}: unsupported format version {1} (this lifeboat reads versions 1 and 2)")]
    UnsupportedVersion(String, u64),

    #[error("blob {0} is not in the index (the repository is missing data)")]
    MissingBlob(Id),

    #[error("repository is locked: {0}")]
    Locked(String),

    /// What was asked for, as the user would write it (an ID prefix in quotes, or `latest`
    /// with what the command needed).
    #[error("no snapshot matches {0}")]
    NoSuchSnapshot(String),

    #[error("the repository has no snapshots yet")]
    NoSnapshots,

    #[error("snapshot id {0:?} is ambiguous: {1}")]
    AmbiguousSnapshot(String, String),

    #[error("{}: {source}", crate::util::show_path(path))]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("restore refused: {0}")]
    Unsafe(String),

    /// A path asked for is not in the snapshot (shown as given, escaped).
    #[error("{0} is not in this snapshot")]
    PathNotInSnapshot(String),

    /// A path that must be a regular file (the bytes of one file) is something else.
    #[error("{path} is a {kind}, not a regular file")]
    NotARegularFile { path: String, kind: &'static str },

    #[error("{0}")]
    Invalid(String),

    /// A configuration file has problems: the first, and how many more there are.
    #[error("{first}{}", if *more > 0 { format!(" (and {more} more)") } else { String::new() })]
    Config { first: String, more: usize },

    /// Files of a snapshot do not match their expected SHA-256 (the models' checksum list); the
    /// snapshot was not saved.
    #[error(
        "refusing to save the snapshot: {} file(s) do not match the expected SHA-256 list: {}",
        problems.len(),
        problems.join("; ")
    )]
    ChecksumMismatch { problems: Vec<String> },

    /// Restore include patterns that match nothing in the snapshot.
    #[error("include pattern(s) {} match nothing in this snapshot", patterns.join(", "))]
    IncludeMatchesNothing { patterns: Vec<String> },

    /// A change of tags that cannot be meant.
    #[error("{0}")]
    Tags(TagProblem),

    /// A bug: a worker thread panicked or stopped early.
    #[error("internal: {0}")]
    Internal(String),

    #[error("interrupted")]
    Interrupted,

    /// The Docker Engine refused a request, could not be reached, or a deployment could not
    /// be restored.
    #[error("docker: {0}")]
    Docker(DockerError),

    #[error(transparent)]
    Update(#[from] UpdateError),

    #[error(transparent)]
    Host(#[from] HostError),

    /// A single-file archive that is no archive, is cut short or damaged, or was asked to
    /// change.
    #[error(transparent)]
    Archive(#[from] ArchiveError),
}

// By hand rather than `#[from]`: the wrapper shows the Docker error's text itself, so it must
// not also be its `source` (a cause chain would print it twice).
impl From<DockerError> for Error {
    fn from(e: DockerError) -> Self {
        Error::Docker(e)
    }
}

/// What is wrong with a change of tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TagProblem {
    #[error("nothing to change")]
    NothingToChange,
    #[error("replacing all tags cannot be combined with adding or removing some")]
    SetWithAddOrRemove,
    #[error("an empty tag cannot be added or removed")]
    EmptyTag,
}

impl Error {
    pub fn corrupt(object: impl std::fmt::Display, reason: impl std::fmt::Display) -> Self {
        Error::Corrupt {
            object: object.to_string(),
            reason: reason.to_string(),
        }
    }

    pub fn hostile(object: impl std::fmt::Display, reason: impl std::fmt::Display) -> Self {
        Error::Hostile {
            object: object.to_string(),
            reason: reason.to_string(),
        }
    }

    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// An I/O error as the library error it carries, when a reader wrapped one (a snapshot's
    /// content read as `io::Read` reports damage that way), else an I/O error of `path`.
    pub fn from_io(path: impl Into<PathBuf>, e: std::io::Error) -> Self {
        if !e.get_ref().is_some_and(|inner| inner.is::<Error>()) {
            return Error::io(path, e);
        }
        let kind = e.kind();
        match e.into_inner().map(|inner| inner.downcast::<Error>()) {
            Some(Ok(err)) => *err,
            Some(Err(other)) => Error::io(path, std::io::Error::new(kind, other)),
            None => Error::io(path, std::io::Error::from(kind)),
        }
    }

    /// True when the error says stored data is damaged or was tampered with.
    pub fn is_integrity(&self) -> bool {
        match self {
            Error::Corrupt { .. } | Error::Hostile { .. } | Error::MissingBlob(_) => true,
            Error::Archive(a) => a.is_integrity(),
            _ => false,
        }
    }
}

/// Attach a path to an `io::Error`.
pub trait IoContext<T> {
    fn at(self, path: impl Into<PathBuf>) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|e| Error::io(path, e))
    }
}
