//! Named exit codes (close to restic's, so scripts written for it keep working) and the mapping
//! from errors to them.

use lifeboat::Error;
use lifeboat::error::{ArchiveError, ArchiveProblem, StorageError, StorageErrorKind};

/// The remote store's error in an error's causes, if any (it travels inside an I/O error).
pub fn storage_error(e: &anyhow::Error) -> Option<&StorageError> {
    e.chain().find_map(|c| {
        c.downcast_ref::<StorageError>().or_else(|| {
            c.downcast_ref::<std::io::Error>()
                .and_then(StorageError::of)
        })
    })
}

/// The archive's error in an error's causes, if any (as a library error, or inside an I/O
/// error).
pub fn archive_error(e: &anyhow::Error) -> Option<&ArchiveError> {
    e.chain().find_map(|c| {
        c.downcast_ref::<ArchiveError>()
            .or_else(|| match c.downcast_ref::<Error>() {
                Some(Error::Archive(a)) => Some(a),
                _ => None,
            })
            .or_else(|| {
                c.downcast_ref::<std::io::Error>()
                    .and_then(ArchiveError::of)
            })
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    Success = 0,
    /// A fatal error.
    Failure = 1,
    /// The command line was wrong.
    Usage = 2,
    /// Completed, but some objects could not be read or written (see the warnings).
    Partial = 3,
    /// Stored data is damaged, missing or was tampered with.
    Integrity = 4,
    NoRepository = 10,
    Locked = 11,
    WrongPassword = 12,
    /// The storage refused the credentials (S3 403).
    AccessDenied = 13,
    /// A write-only host key was asked for what only the owner may do.
    WriteOnlyKey = 14,
    /// `audit`: the worst finding is low.
    AuditLow = 21,
    /// `audit`: the worst finding is medium.
    AuditMedium = 22,
    /// `audit`: the worst finding is high.
    AuditHigh = 23,
    /// `audit`: the worst finding is critical.
    AuditCritical = 24,
    /// `run`: a `before` hook failed.
    RunHook = 30,
    /// `run`: the snapshot failed.
    RunSnapshot = 31,
    /// `run`: forget failed.
    RunForget = 32,
    /// `run`: prune failed.
    RunPrune = 33,
    /// `run`: verify found damage or failed.
    RunVerify = 34,
    Interrupted = 130,
}

/// A command line that cannot work (missing or conflicting arguments found after parsing):
/// exit code 2, like clap's own errors.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Return early with a [`UsageError`].
#[macro_export]
macro_rules! usage {
    ($($t:tt)*) => {
        return Err($crate::cli::UsageError(format!($($t)*)).into())
    };
}

impl Exit {
    /// The more serious of two outcomes (for commands that do several things).
    pub fn worst(self, other: Exit) -> Exit {
        let rank = |e: Exit| match e {
            Exit::Success => 0,
            Exit::Partial => 1,
            _ => 2,
        };
        if rank(other) > rank(self) {
            other
        } else {
            self
        }
    }

    pub fn of(e: &anyhow::Error) -> Exit {
        if let Some(s) = storage_error(e) {
            return match s.kind {
                StorageErrorKind::AccessDenied | StorageErrorKind::NoCredentials => {
                    Exit::AccessDenied
                }
                StorageErrorKind::NoSuchBucket => Exit::NoRepository,
                StorageErrorKind::Unavailable => Exit::Failure,
            };
        }
        if let Some(a) = archive_error(e) {
            return match a.problem {
                ArchiveProblem::NotAnArchive(_) | ArchiveProblem::Missing => Exit::NoRepository,
                ArchiveProblem::Truncated(_) | ArchiveProblem::Damaged(_) => Exit::Integrity,
                ArchiveProblem::UnsupportedVersion(_)
                | ArchiveProblem::ReadOnly(_)
                | ArchiveProblem::Exists => Exit::Failure,
            };
        }
        for cause in e.chain() {
            if cause.downcast_ref::<UsageError>().is_some() {
                return Exit::Usage;
            }
            if let Some(err) = cause.downcast_ref::<Error>() {
                return match err {
                    Error::NoRepository(_) => Exit::NoRepository,
                    Error::WrongPassword => Exit::WrongPassword,
                    Error::WriteOnly { .. } => Exit::WriteOnlyKey,
                    Error::Locked(_) => Exit::Locked,
                    Error::Interrupted => Exit::Interrupted,
                    e if e.is_integrity() => Exit::Integrity,
                    _ => Exit::Failure,
                };
            }
        }
        Exit::Failure
    }

    /// The code's name in `--json` errors (`"code"`).
    pub fn name(self) -> &'static str {
        match self {
            Exit::Success => "success",
            Exit::Failure => "failure",
            Exit::Usage => "usage",
            Exit::Partial => "partial",
            Exit::Integrity => "integrity",
            Exit::NoRepository => "no_repository",
            Exit::Locked => "locked",
            Exit::WrongPassword => "wrong_password",
            Exit::AccessDenied => "access_denied",
            Exit::WriteOnlyKey => "write_only_key",
            Exit::AuditLow => "audit_low",
            Exit::AuditMedium => "audit_medium",
            Exit::AuditHigh => "audit_high",
            Exit::AuditCritical => "audit_critical",
            Exit::RunHook => "run_hook",
            Exit::RunSnapshot => "run_snapshot",
            Exit::RunForget => "run_forget",
            Exit::RunPrune => "run_prune",
            Exit::RunVerify => "run_verify",
            Exit::Interrupted => "interrupted",
        }
    }

    /// One line of advice for the user, when there is one.
    pub fn hint(self) -> Option<&'static str> {
        match self {
            Exit::NoRepository => {
                Some("check --repo / LIFEBOAT_REPO, or create one with `lifeboat init`")
            }
            Exit::WrongPassword => Some(
                "check that the password source gives the password of one of the repository's keys; someone with a working password can add a key with `lifeboat key add`",
            ),
            Exit::Locked => Some(
                "wait for the other command, use --lock-wait, or run `lifeboat unlock` if it died",
            ),
            Exit::Integrity => Some("run `lifeboat verify --read-data` to find all damage"),
            Exit::WriteOnlyKey => Some(
                "run this where the owner's password is (LIFEBOAT_PASSWORD_FILE, --password-command), without --key-file / LIFEBOAT_KEY_FILE",
            ),

            _ => None,
        }
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(e: Exit) -> Self {
        std::process::ExitCode::from(e as u8)
    }
}
