//! The library's error type.
//!
//! Rules: messages are short, lowercase, and name the object that is wrong ("pack 3f2a9c01:
//! ..."). A wrong password, a damaged repository and a hostile input are different variants so
//! the CLI can give each its own exit code and advice. Secrets never enter an error message.

use std::path::PathBuf;

use crate::id::Id;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no repository at {0} (run `lifeboat init` to create one)")]
    NoRepository(String),

    #[error("repository already exists at {0}")]
    RepositoryExists(String),

    #[error("wrong password: no key file in the repository opens with it")]
    WrongPassword,

    #[error("{0}")]
    Password(String),

    /// Stored data failed authentication, decoding or a consistency check.
    #[error("{object}: {reason}")]
    Corrupt { object: String, reason: String },

    /// Input that is not damage but an attack or out-of-bounds request (hostile KDF parameters,
    /// path traversal in a manifest).
    #[error("{object}: refused: {reason}")]
    Hostile { object: String, reason: String },

    #[error("{0}: unsupported format version {1} (this lifeboat reads version 1)")]
    UnsupportedVersion(String, u64),

    #[error("blob {0} is not in the index (the repository is missing data; run `lifeboat verify`)")]
    MissingBlob(Id),

    #[error("repository is locked: {0}")]
    Locked(String),

    /// What was asked for, as the user would write it (an ID prefix in quotes, or `latest`
    /// with what the command needed).
    #[error("no snapshot matches {0}")]
    NoSuchSnapshot(String),

    #[error(
        "the repository has no snapshots yet: take one with `lifeboat snapshot PATH...` (or `lifeboat run` with a configuration file)"
    )]
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

    #[error("{0}")]
    Invalid(String),

    #[error("interrupted")]
    Interrupted,

    /// The Docker Engine refused a request or could not be reached.
    #[error("docker: {0}")]
    Docker(String),
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

    /// True when the error says stored data is damaged or was tampered with.
    pub fn is_integrity(&self) -> bool {
        matches!(
            self,
            Error::Corrupt { .. } | Error::Hostile { .. } | Error::MissingBlob(_)
        )
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
