//! Errors a remote store gives that a user must act on (refused credentials, a missing
//! bucket, a store that stays unreachable). A backend wraps one in the `std::io::Error` it
//! returns, so callers keep a plain I/O error and the CLI can still find the cause and give
//! it an exit code and advice of its own. Messages name the bucket, never a credential.

/// What the store said, in terms a user acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StorageErrorKind {
    /// The credentials were refused or lack a permission (HTTP 403).
    AccessDenied,
    /// No credentials were found to sign requests with.
    NoCredentials,
    /// The bucket does not exist.
    NoSuchBucket,
    /// The store did not answer, or kept failing, after every retry.
    Unavailable,
}

#[derive(Debug, thiserror::Error)]
#[error("{}: {detail}", self.headline())]
pub struct StorageError {
    pub kind: StorageErrorKind,
    /// `bucket` or `bucket/prefix`.
    pub bucket: String,
    /// What failed (operation and object) and what the store answered.
    pub detail: String,
}

impl StorageError {
    fn headline(&self) -> String {
        match self.kind {
            StorageErrorKind::AccessDenied => format!("access denied to bucket `{}`", self.bucket),
            StorageErrorKind::NoSuchBucket => format!("bucket `{}` does not exist", self.bucket),
            StorageErrorKind::NoCredentials => {
                format!(
                    "no S3 credentials to sign requests to bucket `{}` with",
                    self.bucket
                )
            }
            StorageErrorKind::Unavailable => {
                format!("the store holding bucket `{}` is unavailable", self.bucket)
            }
        }
    }

    /// The storage error inside an I/O error, if it carries one.
    pub fn of(e: &std::io::Error) -> Option<&StorageError> {
        e.get_ref()
            .and_then(|inner| inner.downcast_ref::<StorageError>())
    }
}
