//! Library errors as the CLI words them: the library's message, plus the command or flag of
//! this CLI that helps where there is one ("run `lifeboat init` to create one"). The library
//! names no flag (see `lifeboat::error`); this module matches its typed errors and adds them,
//! so the text printed is the same wherever an error is shown.

use lifeboat::Error;
use lifeboat::error::{
    ArchiveError, ArchiveProblem, DockerError, HostError, StorageError, StorageErrorKind,
    TagProblem, UpdateError,
};

/// One library error's text with its CLI advice.
pub fn describe(e: &Error) -> String {
    match e {
        Error::NoRepository(_) => format!("{e} (run `lifeboat init` to create one)"),
        Error::MissingBlob(id) => format!(
            "blob {id} is not in the index (the repository is missing data; run `lifeboat verify`)"
        ),
        Error::NoSnapshots => format!(
            "{e}: take one with `lifeboat snapshot PATH...` (or `lifeboat run` with a configuration file)"
        ),
        Error::Config { first, more } if *more > 0 => {
            format!("{first} (and {more} more: `lifeboat config check` lists every problem)")
        }
        Error::ChecksumMismatch { .. } => format!(
            "{e} (the data written stays unreferenced until `lifeboat prune`; --allow-mismatch saves it anyway)"
        ),
        Error::IncludeMatchesNothing { patterns } => format!(
            "--include {} matches nothing in this snapshot (see `lifeboat ls`)",
            patterns.join(", ")
        ),
        Error::PathNotInSnapshot(_) => format!("{e} (`lifeboat ls SNAPSHOT` lists what it holds)"),
        Error::NotARegularFile { .. } => {
            format!("{e}: `--archive tar` writes it as a tar archive")
        }
        Error::Tags(problem) => tags(*problem).to_string(),
        Error::Docker(DockerError::ImageNotSaved { id, tags }) => format!(
            "docker: image {id} ({tags}) is not on this engine and the snapshot holds only its reference (taken with --no-images): pull or load it first"
        ),
        Error::Update(u) => update(u, e),
        Error::Host(h) => host(h, e),
        _ => e.to_string(),
    }
}

/// An error and its causes as `{:#}` shows them (`outer: inner`), each library error
/// [described](describe).
pub fn chain(e: &anyhow::Error) -> String {
    e.chain().map(cause_text).collect::<Vec<_>>().join(": ")
}

/// One link of a cause chain: a library error described, anything else as it shows itself.
pub fn cause_text(cause: &(dyn std::error::Error + 'static)) -> String {
    match cause.downcast_ref::<Error>() {
        Some(e) => describe(e),
        None => cause.to_string(),
    }
}

/// What to do about a remote store's refusal.
pub fn storage_hint(s: &StorageError) -> &'static str {
    match s.kind {
        StorageErrorKind::AccessDenied => {
            "check the S3 credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or repository.s3_credentials_file), the region (AWS_REGION) and the bucket's policy (docs/S3.md lists what a host needs)"
        }
        StorageErrorKind::NoCredentials => {
            "give S3 credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE (with ~/.aws/credentials or AWS_SHARED_CREDENTIALS_FILE), or repository.s3_credentials_file in the configuration"
        }
        StorageErrorKind::NoSuchBucket => {
            "check the bucket in --repo, or create it first (`aws s3 mb s3://BUCKET`, `garage bucket create BUCKET`)"
        }
        StorageErrorKind::Unavailable => {
            "check that the endpoint in --repo is right and the store is up; the request was retried with backoff before giving up"
        }
    }
}

/// What to do about an archive whose bytes changed.
pub const DAMAGED_ARCHIVE_HINT: &str = "the archive's bytes changed after it was written: use another copy, or write a new one with `lifeboat export`";

/// What to do about an archive that cannot be used as asked.
pub fn archive_hint(a: &ArchiveError) -> String {
    match &a.problem {
        ArchiveProblem::NotAnArchive(_) => {
            "--from (and a --repo that names a file) read archives written by `lifeboat export`; give a repository directory with --repo".into()
        }
        ArchiveProblem::Missing => "check the path given to --from (or --repo)".into(),
        ArchiveProblem::Truncated(_) => {
            "the file was cut short (an interrupted copy or download?): copy it again, or write a new one with `lifeboat export`".into()
        }
        ArchiveProblem::Damaged(_) => DAMAGED_ARCHIVE_HINT.into(),
        ArchiveProblem::UnsupportedVersion(_) => {
            "read it with the lifeboat that wrote it, or a newer one".into()
        }
        ArchiveProblem::ReadOnly(_) => format!(
            "run this command on a repository (--repo), or bring the archive's snapshot into one first: `lifeboat copy --from-repo {}`",
            lifeboat::util::show_path(&a.path)
        ),
        ArchiveProblem::Exists => {
            "give --force to replace it, or another --output".into()
        }
    }
}

fn tags(problem: TagProblem) -> &'static str {
    match problem {
        TagProblem::NothingToChange => "nothing to change: give --add, --remove or --set",
        TagProblem::SetWithAddOrRemove => {
            "--set replaces all tags: it cannot be combined with --add or --remove"
        }
        TagProblem::EmptyTag => {
            "an empty tag cannot be added or removed (`--set ''` removes all tags)"
        }
    }
}

fn update(u: &UpdateError, e: &Error) -> String {
    match u {
        UpdateError::Interrupted {
            state_dir: None, ..
        } => format!("{e}: run `lifeboat update --recover` first"),
        UpdateError::Interrupted {
            state_dir: Some(dir),
            ..
        } => format!(
            "{e}: run `lifeboat update --recover --state-dir {}` first",
            dir.display()
        ),
        UpdateError::SetAside(_) => format!(
            "{e}; run `lifeboat update --recover`, or remove it once the update is confirmed"
        ),
        UpdateError::NoImageReference(_) => format!("{e}: give one with --image"),
        UpdateError::ImageNotPresent(_) => {
            format!("{e}: load or build it, or pull it with --pull")
        }
        UpdateError::PutBackFailed { .. } => format!("{e}, run `lifeboat update --recover`"),
        UpdateError::BothGone {
            container,
            snapshot,
            ..
        } => {
            format!("{e}: bring it back with `lifeboat rollback {container} --snapshot {snapshot}`")
        }
        UpdateError::NoContainers(_) => format!("{e} (it was taken without --container)"),
        UpdateError::NotInSnapshot { snapshot, .. } => {
            format!("{e} (see `lifeboat show {snapshot}`)")
        }
        _ => e.to_string(),
    }
}

fn host(h: &HostError, e: &Error) -> String {
    match h {
        HostError::NoProfile => format!("{e} (take one with `lifeboat snapshot --host`)"),
        HostError::UndoFailed { .. } => format!("{e}; `lifeboat restore --host --undo` retries"),
        HostError::FirewallLoad { .. } => format!("{e} (see `lifeboat restore --host --undo`)"),
        HostError::FirewallToolMissing { .. } => format!("--apply-firewall: {e}"),
        _ => e.to_string(),
    }
}

/// Containers that could not be restored as `--json` shows them: `[name, message]` pairs.
pub fn failures(fs: &[lifeboat::docker::apply::ContainerFailure]) -> Vec<(&str, String)> {
    fs.iter()
        .map(|f| (f.container.as_str(), describe(&f.error)))
        .collect()
}

/// Reword each failed repair's text with its CLI advice (`lifeboat rollback ...`).
pub fn describe_recoveries(rs: &mut [lifeboat::ops::update::recover::Recovery]) {
    for r in rs {
        if let Some(cause) = &r.cause {
            r.error = Some(describe(cause));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advice_is_added_to_the_library_text() {
        assert_eq!(
            describe(&Error::NoRepository("/r".into())),
            "no repository at /r (run `lifeboat init` to create one)"
        );
        assert_eq!(
            describe(&Error::Update(UpdateError::NoImageReference("web".into()))),
            "docker: container web records no image reference: give one with --image"
        );
        assert_eq!(
            describe(&Error::Host(HostError::FirewallToolMissing {
                tool: "nft".into(),
                file: "/etc/nftables.conf".into(),
            })),
            "--apply-firewall: nft is not installed, so /etc/nftables.conf can be neither checked nor loaded; nothing was written"
        );
    }
}
