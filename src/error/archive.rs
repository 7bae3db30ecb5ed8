//! What can be wrong with a single-file archive (`lifeboat export`, `repo::archive`): a file
//! that is no archive, one cut short, one whose bytes disagree with its table of contents, or
//! a request to change one. A leaf of the error module so the top-level [`crate::Error`] can
//! wrap it; the archive backend also carries it inside the `std::io::Error`s it returns, where
//! the CLI finds it for its exit code and advice (as with [`super::StorageError`]).

use std::path::PathBuf;

/// A problem with the archive at `path`. Shown as `archive PATH is truncated: ...`.
#[derive(Debug, Clone, thiserror::Error)]
#[error("archive {} {problem}", crate::util::show_path(path))]
pub struct ArchiveError {
    pub path: PathBuf,
    pub problem: ArchiveProblem,
}

/// What is wrong, with the detail that names the member or byte offset.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArchiveProblem {
    /// Not a lifeboat archive at all (not a tar file, or a tar file without the table of
    /// contents an archive ends with).
    #[error("is not a lifeboat archive: {0}")]
    NotAnArchive(String),
    /// The file ends before the archive does (a copy or download cut short).
    #[error("is truncated: {0}")]
    Truncated(String),
    /// The file is complete but its bytes are not what the archive recorded (a changed byte,
    /// a member that disagrees with the table of contents).
    #[error("is damaged: {0}")]
    Damaged(String),
    /// A newer archive format.
    #[error("has format version {0} (this lifeboat reads version 1)")]
    UnsupportedVersion(u64),
    /// Something tried to change the archive (an archive is read-only once written).
    #[error("is read-only: {0}")]
    ReadOnly(String),
    /// There is no file at the path.
    #[error("does not exist")]
    Missing,
    /// An export would replace an existing file without being told to.
    #[error("already exists (nothing was written)")]
    Exists,
}

impl ArchiveError {
    pub fn new(path: impl Into<PathBuf>, problem: ArchiveProblem) -> Self {
        ArchiveError {
            path: path.into(),
            problem,
        }
    }

    /// True when the archive's bytes are damaged or cut short (as opposed to not being an
    /// archive, or being asked to change).
    pub fn is_integrity(&self) -> bool {
        matches!(
            self.problem,
            ArchiveProblem::Truncated(_) | ArchiveProblem::Damaged(_)
        )
    }

    /// This error as an `std::io::Error` (what a backend returns), findable again with
    /// [`ArchiveError::of`].
    pub fn into_io(self) -> std::io::Error {
        let kind = match self.problem {
            ArchiveProblem::ReadOnly(_) => std::io::ErrorKind::PermissionDenied,
            ArchiveProblem::Truncated(_) => std::io::ErrorKind::UnexpectedEof,
            ArchiveProblem::Missing => std::io::ErrorKind::NotFound,
            ArchiveProblem::Exists => std::io::ErrorKind::AlreadyExists,
            _ => std::io::ErrorKind::InvalidData,
        };
        std::io::Error::new(kind, self)
    }

    /// The archive error inside an I/O error, if it carries one.
    pub fn of(e: &std::io::Error) -> Option<&ArchiveError> {
        e.get_ref()
            .and_then(|inner| inner.downcast_ref::<ArchiveError>())
    }
}
